# pg_partman (postgresql-15-partman) on a protected partitioned table (issue
# 16, item 9): creating partitions needs nothing; retention (DROP or DETACH
# of old partitions) and partition_data (moving rows out of the default
# partition) run with a standing change token of operation "ddl" naming
# the partitioned table, which covers its partitions in every guard alike;
# without it they are refused before anything changes.
. "$(dirname "$0")/lib.sh"

db=$(tt_createdb src) || exit 1
export PGOPTIONS="-c client_min_messages=warning"
tt_sql "$db" \
    "CREATE SCHEMA partman" "CREATE EXTENSION pg_partman SCHEMA partman" \
    "SELECT tombstone.add_key('jobs', 'HS256', convert_to(repeat('k', 40), 'UTF8'))" \
    "CREATE TABLE events (id int NOT NULL, tenant text NOT NULL, at timestamptz NOT NULL, body text,
                          PRIMARY KEY (id, at)) PARTITION BY RANGE (at)" \
    "CREATE INDEX ON events (tenant)" \
    "SELECT tombstone.protect('events', 'tenant')" >/dev/null || exit 1
ok "pg_partman creates the partitions of a protected table" \
   tt_sql "$db" "SELECT partman.create_parent('public.events', 'at', 'native', 'daily', p_premake => 3,
                                              p_start_partition => (now() - interval '10 days')::date::text)"
is "$(tt_sql "$db" "SELECT count(*) FROM pg_inherits i JOIN tombstone.protected_tables p ON p.table_name = i.inhrelid::regclass
                     WHERE i.inhparent = 'events'::regclass AND p.protected_through = 'events'::regclass")" \
   "$(tt_sql "$db" "SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass")" \
   "every partition it created is protected"

# rows in every partition, tombstones, history
tt_sql "$db" \
    "INSERT INTO events SELECT g, 't' || g % 4, date_trunc('day', now()) - (g % 10) * interval '1 day' + interval '1 hour', md5(g::text)
       FROM generate_series(1, 1000) g" \
    "DELETE FROM events WHERE tenant = 't1' AND id % 3 = 0" \
    "UPDATE events SET body = 'v2' WHERE id % 9 = 0" >/dev/null || exit 1

all_rows() {	# every row of the partitioned table, tombstones included
    tt_sql "$db" "SET tombstone.visibility = 'all'" \
        "SELECT count(*) || ' ' || count(deleted_at) || ' ' || md5(string_agg(e::text, ',' ORDER BY id, at)) FROM events e"
}
partitions() {
    tt_sql "$db" "SELECT string_agg(inhrelid::regclass::text, ' ' ORDER BY inhrelid::regclass::text)
                    FROM pg_inherits WHERE inhparent = 'events'::regclass"
}

# A standing token for the maintenance job: three uses, one hour.
token=$(tt_sql "$db" "SELECT tombstone.sign(jsonb_build_object(
    'op', 'ddl', 'tables', jsonb_build_array('public.events'), 'max_uses', 3,
    'exp', extract(epoch FROM now() + interval '1 hour')::bigint,
    'sub', 'partman-maintenance', 'reason', 'retention of events'), 'jobs')")
maintain() {	# maintain SQL...: the job's transaction, with the token
    tt_sql "$db" "\\set VERBOSITY verbose" "BEGIN" "SELECT tombstone.authorize('$token') IS NOT NULL" \
        "SET LOCAL tombstone.visibility = 'all'" "$@" "COMMIT"
}

ok "run_maintenance without retention needs no token" \
   tt_sql "$db" "SELECT partman.run_maintenance('public.events')"

tt_sql "$db" "UPDATE partman.part_config SET retention = '5 days', retention_keep_table = false
               WHERE parent_table = 'public.events'" >/dev/null

# Without the token retention is refused, and nothing changes.
tt_fingerprint "$db" > "$TT_TMP/before"
out=$(tt_sql "$db" "SELECT partman.run_maintenance('public.events')" 2>&1)
ok "retention without a token is refused" grep -q 'cannot drop protected table' <<<"$out"
tt_fingerprint "$db" > "$TT_TMP/after"
same_file "$TT_TMP/before" "$TT_TMP/after" "the refused maintenance changed nothing"

