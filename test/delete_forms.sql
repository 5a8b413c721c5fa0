-- pg_tombstone: every DELETE form against a plain table, a partitioned
-- table protected at its root (LIST partitions by tenant) and a single
-- partition addressed directly.
--
-- Each form deletes the row (tenant 1, id = number of the form) and checks:
-- the reported row count (psql's ROW_COUNT, i.e. the command tag, for
-- top-level statements; GET DIAGNOSTICS or RETURNING for functions and CTEs),
-- that an immediate repeat reports 0, that the row is still stored with
-- deleted_at = now(), that it is hidden with the default visibility, that a
-- later repeat reports 0 and leaves deleted_at (set to a sentinel in between,
-- since now() does not move within the transaction) alone, and that no other
-- row was touched (tenant 2 has the same ids).
--
-- Not covered here: FK ON DELETE CASCADE from an unprotected parent.  The
-- cascaded tombstone is an UPDATE of the child, for which PostgreSQL re-checks
-- the foreign key when the child row was inserted in the same transaction, and
-- the check fails (23503) because the parent is gone; this file runs inside
-- one transaction.  See the report that came with this file.

\set ECHO none
\set QUIET 1
BEGIN;
-- multi-tenant deletes here test what DELETE does; the token guard has its own tests
SET LOCAL tombstone.guard = off;
SET LOCAL client_min_messages = warning;
SELECT plan(244);

CREATE TABLE df_plain (
    tenant int  NOT NULL,
    id     int  NOT NULL,
    val    text NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE TABLE df_part (
    tenant int  NOT NULL,
    id     int  NOT NULL,
    val    text NOT NULL,
    PRIMARY KEY (tenant, id)
) PARTITION BY LIST (tenant);
CREATE TABLE df_part_t1 PARTITION OF df_part FOR VALUES IN (1);
CREATE TABLE df_part_t2 PARTITION OF df_part FOR VALUES IN (2);
CREATE TABLE df_sub (
    tenant int  NOT NULL,
    id     int  NOT NULL,
    val    text NOT NULL,
    PRIMARY KEY (tenant, id)
) PARTITION BY LIST (tenant);
CREATE TABLE df_sub_t1 PARTITION OF df_sub FOR VALUES IN (1);
CREATE TABLE df_sub_t2 PARTITION OF df_sub FOR VALUES IN (2);

SELECT lives_ok($$SELECT tombstone.protect('df_plain', 'tenant')$$, 'protect df_plain');
SELECT lives_ok($$SELECT tombstone.protect('df_part', 'tenant')$$, 'protect df_part');
SELECT lives_ok($$SELECT tombstone.protect('df_sub', 'tenant')$$, 'protect df_sub');
SELECT results_eq(
    $$SELECT table_name::text, protected_through::text FROM tombstone.protected_tables
       WHERE table_name::text LIKE 'df\_%' ORDER BY 1$$,
    $$VALUES ('df_part', NULL), ('df_part_t1', 'df_part'), ('df_part_t2', 'df_part'),
             ('df_plain', NULL),
             ('df_sub', NULL), ('df_sub_t1', 'df_sub'), ('df_sub_t2', 'df_sub')$$,
    'the three tables and their partitions are protected');

INSERT INTO df_plain SELECT t, i, format('t%s-%s', t, i) FROM generate_series(1, 2) t, generate_series(1, 12) i;
INSERT INTO df_part  SELECT t, i, format('t%s-%s', t, i) FROM generate_series(1, 2) t, generate_series(1, 12) i;
INSERT INTO df_sub   SELECT t, i, format('t%s-%s', t, i) FROM generate_series(1, 2) t, generate_series(1, 12) i;

-- the state every table should have once the rows (1, 1..k) are tombstoned
CREATE FUNCTION df_expected(k int)
RETURNS TABLE (tenant int, id int, val text, tombstoned boolean)
LANGUAGE sql AS $$
    SELECT t, i, format('t%s-%s', t, i), t = 1 AND i <= k
      FROM generate_series(1, 2) t, generate_series(1, 12) i
     ORDER BY 1, 2
$$;

SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_plain ORDER BY tenant, id',
                  'SELECT * FROM df_expected(0)', 'df_plain starts with 24 live rows');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_part ORDER BY tenant, id',
                  'SELECT * FROM df_expected(0)', 'df_part starts with 24 live rows');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_sub ORDER BY tenant, id',
                  'SELECT * FROM df_expected(0)', 'df_sub starts with 24 live rows');

-- keys for DELETE ... USING
CREATE TABLE df_keys (form text, tenant int, id int);
INSERT INTO df_keys VALUES ('using', 1, 2);

-- auto-updatable views
CREATE VIEW df_plain_v AS SELECT tenant, id, val FROM df_plain;
CREATE VIEW df_part_v  AS SELECT tenant, id, val FROM df_part;
CREATE VIEW df_sub_v   AS SELECT tenant, id, val FROM df_sub_t1;

-- PL/pgSQL static DELETE, one function per target
CREATE FUNCTION df_static_plain(p_tenant int, p_id int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    DELETE FROM df_plain WHERE tenant = p_tenant AND id = p_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
CREATE FUNCTION df_static_part(p_tenant int, p_id int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    DELETE FROM df_part WHERE tenant = p_tenant AND id = p_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
CREATE FUNCTION df_static_sub(p_tenant int, p_id int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    DELETE FROM df_sub_t1 WHERE tenant = p_tenant AND id = p_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- PL/pgSQL dynamic DELETE
CREATE FUNCTION df_dynamic(tbl regclass, p_tenant int, p_id int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('DELETE FROM %s WHERE tenant = $1 AND id = $2', tbl) USING p_tenant, p_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- SQL-language functions doing DELETE
CREATE FUNCTION df_sqlfn_plain(p_tenant int, p_id int) RETURNS SETOF int
LANGUAGE sql AS $$
    DELETE FROM df_plain WHERE tenant = p_tenant AND id = p_id RETURNING id
$$;
CREATE FUNCTION df_sqlfn_part(p_tenant int, p_id int) RETURNS SETOF int
LANGUAGE sql AS $$
    DELETE FROM df_part WHERE tenant = p_tenant AND id = p_id RETURNING id
$$;
CREATE FUNCTION df_sqlfn_sub(p_tenant int, p_id int) RETURNS SETOF int
LANGUAGE sql AS $$
    DELETE FROM df_sub_t1 WHERE tenant = p_tenant AND id = p_id RETURNING id
$$;

-- plain DELETE on plain table (row tenant 1, id 1)
DELETE FROM df_plain WHERE tenant = 1 AND id = 1;
SELECT is(:ROW_COUNT, 1, 'plain DELETE on plain table: reports 1 row');
DELETE FROM df_plain WHERE tenant = 1 AND id = 1;
SELECT is(:ROW_COUNT, 0, 'plain DELETE on plain table: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_plain
            WHERE tenant = 1 AND id = 1 AND deleted_at = now()), 1,
          'plain DELETE on plain table: row still stored, deleted_at = now()');
UPDATE df_plain SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 1;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_plain WHERE tenant = 1 AND id = 1), 0,
          'plain DELETE on plain table: row hidden with the default visibility');
DELETE FROM df_plain WHERE tenant = 1 AND id = 1;
SELECT is(:ROW_COUNT, 0, 'plain DELETE on plain table: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_plain WHERE tenant = 1 AND id = 1),
          '2001-02-03 04:05:06+00'::timestamptz, 'plain DELETE on plain table: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_plain ORDER BY tenant, id',
                  'SELECT * FROM df_expected(1)',
                  'plain DELETE on plain table: no other row touched');
RESET tombstone.visibility;

-- DELETE USING on plain table (row tenant 1, id 2)
DELETE FROM df_plain t USING df_keys k
 WHERE k.form = 'using' AND t.tenant = k.tenant AND t.id = k.id;
SELECT is(:ROW_COUNT, 1, 'DELETE USING on plain table: reports 1 row');
DELETE FROM df_plain t USING df_keys k
 WHERE k.form = 'using' AND t.tenant = k.tenant AND t.id = k.id;
SELECT is(:ROW_COUNT, 0, 'DELETE USING on plain table: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_plain
            WHERE tenant = 1 AND id = 2 AND deleted_at = now()), 1,
          'DELETE USING on plain table: row still stored, deleted_at = now()');
