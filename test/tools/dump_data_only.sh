# A data-only dump restored into a schema-only copy, with and without
# --disable-triggers: the copy must equal the source (rows, history, ledger,
# keys, and every pg_tombstone trigger still ENABLE ALWAYS), and protection
# must be whole afterwards, also with session_replication_role = replica.
# A protected table in a schema that sorts after "tombstone" is loaded after
# the extension's catalog, so it is protected while its data is restored.
. "$(dirname "$0")/lib.sh"

src=$(tt_createdb src) || exit 1
tt_populate "$src" || { echo "Bail out! could not populate $src"; exit 1; }
tt_sql "$src" \
    "CREATE SCHEMA zz" \
    "CREATE TABLE zz.late (id int PRIMARY KEY, tenant text NOT NULL, t int REFERENCES app.tasks ON DELETE CASCADE)" \
    "INSERT INTO zz.late SELECT g, tenant, id FROM app.tasks JOIN generate_series(1, 3) g ON g = id" \
    "SELECT tombstone.protect('zz.late', 'tenant')" \
    "DELETE FROM zz.late WHERE id = 2" >/dev/null
tt_fingerprint "$src" > "$TT_TMP/src.fp"

"$PGBIN/pg_dump" --schema-only -Fc -f "$TT_TMP/schema.dump" "$src"
"$PGBIN/pg_dump" --data-only --disable-triggers -f "$TT_TMP/data_dt.sql" "$src"
"$PGBIN/pg_dump" --data-only --disable-triggers -Fc -f "$TT_TMP/data_dt.dump" "$src"
"$PGBIN/pg_dump" --data-only -f "$TT_TMP/data.sql" "$src"

schema_copy() {
    local db
    db=$(tt_newdb "$1") || return 1
    "$PGBIN/pg_restore" -d "$db" "$TT_TMP/schema.dump" || return 1
    echo "$db"
}

# protection after the restore, as the issue's DBA checked it
whole() {
    local db=$1 what=$2
    is "$(tt_sql "$db" "SELECT count(*) FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
                          WHERE p.pronamespace = 'tombstone'::regnamespace AND t.tgenabled <> 'A'")" 0 \
       "$what: every pg_tombstone trigger fires ALWAYS"
    is "$(tt_sql "$db" "SET session_replication_role = replica" \
                       "DELETE FROM app.tasks WHERE id = 2" \
                       "SET tombstone.visibility = 'all'" \
                       "SELECT deleted_change > 0 AND deleted_change = (SELECT max(id) FROM tombstone.changes)
                          FROM app.tasks WHERE id = 2")" "t" \
       "$what: with session_replication_role = replica a DELETE is a change on the ledger"
    is "$(tt_sqlstate "$db" "SET session_replication_role = replica; DELETE FROM tombstone_history.tasks")" TB043 \
       "$what: DELETE FROM a history table is refused, also with session_replication_role = replica"
    # the DELETE's version: the tombstone carries it (valid_from before
    # deleted_at) until it is restored, as a tombstone made in place does
    is "$(tt_sql "$db" "SET tombstone.visibility = 'all'" \
                       "SELECT (SELECT count(*) FROM tombstone_history.tasks)
                             + (SELECT count(*) FROM app.tasks WHERE id = 2 AND valid_from < deleted_at)")" \
       "$(tt_sql "$src" "SELECT count(*) + 1 FROM tombstone_history.tasks")" \
       "$what: the history table kept its rows (and one more version, which the tombstone carries)"
}

restore_and_compare() {	# NAME COMMAND... (restores into $dst)
    local name=$1 out
    shift
    out=$("$@" 2>&1)
    tt_result $? "$name: restores without an error"
    [ -z "$out" ] || diag "$out"
    tt_fingerprint "$dst" > "$TT_TMP/$name.fp"
    same_file "$TT_TMP/src.fp" "$TT_TMP/$name.fp" "$name: the copy equals the source"
    whole "$dst" "$name"
}

dst=$(schema_copy plain_dt)
restore_and_compare "--data-only --disable-triggers, psql" \
    "$PGBIN/psql" -Xq -v ON_ERROR_STOP=1 -o /dev/null -d "$dst" -f "$TT_TMP/data_dt.sql"

dst=$(schema_copy custom_dt)
restore_and_compare "--data-only --disable-triggers, pg_restore" \
    "$PGBIN/pg_restore" --data-only --disable-triggers -d "$dst" "$TT_TMP/data_dt.dump"

dst=$(schema_copy plain)
restore_and_compare "--data-only, psql" \
    "$PGBIN/psql" -Xq -v ON_ERROR_STOP=1 -o /dev/null -d "$dst" -f "$TT_TMP/data.sql"

# the extension's catalog first, then the tables, each in a session of its
# own: every table is protected while its rows arrive, and the foreign-key
# checks of rows that reference tombstoned rows run against a protected parent
dst=$(schema_copy two_steps)
restore_and_compare "--data-only, catalog first" \
    bash -c "'$PGBIN/pg_restore' --data-only -n tombstone -n tombstone_history -d '$dst' '$TT_TMP/data_dt.dump' &&
             '$PGBIN/pg_restore' --data-only -n app -n zz -d '$dst' '$TT_TMP/data_dt.dump'"

done_testing
