#!/usr/bin/env bash
# pg_tombstone row history benchmark on a fresh Debian 12 machine (run as
# root): installs the packages (those of scripts/setup.sh, and the two
# extensions compared against: postgresql-15-tablelog and
# postgresql-15-periods), builds and installs pg_tombstone
# (scripts/setup.sh), starts a throw-away PostgreSQL 15 cluster with
# pg_virtualenv, runs bench/history_run.sh against it and tears the cluster
# down.  The report is printed and written to
# bench/results/history_latest.txt.  What is compared, the targets and the
# checks are described in bench/history_run.sh.
#
#   bench/history_bench.sh                          # defaults, ~14 min on 2 cores
#   BENCH_ROWS=100000 BENCH_SECONDS=2 BENCH_ROUNDS=1 bench/history_bench.sh
#                                                   # quick check that it works
#   BENCH_SETUP=0 bench/history_bench.sh            # use the pg_tombstone already
#                                                   # installed: no build
#   BENCH_COMPARISONS=1 BENCH_HISTORY_SIDES="plain tomb plpgsql" bench/history_bench.sh
#
# All BENCH_* variables of bench/history_run.sh pass through (BENCH_SECONDS,
# BENCH_ROUNDS, BENCH_CLIENTS, BENCH_ROWS, BENCH_TENANTS, BENCH_ASOF_SCALE,
# BENCH_HISTORY_SIDES, BENCH_COMPARISONS, BENCH_STRICT, ...).  Besides:
#   BENCH_SETUP     0: do not run scripts/setup.sh [1]
#   BENCH_PACKAGES  0: do not install postgresql-15-tablelog and
#                   postgresql-15-periods when missing [1]; a side whose
#                   extension is missing is reported as not run
#   BENCH_SHARED_BUFFERS  [1GB]
#
# Server settings of the throw-away cluster, the same as bench/bench.sh's
# and the same for every side, since all sides run in this one cluster:
#
#   shared_preload_libraries = pg_tombstone   what the extension requires
#   synchronous_commit = off                  commits do not wait for the WAL
#   fsync = off                               pg_virtualenv's default, kept:
#       with durable commits every single-row UPDATE waits for a disk flush
#       that costs the same on every side and dwarfs the CPU work the
#       history triggers add; without them the ratios show that work, which
#       makes the targets harder to meet, not easier.  The cluster is
#       thrown away.
#   shared_buffers = $BENCH_SHARED_BUFFERS [1GB]   the six tables of
#       comparison 1 (about 90 MB each at 1,000,000 rows, plus their
#       history) stay in memory; the 10,000,000-row table of comparison 3
#       (about 1 GB) does not entirely, and the pages a run touches come
#       partly from the operating system's cache
#   max_wal_size = 4GB, checkpoint_timeout = 1h    no checkpoint starts
#       during a run; history_run.sh issues CHECKPOINT before every run
#   jit = off                                 no JIT compilation of the bulk
#       statements, whose cost would cross the JIT threshold
#   autovacuum stays on for the catalogs; it is off on the benchmark tables
#       and history tables, which history_run.sh vacuums itself.
#
# pg_virtualenv -t keeps the cluster in a temporary directory, so the
# benchmark does not collide with a 15/regress cluster of a concurrent test
# run (scripts/test.sh); the port is the first free one from 5432.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "history_bench.sh: run as root (it installs packages and starts a cluster)" >&2
    exit 1
fi

if [ "${BENCH_SETUP:-1}" != 0 ]; then
    bash scripts/setup.sh
else
    echo "history_bench.sh: BENCH_SETUP=0: benchmarking the pg_tombstone already installed" >&2
fi

if [ "${BENCH_PACKAGES:-1}" != 0 ]; then
    missing=()
    for p in postgresql-15-tablelog postgresql-15-periods; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "== installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        # the package lists may be missing or stale: update them once on failure
        if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
            apt-get update -qq &&
                apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
                echo "history_bench.sh: warning: could not install ${missing[*]}; those sides will not run" >&2
        fi
    fi
fi

. scripts/locale.sh      # whatever locale the shell forwards
exec pg_virtualenv -t -v 15 \
    -o shared_preload_libraries=pg_tombstone \
    -o synchronous_commit=off \
    -o fsync=off \
    -o "shared_buffers=${BENCH_SHARED_BUFFERS:-1GB}" \
    -o max_wal_size=4GB \
    -o checkpoint_timeout=1h \
    -o jit=off \
    bash bench/history_run.sh