UPDATE df_plain SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 2;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_plain WHERE tenant = 1 AND id = 2), 0,
          'DELETE USING on plain table: row hidden with the default visibility');
DELETE FROM df_plain t USING df_keys k
 WHERE k.form = 'using' AND t.tenant = k.tenant AND t.id = k.id;
SELECT is(:ROW_COUNT, 0, 'DELETE USING on plain table: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_plain WHERE tenant = 1 AND id = 2),
          '2001-02-03 04:05:06+00'::timestamptz, 'DELETE USING on plain table: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_plain ORDER BY tenant, id',
                  'SELECT * FROM df_expected(2)',
                  'DELETE USING on plain table: no other row touched');
RESET tombstone.visibility;

-- DELETE RETURNING on plain table (row tenant 1, id 3)
DELETE FROM df_plain WHERE tenant = 1 AND id = 3 RETURNING tenant AS ret_tenant, id AS ret_id \gset
SELECT is(ARRAY[:ROW_COUNT, :ret_tenant, :ret_id], ARRAY[1, 1, 3], 'DELETE RETURNING on plain table: reports 1 row, returning the row');
DELETE FROM df_plain WHERE tenant = 1 AND id = 3 RETURNING tenant, id \g /dev/null
SELECT is(:ROW_COUNT, 0, 'DELETE RETURNING on plain table: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_plain
            WHERE tenant = 1 AND id = 3 AND deleted_at = now()), 1,
          'DELETE RETURNING on plain table: row still stored, deleted_at = now()');
UPDATE df_plain SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 3;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_plain WHERE tenant = 1 AND id = 3), 0,
          'DELETE RETURNING on plain table: row hidden with the default visibility');
DELETE FROM df_plain WHERE tenant = 1 AND id = 3 RETURNING tenant, id \g /dev/null
SELECT is(:ROW_COUNT, 0, 'DELETE RETURNING on plain table: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_plain WHERE tenant = 1 AND id = 3),
          '2001-02-03 04:05:06+00'::timestamptz, 'DELETE RETURNING on plain table: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_plain ORDER BY tenant, id',
                  'SELECT * FROM df_expected(3)',
                  'DELETE RETURNING on plain table: no other row touched');
RESET tombstone.visibility;

-- DELETE in a CTE on plain table (row tenant 1, id 4)
WITH d AS (DELETE FROM df_plain WHERE tenant = 1 AND id = 4 RETURNING id)
SELECT is(count(*)::int, 1, 'DELETE in a CTE on plain table: reports 1 row') FROM d;
WITH d AS (DELETE FROM df_plain WHERE tenant = 1 AND id = 4 RETURNING id)
SELECT is(count(*)::int, 0, 'DELETE in a CTE on plain table: repeated at once, reports 0 rows') FROM d;
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_plain
            WHERE tenant = 1 AND id = 4 AND deleted_at = now()), 1,
          'DELETE in a CTE on plain table: row still stored, deleted_at = now()');
UPDATE df_plain SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 4;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_plain WHERE tenant = 1 AND id = 4), 0,
          'DELETE in a CTE on plain table: row hidden with the default visibility');
WITH d AS (DELETE FROM df_plain WHERE tenant = 1 AND id = 4 RETURNING id)
SELECT is(count(*)::int, 0, 'DELETE in a CTE on plain table: repeated later, reports 0 rows') FROM d;
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_plain WHERE tenant = 1 AND id = 4),
          '2001-02-03 04:05:06+00'::timestamptz, 'DELETE in a CTE on plain table: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_plain ORDER BY tenant, id',
                  'SELECT * FROM df_expected(4)',
                  'DELETE in a CTE on plain table: no other row touched');
RESET tombstone.visibility;

-- DELETE through a view on plain table (row tenant 1, id 5)
DELETE FROM df_plain_v WHERE tenant = 1 AND id = 5;
SELECT is(:ROW_COUNT, 1, 'DELETE through a view on plain table: reports 1 row');
DELETE FROM df_plain_v WHERE tenant = 1 AND id = 5;
SELECT is(:ROW_COUNT, 0, 'DELETE through a view on plain table: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_plain
            WHERE tenant = 1 AND id = 5 AND deleted_at = now()), 1,
          'DELETE through a view on plain table: row still stored, deleted_at = now()');
UPDATE df_plain SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 5;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_plain WHERE tenant = 1 AND id = 5), 0,
          'DELETE through a view on plain table: row hidden with the default visibility');
DELETE FROM df_plain_v WHERE tenant = 1 AND id = 5;
SELECT is(:ROW_COUNT, 0, 'DELETE through a view on plain table: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_plain WHERE tenant = 1 AND id = 5),
          '2001-02-03 04:05:06+00'::timestamptz, 'DELETE through a view on plain table: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_plain ORDER BY tenant, id',
                  'SELECT * FROM df_expected(5)',
                  'DELETE through a view on plain table: no other row touched');
RESET tombstone.visibility;

-- MERGE WHEN MATCHED THEN DELETE on plain table (row tenant 1, id 6)
MERGE INTO df_plain t USING (VALUES (1, 6)) s(tenant, id)
   ON t.tenant = s.tenant AND t.id = s.id
 WHEN MATCHED THEN DELETE;
SELECT is(:ROW_COUNT, 1, 'MERGE WHEN MATCHED THEN DELETE on plain table: reports 1 row');
MERGE INTO df_plain t USING (VALUES (1, 6)) s(tenant, id)
   ON t.tenant = s.tenant AND t.id = s.id
 WHEN MATCHED THEN DELETE;
SELECT is(:ROW_COUNT, 0, 'MERGE WHEN MATCHED THEN DELETE on plain table: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_plain
            WHERE tenant = 1 AND id = 6 AND deleted_at = now()), 1,
          'MERGE WHEN MATCHED THEN DELETE on plain table: row still stored, deleted_at = now()');
