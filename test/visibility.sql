-- pg_tombstone: tombstoned rows are hidden from every kind of read with the
-- default visibility, without changing the shape of outer joins; UPDATE
-- targets and foreign-key checks do not see them; COPY of a query hides
-- them while COPY of the table exports them; visibility 'all' and 'deleted'
-- behave as named, also for cached plans.
--
-- Data (tenant 1 throughout):
--   vis_parent  1 live, 2 TOMBSTONED, 3 live
--   vis_child   10 -> parent 1 live, 11 -> parent 2 live,
--               12 -> parent 3 TOMBSTONED, 13 -> parent 1 TOMBSTONED
-- so parent 3 has only a tombstoned child and child 11 has only a
-- tombstoned parent.

\set ECHO none
\set QUIET 1
BEGIN;
-- multi-tenant deletes here test what DELETE does; the token guard has its own tests
SET LOCAL tombstone.guard = off;
SET LOCAL client_min_messages = warning;
SELECT plan(71);

CREATE TABLE vis_parent (
    tenant int  NOT NULL,
    id     int  PRIMARY KEY,
    name   text NOT NULL
);
CREATE TABLE vis_child (
    tenant    int NOT NULL,
    id        int PRIMARY KEY,
    parent_id int NOT NULL
);
CREATE TABLE vis_part (
    tenant int NOT NULL,
    id     int NOT NULL,
    PRIMARY KEY (tenant, id)
) PARTITION BY LIST (tenant);
CREATE TABLE vis_part_t1 PARTITION OF vis_part FOR VALUES IN (1);
CREATE TABLE vis_part_t2 PARTITION OF vis_part FOR VALUES IN (2);

SELECT lives_ok($$SELECT tombstone.protect(r, 'tenant')
                    FROM unnest('{vis_parent,vis_child,vis_part}'::regclass[]) r$$,
                'protect the fixture tables');

INSERT INTO vis_parent VALUES (1, 1, 'one'), (1, 2, 'two'), (1, 3, 'three');
INSERT INTO vis_child VALUES (1, 10, 1), (1, 11, 2), (1, 12, 3), (1, 13, 1);
INSERT INTO vis_part VALUES (1, 1), (1, 2), (2, 1), (2, 2);

DELETE FROM vis_child WHERE id IN (12, 13);
SELECT is(:ROW_COUNT, 2, 'fixture: two children tombstoned');
DELETE FROM vis_parent WHERE id = 2;
SELECT is(:ROW_COUNT, 1, 'fixture: parent 2 tombstoned');
DELETE FROM vis_part WHERE id = 2;
SELECT is(:ROW_COUNT, 2, 'fixture: id 2 of both partitions tombstoned');
-- a live child of a tombstoned parent, as a restore of a database that
-- held one brings it back (a SET NULL key would clear it on DELETE)
ALTER TABLE vis_child ADD FOREIGN KEY (parent_id) REFERENCES vis_parent (id) ON DELETE SET NULL;

