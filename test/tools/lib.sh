# test/tools/lib.sh -- shared by the scenario scripts in test/tools/.
#
# Each scenario is a bash script that runs a real tool (pg_dump, pg_restore,
# pg_repack, logical replication, ...) against a protected database and
# prints TAP.  scripts/run-suite.sh runs them all with
#     prove --exec bash test/tools/*.sh   (all but lib.sh)
# inside the pg_virtualenv cluster, whose libpq variables (PGHOST, PGPORT,
# PGUSER, PGPASSWORD) they use; a script runs alone the same way against any
# cluster with pg_tombstone preloaded:
#     PG_CONFIG=/path/to/pg_config PGHOST=/tmp PGPORT=5432 PGUSER=postgres \
#         prove -v --exec bash test/tools/harness.sh
# The client programs come from "$PG_CONFIG --bindir" (the server's own).
#
# A script sources this file, then:
#     tt_createdb src                  # a fresh database with pg_tombstone
#     tt_sql src "SELECT ..."          # psql -XAtq, stops at the first error
#     tt_fingerprint src > "$TT_TMP/a" # everything a restore must keep
#     is "$got" "$want" "what it checks"
#     ok "what it checks" command args...
#     same_file "$TT_TMP/a" "$TT_TMP/b" "what it checks"  # diff as diagnostics
#     done_testing                     # prints the plan; a script that dies
#                                      # before it fails ("no plan")
# Databases it creates are named tools_<script>_<name> and dropped at exit.
# A scenario that needs a second cluster calls tt_second_cluster (see there).

set -uo pipefail

: "${PG_CONFIG:=pg_config}"
PGBIN=$("$PG_CONFIG" --bindir) || { echo "Bail out! no pg_config"; exit 1; }
export PATH="$PGBIN:$PATH"

# notices (undelete progress, IF EXISTS skips) are not what the tests compare
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

TT_NAME=$(basename "$0" .sh)
TT_TMP=$(mktemp -d "/tmp/tombstone-$TT_NAME.XXXXXX")
chmod 755 "$TT_TMP"			# a second cluster runs as postgres
TT_DBS=()
TT_CLUSTERS=()
tt_n=0
tt_failed=0

tt_cleanup() {
    local d db
    for d in "${TT_CLUSTERS[@]}"; do
        tt_as_postgres "$PGBIN/pg_ctl" -D "$d/data" -m immediate -w stop >/dev/null 2>&1
    done
    for db in "${TT_DBS[@]}"; do
        "$PGBIN/dropdb" --if-exists "$db" >/dev/null 2>&1
    done
    [ -n "${TT_KEEP:-}" ] || rm -rf "$TT_TMP"
}
trap tt_cleanup EXIT

# ---- TAP ----------------------------------------------------------------

diag() { printf '%s\n' "$@" | sed 's/^/# /' >&2; }