UPDATE df_plain SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 6;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_plain WHERE tenant = 1 AND id = 6), 0,
          'MERGE WHEN MATCHED THEN DELETE on plain table: row hidden with the default visibility');
MERGE INTO df_plain t USING (VALUES (1, 6)) s(tenant, id)
   ON t.tenant = s.tenant AND t.id = s.id
 WHEN MATCHED THEN DELETE;
SELECT is(:ROW_COUNT, 0, 'MERGE WHEN MATCHED THEN DELETE on plain table: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_plain WHERE tenant = 1 AND id = 6),
          '2001-02-03 04:05:06+00'::timestamptz, 'MERGE WHEN MATCHED THEN DELETE on plain table: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_plain ORDER BY tenant, id',
                  'SELECT * FROM df_expected(6)',
                  'MERGE WHEN MATCHED THEN DELETE on plain table: no other row touched');
RESET tombstone.visibility;

-- generic-plan EXECUTE on plain table (row tenant 1, id 7)
SET LOCAL plan_cache_mode = force_generic_plan;
PREPARE df_generic_plain(int, int) AS
    DELETE FROM df_plain WHERE tenant = $1 AND id = $2;
EXECUTE df_generic_plain(1, 7);
SELECT is(:ROW_COUNT, 1, 'generic-plan EXECUTE on plain table: reports 1 row');
EXECUTE df_generic_plain(1, 7);
SELECT is(:ROW_COUNT, 0, 'generic-plan EXECUTE on plain table: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_plain
            WHERE tenant = 1 AND id = 7 AND deleted_at = now()), 1,
          'generic-plan EXECUTE on plain table: row still stored, deleted_at = now()');
UPDATE df_plain SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 7;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_plain WHERE tenant = 1 AND id = 7), 0,
          'generic-plan EXECUTE on plain table: row hidden with the default visibility');
EXECUTE df_generic_plain(1, 7);
SELECT is(:ROW_COUNT, 0, 'generic-plan EXECUTE on plain table: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_plain WHERE tenant = 1 AND id = 7),
          '2001-02-03 04:05:06+00'::timestamptz, 'generic-plan EXECUTE on plain table: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_plain ORDER BY tenant, id',
                  'SELECT * FROM df_expected(7)',
                  'generic-plan EXECUTE on plain table: no other row touched');
RESET tombstone.visibility;
SELECT is(ARRAY[generic_plans, custom_plans]::int[], ARRAY[3, 0],
          'generic EXECUTE on plain table: ran with generic plans only')
  FROM pg_prepared_statements WHERE name = 'df_generic_plain';
DEALLOCATE df_generic_plain;
RESET plan_cache_mode;

-- custom-plan EXECUTE on plain table (row tenant 1, id 8)
SET LOCAL plan_cache_mode = force_custom_plan;
PREPARE df_custom_plain(int, int) AS
    DELETE FROM df_plain WHERE tenant = $1 AND id = $2;
EXECUTE df_custom_plain(1, 8);
SELECT is(:ROW_COUNT, 1, 'custom-plan EXECUTE on plain table: reports 1 row');
EXECUTE df_custom_plain(1, 8);
SELECT is(:ROW_COUNT, 0, 'custom-plan EXECUTE on plain table: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_plain
            WHERE tenant = 1 AND id = 8 AND deleted_at = now()), 1,
          'custom-plan EXECUTE on plain table: row still stored, deleted_at = now()');
UPDATE df_plain SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 8;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_plain WHERE tenant = 1 AND id = 8), 0,
          'custom-plan EXECUTE on plain table: row hidden with the default visibility');
EXECUTE df_custom_plain(1, 8);
SELECT is(:ROW_COUNT, 0, 'custom-plan EXECUTE on plain table: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_plain WHERE tenant = 1 AND id = 8),
          '2001-02-03 04:05:06+00'::timestamptz, 'custom-plan EXECUTE on plain table: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_plain ORDER BY tenant, id',
                  'SELECT * FROM df_expected(8)',
                  'custom-plan EXECUTE on plain table: no other row touched');
RESET tombstone.visibility;
SELECT is(ARRAY[generic_plans, custom_plans]::int[], ARRAY[0, 3],
          'custom EXECUTE on plain table: ran with custom plans only')
  FROM pg_prepared_statements WHERE name = 'df_custom_plain';
DEALLOCATE df_custom_plain;
RESET plan_cache_mode;

-- PL/pgSQL static DELETE on plain table (row tenant 1, id 9)
SELECT is(df_static_plain(1, 9), 1::bigint, 'PL/pgSQL static DELETE on plain table: reports 1 row');
SELECT is(df_static_plain(1, 9), 0::bigint, 'PL/pgSQL static DELETE on plain table: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_plain
            WHERE tenant = 1 AND id = 9 AND deleted_at = now()), 1,
          'PL/pgSQL static DELETE on plain table: row still stored, deleted_at = now()');
UPDATE df_plain SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 9;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_plain WHERE tenant = 1 AND id = 9), 0,
          'PL/pgSQL static DELETE on plain table: row hidden with the default visibility');
SELECT is(df_static_plain(1, 9), 0::bigint, 'PL/pgSQL static DELETE on plain table: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_plain WHERE tenant = 1 AND id = 9),
          '2001-02-03 04:05:06+00'::timestamptz, 'PL/pgSQL static DELETE on plain table: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_plain ORDER BY tenant, id',
                  'SELECT * FROM df_expected(9)',
                  'PL/pgSQL static DELETE on plain table: no other row touched');
RESET tombstone.visibility;

-- PL/pgSQL EXECUTE USING on plain table (row tenant 1, id 10)
SELECT is(df_dynamic('df_plain', 1, 10), 1::bigint, 'PL/pgSQL EXECUTE USING on plain table: reports 1 row');
SELECT is(df_dynamic('df_plain', 1, 10), 0::bigint, 'PL/pgSQL EXECUTE USING on plain table: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_plain
            WHERE tenant = 1 AND id = 10 AND deleted_at = now()), 1,
          'PL/pgSQL EXECUTE USING on plain table: row still stored, deleted_at = now()');
UPDATE df_plain SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 10;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_plain WHERE tenant = 1 AND id = 10), 0,
          'PL/pgSQL EXECUTE USING on plain table: row hidden with the default visibility');
SELECT is(df_dynamic('df_plain', 1, 10), 0::bigint, 'PL/pgSQL EXECUTE USING on plain table: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_plain WHERE tenant = 1 AND id = 10),
          '2001-02-03 04:05:06+00'::timestamptz, 'PL/pgSQL EXECUTE USING on plain table: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_plain ORDER BY tenant, id',
                  'SELECT * FROM df_expected(10)',
                  'PL/pgSQL EXECUTE USING on plain table: no other row touched');
RESET tombstone.visibility;

