-- Integrity of the machinery (issue 15): internal functions, history
-- tables, the ledger and the extension's own tables cannot be destroyed,
-- forged or crashed; UNLOGGED, the extension's own and catalog tables
-- cannot be protected; purge(0) purges nothing; a change inside another
-- gets its own ledger entry; a token's row budget counts every row; a
-- database holding protected tables is not dropped by accident.
--
-- After each group of refusals, fp_intact says whether every row of the
-- protected tables (tombstones included), their history, the ledger,
-- tombstone.tables, keys and token_uses is as it was.  Errors are shown with
-- their detail and hint, followed by their SQLSTATE.
\set QUIET off
\set SHOW_CONTEXT never
\set VERBOSITY default

CREATE DATABASE integrity;
\set QUIET on
\c integrity
\set QUIET off
SET client_min_messages = warning;
CREATE EXTENSION pg_tombstone;
RESET client_min_messages;
SET tombstone.audience = 'pg_tombstone:integrity';
SELECT tombstone.add_key('ops', 'HS256', convert_to('integrity regression secret, 32 bytes+', 'UTF8'));

CREATE SCHEMA i;
CREATE TABLE i.tenants (id text PRIMARY KEY, name text);
CREATE TABLE i.sites (id int PRIMARY KEY, tenant text NOT NULL REFERENCES i.tenants, name text);
CREATE TABLE i.pages (id int PRIMARY KEY, tenant text NOT NULL,
                      site_id int NOT NULL REFERENCES i.sites ON DELETE CASCADE, title text);
CREATE INDEX ON i.sites (tenant);
CREATE INDEX ON i.pages (tenant);
INSERT INTO i.tenants VALUES ('acme', 'Acme'), ('globex', 'Globex');
INSERT INTO i.sites VALUES (1, 'acme', 'shop'), (2, 'acme', 'blog'), (3, 'globex', 'shop'), (4, 'globex', 'wiki');
INSERT INTO i.pages SELECT g, s.tenant, s.id, 'page ' || g
  FROM generate_series(1, 12) g JOIN i.sites s ON s.id = 1 + (g - 1) / 3;
SELECT tombstone.protect_tenants('i.tenants', 'id');
SELECT tombstone.protect('i.sites', 'tenant');
SELECT tombstone.protect('i.pages', 'tenant');

-- a protected table of a role that is not a superuser
CREATE ROLE integrity_owner;
GRANT USAGE, CREATE ON SCHEMA i TO integrity_owner;
SET ROLE integrity_owner;
CREATE TABLE i.hc (id int PRIMARY KEY, tenant text NOT NULL, name text);
INSERT INTO i.hc VALUES (1, 'acme', 'v1'), (2, 'acme', 'w1');
SELECT tombstone.protect('i.hc', 'tenant');
RESET ROLE;

-- some history, tombstones and ledger entries to keep
UPDATE i.pages SET title = title || ' (edited)' WHERE id IN (1, 4);
DELETE FROM i.pages WHERE id = 12;
SET ROLE integrity_owner;
UPDATE i.hc SET name = 'w2' WHERE id = 2;
RESET ROLE;

-- every row that must survive: protected tables (tombstones included),
-- history tables, the ledger, the extension's catalog, keys, token uses
CREATE FUNCTION i.fp() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v text;
    acc text := '';
