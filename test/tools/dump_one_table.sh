# pg_dump -t of one protected table, restored into another database with
# pg_tombstone: the table comes back with its triggers but without its entry
# in tombstone.tables.  tombstone.check() must report it, and protect() must
# adopt it, keeping its tombstones as tombstones (and, when the history
# table was dumped with it, its old versions as its history).
. "$(dirname "$0")/lib.sh"

src=$(tt_createdb src) || exit 1
tt_sql "$src" \
    "CREATE SCHEMA app" \
    "CREATE TABLE app.docs (id int PRIMARY KEY, tenant text NOT NULL, body text)" \
    "CREATE INDEX ON app.docs (tenant)" \
    "INSERT INTO app.docs SELECT g, 't' || g % 3, 'doc ' || g FROM generate_series(1, 30) g" \
    "SELECT tombstone.protect('app.docs', 'tenant')" \
    "UPDATE app.docs SET body = body || ' v2' WHERE id % 5 = 0" \
    "DELETE FROM app.docs WHERE id IN (3, 6)" "DELETE FROM app.docs WHERE id = 10" >/dev/null || { echo "Bail out! set-up"; exit 1; }
live=$(tt_sql "$src" "SELECT count(*) FROM app.docs")
all=$(tt_sql "$src" "SET tombstone.visibility = 'all'" "SELECT md5(string_agg(d::text, ',' ORDER BY id)) FROM app.docs d")
# the old versions: the history table's and those the tombstones carry
# (made in place: valid_from before deleted_at), as history rows
versions_sql="SELECT md5(string_agg(h::text, ',' ORDER BY id, valid_to)) FROM
  (SELECT * FROM tombstone_history.docs
   UNION ALL
   SELECT id, tenant, body, NULL, NULL, valid_from, deleted_at FROM app.docs
    WHERE valid_from < deleted_at) h"
versions=$(tt_sql "$src" "SET tombstone.visibility = 'all'" "$versions_sql")

"$PGBIN/pg_dump" -Fc -t app.docs -f "$TT_TMP/docs.dump" "$src"
"$PGBIN/pg_dump" -Fc -t app.docs -t tombstone_history.docs -f "$TT_TMP/docs_hist.dump" "$src"

adopt() {	# NAME DUMP
    local name=$1 dump=$2 dst
    dst=$(tt_createdb "$name") || return 1
    tt_sql "$dst" "CREATE SCHEMA app" >/dev/null
    ok "$name: pg_restore of the table" "$PGBIN/pg_restore" -d "$dst" "$dump"
    is "$(tt_sql "$dst" "SELECT hazard FROM tombstone.check() WHERE table_name = 'app.docs'::regclass")" \
       "not_protected" \
       "$name: tombstone.check() reports the table that has pg_tombstone's triggers but no entry"
    ok "$name: protect() adopts the table" \
       tt_sql "$dst" "SELECT tombstone.protect('app.docs', 'tenant')"
    is "$(tt_sql "$dst" "SELECT count(*) FROM app.docs")" "$live" \
       "$name: its tombstones are tombstones again (hidden)"
    is "$(tt_sql "$dst" "SET tombstone.visibility = 'all'" "SELECT md5(string_agg(d::text, ',' ORDER BY id)) FROM app.docs d")" \
       "$all" "$name: every row is as it was, tombstones included"
    is "$(tt_sql "$dst" "SELECT count(*) FROM tombstone.check()")" 0 \
       "$name: tombstone.check() reports nothing any more"
    is "$(tt_sql "$dst" "SELECT tombstone.undelete('app.docs', '{\"id\": 3}')" "SELECT count(*) FROM app.docs")" \
       "$(printf '1\n%s' $((live + 1)))" "$name: a tombstone from before the dump can be undeleted"
    is "$(tt_sql "$dst" "DELETE FROM app.docs WHERE id = 1" \
                        "SELECT count(*) FROM tombstone.changes WHERE operation = 'delete'")" 1 \
       "$name: DELETE tombstones and writes the ledger"
}

adopt alone "$TT_TMP/docs.dump"

adopt with_history "$TT_TMP/docs_hist.dump"
is "$(tt_sql "tools_${TT_NAME}_with_history" \
        "SELECT history_table FROM tombstone.protected_tables WHERE table_name = 'app.docs'::regclass")" \
   "tombstone_history.docs" "with_history: the restored history table is the table's history"
is "$(tt_sql "tools_${TT_NAME}_with_history" "SET tombstone.visibility = 'all'" \
        "${versions_sql/WHERE valid_from < deleted_at) h/WHERE valid_from < deleted_at) h WHERE valid_to < (SELECT min(at) FROM tombstone.changes)}")" \
   "$versions" "with_history: the old versions from before the dump are kept"

done_testing