-- SQL function DELETE on plain table (row tenant 1, id 11)
SELECT is((SELECT count(*)::int FROM df_sqlfn_plain(1, 11)), 1, 'SQL function DELETE on plain table: reports 1 row');
SELECT is((SELECT count(*)::int FROM df_sqlfn_plain(1, 11)), 0, 'SQL function DELETE on plain table: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_plain
            WHERE tenant = 1 AND id = 11 AND deleted_at = now()), 1,
          'SQL function DELETE on plain table: row still stored, deleted_at = now()');
UPDATE df_plain SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 11;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_plain WHERE tenant = 1 AND id = 11), 0,
          'SQL function DELETE on plain table: row hidden with the default visibility');
SELECT is((SELECT count(*)::int FROM df_sqlfn_plain(1, 11)), 0, 'SQL function DELETE on plain table: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_plain WHERE tenant = 1 AND id = 11),
          '2001-02-03 04:05:06+00'::timestamptz, 'SQL function DELETE on plain table: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_plain ORDER BY tenant, id',
                  'SELECT * FROM df_expected(11)',
                  'SQL function DELETE on plain table: no other row touched');
RESET tombstone.visibility;

-- plain DELETE on partitioned table (row tenant 1, id 1)
DELETE FROM df_part WHERE tenant = 1 AND id = 1;
SELECT is(:ROW_COUNT, 1, 'plain DELETE on partitioned table: reports 1 row');
DELETE FROM df_part WHERE tenant = 1 AND id = 1;
SELECT is(:ROW_COUNT, 0, 'plain DELETE on partitioned table: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_part
            WHERE tenant = 1 AND id = 1 AND deleted_at = now()), 1,
          'plain DELETE on partitioned table: row still stored, deleted_at = now()');
UPDATE df_part SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 1;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_part WHERE tenant = 1 AND id = 1), 0,
          'plain DELETE on partitioned table: row hidden with the default visibility');
DELETE FROM df_part WHERE tenant = 1 AND id = 1;
SELECT is(:ROW_COUNT, 0, 'plain DELETE on partitioned table: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_part WHERE tenant = 1 AND id = 1),
          '2001-02-03 04:05:06+00'::timestamptz, 'plain DELETE on partitioned table: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_part ORDER BY tenant, id',
                  'SELECT * FROM df_expected(1)',
                  'plain DELETE on partitioned table: no other row touched');
RESET tombstone.visibility;

-- DELETE USING on partitioned table (row tenant 1, id 2)
DELETE FROM df_part t USING df_keys k
 WHERE k.form = 'using' AND t.tenant = k.tenant AND t.id = k.id;
SELECT is(:ROW_COUNT, 1, 'DELETE USING on partitioned table: reports 1 row');
DELETE FROM df_part t USING df_keys k
 WHERE k.form = 'using' AND t.tenant = k.tenant AND t.id = k.id;
SELECT is(:ROW_COUNT, 0, 'DELETE USING on partitioned table: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_part
            WHERE tenant = 1 AND id = 2 AND deleted_at = now()), 1,
          'DELETE USING on partitioned table: row still stored, deleted_at = now()');
UPDATE df_part SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 2;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_part WHERE tenant = 1 AND id = 2), 0,
          'DELETE USING on partitioned table: row hidden with the default visibility');
DELETE FROM df_part t USING df_keys k
 WHERE k.form = 'using' AND t.tenant = k.tenant AND t.id = k.id;
SELECT is(:ROW_COUNT, 0, 'DELETE USING on partitioned table: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_part WHERE tenant = 1 AND id = 2),
          '2001-02-03 04:05:06+00'::timestamptz, 'DELETE USING on partitioned table: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_part ORDER BY tenant, id',
                  'SELECT * FROM df_expected(2)',
                  'DELETE USING on partitioned table: no other row touched');
RESET tombstone.visibility;

-- DELETE RETURNING on partitioned table (row tenant 1, id 3)
DELETE FROM df_part WHERE tenant = 1 AND id = 3 RETURNING tenant AS ret_tenant, id AS ret_id \gset
SELECT is(ARRAY[:ROW_COUNT, :ret_tenant, :ret_id], ARRAY[1, 1, 3], 'DELETE RETURNING on partitioned table: reports 1 row, returning the row');
DELETE FROM df_part WHERE tenant = 1 AND id = 3 RETURNING tenant, id \g /dev/null
SELECT is(:ROW_COUNT, 0, 'DELETE RETURNING on partitioned table: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_part
            WHERE tenant = 1 AND id = 3 AND deleted_at = now()), 1,
          'DELETE RETURNING on partitioned table: row still stored, deleted_at = now()');
UPDATE df_part SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 3;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_part WHERE tenant = 1 AND id = 3), 0,
          'DELETE RETURNING on partitioned table: row hidden with the default visibility');
DELETE FROM df_part WHERE tenant = 1 AND id = 3 RETURNING tenant, id \g /dev/null
SELECT is(:ROW_COUNT, 0, 'DELETE RETURNING on partitioned table: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_part WHERE tenant = 1 AND id = 3),
          '2001-02-03 04:05:06+00'::timestamptz, 'DELETE RETURNING on partitioned table: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_part ORDER BY tenant, id',
                  'SELECT * FROM df_expected(3)',
                  'DELETE RETURNING on partitioned table: no other row touched');
RESET tombstone.visibility;

-- DELETE in a CTE on partitioned table (row tenant 1, id 4)
WITH d AS (DELETE FROM df_part WHERE tenant = 1 AND id = 4 RETURNING id)
SELECT is(count(*)::int, 1, 'DELETE in a CTE on partitioned table: reports 1 row') FROM d;
WITH d AS (DELETE FROM df_part WHERE tenant = 1 AND id = 4 RETURNING id)
SELECT is(count(*)::int, 0, 'DELETE in a CTE on partitioned table: repeated at once, reports 0 rows') FROM d;
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_part
            WHERE tenant = 1 AND id = 4 AND deleted_at = now()), 1,
          'DELETE in a CTE on partitioned table: row still stored, deleted_at = now()');
UPDATE df_part SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 4;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_part WHERE tenant = 1 AND id = 4), 0,
          'DELETE in a CTE on partitioned table: row hidden with the default visibility');
WITH d AS (DELETE FROM df_part WHERE tenant = 1 AND id = 4 RETURNING id)
SELECT is(count(*)::int, 0, 'DELETE in a CTE on partitioned table: repeated later, reports 0 rows') FROM d;
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_part WHERE tenant = 1 AND id = 4),
          '2001-02-03 04:05:06+00'::timestamptz, 'DELETE in a CTE on partitioned table: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_part ORDER BY tenant, id',
                  'SELECT * FROM df_expected(4)',
                  'DELETE in a CTE on partitioned table: no other row touched');
RESET tombstone.visibility;