tt_result() {		# tt_result STATUS NAME
    tt_n=$((tt_n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $tt_n - $2"
    else
        echo "not ok $tt_n - $2"
        tt_failed=$((tt_failed + 1))
    fi
}

# ok NAME COMMAND [ARGS...]: passes when the command exits 0; its output is
# shown only when it fails.
ok() {
    local name=$1 out status
    shift
    out=$("$@" 2>&1)
    status=$?
    tt_result "$status" "$name"
    [ "$status" -eq 0 ] || diag "command: $*" "$out"
    return "$status"
}

# is GOT WANT NAME
is() {
    if [ "$1" == "$2" ]; then
        tt_result 0 "$3"
    else
        tt_result 1 "$3"
        diag "got:  $1" "want: $2"
    fi
}

# same_file A B NAME: the two files are equal; the diff is the diagnostic.
same_file() {
    local d
    d=$(diff -u "$1" "$2" 2>&1)
    tt_result $? "$3"
    [ -z "$d" ] || diag "$(printf '%s\n' "$d" | head -60)"
}

done_testing() {
    echo "1..$tt_n"
    [ "$tt_failed" -eq 0 ]
}

# ---- databases ----------------------------------------------------------

# tt_sql DB SQL...: run SQL (several arguments are several -c) in DB; prints
# unaligned, tuples only; stops at the first error and exits non-zero.
tt_sql() {
    local db=$1 args=()
    shift
    for s in "$@"; do args+=(-c "$s"); done
    "$PGBIN/psql" -XAtq -v ON_ERROR_STOP=1 -d "$db" "${args[@]}"
}

# tt_sqlstate DB SQL: the SQLSTATE the statement fails with, or "ok".
tt_sqlstate() {
    local out
    out=$("$PGBIN/psql" -XAtq -v VERBOSITY=sqlstate -d "$1" -c "$2" 2>&1 >/dev/null)
    out=$(printf '%s\n' "$out" | sed -n 's/^.*ERROR:  *//p' | head -1)
    echo "${out:-ok}"
}

# tt_createdb NAME [EXTENSION_VERSION]: a fresh database tools_<script>_NAME
# with pg_tombstone installed; prints the database's name.
tt_createdb() {
    local db="tools_${TT_NAME}_$1"
    tt_newdb "$1" >/dev/null || return 1
    tt_sql "$db" "CREATE EXTENSION pg_tombstone${2:+ VERSION '$2'}" || return 1
    echo "$db"
}

# tt_newdb NAME: an empty database tools_<script>_NAME (no extension), for
# restores; prints its name.
tt_newdb() {
    local db="tools_${TT_NAME}_$1"
    "$PGBIN/dropdb" --if-exists "$db" >/dev/null 2>&1
    "$PGBIN/createdb" "$db" || return 1
    TT_DBS+=("$db")
    echo "$db"
}

# tt_fingerprint DB: one line per thing a copy of DB must keep, sorted, so
# that two databases compare with diff:
#   rows|table|count|md5  every table outside the system schemas (user
#       tables, tombstone_history.*, tombstone.tables, changes, keys,
#       token_uses, tenant_registry, cleared_keys), read with
#       tombstone.visibility = 'all' and ONLY, md5 over all columns of all
#       rows in a fixed order; not tombstone.key_secrets, which no dump
#       carries (README: backup and restore)
#   sequence|name|last_value|is_called
#   column|table|name|type|not null|default
#   constraint|table|name|definition|validated
#   index|name|definition|valid
#   trigger|table|name|enabled (O, A, R, D)|definition
#   event_trigger|name|enabled
#   owner|relation|owner|acl
#   extension|name|version
tt_fingerprint() {
    "$PGBIN/psql" -XAtq -v ON_ERROR_STOP=1 -d "$1" <<'SQL' | LC_ALL=C sort
SET tombstone.visibility = 'all';
SET search_path = pg_catalog;
CREATE TEMP VIEW tt_rels AS
SELECT c.oid, c.oid::regclass::text AS name, c.relkind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname !~ '^pg_(toast|temp)';
SELECT format('SELECT %L || ''|'' || count(*) || ''|'' || md5(coalesce(string_agg(r::text, E''\n'' ORDER BY r::text COLLATE "C"), '''')) FROM ONLY %s r',
              'rows|' || name, name)
  FROM tt_rels WHERE relkind = 'r' AND name <> 'tombstone.key_secrets' ORDER BY name
\gexec
SELECT format('SELECT %L || ''|'' || last_value || ''|'' || is_called FROM %s',
              'sequence|' || name, name)
  FROM tt_rels WHERE relkind = 'S' ORDER BY name
\gexec
SELECT concat_ws('|', 'column', r.name, a.attname, format_type(a.atttypid, a.atttypmod),
                 a.attnotnull, pg_get_expr(d.adbin, d.adrelid))
  FROM tt_rels r JOIN pg_attribute a ON a.attrelid = r.oid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE r.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped;
SELECT concat_ws('|', 'constraint', r.name, c.conname, pg_get_constraintdef(c.oid), c.convalidated)
  FROM pg_constraint c JOIN tt_rels r ON r.oid = c.conrelid;
SELECT concat_ws('|', 'index', r.name, pg_get_indexdef(i.indexrelid), i.indisvalid)
  FROM pg_index i JOIN tt_rels r ON r.oid = i.indexrelid;
SELECT concat_ws('|', 'trigger', r.name, t.tgname, t.tgenabled, pg_get_triggerdef(t.oid))
  FROM pg_trigger t JOIN tt_rels r ON r.oid = t.tgrelid
 WHERE NOT t.tgisinternal;
SELECT concat_ws('|', 'event_trigger', evtname, evtenabled) FROM pg_event_trigger;
SELECT concat_ws('|', 'owner', r.name, pg_get_userbyid(c.relowner), c.relacl)
  FROM tt_rels r JOIN pg_class c ON c.oid = r.oid;
SELECT concat_ws('|', 'extension', extname, extversion) FROM pg_extension;
SQL
}

# ---- a second cluster ----------------------------------------------------

tt_as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# tt_second_cluster [POSTGRES -c OPTIONS...]: initdb a cluster in $TT_TMP
# with pg_tombstone preloaded, start it on a free port (from 15500 up) with
# its socket in its directory, and stop it when the script exits.  Sets
# TT2_HOST and TT2_PORT; connect with
#     PGHOST=$TT2_HOST PGPORT=$TT2_PORT PGUSER=postgres psql ...
# Extra arguments are passed to postgres, e.g. -c wal_level=logical.
tt_second_cluster() {
    local dir port
    dir=$(mktemp -d "$TT_TMP/cluster.XXXXXX")
    chmod 755 "$dir"
    [ "$(id -u)" -ne 0 ] || chown postgres "$dir"
    tt_as_postgres "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres \
        --locale=C.UTF-8 --encoding=UTF8 >"$dir/initdb.log" 2>&1 || {
        diag "initdb failed:" "$(cat "$dir/initdb.log")"; return 1; }
    for port in $(seq 15500 15599); do
        (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
        [ -e "/tmp/.s.PGSQL.$port" ] && continue
        break
    done
    TT_CLUSTERS+=("$dir")
    tt_as_postgres "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w start \
        -o "-p $port -k $dir -c listen_addresses='' -c shared_preload_libraries=pg_tombstone -c fsync=off $*" \
        >/dev/null || { diag "the second cluster did not start:" "$(tail -20 "$dir/log")"; return 1; }
    TT2_HOST=$dir
    TT2_PORT=$port
}

# ---- a populated protected database --------------------------------------

# tt_populate DB: a small multi-tenant schema "app" in DB (which has the
# extension) with everything a copy must keep:
#   app.tenants      the tenant registry (a, b, c); tenant c deleted with a
#                    delete_tenant token (so tombstone.token_uses has a row)
#   app.projects     protected with history; projects -> tasks ON DELETE CASCADE
#   app.tasks        protected with history; one project deleted (cascade),
#                    one task deleted and undeleted again
#   app.notes        protected without history; notes.task_id ON DELETE SET NULL
#   app.events       partitioned by tenant, protected through its root
#   app.audit        unprotected, with a serial
# plus an HS256 and an Ed25519 key, a token use, history rows, ledger
# entries of every kind of change and the ledger's sequence.
tt_populate() {
    "$PGBIN/psql" -XAtq -v ON_ERROR_STOP=1 -d "$1" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE SCHEMA app;
CREATE TABLE app.tenants (id text PRIMARY KEY, name text NOT NULL);
CREATE TABLE app.projects (id int PRIMARY KEY, tenant text NOT NULL REFERENCES app.tenants,
                           name text NOT NULL);
CREATE INDEX ON app.projects (tenant);
CREATE TABLE app.tasks (id int PRIMARY KEY, tenant text NOT NULL,
                        project_id int NOT NULL REFERENCES app.projects ON DELETE CASCADE,
                        title text NOT NULL, done boolean NOT NULL DEFAULT false);
CREATE INDEX ON app.tasks (tenant);
CREATE INDEX ON app.tasks (project_id);
CREATE TABLE app.notes (id int PRIMARY KEY, tenant text NOT NULL,
                        task_id int REFERENCES app.tasks ON DELETE SET NULL, body text);
CREATE INDEX ON app.notes (tenant);
CREATE INDEX ON app.notes (task_id);
CREATE TABLE app.events (id int, tenant text NOT NULL, what text) PARTITION BY LIST (tenant);
CREATE TABLE app.events_a PARTITION OF app.events FOR VALUES IN ('a');
CREATE TABLE app.events_rest PARTITION OF app.events DEFAULT;
CREATE INDEX ON app.events (tenant);
CREATE TABLE app.audit (id serial PRIMARY KEY, what text NOT NULL);

INSERT INTO app.tenants VALUES ('a', 'Acme'), ('b', 'Globex'), ('c', 'Initech');
INSERT INTO app.projects SELECT g, chr(97 + g % 3), 'project ' || g FROM generate_series(1, 9) g;
INSERT INTO app.tasks SELECT g, p.tenant, p.id, 'task ' || g
  FROM generate_series(1, 36) g JOIN app.projects p ON p.id = 1 + g % 9;
INSERT INTO app.notes SELECT g, t.tenant, t.id, 'note ' || g
  FROM generate_series(1, 36) g JOIN app.tasks t ON t.id = g;
INSERT INTO app.events SELECT g, chr(97 + g % 3), 'event ' || g FROM generate_series(1, 30) g;
INSERT INTO app.audit (what) SELECT 'audit ' || g FROM generate_series(1, 5) g;

SELECT tombstone.protect_tenants('app.tenants', 'id');
SELECT tombstone.protect('app.projects', 'tenant');
SELECT tombstone.protect('app.tasks', 'tenant');
SELECT tombstone.protect('app.notes', 'tenant', history => false);
SELECT tombstone.protect('app.events', 'tenant', '7 days');

SELECT tombstone.add_key('hs', 'HS256', convert_to('a tools test secret of at least 32 bytes', 'UTF8'));
SELECT tombstone.add_key('ed', 'EdDSA', '\xdec6f0d58185e4435761f37ea10117ac984a9b02d455e2b0c523092bcaf159bf',
                         ARRAY['delete']);

UPDATE app.projects SET name = name || ' (renamed)' WHERE id IN (2, 5);
UPDATE app.tasks SET done = true WHERE id % 4 = 0;
DELETE FROM app.projects WHERE id = 4;          -- cascades to its tasks
DELETE FROM app.tasks WHERE id = 6;             -- undone below
SELECT tombstone.undelete_change(max(id)) FROM tombstone.changes;
DELETE FROM app.events WHERE id IN (3, 6);
DELETE FROM app.notes WHERE id = 9;
BEGIN;
SELECT tombstone.authorize(tombstone.sign('{"op": "delete_tenant", "tenants": ["c"], "jti": "tools-del-c", "reason": "tools test"}', 'hs'));
DELETE FROM app.tenants WHERE id = 'c';
COMMIT;
INSERT INTO app.audit (what) VALUES ('after');
SQL
}
