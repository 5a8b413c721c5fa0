-- tombstone.purge() and tombstone.purge_tenant(): hard deletion of
-- tombstones with a "purge" change token; and the refusal counters.
-- Errors are shown with their detail and hint and followed by their
-- SQLSTATE (VERBOSITY verbose would add source line numbers).
\set QUIET off
\set SHOW_CONTEXT never
\set VERBOSITY default

-- a database of its own: purge() without a table reaches every protected
-- table, and purge_tenant() needs a tenant registry of its own
CREATE DATABASE purge_regress;
\set QUIET on
\c purge_regress
\set QUIET off
SET client_min_messages = warning;
CREATE EXTENSION pg_tombstone;
RESET client_min_messages;
SET tombstone.audience = 'pg_tombstone:purge';
SELECT tombstone.add_key('purge_k', 'HS256', convert_to('purge regression secret, 32 bytes or more', 'UTF8'));

-- refusal counters before anything is refused here
SELECT coalesce(sum(refusals) FILTER (WHERE sqlstate = 'TB035'), 0) AS tb035_before,
       coalesce(sum(refusals) FILTER (WHERE sqlstate = 'TB032'), 0) AS tb032_before,
       coalesce(sum(refusals) FILTER (WHERE sqlstate = 'TB003'), 0) AS tb003_before
  FROM tombstone.refusals \gset

CREATE SCHEMA p;
SET search_path = p, public;
CREATE TABLE sites (id text PRIMARY KEY, name text);
CREATE TABLE projects (id int PRIMARY KEY, site_id text NOT NULL REFERENCES sites, name text);
CREATE TABLE tasks (id int PRIMARY KEY, site_id text NOT NULL,
                    project_id int NOT NULL REFERENCES projects ON DELETE CASCADE, title text);