-- DELETE through a view on partitioned table (row tenant 1, id 5)
DELETE FROM df_part_v WHERE tenant = 1 AND id = 5;
SELECT is(:ROW_COUNT, 1, 'DELETE through a view on partitioned table: reports 1 row');
DELETE FROM df_part_v WHERE tenant = 1 AND id = 5;
SELECT is(:ROW_COUNT, 0, 'DELETE through a view on partitioned table: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_part
            WHERE tenant = 1 AND id = 5 AND deleted_at = now()), 1,
          'DELETE through a view on partitioned table: row still stored, deleted_at = now()');
UPDATE df_part SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 5;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_part WHERE tenant = 1 AND id = 5), 0,
          'DELETE through a view on partitioned table: row hidden with the default visibility');
DELETE FROM df_part_v WHERE tenant = 1 AND id = 5;
SELECT is(:ROW_COUNT, 0, 'DELETE through a view on partitioned table: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_part WHERE tenant = 1 AND id = 5),
          '2001-02-03 04:05:06+00'::timestamptz, 'DELETE through a view on partitioned table: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_part ORDER BY tenant, id',
                  'SELECT * FROM df_expected(5)',
                  'DELETE through a view on partitioned table: no other row touched');
RESET tombstone.visibility;

-- MERGE WHEN MATCHED THEN DELETE on partitioned table (row tenant 1, id 6)
MERGE INTO df_part t USING (VALUES (1, 6)) s(tenant, id)
   ON t.tenant = s.tenant AND t.id = s.id
 WHEN MATCHED THEN DELETE;
SELECT is(:ROW_COUNT, 1, 'MERGE WHEN MATCHED THEN DELETE on partitioned table: reports 1 row');
MERGE INTO df_part t USING (VALUES (1, 6)) s(tenant, id)
   ON t.tenant = s.tenant AND t.id = s.id
 WHEN MATCHED THEN DELETE;
SELECT is(:ROW_COUNT, 0, 'MERGE WHEN MATCHED THEN DELETE on partitioned table: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_part
            WHERE tenant = 1 AND id = 6 AND deleted_at = now()), 1,
          'MERGE WHEN MATCHED THEN DELETE on partitioned table: row still stored, deleted_at = now()');
UPDATE df_part SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 6;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_part WHERE tenant = 1 AND id = 6), 0,
          'MERGE WHEN MATCHED THEN DELETE on partitioned table: row hidden with the default visibility');
MERGE INTO df_part t USING (VALUES (1, 6)) s(tenant, id)
   ON t.tenant = s.tenant AND t.id = s.id
 WHEN MATCHED THEN DELETE;
SELECT is(:ROW_COUNT, 0, 'MERGE WHEN MATCHED THEN DELETE on partitioned table: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_part WHERE tenant = 1 AND id = 6),
          '2001-02-03 04:05:06+00'::timestamptz, 'MERGE WHEN MATCHED THEN DELETE on partitioned table: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_part ORDER BY tenant, id',
                  'SELECT * FROM df_expected(6)',
                  'MERGE WHEN MATCHED THEN DELETE on partitioned table: no other row touched');
RESET tombstone.visibility;

-- generic-plan EXECUTE on partitioned table (row tenant 1, id 7)
SET LOCAL plan_cache_mode = force_generic_plan;
PREPARE df_generic_part(int, int) AS
    DELETE FROM df_part WHERE tenant = $1 AND id = $2;
EXECUTE df_generic_part(1, 7);
SELECT is(:ROW_COUNT, 1, 'generic-plan EXECUTE on partitioned table: reports 1 row');
EXECUTE df_generic_part(1, 7);
SELECT is(:ROW_COUNT, 0, 'generic-plan EXECUTE on partitioned table: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_part
            WHERE tenant = 1 AND id = 7 AND deleted_at = now()), 1,
          'generic-plan EXECUTE on partitioned table: row still stored, deleted_at = now()');
UPDATE df_part SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 7;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_part WHERE tenant = 1 AND id = 7), 0,
          'generic-plan EXECUTE on partitioned table: row hidden with the default visibility');
EXECUTE df_generic_part(1, 7);
SELECT is(:ROW_COUNT, 0, 'generic-plan EXECUTE on partitioned table: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_part WHERE tenant = 1 AND id = 7),
          '2001-02-03 04:05:06+00'::timestamptz, 'generic-plan EXECUTE on partitioned table: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_part ORDER BY tenant, id',
                  'SELECT * FROM df_expected(7)',
                  'generic-plan EXECUTE on partitioned table: no other row touched');
RESET tombstone.visibility;
SELECT is(ARRAY[generic_plans, custom_plans]::int[], ARRAY[3, 0],
          'generic EXECUTE on partitioned table: ran with generic plans only')
  FROM pg_prepared_statements WHERE name = 'df_generic_part';
DEALLOCATE df_generic_part;
RESET plan_cache_mode;

-- custom-plan EXECUTE on partitioned table (row tenant 1, id 8)
SET LOCAL plan_cache_mode = force_custom_plan;
PREPARE df_custom_part(int, int) AS
    DELETE FROM df_part WHERE tenant = $1 AND id = $2;
EXECUTE df_custom_part(1, 8);
SELECT is(:ROW_COUNT, 1, 'custom-plan EXECUTE on partitioned table: reports 1 row');
EXECUTE df_custom_part(1, 8);
SELECT is(:ROW_COUNT, 0, 'custom-plan EXECUTE on partitioned table: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_part
            WHERE tenant = 1 AND id = 8 AND deleted_at = now()), 1,
          'custom-plan EXECUTE on partitioned table: row still stored, deleted_at = now()');
UPDATE df_part SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 8;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_part WHERE tenant = 1 AND id = 8), 0,
          'custom-plan EXECUTE on partitioned table: row hidden with the default visibility');
EXECUTE df_custom_part(1, 8);
SELECT is(:ROW_COUNT, 0, 'custom-plan EXECUTE on partitioned table: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_part WHERE tenant = 1 AND id = 8),
          '2001-02-03 04:05:06+00'::timestamptz, 'custom-plan EXECUTE on partitioned table: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_part ORDER BY tenant, id',
                  'SELECT * FROM df_expected(8)',
                  'custom-plan EXECUTE on partitioned table: no other row touched');
RESET tombstone.visibility;
SELECT is(ARRAY[generic_plans, custom_plans]::int[], ARRAY[0, 3],
          'custom EXECUTE on partitioned table: ran with custom plans only')
  FROM pg_prepared_statements WHERE name = 'df_custom_part';
DEALLOCATE df_custom_part;
RESET plan_cache_mode;

-- PL/pgSQL static DELETE on partitioned table (row tenant 1, id 9)
SELECT is(df_static_part(1, 9), 1::bigint, 'PL/pgSQL static DELETE on partitioned table: reports 1 row');
SELECT is(df_static_part(1, 9), 0::bigint, 'PL/pgSQL static DELETE on partitioned table: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_part
            WHERE tenant = 1 AND id = 9 AND deleted_at = now()), 1,
          'PL/pgSQL static DELETE on partitioned table: row still stored, deleted_at = now()');
UPDATE df_part SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 9;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_part WHERE tenant = 1 AND id = 9), 0,
          'PL/pgSQL static DELETE on partitioned table: row hidden with the default visibility');
