#!/usr/bin/env bash
# pg_tombstone benchmark: protected tables against identical unprotected ones.
#
# Usage: bench/run.sh   (libpq environment: PGHOST, PGPORT, PGUSER, ...)
#
# The server must have pg_tombstone in shared_preload_libraries and the
# extension installed.  The script creates database $BENCH_DB (dropped first
# if it exists, and again at the end unless BENCH_KEEP=1), loads identical
# tables side by side (bench/setup.sql), checks that every variant does what
# its report row claims (bench/sanity.sql), then runs BENCH_ROUNDS rounds.
# In each round every side of every comparison runs once, in the same
# cluster; odd rounds run the baseline first, even rounds the protected side
# first (references likewise alternate), and each run starts after a
# CHECKPOINT.  The report gives the median over the rounds of each side and
# the ratio of the medians:
#
#   1. DELETE one row by primary key (pgbench -M prepared, random ids) vs
#      UPDATE ... SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL:
#      protected with history => false, tps ratio >= 0.92; with the defaults
#      (history on), >= 0.90, and >= 1.00 against the hand-written UPDATE and
#      ledger INSERT in one statement (issue 18); references: that statement,
#      PL/pgSQL BEFORE DELETE trigger, ON DELETE DO INSTEAD rule.  The tables
#      are reset each round (those with history made anew).
#      Below it, the cost of the ledger: this ratio divided by the figure of
#      the foundation release without the ledger (1.035, BENCH_FOUNDATION_RATIO)
#      must be >= 0.95 (the ledger adds at most 5%).
#   2. One DELETE of tenant 3 (100,000 of 1,000,000 rows) vs the hand-written
#      UPDATE: time ratio <= 1.10, history => false and history on; same
#      references.  Each table is reset
#      (deleted_at back to NULL, VACUUM) before its run, and checked after it.
#   3. SELECT by primary key vs the same with "AND deleted_at IS NULL" written
#      by hand: tps ratio >= 0.97 (-M prepared); reference: -M simple, which
#      plans every statement.
#   4. INSERT vs INSERT: tps ratio >= 0.95 (-M prepared), into fresh empty
#      tables each round; reference: -M simple.
#
# Comparisons 5 and 6 run after the rounds of 1-4, in a database of their
# own (${BENCH_DB}_ledger_x1; a database has one tenant registry), on a
# tenant schema loaded twice (bench/ledger_setup.sql): tenants, projects ->
# tasks -> comments (ON DELETE CASCADE), documents, events.  One tenant has
# BENCH_ROWS / 10 rows (100,000) over the five tables below tenants; there
# are 10 tenants.  In schema prot the tables are protected and tenants is
# the tenant registry; schema base holds the same rows unprotected.  Then
# again with BENCH_LEDGER_SCALE times as many tenants (database
# ${BENCH_DB}_ledger_x10), the same change in tables 10 times larger.  Each
# round, per side in alternating order, tenant 3 is deleted (6), then
# restored (5), each run after a VACUUM of that side and a CHECKPOINT:
#
#   6. DELETE FROM prot.tenants WHERE id = 3 (the extension tombstones the
#      tenant's rows in every protected table, one change) vs six
#      hand-written UPDATE ... SET deleted_at = now() WHERE tenant_id = 3
#      AND deleted_at IS NULL (and the tenant's own row) in one transaction:
#      time ratio <= 1.50.
#   5. tombstone.undelete_change() of that change vs six hand-written
#      UPDATE ... SET deleted_at = NULL WHERE tenant_id = 3 AND deleted_at IS
#      NOT NULL in one transaction: time ratio <= 1.50.
#   Both targets are checked on the 10x larger tables as well, and the
#   report gives how much each side grew from 1x to 10x tables.
#   Times are wall clock inside one psql session (clock_timestamp()).  After
#   every run the rows of tenant 3 are checked on both sides (and on prot
#   the ledger entry: operation, tables, counts); before the first round and
#   after the last, every row of both sides.
#
# Environment (defaults in brackets):
#   BENCH_SECONDS   seconds per pgbench run [10]
#   BENCH_ROUNDS    rounds [5]
#   BENCH_CLIENTS   pgbench clients [number of CPUs]
#   BENCH_JOBS      pgbench threads [BENCH_CLIENTS]
#   BENCH_ROWS      rows per table [1000000]; comparison 2 deletes 10% of them;
#                   in 5 and 6 a tenant has 10% of them (at least 200 rows)
#   BENCH_LEDGER_SCALE  how many times larger the tables of the second run
#                   of 5 and 6 are [10]; 0 or 1: no second run
#   BENCH_COMPARISONS  which comparisons to run [1 2 3 4 5 6]; 5 and 6 run
#                   together
#   BENCH_FOUNDATION_RATIO  ratio of comparison 1 without the ledger [1.035]
#   BENCH_DB        database to create [tombstone_bench]
#   BENCH_KEEP      1: keep the databases afterwards [0]
#   BENCH_STRICT    1: exit with status 1 when a target is missed [0]
#   BENCH_RESULTS_DIR  where latest.txt is written [bench/results]
#   PGBIN           PostgreSQL 15 binaries [/usr/lib/postgresql/15/bin]
#
# The databases get synchronous_commit = off and jit = off (ALTER DATABASE),
# so both sides run with the same settings on whatever cluster this is
# pointed at.  Server-level settings are left to the caller; bench/bench.sh
# documents the ones it uses.  With the defaults a run takes about 15 minutes
# on 2 cores: about 12 for comparisons 1-4 (including about a minute of
# loading: per round 12 pgbench runs of BENCH_SECONDS plus the four bulk
# DELETEs and their resets), and about 3 for 5 and 6 (loading 1,000,000 and
# 10,000,000 rows per side, 1.5 minutes, and per round four timed runs, each
# after a VACUUM, at each size).
#
# Comparison 1 picks ids at random, so late in a run some DELETEs find their
# row already tombstoned and change nothing; that happens alike on every
# side, and each round starts again from no tombstones.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
secs=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-5}
clients=${BENCH_CLIENTS:-$(nproc 2>/dev/null || echo 2)}
jobs=${BENCH_JOBS:-$clients}
rows=${BENCH_ROWS:-1000000}
db=${BENCH_DB:-tombstone_bench}
keep=${BENCH_KEEP:-0}
strict=${BENCH_STRICT:-0}
results_dir=${BENCH_RESULTS_DIR:-$here/results}
maint_db=${BENCH_MAINT_DB:-postgres}
lscale=${BENCH_LEDGER_SCALE:-10}
comparisons=${BENCH_COMPARISONS:-1 2 3 4 5 6}
foundation=${BENCH_FOUNDATION_RATIO:-1.035}

