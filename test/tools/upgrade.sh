# ALTER EXTENSION pg_tombstone UPDATE of a populated 0.1 database: its
# catalog (functions, tables, columns, constraints, indexes, views,
# sequences, grants, triggers, event triggers, what belongs to the
# extension and what pg_dump dumps of it) must equal a fresh install of
# the default version protecting the same tables, and what was tombstoned
# before the update must still undelete.
. "$(dirname "$0")/lib.sh"

# the extension's own objects and what it installed on protected tables,
# named, one line each, sorted
catalog() {
    "$PGBIN/psql" -XAtq -v ON_ERROR_STOP=1 -d "$1" <<'SQL' | LC_ALL=C sort
SET search_path = pg_catalog;
SELECT concat_ws('|', 'extension', extname, extversion, extrelocatable,
                 (SELECT string_agg(c::regclass::text, ',' ORDER BY c::regclass::text) FROM unnest(extconfig) c),
                 array_to_string(extcondition, ','))
  FROM pg_extension WHERE extname = 'pg_tombstone';
SELECT concat_ws('|', 'member', pg_describe_object(d.classid, d.objid, d.objsubid))
  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e' AND e.extname = 'pg_tombstone';
SELECT concat_ws('|', 'function', p.oid::regprocedure, pg_get_function_result(p.oid), p.prokind,
                 p.provolatile, p.proparallel, p.proisstrict, p.prosecdef, p.proconfig, p.proacl,
                 l.lanname, md5(p.prosrc), p.probin, pg_get_userbyid(p.proowner),
                 obj_description(p.oid, 'pg_proc'))
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.pronamespace IN ('tombstone'::regnamespace, 'tombstone_history'::regnamespace);
SELECT concat_ws('|', 'relation', c.oid::regclass, c.relkind, c.relpersistence, c.relacl,
                 pg_get_userbyid(c.relowner), obj_description(c.oid, 'pg_class'),
                 CASE WHEN c.relkind = 'v' THEN md5(pg_get_viewdef(c.oid)) END)
  FROM pg_class c
 WHERE c.relnamespace IN ('tombstone'::regnamespace, 'tombstone_history'::regnamespace);
SELECT concat_ws('|', 'column', a.attrelid::regclass, a.attnum, a.attname,
                 format_type(a.atttypid, a.atttypmod), a.attnotnull,
                 pg_get_expr(d.adbin, d.adrelid), a.attacl, col_description(a.attrelid, a.attnum))
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE c.relnamespace IN ('tombstone'::regnamespace, 'tombstone_history'::regnamespace)
   AND a.attnum > 0 AND NOT a.attisdropped;
SELECT concat_ws('|', 'constraint', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid))
  FROM pg_constraint c
 WHERE c.connamespace IN ('tombstone'::regnamespace, 'tombstone_history'::regnamespace);
SELECT concat_ws('|', 'index', i.indexrelid::regclass, pg_get_indexdef(i.indexrelid))
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
 WHERE c.relnamespace IN ('tombstone'::regnamespace, 'tombstone_history'::regnamespace);
SELECT concat_ws('|', 'sequence', s.seqrelid::regclass, s.seqtypid::regtype, s.seqstart, s.seqincrement)
  FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
 WHERE c.relnamespace = 'tombstone'::regnamespace;
SELECT concat_ws('|', 'trigger', t.tgrelid::regclass, t.tgname, t.tgenabled, pg_get_triggerdef(t.oid))
  FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
 WHERE NOT t.tgisinternal AND p.pronamespace = 'tombstone'::regnamespace;
SELECT concat_ws('|', 'event_trigger', e.evtname, e.evtevent, e.evtenabled, e.evtfoid::regproc,
                 array_to_string(e.evttags, ','))
  FROM pg_event_trigger e;
SELECT concat_ws('|', 'schema', n.nspname, pg_get_userbyid(n.nspowner), n.nspacl, obj_description(n.oid, 'pg_namespace'))
  FROM pg_namespace n WHERE n.nspname IN ('tombstone', 'tombstone_history');
