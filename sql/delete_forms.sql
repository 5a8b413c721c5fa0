-- Every path a DELETE can take becomes a tombstone: command tags and counts
\set SHOW_CONTEXT never
\set VERBOSITY default
\set QUIET off
-- These tests tombstone rows of several tenants per statement; the token
-- guard has tests of its own (guard_tokens), so it is off here.
SET tombstone.guard = off;

CREATE TABLE docs (id int PRIMARY KEY, tenant_id int NOT NULL, title text);
INSERT INTO docs SELECT g, 1 + g % 2, 'doc ' || g FROM generate_series(1, 30) g;
SELECT tombstone.protect('docs', 'tenant_id');
CREATE TABLE tenants (id int PRIMARY KEY, name text);
INSERT INTO tenants VALUES (1, 'acme'), (2, 'globex');

-- the row count a client sees
DELETE FROM docs WHERE id = 1;
DELETE FROM docs WHERE id = 1;
DELETE FROM docs WHERE id IN (1, 2, 3);
DELETE FROM docs WHERE id = 4 RETURNING id, title, deleted_at IS NOT NULL AS tombstoned;
DELETE FROM docs d USING tenants t
 WHERE t.id = d.tenant_id AND t.name = 'acme' AND d.id BETWEEN 5 AND 9;
WITH gone AS (DELETE FROM docs WHERE id IN (10, 11) RETURNING id)
SELECT array_agg(id ORDER BY id) AS tombstoned FROM gone;

-- through an auto-updatable view (the view's quals still apply)
CREATE VIEW globex_docs AS SELECT * FROM docs WHERE tenant_id = 2;
DELETE FROM globex_docs WHERE id IN (12, 13);

-- MERGE ... WHEN MATCHED THEN DELETE
MERGE INTO docs d USING (VALUES (14), (15), (999)) AS v(id) ON d.id = v.id
 WHEN MATCHED THEN DELETE;

-- prepared statements, generic and custom plans
SET plan_cache_mode = force_generic_plan;
PREPARE del_generic(int) AS DELETE FROM docs WHERE id = $1;
EXECUTE del_generic(16);
EXECUTE del_generic(16);
SET plan_cache_mode = force_custom_plan;
PREPARE del_custom(int) AS DELETE FROM docs WHERE id = $1;
EXECUTE del_custom(17);
EXECUTE del_custom(17);
RESET plan_cache_mode;

-- PL/pgSQL, static and dynamic, with GET DIAGNOSTICS
CREATE FUNCTION del_static(i int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    DELETE FROM docs WHERE id = i;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
CREATE FUNCTION del_dynamic(i int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('DELETE FROM %I WHERE id = $1', 'docs') USING i;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
SELECT del_static(18) AS first, del_static(18) AS again;
SELECT del_dynamic(19) AS first, del_dynamic(19) AS again;

-- SQL function
CREATE FUNCTION del_sql(i int) RETURNS SETOF int LANGUAGE sql AS
  'DELETE FROM docs WHERE id = i RETURNING id';
SELECT del_sql(20);

-- the rows are all still there, tombstoned once
SELECT count(*) AS live FROM docs;
SET tombstone.visibility = 'all';
SELECT count(*) AS stored, count(deleted_at) AS tombstoned FROM docs;
RESET tombstone.visibility;

-- optimistic locking as ORMs do it: the affected-row count decides
CREATE TABLE orders (id int PRIMARY KEY, tenant_id int, version int NOT NULL);
INSERT INTO orders VALUES (1, 1, 3), (2, 1, 1);
SELECT tombstone.protect('orders', 'tenant_id');
DELETE FROM orders WHERE id = 1 AND version = 2;  -- stale version: 0
DELETE FROM orders WHERE id = 1 AND version = 3;  -- current version: 1
DELETE FROM orders WHERE id = 1 AND version = 3;  -- already gone: 0

-- a row tombstoned in the same transaction is not counted twice
BEGIN;
DELETE FROM orders WHERE id = 2;
DELETE FROM orders WHERE id = 2;
ROLLBACK;
SELECT id FROM orders;

-- foreign-key ON DELETE CASCADE arriving from an unprotected parent
CREATE TABLE projects (id int PRIMARY KEY, tenant_id int);
CREATE TABLE tasks (id int PRIMARY KEY, tenant_id int,
                    project_id int REFERENCES projects ON DELETE CASCADE);
INSERT INTO projects VALUES (1, 1), (2, 1);
INSERT INTO tasks VALUES (1, 1, 1), (2, 1, 1), (3, 1, 2);
SELECT tombstone.protect('tasks', 'tenant_id');
DELETE FROM projects WHERE id = 1;
SELECT id FROM tasks ORDER BY id;
SET tombstone.visibility = 'deleted';
SELECT id, project_id FROM tasks ORDER BY id;
RESET tombstone.visibility;

-- partitioned tables: through the parent and on a partition directly
CREATE TABLE parts (id int, tenant_id int NOT NULL, payload text) PARTITION BY LIST (tenant_id);
CREATE TABLE parts_1 PARTITION OF parts FOR VALUES IN (1);
CREATE TABLE parts_2 PARTITION OF parts FOR VALUES IN (2);
INSERT INTO parts SELECT g, 1 + g % 2, 'e' || g FROM generate_series(1, 10) g;
SELECT tombstone.protect('parts', 'tenant_id');
DELETE FROM parts WHERE id <= 4;
DELETE FROM parts_1 WHERE id IN (5, 7);
DELETE FROM parts_2 WHERE id IN (5, 6);
MERGE INTO parts e USING (VALUES (8)) AS v(id) ON e.id = v.id WHEN MATCHED THEN DELETE;
SELECT tableoid::regclass AS part, id FROM parts ORDER BY id;
-- an UPDATE moving a row to another partition is not a delete
UPDATE parts SET tenant_id = 2 WHERE id = 10;
SELECT tableoid::regclass AS part, id FROM parts ORDER BY id;
SET tombstone.visibility = 'all';
SELECT count(*) AS stored FROM parts;
RESET tombstone.visibility;

-- privileges are those of DELETE, and row-level security applies
CREATE ROLE tomb_deleter;
GRANT SELECT, DELETE ON docs TO tomb_deleter;
CREATE ROLE tomb_updater;
GRANT SELECT, UPDATE ON docs TO tomb_updater;
SET ROLE tomb_updater;
DELETE FROM docs WHERE id = 21;
RESET ROLE;
ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY sel ON docs FOR SELECT USING (true);
CREATE POLICY del_acme ON docs FOR DELETE USING (tenant_id = 1);
SET ROLE tomb_deleter;
DELETE FROM docs WHERE id IN (21, 22);
RESET ROLE;
ALTER TABLE docs DISABLE ROW LEVEL SECURITY;
SELECT id, tenant_id FROM docs WHERE id IN (21, 22) ORDER BY id;
REVOKE ALL ON docs FROM tomb_deleter, tomb_updater;
DROP ROLE tomb_deleter;
DROP ROLE tomb_updater;
