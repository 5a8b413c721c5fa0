#!/usr/bin/env bash
# The Citus tests of pg_tombstone (issue 17), against an installed Citus:
# starts a coordinator and two workers on loopback in a temporary
# directory, with shared_preload_libraries = 'citus,pg_tombstone', runs
# every test/citus/*.sql with psql and compares its output with
# test/citus/expected/*.out, prints "tests: N passed, N failed", tears
# the cluster down and exits non-zero on any failure.
#
# It does not build or install Citus; where Citus is not installed it says
# so and exits non-zero: that is not a pass.  CI (.ci/run) does not run it.
#
#   PG_CONFIG=/path/to/pg_config scripts/test-citus.sh [test ...]
#
# PG_CONFIG defaults to the system's PostgreSQL 15.  pg_tombstone must be
# installed into the same PostgreSQL (make PG_CONFIG=... install).  Ports:
# CITUS_PORT_COORDINATOR (9731), CITUS_PORT_WORKER1 (9732),
# CITUS_PORT_WORKER2 (9733).  Run it as root (the servers run as user
# postgres) or as the user that will own the servers.  Keep the cluster
# running with CITUS_KEEP=1 to look at it after a failure (stop it with
# pg_ctl -D DIR/nPORT stop for each of the three).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/locale.sh

. scripts/citus_cluster.sh

if ! citus_check_installed; then
    echo "tests: 0 passed, 1 failed"
    exit 3
fi
mkdir -p results/citus
trap citus_stop EXIT
if ! citus_start; then
    echo "tests: 0 passed, 1 failed"
    exit 1
fi

if [ $# -gt 0 ]; then
    tests=("$@")
else
    tests=()
    for f in test/citus/*.sql; do
        tests+=("$(basename "$f" .sql)")
    done
fi

passed=0
failed=0
for t in "${tests[@]}"; do
    out="results/citus/$t.out"
    # the tests share the database postgres (the workers are added to it);
    # each works in a schema of its own and reads the ledger from its own
    # first change on
    as "'$BIN/psql' -X -a -h '$TMP' -p $COORD -U postgres -d postgres" \
        "-v coordinator=$COORD -v worker1=$W1 -v worker2=$W2 -v host=127.0.0.1" \
        "-v socketdir='$TMP'" \
        "-f test/citus/$t.sql" >"$out" 2>&1
    if diff -u "test/citus/expected/$t.out" "$out" >"results/citus/$t.diff"; then
        echo "ok     $t"
        passed=$((passed + 1))
        rm -f "results/citus/$t.diff"
    else
        echo "FAILED $t (diff in results/citus/$t.diff)"
        head -60 "results/citus/$t.diff"
        failed=$((failed + 1))
    fi
done

echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