SELECT concat_ws('|', 'role', rolname, rolcanlogin) FROM pg_roles WHERE rolname = 'tombstone_approver';
SQL
}

old=$(tt_createdb old 0.1) || exit 1
is "$(tt_sql "$old" "SELECT extversion FROM pg_extension WHERE extname = 'pg_tombstone'")" "0.1" \
   "CREATE EXTENSION ... VERSION '0.1' installs the released version"
tt_populate "$old" || { echo "Bail out! could not populate $old"; exit 1; }
tt_fingerprint "$old" > "$TT_TMP/old_rows.fp"

out=$(tt_sql "$old" "ALTER EXTENSION pg_tombstone UPDATE" 2>&1)
tt_result $? "ALTER EXTENSION pg_tombstone UPDATE of a populated database"
[ -z "$out" ] || diag "$out"
default=$(tt_sql postgres "SELECT default_version FROM pg_available_extensions WHERE name = 'pg_tombstone'")
is "$(tt_sql "$old" "SELECT extversion FROM pg_extension WHERE extname = 'pg_tombstone'")" "$default" \
   "the database is at the default version"

new=$(tt_createdb new) || exit 1
tt_populate "$new" || { echo "Bail out! could not populate $new"; exit 1; }
catalog "$old" > "$TT_TMP/old.cat"
catalog "$new" > "$TT_TMP/new.cat"
same_file "$TT_TMP/new.cat" "$TT_TMP/old.cat" \
    "the updated catalog equals a fresh install's (functions, tables, grants, triggers, event triggers, members)"

# the rows are the rows: the update changed none of them (the secrets moved)
tt_fingerprint "$old" > "$TT_TMP/updated_rows.fp"
rows_of() {
    grep -E '^(rows|sequence)\||^trigger\|app\.' "$1" |
        grep -v -E '^rows\|tombstone\.(keys|cleared_keys)\|'
}
same_file <(rows_of "$TT_TMP/old_rows.fp") <(rows_of "$TT_TMP/updated_rows.fp") \
    "every row, history row, ledger entry, sequence and trigger of a protected table is as before the update"
is "$(tt_sql "$old" "SELECT count(*) FROM tombstone.keys WHERE alg = 'HS256' AND key IS NULL" \
                    "SELECT count(*) FROM tombstone.key_secrets")" "$(printf '1\n1')" \
   "the HS256 secret moved to tombstone.key_secrets"

# what was tombstoned before the update still comes back
is "$(tt_sql "$old" "SELECT tombstone.undelete_tenant('c')" "SELECT count(*) FROM app.tasks WHERE tenant = 'c'")" \
   "$(printf '38\n12')" "a tenant deleted before the update is undeleted"
is "$(tt_sql "$old" "SELECT tombstone.undelete_change(1)" "SELECT count(*) FROM app.projects WHERE id = 4")" \
   "$(printf '5\n1')" "a change made before the update (a cascade) is undone"
is "$(tt_sql "$old" "SET tombstone.visibility = 'all'" \
        "SELECT count(*) FROM tombstone.as_of(NULL::app.projects, 'b', (SELECT at FROM tombstone.changes WHERE id = 1) - interval '1 microsecond')")" \
   "3" "as_of() reads the history written before the update"
is "$(tt_sql "$old" "BEGIN" \
        "SELECT tombstone.authorize(tombstone.sign('{\"op\": \"delete\", \"tables\": [\"app.tasks\"], \"tenants\": [\"a\", \"b\"], \"jti\": \"after-update\"}', 'hs')) ->> 'jti'" \
        "DELETE FROM app.tasks WHERE id IN (2, 5)" "COMMIT")" "after-update" \
   "the HS256 key added before the update signs and authorises"
is "$(tt_sql "$old" "SELECT count(*) FROM tombstone.check()")" 0 "tombstone.check() reports nothing"

done_testing
