#!/usr/bin/env bash
# pg_tombstone row history benchmark: tombstone.protect(..., history => true)
# against a plain table and the usual ways of keeping row history, and
# tombstone.as_of() / extract_tenant() against what users do without them.
#
# Usage: bench/history_run.sh   (libpq environment: PGHOST, PGPORT, PGUSER, ...)
#        bench/history_bench.sh starts a throw-away cluster and runs this.
#
# The server must have pg_tombstone in shared_preload_libraries.  The script
# creates databases named after $BENCH_DB (each dropped first if it exists,
# and again at the end unless BENCH_KEEP=1), loads identical tables side by
# side, checks that every side does what its report row claims, then runs
# BENCH_ROUNDS rounds.  In each round every side of a comparison runs once,
# in the same cluster; odd rounds run the sides in the order listed below,
# even rounds in the reverse order, and each run starts after a CHECKPOINT.
# The report gives the median over the rounds of each side and the ratio of
# the medians, and whether the target is met.
#
# Sides of comparisons 1 and 2 (BENCH_HISTORY_SIDES; each its own table,
# loaded with the same BENCH_ROWS rows of BENCH_TENANTS tenants, columns
# id bigint primary key, tenant_id int (indexed), payload text, created_at):
#   plain     the table as it is: the baseline
#   tomb      tombstone.protect(t, 'tenant_id', history => true): row history
#             in tombstone_history.<t>, written by the C BEFORE UPDATE trigger
#   nohist    tombstone.protect(t, 'tenant_id', history => false): a
#             reference, what protection alone costs an UPDATE
#   plpgsql   hand-written: a valid_from column, a history table <t>_history
#             (the table's columns plus valid_to, indexed on (tenant_id,
#             valid_to) as pg_tombstone's is) and a PL/pgSQL BEFORE UPDATE
#             row trigger inserting OLD there
#   tablelog  table_log (postgresql-15-tablelog): table_log_init(4, t), a C
#             AFTER row trigger logging the old and the new tuple to <t>_log
#             (whose primary key is trigger_id)
#   periods   periods (postgresql-15-periods): add_system_time_period(t) and
#             add_system_versioning(t), history in <t>_history (no index:
#             periods creates none)
# A side whose extension is not installed, whose setup fails, or whose
# pre-run check (bench/history_sanity.sql) fails is reported as "not run",
# with the reason, and leaves the others running.  pg_tombstone without row
# history (no tombstone.as_of, i.e. before history is installed) leaves out
# the tomb side and the pg_tombstone halves of comparisons 3 and 4.
#
#   1. UPDATE one row by primary key, pgbench -M prepared, BENCH_CLIENTS
#      clients, random ids (bench/history_update_<side>.sql):
#      tps of each side / tps of plain.  Target for tomb: >= 0.90; the
#      issue measured PL/pgSQL 0.83, table_log 0.56, periods 0.45.  Before
#      each round every table is brought back to the physical state of its
#      load (bench/history_vacuum.sql: VACUUM FULL, then VACUUM; the history
#      tables are vacuumed), so that how many updates are HOT does not
#      depend on the previous rounds.  After
#      every run: the table got exactly one update per pgbench transaction
#      (n_tup_upd of pg_stat_user_tables), and a versioned side kept exactly
#      one version per transaction.
#   2. One UPDATE of the rows with id % 10 = k, 10% of BENCH_ROWS (k = 0 in
#      round 1, 1 in round 2, ...: fresh rows each round), psql \timing
#      (bench/history_bulk.sql): time of each side / time of plain.  Target
#      for tomb: <= 1.40; the issue measured PL/pgSQL 1.6, table_log 5.9,
#      periods 9.4.  Each table is reset as in 1 before its run; after
#      it, the command tag and the versions kept are checked.
#
# Comparisons 3 and 4 run after the rounds of 1 and 2 (whose database is
# dropped first), each table in a database of its own: h_items, BENCH_TENANTS
# tenants of BENCH_ROWS / BENCH_TENANTS rows each (1,000 x 1,000), protected
# with history (database ${BENCH_DB}_asof_x1); then in three transactions
# 10% of every tenant's rows are updated (passes 1, 2, 3); `at` is a time
# between passes 1 and 2, so as_of() must take those rows from the history
# table.  The same with BENCH_ASOF_SCALE times as many tenants, each still
# of the same size (database ${BENCH_DB}_asof_x10).  Before the first round
# and after the last, bench/history_asof_check.sql checks the live rows,
# the history table and as_of() at `at` and before pass 1.
#
#   3. pgbench -M prepared, random tenants: SELECT * FROM tombstone.as_of(
#      NULL::h_items, tenant, at) vs the tenant's live rows, SELECT * FROM
#      h_items WHERE tenant_id = tenant (by its index): latency ratio, target
#      <= 2.0.  Then as_of() at BENCH_ASOF_SCALE x the tenants / as_of() at
#      x1: target <= 1.20 (the live select's growth is given for reference).
#   4. tombstone.extract_tenant(tenant, at, schema) vs what users do today:
#      pg_dump -Fc of a database holding the same rows in an ordinary table
#      (${BENCH_DB}_dump), CREATE DATABASE + pg_restore of the dump, then the
#      tenant's rows copied into a schema (CREATE TABLE ... AS SELECT ...
#      WHERE tenant_id = ...): wall-clock time ratio, no target; both sides
#      are listed, and the restore alone (a dump taken beforehand) too.
#      extract_tenant()'s returned counts and the copy (rows, the version as
#      of `at`) are checked after each run, the restored copy's row count
#      likewise.
#
# Environment (defaults in brackets):
#   BENCH_SECONDS   seconds per pgbench run [10]
#   BENCH_ROUNDS    rounds [5]
#   BENCH_CLIENTS   pgbench clients [number of CPUs]
#   BENCH_JOBS      pgbench threads [BENCH_CLIENTS]
#   BENCH_ROWS      rows per table of 1 and 2, and of the x1 table of 3
#                   and 4 [1000000]; at least 10 per tenant
#   BENCH_TENANTS   tenants in those tables [1000]
#   BENCH_ASOF_SCALE  how many times as many tenants the second table of 3
#                   has [10]; 0 or 1: no second table
#   BENCH_HISTORY_SIDES  sides of 1 and 2 [plain tomb nohist plpgsql
#                   tablelog periods]; plain is always run
#   BENCH_COMPARISONS  which comparisons to run [1 2 3 4]
#   BENCH_DB        prefix of the databases to create [tombstone_hbench]
#   BENCH_KEEP      1: keep the databases afterwards [0]
#   BENCH_STRICT    1: exit with status 1 when a target is missed or not
#                   measured [0]
#   BENCH_RESULTS_DIR  where history_latest.txt is written [bench/results]
#   PGBIN           PostgreSQL 15 binaries [/usr/lib/postgresql/15/bin]
#
# The databases get synchronous_commit = off and jit = off (ALTER DATABASE),
# so all sides run with the same settings on whatever cluster this is
# pointed at; server-level settings are left to the caller, and
# bench/history_bench.sh documents the ones it uses.  With the defaults a
# run takes about 14 minutes on 2 cores: comparisons 1 and 2 about 8
# (loading 12 tables of 1,000,000 rows, 30 s; per round six pgbench runs of
# BENCH_SECONDS and six bulk UPDATEs, each after a VACUUM FULL of its
# table), loading the tables of 3 and 4 about 1.5 (1,000,000 and
# 10,000,000 rows with three history passes, and 1,000,000 for the dump),
# 3 about 3.5 (per round four pgbench runs), 4 about 0.5.
# Quick check that it works (under a minute):
#   BENCH_ROWS=100000 BENCH_SECONDS=2 BENCH_ROUNDS=1 bench/history_run.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
secs=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-5}
clients=${BENCH_CLIENTS:-$(nproc 2>/dev/null || echo 2)}
jobs=${BENCH_JOBS:-$clients}
rows=${BENCH_ROWS:-1000000}
tenants=${BENCH_TENANTS:-1000}
ascale=${BENCH_ASOF_SCALE:-10}
db=${BENCH_DB:-tombstone_hbench}
keep=${BENCH_KEEP:-0}
strict=${BENCH_STRICT:-0}
results_dir=${BENCH_RESULTS_DIR:-$here/results}
maint_db=${BENCH_MAINT_DB:-postgres}
comparisons=${BENCH_COMPARISONS:-1 2 3 4}
all_sides=(plain tomb nohist plpgsql tablelog periods)
requested_sides=${BENCH_HISTORY_SIDES:-${all_sides[*]}}

