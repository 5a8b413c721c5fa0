#!/usr/bin/env bash
# test/sweep.sh -- a TAP test, run by prove (scripts/run-suite.sh):
#   prove --exec bash test/sweep.sh
#
# Calls every function of schema tombstone, as found in pg_proc (so a new
# function is swept without editing this file), with bad input: NULLs,
# zeros, unknown tables, unprotected and protected tables, the extension's
# own and catalog tables, garbage and hostile strings, one argument at a
# time and all of them NULL.  Each call runs twice, as a superuser and as
# a plain role that owns protected tables of its own (a careless superuser
# and a hostile table owner).
#
# One TAP test per call: the connection is still alive after it, and it
# either succeeded or failed with a proper error -- not one of class XX
# (internal error, "cache lookup failed", data corrupted) and not a syntax
# error (42601, SQL built from a NULL or a name) unless the function takes
# a statement to run.  A call that crashes the server is named in its own
# "not ok" line; the test waits for the server to recover and goes on with
# the next call.
#
# At the end, one test per relation that existed before the sweep: its
# rows (read with tombstone.visibility = 'all': tombstones included), its
# columns, triggers and persistence are what they were.  That covers every
# user table, the history tables, the ledger, tombstone.tables, the tenant
# registry, keys and token_uses.  Relations a call created (a schema made by
# extract_tenant(), say) are not compared; relations that went missing are.
#
# Uses the cluster in PGHOST/PGPORT/PGUSER (a superuser) and a database of
# its own, tombstone_sweep, dropped and created again.

set -uo pipefail

db=tombstone_sweep
role=tombstone_sweep_owner
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

n=0
failures=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
    n=$((n + 1)); failures=$((failures + 1))
    echo "not ok $n - $1"
    # prove shows stderr even when it is not verbose: name the culprit there
    echo "# sweep: not ok $n - $1" >&2
    [ $# -gt 1 ] && printf '#   %s\n' "$2" >&2
}
# TAP reads " # " as the start of a directive
clean() { tr -d '\n#' <<<"$1" | cut -c1-300; }

sql() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

wait_for_server() {
    local i
    for i in $(seq 1 120); do
        psql -X -q -At -d postgres -c 'SELECT 1' >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    return 1
}

# ---------------------------------------------------------------------------
# Fixture: protected tables of the superuser and of the plain role, with
# history, tombstones, a tenant registry, a ledger entry, a key and a token use
# ---------------------------------------------------------------------------
sql -d postgres -c "SET tombstone.drop_database = '$db'" -c "DROP DATABASE IF EXISTS $db" \
    -c "CREATE DATABASE $db" >/dev/null || {
    echo "1..0 # SKIP could not create database $db"; exit 0; }
sql -d "$db" >/dev/null 2>"$work/setup.err" <<EOF
SET client_min_messages = warning;
DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$role') THEN
        CREATE ROLE $role NOLOGIN;
    END IF;
END \$\$;
CREATE EXTENSION pg_tombstone;
SET tombstone.audience = 'pg_tombstone:sweep';
SELECT tombstone.add_key('sweep', 'HS256', convert_to('sweep secret of at least thirty-two bytes', 'UTF8'));

CREATE SCHEMA sweep;
GRANT USAGE, CREATE ON SCHEMA sweep TO $role;
CREATE TABLE sweep.tenants (id text PRIMARY KEY, name text);
INSERT INTO sweep.tenants VALUES ('acme', 'Acme'), ('globex', 'Globex');
CREATE TABLE sweep.prot (id int PRIMARY KEY, tenant text NOT NULL REFERENCES sweep.tenants, v text);
CREATE INDEX ON sweep.prot (tenant);
INSERT INTO sweep.prot SELECT g, CASE WHEN g % 2 = 0 THEN 'acme' ELSE 'globex' END, 'v' || g
  FROM generate_series(1, 20) g;
