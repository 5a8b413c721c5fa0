-- Issue 17, item 1: both libraries preloaded; protect() before and after
-- create_distributed_table(), for distributed, colocated and reference
-- tables.  Refusals print their SQLSTATE.
\set VERBOSITY sqlstate
SET client_min_messages = warning;
SELECT string_agg(name, ',' ORDER BY name) FROM unnest(string_to_array(current_setting('shared_preload_libraries'), ',')) name;
SELECT extname FROM pg_extension WHERE extname IN ('citus', 'pg_tombstone') ORDER BY 1;
SELECT tombstone._preloaded();
CREATE SCHEMA p;

-- distributed first, then protected; protect() sets what Citus needs itself
CREATE TABLE p.issues (tenant_id int NOT NULL, id int NOT NULL, title text, PRIMARY KEY (tenant_id, id));
SELECT create_distributed_table('p.issues', 'tenant_id');
INSERT INTO p.issues SELECT t, i, 'issue ' || i FROM generate_series(1, 4) t, generate_series(1, 3) i;
-- history of Citus tables is not kept yet: refused with its own code
SELECT tombstone.protect('p.issues', 'tenant_id');
-- the tenant column must be the distribution column
SELECT tombstone.protect('p.issues', 'id', history => false);
SELECT tombstone.protect('p.issues', 'tenant_id', history => false);
SHOW citus.enable_unsafe_triggers;
SELECT table_name, tenant_column FROM tombstone.protected_tables WHERE table_name::text LIKE 'p.%' ORDER BY 1;
-- every shard carries the row triggers, firing ALWAYS (Citus names them
-- after the shard, and keeps TRUNCATE triggers on the coordinator)
SELECT DISTINCT result FROM run_command_on_shards('p.issues',
  $$SELECT string_agg(regexp_replace(tgname, '_[0-9]+$', '') || ':' || tgenabled::text, ',' ORDER BY tgname) FROM pg_trigger WHERE tgrelid = '%s'::regclass AND tgname LIKE 'tombstone%%'$$);
-- and the tombstone columns
SELECT DISTINCT result FROM run_command_on_shards('p.issues',
  $$SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = '%s'::regclass AND attnum > 0$$);

-- a colocated table
CREATE TABLE p.comments (tenant_id int NOT NULL, id int NOT NULL, issue_id int NOT NULL, body text,
                         PRIMARY KEY (tenant_id, id));
SELECT create_distributed_table('p.comments', 'tenant_id', colocate_with => 'p.issues');
INSERT INTO p.comments SELECT t, i, i, 'comment ' || i FROM generate_series(1, 4) t, generate_series(1, 3) i;
SELECT tombstone.protect('p.comments', 'tenant_id', history => false);

-- a reference table (a tenant registry)
CREATE TABLE p.tenants (id int PRIMARY KEY, name text);
SELECT create_reference_table('p.tenants');
INSERT INTO p.tenants SELECT t, 'tenant ' || t FROM generate_series(1, 4) t;
SELECT tombstone.protect('p.tenants', 'id', history => false);
-- but not as the tenant registry: deleting a tenant through it is not
-- supported on Citus yet (protect_tenants() keeps row history, refused
-- first with TB075; the registration itself refuses a Citus table, TB076)
CREATE TABLE p.registry (id int PRIMARY KEY);
SELECT create_reference_table('p.registry');
SELECT tombstone.protect_tenants('p.registry', 'id');
SELECT count(*) FROM tombstone.protected_tables WHERE table_name = 'p.registry'::regclass;

-- a partitioned distributed table is not supported yet: refused (TB070)
CREATE TABLE p.events (tenant_id int NOT NULL, id int NOT NULL, at date NOT NULL,
                       PRIMARY KEY (tenant_id, id, at)) PARTITION BY RANGE (at);
CREATE TABLE p.events_2025 PARTITION OF p.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
SELECT create_distributed_table('p.events', 'tenant_id', colocate_with => 'p.issues');
SELECT tombstone.protect('p.events', 'tenant_id', history => false);
SELECT tombstone.protect('p.events_2025', 'tenant_id', history => false);
SELECT count(*) FROM tombstone.protected_tables WHERE table_name::text LIKE 'p.events%';

-- protected first, then distributed: Citus wants citus.enable_unsafe_triggers
-- for a table with triggers (documented in the README)
CREATE TABLE p.early (tenant_id int NOT NULL, id int NOT NULL, PRIMARY KEY (tenant_id, id));
INSERT INTO p.early SELECT t, i FROM generate_series(1, 4) t, generate_series(1, 3) i;
SELECT tombstone.protect('p.early', 'tenant_id', history => false);
DELETE FROM p.early WHERE tenant_id = 1 AND id = 1;
SELECT create_distributed_table('p.early', 'tenant_id');
BEGIN;
SET LOCAL citus.enable_unsafe_triggers = on;
SELECT create_distributed_table('p.early', 'tenant_id', colocate_with => 'p.issues');
COMMIT;
SELECT logicalrelid, partmethod FROM pg_dist_partition WHERE logicalrelid::text LIKE 'p.%' ORDER BY 1::text;
-- the tombstone made before distributing is still a tombstone
SELECT count(*) FROM p.early;
SET tombstone.visibility = 'all';
SELECT count(*), count(deleted_at) FROM p.early;
RESET tombstone.visibility;
-- the local copy Citus leaves behind cannot be truncated (TB073)
SELECT truncate_local_data_after_distributing_table('p.early');

-- every protected Citus table tombstones on DELETE
DELETE FROM p.issues WHERE tenant_id = 1 AND id = 1;
DELETE FROM p.comments WHERE tenant_id = 1 AND id = 1;
DELETE FROM p.tenants WHERE id = 4;
DELETE FROM p.early WHERE tenant_id = 2 AND id = 1;
SET tombstone.visibility = 'deleted';
SELECT 'issues', tenant_id, id FROM p.issues
UNION ALL SELECT 'comments', tenant_id, id FROM p.comments
UNION ALL SELECT 'tenants', id, id FROM p.tenants
UNION ALL SELECT 'early', tenant_id, id FROM p.early ORDER BY 1, 2, 3;
RESET tombstone.visibility;
