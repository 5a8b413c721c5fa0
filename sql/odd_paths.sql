-- Odd paths: errors inside triggers, aborted subtransactions, cached plans
-- after DDL, cursors.  The server stays up and nothing is half done.
\set QUIET off
\set SHOW_CONTEXT never
\set VERBOSITY default

CREATE TABLE items (id int PRIMARY KEY, tenant_id int NOT NULL, label text);
INSERT INTO items SELECT g, 1, 'item ' || g FROM generate_series(1, 10) g;
SELECT tombstone.protect('items', 'tenant_id');

-- a DELETE rolled back to a savepoint leaves the row live
BEGIN;
SAVEPOINT s;
DELETE FROM items WHERE id = 1;
ROLLBACK TO SAVEPOINT s;
DELETE FROM items WHERE id = 2;
COMMIT;
SELECT id FROM items WHERE id <= 3 ORDER BY id;

-- an error raised by a user trigger during tombstoning aborts the statement
CREATE FUNCTION refuse_odd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.id % 2 = 1 THEN
        RAISE EXCEPTION 'odd row % may not change', OLD.id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_odd BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION refuse_odd();
DELETE FROM items WHERE id IN (4, 5);
SELECT id FROM items WHERE id IN (4, 5) ORDER BY id;
-- caught in PL/pgSQL: the subtransaction rolls back, the function goes on
DO $$
BEGIN
    BEGIN
        DELETE FROM items WHERE id IN (6, 7);
    EXCEPTION WHEN raise_exception THEN
        RAISE NOTICE 'caught: %', SQLERRM;
    END;
    DELETE FROM items WHERE id = 6;
END $$;
SELECT id FROM items WHERE id IN (6, 7) ORDER BY id;
DROP TRIGGER refuse_odd ON items;

-- a trigger that tries to stop the tombstone by returning NULL
CREATE FUNCTION skip_row() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
CREATE TRIGGER skip_row BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION skip_row();
DELETE FROM items WHERE id = 8;
DROP TRIGGER skip_row ON items;
SELECT id FROM items WHERE id = 8;

-- cached plans survive DDL on the table and are re-planned
PREPARE del_item(int) AS DELETE FROM items WHERE id = $1;
PREPARE count_items AS SELECT count(*) FROM items;
EXECUTE count_items;
ALTER TABLE items ADD COLUMN note text;
EXECUTE del_item(9);
EXECUTE count_items;
CREATE INDEX ON items (tenant_id);
EXECUTE del_item(10);
EXECUTE count_items;
ALTER TABLE items DROP COLUMN note;
EXECUTE del_item(3);
EXECUTE count_items;

-- a cursor over a protected table, and DELETE WHERE CURRENT OF
BEGIN;
DECLARE c CURSOR FOR SELECT id FROM items ORDER BY id FOR UPDATE;
FETCH c;
DELETE FROM items WHERE CURRENT OF c;
FETCH c;
COMMIT;

-- an error after the tombstone, later in the same statement
DELETE FROM items WHERE id = 4 AND 1 / (id - 4) = 0;
SELECT id FROM items WHERE id = 4;

-- the trigger functions refuse to be called any other way
SELECT tombstone._guard_delete();
SELECT tombstone._guard_truncate();

SET tombstone.visibility = 'all';
SELECT id, deleted_at IS NOT NULL AS tombstoned FROM items ORDER BY id;