CREATE TABLE sweep.nohist (id int PRIMARY KEY, tenant text NOT NULL, v text);
INSERT INTO sweep.nohist SELECT g, 'acme', 'n' || g FROM generate_series(1, 5) g;
CREATE TABLE sweep.plain (id int PRIMARY KEY, v text);
INSERT INTO sweep.plain SELECT g, 'p' || g FROM generate_series(1, 5) g;
SELECT tombstone.protect_tenants('sweep.tenants', 'id');
SELECT tombstone.protect('sweep.prot', 'tenant');
SELECT tombstone.protect('sweep.nohist', 'tenant', history => false);

SET ROLE $role;
CREATE TABLE sweep.own_prot (id int PRIMARY KEY, tenant text NOT NULL, v text);
INSERT INTO sweep.own_prot SELECT g, 'acme', 'o' || g FROM generate_series(1, 5) g;
SELECT tombstone.protect('sweep.own_prot', 'tenant');
CREATE TABLE sweep.own_plain (id int PRIMARY KEY, v text);
INSERT INTO sweep.own_plain VALUES (1, 'x');
UPDATE sweep.own_prot SET v = 'o1 again' WHERE id = 1;
DELETE FROM sweep.own_prot WHERE id = 2;
RESET ROLE;

-- history rows, tombstones and ledger entries
BEGIN;
UPDATE sweep.prot SET v = v || ' (edited)' WHERE id <= 4;
COMMIT;
DELETE FROM sweep.prot WHERE id = 2;
DELETE FROM sweep.nohist WHERE id = 1;
-- a use of a token
BEGIN;
SELECT tombstone.authorize(tombstone.sign('{"op": "delete", "jti": "sweep-1", "tables": ["sweep.prot"], "tenants": ["acme"]}', 'sweep'));
COMMIT;
EOF
if [ $? -ne 0 ]; then
    echo "1..1"
    echo "not ok 1 - fixture of the sweep"
    sed 's/^/# /' "$work/setup.err"
    exit 1
fi

# ---------------------------------------------------------------------------
# What "nothing changed" compares: every relation of every schema but the
# system's, rows (tombstones included), columns, triggers, persistence; and
# the event triggers.
# ---------------------------------------------------------------------------
fingerprint() {
    sql -d "$db" -At -F'|' <<'EOF'
SET tombstone.visibility = 'all';
CREATE FUNCTION pg_temp.fp() RETURNS TABLE (rel text, fp text) LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v text;
BEGIN
    FOR r IN
        SELECT c.oid, format('%I.%I', n.nspname, c.relname) AS name, c.relpersistence
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p')
           AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
           AND n.nspname NOT LIKE 'pg\_temp\_%' AND n.nspname NOT LIKE 'pg\_toast\_temp\_%'
         ORDER BY 2
    LOOP
        EXECUTE format('SELECT count(*) || '' rows '' || coalesce(md5(string_agg(t::text, %L ORDER BY t::text)), %L) FROM ONLY %s t',
                       E'\n', '-', r.oid::regclass)
           INTO v;
        rel := r.name;
        fp := v || ' persistence ' || r.relpersistence::text
              || ' columns ' || coalesce((SELECT string_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod)
                                                            || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END, ', ' ORDER BY a.attnum)
                                            FROM pg_attribute a
                                           WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
              || ' triggers ' || coalesce((SELECT string_agg(t.tgname || ':' || t.tgenabled::text || ':' || t.tgfoid::regproc::text, ', ' ORDER BY t.tgname)
                                             FROM pg_trigger t WHERE t.tgrelid = r.oid), '');
        RETURN NEXT;
    END LOOP;
    rel := '(event triggers)';
    fp := (SELECT string_agg(evtname || ':' || evtevent || ':' || evtenabled::text || ':' || evtfoid::regproc::text, ', ' ORDER BY evtname)
             FROM pg_event_trigger);
    RETURN NEXT;
END
$$;
SELECT rel, fp FROM pg_temp.fp();
EOF
}
fingerprint >"$work/before" 2>"$work/fp.err" || { echo "1..1"; echo "not ok 1 - fingerprint"; sed 's/^/# /' "$work/fp.err"; exit 1; }

