-- Issue 17, item 2: DELETE on a protected distributed table tombstones the
-- rows on their shards, returns DELETE n, and writes one ledger entry on
-- the coordinator with per-tenant counts; a DELETE across tenants needs a
-- token (TB030); tombstone.visibility never lets a DELETE skip the guard.
\set VERBOSITY sqlstate
SET client_min_messages = warning;
CREATE SCHEMA d;
SELECT coalesce(max(id), 0) AS base FROM tombstone.changes \gset
CREATE TABLE d.issues (tenant_id int NOT NULL, id int NOT NULL, title text, PRIMARY KEY (tenant_id, id));
SELECT create_distributed_table('d.issues', 'tenant_id');
INSERT INTO d.issues SELECT t, i, 'issue ' || i FROM generate_series(1, 10) t, generate_series(1, 5) i;
SELECT tombstone.protect('d.issues', 'tenant_id', history => false);
-- an identical table, not protected, for comparison
CREATE TABLE d.plain (tenant_id int NOT NULL, id int NOT NULL, title text, PRIMARY KEY (tenant_id, id));
SELECT create_distributed_table('d.plain', 'tenant_id', colocate_with => 'd.issues');
INSERT INTO d.plain SELECT t, i, 'issue ' || i FROM generate_series(1, 10) t, generate_series(1, 5) i;

-- a router DELETE of one row
DELETE FROM d.issues WHERE tenant_id = 3 AND id = 5;
-- a DELETE of one tenant, with RETURNING
DELETE FROM d.issues WHERE tenant_id = 4 AND id <= 2 RETURNING tenant_id, id;
-- the rows are on their shards, as tombstones
SET tombstone.visibility = 'all';
SELECT tenant_id, id, deleted_at IS NOT NULL AS tombstoned, deleted_change - :base AS change
  FROM d.issues WHERE tenant_id IN (3, 4) AND deleted_at IS NOT NULL ORDER BY 1, 2;
SELECT count(*) FROM d.issues;
RESET tombstone.visibility;
SELECT count(*) FROM d.issues;
-- one ledger entry per statement, counted per tenant
SELECT id - :base AS change, operation, rows FROM tombstone.changes WHERE id > :base ORDER BY id;

-- a DELETE across tenants is refused without a token, nothing changes
DELETE FROM d.issues WHERE id = 1;
SELECT count(*) FROM d.issues;
-- also under visibility 'all', in a CTE, or through a subquery
SET tombstone.visibility = 'all';
WITH x AS (DELETE FROM d.issues WHERE id < 3 RETURNING 1) SELECT count(*) FROM x;
DELETE FROM d.issues WHERE tenant_id = 5 AND id = 1;
RESET tombstone.visibility;
-- a DELETE of one tenant in a CTE
WITH x AS (DELETE FROM d.issues WHERE tenant_id = 8 AND id = 1 RETURNING id) SELECT count(*) FROM x;
DELETE FROM d.issues WHERE (tenant_id, id) IN (SELECT tenant_id, id FROM d.plain WHERE id = 2);
SET tombstone.visibility = 'all';
SELECT count(*) AS rows, count(deleted_at) AS tombstones FROM d.issues;
RESET tombstone.visibility;

