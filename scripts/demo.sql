-- pg_tombstone demo: a multi-tenant app, a bad cleanup script, nothing lost.
\set ON_ERROR_STOP 0
\set SHOW_CONTEXT never
\set QUIET off
\pset footer off
\echo
\echo '== A shared multi-tenant database: customers, their sites and pages'
CREATE EXTENSION IF NOT EXISTS pg_tombstone;
CREATE TABLE customers (id text PRIMARY KEY, name text NOT NULL);
CREATE TABLE sites (id int PRIMARY KEY, tenant text NOT NULL REFERENCES customers,
                    name text NOT NULL);
CREATE INDEX ON sites (tenant);
CREATE TABLE pages (id int PRIMARY KEY, tenant text NOT NULL,
                    site_id int NOT NULL REFERENCES sites ON DELETE CASCADE, title text);
CREATE INDEX ON pages (tenant);
CREATE INDEX ON pages (site_id);
INSERT INTO customers SELECT 'customer-' || g, 'Customer ' || g FROM generate_series(0, 4) g;
INSERT INTO sites SELECT g, 'customer-' || (g % 5), 'site ' || g FROM generate_series(1, 20) g;
INSERT INTO pages SELECT g, s.tenant, s.id, 'page ' || g
  FROM generate_series(1, 100) g JOIN sites s ON s.id = 1 + g % 20;
SELECT tombstone.protect_tenants('customers', 'id');
SELECT tombstone.protect('sites', 'tenant');
SELECT tombstone.protect('pages', 'tenant');
SELECT table_name, tenant_column FROM tombstone.protected_tables;

\echo '== The incident: a cleanup script handed the wrong ids, run in "delete" mode'
\echo '   What it would do (preview needs no token and changes nothing):'
SELECT * FROM tombstone.preview('DELETE FROM sites WHERE id IN (3, 4, 7, 8, 13)');
DELETE FROM sites WHERE id IN (3, 4, 7, 8, 13);
\echo '   Refused: it reached across tenants and nobody signed that. Nothing changed:'
SELECT count(*) AS live_sites, (SELECT count(*) FROM pages) AS live_pages FROM sites;

\echo '== The same kind of change done right: an approver signs exactly its scope'
SELECT tombstone.add_key('approvals', 'HS256',
                         convert_to('demo only: real secrets never sit in scripts', 'UTF8'));
SELECT tombstone.sign('{"op": "delete", "tables": ["sites", "pages"],
                        "tenants": ["customer-3", "customer-4"], "max_rows": 20,
                        "sub": "alice", "reason": "ticket 4711: retire sites 3 and 4"}',
                      'approvals') AS token \gset
BEGIN;
SELECT tombstone.authorize(:'token') ->> 'reason' AS authorised;
DELETE FROM sites WHERE id IN (3, 4);
COMMIT;
\echo '   The client saw DELETE n as always; the sites and their pages are gone from every query:'
SELECT count(*) AS live_sites, (SELECT count(*) FROM pages) AS live_pages FROM sites;
\echo '   ... but they are all still there, as tombstones, and the ledger knows who signed:'
SET tombstone.visibility = 'deleted';
SELECT count(*) AS tombstoned_sites, (SELECT count(*) FROM pages) AS tombstoned_pages FROM sites;
RESET tombstone.visibility;
SELECT id AS signed_change FROM tombstone.changes ORDER BY id DESC LIMIT 1 \gset
SELECT operation, token_subject, token_reason FROM tombstone.changes WHERE id = :signed_change;
SELECT table_name, tenant, tombstoned FROM tombstone.change_rows WHERE change_id = :signed_change;
\echo '   The token was for one use; replaying it is refused:'
BEGIN;
SELECT tombstone.authorize(:'token');
ROLLBACK;
\echo '   One call undoes the whole change, cascade included:'
SELECT tombstone.undelete_change(:signed_change);
SELECT count(*) AS live_sites, (SELECT count(*) FROM pages) AS live_pages FROM sites;

\echo '== Deleting a whole customer, then bringing it back in one call'
CREATE VIEW customer_1_checksum AS
SELECT md5(string_agg(r, ',' ORDER BY r)) AS checksum, count(*) AS rows
  FROM (SELECT format('site %s %s', id, name) FROM sites WHERE tenant = 'customer-1'
        UNION ALL
        SELECT format('page %s %s %s', id, site_id, title) FROM pages WHERE tenant = 'customer-1') t(r);
SELECT checksum AS before, rows FROM customer_1_checksum \gset
\echo '   customer-1 has' :rows 'rows, checksum' :before
\echo '   Deleting a customer needs a token naming it:'
DELETE FROM customers WHERE id = 'customer-1';
SELECT tombstone.sign('{"op": "delete_tenant", "tenants": ["customer-1"], "sub": "bob",
                        "reason": "contract ended"}', 'approvals') AS token \gset
BEGIN;
SELECT tombstone.authorize(:'token') ->> 'reason' AS authorised;
DELETE FROM customers WHERE id = 'customer-1';
COMMIT;
\echo '   Gone from every table, other customers untouched:'
SELECT tenant, count(*) AS live_sites FROM sites GROUP BY tenant ORDER BY tenant;
SELECT operation, table_name, tombstoned FROM tombstone.change_rows
 WHERE change_id = (SELECT max(id) FROM tombstone.changes);
SELECT tombstone.undelete_tenant('customer-1');
SELECT checksum = :'before' AS same_checksum, rows FROM customer_1_checksum;

\echo '== "Permanently delete" mode: every destructive path is refused without a ddl token'
TRUNCATE pages;
DROP TABLE sites CASCADE;
ALTER TABLE pages DISABLE TRIGGER ALL;
ALTER TABLE pages DROP COLUMN deleted_at;
SET session_replication_role = replica;
DELETE FROM pages WHERE id = 1;
RESET session_replication_role;
UPDATE tombstone.changes SET statement = 'nothing happened';
SET tombstone.visibility = 'all';
SELECT count(*) AS stored_pages, count(deleted_at) AS tombstoned FROM pages;
RESET tombstone.visibility;

\echo '== The whole story, on the ledger'
SELECT id, operation, undoes, token_subject, left(statement, 50) AS statement FROM tombstone.changes ORDER BY id;

\echo '== Hazards worth fixing'
SELECT hazard, table_name, suggestion FROM tombstone.check();