# ---------------------------------------------------------------------------
# The calls: for each function of schema tombstone, all arguments NULL; each
# argument in turn set to every value of its type's pool, the others to
# their type's default; and every regclass argument set to the same table.
# ---------------------------------------------------------------------------
sql -d "$db" -At >"$work/calls" 2>"$work/calls.err" <<'EOF'
CREATE TEMP TABLE pool (typ regtype, val text, is_default boolean DEFAULT false);
INSERT INTO pool (typ, val, is_default) VALUES
  ('regclass', $$'sweep.prot'::regclass$$, true),
  ('regclass', $$0::oid::regclass$$, false),
  ('regclass', $$4294967295::oid::regclass$$, false),
  ('regclass', $$'sweep.plain'::regclass$$, false),
  ('regclass', $$'sweep.nohist'::regclass$$, false),
  ('regclass', $$'sweep.tenants'::regclass$$, false),
  ('regclass', $$'sweep.own_prot'::regclass$$, false),
  ('regclass', $$'sweep.own_plain'::regclass$$, false),
  ('regclass', $$'tombstone_history.prot'::regclass$$, false),
  ('regclass', $$'tombstone_history.own_prot'::regclass$$, false),
  ('regclass', $$'tombstone.changes'::regclass$$, false),
  ('regclass', $$'tombstone.tables'::regclass$$, false),
  ('regclass', $$'tombstone.keys'::regclass$$, false),
  ('regclass', $$'tombstone.token_uses'::regclass$$, false),
  ('regclass', $$'pg_catalog.pg_class'::regclass$$, false),
  ('regclass', $$'information_schema.sql_features'::regclass$$, false),
  ('oid', $$'sweep.prot'::regclass::oid$$, true),
  ('oid', $$0::oid$$, false),
  ('oid', $$4294967295::oid$$, false),
  ('oid', $$'sweep.plain'::regclass::oid$$, false),
  ('oid', $$'sweep.own_prot'::regclass::oid$$, false),
  ('oid', $$'tombstone.changes'::regclass::oid$$, false),
  ('oid', $$'pg_catalog.pg_class'::regclass::oid$$, false),
  ('name', $$'garbage'::name$$, true),
  ('name', $$''::name$$, false),
  ('name', $$'x"; DROP TABLE sweep.plain; --'::name$$, false),
  ('name', $$'valid_to'::name$$, false),
  ('name', $$'deleted_at'::name$$, false),
  ('text', $$'garbage'::text$$, true),
  ('text', $$''::text$$, false),
  ('text', $$'''; DROP TABLE sweep.plain; --'::text$$, false),
  ('text', $$repeat('x', 100000)$$, false),
  ('text', $$'*'::text$$, false),
  ('text', $$'eyJhbGciOiJub25lIn0.e30.'::text$$, false),
  ('text', $$'DELETE FROM sweep.plain'::text$$, false),
  ('text', $$'DELETE FROM sweep.prot; DELETE FROM sweep.plain'::text$$, false),
  ('interval', $$'1 day'::interval$$, true),
  ('interval', $$'-1 day'::interval$$, false),
  ('interval', $$'0'::interval$$, false),
  ('interval', $$'-178000000 years'::interval$$, false),
  ('interval', $$'1 microsecond'::interval$$, false),
  ('boolean', $$true$$, true),
  ('boolean', $$false$$, false),
  ('bigint', $$0::bigint$$, true),
  ('bigint', $$-1::bigint$$, false),
  ('bigint', $$9223372036854775807::bigint$$, false),
  ('jsonb', $$'{"garbage": 1}'::jsonb$$, true),
  ('jsonb', $$'{}'::jsonb$$, false),
  ('jsonb', $$'[]'::jsonb$$, false),
  ('jsonb', $$'null'::jsonb$$, false),
  ('jsonb', $$'"x"'::jsonb$$, false),
  ('jsonb', $$'{"id": "x"}'::jsonb$$, false),
  ('jsonb', $$'{"id": {"nested": [1, 2]}}'::jsonb$$, false),
  ('jsonb', $$'{"op": "ddl", "tables": ["sweep.prot"], "tenants": ["*"]}'::jsonb$$, false),
  ('bytea', $$'\x00'::bytea$$, true),
  ('bytea', $$''::bytea$$, false),
  ('bytea', $$'garbage'::bytea$$, false),
  ('text[]', $$'{garbage}'::text[]$$, true),
  ('text[]', $$'{}'::text[]$$, false),
  ('text[]', $$'{NULL}'::text[]$$, false),
  ('timestamp with time zone', $$'2000-01-01'::timestamptz$$, true),
  ('timestamp with time zone', $$'infinity'::timestamptz$$, false),
  ('timestamp with time zone', $$'-infinity'::timestamptz$$, false),
  ('timestamp with time zone', $$now()$$, false),
  ('xid', $$'1'::xid$$, true),
  ('xid', $$'0'::xid$$, false),
  ('tid', $$'(0,1)'::tid$$, true),
  ('tid', $$'(4294967295,65535)'::tid$$, false),
  ('tid', $$'(0,0)'::tid$$, false),
  ('anyelement', $$NULL::sweep.prot$$, true),
  ('anyelement', $$NULL::sweep.plain$$, false),
  ('anyelement', $$NULL::tombstone.changes$$, false),
  ('anyelement', $$0$$, false),
  ('anyelement', $$'garbage'::text$$, false);

WITH f AS (
    SELECT p.oid, p.proname, p.proargtypes::oid[] AS types,
           coalesce('statement' = ANY (p.proargnames), false) AS takes_statement
      FROM pg_proc p
     WHERE p.pronamespace = 'tombstone'::regnamespace
),
args AS (
    SELECT f.oid, u.ord, u.t::regtype AS typ,
           coalesce((SELECT val FROM pool WHERE typ = u.t AND is_default),
                    'NULL::' || format_type(u.t, NULL)) AS dflt,
           CASE WHEN u.t = 'anyelement'::regtype THEN 'NULL::integer'
                ELSE 'NULL::' || format_type(u.t, NULL) END AS null_val
      FROM f, unnest(f.types) WITH ORDINALITY AS u(t, ord)
),
calls AS (
    -- all arguments NULL (or none)
    SELECT f.oid, coalesce((SELECT array_agg(a.null_val ORDER BY a.ord) FROM args a WHERE a.oid = f.oid),
                           '{}'::text[]) AS list
      FROM f
    UNION
    -- one argument from its pool, the others their default
    SELECT a.oid, (SELECT array_agg(CASE WHEN b.ord = a.ord THEN p.val ELSE b.dflt END ORDER BY b.ord)
                     FROM args b WHERE b.oid = a.oid)
      FROM args a JOIN pool p ON p.typ = a.typ
    UNION
    -- every regclass argument the same table
    SELECT a.oid, (SELECT array_agg(CASE WHEN b.typ = 'regclass'::regtype THEN p.val ELSE b.dflt END ORDER BY b.ord)
                     FROM args b WHERE b.oid = a.oid)
      FROM args a JOIN pool p ON p.typ = a.typ
     WHERE a.typ = 'regclass'::regtype
)
SELECT DISTINCT f.takes_statement::int || ' '
       || format('SELECT tombstone.%s(%s);', quote_ident(f.proname), array_to_string(c.list, ', '))
  FROM calls c JOIN f ON f.oid = c.oid
 ORDER BY 1;
EOF
if [ $? -ne 0 ] || [ ! -s "$work/calls" ]; then
    echo "1..1"; echo "not ok 1 - list of calls"; sed 's/^/# /' "$work/calls.err"; exit 1
fi
ncalls=$(wc -l <"$work/calls")
echo "# $ncalls calls of $(cut -d' ' -f3 "$work/calls" | cut -d'(' -f1 | sort -u | wc -l) functions, as a superuser and as role $role"

# ---------------------------------------------------------------------------
# Run the calls of one role from call number $2 on, in one session; print
# "@@CALL i", then "@@DONE i <sqlstate>" and "@@ALIVE i alive" per call.
# ---------------------------------------------------------------------------
run_from() {
    local as=$1 from=$2 i=0 line
    {
        echo "SET client_min_messages = error;"
        echo "SET statement_timeout = '60s';"
        echo "SET tombstone.audience = 'pg_tombstone:sweep';"
        [ "$as" = owner ] && echo "SET SESSION AUTHORIZATION $role;"
        while IFS= read -r line; do
            i=$((i + 1))
            [ "$i" -lt "$from" ] && continue
            echo "\\echo @@CALL $i"
            echo "${line#* }"
            echo "\\echo @@DONE $i :SQLSTATE :LAST_ERROR_MESSAGE"
            echo "SELECT 'alive' AS alive \\gset"
            echo "\\echo @@ALIVE $i :alive"
            echo "\\unset alive"
        done <"$work/calls"
    } >"$work/script"
    psql -X -q -d "$db" -v ON_ERROR_STOP=0 -o /dev/null -f "$work/script" \
        >"$work/out" 2>"$work/err"
}

for as in superuser owner; do
    from=1
    while [ "$from" -le "$ncalls" ]; do
        run_from "$as" "$from"
        last=$((from - 1))
        declare -A state=() alive=()
        while read -r tag i rest; do
            case $tag in
                @@CALL) last=$i ;;
                @@DONE) state[$i]=$rest ;;
                @@ALIVE) alive[$i]=$rest ;;
            esac
        done <"$work/out"
        if [ "$last" -lt "$from" ]; then
            not_ok "as $as: the session could not start" "$(tail -3 "$work/err" | tr '\n' ' ')"
            break
        fi
        for i in $(seq "$from" "$last"); do
            line=$(sed -n "${i}p" "$work/calls")
            call=$(clean "${line#* }")
            takes_statement=${line%% *}
            code=${state[$i]:-}
            message=${code#* }
            code=${code%% *}
            if [ -z "$code" ] || [ "${alive[$i]:-}" != alive ]; then
                not_ok "as $as: $call: the connection was lost (the server crashed)" \
                       "$(tail -3 "$work/err" | tr '\n' ' ' | cut -c1-400)"
            elif [[ $code == XX* ]]; then
                not_ok "as $as: $call: internal error $code" "$(clean "$message")"
            elif [ "$code" = 42601 ] && [ "$takes_statement" = 0 ]; then
                not_ok "as $as: $call: syntax error 42601 in SQL the function built" "$(clean "$message")"
            else
                ok "as $as: $call: connection alive, SQLSTATE $code"
            fi
        done
        if [ "${alive[$last]:-}" != alive ]; then
            # the session ended at call $last: wait for the server to recover
            wait_for_server || { echo "# the server did not come back" >&2; unset state alive; break 2; }
        fi
        unset state alive
        from=$((last + 1))
    done
done

# ---------------------------------------------------------------------------
# Nothing changed
# ---------------------------------------------------------------------------
wait_for_server
fingerprint >"$work/after" 2>"$work/fp.err" || true
while IFS='|' read -r rel fp; do
    now=$(awk -F'|' -v r="$rel" '$1 == r { sub(/^[^|]*\|/, ""); print; exit }' "$work/after")
    if [ "$now" = "$fp" ]; then
        ok "nothing changed in $rel"
    elif [ -z "$now" ]; then
        not_ok "nothing changed in $rel: it is gone"
    else
        not_ok "nothing changed in $rel" "before: $(cut -c1-400 <<<"$fp")"
        printf '#   after:  %s\n' "$(cut -c1-400 <<<"$now")" >&2
    fi
done <"$work/before"

echo "1..$n"
[ "$failures" -eq 0 ]