-- with a token naming the tenants, it goes through
SET tombstone.audience = 'pg_tombstone:citus';
SELECT tombstone.add_key('citus', 'HS256', convert_to('citus test secret of 32 bytes+++', 'UTF8'));
BEGIN;
SELECT tombstone.authorize(tombstone.sign('{"op": "delete", "jti": "c-d-1", "iat": 1700000000, "exp": 4102444800,
        "tables": ["d.issues"], "tenants": ["1", "2"], "reason": "ticket 17"}', 'citus'))->>'jti' AS jti;
DELETE FROM d.issues WHERE tenant_id IN (1, 2) AND id = 3;
COMMIT;
-- a token naming other tenants does not
BEGIN;
SELECT tombstone.authorize(tombstone.sign('{"op": "delete", "jti": "c-d-2", "iat": 1700000000, "exp": 4102444800,
        "tables": ["d.issues"], "tenants": ["1", "2"]}', 'citus'))->>'jti' AS jti;
DELETE FROM d.issues WHERE tenant_id IN (7, 8) AND id = 3;
ROLLBACK;
SELECT id - :base AS change, operation, token_id, rows FROM tombstone.changes WHERE id > :base + 2 ORDER BY id;

-- prepared statements (generic plans too) and PL/pgSQL
PREPARE del(int, int) AS DELETE FROM d.issues WHERE tenant_id = $1 AND id = $2;
SET plan_cache_mode = force_generic_plan;
EXECUTE del(6, 1);
EXECUTE del(6, 2);
RESET plan_cache_mode;
EXECUTE del(6, 3);
\set VERBOSITY terse
SET client_min_messages = notice;
DO $$
DECLARE n bigint;
BEGIN
    DELETE FROM d.issues WHERE tenant_id = 9 AND id > 3;
    GET DIAGNOSTICS n = ROW_COUNT;
    RAISE NOTICE 'deleted %', n;
    DELETE FROM d.issues WHERE tenant_id = 9 AND id = 3;
    GET DIAGNOSTICS n = ROW_COUNT;
    RAISE NOTICE 'deleted %', n;
END
$$;
SET client_min_messages = warning;
\set VERBOSITY sqlstate
-- a tombstone is not deleted twice
DELETE FROM d.issues WHERE tenant_id = 6 AND id = 1;
SELECT id - :base AS change, operation, rows FROM tombstone.changes WHERE id > :base + 3 ORDER BY id;

-- DELETE ... USING a colocated table
DELETE FROM d.issues i USING d.plain p WHERE p.tenant_id = i.tenant_id AND p.id = i.id AND i.tenant_id = 10 AND p.id = 4;
-- MERGE ... THEN DELETE is refused with its own code; nothing changes
MERGE INTO d.issues i USING d.plain p ON p.tenant_id = i.tenant_id AND p.id = i.id AND i.tenant_id = 10
  WHEN MATCHED THEN DELETE;
SELECT count(*) FROM d.issues WHERE tenant_id = 10;
-- the unprotected table still deletes physically
DELETE FROM d.plain WHERE tenant_id = 10;
SELECT count(*) FROM d.plain WHERE tenant_id = 10;
-- a hand-written change of the column deleted_change is refused
UPDATE d.issues SET deleted_change = 1 WHERE tenant_id = 10 AND id = 1;
-- a hand-written tombstone is recorded and guarded like a DELETE
UPDATE d.issues SET deleted_at = now() WHERE tenant_id = 10 AND id = 1;
UPDATE d.issues SET deleted_at = now() WHERE id = 5;
SELECT id - :base AS change, operation, rows FROM tombstone.changes WHERE id > :base + 13 ORDER BY id;

-- two tenants whose rows lie in one shard: a single-shard DELETE outside a
-- transaction block is refused, and the shard keeps its rows live
SELECT a.t AS t1, b.t AS t2 FROM generate_series(11, 200) a(t), generate_series(11, 200) b(t)
 WHERE a.t < b.t AND get_shard_id_for_distribution_column('d.issues', a.t) = get_shard_id_for_distribution_column('d.issues', b.t)
 ORDER BY 1, 2 LIMIT 1 \gset
INSERT INTO d.issues VALUES (:t1, 1, 'same shard'), (:t2, 1, 'same shard');
DELETE FROM d.issues WHERE tenant_id IN (:t1, :t2);
SET tombstone.visibility = 'all';
SELECT count(*) AS rows, count(deleted_at) AS tombstones FROM d.issues WHERE tenant_id IN (:t1, :t2);
RESET tombstone.visibility;
SELECT count(*) FROM tombstone.changes WHERE id > :base + 14;
SET tombstone.visibility = 'all';
SELECT tenant_id, count(*) AS rows, count(deleted_at) AS tombstones FROM d.issues GROUP BY 1 ORDER BY 1;
RESET tombstone.visibility;

-- a router DELETE of one tenant refused by the row threshold after its
-- rows changed on the shard (TB033): outside a transaction block too, the
-- shard rolls back
SET tombstone.max_rows_without_token = 2;
DELETE FROM d.issues WHERE tenant_id = 7;
DELETE FROM d.issues WHERE tenant_id = 7 AND id <= 2;
RESET tombstone.max_rows_without_token;
SET tombstone.visibility = 'all';
SELECT count(*) AS rows, count(deleted_at) AS tombstones FROM d.issues WHERE tenant_id = 7;
RESET tombstone.visibility;
SELECT rows FROM tombstone.changes ORDER BY id DESC LIMIT 1;
