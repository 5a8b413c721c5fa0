#!/usr/bin/env bash
# Runs inside pg_virtualenv (see scripts/test.sh): libpq's environment
# points at a throw-away cluster with pg_tombstone preloaded.
set -uo pipefail
cd "$(dirname "$0")/.."
export PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
failed=0
mkdir -p results
log=$(mktemp)
exec > >(tee "$log") 2>&1

echo "== source layout (scripts/check-source.pl)"
if ! prove scripts/check-source.pl; then
    failed=1
fi

echo "== pg_regress (library preloaded)"
if ! make -s installcheck PG_CONFIG="$PG_CONFIG"; then
    cat regression.diffs 2>/dev/null | head -200
    failed=1
fi

echo "== pgTAP"
# a database holding protected tables is dropped only when named (TB055)
psql -qX -c "SET tombstone.drop_database = 'tombstone_tap'" -c "DROP DATABASE IF EXISTS tombstone_tap" \
    -c "CREATE DATABASE tombstone_tap" >/dev/null
psql -qX -d tombstone_tap -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION pg_tombstone" >/dev/null
if ! pg_prove -d tombstone_tap test/*.sql; then
    failed=1
fi

echo "== sweep: every function of schema tombstone with bad input (TAP)"
if ! prove --exec bash test/sweep.sh; then
    failed=1
fi

echo "== tools: dump, restore, repack, replication, upgrades (test/tools/*.sh)"
# every script but the helpers they share (lib.sh)
if ! prove --exec bash $(ls test/tools/*.sh | grep -v '/lib\.sh$'); then
    failed=1
fi

echo "== pg_regress (library not preloaded: fail closed)"
psql -qX -c "SET tombstone.drop_database = 'tombstone_failclosed'" -c "DROP DATABASE IF EXISTS tombstone_failclosed" \
    -c "CREATE DATABASE tombstone_failclosed" >/dev/null
psql -qX -v ON_ERROR_STOP=1 -d tombstone_failclosed -f test/fail_closed_setup.psql >/dev/null || failed=1
cluster="${PGVERSION:-15} regress"
pg_conftool $cluster remove shared_preload_libraries
pg_ctlcluster $cluster restart
if ! make -s installcheck PG_CONFIG="$PG_CONFIG" REGRESS=fail_closed ISOLATION= \
        CONTRIB_TESTDB=tombstone_failclosed \
        EXTRA_REGRESS_OPTS=--use-existing; then
    cat regression.diffs 2>/dev/null | head -200
    failed=1
fi
pg_conftool $cluster set shared_preload_libraries pg_tombstone
pg_ctlcluster $cluster restart

# one closing line over the runners: pg_regress files, isolation specs, and
# the TAP assertions of pg_prove and prove (pgTAP, the sweep, the tools; each
# prints "Files=N, Tests=N")
counts=$(awk '/^(test| ) .* \.\.\. ok/ {ok++}
              /^(test| ) .* \.\.\. FAILED/ {bad++}
              /^Files=[0-9]+, Tests=[0-9]+/ {split($2, t, "="); tap += t[2] + 0}
              match($0, /Failed [0-9]+\//) {tapbad += substr($0, RSTART + 7, RLENGTH - 8) + 0}
              END {print ok + tap - tapbad, bad + tapbad}' "$log")
passed=${counts% *}
nfailed=${counts#* }
if [ "$failed" -ne 0 ] && [ "$nfailed" -eq 0 ]; then
    nfailed=1
fi
echo "tests: $passed passed, $nfailed failed" | tee results/summary.txt
[ "$failed" -eq 0 ]
