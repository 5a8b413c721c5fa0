# The README as a new user meets it: the packages it names are those
# scripts/setup.sh installs; its Getting started, Tenants and minting
# examples run as written and end where their comments say; and the
# throw-away cluster of scripts/test.sh and scripts/demo.sh starts whatever
# locale the shell forwards (here one this machine has not generated).
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."

# the first fenced block of a language after a heading of the README
block() {	# HEADING LANGUAGE
    awk -v h="$1" -v lang="$2" '
        $0 == h { in_section = 1; next }
        in_section && /^#/ && !started { exit }
        in_section && $0 == "```" lang { started = 1; next }
        started && $0 == "```" { exit }
        started { print }' README.md
}

readme_pkgs=$(sed -n '/^Both install what they need/,/^run them/p' README.md | tr -d '`;' |
              grep -o -E '[a-z0-9][a-z0-9.+-]+' | grep -E -x -f <(bash -c '
    . /dev/stdin <<<"$(sed -n "/^packages=(/,/)/p" scripts/setup.sh)"; printf "%s\n" "${packages[@]}"') | sort -u)
setup_pkgs=$(bash -c '. /dev/stdin <<<"$(sed -n "/^packages=(/,/)/p" scripts/setup.sh)"; printf "%s\n" "${packages[@]}"' | sort -u)
is "$readme_pkgs" "$setup_pkgs" "the README names every package scripts/setup.sh installs"

db=$(tt_createdb getting_started) || exit 1
block "## Getting started" sql > "$TT_TMP/getting_started.sql"
ok "Getting started runs as written" \
   "$PGBIN/psql" -XAtq -v ON_ERROR_STOP=1 -d "$db" -f "$TT_TMP/getting_started.sql"
is "$(tt_sql "$db" "SELECT string_agg(id::text, ',' ORDER BY id) FROM sites")" "1,2,3" \
   "Getting started: site 2 is back at the end"

db=$(tt_createdb tenants) || exit 1
block "## Tenants" sql > "$TT_TMP/tenants.sql"
out=$("$PGBIN/psql" -XAt -v ON_ERROR_STOP=1 -d "$db" -f "$TT_TMP/tenants.sql" 2>&1)
status=$?
tt_result $status "Tenants runs as written, its tenant deletion authorised"
[ $status -eq 0 ] || diag "$out"
is "$(grep -x -E '3\|globex|DELETE 1|3' <<<"$out" | paste -sd' ')" "DELETE 1 3|globex 3" \
   "Tenants: DELETE 1, then only globex's page, then 3 rows back"
is "$(tt_sql "$db" "SELECT count(*) FROM pages")" 3 "Tenants: every page is live at the end"

mkdir -p "$TT_TMP/mint" && block "### Minting outside the database" sh > "$TT_TMP/mint/mint.sh"
# as in a new user's shell: PostgreSQL's bindir is not on PATH
out=$(cd "$TT_TMP/mint" && env PATH=/usr/sbin:/usr/bin:/sbin:/bin bash -e mint.sh 2>&1)
status=$?
tt_result $status "the minting example runs as written, pg_tombstone_token found in pg_config --bindir"
[ $status -eq 0 ] || diag "$out"
is "$(tail -1 <<<"$out" | grep -c -E '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$')" 1 \
   "the minting example prints a signed token"

# scripts/test.sh and scripts/demo.sh source scripts/locale.sh before
# pg_virtualenv, whose pg_createcluster runs initdb with the shell's locale.
# (pg_virtualenv itself cannot run here: a second one, inside the suite's,
# would take over the pid file of the suite's cluster.)
bad=en_US.UTF-8
locale -a 2>/dev/null | grep -q -i -x 'en_US\.utf-\?8' && bad=zz_ZZ.UTF-8
clean_env=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=$bad)
as_pg=""
[ "$(id -u)" -ne 0 ] || as_pg="runuser -u postgres --"
mkdir -p "$TT_TMP/locale" && chmod 777 "$TT_TMP/locale"
ok "initdb refuses LANG=$bad, which this machine has not generated" \
   bash -c "! ${clean_env[*]} $as_pg '$PGBIN/initdb' -D '$TT_TMP/locale/a' >/dev/null 2>&1"
ok "with scripts/locale.sh sourced, the same shell's initdb makes a cluster" \
   "${clean_env[@]}" bash -c ". scripts/locale.sh; $as_pg '$PGBIN/initdb' -D '$TT_TMP/locale/b'"
ok "scripts/test.sh and scripts/demo.sh source scripts/locale.sh before they start it" \
   bash -c 'for f in scripts/test.sh scripts/demo.sh; do
                awk "/scripts\/locale.sh/ {l = NR} /pg_virtualenv/ && !/^#/ {p = NR} END {exit !(l && p && l < p)}" "$f" || exit 1
            done'

done_testing
