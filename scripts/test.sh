#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine (run as root): installs
# the packages, builds and installs pg_tombstone, starts a throw-away
# cluster with the library preloaded, runs pg_regress and pgTAP, restarts
# the cluster without the library to check that protected tables fail
# closed, and tears the cluster down.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/locale.sh      # whatever locale the shell forwards
bash scripts/setup.sh
# the cluster runs as postgres and reads the test files from here
chmod -R a+rX . 2>/dev/null || true
rm -f results/summary.txt
status=0
pg_virtualenv -v 15 -o shared_preload_libraries=pg_tombstone \
    bash scripts/run-suite.sh || status=$?
# repeat the closing line after pg_virtualenv's own output
cat results/summary.txt 2>/dev/null || echo "tests: 0 passed, 1 failed"
exit "$status"
