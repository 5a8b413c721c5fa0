-- Row history: versions kept by UPDATE, as_of(), extract_tenant(),
-- rewind_tenant() with its token, schema changes carried to the history
-- table, and the guards of the history tables
\set QUIET off
\set SHOW_CONTEXT never
\set VERBOSITY default

CREATE DATABASE history_test;
\set QUIET on
\c history_test
\set QUIET off
SET client_min_messages = warning;
CREATE EXTENSION pg_tombstone;
RESET client_min_messages;
SET tombstone.audience = 'pg_tombstone:history';
SELECT tombstone.add_key('ops', 'HS256', convert_to('history regression secret, 32 bytes+', 'UTF8'));

CREATE TABLE projects (id int PRIMARY KEY, tenant text NOT NULL, name text NOT NULL);
CREATE TABLE tasks (id int PRIMARY KEY, tenant text NOT NULL,
                    project_id int NOT NULL REFERENCES projects ON DELETE CASCADE,
                    title text, done boolean NOT NULL DEFAULT false);
CREATE INDEX ON projects (tenant);
CREATE INDEX ON tasks (tenant);
INSERT INTO projects VALUES (1, 'acme', 'roof'), (2, 'acme', 'walls'), (3, 'globex', 'moon');
INSERT INTO tasks VALUES (1, 'acme', 1, 'tiles', false), (2, 'acme', 1, 'gutter', false),
                         (3, 'acme', 2, 'paint', false), (4, 'globex', 3, 'rocket', false);
SELECT tombstone.protect('projects', 'tenant');
SELECT tombstone.protect('tasks', 'tenant');
SELECT table_name, history, history_table FROM tombstone.protected_tables ORDER BY 1::text;

-- the validity column and the history table
\d tombstone_history.tasks
SELECT count(*) AS versions FROM tombstone_history.tasks;

-- helper: the time between two transactions, for as_of
CREATE TABLE marks (name text PRIMARY KEY, at timestamptz NOT NULL);
CREATE PROCEDURE mark(n text) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep(0.01);
    INSERT INTO marks VALUES (n, clock_timestamp());
    COMMIT;
    PERFORM pg_sleep(0.01);
END $$;
CALL mark('start');

-- an UPDATE keeps the old version; INSERT writes none
UPDATE tasks SET done = true WHERE id = 1;
INSERT INTO tasks VALUES (5, 'acme', 2, 'windows', false);
SELECT id, title, done FROM tombstone_history.tasks ORDER BY id;
-- the old version ends where the new one starts
SELECT h.valid_to = t.valid_from AS contiguous FROM tombstone_history.tasks h JOIN tasks t USING (id);
CALL mark('after_update');

-- several changes in one transaction leave one version
BEGIN;
UPDATE tasks SET title = 'tiles (red)' WHERE id = 1;
UPDATE tasks SET title = 'tiles (blue)' WHERE id = 1;
UPDATE tasks SET title = 'windows (2)' WHERE id = 5;
COMMIT;
SELECT id, title, done FROM tombstone_history.tasks ORDER BY id, valid_to;
CALL mark('after_titles');

-- a DELETE is a tombstoning UPDATE: the live version goes to history
DELETE FROM projects WHERE id = 2;
SELECT id, title FROM tasks WHERE tenant = 'acme' ORDER BY id;
CALL mark('after_delete');

-- the tenant as it was at each mark; the other tenant never shows
SELECT m.name, a.id, a.title, a.done
  FROM marks m, LATERAL tombstone.as_of(NULL::tasks, 'acme', m.at) a
 ORDER BY m.at, a.id;
SELECT a.id, a.name FROM marks m, LATERAL tombstone.as_of(NULL::projects, 'acme', m.at) a
 WHERE m.name = 'after_titles' ORDER BY a.id;
SELECT count(*) AS globex_rows FROM marks m, LATERAL tombstone.as_of(NULL::tasks, 'globex', m.at)
 WHERE m.name = 'start';

