#!/usr/bin/env bash
# The pg_tombstone demo on a fresh Debian 12 machine (run as root): installs
# the packages, builds and installs the extension, starts a throw-away
# cluster with the library preloaded, runs scripts/demo.sql and tears the
# cluster down.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/locale.sh      # whatever locale the shell forwards
bash scripts/setup.sh
chmod -R a+rX . 2>/dev/null || true
exec pg_virtualenv -v 15 -o shared_preload_libraries=pg_tombstone \
    psql -X -d postgres -f scripts/demo.sql
