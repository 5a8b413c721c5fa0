-- pg_tombstone: what a restore does to a protected table is allowed when it
-- destroys nothing, and what it checks sees the rows as stored.
--   - TRUNCATE (pg_restore -j sends one before loading a table it created)
--     of a protected or history table that holds no tuple at all goes
--     through; one tuple, even one that was never committed, refuses it;
--   - ALTER TABLE ... ADD FOREIGN KEY validates against every row, so a
--     child pointing at a tombstoned parent (a dump restores whatever state
--     the database was in) keeps its constraint; new rows still cannot
--     reference a tombstoned parent, and queries shaped like the validation
--     outside ALTER TABLE still hide tombstones; COPY FROM (how a dump's
--     rows come back) may load a tombstone that references a tombstone;
--   - ENABLE / DISABLE TRIGGER ALL (pg_dump --disable-triggers) leave
--     pg_tombstone's triggers firing ALWAYS, on protected tables, on tables
--     not yet listed in tombstone.tables, and on the ledger;
--   - tombstone.check() reports any trigger or event trigger of
--     pg_tombstone that does not fire ALWAYS, and a table with its triggers
--     but no entry (restored from a dump of single tables);
--   - what pg_restore --clean over an existing database would do to it is
--     refused: dropping the primary key of a protected table (TB060) or a
--     history table's guard trigger (TB010), loading rows with COPY into a
--     table this session could not drop (TB061) or into a history table
--     that holds old versions (TB043), setting the ledger's sequence back
--     below its last id (TB013).

\set ECHO none
\set QUIET 1
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(29);

CREATE TABLE rg_empty (id int PRIMARY KEY, tenant int NOT NULL);
CREATE TABLE rg_full (id int PRIMARY KEY, tenant int NOT NULL);
INSERT INTO rg_full VALUES (1, 1);
CREATE TABLE rg_parts (id int, tenant int NOT NULL) PARTITION BY LIST (tenant);
CREATE TABLE rg_parts_1 PARTITION OF rg_parts FOR VALUES IN (1);
CREATE TABLE rg_parts_2 PARTITION OF rg_parts FOR VALUES IN (2);
-- before any table is protected, the event triggers can be changed
ALTER EVENT TRIGGER tombstone_ddl_end ENABLE REPLICA;
SELECT is((SELECT detail FROM tombstone.check() WHERE object_name = 'tombstone_ddl_end'),
          'Event trigger tombstone_ddl_end runs tombstone._on_ddl_end() but fires with session_replication_role = replica only.',
          'check() reports an event trigger of pg_tombstone that does not fire always');
ALTER EVENT TRIGGER tombstone_ddl_end ENABLE ALWAYS;
SELECT tombstone.protect('rg_empty', 'tenant');
SELECT tombstone.protect('rg_full', 'tenant');
SELECT tombstone.protect('rg_parts', 'tenant');

SELECT lives_ok('TRUNCATE ONLY rg_empty',
                'TRUNCATE of an empty protected table goes through');
SELECT lives_ok('TRUNCATE rg_empty',
                'TRUNCATE without ONLY of an empty protected table goes through');
SELECT throws_ok('TRUNCATE rg_full', 'TB003', NULL,
                 'TRUNCATE of a protected table with a row is refused');
SELECT lives_ok('TRUNCATE rg_parts',
                'TRUNCATE of a protected partitioned table whose partitions are empty goes through');
INSERT INTO rg_parts VALUES (1, 2);
SELECT throws_ok('TRUNCATE rg_parts', 'TB003', 'cannot truncate protected table "rg_parts"',
                 'TRUNCATE of a partitioned table with one row in one partition is refused, naming the table');
SELECT lives_ok('TRUNCATE rg_parts_1',
                'TRUNCATE of its empty partition goes through');
SELECT throws_ok('TRUNCATE rg_parts_2', 'TB003', NULL,
                 'TRUNCATE of the partition holding the row is refused');
SELECT is((SELECT count(*) FROM rg_parts), 1::bigint, 'the row is still there');

SAVEPOINT s;
INSERT INTO rg_empty VALUES (1, 1);
ROLLBACK TO SAVEPOINT s;
SELECT throws_ok('TRUNCATE rg_empty', 'TB003', NULL,
                 'a row that was never committed still makes TRUNCATE a destruction');

-- (a history table with old versions is refused: sql/history.sql)
SELECT lives_ok('TRUNCATE tombstone_history.rg_parts',
                'TRUNCATE of an empty history table goes through');

-- a child pointing at a tombstoned parent, as a dump may hold it
CREATE TABLE rg_parent (id int PRIMARY KEY, tenant int NOT NULL);
CREATE TABLE rg_child (id int PRIMARY KEY, tenant int NOT NULL, parent_id int);
INSERT INTO rg_parent VALUES (1, 1), (2, 1);
INSERT INTO rg_child VALUES (1, 1, 1), (2, 1, 2);
SELECT tombstone.protect('rg_parent', 'tenant');
DELETE FROM rg_parent WHERE id = 1;
SELECT lives_ok('ALTER TABLE rg_child ADD FOREIGN KEY (parent_id) REFERENCES rg_parent',
                'ADD FOREIGN KEY validates against tombstoned parents too');
