-- Nothing is destroyed: every destructive path is refused, rows intact
\set QUIET off
\set SHOW_CONTEXT never
\set VERBOSITY default
-- These tests tombstone rows of several tenants per statement; the token
-- guard has tests of its own (guard_tokens), so it is off here.
SET tombstone.guard = off;

CREATE SCHEMA app;
CREATE TABLE app.accounts (id int PRIMARY KEY, tenant_id int NOT NULL, name text);
INSERT INTO app.accounts SELECT g, g % 4, 'a' || g FROM generate_series(1, 20) g;
SELECT tombstone.protect('app.accounts', 'tenant_id');
DELETE FROM app.accounts WHERE id <= 5;
CREATE TABLE app.events (id int, tenant_id int NOT NULL) PARTITION BY LIST (tenant_id);
CREATE TABLE app.events_1 PARTITION OF app.events FOR VALUES IN (1);
CREATE TABLE app.events_2 PARTITION OF app.events FOR VALUES IN (2);
INSERT INTO app.events SELECT g, 1 + g % 2 FROM generate_series(1, 10) g;
SELECT tombstone.protect('app.events', 'tenant_id');
CREATE TABLE app.plain (id int PRIMARY KEY);
INSERT INTO app.plain VALUES (1);
CREATE TABLE app.refs (id int PRIMARY KEY, tenant_id int, plain_id int REFERENCES app.plain);
INSERT INTO app.refs VALUES (1, 1, 1);
SELECT tombstone.protect('app.refs', 'tenant_id');

CREATE FUNCTION stored_rows() RETURNS TABLE (tbl text, stored bigint)
LANGUAGE plpgsql SET tombstone.visibility = 'all' AS $$
BEGIN
    RETURN QUERY SELECT 'accounts', count(*) FROM app.accounts
           UNION ALL SELECT 'events', count(*) FROM app.events
           UNION ALL SELECT 'refs', count(*) FROM app.refs;
END $$;
SELECT * FROM stored_rows();

