#!/usr/bin/env bash
# The row history oracle (sql/history_oracle.sql, which pg_regress runs at
# 300 steps over 20 tenants) at a larger size: a random workload of many
# transactions, snapshots of tenants between them, tombstone.as_of()
# compared with every snapshot, rewinds of three tenants checked against
# their snapshots and the other tenants' checksums.  Prints the counts and
# exits 1 on any difference, any unexpected error, or a missing verdict.
#
#   scripts/oracle.sh [steps [tenants [seed]]]     (default 5000 60 0.4242)
#   STEPS=20000 TENANTS=200 SEED=-0.3 scripts/oracle.sh
#   KEEP=1 scripts/oracle.sh     keep database history_oracle afterwards
#
# Runs against the cluster that libpq's environment names (PGHOST, PGPORT,
# PGUSER, PGDATABASE (default postgres), ...: a superuser, pg_tombstone
# installed and in shared_preload_libraries; database history_oracle is
# dropped and made anew).  With no PG* variable set it starts a throw-away cluster with
# pg_virtualenv, as scripts/test.sh does (pg_tombstone must be installed).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/locale.sh      # whatever locale the shell forwards

steps=${1:-${STEPS:-5000}}
tenants=${2:-${TENANTS:-60}}
seed=${3:-${SEED:-0.4242}}
if ! [[ $steps =~ ^[1-9][0-9]*$ && $tenants =~ ^[1-9][0-9]*$ && $tenants -le 999 ]]; then
    echo "oracle.sh: steps must be a positive integer, tenants one from 1 to 999" >&2
    exit 2
fi
if ! [[ $seed =~ ^-?(0(\.[0-9]+)?|1(\.0+)?|\.[0-9]+)$ ]]; then
    echo "oracle.sh: seed must be a number from -1 to 1" >&2
    exit 2
fi

if [ -z "${PGHOST:-}${PGPORT:-}${PGSERVICE:-}${PGDATABASE:-}${ORACLE_IN_VIRTUALENV:-}" ]; then
    command -v pg_virtualenv >/dev/null ||
        { echo "oracle.sh: no PG* variable names a cluster, and pg_virtualenv is missing" >&2; exit 2; }
    # psql reads the test file as this user; the run below writes its
    # closing lines to $ORACLE_SUMMARY, repeated after pg_virtualenv's output
    ORACLE_SUMMARY=$(mktemp)
    export ORACLE_SUMMARY ORACLE_IN_VIRTUALENV=1
    status=0
    pg_virtualenv -v 15 -o shared_preload_libraries=pg_tombstone \
        "$0" "$steps" "$tenants" "$seed" || status=$?
    cat "$ORACLE_SUMMARY" 2>/dev/null || echo "history oracle: FAILED (no result)"
    rm -f "$ORACLE_SUMMARY"
    exit "$status"
fi
summary=${ORACLE_SUMMARY:-/dev/null}
export PGDATABASE=${PGDATABASE:-postgres}

out=$(mktemp)
trap 'rm -f "$out"' EXIT
keep=()
if [ -n "${KEEP:-}" ]; then
    keep=(-v keep=1)
fi
echo "== history oracle: $steps steps, $tenants tenants, seed $seed"
start=$(date +%s)
status=0
psql -X -v steps="$steps" -v tenants="$tenants" -v seed="$seed" "${keep[@]}" \
     -f sql/history_oracle.sql >"$out" 2>&1 || status=$?
end=$(date +%s)
cat "$out"
echo "== $((end - start)) s"

failed=0
if [ "$status" -ne 0 ]; then
    echo "oracle.sh: psql exited with status $status"
    failed=1
fi
# the file provokes errors on purpose, each followed by \echo :SQLSTATE;
# any other error, or a provoked one that did not happen, is a failure
provoked=$(grep -c '^\\echo :SQLSTATE' sql/history_oracle.sql)
errors=$(grep -c 'ERROR:' "$out" || true)
if [ "$errors" -ne "$provoked" ]; then
    echo "oracle.sh: $errors errors, where the file provokes $provoked:"
    grep 'ERROR:' "$out" || true
    failed=1
fi
if grep -qx '00000' "$out"; then
    echo "oracle.sh: a statement that must fail succeeded (SQLSTATE 00000 above)"
    failed=1
fi
if ! grep -qx 'oracle verdict: ok' "$out"; then
    echo "oracle.sh: the verdict is not ok (see the checks above)"
    failed=1
fi
# the last as_of() summary (every snapshot, after the rewinds), repeated
# after pg_virtualenv's output
sed -n '/^ *tbl *| snapshots | snapshot_rows/,/^(/p' "$out" | tail -6 >"$summary"
if [ "$failed" -ne 0 ]; then
    echo "history oracle: FAILED ($steps steps, $tenants tenants, seed $seed)" | tee -a "$summary"
    exit 1
fi
echo "history oracle: ok ($steps steps, $tenants tenants, seed $seed)" | tee -a "$summary"