-- Row count of a COPY ... TO, from GET DIAGNOSTICS.
CREATE FUNCTION vis_copy_rows(copy_sql text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE copy_sql;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- Plan of a query, one line a row.
CREATE FUNCTION vis_plan(query text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || query;
END
$$;

-- SQL functions that the planner inlines
CREATE FUNCTION vis_children_of(p int) RETURNS SETOF vis_child
LANGUAGE sql STABLE AS $$
    SELECT * FROM vis_child WHERE parent_id = p
$$;
CREATE FUNCTION vis_all_ids() RETURNS SETOF int
LANGUAGE sql STABLE AS $$
    SELECT id FROM vis_parent UNION ALL SELECT id FROM vis_child
$$;

CREATE VIEW vis_parent_v AS SELECT id, name FROM vis_parent;
CREATE VIEW vis_family_v AS
    SELECT p.id AS parent, c.id AS child
      FROM vis_parent p LEFT JOIN vis_child c ON c.parent_id = p.id;

--------------------------------------------------------------------------
-- Reads with the default visibility
--------------------------------------------------------------------------

SELECT results_eq('SELECT id FROM vis_parent ORDER BY id', ARRAY[1, 3],
                  'plain SELECT hides the tombstoned parent');
SELECT results_eq('SELECT id FROM vis_child ORDER BY id', ARRAY[10, 11],
                  'plain SELECT hides the tombstoned children');
SELECT results_eq('SELECT count(*)::int FROM vis_parent', ARRAY[2],
                  'count(*) does not count tombstones');
SELECT results_eq('SELECT tenant, id FROM vis_part ORDER BY tenant, id',
                  $$VALUES (1, 1), (2, 1)$$,
                  'SELECT from a partitioned table hides tombstones of every partition');
SELECT results_eq('SELECT id FROM vis_part_t2 ORDER BY id', ARRAY[1],
                  'SELECT from a single partition hides its tombstones');
SELECT results_eq('SELECT id FROM vis_parent WHERE id = 2', ARRAY[]::int[],
                  'lookup of the tombstoned row by primary key finds nothing');

SELECT results_eq(
    'SELECT p.id, c.id FROM vis_parent p JOIN vis_child c ON c.parent_id = p.id ORDER BY 1, 2',
    $$VALUES (1, 10)$$,
    'inner join hides tombstones on both sides');
SELECT results_eq(
    'SELECT p.id, c.id FROM vis_parent p, vis_child c WHERE c.parent_id = p.id ORDER BY 1, 2',
    $$VALUES (1, 10)$$,
    'comma join hides tombstones on both sides');
SELECT results_eq(
    'SELECT p.id, c.id FROM vis_parent p LEFT JOIN vis_child c ON c.parent_id = p.id ORDER BY 1, 2',
    $$VALUES (1, 10), (3, NULL::int)$$,
    'LEFT JOIN: parent whose only child is tombstoned survives with NULLs');
SELECT results_eq(
    'SELECT p.id FROM vis_parent p LEFT JOIN vis_child c ON c.parent_id = p.id WHERE c.id IS NULL',
    ARRAY[3],
    'LEFT JOIN ... IS NULL anti-join finds the parent whose only child is tombstoned');
SELECT results_eq(
    'SELECT p.id, c.id FROM vis_parent p RIGHT JOIN vis_child c ON c.parent_id = p.id ORDER BY 2',
    $$VALUES (1, 10), (NULL::int, 11)$$,
    'RIGHT JOIN: child whose parent is tombstoned survives with NULLs');
SELECT results_eq(
    'SELECT p.id, c.id FROM vis_parent p FULL JOIN vis_child c ON c.parent_id = p.id ORDER BY 1 NULLS LAST, 2',
    $$VALUES (1, 10), (3, NULL::int), (NULL::int, 11)$$,
    'FULL JOIN: both kinds of orphan survive with NULLs, tombstones hidden');
SELECT results_eq(
    'SELECT p.id, c.id FROM vis_child c LEFT JOIN vis_parent p ON p.id = c.parent_id ORDER BY 2',
    $$VALUES (1, 10), (NULL::int, 11)$$,
    'LEFT JOIN with the protected parent on the nullable side');

SELECT results_eq(
    'SELECT id FROM vis_parent WHERE id IN (SELECT parent_id FROM vis_child) ORDER BY id',
    ARRAY[1], 'IN subquery hides tombstones inside and outside');
SELECT results_eq(
    'SELECT id FROM vis_parent p WHERE EXISTS (SELECT 1 FROM vis_child c WHERE c.parent_id = p.id) ORDER BY id',
    ARRAY[1], 'EXISTS hides tombstoned children');
SELECT results_eq(
    'SELECT id FROM vis_parent p WHERE NOT EXISTS (SELECT 1 FROM vis_child c WHERE c.parent_id = p.id) ORDER BY id',
    ARRAY[3], 'NOT EXISTS: a parent with only tombstoned children has none');
SELECT results_eq(
    'SELECT id FROM vis_child c WHERE c.parent_id NOT IN (SELECT id FROM vis_parent) ORDER BY id',
    ARRAY[11], 'NOT IN: a child of a tombstoned parent references no visible parent');
SELECT results_eq(
    'SELECT p.id, (SELECT count(*)::int FROM vis_child c WHERE c.parent_id = p.id) FROM vis_parent p ORDER BY 1',
    $$VALUES (1, 1), (3, 0)$$,
    'scalar subquery counts only live children');
SELECT results_eq('SELECT (SELECT sum(id)::int FROM vis_parent)', ARRAY[4],
                  'uncorrelated scalar subquery hides tombstones');

SELECT results_eq('SELECT id FROM vis_parent UNION ALL SELECT id FROM vis_child ORDER BY 1',
                  ARRAY[1, 3, 10, 11], 'UNION ALL hides tombstones in every branch');
SELECT results_eq('SELECT id FROM vis_parent UNION ALL SELECT id FROM vis_parent ORDER BY 1',
                  ARRAY[1, 1, 3, 3], 'UNION ALL of the same protected table hides tombstones in both branches');
SELECT results_eq('WITH x AS MATERIALIZED (SELECT id FROM vis_child) SELECT id FROM x ORDER BY id',
                  ARRAY[10, 11], 'materialized CTE hides tombstones');

SELECT ok(NOT EXISTS (SELECT 1 FROM vis_plan('SELECT id FROM vis_children_of(1)') l
                       WHERE l ~ 'Function Scan'),
          'vis_children_of() is inlined (no Function Scan in the plan)');
SELECT results_eq('SELECT id FROM vis_children_of(1) ORDER BY id', ARRAY[10],
                  'inlined SQL set-returning function hides tombstones');
SELECT results_eq(
    'SELECT p.id, c.id FROM vis_parent p LEFT JOIN LATERAL vis_children_of(p.id) c ON true ORDER BY 1, 2',
    $$VALUES (1, 10), (3, NULL::int)$$,
    'inlined SQL function on the nullable side of a LEFT JOIN LATERAL keeps the outer row');
SELECT results_eq('SELECT * FROM vis_all_ids() x ORDER BY 1', ARRAY[1, 3, 10, 11],
                  'inlined SQL function with a UNION ALL body hides tombstones in both branches');

SELECT results_eq('SELECT id FROM vis_parent_v ORDER BY id', ARRAY[1, 3],
                  'view hides tombstones');
SELECT results_eq('SELECT parent, child FROM vis_family_v ORDER BY 1, 2',
                  $$VALUES (1, 10), (3, NULL::int)$$,
                  'view with a LEFT JOIN keeps the outer row, hides tombstones');

-- a partition protected on its own under an unprotected parent
CREATE TABLE vis_mixed (
    tenant int NOT NULL, id int NOT NULL, deleted_at timestamptz, deleted_change bigint
) PARTITION BY LIST (tenant);
CREATE TABLE vis_mixed_t1 PARTITION OF vis_mixed FOR VALUES IN (1);
CREATE TABLE vis_mixed_t2 PARTITION OF vis_mixed FOR VALUES IN (2);
SELECT lives_ok($$SELECT tombstone.protect('vis_mixed_t1', 'tenant', history => false)$$, 'protect one partition on its own');
INSERT INTO vis_mixed (tenant, id) VALUES (1, 1), (1, 2), (2, 1);
DELETE FROM vis_mixed_t1 WHERE id = 2;
SELECT results_eq('SELECT tenant, id FROM vis_mixed ORDER BY 1, 2', $$VALUES (1, 1), (2, 1)$$,
                  'SELECT through an unprotected parent hides the tombstones of a protected partition');

--------------------------------------------------------------------------
-- Writes and checks
--------------------------------------------------------------------------

UPDATE vis_parent SET name = 'changed' WHERE id = 2;
SELECT is(:ROW_COUNT, 0, 'UPDATE of a tombstoned row reports 0 rows');
UPDATE vis_parent SET name = name || '+';
SELECT is(:ROW_COUNT, 2, 'UPDATE without WHERE updates only the live rows');
UPDATE vis_parent p SET name = name || '*' FROM vis_child c WHERE c.parent_id = p.id;
SELECT is(:ROW_COUNT, 1, 'UPDATE ... FROM a protected table joins only live rows');
SET LOCAL tombstone.visibility = 'all';
SELECT results_eq('SELECT id, name FROM vis_parent ORDER BY id',
                  $$VALUES (1, 'one+*'), (2, 'two'), (3, 'three+')$$,
                  'the tombstoned row was not updated');
RESET tombstone.visibility;

SELECT throws_ok('INSERT INTO vis_child VALUES (1, 20, 2)', '23503', NULL,
                 'FK check: a new child of a tombstoned parent is refused');
SELECT throws_ok('UPDATE vis_child SET parent_id = 2 WHERE id = 10', '23503', NULL,
                 'FK check: pointing a child at a tombstoned parent is refused');
SELECT lives_ok('INSERT INTO vis_child VALUES (1, 21, 3)',
                'FK check: a new child of a live parent is accepted');
DELETE FROM vis_child WHERE id = 21;
SELECT is(:ROW_COUNT, 1, 'the extra child is tombstoned again');

SELECT is(vis_copy_rows($$COPY (SELECT * FROM vis_parent) TO '/dev/null'$$), 2::bigint,
          'COPY (SELECT ...) TO exports only the live rows');
SELECT is(vis_copy_rows($$COPY (SELECT * FROM vis_child c JOIN vis_parent p ON p.id = c.parent_id) TO '/dev/null'$$),
          1::bigint, 'COPY (SELECT ... JOIN ...) TO hides tombstones on both sides');
SELECT is(vis_copy_rows($$COPY vis_parent TO '/dev/null'$$), 3::bigint,
          'COPY table TO exports the tombstoned row as well');
SELECT is(vis_copy_rows($$COPY vis_child (id, deleted_at) TO '/dev/null'$$), 5::bigint,
          'COPY table (columns) TO exports tombstoned rows as well');

--------------------------------------------------------------------------
-- Visibility 'all' and 'deleted'
--------------------------------------------------------------------------

SET LOCAL tombstone.visibility = 'all';
SELECT results_eq('SELECT id FROM vis_parent ORDER BY id', ARRAY[1, 2, 3], 'visibility all: every parent');
SELECT results_eq('SELECT id FROM vis_child ORDER BY id', ARRAY[10, 11, 12, 13, 21], 'visibility all: every child');
SELECT results_eq(
    'SELECT p.id, c.id FROM vis_parent p LEFT JOIN vis_child c ON c.parent_id = p.id ORDER BY 1, 2',
    $$VALUES (1, 10), (1, 13), (2, 11), (3, 12), (3, 21)$$,
    'visibility all: LEFT JOIN sees every row');
SELECT results_eq('SELECT tenant, id FROM vis_part ORDER BY 1, 2', $$VALUES (1, 1), (1, 2), (2, 1), (2, 2)$$,
                  'visibility all: every row of the partitioned table');
-- now() does not move within the transaction: mark the tombstone first
UPDATE vis_parent SET deleted_at = '2001-02-03 04:05:06+00' WHERE id = 2;
DELETE FROM vis_parent WHERE id = 2;
SELECT is(:ROW_COUNT, 0, 'visibility all: DELETE of a tombstoned row reports 0 rows');
SELECT is((SELECT deleted_at FROM vis_parent WHERE id = 2), '2001-02-03 04:05:06+00'::timestamptz,
          'visibility all: DELETE of a tombstoned row leaves deleted_at alone');

SET LOCAL tombstone.visibility = 'deleted';
SELECT results_eq('SELECT id FROM vis_parent ORDER BY id', ARRAY[2], 'visibility deleted: only the tombstoned parent');
SELECT results_eq('SELECT id FROM vis_child ORDER BY id', ARRAY[12, 13, 21], 'visibility deleted: only tombstoned children');
SELECT results_eq('SELECT tenant, id FROM vis_part ORDER BY 1, 2', $$VALUES (1, 2), (2, 2)$$,
                  'visibility deleted: only tombstones of the partitioned table');
SELECT results_eq(
    'SELECT c.id, p.id FROM vis_child c LEFT JOIN vis_parent p ON p.id = c.parent_id ORDER BY 1',
    $$VALUES (12, NULL::int), (13, NULL::int), (21, NULL::int)$$,
    'visibility deleted: LEFT JOIN keeps tombstoned children whose parents are live');
DELETE FROM vis_parent WHERE id = 2;
SELECT is(:ROW_COUNT, 0, 'visibility deleted: DELETE of a tombstoned row reports 0 rows');
DELETE FROM vis_parent WHERE id = 1;
SELECT is(:ROW_COUNT, 0, 'visibility deleted: DELETE cannot reach a live row it does not see');

SET LOCAL tombstone.visibility = 'all';
DELETE FROM vis_part WHERE tenant = 2;
SELECT is(:ROW_COUNT, 1, 'visibility all: DELETE tombstones only the live row of the two it sees');
SELECT results_eq('SELECT tenant, id, deleted_at IS NOT NULL FROM vis_part ORDER BY 1, 2',
                  $$VALUES (1, 1, false), (1, 2, true), (2, 1, true), (2, 2, true)$$,
                  'visibility all: the rows are all still there');
RESET tombstone.visibility;
SELECT results_eq('SELECT tenant, id FROM vis_part ORDER BY 1, 2', $$VALUES (1, 1)$$,
                  'back to the default visibility: only the live row');

--------------------------------------------------------------------------
-- A visibility change reaches cached plans
--------------------------------------------------------------------------

SET LOCAL plan_cache_mode = force_generic_plan;
PREPARE vis_prepared(int) AS SELECT id FROM vis_parent WHERE tenant = $1 ORDER BY id;
SELECT results_eq('EXECUTE vis_prepared(1)', ARRAY[1, 3], 'prepared statement, default visibility');
SET LOCAL tombstone.visibility = 'all';
SELECT results_eq('EXECUTE vis_prepared(1)', ARRAY[1, 2, 3], 'prepared statement after SET visibility all');
SET LOCAL tombstone.visibility = 'deleted';
SELECT results_eq('EXECUTE vis_prepared(1)', ARRAY[2], 'prepared statement after SET visibility deleted');
RESET tombstone.visibility;
SELECT results_eq('EXECUTE vis_prepared(1)', ARRAY[1, 3], 'prepared statement after RESET visibility');
SELECT is((SELECT generic_plans > 0 AND custom_plans = 0 FROM pg_prepared_statements WHERE name = 'vis_prepared'),
          true, 'the prepared statement ran with generic plans only');
DEALLOCATE vis_prepared;
RESET plan_cache_mode;

CREATE FUNCTION vis_count_parents() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    SELECT count(*) INTO n FROM vis_parent;
    RETURN n;
END
$$;
SELECT is(vis_count_parents(), 2::bigint, 'PL/pgSQL function, default visibility');
SELECT is(vis_count_parents(), 2::bigint, 'PL/pgSQL function, default visibility, cached plan');
SET LOCAL tombstone.visibility = 'all';
SELECT is(vis_count_parents(), 3::bigint, 'PL/pgSQL function after SET visibility all');
SET LOCAL tombstone.visibility = 'deleted';
SELECT is(vis_count_parents(), 1::bigint, 'PL/pgSQL function after SET visibility deleted');
RESET tombstone.visibility;
SELECT is(vis_count_parents(), 2::bigint, 'PL/pgSQL function after RESET visibility');

SELECT * FROM finish();
ROLLBACK;
