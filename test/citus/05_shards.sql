-- Issue 17, item 6: nothing destroys a protected shard.  Citus's
-- functions that drop, empty or rebuild shards are refused (TB073), and so
-- is TRUNCATE of the distributed table (TB003); on a worker, changes to a
-- protected shard that do not come from the coordinator are refused
-- (TB074).  A shard move and tenant isolation keep every row and
-- tombstone, and the moved shard stays guarded.
\set VERBOSITY sqlstate
SET client_min_messages = warning;
CREATE SCHEMA s;
CREATE TABLE s.issues (tenant_id int NOT NULL, id int NOT NULL, title text, PRIMARY KEY (tenant_id, id));
SELECT create_distributed_table('s.issues', 'tenant_id', shard_count => 4);
INSERT INTO s.issues SELECT t, i, 'issue ' || i FROM generate_series(1, 8) t, generate_series(1, 5) i;
SELECT tombstone.protect('s.issues', 'tenant_id', history => false);
DELETE FROM s.issues WHERE tenant_id = 3 AND id <= 2;
CREATE VIEW s.state AS
  SELECT count(*) AS rows, count(deleted_at) AS tombstones FROM s.issues;
SET tombstone.visibility = 'all';
SELECT * FROM s.state;
RESET tombstone.visibility;

-- on the coordinator
SELECT citus_drop_all_shards('s.issues', 's', 'issues');
SELECT * FROM citus_drop_all_shards('s.issues'::regclass, 's', 'issues');
SELECT undistribute_table('s.issues');
SELECT alter_distributed_table('s.issues', shard_count => 8);
SELECT alter_table_set_access_method('s.issues', 'columnar');
TRUNCATE s.issues;
DROP TABLE s.issues;
SET tombstone.visibility = 'all';
SELECT * FROM s.state;
RESET tombstone.visibility;

-- on a worker, directly
SELECT shard_name('s.issues'::regclass, s.shardid) AS shard, n.nodeport AS port
  FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid)
 WHERE s.logicalrelid = 's.issues'::regclass
   AND s.shardid = get_shard_id_for_distribution_column('s.issues', 3) \gset
\set QUIET on
\c - - :host :port
\set QUIET off
SET client_min_messages = warning;
SET citus.enable_manual_changes_to_shards = on;
SELECT count(*) AS rows, count(deleted_at) AS tombstones FROM :shard WHERE tenant_id = 3;
DELETE FROM :shard WHERE tenant_id = 3;
UPDATE :shard SET deleted_at = NULL WHERE tenant_id = 3;
INSERT INTO :shard (tenant_id, id) VALUES (3, 99);
ALTER TABLE :shard DISABLE TRIGGER ALL;
TRUNCATE :shard;
DROP TRIGGER tombstone_guard_delete ON :shard;
DROP TABLE :shard;
SELECT count(*) AS rows, count(deleted_at) AS tombstones FROM :shard WHERE tenant_id = 3;
\set QUIET on
\c - - :host :coordinator
\set QUIET off
SET client_min_messages = warning;
\set VERBOSITY sqlstate
-- through run_command_on_shards(): not the coordinator's own statement
SELECT DISTINCT success, left(result, 40) FROM run_command_on_shards('s.issues', $$TRUNCATE %s$$);

-- move the shard of tenant 3 to the other worker
SELECT CASE WHEN :port = :worker1 THEN :worker2 ELSE :worker1 END AS other \gset
SELECT citus_move_shard_placement(get_shard_id_for_distribution_column('s.issues', 3),
       :'host', :port, :'host', :other, shard_transfer_mode => 'block_writes');
CALL citus_cleanup_orphaned_resources();
SELECT n.nodeport = :other AS moved
  FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
 WHERE p.shardid = get_shard_id_for_distribution_column('s.issues', 3);
SET tombstone.visibility = 'all';
SELECT * FROM s.state;
SELECT id, deleted_at IS NOT NULL AS tombstoned FROM s.issues WHERE tenant_id = 3 ORDER BY id;
RESET tombstone.visibility;
SELECT count(*) FROM s.issues WHERE tenant_id = 3;
-- isolate tenant 5 in a shard of its own
SELECT isolate_tenant_to_new_shard('s.issues', 5, shard_transfer_mode => 'block_writes') > 0 AS isolated;
CALL citus_cleanup_orphaned_resources();
DELETE FROM s.issues WHERE tenant_id = 5 AND id = 1;
SET tombstone.visibility = 'all';
SELECT * FROM s.state;
RESET tombstone.visibility;
-- the moved and the new shards are guarded on their worker too
SELECT shard_name('s.issues'::regclass, get_shard_id_for_distribution_column('s.issues', 5)) AS shard5,
       n.nodeport AS port5
  FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
 WHERE p.shardid = get_shard_id_for_distribution_column('s.issues', 5) \gset
\set QUIET on
\c - - :host :port5
\set QUIET off
SET client_min_messages = warning;
SET citus.enable_manual_changes_to_shards = on;
DELETE FROM :shard5;
TRUNCATE :shard5;
\set QUIET on
\c - - :host :other
\set QUIET off
SET client_min_messages = warning;
SET citus.enable_manual_changes_to_shards = on;
TRUNCATE :shard;
\set QUIET on
\c - - :host :coordinator
\set QUIET off
SET tombstone.visibility = 'all';
SELECT * FROM s.state;
