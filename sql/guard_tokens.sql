-- The blast-radius guard: deletions across tenants, tenant deletions, row
-- thresholds and destructive DDL need a change token that covers them
\set QUIET off
\set SHOW_CONTEXT never
\set VERBOSITY default

-- a database of its own: it needs a tenant registry of its own
CREATE DATABASE guard_tokens;
\set QUIET on
\c guard_tokens
\set QUIET off
SET client_min_messages = warning;
CREATE EXTENSION pg_tombstone;
RESET client_min_messages;
SET tombstone.audience = 'pg_tombstone:guard';
SELECT tombstone.add_key('ops', 'HS256', convert_to('guard regression secret of 32 bytes+', 'UTF8'));

CREATE SCHEMA g;
CREATE TABLE g.sites (id text PRIMARY KEY, name text);
CREATE TABLE g.issues (id int PRIMARY KEY, site_id text NOT NULL REFERENCES g.sites, title text);
CREATE TABLE g.comments (id int PRIMARY KEY, site_id text NOT NULL,
                         issue_id int NOT NULL REFERENCES g.issues ON DELETE CASCADE, body text);
INSERT INTO g.sites VALUES ('s1', 'one'), ('s2', 'two'), ('s3', 'three');
INSERT INTO g.issues SELECT g, 's' || (1 + g % 3), 'issue ' || g FROM generate_series(1, 12) g;
INSERT INTO g.comments SELECT g, i.site_id, i.id, 'comment ' || g
  FROM generate_series(1, 12) g JOIN g.issues i ON i.id = g;
SELECT tombstone.protect_tenants('g.sites', 'id');
SELECT tombstone.protect('g.issues', 'site_id');
SELECT tombstone.protect('g.comments', 'site_id');

-- what a user checks after each refusal: every row still there
CREATE VIEW g.live AS
SELECT (SELECT count(*) FROM g.sites) AS sites, (SELECT count(*) FROM g.issues) AS issues,
       (SELECT count(*) FROM g.comments) AS comments;