SELECT throws_ok('INSERT INTO rg_child VALUES (3, 1, 1)', '23503', NULL,
                 'a new row still cannot reference the tombstoned parent');
SELECT is((SELECT count(*) FROM rg_child fk LEFT OUTER JOIN rg_parent pk ON pk.id = fk.parent_id
            WHERE pk.id IS NULL),
          1::bigint,
          'a query shaped like the validation, outside ALTER TABLE, does not see the tombstoned parent');

-- COPY FROM loads a tombstoned child of a tombstoned parent
SELECT tombstone.protect('rg_child', 'tenant');
SELECT lives_ok($$COPY rg_child (tenant, id, parent_id, deleted_at, deleted_change, valid_from) FROM PROGRAM 'printf "1\t3\t1\t2026-01-01 00:00:00+00\t7\t2026-01-01 00:00:00+00\n"'$$,
                'COPY FROM loads a tombstone that references a tombstoned parent');
SELECT throws_ok('INSERT INTO rg_child (tenant, id, parent_id) VALUES (1, 4, 1)', '23503', NULL,
                 'INSERT still cannot reference it');

-- ENABLE / DISABLE TRIGGER ALL keep pg_tombstone's triggers firing always
CREATE FUNCTION pg_temp.guard_firing(tbl regclass) RETURNS text LANGUAGE sql AS
$$SELECT string_agg(tgenabled::text, '' ORDER BY tgname) FROM pg_trigger
   WHERE tgrelid = tbl AND tgfoid IN (SELECT oid FROM pg_proc WHERE pronamespace = 'tombstone'::regnamespace)$$;
ALTER TABLE rg_full DISABLE TRIGGER ALL;
SELECT is(pg_temp.guard_firing('rg_full'), 'AAA', 'DISABLE TRIGGER ALL of a protected table: the guard fires always');
ALTER TABLE rg_full ENABLE TRIGGER ALL;
CREATE TABLE rg_loose (id int, tenant int);
CREATE TRIGGER tombstone_guard_delete BEFORE DELETE ON rg_loose
    FOR EACH ROW EXECUTE FUNCTION tombstone._guard_delete();
SELECT is((SELECT string_agg(hazard, ',' ORDER BY hazard) FROM tombstone.check() WHERE table_name = 'rg_loose'::regclass),
          'guard_trigger_not_always,not_protected',
          'check(): a table with a trigger of pg_tombstone that fires on origin only and no entry');
ALTER TABLE rg_loose DISABLE TRIGGER ALL;
ALTER TABLE rg_loose ENABLE TRIGGER ALL;
SELECT is(pg_temp.guard_firing('rg_loose'), 'A',
          'ENABLE TRIGGER ALL of a table not yet in tombstone.tables: its pg_tombstone trigger fires always');
SELECT is((SELECT string_agg(hazard, ',') FROM tombstone.check() WHERE table_name = 'rg_loose'::regclass),
          'not_protected', 'check() then reports only the missing entry');
ALTER TABLE tombstone.changes DISABLE TRIGGER ALL;
SELECT is(pg_temp.guard_firing('tombstone.changes'), 'AAAA', 'DISABLE TRIGGER ALL of the ledger: its guard, insert and follow triggers fire always');
ALTER TABLE tombstone.changes ENABLE TRIGGER ALL;
SELECT throws_ok('ALTER TABLE rg_full DISABLE TRIGGER tombstone_guard_delete', 'TB006', NULL,
                 'disabling a guard trigger by name is still refused');

-- pg_restore --clean over an existing database
SELECT throws_ok('ALTER TABLE rg_full DROP CONSTRAINT rg_full_pkey', 'TB060', NULL,
                 'dropping the primary key of a protected table is refused');
SELECT throws_ok('DROP TRIGGER tombstone_history_guard ON tombstone_history.rg_parts', 'TB010', NULL,
                 'dropping the guard trigger of a history table is refused');
SELECT throws_ok('DROP TABLE rg_full', 'TB004', NULL, 'DROP TABLE of a protected table is refused');
SELECT throws_ok($$COPY rg_full (id, tenant) FROM PROGRAM 'echo 2,1' (FORMAT csv)$$, 'TB061', NULL,
                 '... and then COPY FROM into it, in the same session');
INSERT INTO tombstone_history.rg_empty (id, tenant, valid_from, valid_to) VALUES (9, 1, now(), now());
SELECT throws_ok($$COPY tombstone_history.rg_empty (id, tenant, valid_from, valid_to) FROM PROGRAM 'echo 9,1,2026-01-01,2026-01-02' (FORMAT csv)$$,
                 'TB043', NULL, 'COPY FROM into a history table that holds old versions is refused');
INSERT INTO rg_parent VALUES (98, 1);
DELETE FROM rg_parent WHERE id = 98;
SELECT throws_ok($$SELECT pg_catalog.setval('tombstone.changes_id_seq', 1, true)$$, 'TB013', NULL,
                 'setting the ledger''s sequence back below its last id is refused');
SELECT lives_ok($$SELECT pg_catalog.setval('tombstone.changes_id_seq', (SELECT max(id) FROM tombstone.changes) + 10)$$,
                'setting it forward goes through');

SELECT * FROM finish();
ROLLBACK;
