# pg_repack (postgresql-15-repack) on a protected database keeps every row,
# tombstones included, every history row and the ledger: each mode is run
# with the real tool and the database compared with itself before (issue 16,
# item 1).  pg_repack copies a table with INSERT ... SELECT and then swaps
# the copy's storage in, so a copy that missed the tombstones lost them.
. "$(dirname "$0")/lib.sh"

db=$(tt_createdb src) || exit 1
tt_sql "$db" "CREATE EXTENSION pg_repack" >/dev/null || exit 1

# accounts: protected with history, a dropped column (pg_repack copies
# around it), a clustered index; events: partitioned; notes: no history.
tt_sql "$db" \
    "CREATE TABLE accounts (id int PRIMARY KEY, tenant text NOT NULL, junk int, name text)" \
    "CREATE INDEX accounts_tenant ON accounts (tenant)" \
    "CLUSTER accounts USING accounts_tenant" \
    "ALTER TABLE accounts DROP COLUMN junk" \
    "INSERT INTO accounts SELECT g, 't' || g % 5, md5(g::text) FROM generate_series(1, 1000) g" \
    "SELECT tombstone.protect('accounts', 'tenant')" \
    "CREATE TABLE events (id int, tenant text NOT NULL, day int NOT NULL, body text,
                          PRIMARY KEY (id, day)) PARTITION BY RANGE (day)" \
    "CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO (50)" \
    "CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM (50) TO (100)" \
    "CREATE INDEX ON events (tenant)" \
    "INSERT INTO events SELECT g, 't' || g % 5, g % 100, md5(g::text) FROM generate_series(1, 600) g" \
    "SELECT tombstone.protect('events', 'tenant')" \
    "CREATE TABLE notes (id int PRIMARY KEY, tenant text NOT NULL, body text)" \
    "CREATE INDEX ON notes (tenant)" \
    "INSERT INTO notes SELECT g, 't' || g % 5, 'n' FROM generate_series(1, 300) g" \
    "SELECT tombstone.protect('notes', 'tenant', history => false)" >/dev/null || exit 1
# tombstones in every table, history, an undelete, a cascade-free ledger
tt_sql "$db" \
    "DELETE FROM accounts WHERE tenant = 't0' AND id % 3 = 0" \
    "DELETE FROM accounts WHERE tenant = 't1' AND id < 200" \
    "UPDATE accounts SET name = 'renamed' WHERE id % 7 = 0" \
    "DELETE FROM events WHERE tenant = 't2'" \
    "DELETE FROM notes WHERE tenant = 't3' AND id % 2 = 0" \
    "SELECT tombstone.undelete('accounts', '{\"id\": 31}')" >/dev/null || exit 1

tombstoned() {
    tt_sql "$db" "SET tombstone.visibility = 'deleted'" "SELECT count(*) FROM $1"
}
want_accounts=$(tombstoned accounts)
want_live=$(tt_sql "$db" "SELECT count(*) FROM accounts")
tt_fingerprint "$db" > "$TT_TMP/before"

# Each mode, one after the other, must leave the database as it was.
repack_same() {		# repack_same NAME pg_repack-arguments...
    local name=$1
    shift
    ok "pg_repack ${*:-of the whole database} succeeds" pg_repack -d "$db" "$@" || return
    tt_fingerprint "$db" > "$TT_TMP/after"
    same_file "$TT_TMP/before" "$TT_TMP/after" "$name keeps every row, history row and ledger entry"
}

node_before=$(tt_sql "$db" "SELECT pg_relation_filenode('accounts')")
repack_same "repacking one table (-t)" -t accounts
is "$(tt_sql "$db" "SELECT pg_relation_filenode('accounts') <> $node_before")" t \
   "pg_repack rewrote the table (a new relfilenode)"
is "$(tombstoned accounts)" "$want_accounts" "the tombstoned rows are still tombstones"
is "$(tt_sql "$db" "SELECT count(*) FROM accounts")" "$want_live" \
   "queries still see the live rows only"

repack_same "repacking without ordering (-n)" -n -t accounts -t notes
repack_same "repacking in a given order (-o)" -o name -t accounts
repack_same "repacking a partitioned table's partitions (-I)" -I events
repack_same "rebuilding indexes only (-x)" -x -t accounts
repack_same "repacking with parallel index builds (-j 2)" -j 2 -t accounts
repack_same "repacking the whole database"

