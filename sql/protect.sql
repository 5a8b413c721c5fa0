-- tombstone.protect(): what it adds, and what it refuses
\set SHOW_CONTEXT never
\set VERBOSITY default

CREATE TABLE sites (id int PRIMARY KEY, tenant_id int NOT NULL, name text);
INSERT INTO sites SELECT g, g % 3, 'site ' || g FROM generate_series(1, 9) g;
SELECT tombstone.protect('sites', 'tenant_id');
\d sites
SELECT table_name, tenant_column, retention, history, protected_through
  FROM tombstone.protected_tables ORDER BY table_name::text;

-- an existing deleted_at of the right type is reused
CREATE TABLE notes (id int PRIMARY KEY, tenant_id int, deleted_at timestamptz);
INSERT INTO notes VALUES (1, 1, NULL), (2, 1, '2026-01-01 00:00+00');
SELECT tombstone.protect('notes', 'tenant_id', retention => '7 days', history => false);
SELECT id, deleted_at FROM notes ORDER BY id;
SET tombstone.visibility = 'all';
SELECT id, deleted_at FROM notes ORDER BY id;
RESET tombstone.visibility;

-- refusals; each leaves the table as it was
\set VERBOSITY default
SELECT tombstone.protect('sites', 'tenant_id');
\echo :SQLSTATE
CREATE TABLE wrong_type (id int, tenant_id int, deleted_at timestamp);
SELECT tombstone.protect('wrong_type', 'tenant_id');
\echo :SQLSTATE
CREATE TABLE fresh (id int, tenant_id int);
SELECT tombstone.protect('fresh', 'no_such_column');
\echo :SQLSTATE
SELECT tombstone.protect('fresh', 'deleted_at');
\echo :SQLSTATE
SELECT tombstone.protect('fresh', 'deleted_change');
\echo :SQLSTATE
CREATE VIEW sites_view AS SELECT * FROM sites;
SELECT tombstone.protect('sites_view', 'tenant_id');
\echo :SQLSTATE
CREATE SEQUENCE some_seq;
SELECT tombstone.protect('some_seq', 'tenant_id');
\echo :SQLSTATE
CREATE TEMP TABLE scratch (id int, tenant_id int);
SELECT tombstone.protect('scratch', 'tenant_id');
\echo :SQLSTATE
CREATE TYPE typed_t AS (id int, tenant_id int);
CREATE TABLE typed OF typed_t;
SELECT tombstone.protect('typed', 'tenant_id');
\echo :SQLSTATE
SELECT tombstone.protect(NULL, 'tenant_id');
\echo :SQLSTATE
SELECT tombstone.protect('sites', NULL);
\echo :SQLSTATE
SELECT tombstone.protect('wrong_type', 'tenant_id', retention => '-1 day');
\echo :SQLSTATE
SELECT tombstone.protect('no_such_table', 'tenant_id');
\echo :SQLSTATE
\set VERBOSITY default
SELECT count(*) AS protected FROM tombstone.protected_tables;
SELECT attname FROM pg_attribute WHERE attrelid = 'wrong_type'::regclass AND attnum > 0 ORDER BY attnum;

-- partitioned: all partitions, present and future, sub-partitions included
CREATE TABLE events (id int, tenant_id int NOT NULL, payload text) PARTITION BY LIST (tenant_id);
CREATE TABLE events_1 PARTITION OF events FOR VALUES IN (1);
CREATE TABLE events_2 PARTITION OF events FOR VALUES IN (2, 3) PARTITION BY LIST (tenant_id);
CREATE TABLE events_2a PARTITION OF events_2 FOR VALUES IN (2);
SELECT tombstone.protect('events', 'tenant_id');
CREATE TABLE events_3 PARTITION OF events_2 FOR VALUES IN (3);
CREATE TABLE events_4 (id int, tenant_id int NOT NULL, payload text,
                       deleted_at timestamptz, deleted_change bigint,
                       valid_from timestamptz NOT NULL DEFAULT now());
ALTER TABLE events ATTACH PARTITION events_4 FOR VALUES IN (4);
SELECT table_name, protected_through FROM tombstone.protected_tables
 WHERE table_name::text LIKE 'events%' ORDER BY table_name::text;
SELECT tgrelid::regclass AS tbl, tgname, tgenabled FROM pg_trigger
 WHERE tgname LIKE 'tombstone%' AND tgrelid::regclass::text LIKE 'events%'
 ORDER BY tgrelid::regclass::text, tgname;
SELECT tombstone.protect('events_1', 'tenant_id');

-- a single partition of an unprotected parent
CREATE TABLE logs (id int, tenant_id int NOT NULL, deleted_at timestamptz, deleted_change bigint)
  PARTITION BY LIST (tenant_id);
CREATE TABLE logs_1 PARTITION OF logs FOR VALUES IN (1);
CREATE TABLE logs_2 PARTITION OF logs FOR VALUES IN (2);
SELECT tombstone.protect('logs_1', 'tenant_id', history => false);
-- and then the parent, which would adopt it twice
SELECT tombstone.protect('logs', 'tenant_id');
-- a partition cannot get new columns on its own
CREATE TABLE bare (id int, tenant_id int) PARTITION BY LIST (tenant_id);
CREATE TABLE bare_1 PARTITION OF bare FOR VALUES IN (1);
SELECT tombstone.protect('bare_1', 'tenant_id');

-- inheritance: children present and future
CREATE TABLE animals (id int, tenant_id int);
CREATE TABLE dogs (bark text) INHERITS (animals);
SELECT tombstone.protect('animals', 'tenant_id');
CREATE TABLE cats (meow text) INHERITS (animals);
SELECT table_name, protected_through FROM tombstone.protected_tables
 WHERE table_name::text IN ('animals', 'dogs', 'cats') ORDER BY table_name::text;
SELECT tgrelid::regclass AS tbl, count(*) FILTER (WHERE tgenabled = 'A') AS always_triggers
  FROM pg_trigger WHERE tgname LIKE 'tombstone%' AND tgrelid IN ('dogs'::regclass, 'cats'::regclass)
 GROUP BY 1 ORDER BY tgrelid::regclass::text;
-- a child protected on its own
CREATE TABLE plants (id int, tenant_id int);
CREATE TABLE trees (height int) INHERITS (plants);
SELECT tombstone.protect('trees', 'tenant_id');
SELECT table_name, protected_through FROM tombstone.protected_tables
 WHERE table_name::text IN ('plants', 'trees');

-- the catalog is readable, not writable, by ordinary roles
CREATE ROLE tomb_app;
SET ROLE tomb_app;
SELECT count(*) > 0 AS can_read FROM tombstone.protected_tables;
INSERT INTO tombstone.tables VALUES ('sites', 'id', '1 day', true, NULL, now());
DELETE FROM tombstone.tables;
SELECT tombstone._register('sites', 'id', '1 day', true, NULL, NULL);
RESET ROLE;
DROP ROLE tomb_app;
