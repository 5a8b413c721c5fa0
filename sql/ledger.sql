-- The change ledger, foreign-key cascades between protected tables, the
-- tenant registry, undelete and preview: what a user sees.
\set QUIET off
\set SHOW_CONTEXT never
\set VERBOSITY default
-- These tests tombstone rows of several tenants per statement; the token
-- guard has tests of its own (guard_tokens), so it is off here.
SET tombstone.guard = off;

CREATE SCHEMA saas;
SET search_path = saas, public;
CREATE TABLE sites (id text PRIMARY KEY, name text NOT NULL);
CREATE TABLE projects (id int PRIMARY KEY, site_id text NOT NULL REFERENCES sites,
                       name text NOT NULL);
CREATE TABLE tasks (id int PRIMARY KEY, site_id text NOT NULL,
                    project_id int NOT NULL REFERENCES projects ON DELETE CASCADE,
                    title text NOT NULL);
CREATE TABLE comments (id int PRIMARY KEY, site_id text NOT NULL,
                       task_id int NOT NULL REFERENCES tasks ON DELETE CASCADE,
                       body text NOT NULL);
CREATE TABLE invoices (id int PRIMARY KEY, site_id text NOT NULL,
                       project_id int REFERENCES projects ON DELETE RESTRICT,
                       amount int NOT NULL);
CREATE TABLE notes (id int PRIMARY KEY, site_id text NOT NULL,
                    project_id int REFERENCES projects ON DELETE SET NULL);
CREATE TABLE audit (id int PRIMARY KEY, site_id text NOT NULL, what text);

SELECT tombstone.protect_tenants('sites', 'id');
SELECT tombstone.protect(t, 'site_id')
  FROM unnest('{projects,tasks,comments,invoices,notes,audit}'::regclass[]) t;
-- the unique key tombstones must not hold
CREATE UNIQUE INDEX ON projects (site_id, name) WHERE deleted_at IS NULL;

INSERT INTO sites VALUES ('acme', 'Acme'), ('globex', 'Globex');
INSERT INTO projects VALUES (1, 'acme', 'web'), (2, 'acme', 'app'), (3, 'globex', 'web');
INSERT INTO tasks VALUES (10, 'acme', 1, 'design'), (11, 'acme', 1, 'build'),
                         (12, 'acme', 2, 'ship'), (30, 'globex', 3, 'plan');
INSERT INTO comments VALUES (100, 'acme', 10, 'ok'), (101, 'acme', 10, 'done'),
                            (102, 'acme', 11, 'wip'), (300, 'globex', 30, 'hi');
INSERT INTO invoices VALUES (1000, 'acme', 2, 50);
INSERT INTO notes VALUES (7, 'acme', 1);
INSERT INTO audit VALUES (1, 'acme', 'created'), (2, 'globex', 'created');

-- this test's changes; ids are captured with \gset as they happen
SELECT coalesce(max(id), 0) AS base FROM tombstone.changes \gset
CREATE VIEW ledger AS
SELECT id, operation, undoes, statement, role = current_user AS by_me, rows
  FROM tombstone.changes WHERE id > :base ORDER BY id;
CREATE VIEW last_change AS SELECT * FROM ledger ORDER BY id DESC LIMIT 1;
CREATE VIEW acme_rows AS
SELECT 'projects' AS tbl, count(*) FROM projects WHERE site_id = 'acme'
UNION ALL SELECT 'tasks', count(*) FROM tasks WHERE site_id = 'acme'
UNION ALL SELECT 'comments', count(*) FROM comments WHERE site_id = 'acme'
UNION ALL SELECT 'notes', count(*) FROM notes WHERE site_id = 'acme'
UNION ALL SELECT 'audit', count(*) FROM audit WHERE site_id = 'acme';

-- a cascade over three levels is one change
DELETE FROM projects WHERE id = 1;
SELECT id AS cascade_change FROM last_change \gset
SELECT * FROM acme_rows;
SELECT operation, statement, by_me, jsonb_pretty(rows) FROM ledger;
-- SET NULL: the note loses its reference to the tombstoned project, in the
-- same change, as with a real DELETE
SELECT id, project_id FROM notes;

-- every tombstoned row carries the change
SET tombstone.visibility = 'all';
SELECT 'tasks' AS tbl, id, deleted_at IS NOT NULL AS tombstoned,
       deleted_change = :cascade_change AS by_the_delete FROM tasks
UNION ALL
SELECT 'comments', id, deleted_at IS NOT NULL, deleted_change = :cascade_change
  FROM comments
ORDER BY 1, 2;
-- deleted_change is not for hand-editing
UPDATE tasks SET deleted_change = 99 WHERE id = 12;
\echo :SQLSTATE
SELECT id, deleted_change FROM tasks WHERE id = 12;
RESET tombstone.visibility;