# VACUUM FULL and CLUSTER rewrite a table too, keeping every row
ok "VACUUM FULL of protected tables succeeds" tt_sql "$db" "VACUUM FULL accounts, events, notes"
ok "CLUSTER of a protected table succeeds" tt_sql "$db" "CLUSTER accounts USING accounts_tenant"
tt_fingerprint "$db" > "$TT_TMP/after"
same_file "$TT_TMP/before" "$TT_TMP/after" "VACUUM FULL and CLUSTER keep every row, history row and ledger entry"

# what the issue saw: after the repack an undelete restores what the
# ledger says the change tombstoned
first=$(tt_sql "$db" "SELECT sum(tombstoned) FROM tombstone.change_rows WHERE change_id = 1")
is "$(tt_sql "$db" "SELECT tombstone.undelete_change(1)" 2>/dev/null | tail -1)" "$first" \
   "undelete_change(1) restores as many rows as the ledger counted"

# Changes made while pg_repack copies reach the copy through its log:
# tombstones and undeletes by a concurrent session, counted against the
# ledger afterwards.
tt_sql "$db" \
    "CREATE TABLE big (id int PRIMARY KEY, tenant text NOT NULL, body text)" \
    "CREATE INDEX ON big (tenant)" \
    "INSERT INTO big SELECT g, 't' || g % 50, repeat('x', 200) FROM generate_series(1, 200000) g" \
    "SELECT tombstone.protect('big', 'tenant')" >/dev/null || exit 1
(
    i=0
    while [ ! -e "$TT_TMP/stop" ] && [ "$i" -lt 150 ]; do
        i=$((i + 1))
        tt_sql "$db" "DELETE FROM big WHERE id = $((i * 997))" \
                     "SELECT tombstone.undelete('big', '{\"id\": $(( (i - 1) * 997 + 1 ))}')" \
                     "DELETE FROM big WHERE id = $(( i * 997 + 1 ))" >/dev/null 2>&1
    done
) &
writer=$!
sleep 0.5
ok "pg_repack of a table written concurrently succeeds" \
   pg_repack -d "$db" -t big
touch "$TT_TMP/stop"
wait "$writer"
ok "the concurrent session tombstoned rows" \
   test "$(tt_sql "$db" "SELECT count(*) FROM tombstone.change_rows WHERE table_name = 'public.big'")" -gt 0
is "$(tt_sql "$db" "SET tombstone.visibility = 'all'" "SELECT count(*) FROM big")" 200000 \
   "every row of the concurrently written table is still there"
is "$(tt_sql "$db" "SET tombstone.visibility = 'deleted'" "SELECT count(*) FROM big")" \
   "$(tt_sql "$db" "SELECT coalesce(sum(tombstoned) - sum(restored), 0) FROM tombstone.change_rows WHERE table_name = 'public.big'")" \
   "its tombstones are exactly those the ledger recorded"
is "$(tt_sql "$db" "SET tombstone.visibility = 'deleted'" \
      "SELECT count(*) FROM big b WHERE NOT EXISTS (SELECT 1 FROM tombstone.changes c WHERE c.id = b.deleted_change)")" 0 \
   "each tombstone names a change on the ledger"

# The history tables have no key: pg_repack refuses them before it does
# anything, and VACUUM FULL (the supported way) keeps every version.
hist_before=$(tt_sql "$db" "SELECT count(*), md5(string_agg(h::text, ',' ORDER BY h::text)) FROM tombstone_history.accounts h")
out=$(pg_repack -d "$db" -t tombstone_history.accounts 2>&1)
ok "pg_repack refuses a history table (it has no key)" \
   grep -q "must have a primary key or not-null unique keys" <<<"$out"
ok "VACUUM FULL of a history table succeeds" tt_sql "$db" "VACUUM FULL tombstone_history.accounts"
is "$(tt_sql "$db" "SELECT count(*), md5(string_agg(h::text, ',' ORDER BY h::text)) FROM tombstone_history.accounts h")" \
   "$hist_before" "VACUUM FULL keeps every history row"

done_testing