SELECT is(df_static_part(1, 9), 0::bigint, 'PL/pgSQL static DELETE on partitioned table: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_part WHERE tenant = 1 AND id = 9),
          '2001-02-03 04:05:06+00'::timestamptz, 'PL/pgSQL static DELETE on partitioned table: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_part ORDER BY tenant, id',
                  'SELECT * FROM df_expected(9)',
                  'PL/pgSQL static DELETE on partitioned table: no other row touched');
RESET tombstone.visibility;

-- PL/pgSQL EXECUTE USING on partitioned table (row tenant 1, id 10)
SELECT is(df_dynamic('df_part', 1, 10), 1::bigint, 'PL/pgSQL EXECUTE USING on partitioned table: reports 1 row');
SELECT is(df_dynamic('df_part', 1, 10), 0::bigint, 'PL/pgSQL EXECUTE USING on partitioned table: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_part
            WHERE tenant = 1 AND id = 10 AND deleted_at = now()), 1,
          'PL/pgSQL EXECUTE USING on partitioned table: row still stored, deleted_at = now()');
UPDATE df_part SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 10;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_part WHERE tenant = 1 AND id = 10), 0,
          'PL/pgSQL EXECUTE USING on partitioned table: row hidden with the default visibility');
SELECT is(df_dynamic('df_part', 1, 10), 0::bigint, 'PL/pgSQL EXECUTE USING on partitioned table: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_part WHERE tenant = 1 AND id = 10),
          '2001-02-03 04:05:06+00'::timestamptz, 'PL/pgSQL EXECUTE USING on partitioned table: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_part ORDER BY tenant, id',
                  'SELECT * FROM df_expected(10)',
                  'PL/pgSQL EXECUTE USING on partitioned table: no other row touched');
RESET tombstone.visibility;

-- SQL function DELETE on partitioned table (row tenant 1, id 11)
SELECT is((SELECT count(*)::int FROM df_sqlfn_part(1, 11)), 1, 'SQL function DELETE on partitioned table: reports 1 row');
SELECT is((SELECT count(*)::int FROM df_sqlfn_part(1, 11)), 0, 'SQL function DELETE on partitioned table: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_part
            WHERE tenant = 1 AND id = 11 AND deleted_at = now()), 1,
          'SQL function DELETE on partitioned table: row still stored, deleted_at = now()');
UPDATE df_part SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 11;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_part WHERE tenant = 1 AND id = 11), 0,
          'SQL function DELETE on partitioned table: row hidden with the default visibility');
SELECT is((SELECT count(*)::int FROM df_sqlfn_part(1, 11)), 0, 'SQL function DELETE on partitioned table: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_part WHERE tenant = 1 AND id = 11),
          '2001-02-03 04:05:06+00'::timestamptz, 'SQL function DELETE on partitioned table: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_part ORDER BY tenant, id',
                  'SELECT * FROM df_expected(11)',
                  'SQL function DELETE on partitioned table: no other row touched');
RESET tombstone.visibility;

-- plain DELETE on partition df_sub_t1 (row tenant 1, id 1)
DELETE FROM df_sub_t1 WHERE tenant = 1 AND id = 1;
SELECT is(:ROW_COUNT, 1, 'plain DELETE on partition df_sub_t1: reports 1 row');
DELETE FROM df_sub_t1 WHERE tenant = 1 AND id = 1;
SELECT is(:ROW_COUNT, 0, 'plain DELETE on partition df_sub_t1: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_sub_t1
            WHERE tenant = 1 AND id = 1 AND deleted_at = now()), 1,
          'plain DELETE on partition df_sub_t1: row still stored, deleted_at = now()');
UPDATE df_sub_t1 SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 1;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_sub_t1 WHERE tenant = 1 AND id = 1), 0,
          'plain DELETE on partition df_sub_t1: row hidden with the default visibility');
DELETE FROM df_sub_t1 WHERE tenant = 1 AND id = 1;
SELECT is(:ROW_COUNT, 0, 'plain DELETE on partition df_sub_t1: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_sub_t1 WHERE tenant = 1 AND id = 1),
          '2001-02-03 04:05:06+00'::timestamptz, 'plain DELETE on partition df_sub_t1: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_sub ORDER BY tenant, id',
                  'SELECT * FROM df_expected(1)',
                  'plain DELETE on partition df_sub_t1: no other row touched');
RESET tombstone.visibility;

-- DELETE USING on partition df_sub_t1 (row tenant 1, id 2)
DELETE FROM df_sub_t1 t USING df_keys k
 WHERE k.form = 'using' AND t.tenant = k.tenant AND t.id = k.id;
SELECT is(:ROW_COUNT, 1, 'DELETE USING on partition df_sub_t1: reports 1 row');
DELETE FROM df_sub_t1 t USING df_keys k
 WHERE k.form = 'using' AND t.tenant = k.tenant AND t.id = k.id;
SELECT is(:ROW_COUNT, 0, 'DELETE USING on partition df_sub_t1: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_sub_t1
            WHERE tenant = 1 AND id = 2 AND deleted_at = now()), 1,
          'DELETE USING on partition df_sub_t1: row still stored, deleted_at = now()');
UPDATE df_sub_t1 SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 2;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_sub_t1 WHERE tenant = 1 AND id = 2), 0,
          'DELETE USING on partition df_sub_t1: row hidden with the default visibility');
DELETE FROM df_sub_t1 t USING df_keys k
 WHERE k.form = 'using' AND t.tenant = k.tenant AND t.id = k.id;
SELECT is(:ROW_COUNT, 0, 'DELETE USING on partition df_sub_t1: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_sub_t1 WHERE tenant = 1 AND id = 2),
          '2001-02-03 04:05:06+00'::timestamptz, 'DELETE USING on partition df_sub_t1: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_sub ORDER BY tenant, id',
                  'SELECT * FROM df_expected(2)',
                  'DELETE USING on partition df_sub_t1: no other row touched');
RESET tombstone.visibility;

-- DELETE RETURNING on partition df_sub_t1 (row tenant 1, id 3)
DELETE FROM df_sub_t1 WHERE tenant = 1 AND id = 3 RETURNING tenant AS ret_tenant, id AS ret_id \gset
SELECT is(ARRAY[:ROW_COUNT, :ret_tenant, :ret_id], ARRAY[1, 1, 3], 'DELETE RETURNING on partition df_sub_t1: reports 1 row, returning the row');
DELETE FROM df_sub_t1 WHERE tenant = 1 AND id = 3 RETURNING tenant, id \g /dev/null
SELECT is(:ROW_COUNT, 0, 'DELETE RETURNING on partition df_sub_t1: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_sub_t1
            WHERE tenant = 1 AND id = 3 AND deleted_at = now()), 1,
          'DELETE RETURNING on partition df_sub_t1: row still stored, deleted_at = now()');
UPDATE df_sub_t1 SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 3;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_sub_t1 WHERE tenant = 1 AND id = 3), 0,
          'DELETE RETURNING on partition df_sub_t1: row hidden with the default visibility');
