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
ALTER TABLE pages DISABLE TRIGGER tombstone_guard_delete;
ALTER TABLE pages DROP COLUMN deleted_at;
SET session_replication_role = replica;
DELETE FROM pages WHERE id = 1;
RESET session_replication_role;
UPDATE tombstone.changes SET statement = 'nothing happened';
SET tombstone.visibility = 'all';
SELECT count(*) AS stored_pages, count(deleted_at) AS tombstoned FROM pages;
RESET tombstone.visibility;

\echo '== Time travel: a bad batch update damages one customer''s pages'
SELECT pg_sleep(0.05);
SELECT now() AS before_batch \gset
SELECT pg_sleep(0.05);
CREATE VIEW page_checksums AS
SELECT tenant, md5(string_agg(concat_ws('|', id, site_id, title, deleted_at), ',' ORDER BY id)) AS checksum
  FROM pages GROUP BY tenant;
SELECT checksum AS c2_before FROM page_checksums WHERE tenant = 'customer-2' \gset
UPDATE pages SET title = 'LOREM IPSUM' WHERE tenant = 'customer-2';
DELETE FROM pages WHERE tenant = 'customer-2' AND id % 3 = 0;
\echo '   Meanwhile customer-3 keeps working:'
UPDATE pages SET title = title || ' (edited)' WHERE tenant = 'customer-3' AND id % 2 = 0;
SELECT checksum AS c3_now FROM page_checksums WHERE tenant = 'customer-3' \gset
SELECT id, title FROM pages WHERE tenant = 'customer-2' ORDER BY id LIMIT 4;
\echo '   The same pages as they were before the batch, read from the history:'
SELECT id, title FROM tombstone.as_of(NULL::pages, 'customer-2', :'before_batch') ORDER BY id LIMIT 4;
\echo '   Rewinding needs a token; with one, customer-2 is rewound in place:'
SELECT * FROM tombstone.rewind_tenant('customer-2', :'before_batch');
SELECT tombstone.sign('{"op": "rewind", "tenants": ["customer-2"], "tables": ["customers", "sites", "pages"],
                        "sub": "carol", "reason": "undo the bad batch of ticket 4712"}', 'approvals') AS token \gset
BEGIN;
SELECT tombstone.authorize(:'token') ->> 'reason' AS authorised;
SELECT * FROM tombstone.rewind_tenant('customer-2', :'before_batch');
COMMIT;
SELECT (SELECT checksum FROM page_checksums WHERE tenant = 'customer-2') = :'c2_before' AS customer_2_as_before,
       (SELECT checksum FROM page_checksums WHERE tenant = 'customer-3') = :'c3_now' AS customer_3_keeps_its_edits;

\echo '== The whole story, on the ledger'
SELECT id, operation, undoes, token_subject, left(statement, 60) AS statement FROM tombstone.changes ORDER BY id;

\echo '== Hazards worth fixing'
SELECT hazard, table_name, suggestion FROM tombstone.check();