BEGIN
    SET LOCAL tombstone.visibility = 'all';
    FOR r IN
        SELECT c.oid::regclass AS rel FROM pg_class c
         WHERE c.oid IN (SELECT relid FROM tombstone.tables UNION SELECT history_table FROM tombstone.tables)
            OR c.oid IN ('tombstone.changes'::regclass, 'tombstone.tables'::regclass,
                         'tombstone.tenant_registry'::regclass, 'tombstone.keys'::regclass,
                         'tombstone.token_uses'::regclass)
         ORDER BY c.oid::regclass::text
    LOOP
        EXECUTE format('SELECT count(*) || '':'' || coalesce(md5(string_agg(t::text, '','' ORDER BY t::text)), '''') FROM ONLY %s t', r.rel)
           INTO v;
        acc := acc || r.rel::text || '=' || v || ';';
    END LOOP;
    RETURN md5(acc);
END
$$;
CREATE TABLE i.fp_saved (fp text);
CREATE FUNCTION i.keep_fp() RETURNS boolean LANGUAGE sql AS $$
    DELETE FROM i.fp_saved;
    INSERT INTO i.fp_saved SELECT i.fp();
    SELECT true;
$$;
CREATE VIEW i.fp_intact AS SELECT i.fp() = (SELECT fp FROM i.fp_saved) AS intact;

-- tokens used below
CREATE TABLE i.tok (name text PRIMARY KEY, tok text);
INSERT INTO i.tok VALUES
  ('ddl_hc', tombstone.sign('{"op": "ddl", "jti": "i-ddl-hc", "tables": ["i.hc"], "tenants": ["*"], "max_uses": 100}', 'ops')),
  ('ddl_sites', tombstone.sign('{"op": "ddl", "jti": "i-ddl-sites", "tables": ["i.sites"], "tenants": ["*"], "max_uses": 100}', 'ops')),
  ('purge_all', tombstone.sign('{"op": "purge", "jti": "i-purge", "tables": ["i.sites", "i.pages", "i.tenants", "i.hc"], "tenants": ["*"], "max_uses": 100}', 'ops')),
  ('delete_1', tombstone.sign('{"op": "delete", "jti": "i-delete-1", "tables": ["i.sites", "i.pages"], "tenants": ["acme"], "max_rows": 1, "max_uses": 100}', 'ops')),
  ('delete_8', tombstone.sign('{"op": "delete", "jti": "i-delete-8", "tables": ["i.sites", "i.pages"], "tenants": ["acme"], "max_rows": 8, "max_uses": 100}', 'ops')),
  ('rewind_1', tombstone.sign('{"op": "rewind", "jti": "i-rewind-1", "tables": ["i.tenants", "i.sites", "i.pages", "i.hc"], "tenants": ["globex"], "max_rows": 1, "max_uses": 100}', 'ops')),
  ('rewind_2', tombstone.sign('{"op": "rewind", "jti": "i-rewind-2", "tables": ["i.tenants", "i.sites", "i.pages", "i.hc"], "tenants": ["globex"], "max_rows": 2, "max_uses": 100}', 'ops'));
GRANT SELECT ON i.tok TO integrity_owner;
SELECT i.keep_fp() AS fingerprint_taken;

------------------------------------------------------------------------
-- 1, 3. Internal functions are the extension's own: called directly, by a
-- superuser or a table owner, they refuse before they look at their
-- arguments; protect() and the DDL event triggers still use them
------------------------------------------------------------------------
SELECT tombstone._create_history(0, 'x');
\echo :SQLSTATE
SELECT tombstone._create_history(NULL, NULL);
\echo :SQLSTATE
SELECT tombstone._register('pg_class'::regclass, 'relname', '1 day', false, NULL, NULL);
\echo :SQLSTATE
SELECT tombstone._register('i.tok', 'name', '1 day', false, NULL, NULL);
\echo :SQLSTATE
SELECT tombstone._register_tenants(NULL, NULL);
\echo :SQLSTATE
SELECT tombstone._sync_history('i.pages', 'tombstone_history.sites');
\echo :SQLSTATE
SELECT tombstone._install_triggers('i.tok', false);
\echo :SQLSTATE
SELECT tombstone._uninstall_triggers('i.sites');
\echo :SQLSTATE
SELECT tombstone._unregister(0);
\echo :SQLSTATE
SET ROLE integrity_owner;
SELECT tombstone._register('i.hc', 'tenant', '1 day', false, NULL, NULL);
\echo :SQLSTATE
SELECT tombstone._create_history('i.hc', 'tenant');
\echo :SQLSTATE
SELECT tombstone._sync_history('i.hc', 'tombstone_history.sites');
\echo :SQLSTATE
RESET ROLE;
-- the read-only helpers reject bad input with a proper error
SELECT tombstone._require_token(NULL, NULL);
\echo :SQLSTATE
SELECT tombstone._require_token('unprotect', 0);
\echo :SQLSTATE
SELECT tombstone._require_token('unprotect', 'i.tok');
\echo :SQLSTATE
SELECT * FROM i.fp_intact;
SELECT table_name FROM tombstone.protected_tables ORDER BY table_name::text;
SELECT count(*) AS history_tables FROM pg_class WHERE relnamespace = 'tombstone_history'::regnamespace AND relkind = 'r';
SELECT count(*) AS triggers_on_tok FROM pg_trigger WHERE tgrelid = 'i.tok'::regclass;

------------------------------------------------------------------------
-- 2, 4. History tables: written only by the extension, changed only as
-- the protected table changes
------------------------------------------------------------------------
SET ROLE integrity_owner;
-- the crash: a history column of another type
ALTER TABLE tombstone_history.hc ALTER COLUMN valid_to TYPE text;
\echo :SQLSTATE
ALTER TABLE tombstone_history.hc ALTER COLUMN valid_to TYPE date;
\echo :SQLSTATE
UPDATE i.hc SET name = 'v2' WHERE id = 1;
UPDATE i.hc SET name = 'v3' WHERE id = 1;
SELECT id, name, pg_typeof(valid_to) FROM tombstone_history.hc ORDER BY id, valid_to;
-- destroying or forging history
-- goes through (pg_dump --disable-triggers sends it), but pg_tombstone's
-- own triggers are set back to fire ALWAYS
ALTER TABLE tombstone_history.hc DISABLE TRIGGER ALL;
\echo :SQLSTATE
SELECT tgname, tgenabled FROM pg_trigger
 WHERE tgrelid = 'tombstone_history.hc'::regclass AND tgname LIKE 'tombstone%' ORDER BY 1;
ALTER TABLE tombstone_history.hc DISABLE TRIGGER tombstone_history_guard;
\echo :SQLSTATE
DELETE FROM tombstone_history.hc;
\echo :SQLSTATE
UPDATE tombstone_history.hc SET name = 'forged';
\echo :SQLSTATE
INSERT INTO tombstone_history.hc VALUES (99, 'acme', 'FORGED', NULL, NULL, now() - interval '1 s', now());
\echo :SQLSTATE
COPY tombstone_history.hc (id, tenant, name, valid_from, valid_to) FROM stdin;
98	acme	FORGED	2000-01-01	2000-01-02
\.
\echo :SQLSTATE
TRUNCATE tombstone_history.hc;
\echo :SQLSTATE
DROP TRIGGER tombstone_history_guard ON tombstone_history.hc;
\echo :SQLSTATE
CREATE OR REPLACE TRIGGER tombstone_history_guard BEFORE UPDATE ON tombstone_history.hc
    FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();
\echo :SQLSTATE
ALTER TRIGGER tombstone_history_guard ON tombstone_history.hc RENAME TO x;
\echo :SQLSTATE
ALTER TABLE tombstone_history.hc DROP COLUMN name;
\echo :SQLSTATE
ALTER TABLE tombstone_history.hc ALTER COLUMN tenant TYPE int USING 1;
\echo :SQLSTATE
ALTER TABLE tombstone_history.hc RENAME COLUMN name TO label;
\echo :SQLSTATE
ALTER TABLE tombstone_history.hc SET UNLOGGED;
\echo :SQLSTATE
DROP TABLE tombstone_history.hc;
\echo :SQLSTATE
RESET ROLE;
DROP OWNED BY integrity_owner;
\echo :SQLSTATE
-- as_of() still reads the true history
SELECT id, name FROM tombstone.as_of(NULL::i.hc, 'acme', now()) ORDER BY id;
-- what the extension carries over from the protected table still reaches it
SET ROLE integrity_owner;
ALTER TABLE i.hc ADD COLUMN note text;
ALTER TABLE i.hc RENAME COLUMN note TO remark;
ALTER TABLE i.hc ALTER COLUMN remark TYPE varchar(20);
ALTER TABLE i.hc DROP COLUMN remark;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'tombstone_history.hc'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
RESET ROLE;
-- with a "ddl" token naming the protected table, its history table can be
-- changed: a history column of another type then refuses the UPDATE that
-- would write into it, instead of crashing the server
BEGIN;
SELECT tombstone.authorize(tok) ->> 'jti' AS jti FROM i.tok WHERE name = 'ddl_hc';
ALTER TABLE tombstone_history.hc ALTER COLUMN valid_to TYPE date;
UPDATE i.hc SET name = 'v4' WHERE id = 1;
\echo :SQLSTATE
ROLLBACK;
SELECT i.keep_fp() AS fingerprint_taken;

------------------------------------------------------------------------
-- 4. The ledger, tombstone.tables, the tenant registry, keys and token uses
-- are written only by the extension, even for a superuser
------------------------------------------------------------------------
INSERT INTO tombstone.changes (id, at, xid, role, session_role, application_name, operation, rows)
VALUES (999, now(), pg_current_xact_id(), 'x', 'x', 'x', 'delete', '[]');
\echo :SQLSTATE
UPDATE tombstone.changes SET operation = 'undelete';
\echo :SQLSTATE
-- goes through (pg_dump --disable-triggers sends it), but pg_tombstone's
-- own triggers are set back to fire ALWAYS
ALTER TABLE tombstone.changes DISABLE TRIGGER ALL;
\echo :SQLSTATE
SELECT tgname, tgenabled FROM pg_trigger
 WHERE tgrelid = 'tombstone.changes'::regclass AND tgname LIKE 'tombstone%' ORDER BY 1;
ALTER TABLE tombstone.changes ADD COLUMN extra int;
\echo :SQLSTATE
ALTER TABLE tombstone.changes ALTER COLUMN id TYPE text;
\echo :SQLSTATE
ALTER TABLE tombstone.changes RENAME COLUMN operation TO op;
\echo :SQLSTATE
ALTER TABLE tombstone.changes RENAME TO changes_old;
\echo :SQLSTATE
DELETE FROM tombstone.tables;
\echo :SQLSTATE
INSERT INTO tombstone.tables (relid, tenant_column, retention, history) VALUES ('i.tok', 'name', '1 day', false);
\echo :SQLSTATE
UPDATE tombstone.tables SET tenant_column = 'name';
\echo :SQLSTATE
TRUNCATE tombstone.tables;
\echo :SQLSTATE
DELETE FROM tombstone.tenant_registry;
\echo :SQLSTATE
-- goes through (pg_dump --disable-triggers sends it), but pg_tombstone's
-- own triggers are set back to fire ALWAYS
ALTER TABLE tombstone.tables DISABLE TRIGGER ALL;
\echo :SQLSTATE
SELECT tgname, tgenabled FROM pg_trigger
 WHERE tgrelid = 'tombstone.tables'::regclass AND tgname LIKE 'tombstone%' ORDER BY 1;
ALTER TABLE tombstone.tables DROP COLUMN history_table;
\echo :SQLSTATE
UPDATE tombstone.keys SET key = convert_to('a secret the attacker knows, 32 bytes', 'UTF8');
\echo :SQLSTATE
DELETE FROM tombstone.token_uses;
\echo :SQLSTATE
TRUNCATE tombstone.token_uses;
\echo :SQLSTATE
DROP TRIGGER tombstone_catalog_guard ON tombstone.keys;
\echo :SQLSTATE
CREATE TRIGGER rewrite BEFORE INSERT ON tombstone.tables
    FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();
\echo :SQLSTATE
CREATE RULE swallow AS ON INSERT TO tombstone.tables DO INSTEAD NOTHING;
\echo :SQLSTATE
CREATE OR REPLACE FUNCTION tombstone._guard_delete() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN OLD; END$$;
\echo :SQLSTATE
ALTER EXTENSION pg_tombstone DROP TABLE tombstone.changes;
\echo :SQLSTATE
SELECT * FROM i.fp_intact;
-- the extension's own writers still work
SELECT tombstone.add_key('spare', 'HS256', convert_to('a spare key of at least thirty-two bytes', 'UTF8'));
SELECT tombstone.remove_key('spare');
SELECT key_id FROM tombstone.keys ORDER BY 1;

------------------------------------------------------------------------
-- 5. UNLOGGED loses everything on a crash: refused for protected tables,
-- history tables and the extension's tables
------------------------------------------------------------------------
CREATE UNLOGGED TABLE i.ul (id int PRIMARY KEY, tenant text NOT NULL);
SELECT tombstone.protect('i.ul', 'tenant');
\echo :SQLSTATE
ALTER TABLE i.sites SET UNLOGGED;
\echo :SQLSTATE
ALTER TABLE tombstone_history.sites SET UNLOGGED;
\echo :SQLSTATE
ALTER TABLE tombstone.changes SET UNLOGGED;
\echo :SQLSTATE
ALTER TABLE tombstone.keys SET UNLOGGED;
\echo :SQLSTATE
ALTER SEQUENCE tombstone.changes_id_seq SET UNLOGGED;
\echo :SQLSTATE
CREATE TABLE i.ev (id int, tenant text NOT NULL) PARTITION BY LIST (tenant);
CREATE TABLE i.ev_acme PARTITION OF i.ev FOR VALUES IN ('acme');
SELECT tombstone.protect('i.ev', 'tenant', history => false);
CREATE UNLOGGED TABLE i.ev_globex PARTITION OF i.ev FOR VALUES IN ('globex');
\echo :SQLSTATE
CREATE UNLOGGED TABLE i.ev_other (id int, tenant text NOT NULL, deleted_at timestamptz, deleted_change bigint);
ALTER TABLE i.ev ATTACH PARTITION i.ev_other DEFAULT;
\echo :SQLSTATE
SELECT table_name FROM tombstone.protected_tables WHERE table_name::text LIKE 'i.ev%' ORDER BY table_name::text;
-- with a "ddl" token the table can be made UNLOGGED, and check() says so
BEGIN;
SELECT tombstone.authorize(tok) ->> 'jti' AS jti FROM i.tok WHERE name = 'ddl_hc';
ALTER TABLE i.hc SET UNLOGGED;
SELECT hazard, table_name, object_name, detail, suggestion FROM tombstone.check() WHERE hazard = 'unlogged';
ROLLBACK;
SELECT hazard FROM tombstone.check() WHERE hazard = 'unlogged';
SELECT i.keep_fp() AS fingerprint_taken;

------------------------------------------------------------------------
-- 6. The extension's own tables, catalog and information_schema tables and
-- tables of extensions cannot be protected
------------------------------------------------------------------------
SELECT tombstone.protect('tombstone.changes', 'role');
\echo :SQLSTATE
SELECT tombstone.protect('tombstone.tables', 'tenant_column');
\echo :SQLSTATE
SELECT tombstone.protect('tombstone.keys', 'key_id');
\echo :SQLSTATE
SELECT tombstone.protect('tombstone.token_uses', 'jti');
\echo :SQLSTATE
SELECT tombstone.protect('tombstone_history.sites', 'tenant', history => false);
\echo :SQLSTATE
SELECT tombstone.protect('information_schema.sql_features', 'feature_id');
\echo :SQLSTATE
SELECT tombstone.protect('pg_catalog.pg_class', 'relname');
\echo :SQLSTATE
CREATE TABLE i.member (id int, tenant text);
ALTER EXTENSION plpgsql ADD TABLE i.member;
SELECT tombstone.protect('i.member', 'tenant');
\echo :SQLSTATE
ALTER EXTENSION plpgsql DROP TABLE i.member;
-- nothing was changed, and a DELETE still works
SELECT count(*) AS columns_added FROM pg_attribute
 WHERE attrelid IN ('tombstone.changes'::regclass, 'information_schema.sql_features'::regclass)
   AND attname IN ('deleted_at', 'deleted_change', 'valid_from');
SELECT * FROM i.fp_intact;
BEGIN;
DELETE FROM i.pages WHERE id = 11;
ROLLBACK;

------------------------------------------------------------------------
-- 7. purge() of an invalid table purges nothing
------------------------------------------------------------------------
-- a tombstone older than the retention, which purge(NULL) would remove
SET tombstone.visibility = 'deleted';
UPDATE i.pages SET deleted_at = deleted_at - interval '1 year';
RESET tombstone.visibility;
BEGIN;
SELECT tombstone.authorize(tok) ->> 'jti' AS jti FROM i.tok WHERE name = 'purge_all';
SELECT * FROM tombstone.purge(NULL);
ROLLBACK;
SELECT i.keep_fp() AS fingerprint_taken;
BEGIN;
SELECT tombstone.authorize(tok) ->> 'jti' AS jti FROM i.tok WHERE name = 'purge_all';
SELECT * FROM tombstone.purge(0);
\echo :SQLSTATE
ROLLBACK;
BEGIN;
SELECT tombstone.authorize(tok) ->> 'jti' AS jti FROM i.tok WHERE name = 'purge_all';
SELECT * FROM tombstone.purge('-');
\echo :SQLSTATE
ROLLBACK;
BEGIN;
SELECT tombstone.authorize(tok) ->> 'jti' AS jti FROM i.tok WHERE name = 'purge_all';
SELECT * FROM tombstone.purge(4294967295::oid::regclass, 'acme');
\echo :SQLSTATE
ROLLBACK;
SELECT * FROM i.fp_intact;

------------------------------------------------------------------------
-- 8. A change started inside another gets its own ledger entry
------------------------------------------------------------------------
DELETE FROM i.pages WHERE id = 1;
SELECT max(id) AS c1 FROM tombstone.changes \gset
DELETE FROM i.sites WHERE id = 4 AND tombstone.undelete_change(:c1) >= 0;
SELECT id - :c1 AS after_c1, operation, undoes - :c1 AS undoes_after_c1, rows
  FROM tombstone.changes WHERE id > :c1 ORDER BY id;
SET tombstone.visibility = 'all';
SELECT id, deleted_at IS NULL AS live FROM i.pages WHERE id IN (1, 10, 11) ORDER BY id;
RESET tombstone.visibility;
-- two undos in one statement: two entries
DELETE FROM i.pages WHERE id = 3;
SELECT max(id) AS c2 FROM tombstone.changes \gset
DELETE FROM i.pages WHERE id = 6;
SELECT max(id) AS c3 FROM tombstone.changes \gset
SELECT tombstone.undelete_change(:c2) + tombstone.undelete_change(:c3) AS restored;
SELECT operation, undoes - :c2 AS undoes_after_c2, rows FROM tombstone.changes WHERE id > :c3 ORDER BY id;
-- a tombstoning that a trigger of the user's starts inside an undelete gets
-- an entry of its own too: the undelete's entry counts only what it restored
SELECT max(id) AS c4 FROM tombstone.changes \gset
CREATE FUNCTION i.zap() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM i.pages WHERE id = 8;
    RETURN NEW;
END $$;
CREATE TRIGGER zap AFTER UPDATE ON i.sites FOR EACH ROW EXECUTE FUNCTION i.zap();
SELECT tombstone.undelete('i.sites', '{"id": 4}');
DROP TRIGGER zap ON i.sites;
SELECT operation, undoes IS NULL AS undoes_nothing, rows FROM tombstone.changes WHERE id > :c4 ORDER BY id;
SET tombstone.visibility = 'all';
SELECT id, deleted_at IS NULL AS live FROM i.pages WHERE id IN (8, 10, 11, 12) ORDER BY id;
RESET tombstone.visibility;

------------------------------------------------------------------------
-- 9. A bound token's row budget counts every row tombstoned, purged or
-- rewound while it is bound, one tenant or many
------------------------------------------------------------------------
SELECT i.keep_fp() AS fingerprint_taken;
BEGIN;
SELECT tombstone.authorize(tok) ->> 'jti' AS jti FROM i.tok WHERE name = 'delete_1';
DELETE FROM i.sites WHERE id IN (1, 2);
\echo :SQLSTATE
ROLLBACK;
SELECT * FROM i.fp_intact;
BEGIN;
SELECT tombstone.authorize(tok) ->> 'jti' AS jti FROM i.tok WHERE name = 'delete_8';
DELETE FROM i.sites WHERE id IN (1, 2);
SELECT jti, max_rows, rows_used FROM tombstone.bound_tokens();
-- a row of a table the token does not name counts as well
DELETE FROM i.hc WHERE id = 2;
\echo :SQLSTATE
ROLLBACK;
-- a savepoint rolled back gives its rows back to the budget
BEGIN;
SELECT tombstone.authorize(tok) ->> 'jti' AS jti FROM i.tok WHERE name = 'delete_8';
SAVEPOINT a;
DELETE FROM i.sites WHERE id = 1;
ROLLBACK TO a;
SELECT jti, rows_used FROM tombstone.bound_tokens();
DELETE FROM i.sites WHERE id IN (1, 2);
SELECT jti, rows_used FROM tombstone.bound_tokens();
ROLLBACK;
-- purged rows count against every bound token
BEGIN;
SELECT tombstone.authorize(tok) ->> 'jti' AS jti FROM i.tok WHERE name = 'delete_1';
SELECT tombstone.authorize(tok) ->> 'jti' AS jti FROM i.tok WHERE name = 'purge_all';
SET LOCAL tombstone.visibility = 'deleted';
UPDATE i.pages SET deleted_at = deleted_at - interval '1 year';
RESET tombstone.visibility;
SELECT * FROM tombstone.purge('i.pages');
\echo :SQLSTATE
ROLLBACK;
-- rewound rows count too
CREATE PROCEDURE i.pause() LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep(0.01);
    COMMIT;
    PERFORM pg_sleep(0.01);
END $$;
CALL i.pause();
SELECT now() AS before_edit \gset
CALL i.pause();
UPDATE i.pages SET title = 'edited again' WHERE id IN (7, 9);
SELECT i.keep_fp() AS fingerprint_taken;
BEGIN;
SELECT tombstone.authorize(tok) ->> 'jti' AS jti FROM i.tok WHERE name = 'rewind_1';
SELECT * FROM tombstone.rewind_tenant('globex', :'before_edit');
\echo :SQLSTATE
ROLLBACK;
SELECT * FROM i.fp_intact;
BEGIN;
SELECT tombstone.authorize(tok) ->> 'jti' AS jti FROM i.tok WHERE name = 'rewind_2';
SELECT * FROM tombstone.rewind_tenant('globex', :'before_edit') ORDER BY table_name::text;
SELECT jti, max_rows, rows_used FROM tombstone.bound_tokens();
ROLLBACK;

------------------------------------------------------------------------
-- 11. A database that holds protected tables is dropped only on purpose
------------------------------------------------------------------------
SELECT i.keep_fp() AS fingerprint_taken;
-- the mark, readable from any database
SELECT d.datname, l.provider, l.label FROM pg_shseclabel l JOIN pg_database d ON d.oid = l.objoid
 WHERE l.classoid = 'pg_database'::regclass AND d.datname = 'integrity';
SECURITY LABEL FOR pg_tombstone ON DATABASE integrity IS NULL;
\echo :SQLSTATE
CREATE DATABASE integrity_spare;
\set QUIET on
\c integrity_spare
\set QUIET off
SET client_min_messages = warning;
CREATE EXTENSION pg_tombstone;
RESET client_min_messages;
SET tombstone.audience = 'pg_tombstone:integrity';
SELECT tombstone.add_key('ops', 'HS256', convert_to('integrity regression secret, 32 bytes+', 'UTF8'));
CREATE TABLE t (id int PRIMARY KEY, tenant text NOT NULL);
SELECT tombstone.protect('t', 'tenant', history => false);
SELECT count(*) AS marked FROM pg_shseclabel
 WHERE provider = 'pg_tombstone' AND objoid = (SELECT oid FROM pg_database WHERE datname = 'integrity_spare');
-- unprotected, the table leaves the ledger behind; dropping the extension
-- (which needs every table unprotected) removes the mark
BEGIN;
SELECT tombstone.authorize(tombstone.sign('{"op": "unprotect", "tables": ["t"]}', 'ops')) ->> 'op' AS op;
SELECT tombstone.unprotect('t');
COMMIT;
SECURITY LABEL FOR pg_tombstone ON DATABASE integrity_spare IS NULL;
\echo :SQLSTATE
DROP EXTENSION pg_tombstone;
SELECT count(*) AS marked FROM pg_shseclabel
 WHERE provider = 'pg_tombstone' AND objoid = (SELECT oid FROM pg_database WHERE datname = 'integrity_spare');
\set QUIET on
\c contrib_regression
\set QUIET off
-- then the drop goes through
DROP DATABASE integrity_spare;
-- protected tables: refused, for the owner of the database too
DROP DATABASE integrity;
\echo :SQLSTATE
ALTER DATABASE integrity OWNER TO integrity_owner;
SET ROLE integrity_owner;
DROP DATABASE integrity;
\echo :SQLSTATE
SET tombstone.drop_database = 'integrity';
\echo :SQLSTATE
RESET ROLE;
\set QUIET on
\c integrity
\set QUIET off
SELECT * FROM i.fp_intact;
\set QUIET on
\c contrib_regression
\set QUIET off
-- a superuser names the database to drop it deliberately
SET tombstone.drop_database = 'integrity';
DROP DATABASE integrity;
RESET tombstone.drop_database;
SELECT count(*) AS left_over FROM pg_shseclabel l JOIN pg_database d ON d.oid = l.objoid
 WHERE l.provider = 'pg_tombstone' AND d.datname LIKE 'integrity%';
DROP ROLE integrity_owner;

------------------------------------------------------------------------
-- The upgrade from 0.1 of a populated database brings all of this
------------------------------------------------------------------------
CREATE DATABASE integrity_upgrade;
\set QUIET on
\c integrity_upgrade
\set QUIET off
SET client_min_messages = warning;
CREATE EXTENSION pg_tombstone VERSION '0.1';
RESET client_min_messages;
SET tombstone.audience = 'pg_tombstone:integrity';
SELECT tombstone.add_key('ops', 'HS256', convert_to('integrity regression secret, 32 bytes+', 'UTF8'));
CREATE TABLE s (id int PRIMARY KEY, tenant text NOT NULL, v text);
INSERT INTO s SELECT g, 't' || (g % 2), 'v' FROM generate_series(1, 10) g;
SELECT tombstone.protect('s', 'tenant');
UPDATE s SET v = 'w' WHERE id = 1;
DELETE FROM s WHERE id = 2;
-- a history table as 0.1 made it, without the trigger that refuses INSERT
BEGIN;
SELECT tombstone.authorize(tombstone.sign('{"op": "ddl", "tables": ["s"], "jti": "u-ddl"}', 'ops')) ->> 'op' AS op;
DROP TRIGGER tombstone_history_insert ON tombstone_history.s;
COMMIT;
SELECT count(*) AS marked FROM pg_shseclabel
 WHERE provider = 'pg_tombstone' AND objoid = (SELECT oid FROM pg_database WHERE datname = current_database());
ALTER EXTENSION pg_tombstone UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pg_tombstone';
SELECT count(*) AS marked FROM pg_shseclabel
 WHERE provider = 'pg_tombstone' AND objoid = (SELECT oid FROM pg_database WHERE datname = current_database());
SELECT tgrelid::regclass AS relation, tgname, tgenabled FROM pg_trigger
 WHERE tgrelid IN ('tombstone_history.s'::regclass, 'tombstone.tables'::regclass, 'tombstone.changes'::regclass)
 ORDER BY tgrelid::regclass::text, tgname;
SELECT evtname, evtenabled FROM pg_event_trigger ORDER BY 1;
INSERT INTO tombstone_history.s (id, tenant, v, valid_from, valid_to) VALUES (99, 't1', 'FORGED', now(), now());
\echo :SQLSTATE
DELETE FROM tombstone.tables;
\echo :SQLSTATE
UPDATE s SET v = 'x' WHERE id = 3;
DELETE FROM s WHERE id = 4;
SELECT count(*) AS versions FROM tombstone_history.s;
SELECT operation, rows FROM tombstone.changes ORDER BY id;
\set QUIET on
\c contrib_regression
\set QUIET off
SET tombstone.drop_database = 'integrity_upgrade';
DROP DATABASE integrity_upgrade;
RESET tombstone.drop_database;
