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

-- destructive DDL is refused without the library as well (issue 15): an
-- event trigger at ddl_command_start, written in C and loaded on demand
SELECT fp() AS fp \gset
-- goes through (pg_dump --disable-triggers sends it), but pg_tombstone's
-- own triggers are set back to fire ALWAYS
ALTER TABLE accounts DISABLE TRIGGER ALL;
\echo :SQLSTATE
SELECT tgname, tgenabled FROM pg_trigger
 WHERE tgrelid = 'accounts'::regclass AND tgname LIKE 'tombstone%' ORDER BY 1;
ALTER TABLE accounts DISABLE TRIGGER tombstone_guard_delete;
\echo :SQLSTATE
ALTER TABLE accounts ENABLE REPLICA TRIGGER tombstone_guard_truncate;
\echo :SQLSTATE
ALTER TABLE events DETACH PARTITION events_1;
\echo :SQLSTATE
ALTER TABLE accounts SET UNLOGGED;
\echo :SQLSTATE
-- what is not destructive still works, and reaches the history table
ALTER TABLE accounts ALTER COLUMN name TYPE varchar(100);
SELECT format_type(atttypid, atttypmod) AS history_name_type FROM pg_attribute
 WHERE attrelid = 'tombstone_history.accounts'::regclass AND attname = 'name';
-- history tables
-- goes through (pg_dump --disable-triggers sends it), but pg_tombstone's
-- own triggers are set back to fire ALWAYS
ALTER TABLE tombstone_history.accounts DISABLE TRIGGER ALL;
\echo :SQLSTATE
SELECT tgname, tgenabled FROM pg_trigger
 WHERE tgrelid = 'tombstone_history.accounts'::regclass AND tgname LIKE 'tombstone%' ORDER BY 1;
ALTER TABLE tombstone_history.accounts DROP COLUMN name;
\echo :SQLSTATE
ALTER TABLE tombstone_history.accounts ALTER COLUMN valid_to TYPE text;
\echo :SQLSTATE
DROP TRIGGER tombstone_history_guard ON tombstone_history.accounts;
\echo :SQLSTATE
DELETE FROM tombstone_history.accounts;
\echo :SQLSTATE
INSERT INTO tombstone_history.accounts (id, tenant_id, name, valid_from, valid_to)
VALUES (99, 1, 'FORGED', now() - interval '1 s', now());
\echo :SQLSTATE
DROP TABLE tombstone_history.accounts;
\echo :SQLSTATE
-- the ledger and the extension's own tables and functions
INSERT INTO tombstone.changes (id, at, xid, role, session_role, application_name, operation, rows)
VALUES (999, now(), pg_current_xact_id(), 'x', 'x', 'x', 'delete', '[]');
\echo :SQLSTATE
-- goes through (pg_dump --disable-triggers sends it), but pg_tombstone's
-- own triggers are set back to fire ALWAYS
ALTER TABLE tombstone.changes DISABLE TRIGGER ALL;
\echo :SQLSTATE
SELECT tgname, tgenabled FROM pg_trigger
 WHERE tgrelid = 'tombstone.changes'::regclass AND tgname LIKE 'tombstone%' ORDER BY 1;
DELETE FROM tombstone.tables;
\echo :SQLSTATE
UPDATE tombstone.keys SET key = convert_to('a secret the attacker knows, 32 bytes', 'UTF8');
\echo :SQLSTATE
CREATE OR REPLACE FUNCTION tombstone._guard_delete() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN OLD; END$$;
\echo :SQLSTATE
DROP SCHEMA tombstone CASCADE;
\echo :SQLSTATE
DROP EXTENSION pg_tombstone CASCADE;
\echo :SQLSTATE
DROP EXTENSION pg_tombstone;
\echo :SQLSTATE
-- still no physical delete, no TRUNCATE, and every row as it was
DELETE FROM accounts WHERE id = 2;
\echo :SQLSTATE
TRUNCATE accounts;
\echo :SQLSTATE
SELECT fp() = :'fp' AS intact;

\set VERBOSITY default
SELECT hazard, object_name FROM tombstone.check() WHERE hazard = 'library_not_preloaded';

-- nothing changed
SELECT count(*) AS accounts, count(deleted_at) AS tombstoned FROM accounts;
SELECT count(*) AS events FROM events;
SELECT count(*) AS tasks FROM tasks;
SELECT count(*) AS projects FROM projects;