-- bad input (terse: the details name the times)
\set VERBOSITY terse
SELECT * FROM tombstone.as_of(NULL::tasks, 'acme', now() + interval '1 hour');
SELECT * FROM tombstone.as_of(NULL::tasks, 'acme', now() - interval '1 year');
-- a time after the history began but before the retention is refused too
-- (only the extension writes tombstone.tables: a shorter retention takes
-- set_retention() and a "ddl" token)
BEGIN;
SELECT tombstone.authorize(tombstone.sign('{"op": "ddl", "tables": ["tasks"], "jti": "h-retention"}', 'ops')) IS NOT NULL AS authorised;
SELECT tombstone.set_retention('tasks', '0');
SELECT * FROM tombstone.as_of(NULL::tasks, 'acme', (SELECT at FROM marks WHERE name = 'start'));
ROLLBACK;
\set VERBOSITY default
SELECT * FROM tombstone.as_of(NULL::tasks, NULL, now());
SELECT * FROM tombstone.as_of(NULL::tasks, 'acme', NULL);
SELECT * FROM tombstone.as_of(NULL::marks, 'acme', now());
SELECT * FROM tombstone.as_of(NULL::int, 'acme', now());
CREATE TABLE flat (id int PRIMARY KEY, tenant text);
SELECT tombstone.protect('flat', 'tenant', history => false);
SELECT * FROM tombstone.as_of(NULL::flat, 'acme', now());

-- extract the tenant as of a mark into a new schema
SELECT e.table_name, e.rows
  FROM marks m, LATERAL tombstone.extract_tenant('acme', m.at, 'acme_before') e
 WHERE m.name = 'after_titles' ORDER BY 1::text;
SELECT id, title, done FROM acme_before.tasks ORDER BY id;
SELECT * FROM tombstone.extract_tenant('acme', now(), 'acme_before');
SELECT * FROM tombstone.extract_tenant('acme', NULL, 'somewhere');

-- rewind: refused without a token, nothing changes
CREATE TABLE sums AS
SELECT tenant, md5(string_agg(t::text, ',' ORDER BY id)) AS sum FROM tasks t GROUP BY tenant;
SELECT * FROM tombstone.rewind_tenant('acme', (SELECT at FROM marks WHERE name = 'after_update'));
SELECT tombstone.sign('{"op": "rewind", "tenants": ["globex"], "tables": ["projects", "tasks"], "jti": "r-globex"}', 'ops') AS wrong_tenant \gset
BEGIN;
SELECT tombstone.authorize(:'wrong_tenant') ->> 'op' AS op;
SELECT * FROM tombstone.rewind_tenant('acme', (SELECT at FROM marks WHERE name = 'after_update'));
ROLLBACK;
SELECT tombstone.sign('{"op": "rewind", "tenants": ["acme"], "tables": ["tasks"], "jti": "r-tasks-only"}', 'ops') AS too_narrow \gset
BEGIN;
SELECT tombstone.authorize(:'too_narrow') ->> 'op' AS op;
SELECT * FROM tombstone.rewind_tenant('acme', (SELECT at FROM marks WHERE name = 'after_update'));
ROLLBACK;
-- a valid token, but a time before the tables were protected: they had no
-- history then, and a rewind would tombstone every row of the tenant
SELECT tombstone.sign('{"op": "rewind", "tenants": ["acme"], "tables": ["projects", "tasks"], "jti": "r-early"}', 'ops') AS early \gset
BEGIN;
SELECT tombstone.authorize(:'early') IS NOT NULL AS authorised;
\set VERBOSITY terse
SELECT * FROM tombstone.rewind_tenant('acme', now() - interval '1 day');
\set VERBOSITY default
ROLLBACK;
SELECT tenant, sum = (SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM tasks t WHERE t.tenant = s.tenant) AS unchanged
  FROM sums s ORDER BY tenant;

-- rewind acme to after_update: the project comes back, its task too, titles revert,
-- task 5 (created before that mark) stays; globex is untouched
SELECT tombstone.sign('{"op": "rewind", "tenants": ["acme"], "tables": ["projects", "tasks"],
                        "jti": "r-acme", "sub": "carol", "reason": "bad batch update"}', 'ops') AS rewind \gset
BEGIN;
SELECT tombstone.authorize(:'rewind') ->> 'reason' AS reason;
SELECT * FROM tombstone.rewind_tenant('acme', (SELECT at FROM marks WHERE name = 'after_update'));
COMMIT;
SELECT id, title, done FROM tasks WHERE tenant = 'acme' ORDER BY id;
SELECT id, name FROM projects WHERE tenant = 'acme' ORDER BY id;
-- equal to what as_of said, column by column
SELECT count(*) AS differences FROM (
    (SELECT id, tenant, project_id, title, done FROM tasks WHERE tenant = 'acme'
     EXCEPT ALL
     SELECT id, tenant, project_id, title, done FROM tombstone.as_of(NULL::tasks, 'acme', (SELECT at FROM marks WHERE name = 'after_update')))
    UNION ALL
    (SELECT id, tenant, project_id, title, done FROM tombstone.as_of(NULL::tasks, 'acme', (SELECT at FROM marks WHERE name = 'after_update'))
     EXCEPT ALL
     SELECT id, tenant, project_id, title, done FROM tasks WHERE tenant = 'acme')) d;