# With it, old partitions are dropped and nothing else changes.
old=$(tt_sql "$db" "SELECT string_agg(inhrelid::regclass::text, '|') FROM pg_inherits
                     WHERE inhparent = 'events'::regclass
                       AND pg_get_expr((SELECT relpartbound FROM pg_class WHERE oid = inhrelid), inhrelid) <> 'DEFAULT'
                       AND (regexp_match(inhrelid::regclass::text, 'p(\d{4}_\d{2}_\d{2})$'))[1] < to_char(now() - interval '5 days', 'YYYY_MM_DD')")
ok "there are partitions older than the retention" test -n "$old"
ok "run_maintenance with the standing token succeeds" maintain "SELECT partman.run_maintenance('public.events')"
is "$(partitions | tr ' ' '\n' | grep -cE "^($old)\$")" 0 "the partitions older than the retention are gone"
# everything but the dropped partitions, the registrations and the token's
# use is as it was
unchanged() { grep -vE "public\.($old)[_|]|^rows\|(tombstone\.(tables|token_uses)|partman\.)" "$1"; }
tt_fingerprint "$db" > "$TT_TMP/after"
same_file <(unchanged "$TT_TMP/before") <(unchanged "$TT_TMP/after") \
          "retention removed the old partitions and changed nothing else (history and ledger included)"
is "$(tt_sql "$db" "SELECT count(*) FROM tombstone.tables WHERE relid::text ~ '^($old)\$'")" 0 \
   "the dropped partitions are no longer registered"
is "$(tt_sql "$db" "SELECT uses FROM tombstone.token_uses")" 1 "the job used the standing token once"
is "$(tt_sql "$db" "SELECT count(*) FROM pg_inherits i WHERE i.inhparent = 'events'::regclass
                     AND NOT EXISTS (SELECT 1 FROM tombstone.tables t WHERE t.relid = i.inhrelid)")" 0 \
   "the partitions it created are protected"

# Retention that keeps the tables: DETACH with the parent's token; the
# detached table keeps every row and is no longer protected at all.
tt_sql "$db" "UPDATE partman.part_config SET retention = '3 days', retention_keep_table = true
               WHERE parent_table = 'public.events'" >/dev/null
kept=$(tt_sql "$db" "SELECT string_agg(inhrelid::regclass::text, ' ') FROM pg_inherits
                      WHERE inhparent = 'events'::regclass
                        AND (regexp_match(inhrelid::regclass::text, 'p(\d{4}_\d{2}_\d{2})$'))[1] < to_char(now() - interval '3 days', 'YYYY_MM_DD')")
ok "there are partitions older than the shorter retention" test -n "$kept"
before_rows=$(all_rows)
ok "run_maintenance detaching partitions with the standing token succeeds" \
   maintain "SELECT partman.run_maintenance('public.events')"
is "$(tt_sql "$db" "SET tombstone.visibility = 'all'" \
      "SELECT sum(n) FROM (SELECT count(*) n FROM events
                           $(for k in $kept; do echo "UNION ALL SELECT count(*) FROM $k"; done)) s")" \
   "${before_rows%% *}" "the detached tables and the partitioned table hold every row"
for k in $kept; do
    is "$(tt_sql "$db" "SELECT count(*) FROM tombstone.tables WHERE relid = '$k'::regclass")|$(tt_sql "$db" "SELECT count(*) FROM pg_trigger WHERE tgrelid = '$k'::regclass AND tgname LIKE 'tombstone%'")" \
       "0|0" "detached $k is no longer protected, and no trigger of the extension is left on it"
done
first=${kept%% *}
ok "a detached table can be dropped without a token" tt_sql "$db" "DROP TABLE $first"

# The guards agree on a partition covered through its parent: DROP TABLE
# and DETACH PARTITION by hand, with the parent's token, in one transaction
# each; and without it, refused.
victim=$(tt_sql "$db" "SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'events'::regclass
                        AND inhrelid::regclass::text ~ 'p\d' ORDER BY inhrelid::regclass::text LIMIT 1")
out=$(tt_sql "$db" "\\set VERBOSITY verbose" "DROP TABLE $victim" 2>&1)
ok "DROP TABLE of a partition without a token is refused (TB004)" grep -q 'TB004' <<<"$out"
ok "DROP TABLE of a partition with the parent's token succeeds" maintain "DROP TABLE $victim"
victim=$(tt_sql "$db" "SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'events'::regclass
                        AND inhrelid::regclass::text ~ 'p\d' ORDER BY inhrelid::regclass::text LIMIT 1")
out=$(tt_sql "$db" "\\set VERBOSITY verbose" "ALTER TABLE events DETACH PARTITION $victim" 2>&1)
ok "DETACH of a partition without a token is refused (TB007)" grep -q 'TB007' <<<"$out"
out=$(maintain "ALTER TABLE events DETACH PARTITION $victim" 2>&1)
ok "the standing token's three uses are spent (TB027)" grep -q 'TB027' <<<"$out"
is "$(tt_sql "$db" "SELECT count(*) FROM pg_inherits WHERE inhrelid = '$victim'::regclass")" 1 \
   "the partition is still attached"

# partition_data: rows for days that have no partition yet wait in the
# default partition, tombstones among them; they move, tombstones
# included, into the partitions pg_partman creates for them.
tt_sql "$db" \
    "INSERT INTO events SELECT 5000 + g, 't' || g % 4, date_trunc('day', now()) + (20 + g % 3) * interval '1 day', 'later'
       FROM generate_series(1, 60) g" \
    "DELETE FROM events WHERE tenant = 't2' AND id > 5000" \
    "UPDATE events SET body = 'v3' WHERE id > 5000 AND id % 2 = 0" >/dev/null || exit 1
token=$(tt_sql "$db" "SELECT tombstone.sign(jsonb_build_object(
    'op', 'ddl', 'tables', jsonb_build_array('public.events'), 'max_uses', 100,
    'exp', extract(epoch FROM now() + interval '1 hour')::bigint, 'sub', 'partman-maintenance'), 'jobs')")
before_rows=$(all_rows)
is "$(tt_sql "$db" "SET tombstone.visibility = 'deleted'" "SELECT count(*) FROM events_default")" 15 \
   "the default partition holds tombstones"
tt_fingerprint "$db" > "$TT_TMP/before"
out=$(tt_sql "$db" "SET tombstone.visibility = 'all'" "SELECT partman.partition_data_time('public.events', p_batch_count => 10)" 2>&1)
ok "partition_data without a token fails" grep -q ERROR <<<"$out"
tt_fingerprint "$db" > "$TT_TMP/after"
# (a refused change gives back no change id: ids have gaps)
same_file <(grep -v '^sequence|tombstone.changes_id_seq|' "$TT_TMP/before") \
          <(grep -v '^sequence|tombstone.changes_id_seq|' "$TT_TMP/after") \
          "the failed partition_data changed nothing"
ok "partition_data with the standing token succeeds" \
   maintain "SELECT partman.partition_data_time('public.events', p_batch_count => 10)"
is "$(tt_sql "$db" "SET tombstone.visibility = 'all'" "SELECT count(*) FROM events_default")" 0 \
   "the default partition is empty"
is "$(all_rows)" "$before_rows" "every row moved, tombstones with their deleted_at, deleted_change and valid_from"
tt_fingerprint "$db" > "$TT_TMP/after"
for what in 'rows|tombstone_history.events|' 'rows|tombstone.changes|'; do
    is "$(grep -F "$what" "$TT_TMP/after")" "$(grep -F "$what" "$TT_TMP/before")" \
       "partition_data leaves ${what#rows|} as it was"
done
is "$(tt_sql "$db" "SELECT count(*) FROM pg_inherits i WHERE i.inhparent = 'events'::regclass
                     AND NOT EXISTS (SELECT 1 FROM tombstone.tables t WHERE t.relid = i.inhrelid)")" 0 \
   "the partitions it created are protected"
is "$(tt_sql "$db" "SELECT count(*) FROM events WHERE id > 5000")" 45 "the moved live rows are visible"
is "$(tt_sql "$db" "SELECT tombstone.undelete('events', '{\"id\": 5002}')" 2>/dev/null)" 1 \
   "a moved tombstone is undeleted"

# An expired token is refused before anything runs.
token=$(tt_sql "$db" "SELECT tombstone.sign(jsonb_build_object(
    'op', 'ddl', 'tables', jsonb_build_array('public.events'), 'max_uses', 100,
    'iat', extract(epoch FROM now() - interval '2 hours')::bigint,
    'exp', extract(epoch FROM now() - interval '1 hour')::bigint), 'jobs')")
out=$(tt_sql "$db" "\\set VERBOSITY verbose" "BEGIN" "SELECT tombstone.authorize('$token')" 2>&1)
ok "an expired standing token is refused (TB024)" grep -q 'TB024' <<<"$out"

# A sub-partitioned partition detached with the root's token: it and its
# partitions are no longer protected, their rows all kept.
tree=$(tt_createdb tree) || exit 1
tt_sql "$tree" \
    "SELECT tombstone.add_key('jobs', 'HS256', convert_to(repeat('k', 40), 'UTF8'))" \
    "CREATE TABLE p (id int, tenant text NOT NULL, k int NOT NULL, j int NOT NULL) PARTITION BY RANGE (k)" \
    "CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (10) PARTITION BY RANGE (j)" \
    "CREATE TABLE p1a PARTITION OF p1 FOR VALUES FROM (0) TO (10)" \
    "CREATE TABLE p1b PARTITION OF p1 FOR VALUES FROM (10) TO (20)" \
    "CREATE TABLE p2 PARTITION OF p FOR VALUES FROM (10) TO (20)" \
    "INSERT INTO p VALUES (1, 'a', 1, 1), (2, 'a', 1, 15), (3, 'b', 15, 1)" \
    "SELECT tombstone.protect('p', 'tenant')" "DELETE FROM p WHERE id = 2" >/dev/null || exit 1
token=$(tt_sql "$tree" "SELECT tombstone.sign('{\"op\": \"ddl\", \"tables\": [\"p\"]}', 'jobs')")
ok "DETACH of a sub-partitioned partition with the root's token succeeds" \
   tt_sql "$tree" "BEGIN" "SELECT tombstone.authorize('$token')" "ALTER TABLE p DETACH PARTITION p1" "COMMIT"
is "$(tt_sql "$tree" "SELECT string_agg(relid::text, ' ' ORDER BY relid::text) FROM tombstone.tables")" "p p2" \
   "the detached partition and its partitions are forgotten, the rest stays protected"
is "$(tt_sql "$tree" "SELECT count(*) FROM pg_trigger WHERE tgrelid IN ('p1'::regclass, 'p1a'::regclass, 'p1b'::regclass)")" 0 \
   "no trigger of the extension is left on them"
is "$(tt_sql "$tree" "SELECT string_agg(id || ':' || (deleted_at IS NOT NULL), ' ' ORDER BY id) FROM p1")" "1:false 2:true" \
   "their rows are kept, the tombstone with its deleted_at"

# A partition detached under 0.1 stayed registered with its TRUNCATE
# trigger only; after the update, DDL on the table still works.
old=$(tt_createdb old 0.1) || exit 1
tt_sql "$old" \
    "SELECT tombstone.add_key('jobs', 'HS256', convert_to(repeat('k', 40), 'UTF8'))" \
    "CREATE TABLE p (id int, tenant text NOT NULL, k int NOT NULL) PARTITION BY RANGE (k)" \
    "CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (10)" \
    "SELECT tombstone.protect('p', 'tenant')" >/dev/null || exit 1
token=$(tt_sql "$old" "SELECT tombstone.sign('{\"op\": \"ddl\", \"tables\": [\"p\"]}', 'jobs')")
tt_sql "$old" "BEGIN" "SELECT tombstone.authorize('$token')" "ALTER TABLE p DETACH PARTITION p1" "COMMIT" \
       "ALTER EXTENSION pg_tombstone UPDATE" >/dev/null
ok "after the update, a partition is created under a table one was detached from under 0.1" \
   tt_sql "$old" "CREATE TABLE p2 PARTITION OF p FOR VALUES FROM (10) TO (20)"

done_testing
