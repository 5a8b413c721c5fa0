# Logical replication between two clusters this script starts (issue 16,
# item 8): a subscriber whose tables are protected is an identical copy of
# what is published -- tombstones, history and the ledger -- through the
# initial table sync (a partitioned table published through its root, a
# row filter), tombstones, undeletes, updates, a tenant deletion, a purge
# and a TRUNCATE, and the subscription never stops.  A physical standby of
# the publisher keeps working.  check() reports publications that carry the
# extension's secrets.
. "$(dirname "$0")/lib.sh"

tt_second_cluster -c wal_level=logical -c max_wal_senders=10 -c max_replication_slots=10 || exit 1
PUB_HOST=$TT2_HOST PUB_PORT=$TT2_PORT
tt_second_cluster -c max_logical_replication_workers=8 -c max_sync_workers_per_subscription=4 \
    -c wal_retrieve_retry_interval=200ms -c wal_receiver_status_interval=1 || exit 1
SUB_HOST=$TT2_HOST SUB_PORT=$TT2_PORT

export PGOPTIONS="-c client_min_messages=warning"
pub() { PGHOST=$PUB_HOST PGPORT=$PUB_PORT PGUSER=postgres tt_sql app "$@"; }
sub() { PGHOST=$SUB_HOST PGPORT=$SUB_PORT PGUSER=postgres tt_sql app "$@"; }
PGHOST=$PUB_HOST PGPORT=$PUB_PORT PGUSER=postgres createdb app || exit 1
PGHOST=$SUB_HOST PGPORT=$SUB_PORT PGUSER=postgres createdb app || exit 1

# The same schema on both sides, protected on both sides: the subscriber's
# readers see live rows only, like the publisher's.
schema=(
    "CREATE EXTENSION pg_tombstone"
    "CREATE TABLE tenants (id text PRIMARY KEY, name text)"
    "CREATE TABLE accounts (id int PRIMARY KEY, tenant text NOT NULL REFERENCES tenants, name text)"
    "CREATE INDEX ON accounts (tenant)"
    "CREATE TABLE events (id int, tenant text NOT NULL, day int NOT NULL, body text,
                          PRIMARY KEY (id, day)) PARTITION BY RANGE (day)"
    "CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO (50)"
    "CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM (50) TO (100)"
    "CREATE INDEX ON events (tenant)"
    "CREATE TABLE orders (id int PRIMARY KEY, tenant text NOT NULL, total int)"
    "CREATE UNIQUE INDEX orders_identity ON orders (id, tenant)"
    "ALTER TABLE orders REPLICA IDENTITY USING INDEX orders_identity"
    "CREATE INDEX ON orders (tenant)"
    "CREATE TABLE scratch (id int PRIMARY KEY, tenant text NOT NULL)"
    "CREATE INDEX ON scratch (tenant)"
    "SELECT tombstone.protect_tenants('tenants', 'id')"
    "SELECT tombstone.protect('accounts', 'tenant')"
    "SELECT tombstone.protect('events', 'tenant')"
    "SELECT tombstone.protect('orders', 'tenant')"
    "SELECT tombstone.protect('scratch', 'tenant', history => false)"
)
pub "${schema[@]}" >/dev/null || exit 1
sub "${schema[@]}" >/dev/null || exit 1

pub "INSERT INTO tenants SELECT 't' || g, 'tenant ' || g FROM generate_series(0, 5) g" \
    "INSERT INTO accounts SELECT g, 't' || g % 6, md5(g::text) FROM generate_series(1, 600) g" \
    "INSERT INTO events SELECT g, 't' || g % 6, g % 100, md5(g::text) FROM generate_series(1, 600) g" \
    "INSERT INTO orders SELECT g, 't' || g % 6, g FROM generate_series(1, 600) g" \
    "INSERT INTO scratch SELECT g, 't1' FROM generate_series(1, 50) g" \
    "DELETE FROM accounts WHERE tenant = 't1' AND id % 4 = 1" \
    "DELETE FROM events WHERE tenant = 't2' AND id % 4 = 0" \
    "DELETE FROM orders WHERE tenant = 't3' AND id % 4 = 3" \
    "DELETE FROM orders WHERE tenant = 't2' AND id % 5 = 0" \
    "UPDATE accounts SET name = 'v2' WHERE id % 10 = 0" \
    "UPDATE events SET body = 'v2' WHERE id % 10 = 0" \
    "UPDATE tenants SET name = 'renamed' WHERE id = 't0'" \
    "SELECT tombstone.undelete('accounts', '{\"id\": 13}')" \
    "SELECT tombstone.add_key('ops', 'HS256', convert_to(repeat('k', 40), 'UTF8'))" >/dev/null || exit 1