-- RESTRICT refuses, naming the child table and the key; nothing changes
DELETE FROM projects WHERE id = 2;
\echo :SQLSTATE
SELECT count(*) FROM projects WHERE id = 2;
SELECT count(*) AS changes FROM ledger;

-- preview reports, cascades included, and leaves no trace
SELECT * FROM tombstone.preview('DELETE FROM saas.tasks WHERE site_id = ''acme''');
SELECT * FROM acme_rows WHERE tbl IN ('tasks', 'comments');
SELECT count(*) AS changes FROM ledger;
SELECT * FROM tombstone.preview('DELETE FROM saas.projects WHERE id = 2');
\echo :SQLSTATE
SELECT count(*) FROM projects WHERE id = 2;
SELECT * FROM tombstone.preview('UPDATE saas.tasks SET title = ''x''');
\echo :SQLSTATE

-- undo the cascade in one call
SELECT tombstone.undelete_change(:cascade_change);
SELECT id AS undelete_change FROM last_change \gset
SELECT * FROM acme_rows;
SELECT operation, undoes = :cascade_change AS undoes_the_delete, rows FROM last_change;
-- ... and the note gets its reference back
SELECT id, project_id FROM notes;
-- a second undo finds nothing left to restore
SELECT tombstone.undelete_change(:cascade_change);

-- undo of an undelete tombstones the same rows again
SELECT tombstone.undelete_change(:undelete_change);
SELECT id AS redelete_change FROM last_change \gset
SELECT operation, undoes = :undelete_change AS undoes_the_undelete, rows FROM last_change;
SELECT * FROM acme_rows;
SELECT tombstone.undelete_change(:redelete_change);
SELECT * FROM acme_rows;

-- a plain UPDATE of deleted_at is a delete, setting it back an undelete
UPDATE audit SET deleted_at = now() WHERE id = 1;
SET tombstone.visibility = 'all';
UPDATE audit SET deleted_at = NULL WHERE id = 1;
RESET tombstone.visibility;
SELECT operation, statement, rows FROM ledger ORDER BY id DESC LIMIT 2;

-- undelete by column values; the cascaded children come back with the parent
DELETE FROM tasks WHERE id = 10;
SELECT tombstone.undelete('tasks', '{"id": 10}');
SELECT count(*) AS comments_of_10 FROM comments WHERE task_id = 10;
-- a child cannot come back while its parent is tombstoned
DELETE FROM tasks WHERE id = 11;
SELECT tombstone.undelete('comments', '{"id": 102}');
\echo :SQLSTATE
SELECT count(*) AS comment_102_live FROM comments WHERE id = 102;
SELECT tombstone.undelete('tasks', '{"id": 11, "site_id": "acme"}');
-- a restored row whose unique key a live row now holds
DELETE FROM projects WHERE id = 1;
INSERT INTO projects VALUES (4, 'acme', 'web');
SELECT tombstone.undelete('projects', '{"id": 1}');
\echo :SQLSTATE
SELECT id AS project_delete FROM last_change \gset
SELECT tombstone.undelete_change(:project_delete);
\echo :SQLSTATE
SELECT count(*) FROM projects WHERE name = 'web' AND site_id = 'acme';

-- bad input: clear errors, nothing changes
SELECT tombstone.undelete('tasks', '{"nosuch": 1}');
\echo :SQLSTATE
SELECT tombstone.undelete('tasks', '{"id": "1; DROP TABLE saas.tasks"}');
\echo :SQLSTATE
SELECT tombstone.undelete('tasks', '[10]');
\echo :SQLSTATE
SELECT tombstone.undelete('tasks', '{}');
\echo :SQLSTATE
SELECT tombstone.undelete('tasks', NULL);
\echo :SQLSTATE
SELECT tombstone.undelete('pg_class', '{"oid": 1}');
\echo :SQLSTATE
SELECT tombstone.undelete_change(-5);
\echo :SQLSTATE
SELECT tombstone.undelete_change(NULL);
\echo :SQLSTATE
SELECT tombstone.undelete_tenant('nobody');
\echo :SQLSTATE
SELECT tombstone.undelete_tenant('globex');
\echo :SQLSTATE

-- the ledger is append-only, for superusers too
SELECT count(*) AS entries_before FROM tombstone.changes \gset
UPDATE tombstone.changes SET operation = 'nothing' WHERE id = :cascade_change;
\echo :SQLSTATE
DELETE FROM tombstone.changes WHERE id = :cascade_change;
\echo :SQLSTATE
TRUNCATE tombstone.changes;
\echo :SQLSTATE
ALTER TABLE tombstone.changes DISABLE TRIGGER tombstone_ledger_guard;
\echo :SQLSTATE
DROP TRIGGER tombstone_ledger_guard ON tombstone.changes;
\echo :SQLSTATE
SELECT count(*) = :entries_before AS entries_kept,
       (SELECT operation FROM tombstone.changes WHERE id = :cascade_change) AS cascade_operation
  FROM tombstone.changes;