DELETE FROM df_sub_t1 WHERE tenant = 1 AND id = 3 RETURNING tenant, id \g /dev/null
SELECT is(:ROW_COUNT, 0, 'DELETE RETURNING on partition df_sub_t1: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_sub_t1 WHERE tenant = 1 AND id = 3),
          '2001-02-03 04:05:06+00'::timestamptz, 'DELETE RETURNING on partition df_sub_t1: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_sub ORDER BY tenant, id',
                  'SELECT * FROM df_expected(3)',
                  'DELETE RETURNING on partition df_sub_t1: no other row touched');
RESET tombstone.visibility;

-- DELETE in a CTE on partition df_sub_t1 (row tenant 1, id 4)
WITH d AS (DELETE FROM df_sub_t1 WHERE tenant = 1 AND id = 4 RETURNING id)
SELECT is(count(*)::int, 1, 'DELETE in a CTE on partition df_sub_t1: reports 1 row') FROM d;
WITH d AS (DELETE FROM df_sub_t1 WHERE tenant = 1 AND id = 4 RETURNING id)
SELECT is(count(*)::int, 0, 'DELETE in a CTE on partition df_sub_t1: repeated at once, reports 0 rows') FROM d;
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_sub_t1
            WHERE tenant = 1 AND id = 4 AND deleted_at = now()), 1,
          'DELETE in a CTE on partition df_sub_t1: row still stored, deleted_at = now()');
UPDATE df_sub_t1 SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 4;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_sub_t1 WHERE tenant = 1 AND id = 4), 0,
          'DELETE in a CTE on partition df_sub_t1: row hidden with the default visibility');
WITH d AS (DELETE FROM df_sub_t1 WHERE tenant = 1 AND id = 4 RETURNING id)
SELECT is(count(*)::int, 0, 'DELETE in a CTE on partition df_sub_t1: repeated later, reports 0 rows') FROM d;
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_sub_t1 WHERE tenant = 1 AND id = 4),
          '2001-02-03 04:05:06+00'::timestamptz, 'DELETE in a CTE on partition df_sub_t1: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_sub ORDER BY tenant, id',
                  'SELECT * FROM df_expected(4)',
                  'DELETE in a CTE on partition df_sub_t1: no other row touched');
RESET tombstone.visibility;

-- DELETE through a view on partition df_sub_t1 (row tenant 1, id 5)
DELETE FROM df_sub_v WHERE tenant = 1 AND id = 5;
SELECT is(:ROW_COUNT, 1, 'DELETE through a view on partition df_sub_t1: reports 1 row');
DELETE FROM df_sub_v WHERE tenant = 1 AND id = 5;
SELECT is(:ROW_COUNT, 0, 'DELETE through a view on partition df_sub_t1: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_sub_t1
            WHERE tenant = 1 AND id = 5 AND deleted_at = now()), 1,
          'DELETE through a view on partition df_sub_t1: row still stored, deleted_at = now()');
UPDATE df_sub_t1 SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 5;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_sub_t1 WHERE tenant = 1 AND id = 5), 0,
          'DELETE through a view on partition df_sub_t1: row hidden with the default visibility');
DELETE FROM df_sub_v WHERE tenant = 1 AND id = 5;
SELECT is(:ROW_COUNT, 0, 'DELETE through a view on partition df_sub_t1: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_sub_t1 WHERE tenant = 1 AND id = 5),
          '2001-02-03 04:05:06+00'::timestamptz, 'DELETE through a view on partition df_sub_t1: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_sub ORDER BY tenant, id',
                  'SELECT * FROM df_expected(5)',
                  'DELETE through a view on partition df_sub_t1: no other row touched');
RESET tombstone.visibility;

-- MERGE WHEN MATCHED THEN DELETE on partition df_sub_t1 (row tenant 1, id 6)
MERGE INTO df_sub_t1 t USING (VALUES (1, 6)) s(tenant, id)
   ON t.tenant = s.tenant AND t.id = s.id
 WHEN MATCHED THEN DELETE;
SELECT is(:ROW_COUNT, 1, 'MERGE WHEN MATCHED THEN DELETE on partition df_sub_t1: reports 1 row');
MERGE INTO df_sub_t1 t USING (VALUES (1, 6)) s(tenant, id)
   ON t.tenant = s.tenant AND t.id = s.id
 WHEN MATCHED THEN DELETE;
SELECT is(:ROW_COUNT, 0, 'MERGE WHEN MATCHED THEN DELETE on partition df_sub_t1: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_sub_t1
            WHERE tenant = 1 AND id = 6 AND deleted_at = now()), 1,
          'MERGE WHEN MATCHED THEN DELETE on partition df_sub_t1: row still stored, deleted_at = now()');
UPDATE df_sub_t1 SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 6;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_sub_t1 WHERE tenant = 1 AND id = 6), 0,
          'MERGE WHEN MATCHED THEN DELETE on partition df_sub_t1: row hidden with the default visibility');
MERGE INTO df_sub_t1 t USING (VALUES (1, 6)) s(tenant, id)
   ON t.tenant = s.tenant AND t.id = s.id
 WHEN MATCHED THEN DELETE;
SELECT is(:ROW_COUNT, 0, 'MERGE WHEN MATCHED THEN DELETE on partition df_sub_t1: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_sub_t1 WHERE tenant = 1 AND id = 6),
          '2001-02-03 04:05:06+00'::timestamptz, 'MERGE WHEN MATCHED THEN DELETE on partition df_sub_t1: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_sub ORDER BY tenant, id',
                  'SELECT * FROM df_expected(6)',
                  'MERGE WHEN MATCHED THEN DELETE on partition df_sub_t1: no other row touched');
RESET tombstone.visibility;

-- generic-plan EXECUTE on partition df_sub_t1 (row tenant 1, id 7)
SET LOCAL plan_cache_mode = force_generic_plan;
PREPARE df_generic_sub(int, int) AS
    DELETE FROM df_sub_t1 WHERE tenant = $1 AND id = $2;
EXECUTE df_generic_sub(1, 7);
SELECT is(:ROW_COUNT, 1, 'generic-plan EXECUTE on partition df_sub_t1: reports 1 row');
EXECUTE df_generic_sub(1, 7);
SELECT is(:ROW_COUNT, 0, 'generic-plan EXECUTE on partition df_sub_t1: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_sub_t1
            WHERE tenant = 1 AND id = 7 AND deleted_at = now()), 1,
          'generic-plan EXECUTE on partition df_sub_t1: row still stored, deleted_at = now()');
UPDATE df_sub_t1 SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 7;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_sub_t1 WHERE tenant = 1 AND id = 7), 0,
          'generic-plan EXECUTE on partition df_sub_t1: row hidden with the default visibility');
EXECUTE df_generic_sub(1, 7);
SELECT is(:ROW_COUNT, 0, 'generic-plan EXECUTE on partition df_sub_t1: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_sub_t1 WHERE tenant = 1 AND id = 7),
          '2001-02-03 04:05:06+00'::timestamptz, 'generic-plan EXECUTE on partition df_sub_t1: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_sub ORDER BY tenant, id',
                  'SELECT * FROM df_expected(7)',
                  'generic-plan EXECUTE on partition df_sub_t1: no other row touched');
