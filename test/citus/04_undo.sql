-- Issue 17, item 4: undelete, undelete_change, preview and purge on a
-- protected distributed table.
\set VERBOSITY sqlstate
SET client_min_messages = warning;
CREATE SCHEMA u;
SELECT coalesce(max(id), 0) AS base FROM tombstone.changes \gset
CREATE TABLE u.issues (tenant_id int NOT NULL, id int NOT NULL, title text, PRIMARY KEY (tenant_id, id));
SELECT create_distributed_table('u.issues', 'tenant_id');
INSERT INTO u.issues SELECT t, i, 'issue ' || i FROM generate_series(1, 5) t, generate_series(1, 4) i;
SELECT tombstone.protect('u.issues', 'tenant_id', retention => '0 seconds', history => false);
DELETE FROM u.issues WHERE tenant_id = 1 AND id <= 2;
DELETE FROM u.issues WHERE tenant_id = 2;
DELETE FROM u.issues WHERE tenant_id = 3 AND id = 4;
SELECT tenant_id, count(*) FROM u.issues GROUP BY 1 ORDER BY 1;

-- undelete one row by its columns
SELECT tombstone.undelete('u.issues', '{"tenant_id": 1, "id": 2}');
-- undelete a whole change: the four rows of tenant 2
SET client_min_messages = notice;
\set VERBOSITY terse
SELECT tombstone.undelete_change(:base + 2);
\set VERBOSITY sqlstate
SET client_min_messages = warning;
SELECT tenant_id, count(*) FROM u.issues GROUP BY 1 ORDER BY 1;
SELECT id - :base AS change, operation, undoes - :base AS undoes, rows FROM tombstone.changes WHERE id > :base ORDER BY id;
-- an undeleted change can be undone again: the rows are tombstoned again
SELECT tombstone.undelete_change(:base + 5);
SELECT tenant_id, count(*) FROM u.issues GROUP BY 1 ORDER BY 1;

-- preview reports per table and tenant and changes nothing
SELECT * FROM tombstone.preview('DELETE FROM u.issues WHERE tenant_id = 4');
SELECT * FROM tombstone.preview('DELETE FROM u.issues WHERE id = 1') ORDER BY tenant;
SELECT tenant_id, count(*) FROM u.issues GROUP BY 1 ORDER BY 1;
SELECT count(*) FROM tombstone.changes WHERE id > :base + 6;

-- purge with its token removes the tombstones (retention 0) from the
-- shards and nothing else, and records what it removed per tenant
SET tombstone.audience = 'pg_tombstone:citus';
SELECT tombstone.add_key('citus-u', 'HS256', convert_to('citus test secret of 32 bytes+++', 'UTF8'));
-- without a token: refused
SELECT * FROM tombstone.purge('u.issues');
BEGIN;
SELECT tombstone.authorize(tombstone.sign('{"op": "purge", "jti": "c-u-1", "iat": 1700000000, "exp": 4102444800,
        "tables": ["u.issues"], "tenants": ["*"]}', 'citus-u'))->>'jti' AS jti;
SELECT * FROM tombstone.purge('u.issues') ORDER BY tenant;
COMMIT;
SHOW tombstone.citus_purge;
SET tombstone.visibility = 'all';
SELECT tenant_id, count(*) AS rows, count(deleted_at) AS tombstones FROM u.issues GROUP BY 1 ORDER BY 1;
RESET tombstone.visibility;
SELECT id - :base AS change, operation, undoes - :base AS undoes, rows FROM tombstone.changes WHERE id > :base + 5 ORDER BY id;
-- a DELETE after the purge is a tombstone again
DELETE FROM u.issues WHERE tenant_id = 4 AND id = 4;
SET tombstone.visibility = 'all';
SELECT count(*) AS rows, count(deleted_at) AS tombstones FROM u.issues WHERE tenant_id = 4;
RESET tombstone.visibility;
-- the setting that lets a purge through on the workers is the purge's own
SET tombstone.citus_purge = on;
