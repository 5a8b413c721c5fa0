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
#      tps ratio >= 0.97; references: PL/pgSQL BEFORE DELETE trigger,
#      ON DELETE DO INSTEAD rule.  The tables are reset each round.
#   2. One DELETE of tenant 3 (100,000 of 1,000,000 rows) vs the hand-written
#      UPDATE: time ratio <= 1.10; same references.  Each table is reset
#      (deleted_at back to NULL, VACUUM) before its run, and checked after it.
#   3. SELECT by primary key vs the same with "AND deleted_at IS NULL" written
#      by hand: tps ratio >= 0.97 (-M prepared); reference: -M simple, which
#      plans every statement.
#   4. INSERT vs INSERT: tps ratio >= 0.95 (-M prepared), into fresh empty
#      tables each round; reference: -M simple.
#
# Environment (defaults in brackets):
#   BENCH_SECONDS   seconds per pgbench run [10]
#   BENCH_ROUNDS    rounds [5]
#   BENCH_CLIENTS   pgbench clients [number of CPUs]
#   BENCH_JOBS      pgbench threads [BENCH_CLIENTS]
#   BENCH_ROWS      rows per table [1000000]; comparison 2 deletes 10% of them
#   BENCH_DB        database to create [tombstone_bench]
#   BENCH_KEEP      1: keep the database afterwards [0]
#   BENCH_STRICT    1: exit with status 1 when a target is missed [0]
#   BENCH_RESULTS_DIR  where latest.txt is written [bench/results]
#   PGBIN           PostgreSQL 15 binaries [/usr/lib/postgresql/15/bin]
#
# The database gets synchronous_commit = off and jit = off (ALTER DATABASE),
# so both sides run with the same settings on whatever cluster this is
# pointed at.  Server-level settings are left to the caller; bench/bench.sh
# documents the ones it uses.  With the defaults a run takes about 12 minutes
# on 2 cores, including about a minute of loading: per round 12 pgbench runs
# of BENCH_SECONDS plus the four bulk DELETEs and their resets.
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

die() { echo "run.sh: $*" >&2; exit 1; }
for v in secs rounds clients jobs rows; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done
[[ $db =~ ^[a-z_][a-z0-9_]*$ ]] || die "BENCH_DB must be a plain lower-case name, not '$db'"
(( rows >= 10 )) || die "BENCH_ROWS must be at least 10"
(( jobs <= clients )) || jobs=$clients
[ -x "$PGBIN/pgbench" ] || die "no pgbench in $PGBIN (set PGBIN)"

start=$(date +%s)
log() { printf '== [%4ds] %s\n' "$(( $(date +%s) - start ))" "$*" >&2; }

work=$(mktemp -d -t tombstone-bench.XXXXXX)
cleanup() {
    local rc=$?
    set +e
    if [ "$keep" != 1 ]; then
        local i
        for i in 1 2 3 4 5; do
            "$PGBIN/psql" -X -q -d "$maint_db" \
                -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 && break
            [ "$i" = 5 ] && echo "run.sh: warning: could not drop database $db" >&2
            sleep 2
        done
    fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql_maint() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$maint_db" "$@"; }
psql_db() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }

# odd rounds: variants as given; even rounds: reversed
order() {
    local r=$1; shift
    if (( r % 2 )); then
        echo "$@"
    else
        local out=() i
        for (( i = $#; i >= 1; i-- )); do out+=("${!i}"); done
        echo "${out[@]}"
    fi
}

can_checkpoint=1
checkpoint() {
    (( can_checkpoint )) || return 0
    psql_db -c 'CHECKPOINT' >/dev/null
}

# figures: name -> space-separated per-round values
declare -A fig
record() { fig[$1]="${fig[$1]:-}${fig[$1]:+ }$2"; }

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

#------------------------------------------------------------------------
# setup
#------------------------------------------------------------------------
log "creating database $db"
psql_maint -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" \
           -c "CREATE DATABASE \"$db\"" \
           -c "ALTER DATABASE \"$db\" SET synchronous_commit = off" \
           -c "ALTER DATABASE \"$db\" SET jit = off" >/dev/null
if ! psql_db -c 'CHECKPOINT' >/dev/null 2>&1; then
    can_checkpoint=0
    echo "run.sh: warning: cannot run CHECKPOINT as this user; runs start without one" >&2
fi
log "loading 10 tables of $rows rows"
psql_db -v rows="$rows" -f "$here/setup.sql" >/dev/null
psql_db -f "$here/insert_tables.sql" >/dev/null
log "checking the variants"
psql_db -f "$here/sanity.sql" >/dev/null

tenant3=$(( (rows - 3) / 10 + 1 ))     # ids 3, 13, 23, ... up to rows
declare -A bulk_tag=([base]="UPDATE $tenant3" [prot]="DELETE $tenant3"
                     [trig]="DELETE 0" [rule]="DELETE 0")

#------------------------------------------------------------------------
# rounds
#------------------------------------------------------------------------
for (( r = 1; r <= rounds; r++ )); do
    log "round $r/$rounds: 1. DELETE by primary key"
    for t in d_base d_prot d_trig d_rule; do reset_table "$t"; done
    for v in $(order "$r" base prot trig rule); do
        checkpoint
        x=$(run_pgbench "delete_pk_$v.sql" prepared); record "delete_$v" "$x"
    done

    log "round $r/$rounds: 2. DELETE of $tenant3 rows"
    for v in $(order "$r" base prot trig rule); do
        reset_table "b_$v"
        checkpoint
        x=$(run_bulk "$v" "${bulk_tag[$v]}"); record "bulk_$v" "$x"
    done

    log "round $r/$rounds: 3. SELECT by primary key"
    for mode in prepared simple; do
        for v in $(order "$r" base prot); do
            checkpoint
            x=$(run_pgbench "select_pk_$v.sql" "$mode"); record "select_${mode}_$v" "$x"
        done
    done

    log "round $r/$rounds: 4. INSERT"
    for mode in prepared simple; do
        psql_db -f "$here/insert_tables.sql" >/dev/null
        for v in $(order "$r" base prot); do
            checkpoint
            x=$(run_pgbench "insert_$v.sql" "$mode"); record "insert_${mode}_$v" "$x"
        done
    done
done
log "done"

#------------------------------------------------------------------------
# report
#------------------------------------------------------------------------
median() { tr ' ' '\n' <<<"$1" | sort -g | awk '{ v[NR] = $1 }
    END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

report="$work/report.txt"
missed=0
met_count=0
target_count=0

# row LABEL UNIT BASE_KEY OTHER_KEY [OP TARGET]
row() {
    local label=$1 unit=$2 b o ratio op=${5:-} target=${6:-} met='-' tshow='-'
    b=$(median "${fig[$3]}")
    o=$(median "${fig[$4]}")
    ratio=$(awk -v b="$b" -v o="$o" 'BEGIN { printf "%.3f", (b > 0 ? o / b : 0) }')
    if [ -n "$op" ]; then
        tshow="$op $target"
        target_count=$(( target_count + 1 ))
        if awk -v r="$ratio" -v t="$target" -v op="$op" \
               'BEGIN { exit !((op == ">=") ? (r >= t) : (r <= t)) }'; then
            met=yes; met_count=$(( met_count + 1 ))
        else
            met=no; missed=1
        fi
    fi
    printf '%-44s %-4s %11.1f %11.1f %7s  %-8s %s\n' \
        "$label" "$unit" "$b" "$o" "$ratio" "$tshow" "$met"
}

server_version=$(psql_db -Atc 'SHOW server_version')
settings=$(psql_db -Atc "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ', ' ORDER BY name)
                           FROM pg_settings
                          WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'jit',
                                         'max_wal_size', 'checkpoint_timeout', 'autovacuum')")
repo=$(cd "$here/.." && pwd)
revision=$(git -c safe.directory="$repo" -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)

{
    echo "pg_tombstone benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), revision $revision"
    echo "PostgreSQL $server_version; $(nproc 2>/dev/null || echo '?') CPUs; $rows rows per table;" \
         "pgbench -c $clients -j $jobs -T $secs; rounds: $rounds, median of rounds"
    echo "settings: $settings"
    echo
    printf '%-44s %-4s %11s %11s %7s  %-8s %s\n' \
        comparison unit baseline protected ratio target met
    row "1 DELETE one row by pk (-M prepared)"      tps delete_base delete_prot '>=' 0.97
    row "  ref: PL/pgSQL BEFORE DELETE trigger"     tps delete_base delete_trig
    row "  ref: ON DELETE DO INSTEAD rule"          tps delete_base delete_rule
    row "2 DELETE $tenant3 of $rows rows"           ms  bulk_base   bulk_prot   '<=' 1.10
    row "  ref: PL/pgSQL BEFORE DELETE trigger"     ms  bulk_base   bulk_trig
    row "  ref: ON DELETE DO INSTEAD rule"          ms  bulk_base   bulk_rule
    row "3 SELECT by pk (-M prepared)"              tps select_prepared_base select_prepared_prot '>=' 0.97
    row "  ref: same, -M simple (planned each time)" tps select_simple_base select_simple_prot
    row "4 INSERT one row (-M prepared)"            tps insert_prepared_base insert_prepared_prot '>=' 0.95
    row "  ref: same, -M simple (planned each time)" tps insert_simple_base insert_simple_prot
    echo
    echo "targets met: $met_count of $target_count"
    echo "baseline: unprotected table, tombstone written by hand (UPDATE ... SET deleted_at = now()"
    echo "... AND deleted_at IS NULL; SELECT ... AND deleted_at IS NULL); protected: the same rows"
    echo "under tombstone.protect(); on ref rows the protected column holds the reference variant."
    echo "ratio = protected / baseline (tps: higher is better; ms: lower is better)."
    echo
    echo "per-round figures:"
    for k in delete_base delete_prot delete_trig delete_rule \
             bulk_base bulk_prot bulk_trig bulk_rule \
             select_prepared_base select_prepared_prot select_simple_base select_simple_prot \
             insert_prepared_base insert_prepared_prot insert_simple_base insert_simple_prot; do
        printf '  %-22s %s\n' "$k" "${fig[$k]}"
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
