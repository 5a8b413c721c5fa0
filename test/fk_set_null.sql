-- pg_tombstone: ON DELETE SET NULL and SET DEFAULT between protected tables
-- behave as for a real DELETE.  Tombstoning a referenced row gives the live
-- rows that reference it NULL (or their default) in the same change, only
-- in the columns the constraint names; undoing the change, or undeleting
-- the row, gives them their reference back, unless they were changed since.
-- Tombstoned children and unprotected children are left alone.

\set ECHO none
\set QUIET 1
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(19);

CREATE TABLE sn_parent (tenant int NOT NULL, id int PRIMARY KEY, UNIQUE (tenant, id));
CREATE TABLE sn_child (id int PRIMARY KEY, tenant int NOT NULL,
                       parent_id int REFERENCES sn_parent ON DELETE SET NULL);
CREATE TABLE sn_dflt (id int PRIMARY KEY, tenant int NOT NULL,
                      parent_id int DEFAULT 0 REFERENCES sn_parent ON DELETE SET DEFAULT);
-- PostgreSQL 15: SET NULL of some of the key's columns; no primary key
CREATE TABLE sn_cols (tenant int NOT NULL, parent_id int, note text,
                      FOREIGN KEY (tenant, parent_id) REFERENCES sn_parent (tenant, id)
                          ON DELETE SET NULL (parent_id));
CREATE TABLE sn_free (id int PRIMARY KEY, tenant int NOT NULL,
                      parent_id int REFERENCES sn_parent ON DELETE SET NULL);
INSERT INTO sn_parent VALUES (1, 0), (1, 1), (1, 2), (1, 3);
INSERT INTO sn_child VALUES (1, 1, 1), (2, 1, 1), (3, 1, 2), (4, 1, 1), (5, 1, 3);
INSERT INTO sn_dflt VALUES (1, 1, 1), (2, 1, 2);
INSERT INTO sn_cols VALUES (1, 1, 'a'), (1, 2, 'b');
INSERT INTO sn_free VALUES (1, 1, 1);
SELECT tombstone.protect('sn_parent', 'tenant');
SELECT tombstone.protect('sn_child', 'tenant');
SELECT tombstone.protect('sn_dflt', 'tenant');
SELECT tombstone.protect('sn_cols', 'tenant');
DELETE FROM sn_child WHERE id = 4;              -- a tombstoned child of parent 1

CREATE FUNCTION pg_temp.refs(tbl text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
    SET LOCAL tombstone.visibility = 'all';
    EXECUTE format('SELECT string_agg(coalesce(parent_id::text, ''-''), '','' ORDER BY %s) FROM %s',
                   CASE WHEN tbl = 'sn_cols' THEN 'note' ELSE 'id' END, tbl) INTO r;
    SET LOCAL tombstone.visibility = 'live';
    RETURN r;
END $$;

DELETE FROM sn_parent WHERE id = 1;
SELECT is(pg_temp.refs('sn_child'), '-,-,2,1,3',
          'SET NULL: the live children of the tombstoned parent lose their reference; the tombstoned one keeps it');
SELECT is(pg_temp.refs('sn_dflt'), '0,2', 'SET DEFAULT: the child gets its default');
SELECT is(pg_temp.refs('sn_cols'), '-,2', 'SET NULL (parent_id): only the named column is set');
SELECT is((SELECT tenant FROM sn_cols WHERE note = 'a'), 1, 'the other column of the key keeps its value');
SELECT is(pg_temp.refs('sn_free'), '1', 'an unprotected child is not changed');
SELECT is((SELECT count(*) FROM sn_child WHERE parent_id IS NULL), 2::bigint,
          'the children stay live');
SELECT is((SELECT array_agg(DISTINCT change_id) FROM tombstone.cleared_keys),
          (SELECT ARRAY[max(id)] FROM tombstone.changes),
          'the cleared references are kept under the change that tombstoned the parent');
SELECT throws_ok('DELETE FROM tombstone.cleared_keys', 'TB013', NULL,
                 'the record of cleared references cannot be deleted');

SELECT is(tombstone.undelete_change((SELECT max(id) FROM tombstone.changes)), 1::bigint,
          'undoing the change restores the parent');
SELECT is(pg_temp.refs('sn_child'), '1,1,2,1,3', 'SET NULL children point at it again');
SELECT is(pg_temp.refs('sn_dflt'), '1,2', 'the SET DEFAULT child points at it again');
SELECT is(pg_temp.refs('sn_cols'), '1,2', 'the SET NULL (column) child points at it again');

-- a child changed while its parent was tombstoned keeps what it was given
DELETE FROM sn_parent WHERE id = 2;
SELECT is(pg_temp.refs('sn_child'), '1,1,-,1,3', 'tombstoning parent 2 clears child 3');
UPDATE sn_child SET parent_id = 3 WHERE id = 3;
SELECT is(tombstone.undelete('sn_parent', '{"id": 2}'), 1::bigint, 'undelete() restores parent 2');
SELECT is(pg_temp.refs('sn_child'), '1,1,3,1,3',
          'the child given another parent meanwhile keeps it');
SELECT is(pg_temp.refs('sn_dflt'), '1,2', 'the SET DEFAULT child of parent 2 points at it again');

-- preview and rollback leave nothing
SELECT is((SELECT sum(rows) FROM tombstone.preview('DELETE FROM sn_parent WHERE id = 3')), 1::numeric,
          'preview() counts the parent only');
SELECT is(pg_temp.refs('sn_child'), '1,1,3,1,3', 'and leaves the children as they were');

-- the undo of the undo clears them again
SELECT tombstone.undelete_change((SELECT max(id) FROM tombstone.changes));
SELECT is(pg_temp.refs('sn_dflt'), '1,0',
          'undoing the undelete of parent 2 sets its SET DEFAULT child to the default again');

SELECT * FROM finish();
ROLLBACK;