# The supported publications: the application's tables, the history tables
# and the record (ledger, cleared references); a partitioned table through
# its root; a row filter.
pub "CREATE PUBLICATION app FOR TABLE tenants, accounts, scratch, tombstone.changes,
                                 tombstone.cleared_keys, TABLES IN SCHEMA tombstone_history" \
    "CREATE PUBLICATION app_root FOR TABLE events WITH (publish_via_partition_root = true)" \
    "CREATE PUBLICATION app_filtered FOR TABLE orders WHERE (tenant <> 't2')" >/dev/null || exit 1
is "$(pub "SELECT count(*) FROM tombstone.check() WHERE hazard LIKE 'published%'")" 0 \
   "check() reports nothing for publications of the tables, their history and the ledger"

ok "the subscription is created" \
   sub "CREATE SUBSCRIPTION sub CONNECTION 'host=$PUB_HOST port=$PUB_PORT dbname=app user=postgres'
        PUBLICATION app, app_root, app_filtered"

# wait_synced: every table synchronised, and everything the publisher
# wrote so far applied
wait_synced() {
    local i
    for i in $(seq 1 300); do
        if [ "$(sub "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'")" = 0 ] &&
           [ "$(pub "SELECT count(*) FROM pg_stat_replication
                      WHERE application_name = 'sub' AND replay_lsn >= pg_current_wal_lsn()")" = 1 ]; then
            return 0
        fi
        sleep 0.2
    done
    diag "the subscriber did not catch up:" \
         "$(sub "SELECT srrelid::regclass, srsubstate FROM pg_subscription_rel")" \
         "$(tail -20 "$SUB_HOST/log")"
    return 1
}

# What a subscriber must hold: every published row, tombstones included,
# read the same way on both sides.
published() {
    "$1" "SET tombstone.visibility = 'all'" \
         "SELECT 'tenants|' || count(*) || '|' || md5(string_agg(t::text, ',' ORDER BY id)) FROM tenants t" \
         "SELECT 'accounts|' || count(*) || '|' || md5(string_agg(t::text, ',' ORDER BY id)) FROM accounts t" \
         "SELECT 'events|' || count(*) || '|' || md5(string_agg(t::text, ',' ORDER BY id, day)) FROM events t" \
         "SELECT 'orders|' || count(*) || '|' || md5(string_agg(t::text, ',' ORDER BY id)) FROM orders t WHERE tenant <> 't2'" \
         "SELECT 'scratch|' || count(*) || '|' || md5(coalesce(string_agg(t::text, ',' ORDER BY id), '')) FROM scratch t" \
         "SELECT 'changes|' || count(*) || '|' || md5(string_agg(t::text, ',' ORDER BY id)) FROM tombstone.changes t" \
         "SELECT 'history accounts|' || count(*) || '|' || md5(string_agg(r::text, ',' ORDER BY r::text)) FROM tombstone_history.accounts r" \
         "SELECT 'history events|' || count(*) || '|' || md5(string_agg(r::text, ',' ORDER BY r::text)) FROM tombstone_history.events r" \
         "SELECT 'history orders|' || count(*) || '|' || md5(string_agg(r::text, ',' ORDER BY r::text)) FROM tombstone_history.orders r" \
         "SELECT 'history tenants|' || count(*) || '|' || md5(string_agg(r::text, ',' ORDER BY r::text)) FROM tombstone_history.tenants r"
}

# compare NAME: the subscriber holds what is published, and never stopped
compare() {
    wait_synced
    published pub > "$TT_TMP/pub"
    published sub > "$TT_TMP/sub"
    same_file "$TT_TMP/pub" "$TT_TMP/sub" "$1: the subscriber holds every published row, tombstone, history row and ledger entry"
    is "$(sub "SELECT apply_error_count + sync_error_count FROM pg_stat_subscription_stats WHERE subname = 'sub'")" 0 \
       "$1: the subscription met no error"
}

for t in accounts events "orders WHERE tenant <> 't2'"; do
    ok "the publisher has tombstones in ${t%% *} before the subscription" \
       test "$(pub "SET tombstone.visibility = 'deleted'" "SELECT count(*) FROM $t")" -gt 10
done

compare "initial table sync"
is "$(grep -c '|0|' "$TT_TMP/pub")" 0 "the comparison covers rows in every published table"
is "$(sub "SET tombstone.visibility = 'deleted'" "SELECT count(*) FROM events")" \
   "$(pub "SET tombstone.visibility = 'deleted'" "SELECT count(*) FROM events")" \
   "a partitioned table published through its root keeps its tombstones"
is "$(sub "SET tombstone.visibility = 'deleted'" "SELECT count(*) FROM orders")" \
   "$(pub "SET tombstone.visibility = 'deleted'" "SELECT count(*) FROM orders WHERE tenant <> 't2'")" \
   "a table published with a row filter keeps its tombstones"
for t in accounts events "orders WHERE tenant <> 't2'"; do
    is "$(sub "SELECT count(*) FROM $t")" "$(pub "SELECT count(*) FROM $t")" \
       "readers on the subscriber see the live rows of ${t%% *} only"
done

# Everything that happens on a protected publisher
pub "DELETE FROM accounts WHERE id = 7" \
    "DELETE FROM events WHERE id IN (13, 19) AND tenant = 't1'" \
    "SELECT tombstone.undelete_change((SELECT min(id) FROM tombstone.changes))" \
    "UPDATE orders SET total = total + 1 WHERE id % 7 = 0" \
    "UPDATE events SET day = day + 50 WHERE id = 20" >/dev/null || exit 1
compare "tombstones, undeletes and updates"
is "$(sub "SELECT tombstone.as_of(NULL::accounts, 't0', now())::text" | sort | md5sum)" \
   "$(pub "SELECT tombstone.as_of(NULL::accounts, 't0', now())::text" | sort | md5sum)" \
   "as_of() on the subscriber reads what it reads on the publisher"

token=$(pub "SELECT tombstone.sign('{\"op\": \"delete_tenant\", \"tenants\": [\"t5\"]}', 'ops')")
pub "BEGIN" "SELECT tombstone.authorize('$token')" "DELETE FROM tenants WHERE id = 't5'" "COMMIT" >/dev/null
compare "a tenant deletion"

token=$(pub "SELECT tombstone.sign('{\"op\": \"purge\", \"tables\": [\"accounts\", \"events\", \"orders\", \"tenants\"], \"tenants\": [\"t5\"]}', 'ops')")
purged=$(pub "BEGIN" "SELECT tombstone.authorize('$token')" \
             "SELECT sum(purged) FROM tombstone.purge_tenant('t5')" "COMMIT" 2>/dev/null | sed -n 2p)
ok "the publisher purged the deleted tenant's rows" test "${purged:-0}" -gt 0
compare "a purge"
is "$(sub "SET tombstone.visibility = 'all'" "SELECT count(*) FROM accounts WHERE tenant = 't5'")" 0 \
   "the purge removed the rows on the subscriber too"

token=$(pub "SELECT tombstone.sign('{\"op\": \"ddl\", \"tables\": [\"scratch\"]}', 'ops')")
pub "BEGIN" "SELECT tombstone.authorize('$token')" "TRUNCATE scratch" "COMMIT" >/dev/null
compare "an authorised TRUNCATE"

# The subscriber does not record changes of its own while it replicates
# the ledger: the ids would collide with the publisher's.
out=$(sub "DELETE FROM accounts WHERE id = 1" 2>&1)
ok "a DELETE on the subscriber is refused while the ledger is replicated (TB065)" \
   grep -q "whose ledger is replicated" <<<"$out"
is "$(sub "\\set VERBOSITY verbose" "DELETE FROM accounts WHERE id = 1" 2>&1 | grep -o 'TB065' | head -1)" TB065 \
   "its SQLSTATE is TB065"
compare "after the refused local DELETE"

# Cut over: without the subscription, changes are recorded here, with ids
# after the replicated ones.
ok "the subscription is dropped" sub "DROP SUBSCRIPTION sub"
last=$(sub "SELECT max(id) FROM tombstone.changes")
ok "a DELETE on the former subscriber is recorded" sub "DELETE FROM accounts WHERE id = 1"
is "$(sub "SELECT max(id) > $last FROM tombstone.changes")" t "its change id follows the replicated ones"
is "$(sub "SELECT tombstone.undelete_change((SELECT max(id) FROM tombstone.changes WHERE operation = 'delete' AND id <= $last))" 2>/dev/null)" \
   "$(sub "SELECT sum(tombstoned) FROM tombstone.change_rows WHERE change_id = (SELECT max(id) FROM tombstone.changes WHERE operation = 'delete' AND id <= $last)")" \
   "a replicated change is undone on the former subscriber"

# check(): FOR ALL TABLES publishes the HS256 secrets and what describes
# the publisher alone (registrations, keys, token uses)
pub "CREATE PUBLICATION everything FOR ALL TABLES" >/dev/null
is "$(pub "SELECT string_agg(hazard || ' ' || table_name, ', ' ORDER BY hazard, table_name::text)
             FROM tombstone.check() WHERE object_name = 'everything'")" \
   "published_local_state tombstone.keys, published_local_state tombstone.tables, published_local_state tombstone.tenant_registry, published_local_state tombstone.token_uses, published_secrets tombstone.key_secrets" \
   "check() reports a publication FOR ALL TABLES: the secrets and the per-database state"
pub "CREATE PUBLICATION secrets FOR TABLE tombstone.key_secrets" >/dev/null
is "$(pub "SELECT hazard || ': ' || suggestion FROM tombstone.check() WHERE object_name = 'secrets'")" \
   "published_secrets: ALTER PUBLICATION secrets DROP TABLE tombstone.key_secrets;" \
   "check() says how to stop publishing the secrets"
pub "DROP PUBLICATION everything" "DROP PUBLICATION secrets" >/dev/null

# A physical standby of the publisher: tombstones hidden, history read the
# same, and it follows.
standby=$(mktemp -d "$TT_TMP/standby.XXXXXX")
chmod 755 "$standby"
[ "$(id -u)" -ne 0 ] || chown postgres "$standby"
ok "pg_basebackup makes a standby" \
   tt_as_postgres "$PGBIN/pg_basebackup" -h "$PUB_HOST" -p "$PUB_PORT" -U postgres -D "$standby/data" -R -X stream -c fast
for port in $(seq 15600 15699); do
    (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
    [ -e "/tmp/.s.PGSQL.$port" ] && continue
    break
done
TT_CLUSTERS+=("$standby")
ok "the standby starts" \
   tt_as_postgres "$PGBIN/pg_ctl" -D "$standby/data" -l "$standby/log" -w start \
       -o "-p $port -k $standby -c listen_addresses='' -c shared_preload_libraries=pg_tombstone"
stb() { PGHOST=$standby PGPORT=$port PGUSER=postgres tt_sql app "$@"; }
pub "DELETE FROM accounts WHERE id = 11" >/dev/null
for i in $(seq 1 100); do
    [ "$(stb "SELECT pg_last_wal_replay_lsn() >= '$(pub "SELECT pg_current_wal_lsn()")'")" = t ] && break
    sleep 0.2
done
for t in accounts events orders; do
    is "$(stb "SELECT count(*) FROM $t")" "$(pub "SELECT count(*) FROM $t")" \
       "the standby hides the tombstones of $t"
done
published stb > "$TT_TMP/standby"
published pub > "$TT_TMP/pub"
same_file "$TT_TMP/pub" "$TT_TMP/standby" "the standby holds every row, history row and ledger entry"
is "$(stb "SELECT tombstone.as_of(NULL::accounts, 't1', now())::text" | sort | md5sum)" \
   "$(pub "SELECT tombstone.as_of(NULL::accounts, 't1', now())::text" | sort | md5sum)" \
   "as_of() on the standby reads what it reads on the publisher"

done_testing