die() { echo "history_run.sh: $*" >&2; exit 1; }
for v in secs rounds clients jobs rows tenants; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done
[[ $ascale =~ ^[0-9]+$ ]] || die "BENCH_ASOF_SCALE must be a non-negative integer, not '$ascale'"
[[ $comparisons =~ ^[1-4]([\ ,][1-4])*$ ]] || die "BENCH_COMPARISONS must list numbers 1 to 4, not '$comparisons'"
want() { [[ " ${comparisons//,/ } " == *" $1 "* ]]; }
[[ $db =~ ^[a-z_][a-z0-9_]*$ ]] || die "BENCH_DB must be a plain lower-case name, not '$db'"
(( ${#db} <= 40 )) || die "BENCH_DB must be at most 40 characters long"
per_tenant=$(( rows / tenants ))
(( per_tenant >= 10 )) || die "BENCH_ROWS / BENCH_TENANTS must be at least 10, not $per_tenant"
(( jobs <= clients )) || jobs=$clients
[ -x "$PGBIN/pgbench" ] || die "no pgbench in $PGBIN (set PGBIN)"

# the sides asked for, in canonical order, plain always first
declare -A asked=([plain]=1)
for s in ${requested_sides//,/ }; do
    [[ " ${all_sides[*]} " == *" $s "* ]] || die "unknown side '$s' in BENCH_HISTORY_SIDES (known: ${all_sides[*]})"
    asked[$s]=1
done
sides=()
for s in "${all_sides[@]}"; do [ -n "${asked[$s]:-}" ] && sides+=("$s"); done

declare -A side_label=(
    [plain]="plain table"
    [tomb]="pg_tombstone"
    [nohist]="pg_tombstone, history => false"
    [plpgsql]="PL/pgSQL trigger"
    [tablelog]="table_log"
    [periods]="periods")
# what the issue measured, for the report
declare -A issue_pk=([plpgsql]=0.83 [tablelog]=0.56 [periods]=0.45)
declare -A issue_bulk=([plpgsql]=1.6 [tablelog]=5.9 [periods]=9.4)
# side or part -> why it did not run
declare -A not_run=()

# shellcheck source=bench/run_lib.sh
source "$here/run_lib.sh"

work=$(mktemp -d -t tombstone-hbench.XXXXXX)
dbs=()
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    local rc=$? d
    set +e
    # the scratch database of comparison 4 is never kept
    drop_db "${db}_restore" >/dev/null 2>&1
    if [ "$keep" != 1 ]; then
        for d in "${dbs[@]}"; do drop_db "$d"; done
    fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql_in() { local d=$1; shift; "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$d" "$@"; }
psql_db() { psql_in "$db" "$@"; }

# create_db NAME: a fresh database with the benchmark's settings
create_db() {
    dbs+=("$1")
    psql_maint -c 'SET client_min_messages = warning' \
               -c "SET tombstone.drop_database = '$1'" \
               -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" \
               -c "CREATE DATABASE \"$1\"" \
               -c "ALTER DATABASE \"$1\" SET synchronous_commit = off" \
               -c "ALTER DATABASE \"$1\" SET jit = off" >/dev/null
}
finish_db() { [ "$keep" = 1 ] || drop_db "$1"; }

record() { fig[$1]="${fig[$1]:-}${fig[$1]:+ }$2"; }

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# first line of an error in a psql output file, for "not run" reasons
first_error() {
    local m
    m=$(grep -m1 -E '(ERROR|FATAL|psql:.*error):' "$1" | sed -E 's/^.*(ERROR|FATAL): +//' || true)
    echo "${m:-$(head -c 200 "$1" | tr '\n' ' ')}"
}

# run_pgbench DB SCRIPT [pgbench options]: sets pb_tps, pb_lat (ms) and
# pb_txns; dies on failed transactions
pb_tps='' pb_lat='' pb_txns=''
run_pgbench() {
    local d=$1 script=$2 out="$work/pgbench.out" failed
    shift 2
    if ! "$PGBIN/pgbench" -n -M prepared -c "$clients" -j "$jobs" -T "$secs" \
            "$@" -f "$here/$script" "$d" >"$out" 2>&1; then
        cat "$out" >&2
        die "pgbench failed on $script"
    fi
    pb_tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$out")
    pb_lat=$(sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p' "$out")
    pb_txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
    if [ -z "$pb_tps" ] || [ -z "$pb_lat" ] || [ -z "$pb_txns" ] || [ "${failed:-0}" != 0 ] ||
       (( pb_txns == 0 )); then
        cat "$out" >&2
        die "pgbench on $script gave no figures, no transactions or failed transactions"
    fi
}

# versions TBL: the row versions kept for TBL (empty: its side keeps none)
versions() {
    psql_db -v tbl="$1" -f "$here/history_versions.sql" | sed -n 's/^versions //p'
}

# updates TBL: n_tup_upd of TBL
updates() {
    "$PGBIN/psql" -X -At -v ON_ERROR_STOP=1 -d "$db" \
        -c "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relid = '$1'::regclass"
}

# check_updates TBL BEFORE EXPECTED: n_tup_upd of TBL grows by EXPECTED
# (the statistics of pgbench's sessions arrive when they end: wait up to 10 s)
check_updates() {
    local n i
    for (( i = 0; i < 50; i++ )); do
        n=$(updates "$1")
        (( n - $2 == $3 )) && return 0
        (( n - $2 > $3 )) && break
        sleep 0.2
    done
    die "$1 got $(( n - $2 )) updates, expected $3 (one per pgbench transaction)"
}

# check_versions TBL BEFORE EXPECTED: a versioned side kept EXPECTED more
# versions
check_versions() {
    local n
    [ -n "$2" ] || return 0
    n=$(versions "$1")
    (( n - $2 == $3 )) ||
        die "$1 kept $(( n - $2 )) row versions, expected $3 (one per updated row)"
}

# run_bulk TBL K: one UPDATE of the rows with id % 10 = K; prints ms
run_bulk() {
    local tbl=$1 k=$2 out="$work/bulk.out" ms expect v0
    if (( k == 0 )); then expect=$(( rows / 10 )); else expect=$(( (rows - k) / 10 + 1 )); fi
    v0=$(versions "$tbl")
    if ! "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -d "$db" -v tbl="$tbl" -v k="$k" \
            -c '\timing on' -f "$here/history_bulk.sql" >"$out" 2>&1; then
        cat "$out" >&2
        die "bulk UPDATE on $tbl failed"
    fi
    grep -qx "UPDATE $expect" "$out" || { cat "$out" >&2; die "bulk UPDATE on $tbl: expected 'UPDATE $expect'"; }
    ms=$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' "$out" | tail -n 1)
    [ -n "$ms" ] || { cat "$out" >&2; die "bulk UPDATE on $tbl: no timing"; }
    check_versions "$tbl" "$v0" "$expect"
    echo "$ms"
}

# side_setup SIDE TBL: turn the loaded TBL into SIDE; on failure records
# why in not_run[SIDE] and returns 1
side_setup() {
    local side=$1 tbl=$2 out="$work/side.out"
    [ "$side" = plain ] && return 0
    if ! psql_db -v tbl="$tbl" -f "$here/history_side_$side.sql" >"$out" 2>&1; then
        not_run[$side]="setup failed: $(first_error "$out")"
        return 1
    fi
    grep -q WARNING "$out" && sed -n 's/^.*WARNING: */history_run.sh: warning: /p' "$out" >&2
    return 0
}

extension_available() {
    [ "$("$PGBIN/psql" -X -At -d "$maint_db" \
        -c "SELECT count(*) FROM pg_available_extensions WHERE name = '$1'")" = 1 ]
}

# probe_tombstone DB: can pg_tombstone be used here (tomb_ok: preloaded, the
# extension created in DB), and does it have row history (tomb_history)?
# tomb_reason says why not.
tomb_ok=0 tomb_history=0 tomb_reason=
probe_tombstone() {
    local out="$work/probe.out" r
    tomb_ok=0 tomb_history=0 tomb_reason=
    if ! psql_in "$1" -At -c 'SET client_min_messages = warning' \
            -c 'CREATE EXTENSION IF NOT EXISTS pg_tombstone' \
            -c 'SELECT tombstone._preloaded()' \
            -c "SELECT count(*) FROM pg_proc WHERE pronamespace = 'tombstone'::regnamespace
                                             AND proname IN ('as_of', 'extract_tenant')" >"$out" 2>&1; then
        tomb_reason="pg_tombstone: $(first_error "$out")"
        return 0
    fi
    r=$(tr '\n' ' ' <"$out")
    case "$r" in
        "t 2 ") tomb_ok=1 tomb_history=1 ;;
        "t "*)  tomb_ok=1
                tomb_reason="the installed pg_tombstone has no row history (no tombstone.as_of and extract_tenant)" ;;
        *)      tomb_reason="pg_tombstone is not in shared_preload_libraries" ;;
    esac
}

#------------------------------------------------------------------------
# comparisons 1 and 2: setup
#------------------------------------------------------------------------
tables_of() {   # the table prefixes comparisons 1 and 2 need
    local p=()
    want 1 && p+=(u)
    want 2 && p+=(b)
    echo "${p[@]}"
}
if ! psql_maint -c 'CHECKPOINT' >/dev/null 2>&1; then
    can_checkpoint=0
    echo "history_run.sh: warning: cannot run CHECKPOINT as this user; runs start without one" >&2
fi

run_sides=()
if want 1 || want 2; then
    log "creating database $db"
    create_db "$db"
    psql_db -f "$here/history_setup.sql" >/dev/null
    probe_tombstone "$db"
    for s in "${sides[@]}"; do
        case $s in
            tomb)     (( tomb_history )) || not_run[tomb]=$tomb_reason ;;
            nohist)   (( tomb_ok )) || not_run[nohist]=$tomb_reason ;;
            tablelog) extension_available table_log ||
                          not_run[tablelog]="extension table_log is not installed (apt-get install postgresql-15-tablelog)" ;;
            periods)  extension_available periods ||
                          not_run[periods]="extension periods is not installed (apt-get install postgresql-15-periods)" ;;
        esac
    done
    for s in "${sides[@]}"; do
        [ -z "${not_run[$s]:-}" ] || continue
        ok=1
        for p in $(tables_of); do
            log "loading ${p}_$s: $rows rows, $tenants tenants ($s: ${side_label[$s]})"
            psql_db -c "SELECT hbench_create('${p}_$s', $rows, $tenants)" >/dev/null
            side_setup "$s" "${p}_$s" || { ok=0; break; }
        done
        if (( ok )); then
            for p in $(tables_of); do
                if ! psql_db -v tbl="${p}_$s" -f "$here/history_sanity.sql" >"$work/sanity.out" 2>&1; then
                    not_run[$s]="check before the runs failed: $(first_error "$work/sanity.out")"
                    ok=0
                    break
                fi
            done
        fi
        if (( ok )); then
            run_sides+=("$s")
        else
            [ "$s" = plain ] && die "the plain side failed: ${not_run[plain]}"
            log "side $s not run: ${not_run[$s]}"
        fi
    done
    log "VACUUM (FREEZE, ANALYZE)"
    psql_db -c 'VACUUM (FREEZE, ANALYZE)' >/dev/null
