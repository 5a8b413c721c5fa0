# The harness itself (test/tools/lib.sh): a fingerprint counts tombstoned
# rows, history rows and the ledger, changes when a row is tombstoned, and
# is the same for a database and a copy made with CREATE DATABASE ... TEMPLATE.
. "$(dirname "$0")/lib.sh"

src=$(tt_createdb src) || exit 1
tt_sql "$src" \
    "CREATE TABLE items (id int PRIMARY KEY, tenant text NOT NULL, name text)" \
    "INSERT INTO items VALUES (1, 'a', 'one'), (2, 'a', 'two'), (3, 'b', 'three')" \
    "SELECT tombstone.protect('items', 'tenant')" \
    "UPDATE items SET name = 'uno' WHERE id = 1" >/dev/null
tt_fingerprint "$src" > "$TT_TMP/before"
tt_sql "$src" "DELETE FROM items WHERE id = 2" >/dev/null
tt_fingerprint "$src" > "$TT_TMP/after"

is "$(grep -c '^rows|public.items|3|' "$TT_TMP/after")" 1 \
   "the fingerprint counts the tombstoned row"
# one old version, of the UPDATE; the tombstone carries the DELETE's
is "$(grep -c '^rows|tombstone_history.items|1|' "$TT_TMP/after")" 1 \
   "the fingerprint counts the history rows"
is "$(grep -c '^rows|tombstone.changes|1|' "$TT_TMP/after")" 1 \
   "the fingerprint counts the ledger"
ok "tombstoning a row changes the fingerprint" \
   bash -c "! cmp -s '$TT_TMP/before' '$TT_TMP/after'"

copy="tools_${TT_NAME}_copy"
TT_DBS+=("$copy")
"$PGBIN/dropdb" --if-exists "$copy" >/dev/null 2>&1
ok "CREATE DATABASE ... TEMPLATE copies the database" \
   "$PGBIN/createdb" -T "$src" "$copy"
tt_fingerprint "$copy" > "$TT_TMP/copy"
same_file "$TT_TMP/after" "$TT_TMP/copy" "a template copy has the same fingerprint"

done_testing