CREATE TABLE events (id int, site_id text NOT NULL, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
-- an unprotected table whose rows reference projects
CREATE TABLE notes (id int PRIMARY KEY, project_id int REFERENCES projects ON DELETE CASCADE);
INSERT INTO sites VALUES ('acme', 'Acme'), ('globex', 'Globex'), ('initech', 'Initech');
INSERT INTO projects VALUES (1, 'acme', 'old'), (2, 'acme', 'live'), (3, 'acme', 'noted'),
                            (4, 'globex', 'old'), (5, 'acme', 'recent'), (6, 'acme', 'busy'),
                            (7, 'globex', 'live'), (8, 'initech', 'old');
INSERT INTO tasks VALUES (10, 'acme', 1, 'old'), (11, 'acme', 2, 'live'),
                         (13, 'acme', 6, 'recent'), (14, 'globex', 7, 'recent');
INSERT INTO events VALUES (100, 'acme', '2024-03-01'), (101, 'acme', '2025-03-01'),
                          (102, 'globex', '2024-05-01'), (103, 'acme', '2025-04-01');
INSERT INTO notes VALUES (1, 3);
SELECT tombstone.protect_tenants('sites', 'id');
SELECT tombstone.protect('projects', 'site_id', retention => '1 day');
SELECT tombstone.protect('tasks', 'site_id', retention => '1 day');
SELECT tombstone.protect('events', 'site_id', retention => '7 days');
SELECT table_name, retention, protected_through FROM tombstone.protected_tables ORDER BY 1::text;

-- tombstones: some long ago (an UPDATE of deleted_at tombstones too), some
-- just now; one tenant per statement
UPDATE tasks SET deleted_at = '2000-01-01' WHERE id = 10;
UPDATE projects SET deleted_at = '2000-01-01' WHERE id IN (1, 3, 6);
UPDATE projects SET deleted_at = '2000-01-01' WHERE id = 4;
UPDATE projects SET deleted_at = '2000-01-01' WHERE id = 8;
UPDATE events SET deleted_at = '2000-01-01' WHERE id IN (100, 101);
UPDATE events SET deleted_at = '2000-01-01' WHERE id = 102;
DELETE FROM projects WHERE id = 5;
DELETE FROM tasks WHERE id = 14;

-- everything a refusal must leave alone: every row, live or tombstoned
CREATE VIEW every_row AS
SELECT 'projects' AS t, id, site_id, deleted_at IS NOT NULL AS tombstoned,
       deleted_at < now() - interval '1 day' AS old FROM projects
UNION ALL
SELECT 'tasks', id, site_id, deleted_at IS NOT NULL, deleted_at < now() - interval '1 day' FROM tasks
UNION ALL
SELECT 'events', id, site_id, deleted_at IS NOT NULL, deleted_at < now() - interval '7 days' FROM events;
CREATE VIEW counts AS
SELECT t, count(*) AS rows, count(*) FILTER (WHERE tombstoned) AS tombstoned
  FROM every_row GROUP BY t ORDER BY t;
SET tombstone.visibility = 'all';
SELECT * FROM every_row ORDER BY t, id;
SELECT * FROM counts;

-- tokens with fixed claims, so that messages are the same on every run
CREATE TABLE tok (name text PRIMARY KEY, tok text);
INSERT INTO tok VALUES
  ('projects_acme', tombstone.sign('{"op": "purge", "jti": "p-projects-acme", "iat": 1700000000, "exp": 4102444800,
                                     "tables": ["p.projects"], "tenants": ["acme"]}', 'purge_k')),
  ('all_acme', tombstone.sign('{"op": "purge", "jti": "p-all-acme", "iat": 1700000000, "exp": 4102444800,
                                "tables": ["p.projects", "p.tasks", "p.events"], "tenants": ["acme"]}', 'purge_k')),
  ('budget_2', tombstone.sign('{"op": "purge", "jti": "p-budget-2", "iat": 1700000000, "exp": 4102444800,
                                "tables": ["p.events"], "tenants": ["*"], "max_rows": 2}', 'purge_k')),
  ('delete_all', tombstone.sign('{"op": "delete", "jti": "p-delete", "iat": 1700000000, "exp": 4102444800,
                                  "tables": ["p.projects", "p.tasks", "p.events"], "tenants": ["*"]}', 'purge_k')),
  ('acme_globex', tombstone.sign('{"op": "purge", "jti": "p-acme-globex", "iat": 1700000000, "exp": 4102444800,
                                   "tables": ["p.projects", "p.tasks", "p.events"], "tenants": ["acme", "globex"],
                                   "max_rows": 10, "reason": "retention job"}', 'purge_k')),
  ('erase_globex', tombstone.sign('{"op": "purge", "jti": "p-erase-globex", "iat": 1700000000, "exp": 4102444800,
                                    "tables": ["p.projects", "p.tasks", "p.events", "p.sites"], "tenants": ["globex"],
                                    "reason": "erasure request 17", "max_uses": 2}', 'purge_k')),
  ('delete_globex', tombstone.sign('{"op": "delete_tenant", "jti": "p-delete-globex", "iat": 1700000000, "exp": 4102444800,
                                     "tenants": ["globex"]}', 'purge_k')),
  ('initech', tombstone.sign('{"op": "purge", "jti": "p-initech", "iat": 1700000000, "exp": 4102444800,
                               "tables": ["p.projects"], "tenants": ["initech"]}', 'purge_k'));

------------------------------------------------------------------------
-- Refusals: each changes nothing
------------------------------------------------------------------------

-- no token at all
SELECT * FROM tombstone.purge();
\echo :SQLSTATE
SELECT * FROM tombstone.purge('projects');
\echo :SQLSTATE
SELECT * FROM tombstone.purge_tenant('globex');
\echo :SQLSTATE

-- a token of another operation
BEGIN;
SELECT tombstone.authorize(tok) ->> 'op' AS op FROM tok WHERE name = 'delete_all';
SELECT * FROM tombstone.purge('events');
\echo :SQLSTATE
ROLLBACK;

-- a token that covers too few tables and tenants
BEGIN;
SELECT tombstone.authorize(tok) ->> 'jti' AS jti FROM tok WHERE name = 'projects_acme';
SELECT * FROM tombstone.purge();
\echo :SQLSTATE
ROLLBACK;
BEGIN;
SELECT tombstone.authorize(tok) ->> 'jti' AS jti FROM tok WHERE name = 'all_acme';
SELECT * FROM tombstone.purge('events');
\echo :SQLSTATE
ROLLBACK;

-- more rows than the token's max_rows
BEGIN;
SELECT tombstone.authorize(tok) ->> 'jti' AS jti FROM tok WHERE name = 'budget_2';
SELECT * FROM tombstone.purge('events');
\echo :SQLSTATE
ROLLBACK;

-- bad arguments
SELECT * FROM tombstone.purge('notes');
\echo :SQLSTATE
SELECT * FROM tombstone.purge_tenant(NULL);
\echo :SQLSTATE

-- a DELETE written to look like the extension's own is still a tombstone,
-- with or without a purge token bound
/* pg_tombstone */ DELETE FROM projects WHERE id = 7;
BEGIN;
SELECT tombstone.authorize(tok) ->> 'jti' AS jti FROM tok WHERE name = 'all_acme';
/* pg_tombstone */ DELETE FROM tasks WHERE id = 11;
ROLLBACK;
SELECT id, deleted_at IS NOT NULL AS tombstoned FROM projects WHERE id = 7;
UPDATE projects SET deleted_at = NULL WHERE id = 7;

-- nothing changed, no use of a token was kept
SELECT * FROM counts;
SELECT count(*) AS token_uses FROM tombstone.token_uses;

------------------------------------------------------------------------
-- Purging
------------------------------------------------------------------------

-- only acme's tombstones older than the retention go, children first;
-- project 1 goes with its old task; project 3 stays (an unprotected note
-- references it) and so does project 6 (its task was tombstoned just now)
BEGIN;
SELECT tombstone.authorize(tok) ->> 'jti' AS jti FROM tok WHERE name = 'all_acme';
SELECT * FROM tombstone.purge(tenant => 'acme');
SELECT jti, max_rows, rows_used FROM tombstone.bound_tokens();
COMMIT;
SELECT * FROM every_row ORDER BY t, id;

-- the purge is one change on the ledger
SELECT operation, undoes, token_id, rows FROM tombstone.changes ORDER BY id DESC LIMIT 1;
SELECT table_name, tenant, tombstoned, restored FROM tombstone.change_rows
 WHERE change_id = (SELECT max(id) FROM tombstone.changes) ORDER BY 1, 2;

-- a role without DELETE privilege purges with a token: the token is the
-- authority; several purges in one transaction share its budget
CREATE ROLE purge_ops;
GRANT USAGE ON SCHEMA p TO purge_ops;
SELECT tok AS acme_globex FROM tok WHERE name = 'acme_globex' \gset
SET ROLE purge_ops;
BEGIN;
SELECT tombstone.authorize(:'acme_globex') ->> 'reason' AS reason;
SELECT * FROM tombstone.purge('events');
SELECT * FROM tombstone.purge('projects', 'globex');
SELECT jti, max_rows, rows_used FROM tombstone.bound_tokens();
COMMIT;
RESET ROLE;
SELECT * FROM counts;

-- erasure of a tenant: every tombstone of it goes, recent or not; its live
-- rows stay and are reported
BEGIN;
SELECT tombstone.authorize(tok) ->> 'jti' AS jti FROM tok WHERE name = 'erase_globex';
SELECT * FROM tombstone.purge_tenant('globex');
COMMIT;
SELECT * FROM every_row WHERE site_id = 'globex' ORDER BY t, id;
-- once the tenant is deleted, nothing of it is left
BEGIN;
SELECT tombstone.authorize(tok) ->> 'jti' AS jti FROM tok WHERE name = 'delete_globex';
DELETE FROM sites WHERE id = 'globex';
COMMIT;
BEGIN;
SELECT tombstone.authorize(tok) ->> 'jti' AS jti FROM tok WHERE name = 'erase_globex';
SELECT * FROM tombstone.purge_tenant('globex');
COMMIT;
SELECT * FROM every_row WHERE site_id = 'globex' ORDER BY t, id;
SELECT id FROM sites ORDER BY id;
SELECT operation, rows FROM tombstone.changes ORDER BY id DESC LIMIT 1;

-- once nothing is left to purge: an empty result, and no ledger entry
BEGIN;
SELECT tombstone.authorize(tok) ->> 'jti' AS jti FROM tok WHERE name = 'initech';
SELECT * FROM tombstone.purge('projects', 'initech');
SELECT count(*) AS purge_changes FROM tombstone.changes WHERE operation = 'purge';
SELECT * FROM tombstone.purge('projects', 'initech');
SELECT count(*) AS purge_changes FROM tombstone.changes WHERE operation = 'purge';
COMMIT;

------------------------------------------------------------------------
-- Refusal counters
------------------------------------------------------------------------

-- every kind of refusal is counted, not only the purge's
TRUNCATE tasks;
\echo :SQLSTATE
-- an error caught by an exception block is never emitted, so not counted
DO $$
BEGIN
    PERFORM tombstone.purge();
EXCEPTION WHEN sqlstate 'TB035' THEN
    RAISE NOTICE 'caught %', sqlstate;
END
$$;

SELECT sqlstate, kind,
       refusals - CASE sqlstate WHEN 'TB035' THEN :tb035_before
                                WHEN 'TB032' THEN :tb032_before
                                ELSE :tb003_before END AS new_refusals,
       last_refused IS NOT NULL AS refused_at_known
  FROM tombstone.refusals
 WHERE sqlstate IN ('TB003', 'TB032', 'TB035')
 ORDER BY sqlstate;
SELECT count(*) AS kinds, count(DISTINCT kind) AS distinct_kinds,
       bool_and(sqlstate ~ '^TB[0-9]{3}$') AS all_class_tb
  FROM tombstone.refusals;

-- a tombstone made in place (a table with history) keeps its last live
-- version until it is restored or purged: a purged one takes it along, one
-- that is kept (referenced) loses it when the tenant's history goes, so
-- that as_of() shows no more of the tenant than main's history would
CREATE TABLE docs (id int PRIMARY KEY, site_id text NOT NULL REFERENCES sites, body text);
CREATE TABLE doc_refs (id int PRIMARY KEY, doc_id int REFERENCES docs);
INSERT INTO docs VALUES (1, 'initech', 'referenced'), (2, 'initech', 'alone');
INSERT INTO doc_refs VALUES (1, 1);
SELECT tombstone.protect('docs', 'site_id');
SELECT now() AS docs_live \gset
DELETE FROM docs;
SET tombstone.visibility = 'all';
SELECT id, valid_from < deleted_at AS keeps_its_version FROM docs ORDER BY id;
RESET tombstone.visibility;
SELECT id, body FROM tombstone.as_of(NULL::docs, 'initech', :'docs_live') ORDER BY id;
BEGIN;
SELECT tombstone.authorize(tombstone.sign('{"op": "purge", "jti": "p-erase-initech", "iat": 1700000000, "exp": 4102444800,
                                            "tables": ["p.projects", "p.tasks", "p.events", "p.sites", "p.docs"],
                                            "tenants": ["initech"]}', 'purge_k')) ->> 'jti' AS jti;
SELECT * FROM tombstone.purge_tenant('initech');
COMMIT;
SET tombstone.visibility = 'all';
SELECT id, valid_from < deleted_at AS keeps_its_version, valid_from = deleted_at AS version_dropped FROM docs ORDER BY id;
RESET tombstone.visibility;
SELECT count(*) AS as_of_rows FROM tombstone.as_of(NULL::docs, 'initech', :'docs_live');
SELECT count(*) AS history_rows FROM tombstone_history.docs;

-- resetting needs a privilege
SET ROLE purge_ops;
SELECT tombstone.reset_refusals();
\echo :SQLSTATE
RESET ROLE;
SELECT tombstone.reset_refusals();
SELECT sum(refusals) AS refusals, count(last_refused) AS refused_at FROM tombstone.refusals;

\set QUIET on
\c contrib_regression
\set QUIET off
-- it holds protected tables: dropped on purpose
SET tombstone.drop_database = 'purge_regress';
DROP DATABASE purge_regress;
RESET tombstone.drop_database;
DROP ROLE purge_ops;