die() { echo "run.sh: $*" >&2; exit 1; }
for v in secs rounds clients jobs rows; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done
[[ $lscale =~ ^[0-9]+$ ]] || die "BENCH_LEDGER_SCALE must be a non-negative integer, not '$lscale'"
[[ $foundation =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "BENCH_FOUNDATION_RATIO must be a number, not '$foundation'"
[[ $comparisons =~ ^[1-6]([\ ,][1-6])*$ ]] || die "BENCH_COMPARISONS must list numbers 1 to 6, not '$comparisons'"
want() { [[ " ${comparisons//,/ } " == *" $1 "* ]]; }
[[ $db =~ ^[a-z_][a-z0-9_]*$ ]] || die "BENCH_DB must be a plain lower-case name, not '$db'"
(( ${#db} <= 40 )) || die "BENCH_DB must be at most 40 characters long"
(( rows >= 10 )) || die "BENCH_ROWS must be at least 10"
ledger=0
if want 5 || want 6; then
    ledger=1
    (( rows >= 200 )) || die "BENCH_ROWS must be at least 200 for comparisons 5 and 6"
fi
foundation_run=0
for c in 1 2 3 4; do want "$c" && foundation_run=1; done
(( jobs <= clients )) || jobs=$clients
[ -x "$PGBIN/pgbench" ] || die "no pgbench in $PGBIN (set PGBIN)"

# shellcheck source=bench/run_lib.sh
source "$here/run_lib.sh"

work=$(mktemp -d -t tombstone-bench.XXXXXX)
ledger_dbs=()
cleanup() {
    local rc=$?
    set +e
    if [ "$keep" != 1 ]; then
        local d
        for d in "$db" "${ledger_dbs[@]}"; do drop_db "$d"; done
    fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql_db() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }

# the figures are logged as they come, so that a run that fails later
# still leaves them
record() { fig[$1]="${fig[$1]:-}${fig[$1]:+ }$2"; log "figure $1: $2"; }

# run_pgbench SCRIPT MODE: prints tps
run_pgbench() {
    local script=$1 mode=$2 out="$work/pgbench.out" tps failed
    if ! "$PGBIN/pgbench" -n -M "$mode" -c "$clients" -j "$jobs" -T "$secs" \
            -D rows="$rows" -f "$here/$script" "$db" >"$out" 2>&1; then
        cat "$out" >&2
        die "pgbench failed on $script"
    fi
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$out")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
    if [ -z "$tps" ] || [ "${failed:-0}" != 0 ]; then
        cat "$out" >&2
        die "pgbench on $script gave no tps or had failed transactions"
    fi
    echo "$tps"
}

# run_bulk VARIANT EXPECTED_TAG: prints milliseconds
run_bulk() {
    local v=$1 tag=$2 out="$work/bulk.out" ms
    if ! "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -d "$db" -c '\timing on' \
            -f "$here/bulk_$v.sql" >"$out" 2>&1; then
        cat "$out" >&2
        die "bulk DELETE on b_$v failed"
    fi
    grep -qx "$tag" "$out" || { cat "$out" >&2; die "bulk DELETE on b_$v: expected '$tag'"; }
    ms=$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' "$out" | tail -n 1)
    [ -n "$ms" ] || { cat "$out" >&2; die "bulk DELETE on b_$v: no timing"; }
    psql_db -v tbl="b_$v" -v rows="$rows" -f "$here/check_bulk.sql" >/dev/null
    echo "$ms"
}

reset_table() { psql_db -v tbl="$1" -f "$here/reset.sql" >/dev/null; }
# a table with history is made anew instead (see bench/hist_tables.sql)
hist_table() { psql_db -v tbl="$1" -v rows="$rows" -f "$here/hist_tables.sql" >/dev/null; }

# Comparisons 5 and 6.  A tenant has per_tenant rows over the five tables
# below tenants; its tables, in the order of the "rows" line of the
# base scripts: tenants, projects, tasks, comments, documents, events
# (shares as in ledger_shares() of bench/ledger_setup.sql).
per_tenant=$(( rows / 10 ))
ltenant=3
ledger_counts() {
    local t=$per_tenant
    echo 1 $(( t * 5 / 100 )) $(( t * 25 / 100 )) $(( t * 40 / 100 )) $(( t * 10 / 100 )) \
        $(( t - t * 5 / 100 - t * 25 / 100 - t * 40 / 100 - t * 10 / 100 ))
}

# ledger_timed DB SCRIPT EXPECTED_ROWS [psql options]: runs one timed
# script; sets lt_ms to its time.  Dies unless the script reports the
# expected row counts ("rows ..." line).
lt_ms=
ledger_timed() {
    local ldb=$1 script=$2 expect=$3 out="$work/ledger.out" got
    shift 3
    if ! "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$ldb" "$@" \
            -f "$here/$script" >"$out" 2>&1; then
        cat "$out" >&2
        die "$script failed"
    fi
    lt_ms=$(sed -n 's/^elapsed_ms \([0-9.]*\)$/\1/p' "$out")
    got=$(sed -n 's/^rows //p' "$out")
    [ -n "$lt_ms" ] || { cat "$out" >&2; die "$script: no timing"; }
    [ "$got" = "$expect" ] || { cat "$out" >&2; die "$script: changed rows '$got', expected '$expect'"; }
}

# ledger_check DB SIDE STATE [psql options]: the rows of the tenant are all
# in STATE (deleted, live); on prot with -v op=... also the ledger entry,
# whose id is put in lc_change.
lc_change=
ledger_check() {
    local ldb=$1 side=$2 state=$3 out="$work/ledger_check.out"
    shift 3
    if ! "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$ldb" -v sch="$side" \
            -v tenant="$ltenant" -v per_tenant="$per_tenant" -v state="$state" "$@" \
            -f "$here/ledger_check.sql" >"$out" 2>&1; then
        cat "$out" >&2
        die "check after the run on $side failed: tenant $ltenant is not $state as expected"
    fi
    lc_change=$(sed -n 's/^change \([0-9]*\)$/\1/p' "$out")
}

# ledger_scale SCALE: load 10 * SCALE tenants into a database of their own
# and run the rounds of comparisons 5 and 6; figures are recorded as
# ledger_{del,undel}_{base,prot}_xSCALE.
ledger_scale() {
    local s=$1 ldb="${db}_ledger_x$1" ntenants=$(( 10 * $1 )) r v change=0 counts
    counts=$(ledger_counts)
    ledger_dbs+=("$ldb")
    log "5./6. tables x$s: loading $ntenants tenants of $per_tenant rows per side into database $ldb"
    psql_maint -c "SET tombstone.drop_database = '$ldb'" \
               -c "DROP DATABASE IF EXISTS \"$ldb\" WITH (FORCE)" \
               -c "CREATE DATABASE \"$ldb\"" \
               -c "ALTER DATABASE \"$ldb\" SET synchronous_commit = off" \
               -c "ALTER DATABASE \"$ldb\" SET jit = off" >/dev/null
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$ldb" -v tenants="$ntenants" \
        -v per_tenant="$per_tenant" -f "$here/ledger_setup.sql" >/dev/null
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$ldb" -v tenants="$ntenants" \
        -v per_tenant="$per_tenant" -v changes=0 -f "$here/ledger_sanity.sql" >/dev/null
    for (( r = 1; r <= rounds; r++ )); do
        log "round $r/$rounds: 6. DELETE a tenant of $per_tenant rows, tables x$s"
        for v in $(order "$r" base prot); do
            "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$ldb" -v sch="$v" \
                -f "$here/ledger_vacuum.sql" >/dev/null
            checkpoint
            if [ "$v" = base ]; then
                ledger_timed "$ldb" ledger_delete_base.sql "$counts" -v tenant="$ltenant"
                ledger_check "$ldb" base deleted
            else
                ledger_timed "$ldb" ledger_delete_prot.sql 1 -v tenant="$ltenant"
                ledger_check "$ldb" prot deleted -v op=delete_tenant -v undoes=0
                change=$lc_change
            fi
            record "ledger_del_${v}_x$s" "$lt_ms"
        done

        log "round $r/$rounds: 5. undelete_change() of those rows, tables x$s"
        for v in $(order "$r" base prot); do
            "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$ldb" -v sch="$v" \
                -f "$here/ledger_vacuum.sql" >/dev/null
            checkpoint
            if [ "$v" = base ]; then
                ledger_timed "$ldb" ledger_undelete_base.sql "$counts" -v tenant="$ltenant"
                ledger_check "$ldb" base live
            else
                ledger_timed "$ldb" ledger_undelete_prot.sql "$(( per_tenant + 1 ))" \
                    -v tenant="$ltenant" -v change="$change"
                ledger_check "$ldb" prot live -v op=undelete -v undoes="$change"
            fi
            record "ledger_undel_${v}_x$s" "$lt_ms"
        done
    done
    log "5./6. tables x$s: checking every row of both sides"
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$ldb" -v tenants="$ntenants" \
        -v per_tenant="$per_tenant" -v changes=$(( 2 * rounds )) \
        -f "$here/ledger_sanity.sql" >/dev/null
    if [ "$keep" != 1 ]; then
        drop_db "$ldb"
    fi
}

#------------------------------------------------------------------------
# setup
#------------------------------------------------------------------------
log "creating database $db"
psql_maint -c "SET tombstone.drop_database = '$db'" \
           -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" \
           -c "CREATE DATABASE \"$db\"" \
           -c "ALTER DATABASE \"$db\" SET synchronous_commit = off" \
           -c "ALTER DATABASE \"$db\" SET jit = off" >/dev/null
if ! psql_db -c 'CHECKPOINT' >/dev/null 2>&1; then
    can_checkpoint=0
    echo "run.sh: warning: cannot run CHECKPOINT as this user; runs start without one" >&2
fi
if (( foundation_run )); then
    log "loading 10 tables of $rows rows"
    psql_db -v rows="$rows" -f "$here/setup.sql" >/dev/null
    psql_db -f "$here/insert_tables.sql" >/dev/null
    for t in d_hist b_hist; do hist_table "$t"; done
    log "checking the variants"
    psql_db -f "$here/sanity.sql" >/dev/null
fi

tenant3=$(( (rows - 3) / 10 + 1 ))     # ids 3, 13, 23, ... up to rows
declare -A bulk_tag=([base]="UPDATE $tenant3" [prot]="DELETE $tenant3" [hist]="DELETE $tenant3"
                     [trig]="DELETE 0" [rule]="DELETE 0")

#------------------------------------------------------------------------
# rounds
#------------------------------------------------------------------------
for (( r = 1; r <= rounds && foundation_run; r++ )); do
    if want 1; then
        log "round $r/$rounds: 1. DELETE by primary key"
        for t in d_base d_prot d_trig d_rule d_led; do reset_table "$t"; done
        (( r == 1 )) || hist_table d_hist
        for v in $(order "$r" base prot hist ledger trig rule); do
            checkpoint
            x=$(run_pgbench "delete_pk_$v.sql" prepared); record "delete_$v" "$x"
        done
    fi

    if want 2; then
        log "round $r/$rounds: 2. DELETE of $tenant3 rows"
        for v in $(order "$r" base prot hist trig rule); do
            if [ "$v" = hist ]; then
                (( r == 1 )) || hist_table b_hist
            else
                reset_table "b_$v"
            fi
            checkpoint
            x=$(run_bulk "$v" "${bulk_tag[$v]}"); record "bulk_$v" "$x"
        done
    fi

    if want 3; then
        log "round $r/$rounds: 3. SELECT by primary key"
        for mode in prepared simple; do
            for v in $(order "$r" base prot); do
                checkpoint
                x=$(run_pgbench "select_pk_$v.sql" "$mode"); record "select_${mode}_$v" "$x"
            done
        done
    fi

    if want 4; then
        log "round $r/$rounds: 4. INSERT"
        for mode in prepared simple; do
            psql_db -f "$here/insert_tables.sql" >/dev/null
            for v in $(order "$r" base prot); do
                checkpoint
                x=$(run_pgbench "insert_$v.sql" "$mode"); record "insert_${mode}_$v" "$x"
            done
        done
    fi
done

#------------------------------------------------------------------------
# comparisons 5 and 6: tenant deletion and undelete_change()
#------------------------------------------------------------------------
if (( ledger )); then
    ledger_scale 1
    if (( lscale > 1 )); then
        ledger_scale "$lscale"
    fi
fi
log "done"

#------------------------------------------------------------------------
# report
#------------------------------------------------------------------------
# median, emit, ratio_of, measured and the counters of targets met
# shellcheck source=bench/report_lib.sh
source "$here/report_lib.sh"

report="$work/report.txt"

# row LABEL UNIT BASE_KEY OTHER_KEY [OP TARGET]: the medians of two figures
# and their ratio; nothing when one of them was not measured
row() {
    local b o
    measured "$3" && measured "$4" || return 0
    b=$(median "${fig[$3]}")
    o=$(median "${fig[$4]}")
    emit "$1" "$2" "$b" "$o" "$(ratio_of "$b" "$o")" "${5:-}" "${6:-}"
}

# ledger_cost: comparison 1's ratio against the foundation's (target c)
ledger_cost() {
    local r1
    measured delete_base && measured delete_prot || return 0
    r1=$(ratio_of "$(median "${fig[delete_base]}")" "$(median "${fig[delete_prot]}")")
    emit "  ledger: this ratio / foundation's $foundation" x "$foundation" "$r1" \
        "$(ratio_of "$foundation" "$r1")" '>=' 0.95
}

# the suffix of the figures of the larger tables of 5 and 6
lx=x$lscale
(( lscale > 1 )) || lx=none

# growth LABEL OP: how much each side of comparison OP (del, undel) grew
# from tables x1 to tables x$lscale
growth() {
    local op=$2 bg pg k
    for k in "ledger_${op}_base_x1" "ledger_${op}_prot_x1" \
             "ledger_${op}_base_$lx" "ledger_${op}_prot_$lx"; do
        measured "$k" || return 0
    done
    bg=$(ratio_of "$(median "${fig[ledger_${op}_base_x1]}")" "$(median "${fig[ledger_${op}_base_$lx]}")")
    pg=$(ratio_of "$(median "${fig[ledger_${op}_prot_x1]}")" "$(median "${fig[ledger_${op}_prot_$lx]}")")
    emit "$1" x "$bg" "$pg" "$(ratio_of "$bg" "$pg")"
}

server_version=$(psql_db -Atc 'SHOW server_version')
settings=$(psql_db -Atc "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ', ' ORDER BY name)
                           FROM pg_settings
                          WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'jit',
                                         'max_wal_size', 'checkpoint_timeout', 'autovacuum')")
repo=$(cd "$here/.." && pwd)
revision=$(git -c safe.directory="$repo" -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
# the extension's sources differ from that revision (bench/ does not count)
if [ "$revision" != unknown ] &&
   [ -n "$(git -c safe.directory="$repo" -C "$repo" status --porcelain -- src sql Makefile '*.control' 2>/dev/null)" ]; then
    revision="$revision (sources modified)"
fi

{
    echo "pg_tombstone benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), revision $revision"
    echo "PostgreSQL $server_version; $(nproc 2>/dev/null || echo '?') CPUs; $rows rows per table;" \
         "pgbench -c $clients -j $jobs -T $secs; rounds: $rounds, median of rounds"
    echo "settings: $settings"
    echo
    printf '%-44s %-4s %11s %11s %7s  %-8s %s\n' \
        comparison unit baseline protected ratio target met
    row "1 DELETE one row by pk (-M prepared)"      tps delete_base delete_prot '>=' 0.92
    ledger_cost
    row "  DELETE, defaults (history on)"           tps delete_base delete_hist '>=' 0.90
    row "  history on vs UPDATE + ledger INSERT"    tps delete_ledger delete_hist '>=' 1.00
    row "  ref: hand-written UPDATE + ledger INSERT" tps delete_base delete_ledger
    row "  ref: PL/pgSQL BEFORE DELETE trigger"     tps delete_base delete_trig
    row "  ref: ON DELETE DO INSTEAD rule"          tps delete_base delete_rule
    row "2 DELETE $tenant3 of $rows rows"           ms  bulk_base   bulk_prot   '<=' 1.10
    row "  DELETE, defaults (history on)"           ms  bulk_base   bulk_hist   '<=' 1.10
    row "  ref: PL/pgSQL BEFORE DELETE trigger"     ms  bulk_base   bulk_trig
    row "  ref: ON DELETE DO INSTEAD rule"          ms  bulk_base   bulk_rule
    row "3 SELECT by pk (-M prepared)"              tps select_prepared_base select_prepared_prot '>=' 0.97
    row "  ref: same, -M simple (planned each time)" tps select_simple_base select_simple_prot
    row "4 INSERT one row (-M prepared)"            tps insert_prepared_base insert_prepared_prot '>=' 0.95
    row "  ref: same, -M simple (planned each time)" tps insert_simple_base insert_simple_prot
    row "5 undelete_change() of a tenant, tables x1" ms ledger_undel_base_x1 ledger_undel_prot_x1 '<=' 1.50
    row "  same, tables x$lscale"                   ms  "ledger_undel_base_$lx" "ledger_undel_prot_$lx" '<=' 1.50
    growth "  growth from tables x1 to x$lscale (times)" undel
    row "6 DELETE a tenant (registry), tables x1"   ms  ledger_del_base_x1 ledger_del_prot_x1 '<=' 1.50
    row "  same, tables x$lscale"                   ms  "ledger_del_base_$lx" "ledger_del_prot_$lx" '<=' 1.50
    growth "  growth from tables x1 to x$lscale (times)" del
    echo
    echo "targets met: $met_count of $target_count"
    echo "baseline: unprotected table, tombstone written by hand (UPDATE ... SET deleted_at = now()"
    echo "... AND deleted_at IS NULL; SELECT ... AND deleted_at IS NULL); protected: the same rows"
    echo "under tombstone.protect(); on ref rows the protected column holds the reference variant."
    echo "ratio = protected / baseline (tps: higher is better; ms: lower is better)."
    if want 1; then
        echo "1, ledger: the ratio of 1 divided by $foundation, the ratio of 1 before the ledger"
        echo "existed (revision 223ee4e); >= 0.95 means the ledger costs at most 5%."
        echo "1, 2: 'prot' tables are protected with history => false, 'history on' ones with"
        echo "the defaults; 'UPDATE + ledger INSERT': WITH u AS (UPDATE ... RETURNING tenant_id)"
        echo "INSERT INTO ledger_hand (tbl, tenant, n) SELECT ..., on an unprotected table."
    fi
    if (( ledger )); then
        echo "5, 6: tenant $ltenant has $per_tenant rows in projects, tasks, comments, documents and"
        echo "events, and its own row in tenants; tables x1: 10 tenants, $(( 10 * per_tenant )) rows per side;"
        if (( lscale > 1 )); then
            echo "x$lscale: $(( 10 * lscale )) tenants, $(( 10 * lscale * per_tenant )) rows per side, the same change."
        fi
        echo "baseline: the same tables unprotected, the tenant's rows tombstoned (6) and restored (5)"
        echo "by six hand-written UPDATEs by tenant_id in one transaction; protected: DELETE FROM"
        echo "tenants WHERE id = $ltenant (6), tombstone.undelete_change() of that change (5)."
        if (( lscale > 1 )); then
            echo "growth: median at x$lscale / median at x1 of each side; ratio = protected / baseline growth."
        fi
    fi
    echo
    echo "per-round figures:"
    for k in delete_base delete_prot delete_hist delete_ledger delete_trig delete_rule \
             bulk_base bulk_prot bulk_hist bulk_trig bulk_rule \
             select_prepared_base select_prepared_prot select_simple_base select_simple_prot \
             insert_prepared_base insert_prepared_prot insert_simple_base insert_simple_prot \
             ledger_undel_base_x1 ledger_undel_prot_x1 \
             "ledger_undel_base_$lx" "ledger_undel_prot_$lx" \
             ledger_del_base_x1 ledger_del_prot_x1 \
             "ledger_del_base_$lx" "ledger_del_prot_$lx"; do
        measured "$k" && printf '  %-22s %s\n' "$k" "${fig[$k]}"
    done
} >"$report"

cat "$report"
if mkdir -p "$results_dir" 2>/dev/null && cp "$report" "$results_dir/latest.txt" 2>/dev/null; then
    log "written to $results_dir/latest.txt"
else
    echo "run.sh: warning: could not write $results_dir/latest.txt" >&2
fi

if [ "$strict" = 1 ] && (( missed )); then
    exit 1
fi
exit 0