CREATE TABLE g.tok (name text PRIMARY KEY, tok text);
INSERT INTO g.tok VALUES
  ('s1_s2', tombstone.sign('{"op": "delete", "jti": "g-s1-s2", "iat": 1700000000, "exp": 4102444800,
                             "tables": ["g.issues", "g.comments"], "tenants": ["s1", "s2"],
                             "sub": "alice", "reason": "ticket 881"}', 'ops')),
  ('issues_only', tombstone.sign('{"op": "delete", "jti": "g-issues-only", "iat": 1700000000, "exp": 4102444800,
                             "tables": ["g.issues"], "tenants": ["s1", "s2"]}', 'ops')),
  ('budget_3', tombstone.sign('{"op": "delete", "jti": "g-budget", "iat": 1700000000, "exp": 4102444800,
                             "tables": ["g.issues", "g.comments"], "tenants": ["*"], "max_rows": 3}', 'ops')),
  ('ddl_issues', tombstone.sign('{"op": "ddl", "jti": "g-ddl", "iat": 1700000000, "exp": 4102444800,
                             "tables": ["g.issues", "g.comments"], "tenants": ["*"]}', 'ops')),
  ('del_s3', tombstone.sign('{"op": "delete_tenant", "jti": "g-del-s3", "iat": 1700000000, "exp": 4102444800,
                             "tenants": ["s3"], "reason": "customer left"}', 'ops')),
  ('del_s1', tombstone.sign('{"op": "delete_tenant", "jti": "g-del-s1", "iat": 1700000000, "exp": 4102444800,
                             "tenants": ["s1"]}', 'ops')),
  ('unprotect', tombstone.sign('{"op": "unprotect", "jti": "g-unprotect", "iat": 1700000000, "exp": 4102444800,
                             "tables": ["g.comments"]}', 'ops'));

-- one tenant at a time needs no token
DELETE FROM g.comments WHERE id = 3;
INSERT INTO g.comments VALUES (99, 's1', 3, 'late');

-- two tenants in one statement: refused, nothing changed
DELETE FROM g.issues WHERE id IN (1, 3);
\echo :SQLSTATE
SELECT * FROM g.live;

-- through a cascade the statement reaches a second table: counted too
BEGIN;
SELECT tombstone.authorize(tok)->>'jti' AS jti FROM g.tok WHERE name = 'issues_only';
DELETE FROM g.issues WHERE id IN (1, 3);
\echo :SQLSTATE
ROLLBACK;
SELECT * FROM g.live;

-- two single-tenant statements in one transaction are two tenants too
BEGIN;
DELETE FROM g.issues WHERE id = 1;
DELETE FROM g.issues WHERE id = 3;
\echo :SQLSTATE
ROLLBACK;

-- a savepoint rolled back takes its tenant with it
BEGIN;
SAVEPOINT a;
DELETE FROM g.issues WHERE id = 1;
ROLLBACK TO a;
DELETE FROM g.issues WHERE id = 3;
ROLLBACK;

-- the row budget counts the rows actually touched, cascades included
BEGIN;
SELECT tombstone.authorize(tok)->>'jti' AS jti FROM g.tok WHERE name = 'budget_3';
DELETE FROM g.issues WHERE id IN (1, 3);
\echo :SQLSTATE
ROLLBACK;
SELECT * FROM g.live;

-- a token of another operation covers nothing here
BEGIN;
SELECT tombstone.authorize(tok)->>'jti' AS jti FROM g.tok WHERE name = 'ddl_issues';
DELETE FROM g.issues WHERE id IN (1, 3);
\echo :SQLSTATE
ROLLBACK;

-- preview shows what a refused statement would do, without a token
SELECT table_name, tenant, rows FROM tombstone.preview('DELETE FROM g.issues WHERE id IN (1, 3)')
 ORDER BY 1, 2;

-- the covering token: the delete goes through and the ledger names the token
BEGIN;
SELECT tombstone.authorize(tok)->>'jti' AS jti FROM g.tok WHERE name = 's1_s2';
DELETE FROM g.issues WHERE id IN (1, 3);
COMMIT;
SELECT operation, token_id, token_subject, token_reason,
       (SELECT sum(tombstoned) FROM tombstone.change_rows r WHERE r.change_id = c.id) AS tombstoned
  FROM tombstone.changes c ORDER BY id DESC LIMIT 1;
-- used once, it cannot be used again
BEGIN;
SELECT tombstone.authorize(tok) FROM g.tok WHERE name = 's1_s2';
\echo :SQLSTATE
ROLLBACK;
SELECT tombstone.undelete_change(max(id)) FROM tombstone.changes;

-- deleting a tenant needs a delete_tenant token naming it
DELETE FROM g.sites WHERE id = 's3';
\echo :SQLSTATE
BEGIN;
SELECT tombstone.authorize(tok)->>'jti' AS jti FROM g.tok WHERE name = 'del_s1';
DELETE FROM g.sites WHERE id = 's3';
\echo :SQLSTATE
ROLLBACK;
SELECT * FROM g.live;
BEGIN;
SELECT tombstone.authorize(tok)->>'jti' AS jti FROM g.tok WHERE name = 'del_s3';
DELETE FROM g.sites WHERE id = 's3';
COMMIT;
SELECT operation, token_id, token_reason FROM tombstone.changes ORDER BY id DESC LIMIT 1;
SELECT * FROM g.live;
SELECT tombstone.undelete_tenant('s3');

-- a threshold for single-tenant statements
SET tombstone.max_rows_without_token = 2;
DELETE FROM g.comments WHERE site_id = 's2';
\echo :SQLSTATE
RESET tombstone.max_rows_without_token;
SELECT * FROM g.live;

-- destructive DDL: refused without a ddl token naming the table
TRUNCATE g.comments;
\echo :SQLSTATE
ALTER TABLE g.comments DISABLE TRIGGER tombstone_guard_delete;
\echo :SQLSTATE
SELECT tgname, tgenabled FROM pg_trigger
 WHERE tgrelid = 'g.comments'::regclass AND tgname = 'tombstone_guard_delete';
BEGIN;
SELECT tombstone.authorize(tok)->>'jti' AS jti FROM g.tok WHERE name = 'ddl_issues';
ALTER TABLE g.comments DISABLE TRIGGER tombstone_guard_delete;
ALTER TABLE g.comments ENABLE ALWAYS TRIGGER tombstone_guard_delete;
TRUNCATE g.sites CASCADE;
\echo :SQLSTATE
ROLLBACK;
SELECT * FROM g.live;

-- unprotect: refused without its token; with it the table is plain again
SELECT tombstone.unprotect('g.comments');
\echo :SQLSTATE
SELECT table_name FROM tombstone.protected_tables WHERE table_name = 'g.comments'::regclass;
BEGIN;
SELECT tombstone.authorize(tok)->>'jti' AS jti FROM g.tok WHERE name = 'unprotect';
SELECT tombstone.unprotect('g.comments');
COMMIT;
SELECT table_name FROM tombstone.protected_tables ORDER BY 1;
DELETE FROM g.comments WHERE id = 99;
SELECT count(*) AS comments_with_tombstones FROM g.comments;

-- the switch is for superusers only
CREATE ROLE guard_app;
SET ROLE guard_app;
SET tombstone.guard = off;
\echo :SQLSTATE
RESET ROLE;
DROP ROLE guard_app;

-- the refusal in full: message, detail, hint and SQLSTATE (not the source
-- location, which moves with every edit of the file that raises it)
DELETE FROM g.issues WHERE id IN (4, 5);
\echo :LAST_ERROR_SQLSTATE

\set QUIET on
\c contrib_regression
\set QUIET off
-- it holds protected tables: dropped on purpose
SET tombstone.drop_database = 'guard_tokens';
DROP DATABASE guard_tokens;
RESET tombstone.drop_database;
