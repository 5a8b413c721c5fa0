# pg_dump and pg_restore in the modes DBAs use, each restored into a new
# database and compared with the source (tt_fingerprint: every row with
# tombstone.visibility = 'all', history, ledger, keys, token uses,
# sequences, constraints, indexes, triggers and their firing); then the
# copy must be protected and undo what the source could.
. "$(dirname "$0")/lib.sh"

src=$(tt_createdb src) || exit 1
tt_populate "$src" || { echo "Bail out! could not populate $src"; exit 1; }
tt_fingerprint "$src" > "$TT_TMP/src.fp"

# after a restore: DELETE tombstones and is on the ledger, the tenant
# deleted in the source comes back, tombstone.check() finds nothing
protected_copy() {
    local db=$1 what=$2
    is "$(tt_sql "$db" "SELECT string_agg(hazard || ' ' || coalesce(table_name::text, ''), ', ') FROM tombstone.check()")" "" \
       "$what: tombstone.check() reports no hazard"
    is "$(tt_sql "$db" "DELETE FROM app.tasks WHERE id = 2 RETURNING id" \
                       "SET tombstone.visibility = 'all'" \
                       "SELECT count(*) FROM app.tasks WHERE id = 2 AND deleted_at IS NOT NULL" \
                       "SELECT operation FROM tombstone.changes ORDER BY id DESC LIMIT 1")" \
       "$(printf '2\n1\ndelete')" \
       "$what: DELETE tombstones the row and writes the ledger"
    is "$(tt_sql "$db" "SELECT tombstone.undelete_tenant('c')" "SELECT count(*) FROM app.tasks WHERE tenant = 'c'")" \
       "$(printf '38\n12')" \
       "$what: the tenant deleted before the dump comes back with undelete_tenant()"
}

restore_and_compare() {	# NAME COMMAND... (the command restores into $dst)
    local name=$1 out
    shift
    out=$("$@" 2>&1)
    tt_result $? "$name: restores without an error"
    [ -z "$out" ] || diag "$out"
    tt_fingerprint "$dst" > "$TT_TMP/$name.fp"
    same_file "$TT_TMP/src.fp" "$TT_TMP/$name.fp" "$name: the copy equals the source"
    protected_copy "$dst" "$name"
}

"$PGBIN/pg_dump" -Fc -f "$TT_TMP/src.dump" "$src"
"$PGBIN/pg_dump" -Fd -j 2 -f "$TT_TMP/src.dir" "$src"
"$PGBIN/pg_dump" -Fp -f "$TT_TMP/src.sql" "$src"

dst=$(tt_newdb custom)
restore_and_compare "pg_restore" "$PGBIN/pg_restore" -d "$dst" "$TT_TMP/src.dump"

dst=$(tt_newdb custom_j2)
restore_and_compare "pg_restore -j 2" "$PGBIN/pg_restore" -j 2 -d "$dst" "$TT_TMP/src.dump"

dst=$(tt_newdb dir_j2)
restore_and_compare "pg_dump -Fd -j 2, pg_restore -j 2" "$PGBIN/pg_restore" -j 2 -d "$dst" "$TT_TMP/src.dir"

dst=$(tt_newdb single)
restore_and_compare "pg_restore --single-transaction" "$PGBIN/pg_restore" --single-transaction -d "$dst" "$TT_TMP/src.dump"

dst=$(tt_newdb plain)
restore_and_compare "plain pg_dump through psql" \
    "$PGBIN/psql" -Xq -v ON_ERROR_STOP=1 -o /dev/null -d "$dst" -f "$TT_TMP/src.sql"

done_testing