-- deleting a tenant: every protected table, one change, other tenants untouched
CREATE VIEW acme_checksum AS
SELECT md5(string_agg(r, ',' ORDER BY r)) AS checksum
  FROM (SELECT format('p %s %s', id, name) FROM projects WHERE site_id = 'acme'
        UNION ALL SELECT format('t %s %s %s', id, project_id, title) FROM tasks WHERE site_id = 'acme'
        UNION ALL SELECT format('c %s %s %s', id, task_id, body) FROM comments WHERE site_id = 'acme'
        UNION ALL SELECT format('n %s %s', id, project_id) FROM notes WHERE site_id = 'acme'
        UNION ALL SELECT format('a %s %s', id, what) FROM audit WHERE site_id = 'acme') t(r);
SELECT checksum AS acme_before FROM acme_checksum \gset
DELETE FROM invoices;
DELETE FROM sites WHERE id = 'acme';
SELECT * FROM acme_rows;
SELECT count(*) AS globex_tasks FROM tasks WHERE site_id = 'globex';
SELECT id AS tenant_delete, operation, statement, jsonb_pretty(rows) FROM last_change \gset
\echo :operation :statement
\echo :jsonb_pretty
SELECT tombstone.undelete_tenant('acme');
SELECT checksum = :'acme_before' AS acme_restored FROM acme_checksum;
SELECT * FROM acme_rows;
SELECT operation, undoes = :tenant_delete AS undoes_the_tenant_delete, rows FROM last_change;

-- the registry's own errors
SELECT tombstone.protect_tenants('projects', 'id');
\echo :SQLSTATE

-- a child inserted in the same transaction as its parent's deletion
BEGIN;
INSERT INTO projects VALUES (5, 'globex', 'api');
INSERT INTO tasks VALUES (50, 'globex', 5, 'spec');
DELETE FROM projects WHERE id = 5;
SELECT count(*) FROM tasks WHERE id = 50;
COMMIT;
-- a new row cannot reference a tombstoned parent
INSERT INTO tasks VALUES (51, 'globex', 5, 'late');
\echo :SQLSTATE

-- a cascade from an unprotected parent is recorded as such
CREATE TABLE regions (id int PRIMARY KEY);
CREATE TABLE offices (id int PRIMARY KEY, site_id text NOT NULL,
                      region_id int REFERENCES regions ON DELETE CASCADE);
SELECT tombstone.protect('offices', 'site_id');
INSERT INTO regions VALUES (1);
INSERT INTO offices VALUES (1, 'acme', 1), (2, 'globex', 1);
DELETE FROM regions;
SELECT operation, rows FROM last_change;

-- A DELETE on a table without row history or rows that depend on it leaves
-- PostgreSQL's row trigger out: the planner stamps deleted_change itself.
CREATE TABLE tickets (id int PRIMARY KEY, site_id text NOT NULL, title text NOT NULL);
SELECT tombstone.protect('tickets', 'site_id');
ALTER TABLE tickets ADD CONSTRAINT tickets_keep CHECK (deleted_at IS NULL OR title <> 'keep');
INSERT INTO tickets
SELECT g, CASE WHEN g <= 6 THEN 'acme' ELSE 'globex' END, 't' || g
  FROM generate_series(1, 12) g;
UPDATE tickets SET title = 'keep' WHERE id = 12;
CREATE VIEW ticket_state AS
SELECT id, deleted_at IS NOT NULL AS tombstoned, deleted_change FROM tickets;
DELETE FROM tickets WHERE id IN (1, 2, 7);
SELECT operation, rows FROM last_change;
SET tombstone.visibility = 'all';
SELECT id, tombstoned, deleted_change = (SELECT id FROM last_change) AS stamped
  FROM ticket_state WHERE tombstoned ORDER BY id;
RESET tombstone.visibility;
DELETE FROM tickets WHERE id = 3 RETURNING id, site_id, deleted_at IS NOT NULL AS tombstoned;
SELECT id AS before_error FROM last_change \gset
-- an error in the middle of the statement: nothing changes, nothing recorded
\set VERBOSITY terse
DELETE FROM tickets WHERE id IN (4, 12);
\set VERBOSITY default
SELECT count(*) AS live FROM tickets WHERE id IN (4, 12);
SELECT id = :before_error AS no_new_change FROM last_change;
-- the same error caught by an exception block: the next DELETE in the same
-- transaction is counted on its own
DO $$
BEGIN
    BEGIN
        DELETE FROM saas.tickets WHERE id IN (4, 12);
    EXCEPTION WHEN check_violation THEN
        RAISE NOTICE 'caught %', SQLSTATE;
    END;
    DELETE FROM saas.tickets WHERE id = 4;
    RAISE EXCEPTION 'undo' USING ERRCODE = 'P0001';
