#!/usr/bin/env bash
# Installs what pg_tombstone needs on Debian 12 (run as root), then builds
# and installs the extension.  Safe to run again: packages already present
# are not fetched twice.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential postgresql-15 postgresql-server-dev-15
          postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
          postgresql-contrib postgresql-client-15 libssl-dev
          postgresql-15-repack postgresql-15-partman openssl)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

export PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
echo "== building"
make -s PG_CONFIG="$PG_CONFIG" >/dev/null
make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
