-- With pg_tombstone not in shared_preload_libraries, protected tables fail
-- closed: every physical delete is refused and says how to fix it.
-- Runs against the database prepared by test/fail_closed_setup.psql.
\set SHOW_CONTEXT never
\set VERBOSITY default
SHOW shared_preload_libraries;
SELECT tombstone._preloaded();

SELECT count(*) AS accounts, count(deleted_at) AS tombstoned FROM accounts;
DELETE FROM accounts WHERE id = 2;
\echo :SQLSTATE
DELETE FROM events WHERE id = 1;
\echo :SQLSTATE
DELETE FROM events_1 WHERE id = 1;
\echo :SQLSTATE
DELETE FROM projects WHERE id = 1;
\echo :SQLSTATE
SET session_replication_role = replica;
\echo :SQLSTATE
DELETE FROM accounts WHERE id = 3;
\echo :SQLSTATE
RESET session_replication_role;
\echo :SQLSTATE
TRUNCATE accounts;
\echo :SQLSTATE
TRUNCATE events_0;
\echo :SQLSTATE
TRUNCATE projects CASCADE;
\echo :SQLSTATE
DROP TABLE accounts;
\echo :SQLSTATE
DROP TABLE events_1;
\echo :SQLSTATE
ALTER TABLE events DETACH PARTITION events_0;
\echo :SQLSTATE
ALTER TABLE accounts DROP COLUMN deleted_at;
\echo :SQLSTATE
DROP TRIGGER tombstone_guard_delete ON accounts;
\echo :SQLSTATE
SELECT tombstone.protect('projects', 'id');
\echo :SQLSTATE
-- a tombstone or undelete written by hand would go unrecorded: refused
UPDATE accounts SET deleted_at = now() WHERE id = 2;
\echo :SQLSTATE
UPDATE accounts SET deleted_at = NULL WHERE id = 1;
\echo :SQLSTATE
UPDATE accounts SET name = 'renamed' WHERE id = 2;
\echo :SQLSTATE
SELECT tombstone.undelete('accounts', '{"id": 1}');
\echo :SQLSTATE
SELECT tombstone.undelete_change(1);
\echo :SQLSTATE
\set VERBOSITY default
SELECT hazard, object_name FROM tombstone.check() WHERE hazard = 'library_not_preloaded';

-- nothing changed
SELECT count(*) AS accounts, count(deleted_at) AS tombstoned FROM accounts;
SELECT count(*) AS events FROM events;
SELECT count(*) AS tasks FROM tasks;
SELECT count(*) AS projects FROM projects;