TRUNCATE app.accounts;
\echo :SQLSTATE
TRUNCATE ONLY app.events_1;
\echo :SQLSTATE
TRUNCATE app.events;
\echo :SQLSTATE
TRUNCATE app.plain CASCADE;
\echo :SQLSTATE
DROP TABLE app.accounts;
\echo :SQLSTATE
DROP TABLE app.events_2;
\echo :SQLSTATE
-- drops only the foreign key of app.refs: no row is lost
DROP TABLE app.plain CASCADE;
\echo :SQLSTATE
DROP SCHEMA app CASCADE;
\echo :SQLSTATE
ALTER TABLE app.accounts DROP COLUMN deleted_at;
\echo :SQLSTATE
ALTER TABLE app.accounts DROP COLUMN deleted_change;
\echo :SQLSTATE
ALTER TABLE app.accounts DROP COLUMN tenant_id;
\echo :SQLSTATE
ALTER TABLE app.events DROP COLUMN deleted_at;
\echo :SQLSTATE
ALTER TABLE app.accounts ALTER COLUMN deleted_at TYPE text;
\echo :SQLSTATE
ALTER TABLE app.accounts RENAME COLUMN deleted_at TO removed_at;
\echo :SQLSTATE
ALTER TABLE app.accounts DISABLE TRIGGER tombstone_guard_delete;
\echo :SQLSTATE
-- ALL and USER reach every trigger of the table, but pg_tombstone's keep
-- firing always (pg_dump --disable-triggers wraps each table's data in them)
ALTER TABLE app.accounts DISABLE TRIGGER ALL;
\echo :SQLSTATE
SELECT tgname, tgenabled FROM pg_trigger
 WHERE tgrelid = 'app.accounts'::regclass AND tgname LIKE 'tombstone%' ORDER BY tgname;
ALTER TABLE app.accounts ENABLE TRIGGER ALL;
ALTER TABLE app.accounts DISABLE TRIGGER USER;
\echo :SQLSTATE
ALTER TABLE app.accounts ENABLE TRIGGER USER;
SELECT tgname, tgenabled FROM pg_trigger
 WHERE tgrelid = 'app.accounts'::regclass AND tgname LIKE 'tombstone%' ORDER BY tgname;
ALTER TABLE app.accounts ENABLE REPLICA TRIGGER tombstone_guard_delete;
\echo :SQLSTATE
ALTER TABLE app.accounts ENABLE TRIGGER tombstone_guard_truncate;
\echo :SQLSTATE
ALTER TABLE app.events DISABLE TRIGGER ALL;
\echo :SQLSTATE
SELECT count(*) AS guard_triggers_not_always FROM pg_trigger t
  JOIN tombstone._descendants('app.events') d ON d.relid = t.tgrelid
 WHERE t.tgname LIKE 'tombstone%' AND t.tgenabled <> 'A';
ALTER TABLE app.events ENABLE TRIGGER ALL;
ALTER TRIGGER tombstone_guard_delete ON app.accounts RENAME TO gone;
\echo :SQLSTATE
DROP TRIGGER tombstone_guard_delete ON app.accounts;
\echo :SQLSTATE
DROP TRIGGER tombstone_guard_truncate ON app.events_1;
\echo :SQLSTATE
ALTER TABLE app.events DETACH PARTITION app.events_1;
\echo :SQLSTATE
ALTER TABLE app.events DETACH PARTITION app.events_1 CONCURRENTLY;
\echo :SQLSTATE
DROP FUNCTION tombstone._guard_delete() CASCADE;
\echo :SQLSTATE
ALTER EVENT TRIGGER tombstone_sql_drop DISABLE;
\echo :SQLSTATE
DROP EVENT TRIGGER tombstone_sql_drop;
\echo :SQLSTATE
DROP EXTENSION pg_tombstone;
\echo :SQLSTATE
DROP EXTENSION pg_tombstone CASCADE;
\echo :SQLSTATE
DROP SCHEMA tombstone CASCADE;
\echo :SQLSTATE

-- the owner of a protected table cannot take it down with DROP OWNED
CREATE ROLE tomb_owner;
GRANT USAGE, CREATE ON SCHEMA app TO tomb_owner;
SET ROLE tomb_owner;
CREATE TABLE app.owned (id int, tenant_id int);
INSERT INTO app.owned VALUES (1, 1);
SELECT tombstone.protect('app.owned', 'tenant_id');
RESET ROLE;
DROP OWNED BY tomb_owner;
\echo :SQLSTATE
SELECT count(*) AS owned_rows FROM app.owned;
REASSIGN OWNED BY tomb_owner TO CURRENT_USER;
DROP OWNED BY tomb_owner;
\echo :SQLSTATE
DROP ROLE tomb_owner;

-- a column dropped by cascade: the tenant column's domain is dropped
CREATE DOMAIN app.tenant_ref AS int;
CREATE TABLE app.typed (id int, tenant_id app.tenant_ref);
INSERT INTO app.typed VALUES (1, 1);
SELECT tombstone.protect('app.typed', 'tenant_id');
DROP DOMAIN app.tenant_ref CASCADE;
\echo :SQLSTATE
SELECT count(tenant_id) AS typed_rows FROM app.typed;

-- inheritance children cannot leave the protected family
CREATE TABLE app.base (id int, tenant_id int);
CREATE TABLE app.child () INHERITS (app.base);
SELECT tombstone.protect('app.base', 'tenant_id');
ALTER TABLE app.child NO INHERIT app.base;
\echo :SQLSTATE

-- session_replication_role = replica does not switch protection off
SET session_replication_role = replica;
DELETE FROM app.accounts WHERE id = 6;
\echo :SQLSTATE
TRUNCATE app.accounts;
\echo :SQLSTATE
RESET session_replication_role;

-- replacing a guard trigger, renaming an event trigger, typing the table
CREATE FUNCTION let_rows_go() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN OLD; END';
CREATE OR REPLACE TRIGGER tombstone_guard_delete BEFORE DELETE ON app.accounts
    FOR EACH ROW EXECUTE FUNCTION let_rows_go();
\echo :SQLSTATE
ALTER EVENT TRIGGER tombstone_sql_drop RENAME TO harmless;
\echo :SQLSTATE
CREATE TYPE app.account_t AS (id int, tenant_id int, name text,
                              deleted_at timestamptz, deleted_change bigint);
ALTER TABLE app.accounts OF app.account_t;
\echo :SQLSTATE

-- a row moving between partitions could be discarded by a BEFORE INSERT
-- trigger of its new partition after leaving the old one: refused
CREATE FUNCTION discard_row() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
CREATE TRIGGER discard BEFORE INSERT ON app.events_2 FOR EACH ROW EXECUTE FUNCTION discard_row();
UPDATE app.events SET tenant_id = 2 WHERE id = 2;
\echo :SQLSTATE
DROP TRIGGER discard ON app.events_2;
UPDATE app.events SET tenant_id = 2 WHERE id = 2;

-- everything is still there
SELECT * FROM stored_rows();
SELECT count(*) AS live_accounts FROM app.accounts;
SELECT count(*) AS protected FROM tombstone.protected_tables
 WHERE table_name::text LIKE 'app.%';
SELECT tgname, tgenabled FROM pg_trigger
 WHERE tgrelid = 'app.accounts'::regclass ORDER BY tgname;
SELECT evtname, evtenabled FROM pg_event_trigger ORDER BY evtname;

-- unprotected tables are not affected by any of this
CREATE TABLE app.scratch (id int);
INSERT INTO app.scratch VALUES (1);
TRUNCATE app.scratch;
ALTER TABLE app.scratch DISABLE TRIGGER ALL;
DROP TABLE app.scratch;