SELECT tenant, sum = (SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM tasks t WHERE t.tenant = s.tenant) AS unchanged
  FROM sums s WHERE tenant <> 'acme' ORDER BY tenant;
-- one ledger change, with the token
SELECT operation, token_id, token_subject, token_reason,
       jsonb_path_query_array(rows, '$[*] ? (@.table == "public.tasks")') AS tasks_rows
  FROM tombstone.changes WHERE operation = 'rewind';
-- the rewind's token was single use
BEGIN;
\set VERBOSITY terse
SELECT tombstone.authorize(:'rewind');
\set VERBOSITY default
ROLLBACK;
CALL mark('after_rewind');

-- a second rewind to just before the first undoes it
SELECT tombstone.sign('{"op": "rewind", "tenants": ["acme"], "tables": ["projects", "tasks"], "jti": "r-undo"}', 'ops') AS undo \gset
BEGIN;
SELECT tombstone.authorize(:'undo') IS NOT NULL AS authorised;
SELECT * FROM tombstone.rewind_tenant('acme', (SELECT at FROM marks WHERE name = 'after_delete'));
COMMIT;
SELECT id, title, done FROM tasks WHERE tenant = 'acme' ORDER BY id;
SELECT id, name FROM projects WHERE tenant = 'acme' ORDER BY id;

-- schema changes reach the history table; old versions stay readable
ALTER TABLE tasks ADD COLUMN priority int;
ALTER TABLE tasks RENAME COLUMN title TO summary;
ALTER TABLE tasks ALTER COLUMN priority TYPE bigint;
UPDATE tasks SET priority = 1 WHERE id = 4;
UPDATE tasks SET priority = 2 WHERE id = 4;
SELECT a.id, a.summary, a.priority FROM marks m, LATERAL tombstone.as_of(NULL::tasks, 'acme', m.at) a
 WHERE m.name = 'start' ORDER BY a.id;
ALTER TABLE tasks DROP COLUMN priority;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'tombstone_history.tasks'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
SELECT count(*) AS kept_priorities FROM tombstone_history.tasks
 WHERE "priority (dropped 10)" IS NOT NULL;
ALTER TABLE tasks ADD COLUMN valid_to timestamptz;
ALTER TABLE tasks ALTER COLUMN summary TYPE int USING length(summary);
ALTER TABLE tasks RENAME COLUMN valid_from TO since;
ALTER TABLE tasks DROP COLUMN valid_from;
-- the refused changes left both tables as they were
SELECT a.attrelid::regclass AS tbl, a.attname, format_type(a.atttypid, a.atttypmod)
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE a.attrelid IN ('tasks'::regclass, 'tombstone_history.tasks'::regclass)
   AND a.attname IN ('summary', 'valid_from', 'valid_to', 'since') AND NOT a.attisdropped
 ORDER BY c.oid, a.attnum;

