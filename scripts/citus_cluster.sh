# Sourced by scripts/test-citus.sh and bench/citus_bench.sh: a throw-away
# Citus cluster on loopback, a coordinator and two workers, with
# shared_preload_libraries = 'citus,pg_tombstone' (Citus must be first),
# against an installed Citus.  It neither builds nor installs Citus.
#
# Set before sourcing: PG_CONFIG (default: the system's PostgreSQL 15),
# CITUS_PORT_COORDINATOR, CITUS_PORT_WORKER1, CITUS_PORT_WORKER2 (ports,
# default 9731-9733, here COORD, W1, W2), CITUS_EXTRA_CONF (more
# postgresql.conf lines).
# Provides: citus_check_installed, citus_start, citus_stop, as (runs a
# command as the servers' user), psql_at PORT ARGS..., and $BIN, $TMP.

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
COORD=${CITUS_PORT_COORDINATOR:-9731}
W1=${CITUS_PORT_WORKER1:-9732}
W2=${CITUS_PORT_WORKER2:-9733}

# Citus and pg_tombstone installed in the PostgreSQL of $PG_CONFIG?  Says
# clearly what is missing; that is not a pass.
citus_check_installed() {
    if [ ! -x "$PG_CONFIG" ] && ! command -v "$PG_CONFIG" >/dev/null 2>&1; then
        echo "pg_config not found at $PG_CONFIG: set PG_CONFIG" >&2
        return 2
    fi
    BIN=$("$PG_CONFIG" --bindir)
    local pkglib share
    pkglib=$("$PG_CONFIG" --pkglibdir)
    share=$("$PG_CONFIG" --sharedir)
    if [ ! -f "$pkglib/citus.so" ] || [ ! -f "$share/extension/citus.control" ]; then
        echo "Citus is not installed in the PostgreSQL of $PG_CONFIG" \
             "($pkglib/citus.so, $share/extension/citus.control):" \
             "nothing was run; this is not a pass." >&2
        echo "Install Citus 13 into that PostgreSQL, or point PG_CONFIG at one that has it." >&2
        return 3
    fi
    if [ ! -f "$pkglib/pg_tombstone.so" ] || [ ! -f "$share/extension/pg_tombstone.control" ]; then
        echo "pg_tombstone is not installed in the PostgreSQL of $PG_CONFIG:" \
             "run make PG_CONFIG=$PG_CONFIG install first; this is not a pass." >&2
        return 3
    fi
}

# the servers run as postgres when we are root
if [ "$(id -u)" = 0 ]; then
    as() { su postgres -s /bin/bash -c "$*"; }
else
    as() { bash -c "$*"; }
fi

psql_at() {
    local port=$1
    shift
    as "'$BIN/psql' -X -q -h '$TMP' -p $port -U postgres -d postgres $*"
}

# initdb and start the three nodes in a new temporary directory $TMP,
# create the extensions and add the workers
citus_start() {
    TMP=$(mktemp -d /tmp/pg_tombstone_citus.XXXXXX)
    [ "$(id -u)" = 0 ] && chown postgres "$TMP"
    chmod 755 "$TMP"
    local p
    for p in "$COORD" "$W1" "$W2"; do
        if ! as "'$BIN/initdb' -D '$TMP/n$p' -U postgres -A trust --no-sync" >"$TMP/initdb.$p.log" 2>&1; then
            cat "$TMP/initdb.$p.log"
            return 1
        fi
        cat >>"$TMP/n$p/postgresql.conf" <<EOC
shared_preload_libraries = 'citus,pg_tombstone'
port = $p
listen_addresses = '127.0.0.1'
unix_socket_directories = '$TMP'
max_connections = 60
fsync = off
max_prepared_transactions = 20
${CITUS_EXTRA_CONF:-}
EOC
        if ! as "'$BIN/pg_ctl' -D '$TMP/n$p' -l '$TMP/n$p.log' -w start" >/dev/null; then
            cat "$TMP/n$p.log"
            return 1
        fi
    done
    for p in "$COORD" "$W1" "$W2"; do
        psql_at "$p" -v ON_ERROR_STOP=1 -c "'CREATE EXTENSION citus'" >/dev/null || {
            echo "CREATE EXTENSION citus failed on port $p"
            return 1
        }
    done
    psql_at "$COORD" -v ON_ERROR_STOP=1 \
        -c "\"SELECT citus_set_coordinator_host('127.0.0.1', $COORD)\"" \
        -c "\"SELECT citus_add_node('127.0.0.1', $W1)\"" \
        -c "\"SELECT citus_add_node('127.0.0.1', $W2)\"" \
        -c "'CREATE EXTENSION pg_tombstone'" >/dev/null || {
        echo "setting up the Citus cluster failed"
        return 1
    }
}

# stop the three nodes and remove $TMP (kept running with CITUS_KEEP=1)
citus_stop() {
    [ -n "${TMP:-}" ] && [ -d "$TMP" ] || return 0
    if [ "${CITUS_KEEP:-0}" = 1 ]; then
        echo "cluster kept running in $TMP (ports $COORD, $W1, $W2)"
        return 0
    fi
    local p
    for p in "$COORD" "$W1" "$W2"; do
        [ -d "$TMP/n$p" ] && as "'$BIN/pg_ctl' -D '$TMP/n$p' -m immediate stop" >/dev/null 2>&1
    done
    rm -rf "$TMP"
}