fi

#------------------------------------------------------------------------
# comparisons 1 and 2: rounds
#------------------------------------------------------------------------
for (( r = 1; r <= rounds && ${#run_sides[@]} > 0; r++ )); do
    if want 1; then
        log "round $r/$rounds: 1. UPDATE one row by primary key (${run_sides[*]})"
        for s in "${run_sides[@]}"; do
            psql_db -v tbl="u_$s" -f "$here/history_vacuum.sql" >/dev/null
        done
        for s in $(order "$r" "${run_sides[@]}"); do
            checkpoint
            v0=$(versions "u_$s")
            n0=$(updates "u_$s")
            run_pgbench "$db" "history_update_$s.sql" -D rows="$rows"
            check_updates "u_$s" "$n0" "$pb_txns"
            check_versions "u_$s" "$v0" "$pb_txns"
            record "pk_$s" "$pb_tps"
        done
    fi

    if want 2; then
        k=$(( (r - 1) % 10 ))
        log "round $r/$rounds: 2. UPDATE of the rows with id % 10 = $k (${run_sides[*]})"
        for s in $(order "$r" "${run_sides[@]}"); do
            psql_db -v tbl="b_$s" -f "$here/history_vacuum.sql" >/dev/null
            checkpoint
            x=$(run_bulk "b_$s" "$k"); record "bulk_$s" "$x"
        done
    fi
done
if want 1 || want 2; then
    finish_db "$db"
fi

#------------------------------------------------------------------------
# comparisons 3 and 4: setup
#------------------------------------------------------------------------
# load_asof DB TENANTS PROTECT: h_items with TENANTS tenants in the new
# database DB, and three history passes; sets at0 and at (epoch seconds:
# before pass 1, between passes 1 and 2)
at0='' at=''
epoch() { psql_maint -At -c 'SELECT extract(epoch FROM clock_timestamp())'; }
load_asof() {
    local d=$1 nt=$2 prot=$3 pass out="$work/pass.out" upd
    upd=$(( nt * ((per_tenant + 8) / 10) ))
    log "loading h_items into $d: $nt tenants x $per_tenant rows$( (( prot )) && echo ', protected with history')"
    psql_in "$d" -v tenants="$nt" -v per_tenant="$per_tenant" -v protect="$prot" \
        -f "$here/history_asof_setup.sql" >/dev/null
    sleep 0.1; at0=$(epoch); sleep 0.1
    for pass in 1 2 3; do
        log "$d: history pass $pass, UPDATE of $upd rows"
        "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -d "$d" -v tenants="$nt" -v pass="$pass" \
            -f "$here/history_asof_pass.sql" >"$out" 2>&1 ||
            { cat "$out" >&2; die "history pass $pass in $d failed"; }
        grep -qx "UPDATE $upd" "$out" || { cat "$out" >&2; die "history pass $pass in $d: expected 'UPDATE $upd'"; }
        if (( pass == 1 )); then sleep 0.1; at=$(epoch); sleep 0.1; fi
    done
    log "$d: VACUUM (FREEZE, ANALYZE)"
    psql_in "$d" -c 'VACUUM (FREEZE, ANALYZE)' >/dev/null
}

# check_asof DB TENANTS TOMB AT0 AT
check_asof() {
    local out="$work/asof_check.out"
    if ! psql_in "$1" -v tenants="$2" -v per_tenant="$per_tenant" -v tomb="$3" \
            -v at0="$4" -v at="$5" -v tenant="$ex_tenant" \
            -f "$here/history_asof_check.sql" >"$out" 2>&1; then
        cat "$out" >&2
        die "check of h_items in $1 failed"
    fi
}

asof_parts=()        # x1, and x$ascale when asked for
declare -A asof_db asof_tenants asof_at0 asof_at
ex_tenant=$(( 42 % tenants ))
if want 3 || want 4; then
    create_db "${db}_asof_x1"
    probe_tombstone "${db}_asof_x1"
    if (( ! tomb_history )); then
        want 3 && not_run[asof]=$tomb_reason
        want 4 && not_run[extract]=$tomb_reason
    fi
    asof_parts=(x1)
    if want 3 && (( ascale > 1 )); then asof_parts+=("x$ascale"); fi
    for p in "${asof_parts[@]}"; do
        asof_db[$p]="${db}_asof_$p"
        asof_tenants[$p]=$(( tenants * ${p#x} ))
        [ "$p" = x1 ] || create_db "${asof_db[$p]}"
        load_asof "${asof_db[$p]}" "${asof_tenants[$p]}" "$tomb_history"
        asof_at0[$p]=$at0 asof_at[$p]=$at
        log "${asof_db[$p]}: checking h_items$( (( tomb_history )) && echo ', its history and as_of()')"
        check_asof "${asof_db[$p]}" "${asof_tenants[$p]}" "$tomb_history" "$at0" "$at"
    done
fi
if want 4; then
    create_db "${db}_dump"
    load_asof "${db}_dump" "$tenants" 0
fi

#------------------------------------------------------------------------
# comparison 3: rounds
#------------------------------------------------------------------------
if want 3; then
    runs3=()
    for p in "${asof_parts[@]}"; do
        runs3+=("live_$p")
        (( tomb_history )) && runs3+=("asof_$p")
    done
    for (( r = 1; r <= rounds; r++ )); do
        log "round $r/$rounds: 3. as_of() and live rows of a random tenant (${runs3[*]})"
        for x in $(order "$r" "${runs3[@]}"); do
            p=${x#*_}
            checkpoint
            run_pgbench "${asof_db[$p]}" "history_${x%%_*}.sql" \
                -D tenants="${asof_tenants[$p]}" -D at="${asof_at[$p]}"
            record "$x" "$pb_lat"
        done
    done
    for p in "${asof_parts[@]}"; do
        log "${asof_db[$p]}: checking h_items again"
        check_asof "${asof_db[$p]}" "${asof_tenants[$p]}" "$tomb_history" "${asof_at0[$p]}" "${asof_at[$p]}"
    done
fi

#------------------------------------------------------------------------
# comparison 4: rounds
#------------------------------------------------------------------------
# run_extract ROUND: extract_tenant() into a new schema, timed; checked and
# dropped afterwards
run_extract() {
    local sch="hbench_extract_$1" out="$work/extract.out" t0 t1 d="${asof_db[x1]}"
    t0=$(now_ms)
    if ! "$PGBIN/psql" -X -At -v ON_ERROR_STOP=1 -d "$d" -v tenant="$ex_tenant" \
            -v at="${asof_at[x1]}" -v schema="$sch" -f "$here/history_extract.sql" >"$out" 2>&1; then
        cat "$out" >&2
        die "extract_tenant() failed"
    fi
    t1=$(now_ms)
    if [ "$(grep -c . "$out")" != 1 ] || ! grep -Eq "^([^|]+\.)?h_items\|$per_tenant\$" "$out"; then
        cat "$out" >&2
        die "extract_tenant() returned the above, expected one line: h_items|$per_tenant"
    fi
    psql_in "$d" -v schema="$sch" -v tenant="$ex_tenant" -v per_tenant="$per_tenant" \
        -f "$here/history_extract_check.sql" >"$work/extract_check.out" 2>&1 ||
        { cat "$work/extract_check.out" >&2; die "check of extract_tenant()'s copy failed"; }
    record extract $(( t1 - t0 ))
}

# run_restore: pg_dump -Fc, CREATE DATABASE + pg_restore, copy of the
# tenant's rows; each timed; the scratch database is dropped afterwards
run_restore() {
    local dump="$work/hbench.dump" out="$work/restore.out" rdb="${db}_restore" t0 t1 t2 t3
    rm -f "$dump"
    t0=$(now_ms)
    "$PGBIN/pg_dump" -Fc -d "${db}_dump" -f "$dump" 2>"$out" || { cat "$out" >&2; die "pg_dump failed"; }
    t1=$(now_ms)
    psql_maint -c "CREATE DATABASE \"$rdb\"" >/dev/null
    "$PGBIN/pg_restore" --exit-on-error -d "$rdb" "$dump" 2>"$out" || { cat "$out" >&2; die "pg_restore failed"; }
    t2=$(now_ms)
    "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -d "$rdb" -v tenant="$ex_tenant" \
        -f "$here/history_restore_select.sql" >"$out" 2>&1 || { cat "$out" >&2; die "SELECT in the restored database failed"; }
    t3=$(now_ms)
    grep -qx "SELECT $per_tenant" "$out" || { cat "$out" >&2; die "restored copy: expected 'SELECT $per_tenant'"; }
    drop_db "$rdb"
    rm -f "$dump"
    record dump $(( t1 - t0 ))
    record restore $(( t2 - t1 ))
    record restore_select $(( t3 - t1 ))
    record today $(( t3 - t0 ))
}

if want 4; then
    runs4=(today)
    (( tomb_history )) && runs4+=(extract)
    for (( r = 1; r <= rounds; r++ )); do
        log "round $r/$rounds: 4. tenant $ex_tenant as of a past time (${runs4[*]})"
        for x in $(order "$r" "${runs4[@]}"); do
            checkpoint
            if [ "$x" = today ]; then run_restore; else run_extract "$r"; fi
        done
    done
fi
log "done"

#------------------------------------------------------------------------
# report
#------------------------------------------------------------------------
emit_label_width=50
emit_ms_format='%11.2f'
# median, emit, ratio_of, measured and the counters of targets met
# shellcheck source=bench/report_lib.sh
source "$here/report_lib.sh"

report="$work/report.txt"
unmeasured=0

# shown UNIT KEY: the median of a figure as emit() prints it, or "not run"
shown() {
    if measured "$2"; then
        if [ "$1" = ms ]; then
            printf '%.2f' "$(median "${fig[$2]}")"
        else
            printf '%.1f' "$(median "${fig[$2]}")"
        fi
    else
        echo 'not run'
    fi
}

# row LABEL UNIT BASE_KEY OTHER_KEY REASON [OP TARGET]: the medians of two
# figures and their ratio; "not run" and REASON when one is missing
row() {
    local b o
    if ! measured "$3" || ! measured "$4"; then
        printf '%-50s %-4s %11s %11s %7s  %-8s %s\n' "$1" "$2" \
            "$(shown "$2" "$3")" "$(shown "$2" "$4")" '-' "${6:+$6 $7}" "not run${5:+ ($5)}"
        if [ -n "${6:-}" ]; then
            target_count=$(( target_count + 1 )); unmeasured=1
        fi
        return 0
    fi
    b=$(median "${fig[$3]}")
    o=$(median "${fig[$4]}")
    emit "$1" "$2" "$b" "$o" "$(ratio_of "$b" "$o")" "${6:-}" "${7:-}"
}

why() {     # the reason a side or part did not run, if any
    if [ -n "${not_run[$1]:-}" ]; then echo "${not_run[$1]}"
    elif [ -z "${asked[$1]:-}" ] && [[ " ${all_sides[*]} " == *" $1 "* ]]; then echo "not in BENCH_HISTORY_SIDES"
    fi
}

server_version=$(psql_maint -Atc 'SHOW server_version')
settings=$(psql_maint -Atc "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ', ' ORDER BY name)
                               FROM pg_settings
                              WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'jit',
                                             'max_wal_size', 'checkpoint_timeout', 'autovacuum')")
repo=$(cd "$here/.." && pwd)
revision=$(git -c safe.directory="$repo" -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$revision" != unknown ] &&
   [ -n "$(git -c safe.directory="$repo" -C "$repo" status --porcelain -- src sql Makefile '*.control' 2>/dev/null)" ]; then
    revision="$revision (sources modified)"
fi
ax="x$ascale"
(( ascale > 1 )) || ax=none
asof_why=${not_run[asof]:-}
extract_why=${not_run[extract]:-}

{
    echo "pg_tombstone row history benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), revision $revision"
    echo "PostgreSQL $server_version; $(nproc 2>/dev/null || echo '?') CPUs; $rows rows, $tenants tenants per table;" \
         "pgbench -M prepared -c $clients -j $jobs -T $secs; rounds: $rounds, median of rounds"
    echo "settings: $settings"
    if want 1 || want 2; then
        echo "sides of 1 and 2 run: ${run_sides[*]:-none}"
        for s in "${all_sides[@]}"; do
            [ -n "$(why "$s")" ] && [ -n "${asked[$s]:-}" ] && echo "  not run: $s: $(why "$s")"
        done
    fi
    echo
    printf '%-50s %-4s %11s %11s %7s  %-8s %s\n' \
        comparison unit baseline other ratio target met
    if want 1; then
        row "1 UPDATE one row by pk: pg_tombstone" tps pk_plain pk_tomb "$(why tomb)" '>=' 0.90
        for s in nohist plpgsql tablelog periods; do
            row "  ref: ${side_label[$s]}${issue_pk[$s]:+ (issue: ${issue_pk[$s]})}" tps pk_plain "pk_$s" "$(why "$s")"
        done
    fi
    if want 2; then
        row "2 UPDATE $(( rows / 10 )) of $rows rows: pg_tombstone" ms bulk_plain bulk_tomb "$(why tomb)" '<=' 1.40
        for s in nohist plpgsql tablelog periods; do
            row "  ref: ${side_label[$s]}${issue_bulk[$s]:+ (issue: ${issue_bulk[$s]})}" ms bulk_plain "bulk_$s" "$(why "$s")"
        done
    fi
    if want 3; then
        row "3 as_of() vs live rows, one tenant of $tenants" ms live_x1 asof_x1 "$asof_why" '<=' 2.0
        if [ "$ax" != none ]; then
            row "  same, one tenant of $(( tenants * ascale ))" ms "live_$ax" "asof_$ax" "$asof_why"
            row "3 as_of() at $(( tenants * ascale )) / at $tenants tenants" ms asof_x1 "asof_$ax" "$asof_why" '<=' 1.20
            row "  ref: live rows at $(( tenants * ascale )) / at $tenants tenants" ms live_x1 "live_$ax"
        fi
    fi
    if want 4; then
        row "4 extract_tenant() vs dump + restore + SELECT" ms today extract "$extract_why"
        row "  ref: vs restore + SELECT (dump taken before)" ms restore_select extract "$extract_why"
        measured dump && printf '%-50s %-4s %11.2f\n' "  today: pg_dump -Fc" ms "$(median "${fig[dump]}")"
        measured restore && printf '%-50s %-4s %11.2f\n' "  today: CREATE DATABASE + pg_restore" ms "$(median "${fig[restore]}")"
    fi
    echo
    echo "targets met: $met_count of $target_count"
    echo "ratio = other / baseline (tps: higher is better; ms: lower is better)."
    if want 1 || want 2; then
        echo "1, 2: baseline: the plain table; other: the same rows under each side's history"
        echo "mechanism: pg_tombstone = protect(history => true); PL/pgSQL trigger = BEFORE UPDATE"
        echo "row trigger inserting OLD into a history table like pg_tombstone's (same columns and"
        echo "index); table_log = table_log_init(4, ...); periods = add_system_versioning(); see"
        echo "bench/history_run.sh.  (issue: ...) is the ratio the issue measured."
        echo "1: UPDATE ... SET payload = md5(random()::text) WHERE id = <random>; checked after"
        echo "every run: one update per pgbench transaction on every side, one version kept per"
        echo "update on every versioned side.  2: UPDATE ... WHERE id % 10 = <round - 1>, one"
        echo "statement; checked: the command tag and one version kept per row.  Before each"
        echo "run of 1 and 2 the table is rewritten (VACUUM FULL) to its loaded state."
    fi
    if want 3; then
        echo "3: ms = pgbench latency per call (-c $clients); $per_tenant rows per tenant, all columns"
        echo "fetched; at = between the first and second of three passes that each updated 10% of"
        echo "every tenant's rows, so as_of() takes those rows from the history table."
    fi
    if want 4; then
        echo "4: ms = wall clock; tenant $ex_tenant of $tenants ($per_tenant rows), at as in 3; today: pg_dump -Fc of"
        echo "a database with the same rows in an ordinary table, pg_restore into a new database,"
        echo "CREATE TABLE ... AS SELECT the tenant's rows; other: tombstone.extract_tenant()."
    fi
    echo
    echo "per-round figures:"
    for k in "${all_sides[@]/#/pk_}" "${all_sides[@]/#/bulk_}" live_x1 asof_x1 "live_$ax" "asof_$ax" \
             today dump restore restore_select extract; do
        measured "$k" && printf '  %-22s %s\n' "$k" "${fig[$k]}"
    done
} >"$report"

cat "$report"
if mkdir -p "$results_dir" 2>/dev/null && cp "$report" "$results_dir/history_latest.txt" 2>/dev/null; then
    log "written to $results_dir/history_latest.txt"
else
    echo "history_run.sh: warning: could not write $results_dir/history_latest.txt" >&2
fi

if [ "$strict" = 1 ] && (( missed || unmeasured )); then
    exit 1
fi
exit 0