EXCEPTION WHEN raise_exception THEN
    RAISE NOTICE 'rolled back';
END
$$;
SELECT id = :before_error AS no_new_change FROM last_change;
BEGIN;
DO $$
BEGIN
    BEGIN
        DELETE FROM saas.tickets WHERE id IN (4, 12);
    EXCEPTION WHEN check_violation THEN
        RAISE NOTICE 'caught %', SQLSTATE;
    END;
    DELETE FROM saas.tickets WHERE id = 4;
END
$$;
SELECT operation, rows FROM last_change;
ROLLBACK;
-- a rolled-back savepoint takes its statement's change with it
BEGIN;
DELETE FROM tickets WHERE id = 4;
SAVEPOINT s;
DELETE FROM tickets WHERE id = 5;
ROLLBACK TO s;
DELETE FROM tickets WHERE id = 6;
COMMIT;
SELECT operation, rows FROM ledger WHERE id > :before_error ORDER BY id;
SELECT id FROM tickets WHERE site_id = 'acme' ORDER BY id;
-- a BEFORE UPDATE trigger of the user's own keeps the row trigger in
CREATE TABLE ticket_log (id int, old_title text);
CREATE FUNCTION log_ticket() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN INSERT INTO ticket_log VALUES (OLD.id, OLD.title); RETURN NEW; END$$;
CREATE TRIGGER log_ticket BEFORE UPDATE ON tickets FOR EACH ROW EXECUTE FUNCTION log_ticket();
DELETE FROM tickets WHERE id IN (8, 9);
SELECT * FROM ticket_log ORDER BY id;
SELECT operation, rows FROM last_change;
DROP TRIGGER log_ticket ON tickets;
-- a plan prepared before the table had dependent rows cascades after
PREPARE del_ticket(int) AS DELETE FROM tickets WHERE id = $1;
EXECUTE del_ticket(10);
CREATE TABLE ticket_notes (id int PRIMARY KEY, site_id text NOT NULL,
                           ticket_id int REFERENCES tickets ON DELETE CASCADE);
SELECT tombstone.protect('ticket_notes', 'site_id');
INSERT INTO ticket_notes VALUES (1, 'globex', 11), (2, 'globex', 11);
EXECUTE del_ticket(11);
SELECT operation, rows FROM last_change;
SELECT count(*) AS notes_left FROM ticket_notes;
DEALLOCATE del_ticket;
-- the stamping function itself counts nothing outside its statement
SELECT id AS before_stamp FROM last_change \gset
SELECT tombstone._stamp('tickets'::regclass, 'acme'::text) AS stamp;
SELECT id = :before_stamp AS no_new_change FROM last_change;
SELECT tombstone._stamp(NULL, 'acme'::text);
\echo :SQLSTATE

-- preview() of such a DELETE counts the same way and leaves no trace
SELECT * FROM tombstone.preview('DELETE FROM saas.tickets WHERE id = 5');
SELECT id = :before_stamp AS no_new_change FROM last_change;
SELECT count(*) AS still_live FROM tickets WHERE id = 5;
-- a parent and its inheritance child: one change, counted under the parent
CREATE TABLE ticket_base (id int PRIMARY KEY, site_id text NOT NULL);
CREATE TABLE ticket_child () INHERITS (ticket_base);
SELECT tombstone.protect('ticket_base', 'site_id');
INSERT INTO ticket_base VALUES (1, 'acme');
INSERT INTO ticket_child VALUES (2, 'acme'), (3, 'globex');
DELETE FROM ticket_base WHERE id IN (1, 2, 3);
SELECT operation, rows FROM last_change;
SET tombstone.visibility = 'all';
SELECT tableoid::regclass, id, deleted_change = (SELECT id FROM last_change) AS stamped
  FROM ticket_base ORDER BY id;
RESET tombstone.visibility;
-- the ledger names a table as it is called at the time of the change
INSERT INTO tickets VALUES (13, 'acme', 't13'), (14, 'acme', 't14');
DELETE FROM tickets WHERE id = 13;
ALTER TABLE tickets RENAME TO issues;
ALTER SCHEMA saas RENAME TO saas_renamed;
DELETE FROM saas_renamed.issues WHERE id = 14;
SELECT rows->0->>'table' AS named FROM saas_renamed.ledger ORDER BY id DESC LIMIT 2;
ALTER SCHEMA saas_renamed RENAME TO saas;
RESET search_path;
