-- pg_tombstone demo: a multi-tenant app, a bad cleanup script, nothing lost.
\set ON_ERROR_STOP 0
\set SHOW_CONTEXT never
\set QUIET off
\pset footer off
\echo
\echo '== A shared multi-tenant database: sites and their pages, many customers'
CREATE EXTENSION IF NOT EXISTS pg_tombstone;
CREATE TABLE sites (id int PRIMARY KEY, tenant text NOT NULL, name text NOT NULL);
CREATE INDEX ON sites (tenant);
CREATE TABLE pages (id int PRIMARY KEY, tenant text NOT NULL,
                    site_id int NOT NULL REFERENCES sites, title text);
CREATE INDEX ON pages (tenant);
INSERT INTO sites SELECT g, 'customer-' || (g % 5), 'site ' || g FROM generate_series(1, 20) g;
INSERT INTO pages SELECT g, s.tenant, s.id, 'page ' || g
  FROM generate_series(1, 100) g JOIN sites s ON s.id = 1 + g % 20;
SELECT tombstone.protect('sites', 'tenant');
SELECT tombstone.protect('pages', 'tenant');
SELECT * FROM tombstone.protected_tables;

\echo '== The script that was handed the wrong ids deletes whole sites'
DELETE FROM pages WHERE site_id IN (3, 8, 13);
DELETE FROM sites WHERE id IN (3, 8, 13);
\echo '   The client saw DELETE n as always; the rows are gone from every query:'
SELECT count(*) AS live_sites FROM sites;
SELECT s.name, count(p.id) AS pages FROM sites s LEFT JOIN pages p ON p.site_id = s.id
 WHERE s.id IN (2, 3, 4) GROUP BY s.name ORDER BY s.name;

\echo '== ... but they are all still there, as tombstones'
SET tombstone.visibility = 'deleted';
SELECT id, tenant, name, deleted_at IS NOT NULL AS tombstoned FROM sites ORDER BY id;
SELECT count(*) AS tombstoned_pages FROM pages;
\echo '   Bringing them back is an UPDATE (one-call undelete arrives with the ledger):'
UPDATE pages SET deleted_at = NULL WHERE site_id IN (3, 8, 13);
UPDATE sites SET deleted_at = NULL WHERE id IN (3, 8, 13);
RESET tombstone.visibility;
SELECT count(*) AS live_sites, (SELECT count(*) FROM pages) AS live_pages FROM sites;

\echo '== "Permanently delete" mode: every destructive path is refused'
TRUNCATE pages;
DROP TABLE sites CASCADE;
ALTER TABLE pages DISABLE TRIGGER ALL;
ALTER TABLE pages DROP COLUMN deleted_at;
SET session_replication_role = replica;
DELETE FROM pages WHERE id = 1;
RESET session_replication_role;
SET tombstone.visibility = 'all';
SELECT count(*) AS stored_pages, count(deleted_at) AS tombstoned FROM pages;
RESET tombstone.visibility;

\echo '== Hazards worth fixing'
SELECT hazard, table_name, suggestion FROM tombstone.check();
