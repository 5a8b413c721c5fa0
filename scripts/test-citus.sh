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

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
COORD=${CITUS_PORT_COORDINATOR:-9731}
W1=${CITUS_PORT_WORKER1:-9732}
W2=${CITUS_PORT_WORKER2:-9733}

if [ ! -x "$PG_CONFIG" ] && ! command -v "$PG_CONFIG" >/dev/null 2>&1; then
    echo "pg_config not found at $PG_CONFIG: set PG_CONFIG" >&2
    echo "tests: 0 passed, 1 failed"
    exit 2
fi
BIN=$("$PG_CONFIG" --bindir)
PKGLIB=$("$PG_CONFIG" --pkglibdir)
SHARE=$("$PG_CONFIG" --sharedir)
if [ ! -f "$PKGLIB/citus.so" ] || [ ! -f "$SHARE/extension/citus.control" ]; then
    echo "Citus is not installed in the PostgreSQL of $PG_CONFIG" \
         "($PKGLIB/citus.so, $SHARE/extension/citus.control):" \
         "the Citus tests did not run; this is not a pass." >&2
    echo "Install Citus 13 into that PostgreSQL, or point PG_CONFIG at one that has it."
    echo "tests: 0 passed, 1 failed"
    exit 3
fi
if [ ! -f "$PKGLIB/pg_tombstone.so" ] || [ ! -f "$SHARE/extension/pg_tombstone.control" ]; then
    echo "pg_tombstone is not installed in the PostgreSQL of $PG_CONFIG:" \
         "run make PG_CONFIG=$PG_CONFIG install first; this is not a pass." >&2
    echo "tests: 0 passed, 1 failed"
    exit 3
fi

# the servers run as postgres when we are root
if [ "$(id -u)" = 0 ]; then
    as() { su postgres -s /bin/bash -c "$*"; }
else
    as() { bash -c "$*"; }
fi

TMP=$(mktemp -d /tmp/pg_tombstone_citus.XXXXXX)
[ "$(id -u)" = 0 ] && chown postgres "$TMP"
chmod 755 "$TMP"
mkdir -p results/citus

stop_all() {
    if [ "${CITUS_KEEP:-0}" = 1 ]; then
        echo "cluster kept running in $TMP (ports $COORD, $W1, $W2)"
        return
    fi
    for p in "$COORD" "$W1" "$W2"; do
        [ -d "$TMP/n$p" ] && as "'$BIN/pg_ctl' -D '$TMP/n$p' -m immediate stop" >/dev/null 2>&1
    done
    rm -rf "$TMP"
}
trap stop_all EXIT

for p in "$COORD" "$W1" "$W2"; do
    if ! as "'$BIN/initdb' -D '$TMP/n$p' -U postgres -A trust --no-sync" >"$TMP/initdb.$p.log" 2>&1; then
        cat "$TMP/initdb.$p.log"
        echo "tests: 0 passed, 1 failed"
        exit 1
    fi
    cat >>"$TMP/n$p/postgresql.conf" <<EOF
shared_preload_libraries = 'citus,pg_tombstone'
port = $p
listen_addresses = '127.0.0.1'
unix_socket_directories = '$TMP'
max_connections = 60
fsync = off
max_prepared_transactions = 20
EOF
    if ! as "'$BIN/pg_ctl' -D '$TMP/n$p' -l '$TMP/n$p.log' -w start" >/dev/null; then
        cat "$TMP/n$p.log"
        echo "tests: 0 passed, 1 failed"
        exit 1
    fi
done

psql_at() {
    local port=$1
    shift
    as "'$BIN/psql' -X -q -h '$TMP' -p $port -U postgres -d postgres $*"
}

for p in "$COORD" "$W1" "$W2"; do
    psql_at "$p" -v ON_ERROR_STOP=1 -c "'CREATE EXTENSION citus'" >/dev/null || {
        echo "CREATE EXTENSION citus failed on port $p"
        echo "tests: 0 passed, 1 failed"
        exit 1
    }
done
if ! psql_at "$COORD" -v ON_ERROR_STOP=1 \
        -c "\"SELECT citus_set_coordinator_host('127.0.0.1', $COORD)\"" \
        -c "\"SELECT citus_add_node('127.0.0.1', $W1)\"" \
        -c "\"SELECT citus_add_node('127.0.0.1', $W2)\"" \
        -c "'CREATE EXTENSION pg_tombstone'" >/dev/null; then
    echo "setting up the Citus cluster failed"
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
