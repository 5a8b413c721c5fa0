-- pg_tombstone: what a restore does to a protected table is allowed when it
-- destroys nothing, and what it checks sees the rows as stored.
--   - TRUNCATE (pg_restore -j sends one before loading a table it created)
--     of a protected or history table that holds no tuple at all goes
--     through; one tuple, even one that was never committed, refuses it;
--   - ALTER TABLE ... ADD FOREIGN KEY validates against every row, so a
--     child pointing at a tombstoned parent (a dump restores whatever state
--     the database was in) keeps its constraint; new rows still cannot
--     reference a tombstoned parent, and queries shaped like the validation
--     outside ALTER TABLE still hide tombstones.

\set ECHO none
\set QUIET 1
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(13);

CREATE TABLE rg_empty (id int PRIMARY KEY, tenant int NOT NULL);
CREATE TABLE rg_full (id int PRIMARY KEY, tenant int NOT NULL);
INSERT INTO rg_full VALUES (1, 1);
CREATE TABLE rg_parts (id int, tenant int NOT NULL) PARTITION BY LIST (tenant);
CREATE TABLE rg_parts_1 PARTITION OF rg_parts FOR VALUES IN (1);
CREATE TABLE rg_parts_2 PARTITION OF rg_parts FOR VALUES IN (2);
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

SELECT * FROM finish();
ROLLBACK;