-- a statement opens the history table once and keeps it open until it
-- ends: errors, savepoints, nested statements and plans made before an
-- ALTER TABLE must neither lose versions nor leave the table open
CREATE TABLE items (id int PRIMARY KEY, tenant text NOT NULL, qty int NOT NULL CHECK (qty < 1000));
INSERT INTO items SELECT g, 'acme', g FROM generate_series(1, 100) g;
SELECT tombstone.protect('items', 'tenant');
\set VERBOSITY terse
-- an UPDATE failing at its 60th row keeps no version, and the next one works
UPDATE items SET qty = CASE WHEN id = 60 THEN 1000 ELSE qty + 1 END;
\set VERBOSITY default
SELECT count(*) AS versions FROM tombstone_history.items;
UPDATE items SET qty = qty + 1;
SELECT count(*) AS versions, count(DISTINCT id) AS rows FROM tombstone_history.items;
-- a savepoint rolled back takes its versions with it
BEGIN;
UPDATE items SET qty = qty + 1 WHERE id <= 10;
SAVEPOINT s;
UPDATE items SET qty = qty + 1 WHERE id > 10;
ROLLBACK TO SAVEPOINT s;
UPDATE items SET qty = qty + 1 WHERE id > 90;
COMMIT;
SELECT count(*) AS versions FROM tombstone_history.items;
-- nested statements: for each row of the outer UPDATE, an UPDATE of the
-- same table fails after its 30th row in an exception block, and another
-- one keeps versions (only once: the second time, the rows are the
-- transaction's own); the outer UPDATE goes on writing versions
CREATE FUNCTION items_bump() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        UPDATE items SET qty = CASE WHEN id = 50 THEN 1000 ELSE qty + 1 END WHERE id > 20;
    EXCEPTION WHEN check_violation THEN
        NULL;
    END;
    UPDATE items SET qty = qty + 1 WHERE id > 95;
    RETURN 1;
END
$$;
UPDATE items SET qty = qty + items_bump() WHERE id <= 3;
SELECT count(*) AS versions FROM tombstone_history.items;
-- a cursor's UPDATE fails while fetched in an exception block; the cursor
-- is closed after the savepoint has been rolled back
DO $$
DECLARE
    c refcursor;
    r record;
BEGIN
    OPEN c FOR WITH u AS (UPDATE items SET qty = CASE WHEN id = 70 THEN 1000 ELSE qty + 1 END
                          RETURNING id)
        SELECT id FROM u;
    BEGIN
        FETCH c INTO r;
    EXCEPTION WHEN check_violation THEN
        RAISE NOTICE 'the cursor''s UPDATE failed';
    END;
    CLOSE c;
END
$$;
UPDATE items SET qty = qty + 1 WHERE id = 1;
SELECT count(*) AS versions FROM tombstone_history.items;
-- a statement prepared before ADD COLUMN keeps the new column's values
PREPARE items_bump(int) AS UPDATE items SET qty = qty + 1 WHERE id <= $1;
EXECUTE items_bump(20);
ALTER TABLE items ADD COLUMN note text DEFAULT 'added';
EXECUTE items_bump(20);
SELECT note, count(*) AS versions FROM tombstone_history.items GROUP BY note ORDER BY note;
DEALLOCATE items_bump;

-- an UPDATE that sets neither deleted_at nor deleted_change keeps the old
-- version without the row trigger (track_functions counts the trigger's
-- calls within one transaction); a join, an explicit valid_from or a
-- trigger of the user's keeps the trigger, and the versions are the same
-- either way
CREATE TABLE notes (id int PRIMARY KEY, tenant text NOT NULL, body text);
INSERT INTO notes SELECT g, 'acme', 'n' || g FROM generate_series(1, 4) g;
SELECT tombstone.protect('notes', 'tenant');
CREATE FUNCTION trigger_calls() RETURNS bigint LANGUAGE sql AS
  $$ SELECT coalesce(pg_stat_get_xact_function_calls('tombstone._before_update'::regproc), 0) $$;
CREATE VIEW note_versions AS
  SELECT n.id, n.body,
         (SELECT count(*) FROM tombstone_history.notes h WHERE h.id = n.id) AS versions,
         n.valid_from = (SELECT max(h.valid_to) FROM tombstone_history.notes h WHERE h.id = n.id) AS chained
    FROM notes n;
SET track_functions = 'all';
BEGIN;
SELECT trigger_calls() AS calls \gset
UPDATE notes SET body = body || '+' WHERE id = 1;
SELECT trigger_calls() - :calls AS plain_update;
UPDATE notes SET body = body || '+' FROM (VALUES (2), (2)) v(x) WHERE id = v.x;
UPDATE notes SET body = body || '+', valid_from = '2000-01-01' WHERE id = 3;
SELECT trigger_calls() - :calls AS plain_join_and_valid_from;
COMMIT;
SELECT * FROM note_versions ORDER BY id;
EXPLAIN (VERBOSE, COSTS OFF) UPDATE notes SET body = 'x' WHERE id = 1;

-- a plan prepared before the user's trigger appeared runs the trigger
PREPARE note_up(int) AS UPDATE notes SET body = body || '+' WHERE id = $1;
EXECUTE note_up(4);
CREATE FUNCTION notes_bang() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN NEW.body := NEW.body || '!'; RETURN NEW; END $$;
CREATE TRIGGER notes_bang BEFORE UPDATE ON notes FOR EACH ROW EXECUTE FUNCTION notes_bang();
BEGIN;
SELECT trigger_calls() AS calls \gset
EXECUTE note_up(4);
SELECT trigger_calls() - :calls AS with_user_trigger;
COMMIT;
DROP TRIGGER notes_bang ON notes;
SELECT * FROM note_versions WHERE id = 4;

-- a loop over UPDATE ... RETURNING that leaves after one row: the UPDATE
-- still updated every row, and every row keeps its version
DO $$ DECLARE r record; BEGIN
  FOR r IN UPDATE notes SET body = body || '*' RETURNING id LOOP EXIT; END LOOP;
END $$;
SELECT * FROM note_versions ORDER BY id;

-- a DELETE of a table with history counts its rows and keeps the live
-- version, without the trigger too
BEGIN;
SELECT trigger_calls() AS calls \gset
DELETE FROM notes WHERE id IN (1, 2);
SELECT trigger_calls() - :calls AS delete;
COMMIT;
SELECT operation, rows FROM tombstone.changes ORDER BY id DESC LIMIT 1;
SET tombstone.visibility = 'all';
SELECT id, deleted_at IS NOT NULL AS tombstoned, versions, chained FROM note_versions v JOIN notes USING (id) ORDER BY id;
RESET tombstone.visibility;
RESET track_functions;

-- the tombstone keeps that live version in place, valid from its
-- valid_from until its deleted_at: as_of() reads it until the tombstone
-- began, and restoring the row writes it to history, ending there
SET tombstone.visibility = 'all';
SELECT id, valid_from < deleted_at AS carries_its_version FROM notes WHERE id IN (1, 2) ORDER BY id;
SELECT deleted_at AS note1_deleted_at, body AS note1_body FROM notes WHERE id = 1 \gset
RESET tombstone.visibility;
SELECT id, body = :'note1_body' AS as_it_was, deleted_at IS NULL AS live, deleted_change IS NULL AS no_change
  FROM tombstone.as_of(NULL::notes, 'acme', :'note1_deleted_at'::timestamptz - interval '1 microsecond')
 WHERE id = 1;
SELECT count(*) AS at_the_tombstone
  FROM tombstone.as_of(NULL::notes, 'acme', :'note1_deleted_at'::timestamptz) WHERE id IN (1, 2);
SELECT tombstone.undelete('notes', '{"id": 1}') AS restored;
SELECT h.body = :'note1_body' AS as_it_was, h.valid_to = :'note1_deleted_at'::timestamptz AS ends_at_the_tombstone,
       h.deleted_at IS NULL AS live, h.deleted_change IS NULL AS no_change
  FROM tombstone_history.notes h WHERE h.id = 1 AND h.valid_to = (SELECT max(valid_to) FROM tombstone_history.notes WHERE id = 1);
-- (the restored version starts at the restore: the tombstone was no version)
SELECT id, versions, chained FROM note_versions WHERE id = 1;
SELECT count(*) AS as_of_before_the_tombstone
  FROM tombstone.as_of(NULL::notes, 'acme', :'note1_deleted_at'::timestamptz - interval '1 microsecond') WHERE id = 1;

-- _version() outside the statement planned for it changes nothing
SELECT tombstone._version('2020-01-01', '1'::xid, '(0,1)') AS unchanged,
       tombstone._version(NULL, NULL, NULL) IS NULL AS null_stays_null;

-- history tables are written by pg_tombstone only
SELECT count(*) AS versions, md5(string_agg(h::text, ',' ORDER BY h::text)) AS history_sum
  FROM tombstone_history.tasks h \gset
DELETE FROM tombstone_history.tasks;
UPDATE tombstone_history.tasks SET done = false;
TRUNCATE tombstone_history.tasks;
DROP TABLE tombstone_history.tasks;
SELECT count(*) = :versions AS versions_kept,
       md5(string_agg(h::text, ',' ORDER BY h::text)) = :'history_sum' AS history_unchanged
  FROM tombstone_history.tasks h;

-- purge removes history only with a token, only what ended before the retention
BEGIN;
SELECT tombstone.authorize(tombstone.sign('{"op": "ddl", "tables": ["tasks"], "jti": "h-retention-0"}', 'ops')) IS NOT NULL AS authorised;
SELECT tombstone.set_retention('tasks', '0');
COMMIT;
SELECT tombstone.sign('{"op": "purge", "tenants": ["globex"], "tables": ["tasks"], "jti": "p-globex"}', 'ops') AS purge \gset
BEGIN;
SELECT tombstone.authorize(:'purge') IS NOT NULL AS authorised;
SELECT * FROM tombstone.purge('tasks', 'globex');
COMMIT;
SELECT tenant, count(*) AS versions FROM tombstone_history.tasks GROUP BY tenant ORDER BY tenant;

\set QUIET on
\c contrib_regression
\set QUIET off
-- it holds protected tables: dropped on purpose
SET tombstone.drop_database = 'history_test';
DROP DATABASE history_test;
RESET tombstone.drop_database;
