-- Issue 17, item 3: tombstones are hidden from router and multi-shard
-- reads, joins (inner and outer) and subqueries alike.
\set VERBOSITY sqlstate
SET client_min_messages = warning;
CREATE SCHEMA v;
CREATE TABLE v.issues (tenant_id int NOT NULL, id int NOT NULL, title text, PRIMARY KEY (tenant_id, id));
SELECT create_distributed_table('v.issues', 'tenant_id');
CREATE TABLE v.comments (tenant_id int NOT NULL, id int NOT NULL, issue_id int NOT NULL, body text,
                         PRIMARY KEY (tenant_id, id));
SELECT create_distributed_table('v.comments', 'tenant_id', colocate_with => 'v.issues');
CREATE TABLE v.tenants (id int PRIMARY KEY, name text);
SELECT create_reference_table('v.tenants');
INSERT INTO v.tenants SELECT t, 'tenant ' || t FROM generate_series(1, 6) t;
INSERT INTO v.issues SELECT t, i, 'issue ' || i FROM generate_series(1, 6) t, generate_series(1, 4) i;
INSERT INTO v.comments SELECT t, i, i, 'comment ' || i FROM generate_series(1, 6) t, generate_series(1, 4) i;
SELECT tombstone.protect('v.issues', 'tenant_id', history => false);
SELECT tombstone.protect('v.comments', 'tenant_id', history => false);
SELECT tombstone.protect('v.tenants', 'id', history => false);
DELETE FROM v.issues WHERE tenant_id = 2 AND id = 1;
DELETE FROM v.comments WHERE tenant_id = 2 AND id = 2;
DELETE FROM v.tenants WHERE id = 6;

-- router reads of one tenant
SELECT id FROM v.issues WHERE tenant_id = 2 ORDER BY id;
SELECT count(*) FROM v.issues WHERE tenant_id = 2 AND id = 1;
-- multi-shard reads
SELECT count(*) FROM v.issues;
SELECT tenant_id, count(*) FROM v.issues GROUP BY 1 ORDER BY 1;
-- the reference table
SELECT count(*) FROM v.tenants;
-- joins of colocated tables, router and multi-shard
SELECT i.id, c.id AS comment FROM v.issues i JOIN v.comments c USING (tenant_id)
 WHERE i.tenant_id = 2 AND c.issue_id = i.id ORDER BY 1;
SELECT count(*) FROM v.issues i JOIN v.comments c ON c.tenant_id = i.tenant_id AND c.issue_id = i.id;
-- outer joins keep the live rows of the other side, without the tombstones
SELECT i.id, c.id AS comment FROM v.issues i LEFT JOIN v.comments c ON c.tenant_id = i.tenant_id AND c.issue_id = i.id
 WHERE i.tenant_id = 2 ORDER BY 1;
SELECT i.id, c.id AS comment FROM v.comments c RIGHT JOIN v.issues i ON c.tenant_id = i.tenant_id AND c.issue_id = i.id
 WHERE i.tenant_id = 2 ORDER BY 1;
SELECT count(*), count(c.id) FROM v.issues i LEFT JOIN v.comments c ON c.tenant_id = i.tenant_id AND c.issue_id = i.id;
-- joins USING and NATURAL
SELECT i.id, c.id AS comment FROM v.issues i LEFT JOIN v.comments c USING (tenant_id)
 WHERE i.tenant_id = 2 AND (c.issue_id = i.id OR c.issue_id IS NULL) ORDER BY 1;
SELECT count(*) FROM v.issues i LEFT JOIN (SELECT tenant_id, issue_id AS id, body FROM v.comments) c USING (tenant_id, id);
SELECT count(*) FROM v.issues NATURAL JOIN (SELECT tenant_id, issue_id AS id FROM v.comments) c;
SELECT tenant_id, count(*) FROM v.issues i JOIN v.comments c USING (tenant_id) WHERE tenant_id = 2 GROUP BY tenant_id;
-- a join with the reference table
SELECT count(*) FROM v.issues i JOIN v.tenants t ON t.id = i.tenant_id;
SELECT t.id, count(i.id) FROM v.tenants t LEFT JOIN v.issues i ON i.tenant_id = t.id GROUP BY 1 ORDER BY 1;
-- subqueries, CTEs, EXISTS, IN
SELECT count(*) FROM (SELECT * FROM v.issues WHERE tenant_id = 2) s;
WITH x AS (SELECT * FROM v.issues WHERE tenant_id = 2) SELECT count(*) FROM x;
WITH x AS MATERIALIZED (SELECT * FROM v.issues ORDER BY tenant_id, id LIMIT 100) SELECT count(*) FROM x;
SELECT count(*) FROM v.issues i WHERE EXISTS (SELECT 1 FROM v.comments c WHERE c.tenant_id = i.tenant_id AND c.issue_id = i.id);
SELECT count(*) FROM v.issues WHERE tenant_id IN (SELECT id FROM v.tenants);
SELECT count(*) FROM v.issues WHERE tenant_id = 2 AND id NOT IN (SELECT issue_id FROM v.comments WHERE tenant_id = 2);
-- INSERT ... SELECT pushed down to the shards copies live rows only
CREATE TABLE v.copy (tenant_id int NOT NULL, id int NOT NULL, title text);
SELECT create_distributed_table('v.copy', 'tenant_id', colocate_with => 'v.issues');
INSERT INTO v.copy SELECT tenant_id, id, title FROM v.issues;
SELECT count(*) FROM v.copy;
-- a FULL JOIN cannot hide one side's tombstones in SQL: refused
SELECT count(*) FROM v.issues i FULL JOIN v.comments c ON c.tenant_id = i.tenant_id AND c.issue_id = i.id;
-- an UPDATE reaches live rows only
UPDATE v.issues SET title = 'renamed' WHERE tenant_id = 2;
-- visibility 'deleted' and 'all'
SET tombstone.visibility = 'deleted';
SELECT tenant_id, id FROM v.issues ORDER BY 1, 2;
SELECT tenant_id, id FROM v.comments ORDER BY 1, 2;
SELECT id FROM v.tenants;
SET tombstone.visibility = 'all';
SELECT count(*), count(deleted_at) FROM v.issues;
SELECT title, count(*) FROM v.issues WHERE tenant_id = 2 GROUP BY 1 ORDER BY 1;
RESET tombstone.visibility;
-- prepared router reads, custom and generic plans
PREPARE r(int) AS SELECT count(*) FROM v.issues WHERE tenant_id = $1;
EXECUTE r(2);
SET plan_cache_mode = force_generic_plan;
EXECUTE r(2);
RESET plan_cache_mode;