RESET tombstone.visibility;
SELECT is(ARRAY[generic_plans, custom_plans]::int[], ARRAY[3, 0],
          'generic EXECUTE on partition df_sub_t1: ran with generic plans only')
  FROM pg_prepared_statements WHERE name = 'df_generic_sub';
DEALLOCATE df_generic_sub;
RESET plan_cache_mode;

-- custom-plan EXECUTE on partition df_sub_t1 (row tenant 1, id 8)
SET LOCAL plan_cache_mode = force_custom_plan;
PREPARE df_custom_sub(int, int) AS
    DELETE FROM df_sub_t1 WHERE tenant = $1 AND id = $2;
EXECUTE df_custom_sub(1, 8);
SELECT is(:ROW_COUNT, 1, 'custom-plan EXECUTE on partition df_sub_t1: reports 1 row');
EXECUTE df_custom_sub(1, 8);
SELECT is(:ROW_COUNT, 0, 'custom-plan EXECUTE on partition df_sub_t1: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_sub_t1
            WHERE tenant = 1 AND id = 8 AND deleted_at = now()), 1,
          'custom-plan EXECUTE on partition df_sub_t1: row still stored, deleted_at = now()');
UPDATE df_sub_t1 SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 8;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_sub_t1 WHERE tenant = 1 AND id = 8), 0,
          'custom-plan EXECUTE on partition df_sub_t1: row hidden with the default visibility');
EXECUTE df_custom_sub(1, 8);
SELECT is(:ROW_COUNT, 0, 'custom-plan EXECUTE on partition df_sub_t1: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_sub_t1 WHERE tenant = 1 AND id = 8),
          '2001-02-03 04:05:06+00'::timestamptz, 'custom-plan EXECUTE on partition df_sub_t1: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_sub ORDER BY tenant, id',
                  'SELECT * FROM df_expected(8)',
                  'custom-plan EXECUTE on partition df_sub_t1: no other row touched');
RESET tombstone.visibility;
SELECT is(ARRAY[generic_plans, custom_plans]::int[], ARRAY[0, 3],
          'custom EXECUTE on partition df_sub_t1: ran with custom plans only')
  FROM pg_prepared_statements WHERE name = 'df_custom_sub';
DEALLOCATE df_custom_sub;
RESET plan_cache_mode;

-- PL/pgSQL static DELETE on partition df_sub_t1 (row tenant 1, id 9)
SELECT is(df_static_sub(1, 9), 1::bigint, 'PL/pgSQL static DELETE on partition df_sub_t1: reports 1 row');
SELECT is(df_static_sub(1, 9), 0::bigint, 'PL/pgSQL static DELETE on partition df_sub_t1: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_sub_t1
            WHERE tenant = 1 AND id = 9 AND deleted_at = now()), 1,
          'PL/pgSQL static DELETE on partition df_sub_t1: row still stored, deleted_at = now()');
UPDATE df_sub_t1 SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 9;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_sub_t1 WHERE tenant = 1 AND id = 9), 0,
          'PL/pgSQL static DELETE on partition df_sub_t1: row hidden with the default visibility');
SELECT is(df_static_sub(1, 9), 0::bigint, 'PL/pgSQL static DELETE on partition df_sub_t1: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_sub_t1 WHERE tenant = 1 AND id = 9),
          '2001-02-03 04:05:06+00'::timestamptz, 'PL/pgSQL static DELETE on partition df_sub_t1: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_sub ORDER BY tenant, id',
                  'SELECT * FROM df_expected(9)',
                  'PL/pgSQL static DELETE on partition df_sub_t1: no other row touched');
RESET tombstone.visibility;

-- PL/pgSQL EXECUTE USING on partition df_sub_t1 (row tenant 1, id 10)
SELECT is(df_dynamic('df_sub_t1', 1, 10), 1::bigint, 'PL/pgSQL EXECUTE USING on partition df_sub_t1: reports 1 row');
SELECT is(df_dynamic('df_sub_t1', 1, 10), 0::bigint, 'PL/pgSQL EXECUTE USING on partition df_sub_t1: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_sub_t1
            WHERE tenant = 1 AND id = 10 AND deleted_at = now()), 1,
          'PL/pgSQL EXECUTE USING on partition df_sub_t1: row still stored, deleted_at = now()');
UPDATE df_sub_t1 SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 10;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_sub_t1 WHERE tenant = 1 AND id = 10), 0,
          'PL/pgSQL EXECUTE USING on partition df_sub_t1: row hidden with the default visibility');
SELECT is(df_dynamic('df_sub_t1', 1, 10), 0::bigint, 'PL/pgSQL EXECUTE USING on partition df_sub_t1: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_sub_t1 WHERE tenant = 1 AND id = 10),
          '2001-02-03 04:05:06+00'::timestamptz, 'PL/pgSQL EXECUTE USING on partition df_sub_t1: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_sub ORDER BY tenant, id',
                  'SELECT * FROM df_expected(10)',
                  'PL/pgSQL EXECUTE USING on partition df_sub_t1: no other row touched');
RESET tombstone.visibility;

-- SQL function DELETE on partition df_sub_t1 (row tenant 1, id 11)
SELECT is((SELECT count(*)::int FROM df_sqlfn_sub(1, 11)), 1, 'SQL function DELETE on partition df_sub_t1: reports 1 row');
SELECT is((SELECT count(*)::int FROM df_sqlfn_sub(1, 11)), 0, 'SQL function DELETE on partition df_sub_t1: repeated at once, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM df_sub_t1
            WHERE tenant = 1 AND id = 11 AND deleted_at = now()), 1,
          'SQL function DELETE on partition df_sub_t1: row still stored, deleted_at = now()');
UPDATE df_sub_t1 SET deleted_at = '2001-02-03 04:05:06+00' WHERE tenant = 1 AND id = 11;
RESET tombstone.visibility;
SELECT is((SELECT count(*)::int FROM df_sub_t1 WHERE tenant = 1 AND id = 11), 0,
          'SQL function DELETE on partition df_sub_t1: row hidden with the default visibility');
SELECT is((SELECT count(*)::int FROM df_sqlfn_sub(1, 11)), 0, 'SQL function DELETE on partition df_sub_t1: repeated later, reports 0 rows');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT deleted_at FROM df_sub_t1 WHERE tenant = 1 AND id = 11),
          '2001-02-03 04:05:06+00'::timestamptz, 'SQL function DELETE on partition df_sub_t1: repeated DELETE leaves deleted_at alone');
SELECT results_eq('SELECT tenant, id, val, deleted_at IS NOT NULL FROM df_sub ORDER BY tenant, id',
                  'SELECT * FROM df_expected(11)',
                  'SQL function DELETE on partition df_sub_t1: no other row touched');
RESET tombstone.visibility;

SELECT * FROM finish();
ROLLBACK;
