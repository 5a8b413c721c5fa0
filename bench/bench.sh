#!/usr/bin/env bash
# pg_tombstone benchmark on a fresh Debian 12 machine (run as root):
# installs the packages, builds and installs pg_tombstone (scripts/setup.sh),
# starts a throw-away PostgreSQL 15 cluster with pg_virtualenv, runs
# bench/run.sh against it and tears the cluster down.  The report is printed
# and written to bench/results/latest.txt.
#
#   bench/bench.sh                                   # defaults, ~15 min on 2 cores
#   BENCH_SECONDS=2 BENCH_ROUNDS=1 BENCH_ROWS=100000 bench/bench.sh
#                                                    # quick check that it works
#   BENCH_SETUP=0 bench/bench.sh                     # use the pg_tombstone already
#                                                    # installed: no packages, no build
#
# All BENCH_* variables of bench/run.sh pass through (BENCH_SECONDS,
# BENCH_ROUNDS, BENCH_CLIENTS, BENCH_ROWS, BENCH_LEDGER_SCALE,
# BENCH_COMPARISONS, BENCH_STRICT, ...).
#
# Server settings of the throw-away cluster, the same for both sides of
# every comparison since each pair runs in this one cluster:
#
#   shared_preload_libraries = pg_tombstone   what the extension requires
#   synchronous_commit = off                  commits do not wait for the WAL
#   fsync = off                               pg_virtualenv's default, kept:
#       with durable commits every single-row statement waits for a disk
#       flush that costs the same on both sides and dwarfs the CPU work the
#       extension adds; without them the ratios show that work, which makes
#       the targets harder to meet, not easier.  The cluster is thrown away.
#   shared_buffers = $BENCH_SHARED_BUFFERS [1GB]   the four tables of a
#       comparison (about 120 MB each at 1,000,000 rows) stay in memory;
#       so do the two sides of comparisons 5 and 6 with tables x1 (about
#       170 MB each with indexes), while at x10 (1.5 GB each) the pages a
#       run touches come partly from the operating system's cache, alike
#       on both sides
#   max_wal_size = 4GB, checkpoint_timeout = 1h    no checkpoint starts
#       during a run; run.sh issues CHECKPOINT before every run instead
#   jit = off                                 no JIT compilation of the bulk
#       statements, whose cost would cross the JIT threshold
#   autovacuum stays on for the catalogs; it is off on the benchmark tables,
#       which run.sh vacuums itself between rounds.
#
# pg_virtualenv -t keeps the cluster in a temporary directory, so the
# benchmark does not collide with a 15/regress cluster of a concurrent test
# run (scripts/test.sh); the port is the first free one from 5432.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "bench.sh: run as root (it installs packages and starts a cluster)" >&2
    exit 1
fi

if [ "${BENCH_SETUP:-1}" != 0 ]; then
    bash scripts/setup.sh
else
    echo "bench.sh: BENCH_SETUP=0: benchmarking the pg_tombstone already installed" >&2
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
    bash bench/run.sh
