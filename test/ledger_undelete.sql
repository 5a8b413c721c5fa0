-- pg_tombstone: the change ledger, foreign-key cascades between protected
-- tables, the tenant registry, undelete, undelete_change, undelete_tenant
-- and preview -- each checked the way a user would: rows visible, values
-- restored exactly, ledger contents, SQLSTATEs.
--
-- Fixture (tenant column "tenant" everywhere, text):
--   lu_projects -> lu_tasks -> lu_comments     ON DELETE CASCADE, 3 levels
--   lu_notes                                   no foreign key at all
--   lu_items                                   partial unique (tenant, code)
--   lu_r_parent <- lu_r_restrict / _noaction / _setnull / _setdefault
--   lu_accounts (UNPROTECTED) <- lu_sites      ON DELETE CASCADE
--   lu_orders (partitioned) <- lu_order_lines (partitioned), lu_shipments
--                              CASCADE on (tenant, order_id); <- lu_invoices
--                              NO ACTION
--   lu_tenants                                 the tenant registry (last)
--
-- lu_try() and lu_refused() catch errors where a refusal is expected but
-- might not come, so that a bug fails one assertion instead of aborting (or
-- weakening) the rest of the file.
--
-- The whole file runs in one transaction, so every row was inserted by it.
-- PostgreSQL re-checks the foreign keys of such a row on any UPDATE of it;
-- the FK from lu_sites to the unprotected lu_accounts is therefore declared
-- DEFERRABLE INITIALLY DEFERRED, so that its re-check (which would fail
-- because the account is physically gone) is left for a commit that never
-- comes.  The cascade action itself is never deferred.

\set ECHO none
\set QUIET 1
BEGIN;
-- multi-tenant deletes here test what DELETE does; the token guard has its own tests
SET LOCAL tombstone.guard = off;
SET LOCAL client_min_messages = warning;
SELECT plan(227);

--------------------------------------------------------------------------
-- Fixture
--------------------------------------------------------------------------

CREATE TABLE lu_tenants (id text PRIMARY KEY, name text NOT NULL, plan text);
INSERT INTO lu_tenants VALUES ('acme', 'Acme Corp', 'gold'), ('globex', 'Globex', 'gold'),
                              ('initech', 'Initech', NULL);

CREATE TABLE lu_projects (
    id     int  PRIMARY KEY,
    tenant text NOT NULL REFERENCES lu_tenants (id),
    name   text NOT NULL
);
CREATE TABLE lu_tasks (
    id         int  PRIMARY KEY,
    tenant     text NOT NULL,
    project_id int  NOT NULL REFERENCES lu_projects (id) ON DELETE CASCADE,
    title      text NOT NULL
);
CREATE TABLE lu_comments (
    id      int  PRIMARY KEY,
    tenant  text NOT NULL,
    task_id int  NOT NULL REFERENCES lu_tasks (id) ON DELETE CASCADE,
    body    text
);
CREATE TABLE lu_notes (id int PRIMARY KEY, tenant text NOT NULL, body text);
CREATE TABLE lu_items (
    id     int  PRIMARY KEY,
    tenant text NOT NULL,
    code   text NOT NULL,
    name   text,
    note   text,
    qty    int
);
CREATE TABLE lu_r_parent (id int PRIMARY KEY, tenant text NOT NULL);
CREATE TABLE lu_r_restrict (id int PRIMARY KEY, tenant text NOT NULL,
    parent_id int REFERENCES lu_r_parent (id) ON DELETE RESTRICT);
CREATE TABLE lu_r_noaction (id int PRIMARY KEY, tenant text NOT NULL,
    parent_id int REFERENCES lu_r_parent (id) ON DELETE NO ACTION);
CREATE TABLE lu_r_setnull (id int PRIMARY KEY, tenant text NOT NULL,
    parent_id int REFERENCES lu_r_parent (id) ON DELETE SET NULL);
CREATE TABLE lu_r_setdefault (id int PRIMARY KEY, tenant text NOT NULL,
    parent_id int DEFAULT 0 REFERENCES lu_r_parent (id) ON DELETE SET DEFAULT);
CREATE TABLE lu_misc (id int PRIMARY KEY, tenant text);
CREATE TABLE lu_accounts (id int PRIMARY KEY);
CREATE TABLE lu_sites (
    id         int  PRIMARY KEY,
    tenant     text NOT NULL,
    account_id int  NOT NULL REFERENCES lu_accounts (id) ON DELETE CASCADE
                    DEFERRABLE INITIALLY DEFERRED
);
CREATE TABLE lu_orders (
    tenant text    NOT NULL,
    id     int     NOT NULL,
    total  numeric NOT NULL,
    PRIMARY KEY (tenant, id)
) PARTITION BY LIST (tenant);
CREATE TABLE lu_orders_acme PARTITION OF lu_orders FOR VALUES IN ('acme');
CREATE TABLE lu_orders_other PARTITION OF lu_orders DEFAULT;
CREATE TABLE lu_order_lines (
    tenant   text NOT NULL,
    id       int  NOT NULL,
    order_id int  NOT NULL,
    sku      text NOT NULL,
    PRIMARY KEY (tenant, id),
    FOREIGN KEY (tenant, order_id) REFERENCES lu_orders (tenant, id) ON DELETE CASCADE
) PARTITION BY LIST (tenant);
CREATE TABLE lu_order_lines_acme PARTITION OF lu_order_lines FOR VALUES IN ('acme');
CREATE TABLE lu_order_lines_other PARTITION OF lu_order_lines DEFAULT;
CREATE TABLE lu_shipments (
    id       int  PRIMARY KEY,
    tenant   text NOT NULL,
    order_id int  NOT NULL,
    FOREIGN KEY (tenant, order_id) REFERENCES lu_orders (tenant, id) ON DELETE CASCADE
);
CREATE TABLE lu_invoices (
    id       int  PRIMARY KEY,
    tenant   text NOT NULL,
    order_id int  NOT NULL,
    FOREIGN KEY (tenant, order_id) REFERENCES lu_orders (tenant, id)
);

SELECT lives_ok($$SELECT tombstone.protect(r, 'tenant')
                    FROM unnest('{lu_projects,lu_tasks,lu_comments,lu_notes,lu_items,
                                  lu_r_parent,lu_r_restrict,lu_r_noaction,lu_r_setnull,
                                  lu_r_setdefault,lu_sites,lu_orders,lu_order_lines,
                                  lu_shipments,lu_invoices,lu_misc}'::regclass[]) r$$,
                'protect the fixture tables');
CREATE UNIQUE INDEX lu_items_code ON lu_items (tenant, code) WHERE deleted_at IS NULL;

INSERT INTO lu_projects VALUES (1, 'acme', 'apollo'), (2, 'acme', 'gemini'), (3, 'globex', 'mercury'),
                               (4, 'acme', 'voyager'), (5, 'acme', 'viking'), (7, 'initech', 'tps');
INSERT INTO lu_tasks VALUES (10, 'acme', 1, 'design'), (11, 'acme', 1, 'build'), (12, 'acme', 2, 'plan'),
                            (13, 'globex', 3, 'launch'), (14, 'acme', 4, 'fly'), (15, 'acme', 5, 'land');
INSERT INTO lu_comments VALUES (100, 'acme', 10, 'a'), (101, 'acme', 10, 'b'), (102, 'acme', 11, 'c'),
                               (103, 'acme', 12, 'd'), (104, 'globex', 13, 'e'), (105, 'acme', 14, 'f'),
                               (106, 'acme', 15, 'g'), (108, 'acme', 12, 'h');
INSERT INTO lu_notes VALUES (1, 'acme', 'n1'), (2, 'acme', 'n2'), (3, 'globex', 'n3'), (4, 'acme', 'n4'),
                            (5, 'initech', 'n5'), (6, 'acme', 'n6'), (7, 'acme', 'n7'),
                            (8, 'globex', 'n8'), (9, 'globex', 'n9'), (10, 'initech', 'n10');
INSERT INTO lu_items VALUES
    (1, 'acme', 'A1', 'widget', NULL, 5),
    (2, 'acme', 'A2', 'gadget', 'fragile', 3),
    (3, 'acme', 'A3', 'gizmo', NULL, 3),
    (4, 'globex', 'A1', 'widget', NULL, 5),
    (5, 'acme', 'A5', $$Robert'); DROP TABLE lu_items; --$$, NULL, 1),
    (6, 'acme', 'A6', 'doohickey', NULL, 7),
    (7, 'acme', 'A7', 'thing', NULL, 2),
    (8, 'acme', 'A8', 'thing', NULL, 2),
    (9, 'acme', 'A9', 'old nine', NULL, 9),
    (11, 'acme', 'A11', 'eleven', NULL, 9);
INSERT INTO lu_r_parent VALUES (0, 'acme'), (1, 'acme'), (2, 'acme'), (3, 'acme'), (4, 'acme'), (5, 'acme');
INSERT INTO lu_r_restrict VALUES (1, 'acme', 1);
INSERT INTO lu_r_noaction VALUES (1, 'acme', 2);
INSERT INTO lu_r_setnull VALUES (1, 'acme', 3), (2, 'acme', 3);
INSERT INTO lu_r_setdefault VALUES (1, 'acme', 4);
INSERT INTO lu_misc VALUES (1, NULL), (2, 'acme');
INSERT INTO lu_accounts VALUES (1), (2);
INSERT INTO lu_sites VALUES (1, 'acme', 1), (2, 'globex', 1), (3, 'acme', 2);
INSERT INTO lu_orders VALUES ('acme', 1, 10.00), ('acme', 2, 20.00), ('globex', 1, 30.00);
INSERT INTO lu_order_lines VALUES ('acme', 1, 1, 'sku-a'), ('acme', 2, 1, 'sku-b'),
                                  ('acme', 3, 2, 'sku-c'), ('globex', 1, 1, 'sku-d');
INSERT INTO lu_shipments VALUES (1, 'acme', 1), (2, 'globex', 1);
INSERT INTO lu_invoices VALUES (1, 'acme', 2);

-- Ledger entries written by this transaction (other sessions may write
-- their own), the newest, and one entry as a row.
CREATE FUNCTION lu_nchanges() RETURNS bigint LANGUAGE sql AS
$$SELECT count(*) FROM tombstone.changes WHERE xid = pg_current_xact_id()$$;
CREATE FUNCTION lu_last() RETURNS bigint LANGUAGE sql AS
$$SELECT max(id) FROM tombstone.changes WHERE xid = pg_current_xact_id()$$;
CREATE FUNCTION lu_change(c bigint) RETURNS tombstone.changes LANGUAGE sql AS
$$SELECT * FROM tombstone.changes WHERE id = c$$;
-- The rows of a change, one text per table and tenant: "table tenant -tombstoned +restored"
CREATE FUNCTION lu_rows(c bigint) RETURNS text[] LANGUAGE sql AS
$$SELECT coalesce(array_agg(format('%s %s -%s +%s', table_name, coalesce(tenant, 'NULL'), tombstoned, restored)
                            ORDER BY table_name COLLATE "C", tenant COLLATE "C"), '{}')
    FROM tombstone.change_rows WHERE change_id = c$$;
-- ids of the live or tombstoned rows of a table (column id), whatever the visibility
CREATE FUNCTION lu_ids(tbl regclass, state text) RETURNS int[]
LANGUAGE plpgsql SET tombstone.visibility = 'all' AS $$
DECLARE r int[];
BEGIN
    EXECUTE format('SELECT coalesce(array_agg(id ORDER BY id), ''{}'') FROM %s WHERE (deleted_at IS NULL) = ($1 = ''live'')', tbl)
       INTO r USING state;
    RETURN r;
END
$$;
-- deleted_change of row id of a table
CREATE FUNCTION lu_chg(tbl regclass, row_id int) RETURNS bigint
LANGUAGE plpgsql SET tombstone.visibility = 'all' AS $$
DECLARE r bigint;
BEGIN
    EXECUTE format('SELECT deleted_change FROM %s WHERE id = $1', tbl) INTO r USING row_id;
    RETURN r;
END
$$;

-- the result of a query as text, or its error as "SQLSTATE: message"
-- (so that an unexpected error fails one assertion, not the whole file)
CREATE FUNCTION lu_try(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
    EXECUTE query INTO r;
    RETURN r;
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- Run the statements in order; return the SQLSTATE of the first that fails,
-- or 'no error'.  Whatever they did is rolled back either way.
CREATE FUNCTION lu_refused(VARIADIC queries text[]) RETURNS text LANGUAGE plpgsql AS $$
DECLARE q text;
BEGIN
    BEGIN
        FOREACH q IN ARRAY queries LOOP
            EXECUTE q;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        RETURN SQLSTATE;
    END;
    RAISE EXCEPTION 'undo' USING ERRCODE = 'LU000';
EXCEPTION WHEN SQLSTATE 'LU000' THEN
    RETURN 'no error';
END
$$;
CREATE FUNCTION lu_pass() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END$$;

--------------------------------------------------------------------------
-- 1. The ledger: one entry per statement, cascades included
--------------------------------------------------------------------------

SET LOCAL application_name = 'lu_ledger_tap';
DELETE FROM lu_projects WHERE id = 1;
SELECT is(:ROW_COUNT, 1, 'DELETE of project 1 reports one row (cascaded rows not counted)');
RESET application_name;
SELECT lu_last() AS c_proj1 \gset

SELECT is(array(SELECT id FROM lu_projects ORDER BY id), '{2,3,4,5,7}'::int[],
          'project 1 is hidden');
SELECT is(array(SELECT id FROM lu_tasks ORDER BY id), '{12,13,14,15}'::int[],
          'ON DELETE CASCADE: tasks 10 and 11 of project 1 are hidden');
SELECT is(array(SELECT id FROM lu_comments ORDER BY id), '{103,104,105,106,108}'::int[],
          'ON DELETE CASCADE, second level: comments 100-102 of tasks 10, 11 are hidden');
SELECT is(lu_nchanges(), 1::bigint, 'the DELETE and its two levels of cascade wrote exactly one ledger entry');
SELECT is((lu_change(:c_proj1)).operation, 'delete', 'operation of a DELETE is ''delete''');
SELECT is(lu_rows(:c_proj1),
          ARRAY['public.lu_comments acme -3 +0', 'public.lu_projects acme -1 +0', 'public.lu_tasks acme -2 +0'],
          'change_rows: 1 project, 2 tasks, 3 comments of tenant acme tombstoned');
SELECT results_eq(format($$SELECT DISTINCT operation, at FROM tombstone.change_rows WHERE change_id = %s$$, :c_proj1),
                  $$VALUES ('delete', now())$$, 'change_rows carries the operation and time of its change');
SELECT ok((lu_change(:c_proj1)).rows @> '[{"table": "public.lu_tasks", "tenant": "acme", "tombstoned": 2, "restored": 0}]'
          AND jsonb_array_length((lu_change(:c_proj1)).rows) = 3,
          'rows is a JSON array of {table, tenant, tombstoned, restored}, one element per table and tenant');
SELECT is(lu_ids('lu_projects', 'dead') || lu_ids('lu_tasks', 'dead') || lu_ids('lu_comments', 'dead'),
          '{1,10,11,100,101,102}'::int[], 'exactly those rows are stored as tombstones');
SELECT is(ARRAY[lu_chg('lu_projects', 1), lu_chg('lu_tasks', 10), lu_chg('lu_tasks', 11),
                lu_chg('lu_comments', 100), lu_chg('lu_comments', 101), lu_chg('lu_comments', 102)],
          array_fill(:c_proj1::bigint, ARRAY[6]),
          'every tombstoned row, cascaded ones included, carries the change id in deleted_change');
SELECT is(lu_chg('lu_comments', 103), NULL::bigint, 'a live row has no deleted_change');
SELECT is((lu_change(:c_proj1)).at, now(), 'at is the start of the transaction');
SELECT is((lu_change(:c_proj1)).xid, pg_current_xact_id(), 'xid is the transaction''s id');
SELECT is((lu_change(:c_proj1)).role, current_user::name, 'role is current_user');
SELECT is((lu_change(:c_proj1)).session_role, session_user::name, 'session_role is session_user');
SELECT is((lu_change(:c_proj1)).application_name, 'lu_ledger_tap', 'application_name is recorded');
SELECT is((lu_change(:c_proj1)).statement, 'DELETE FROM lu_projects WHERE id = 1;',
          'statement is the text the client sent');
SELECT ok((lu_change(:c_proj1)).undoes IS NULL AND (lu_change(:c_proj1)).token_id IS NULL,
          'undoes and token_id are NULL for a plain DELETE');

-- statements that change no row's state write nothing
DELETE FROM lu_projects WHERE id = 1;
SELECT is(:ROW_COUNT, 0, 'repeating the DELETE reports 0 rows');
DELETE FROM lu_projects WHERE id = 999;
UPDATE lu_projects SET name = name WHERE tenant = 'acme';
SELECT is(:ROW_COUNT, 3, 'an UPDATE of other columns updates the 3 live acme projects');
SELECT is(lu_nchanges(), 1::bigint,
          'no ledger entry for a DELETE of a tombstone, a DELETE matching nothing, an UPDATE of other columns');

-- a plain UPDATE of deleted_at is a tombstoning / an undelete
UPDATE lu_notes SET deleted_at = now() WHERE id = 1;
SELECT lu_last() AS c_upd_del \gset
SELECT is((lu_change(:c_upd_del)).operation, 'delete', 'UPDATE ... SET deleted_at = now() is recorded as ''delete''');
SELECT is(lu_rows(:c_upd_del), ARRAY['public.lu_notes acme -1 +0'], '... with one tombstoned note');
SELECT is(lu_chg('lu_notes', 1), :c_upd_del::bigint, '... which carries that change id');
SET LOCAL tombstone.visibility = 'deleted';
UPDATE lu_notes SET deleted_at = NULL WHERE id = 1;
RESET tombstone.visibility;
SELECT lu_last() AS c_upd_und \gset
SELECT is((lu_change(:c_upd_und)).operation, 'undelete', 'UPDATE ... SET deleted_at = NULL is recorded as ''undelete''');
SELECT is(lu_rows(:c_upd_und), ARRAY['public.lu_notes acme -0 +1'], '... with one restored note');
SELECT is(lu_chg('lu_notes', 1), :c_upd_und::bigint, 'a restored row carries the undelete''s change id');
SELECT is(array(SELECT id FROM lu_notes WHERE id = 1), '{1}'::int[], 'the restored note is visible again');

-- deleted_change belongs to pg_tombstone
SELECT throws_ok($$UPDATE lu_notes SET deleted_change = 424242 WHERE id = 2$$, 'TB012', NULL,
                 'UPDATE of deleted_change alone on a live row: TB012');
SET LOCAL tombstone.visibility = 'all';
SELECT throws_ok($$UPDATE lu_projects SET deleted_change = NULL WHERE id = 1$$, 'TB012', NULL,
                 'UPDATE of deleted_change alone on a tombstone: TB012');
SELECT throws_ok($$UPDATE lu_projects SET deleted_change = deleted_change + 1, name = 'x' WHERE id = 1$$,
                 'TB012', NULL, 'UPDATE of deleted_change with another column: TB012');
SELECT lives_ok($$UPDATE lu_projects SET name = 'apollo' WHERE id = 1$$,
                'UPDATE of another column of a tombstone leaving deleted_change alone is allowed');
RESET tombstone.visibility;
SELECT is(lu_chg('lu_projects', 1), :c_proj1::bigint, 'after the refusals project 1 still carries its change id');
UPDATE lu_notes SET deleted_at = now(), deleted_change = 424242 WHERE id = 2;
SELECT lu_last() AS c_note2 \gset
SELECT ok(lu_chg('lu_notes', 2) = :c_note2 AND :c_note2 <> 424242,
          'UPDATE setting deleted_at and deleted_change: deleted_change is the real change id, not the value given');

-- one statement, several tables (a function), one entry
CREATE FUNCTION lu_two_deletes() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE a bigint; b bigint;
BEGIN
    DELETE FROM lu_notes WHERE id = 3;
    GET DIAGNOSTICS a = ROW_COUNT;
    DELETE FROM lu_comments WHERE id = 106;
    GET DIAGNOSTICS b = ROW_COUNT;
    RETURN a + b;
END
$$;
SELECT lu_nchanges() AS n_before \gset
SELECT is(lu_two_deletes(), 2::bigint, 'a function tombstoning rows of two tables reports both');
SELECT is(lu_nchanges(), :n_before + 1::bigint, 'a statement calling a function that deletes twice writes one entry');
SELECT is(lu_rows(lu_last()), ARRAY['public.lu_comments acme -1 +0', 'public.lu_notes globex -1 +0'],
          '... counting both tables and both tenants');
SELECT ok((lu_change(lu_last())).statement LIKE 'SELECT is(lu_two_deletes(), %',
          '... whose statement is the one the client sent, not the DELETEs inside the function');
DELETE FROM lu_misc;
SELECT is(lu_rows(lu_last()), ARRAY['public.lu_misc acme -1 +0', 'public.lu_misc NULL -1 +0'],
          'a row whose tenant column is NULL is counted under tenant null');
SELECT ok((lu_change(lu_last())).rows @> '[{"table": "public.lu_misc", "tenant": null, "tombstoned": 1}]',
          '... as JSON null in rows');
SELECT lu_last() AS misc_change \gset
SELECT is(tombstone.undelete_change(:misc_change), 2::bigint,
          'undelete_change() of a change with a NULL tenant restores both rows');
SELECT is((SELECT count(*) FROM lu_misc), 2::bigint, '... and both are live again');
DELETE FROM lu_misc;

-- a subtransaction rolled back inside the statement
CREATE FUNCTION lu_partial() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM lu_notes WHERE id = 4;
    BEGIN
        DELETE FROM lu_projects WHERE id = 5;       -- cascades to task 15
        RAISE EXCEPTION 'abandon';
    EXCEPTION WHEN raise_exception THEN
        NULL;
    END;
    DELETE FROM lu_notes WHERE id = 7;
END
$$;
CREATE FUNCTION lu_all_rolled_back() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        DELETE FROM lu_notes WHERE id = 6;
        DELETE FROM lu_projects WHERE id = 5;
        RAISE EXCEPTION 'abandon';
    EXCEPTION WHEN raise_exception THEN
        NULL;
    END;
END
$$;
SELECT lu_nchanges() AS n_before \gset
SELECT lu_partial();
SELECT is(lu_nchanges(), :n_before + 1::bigint, 'statement with a rolled-back exception block: one entry');
SELECT is(lu_rows(lu_last()), ARRAY['public.lu_notes acme -2 +0'],
          '... counting only the two notes that stayed tombstoned, not project 5 and task 15');
SELECT is(lu_ids('lu_notes', 'dead'), '{2,3,4,7}'::int[], 'notes 4 and 7 are tombstoned');
SELECT ok(lu_chg('lu_projects', 5) IS NULL AND lu_chg('lu_tasks', 15) IS NULL
          AND 5 = ANY (lu_ids('lu_projects', 'live')) AND 15 = ANY (lu_ids('lu_tasks', 'live')),
          'project 5 and its task, tombstoned in the rolled-back block, are live and untouched');
SELECT lu_all_rolled_back();
SELECT is(lu_nchanges(), :n_before + 1::bigint, 'statement whose only tombstoning was rolled back writes no entry');
SELECT ok(6 = ANY (lu_ids('lu_notes', 'live')), 'note 6 is live after the rolled-back block');

-- role and statement text
CREATE ROLE lu_app;
GRANT SELECT, DELETE ON lu_notes TO lu_app;
SET LOCAL ROLE lu_app;
DELETE FROM lu_notes WHERE id = 5;
SELECT :ROW_COUNT AS lu_rc \gset
RESET ROLE;
SELECT is(:lu_rc, 1, 'a role with only SELECT, DELETE tombstones note 5');
SELECT is((lu_change(lu_last())).role, 'lu_app'::name, 'role is the current_user that deleted: lu_app');
SELECT is((lu_change(lu_last())).session_role, session_user::name, 'session_role stays the session user');
SET LOCAL ROLE lu_app;
SELECT lu_try($$SELECT tombstone.undelete('lu_notes', '{"id": 5}')$$) AS lu_res \gset
RESET ROLE;
SELECT is(left(:'lu_res', 5), '42501', 'undelete runs as the caller: without UPDATE privilege, 42501');
SELECT 'DELETE FROM lu_notes WHERE id = 8 /* ' || repeat('x', 2000) || ' */' AS lu_long \gset
:lu_long;
SELECT is((lu_change(lu_last())).statement, left(:'lu_long', 1024),
          'a statement longer than 1024 bytes is recorded as its first 1024 bytes');
SELECT 'DELETE FROM lu_notes WHERE id = 9 /* ' || repeat(chr(233), 1000) || ' */' AS lu_long2 \gset
:lu_long2;
SELECT ok(octet_length((lu_change(lu_last())).statement) BETWEEN 1023 AND 1024
          AND starts_with(:'lu_long2', (lu_change(lu_last())).statement),
          'a long multibyte statement is cut at a character boundary within 1024 bytes');

--------------------------------------------------------------------------
-- 2. The ledger is append-only
--------------------------------------------------------------------------

SELECT lu_nchanges() AS n_before \gset
SELECT throws_ok($$UPDATE tombstone.changes SET operation = 'undelete'$$, 'TB013', NULL,
                 'UPDATE of the ledger: TB013');
SELECT throws_ok($$DELETE FROM tombstone.changes$$, 'TB013', NULL, 'DELETE from the ledger: TB013');
SELECT throws_ok($$TRUNCATE tombstone.changes$$, 'TB013', NULL, 'TRUNCATE of the ledger: TB013');
SET LOCAL session_replication_role = replica;
SELECT throws_ok($$DELETE FROM tombstone.changes$$, 'TB013', NULL,
                 'DELETE from the ledger with session_replication_role = replica: TB013');
RESET session_replication_role;
-- (lu_refused rolls back whatever succeeded, so a failure here cannot
-- weaken the ledger for the rest of the file)
SELECT is(lu_refused($$ALTER TABLE tombstone.changes DISABLE TRIGGER tombstone_ledger_guard$$), 'TB013',
          'disabling the ledger''s guard trigger: TB013');
SELECT is(lu_refused($$ALTER TABLE tombstone.changes DISABLE TRIGGER ALL$$,
                     $$SET LOCAL session_replication_role = replica$$,
                     $$DELETE FROM tombstone.changes$$), 'TB013',
          'DISABLE TRIGGER ALL of the ledger leaves its guard firing always: DELETE as replica: TB013');
SELECT is(lu_refused($$ALTER TABLE tombstone.changes ENABLE TRIGGER tombstone_ledger_guard$$,
                     $$SET LOCAL session_replication_role = replica$$,
                     $$DELETE FROM tombstone.changes$$), 'TB013',
          'making the guard fire on origin only, then DELETE as replica: TB013');
SELECT is(lu_refused($$DROP TRIGGER tombstone_ledger_guard ON tombstone.changes$$), 'TB013',
          'dropping the ledger''s guard trigger: TB013');
SELECT is(lu_refused($$CREATE OR REPLACE TRIGGER tombstone_ledger_guard BEFORE UPDATE OR DELETE ON tombstone.changes
                       FOR EACH ROW EXECUTE FUNCTION lu_pass()$$,
                     $$DELETE FROM tombstone.changes$$),
          'TB013', 'replacing the ledger''s guard trigger (CREATE OR REPLACE TRIGGER), then DELETE: TB013');
SELECT is(lu_refused($$ALTER TRIGGER tombstone_ledger_guard ON tombstone.changes RENAME TO lu_renamed$$,
                     $$DROP TRIGGER lu_renamed ON tombstone.changes$$,
                     $$DELETE FROM tombstone.changes$$),
          'TB013', 'renaming the ledger''s guard trigger, dropping it, then DELETE: TB013');
SELECT is(lu_nchanges(), :n_before::bigint, 'the ledger entries are all still there');

--------------------------------------------------------------------------
-- 3. Cascade from an unprotected parent
--------------------------------------------------------------------------

DELETE FROM lu_accounts WHERE id = 1;
SELECT is(:ROW_COUNT, 1, 'DELETE of an unprotected account reports one row');
SELECT is(array(SELECT id FROM lu_accounts), '{2}'::int[], 'the unprotected account is physically gone');
SELECT is(lu_ids('lu_sites', 'dead'), '{1,2}'::int[], 'its protected sites are tombstoned, not deleted');
SELECT is((lu_change(lu_last())).operation, 'cascade',
          'operation of a cascade from an unprotected parent is ''cascade''');
SELECT is(lu_rows(lu_last()), ARRAY['public.lu_sites acme -1 +0', 'public.lu_sites globex -1 +0'],
          '... counting the sites per tenant');

--------------------------------------------------------------------------
-- 4. Foreign-key actions between protected tables
--------------------------------------------------------------------------

SELECT lu_nchanges() AS n_before \gset
SELECT throws_ok($$DELETE FROM lu_r_parent WHERE id = 1$$, '23503', NULL,
                 'ON DELETE RESTRICT with a live child: 23503');
SELECT throws_like($$DELETE FROM lu_r_parent WHERE id = 1$$, '%lu_r_restrict%',
                   '... the message names the child table lu_r_restrict');
SELECT throws_ok($$DELETE FROM lu_r_parent WHERE id = 2$$, '23503', NULL,
                 'ON DELETE NO ACTION with a live child: 23503');
SELECT throws_like($$DELETE FROM lu_r_parent WHERE id = 2$$, '%lu_r_noaction%',
                   '... the message names the child table lu_r_noaction');
SELECT throws_ok($$DELETE FROM lu_r_parent WHERE id IN (5, 1)$$, '23503', NULL,
                 'a DELETE of a free parent and a restricted one: 23503');
SELECT is(lu_ids('lu_r_parent', 'dead'), '{}'::int[], 'no parent row was tombstoned by the refused DELETEs');
SELECT is(lu_nchanges(), :n_before::bigint, 'the refused DELETEs wrote no ledger entry');

DELETE FROM lu_r_parent WHERE id = 3;
SELECT is(:ROW_COUNT, 1, 'ON DELETE SET NULL: the parent is tombstoned');
SELECT results_eq($$SELECT id, parent_id, deleted_at, deleted_change FROM lu_r_setnull ORDER BY id$$,
                  $$VALUES (1, NULL::int, NULL::timestamptz, NULL::bigint), (2, NULL, NULL, NULL)$$,
                  '... the SET NULL children lose their reference, as with a real DELETE, and stay live');
SELECT is(lu_rows(lu_last()), ARRAY['public.lu_r_parent acme -1 +0'], '... the change holds only the parent');
DELETE FROM lu_r_parent WHERE id = 4;
SELECT results_eq($$SELECT parent_id, deleted_at, deleted_change FROM lu_r_setdefault WHERE id = 1$$,
                  $$VALUES (0, NULL::timestamptz, NULL::bigint)$$,
                  'ON DELETE SET DEFAULT: the child gets its default, as with a real DELETE');
-- A SET NULL child tombstoned and restored on its own while its parent
-- stays tombstoned (its reference went with the parent).  The child is
-- tombstoned and restored in this same transaction, so PostgreSQL's own
-- foreign-key trigger re-checks it on the restoring UPDATE.
DELETE FROM lu_r_setnull WHERE id = 2;
SELECT is(lu_try($$SELECT tombstone.undelete('lu_r_setnull', '{"id": 2}')$$), '1',
          'a SET NULL child comes back while its parent stays tombstoned');
DELETE FROM lu_r_setnull WHERE id = 2;     -- tombstoned again, whatever happened
SELECT is(tombstone.undelete('lu_r_parent', '{"id": 3}'), 1::bigint, 'undelete of the SET NULL parent');
SELECT results_eq($$SELECT id, parent_id FROM lu_r_setnull ORDER BY id$$, $$VALUES (1, 3)$$,
                  '... its live child gets its reference back; the one tombstoned meanwhile does not');
SELECT is(tombstone.undelete('lu_r_parent', '{"id": 4}'), 1::bigint, 'undelete of the SET DEFAULT parent');
DELETE FROM lu_r_restrict WHERE id = 1;
DELETE FROM lu_r_parent WHERE id = 1;
SELECT is(:ROW_COUNT, 1, 'RESTRICT: once the child is tombstoned the parent can be tombstoned');
SELECT throws_ok($$INSERT INTO lu_r_noaction VALUES (2, 'acme', 1)$$, '23503', NULL,
                 'a new child referencing a tombstoned parent: 23503');
SELECT throws_ok($$INSERT INTO lu_tasks VALUES (16, 'acme', 1, 'orphan')$$, '23503', NULL,
                 'a new task referencing the tombstoned project 1: 23503');
-- tombstone.visibility changes what queries see, not what a foreign key accepts
SET LOCAL tombstone.visibility = 'all';
SELECT is(lu_refused($$INSERT INTO lu_tasks VALUES (16, 'acme', 1, 'orphan')$$), '23503',
          'with visibility ''all'', a new task referencing the tombstoned project 1: still 23503');
SET LOCAL tombstone.visibility = 'deleted';
SELECT is(lu_refused($$INSERT INTO lu_tasks VALUES (16, 'acme', 1, 'orphan')$$), '23503',
          'with visibility ''deleted'', a new task referencing the tombstoned project 1: still 23503');
SELECT is(lu_refused($$INSERT INTO lu_tasks VALUES (16, 'acme', 2, 'fine')$$), 'no error',
          'with visibility ''deleted'', a new task referencing the live project 2 is accepted');
RESET tombstone.visibility;

INSERT INTO lu_projects VALUES (6, 'acme', 'fresh');
INSERT INTO lu_tasks VALUES (16, 'acme', 6, 'fresh task');
INSERT INTO lu_comments VALUES (107, 'acme', 16, 'fresh comment');
SELECT lives_ok($$DELETE FROM lu_projects WHERE id = 6$$,
                'children inserted in the same transaction cascade without 23503');
SELECT ok(16 = ANY (lu_ids('lu_tasks', 'dead')) AND 107 = ANY (lu_ids('lu_comments', 'dead')),
          '... the fresh task and comment are tombstoned');

--------------------------------------------------------------------------
-- 5. tombstone.undelete()
--------------------------------------------------------------------------

DELETE FROM lu_items WHERE tenant = 'acme' AND id IN (1, 2, 3);
SELECT lu_last() AS c_items \gset
SELECT is(tombstone.undelete('lu_items', '{"id": 1}'), 1::bigint, 'undelete by id restores one row');
SELECT lu_last() AS c_und1 \gset
SELECT results_eq($$SELECT id, tenant, code, name, note, qty, deleted_at FROM lu_items WHERE id = 1$$,
                  $$VALUES (1, 'acme', 'A1', 'widget', NULL::text, 5, NULL::timestamptz)$$,
                  'item 1 is visible with exactly its values');
SELECT is((lu_change(:c_und1)).operation, 'undelete', 'operation of undelete() is ''undelete''');
SELECT is(lu_rows(:c_und1), ARRAY['public.lu_items acme -0 +1'], '... restoring one item');
SELECT is(lu_chg('lu_items', 1), :c_und1::bigint, 'the restored item carries the undelete''s change id');
SELECT is(tombstone.undelete('lu_items', '{"qty": 3, "note": null}'), 1::bigint,
          'JSON null matches IS NULL: restores item 3, not item 2 (note ''fragile'')');
SELECT is(lu_ids('lu_items', 'dead'), '{2}'::int[], 'item 2 is still tombstoned');
SELECT is(tombstone.undelete('lu_items', '{"tenant": "acme", "code": "A2"}'), 1::bigint,
          'a match on two columns restores item 2');
SELECT lu_nchanges() AS n_before \gset
SELECT is(tombstone.undelete('lu_items', '{"id": 1}'), 0::bigint, 'undelete of a live row restores nothing');
SELECT is(tombstone.undelete('lu_items', '{"id": 4242}'), 0::bigint, 'undelete matching no row restores nothing');
SELECT is(lu_nchanges(), :n_before::bigint, '... and writes no ledger entry');

-- values are values
DELETE FROM lu_items WHERE id = 5;
SELECT is(tombstone.undelete('lu_items', jsonb_build_object('name', $$Robert'); DROP TABLE lu_items; --$$)),
          1::bigint, 'a value that looks like SQL injection is matched as a value');
SELECT ok(5 = ANY (lu_ids('lu_items', 'live')) AND to_regclass('lu_items') IS NOT NULL,
          '... item 5 is back and lu_items still exists');
DELETE FROM lu_items WHERE id = 6;
SELECT throws_ok($$SELECT tombstone.undelete('lu_items', '{"id": "6 OR true"}')$$, '22P02', NULL,
                 'a value with SQL in it for an int column: 22P02');
SELECT throws_ok($$SELECT tombstone.undelete('lu_items', '{"id\" IS NOT NULL OR \"id": 6}')$$, '42703', NULL,
                 'a column name with SQL in it: 42703');
SELECT is(lu_ids('lu_items', 'dead'), '{6}'::int[], 'none of those restored anything');

-- argument errors
SELECT throws_ok($$SELECT tombstone.undelete('lu_items', '{"nope": 1}')$$, '42703', NULL,
                 'undelete: unknown column: 42703');
SELECT throws_ok($$SELECT tombstone.undelete('lu_items', '{"qty": "many"}')$$, '22P02', NULL,
                 'undelete: value that does not cast to the column type: 22P02');
SELECT throws_ok($$SELECT tombstone.undelete('lu_items', '[{"id": 6}]')$$, '22023', NULL,
                 'undelete: match is an array: 22023');
SELECT throws_ok($$SELECT tombstone.undelete('lu_items', '6')$$, '22023', NULL,
                 'undelete: match is a scalar: 22023');
SELECT throws_ok($$SELECT tombstone.undelete('lu_items', '{}')$$, '22023', NULL,
                 'undelete: empty match: 22023');
SELECT throws_ok($$SELECT tombstone.undelete(NULL, '{"id": 6}')$$, '22004', NULL,
                 'undelete: NULL table: 22004');
SELECT throws_ok($$SELECT tombstone.undelete('lu_items', NULL)$$, '22004', NULL,
                 'undelete: NULL match: 22004');
SELECT throws_ok($$SELECT tombstone.undelete('lu_accounts', '{"id": 1}')$$, '42809', NULL,
                 'undelete: table not protected: 42809');

-- a parent comes back with the children its change cascaded to, and only those
DELETE FROM lu_comments WHERE id = 108;
SELECT lu_last() AS c_c108 \gset
DELETE FROM lu_projects WHERE id = 2;
SELECT lu_last() AS c_proj2 \gset
SELECT is(lu_rows(:c_proj2),
          ARRAY['public.lu_comments acme -1 +0', 'public.lu_projects acme -1 +0', 'public.lu_tasks acme -1 +0'],
          'project 2 took task 12 and comment 103 (comment 108 was already tombstoned)');
SELECT is(tombstone.undelete('lu_projects', '{"id": 2}'), 1::bigint, 'undelete of project 2 returns 1');
SELECT is(lu_rows(lu_last()),
          ARRAY['public.lu_comments acme -0 +1', 'public.lu_projects acme -0 +1', 'public.lu_tasks acme -0 +1'],
          '... one entry restoring the project and the task and comment its change cascaded to');
SELECT is(array(SELECT id FROM lu_comments WHERE task_id = 12 ORDER BY id), '{103}'::int[],
          '... comment 103 is back, comment 108 (tombstoned by another change) is not');
SELECT is(lu_chg('lu_comments', 108), :c_c108::bigint, '... comment 108 keeps its own change id');

-- restoring a child whose protected parent is still tombstoned
SELECT throws_ok($$SELECT tombstone.undelete('lu_tasks', '{"id": 10}')$$, '23503', NULL,
                 'undelete of a task whose project is tombstoned: 23503');
SELECT throws_like($$SELECT tombstone.undelete('lu_tasks', '{"id": 10}')$$, '%lu_tasks%',
                   '... the message names the table lu_tasks');
SELECT is(lu_ids('lu_tasks', 'dead'), '{10,11,16}'::int[], '... task 10 stays tombstoned');

-- a live row holds the key
DELETE FROM lu_items WHERE id IN (9, 11);
SELECT lu_last() AS c_9_11 \gset
INSERT INTO lu_items VALUES (10, 'acme', 'A9', 'new nine', NULL, 1);
SELECT throws_ok($$SELECT tombstone.undelete('lu_items', '{"id": 9}')$$, '23505', NULL,
                 'undelete of a row whose unique key a live row now holds: 23505');
SELECT throws_like($$SELECT tombstone.undelete('lu_items', '{"id": 9}')$$, '%lu_items%',
                   '... the message names the table lu_items');
SELECT throws_ok($$SELECT tombstone.undelete('lu_items', '{"tenant": "acme", "qty": 9}')$$, '23505', NULL,
                 'undelete of a conflicting and a free row together: 23505');
SELECT throws_ok(format('SELECT tombstone.undelete_change(%s)', :c_9_11), '23505', NULL,
                 'undelete_change of a change with a conflicting row: 23505');
SELECT is(lu_ids('lu_items', 'dead'), '{6,9,11}'::int[], '... nothing was restored, not even item 11');

-- a plain UPDATE ... SET deleted_at = NULL restores like undelete()
DELETE FROM lu_projects WHERE id = 5;
SET LOCAL tombstone.visibility = 'all';
UPDATE lu_projects SET deleted_at = NULL WHERE id = 5;
RESET tombstone.visibility;
SELECT is(lu_rows(lu_last()), ARRAY['public.lu_projects acme -0 +1', 'public.lu_tasks acme -0 +1'],
          'UPDATE ... SET deleted_at = NULL of project 5 also restores task 15, which its change cascaded to');
SELECT ok(15 = ANY (lu_ids('lu_tasks', 'live')) AND 106 = ANY (lu_ids('lu_comments', 'dead')),
          '... task 15 is back; comment 106, tombstoned by another change, is not');

--------------------------------------------------------------------------
-- 6. tombstone.undelete_change()
--------------------------------------------------------------------------

DELETE FROM lu_items WHERE id = 4;
SELECT lu_last() AS c_early \gset
DELETE FROM lu_items WHERE id IN (7, 8);
SELECT lu_last() AS c_78 \gset
SELECT is(tombstone.undelete('lu_items', '{"id": 7}'), 1::bigint, 'item 7 restored on its own');
DELETE FROM lu_items WHERE id = 7;
SELECT lu_last() AS c_re7 \gset
SELECT is(tombstone.undelete_change(:c_78), 1::bigint,
          'undelete_change of the change that took items 7 and 8 restores 1 row');
SELECT lu_last() AS c_undo78 \gset
SELECT ok(8 = ANY (lu_ids('lu_items', 'live')), '... item 8 is back');
SELECT ok(lu_chg('lu_items', 7) = :c_re7 AND 7 = ANY (lu_ids('lu_items', 'dead')),
          '... item 7, restored and tombstoned again by a later change, stays tombstoned');
SELECT ok(lu_chg('lu_items', 4) = :c_early AND 4 = ANY (lu_ids('lu_items', 'dead')),
          '... item 4, tombstoned earlier by another change, stays tombstoned');
SELECT is((lu_change(:c_undo78)).operation, 'undelete', 'operation of undelete_change of a delete is ''undelete''');
SELECT is((lu_change(:c_undo78)).undoes, :c_78::bigint, '... undoes names the change undone');
SELECT is(lu_rows(:c_undo78), ARRAY['public.lu_items acme -0 +1'], '... restoring one item');

SELECT lu_nchanges() AS n_before \gset
SELECT is(tombstone.undelete_change(:c_proj1), 6::bigint,
          'undelete_change of the 3-level cascade restores 6 rows');
SELECT lu_last() AS c_undo_p1 \gset
SELECT is(lu_nchanges(), :n_before + 1::bigint, '... in one ledger entry');
SELECT is(lu_rows(:c_undo_p1),
          ARRAY['public.lu_comments acme -0 +3', 'public.lu_projects acme -0 +1', 'public.lu_tasks acme -0 +2'],
          '... restoring 1 project, 2 tasks, 3 comments');
SELECT is(array(SELECT id FROM lu_comments WHERE task_id IN (10, 11) ORDER BY id), '{100,101,102}'::int[],
          '... the comments of project 1 are visible again');
SELECT results_eq($$SELECT id, tenant, project_id, title FROM lu_tasks WHERE project_id = 1 ORDER BY id$$,
                  $$VALUES (10, 'acme', 1, 'design'), (11, 'acme', 1, 'build')$$,
                  '... the tasks of project 1 are back with their values');
SELECT is(lu_chg('lu_comments', 102), :c_undo_p1::bigint, '... restored rows carry the undo''s change id');
SELECT is(tombstone.undelete_change(:c_proj1), 0::bigint, 'undoing the same change again restores nothing');

-- undo of an undelete
SELECT is(tombstone.undelete_change(:c_undo_p1), 6::bigint,
          'undelete_change of an undelete tombstones its 6 rows again');
SELECT lu_last() AS c_redo_p1 \gset
SELECT is((lu_change(:c_redo_p1)).operation, 'delete',
          'operation of the undo of an undelete is ''delete''');
SELECT is((lu_change(:c_redo_p1)).undoes, :c_undo_p1::bigint, '... undoes names the undelete');
SELECT is(lu_rows(:c_redo_p1),
          ARRAY['public.lu_comments acme -3 +0', 'public.lu_projects acme -1 +0', 'public.lu_tasks acme -2 +0'],
          '... tombstoning 1 project, 2 tasks, 3 comments');
SELECT ok(1 = ANY (lu_ids('lu_projects', 'dead')) AND lu_ids('lu_comments', 'dead') @> '{100,101,102}',
          '... project 1 and its comments are tombstones again');
SELECT is(tombstone.undelete_change(:c_redo_p1), 6::bigint, 'and undoing that brings the 6 rows back');

SELECT throws_ok($$SELECT tombstone.undelete_change(-42)$$, '42704', NULL, 'undelete_change of an unknown id: 42704');
SELECT throws_ok($$SELECT tombstone.undelete_change(NULL)$$, '22004', NULL, 'undelete_change(NULL): 22004');

-- progress: one NOTICE per table, with its count (seen by a second session
-- in a transaction of its own, rolled back)
\set lu_notice_sql 'SET lock_timeout = ''10s''; BEGIN; CREATE TABLE lu_np (id int PRIMARY KEY, tenant text NOT NULL); CREATE TABLE lu_nc (id int PRIMARY KEY, tenant text NOT NULL, p int REFERENCES lu_np ON DELETE CASCADE); SELECT tombstone.protect(''lu_np'', ''tenant''), tombstone.protect(''lu_nc'', ''tenant''); INSERT INTO lu_np VALUES (1, ''a''); INSERT INTO lu_nc VALUES (1, ''a'', 1), (2, ''a'', 1); DELETE FROM lu_np; SELECT tombstone.undelete_change(max(id)) FROM tombstone.changes WHERE xid = pg_current_xact_id(); ROLLBACK;'
\set lu_notices `psql -X -q -h :'HOST' -p :PORT -U :'USER' -d :'DBNAME' -c :'lu_notice_sql' 2>&1 >/dev/null | grep 'NOTICE'`
SELECT is(array_length(regexp_split_to_array(:'lu_notices', E'\n'), 1), 2,
          'undelete_change emits one NOTICE per table');
SELECT ok(EXISTS (SELECT FROM regexp_split_to_table(:'lu_notices', E'\n') l WHERE l ~ '"lu_np"' AND l ~ '\m1 rows?\M')
          AND EXISTS (SELECT FROM regexp_split_to_table(:'lu_notices', E'\n') l WHERE l ~ '"lu_nc"' AND l ~ '\m2 rows?\M'),
          '... each naming the table and its count');

--------------------------------------------------------------------------
-- 7. tombstone.preview()
--------------------------------------------------------------------------

SELECT lu_nchanges() AS n_before \gset
SELECT last_value AS seq_before FROM tombstone.changes_id_seq \gset
SELECT results_eq($$SELECT table_name::text, tenant, rows FROM tombstone.preview('DELETE FROM lu_projects WHERE id = 4')
                     ORDER BY table_name::text COLLATE "C"$$,
                  $$VALUES ('lu_comments', 'acme', 1::bigint), ('lu_projects', 'acme', 1::bigint),
                           ('lu_tasks', 'acme', 1::bigint)$$,
                  'preview of a cascading DELETE: project 4, task 14, comment 105');
SELECT ok(4 = ANY (lu_ids('lu_projects', 'live')) AND 14 = ANY (lu_ids('lu_tasks', 'live'))
          AND 105 = ANY (lu_ids('lu_comments', 'live')) AND lu_chg('lu_projects', 4) IS NULL,
          '... afterwards project 4, task 14, comment 105 are live and untouched');
SELECT is(lu_nchanges(), :n_before::bigint, '... and no ledger entry was written');
SELECT results_eq($$SELECT tenant, rows FROM tombstone.preview('DELETE FROM lu_notes') ORDER BY 1$$,
                  $$VALUES ('acme', 2::bigint), ('initech', 1::bigint)$$,
                  'preview counts only live rows, per tenant (acme notes 1 and 6, initech note 10)');
SELECT is(array(SELECT id FROM lu_notes ORDER BY id), '{1,6,10}'::int[], '... and the notes are still there');
SELECT throws_ok($$SELECT * FROM tombstone.preview('SELECT 1')$$, '42809', NULL, 'preview of a SELECT: 42809');
SELECT throws_ok($$SELECT * FROM tombstone.preview('UPDATE lu_notes SET body = body')$$, '42809', NULL,
                 'preview of an UPDATE: 42809');
SELECT throws_ok($$SELECT * FROM tombstone.preview('DELETE FROM lu_notes WHERE id = 1; DELETE FROM lu_notes')$$,
                 '42809', NULL, 'preview of two statements: 42809');
SELECT throws_ok($$SELECT * FROM tombstone.preview(NULL)$$, '22004', NULL, 'preview(NULL): 22004');
SELECT throws_ok($$SELECT * FROM tombstone.preview('DELETE FROM lu_r_parent WHERE id = 2')$$, '23503', NULL,
                 'preview of a DELETE a NO ACTION key refuses: 23503');
SELECT is(array(SELECT id FROM lu_notes ORDER BY id), '{1,6,10}'::int[], 'after the refused previews the notes are intact');
SELECT results_eq($$SELECT table_name::text, tenant, rows FROM tombstone.preview('DELETE FROM lu_accounts WHERE id = 2')$$,
                  $$VALUES ('lu_sites', 'acme', 1::bigint)$$,
                  'preview of a DELETE of an unprotected parent counts the protected rows it cascades to');
SELECT is(array(SELECT id FROM lu_accounts), '{2}'::int[], '... and the unprotected row is not deleted');
SELECT is(lu_nchanges(), :n_before::bigint, 'no preview wrote a ledger entry');
SELECT is((SELECT last_value FROM tombstone.changes_id_seq), :seq_before::bigint, 'no preview took a change id');
DELETE FROM lu_notes WHERE id = 6;
SELECT is(lu_rows(lu_last()), ARRAY['public.lu_notes acme -1 +0'],
          'a DELETE after the previews is recorded normally');

--------------------------------------------------------------------------
-- 8. Partitioned tables with composite keys
--------------------------------------------------------------------------

SELECT results_eq($$SELECT table_name::text, tenant, rows
                      FROM tombstone.preview('DELETE FROM lu_orders WHERE tenant = ''acme'' AND id = 1')
                     ORDER BY table_name::text COLLATE "C"$$,
                  $$VALUES ('lu_order_lines', 'acme', 2::bigint), ('lu_orders', 'acme', 1::bigint),
                           ('lu_shipments', 'acme', 1::bigint)$$,
                  'preview on a partitioned parent: counted by root table, cascades included');
SELECT results_eq($$SELECT table_name::text, tenant, rows FROM tombstone.preview('DELETE FROM lu_order_lines_acme WHERE id = 3')$$,
                  $$VALUES ('lu_order_lines', 'acme', 1::bigint)$$,
                  'preview of a DELETE on a single partition reports the partitioned table');
DELETE FROM lu_orders WHERE tenant = 'acme' AND id = 1;
SELECT is(:ROW_COUNT, 1, 'DELETE of order (acme, 1) from the partitioned table reports one row');
SELECT lu_last() AS c_ord \gset
SELECT results_eq($$SELECT tenant, id FROM lu_order_lines ORDER BY 1, 2$$,
                  $$VALUES ('acme', 3), ('globex', 1)$$,
                  'the lines of order (acme, 1) are hidden; globex''s line of its order 1 is not');
SELECT is(array(SELECT id FROM lu_shipments ORDER BY id), '{2}'::int[],
          'the unpartitioned shipment of order (acme, 1) is hidden, globex''s is not');
SELECT is(lu_rows(:c_ord),
          ARRAY['public.lu_order_lines acme -2 +0', 'public.lu_orders acme -1 +0', 'public.lu_shipments acme -1 +0'],
          'one change, counted under the partitioned tables, not their partitions');
SET LOCAL tombstone.visibility = 'deleted';
SELECT is(array(SELECT DISTINCT deleted_change FROM lu_order_lines), ARRAY[:c_ord::bigint],
          'the tombstoned lines carry the change id');
RESET tombstone.visibility;
SELECT throws_ok($$SELECT tombstone.undelete('lu_order_lines', '{"tenant": "acme", "id": 1}')$$, '23503', NULL,
                 'undelete of a line whose partitioned parent is tombstoned: 23503');
SELECT is(tombstone.undelete('lu_orders', '{"tenant": "acme", "id": 1}'), 1::bigint,
          'undelete of the order restores it');
SELECT is(lu_rows(lu_last()),
          ARRAY['public.lu_order_lines acme -0 +2', 'public.lu_orders acme -0 +1', 'public.lu_shipments acme -0 +1'],
          '... together with its lines and shipment');
DELETE FROM lu_orders WHERE tenant = 'acme' AND id = 1;
SELECT is(tombstone.undelete_change(lu_last()), 4::bigint, 'undelete_change on the partitioned tables restores 4 rows');
SELECT results_eq($$SELECT tenant, id, order_id, sku FROM lu_order_lines ORDER BY 1, 2$$,
                  $$VALUES ('acme', 1, 1, 'sku-a'), ('acme', 2, 1, 'sku-b'), ('acme', 3, 2, 'sku-c'),
                           ('globex', 1, 1, 'sku-d')$$,
                  '... all lines visible with their values');
SELECT throws_ok($$DELETE FROM lu_orders WHERE tenant = 'acme' AND id = 2$$, '23503', NULL,
                 'NO ACTION key to a partitioned parent with a live invoice: 23503');
SELECT throws_like($$DELETE FROM lu_orders WHERE tenant = 'acme' AND id = 2$$, '%lu_invoices%',
                   '... naming lu_invoices');

--------------------------------------------------------------------------
-- 9. The tenant registry
--------------------------------------------------------------------------

SELECT throws_ok($$SELECT tombstone.undelete_tenant('acme')$$, '55000', NULL,
                 'undelete_tenant without a tenant registry: 55000');
SELECT throws_ok($$SELECT tombstone.protect_tenants(NULL, 'id')$$, '22004', NULL, 'protect_tenants(NULL, ...): 22004');
SELECT throws_ok($$SELECT tombstone.protect_tenants('lu_tenants', NULL)$$, '22004', NULL,
                 'protect_tenants(..., NULL): 22004');
SELECT throws_ok($$SELECT tombstone.protect_tenants('lu_tenants', 'nope')$$, '42703', NULL,
                 'protect_tenants with a missing column: 42703');
SELECT throws_ok($$SELECT tombstone.protect_tenants('lu_tenants', 'plan')$$, '42P16', NULL,
                 'protect_tenants with a non-unique column: 42P16');
SELECT is((SELECT count(*) FROM tombstone.protected_tables WHERE table_name = 'lu_tenants'::regclass), 0::bigint,
          'the refused calls left lu_tenants unprotected');
SELECT lives_ok($$SELECT tombstone.protect_tenants('lu_tenants', 'id')$$, 'protect_tenants(lu_tenants, id)');
SELECT is((SELECT tenant_column FROM tombstone.protected_tables WHERE table_name = 'lu_tenants'::regclass), 'id'::name,
          'the registry is protected with its id column as tenant column');
SELECT throws_ok($$SELECT tombstone.protect_tenants('lu_notes', 'id')$$, '42710', NULL,
                 'a second tenant registry: 42710');
SELECT throws_ok($$SELECT tombstone.protect_tenants('lu_tenants', 'id')$$, '42710', NULL,
                 'declaring the registry twice: 42710');

-- A checksum of a tenant's rows in every table: user columns and whether
-- the row is live, not deleted_change.
CREATE FUNCTION lu_checksum(t text) RETURNS text
LANGUAGE sql SET tombstone.visibility = 'all' AS $$
SELECT md5(string_agg(r, E'\n' ORDER BY r COLLATE "C")) FROM (
    SELECT 'tenants' || row(id, name, plan, deleted_at IS NULL)::text FROM lu_tenants WHERE id = t
    UNION ALL SELECT 'projects' || row(id, tenant, name, deleted_at IS NULL)::text FROM lu_projects WHERE tenant = t
    UNION ALL SELECT 'tasks' || row(id, tenant, project_id, title, deleted_at IS NULL)::text FROM lu_tasks WHERE tenant = t
    UNION ALL SELECT 'comments' || row(id, tenant, task_id, body, deleted_at IS NULL)::text FROM lu_comments WHERE tenant = t
    UNION ALL SELECT 'notes' || row(id, tenant, body, deleted_at IS NULL)::text FROM lu_notes WHERE tenant = t
    UNION ALL SELECT 'items' || row(id, tenant, code, name, note, qty, deleted_at IS NULL)::text FROM lu_items WHERE tenant = t
    UNION ALL SELECT 'r_parent' || row(id, tenant, deleted_at IS NULL)::text FROM lu_r_parent WHERE tenant = t
    UNION ALL SELECT 'r_restrict' || row(id, tenant, parent_id, deleted_at IS NULL)::text FROM lu_r_restrict WHERE tenant = t
    UNION ALL SELECT 'r_noaction' || row(id, tenant, parent_id, deleted_at IS NULL)::text FROM lu_r_noaction WHERE tenant = t
    UNION ALL SELECT 'r_setnull' || row(id, tenant, parent_id, deleted_at IS NULL)::text FROM lu_r_setnull WHERE tenant = t
    UNION ALL SELECT 'r_setdefault' || row(id, tenant, parent_id, deleted_at IS NULL)::text FROM lu_r_setdefault WHERE tenant = t
    UNION ALL SELECT 'sites' || row(id, tenant, account_id, deleted_at IS NULL)::text FROM lu_sites WHERE tenant = t
    UNION ALL SELECT 'orders' || row(tenant, id, total, deleted_at IS NULL)::text FROM lu_orders WHERE tenant = t
    UNION ALL SELECT 'lines' || row(tenant, id, order_id, sku, deleted_at IS NULL)::text FROM lu_order_lines WHERE tenant = t
    UNION ALL SELECT 'shipments' || row(id, tenant, order_id, deleted_at IS NULL)::text FROM lu_shipments WHERE tenant = t
    UNION ALL SELECT 'invoices' || row(id, tenant, order_id, deleted_at IS NULL)::text FROM lu_invoices WHERE tenant = t
) s(r)
$$;
-- live rows of a tenant per table, as in the ledger
CREATE FUNCTION lu_live(t text) RETURNS text[] LANGUAGE sql AS $$
SELECT array_agg(format('%s %s -%s +0', tbl, t, n) ORDER BY tbl COLLATE "C") FROM (
              SELECT 'public.lu_tenants', count(*) FROM lu_tenants WHERE id = t
    UNION ALL SELECT 'public.lu_projects', count(*) FROM lu_projects WHERE tenant = t
    UNION ALL SELECT 'public.lu_tasks', count(*) FROM lu_tasks WHERE tenant = t
    UNION ALL SELECT 'public.lu_comments', count(*) FROM lu_comments WHERE tenant = t
    UNION ALL SELECT 'public.lu_notes', count(*) FROM lu_notes WHERE tenant = t
    UNION ALL SELECT 'public.lu_items', count(*) FROM lu_items WHERE tenant = t
    UNION ALL SELECT 'public.lu_r_parent', count(*) FROM lu_r_parent WHERE tenant = t
    UNION ALL SELECT 'public.lu_r_restrict', count(*) FROM lu_r_restrict WHERE tenant = t
    UNION ALL SELECT 'public.lu_r_noaction', count(*) FROM lu_r_noaction WHERE tenant = t
    UNION ALL SELECT 'public.lu_r_setnull', count(*) FROM lu_r_setnull WHERE tenant = t
    UNION ALL SELECT 'public.lu_r_setdefault', count(*) FROM lu_r_setdefault WHERE tenant = t
    UNION ALL SELECT 'public.lu_sites', count(*) FROM lu_sites WHERE tenant = t
    UNION ALL SELECT 'public.lu_orders', count(*) FROM lu_orders WHERE tenant = t
    UNION ALL SELECT 'public.lu_order_lines', count(*) FROM lu_order_lines WHERE tenant = t
    UNION ALL SELECT 'public.lu_shipments', count(*) FROM lu_shipments WHERE tenant = t
    UNION ALL SELECT 'public.lu_invoices', count(*) FROM lu_invoices WHERE tenant = t
) s(tbl, n) WHERE n > 0
$$;

SELECT lu_checksum('acme') AS sum_acme, lu_checksum('globex') AS sum_globex,
       lu_checksum('initech') AS sum_initech \gset
SELECT lu_live('acme')::text AS live_acme \gset
SELECT lu_nchanges() AS n_before \gset
DELETE FROM lu_tenants WHERE id = 'acme';
SELECT is(:ROW_COUNT, 1, 'DELETE of tenant acme from the registry reports one row');
SELECT lu_last() AS c_tenant \gset
SELECT is(lu_nchanges(), :n_before + 1::bigint, 'the tenant deletion is one ledger entry');
SELECT is((lu_change(:c_tenant)).operation, 'delete_tenant', '... with operation ''delete_tenant''');
SELECT is(lu_rows(:c_tenant), :'live_acme'::text[],
          '... counting, per table, every row of acme that was live');
SELECT is(lu_rows(:c_tenant),
          ARRAY['public.lu_comments acme -5 +0', 'public.lu_invoices acme -1 +0', 'public.lu_items acme -6 +0',
                'public.lu_notes acme -1 +0', 'public.lu_order_lines acme -3 +0', 'public.lu_orders acme -2 +0',
                'public.lu_projects acme -4 +0', 'public.lu_r_noaction acme -1 +0', 'public.lu_r_parent acme -5 +0',
                'public.lu_r_setdefault acme -1 +0', 'public.lu_r_setnull acme -1 +0', 'public.lu_shipments acme -1 +0',
                'public.lu_sites acme -1 +0', 'public.lu_tasks acme -5 +0', 'public.lu_tenants acme -1 +0'],
          '... which are these');
SELECT ok(lu_live('acme') IS NULL, 'no row of acme is visible in any table');
SELECT is(array(SELECT id FROM lu_notes WHERE tenant = 'acme'), '{}'::int[],
          'lu_notes, linked to nothing, lost its acme rows too');
SELECT is(lu_checksum('globex'), :'sum_globex', 'globex''s rows are untouched');
SELECT is(lu_checksum('initech'), :'sum_initech', 'initech''s rows are untouched');
SELECT throws_ok($$SELECT tombstone.undelete_tenant('globex')$$, '22023', NULL, 'undelete_tenant of a live tenant: 22023');
SELECT throws_ok($$SELECT tombstone.undelete_tenant('nope')$$, '42704', NULL, 'undelete_tenant of an unknown tenant: 42704');
SELECT throws_ok($$SELECT tombstone.undelete_tenant(NULL)$$, '22004', NULL, 'undelete_tenant(NULL): 22004');

SELECT is(lu_try($$SELECT tombstone.undelete_tenant('acme')$$), '38', 'undelete_tenant(acme) restores the 38 rows');
SELECT lu_last() AS c_untenant \gset
SELECT is((lu_change(:c_untenant)).operation, 'undelete', '... recorded as ''undelete''');
SELECT is((lu_change(:c_untenant)).undoes, :c_tenant::bigint, '... undoing the tenant deletion');
SELECT is(lu_rows(:c_untenant), regexp_replace(:'live_acme', '-(\d+) \+0', '-0 +\1', 'g')::text[],
          '... restoring, per table, what the tenant deletion took');
SELECT is(lu_checksum('acme'), :'sum_acme', 'acme''s rows are exactly as before the tenant deletion');
SELECT ok(lu_chg('lu_notes', 2) = :c_note2 AND 2 = ANY (lu_ids('lu_notes', 'dead')),
          'a note of acme tombstoned before the tenant deletion stays tombstoned with its own change');
SELECT is(lu_chg('lu_notes', 1), :c_untenant::bigint, 'restored rows carry the undelete_tenant change id');

-- two tenants in one statement
SELECT lu_checksum('globex') AS sum_globex2 \gset
DELETE FROM lu_tenants WHERE id IN ('globex', 'initech');
SELECT is(:ROW_COUNT, 2, 'DELETE of two tenants reports two rows');
SELECT lu_last() AS c_two \gset
SELECT is((lu_change(:c_two)).operation, 'delete_tenant', '... one change of operation ''delete_tenant''');
SELECT is(lu_rows(:c_two),
          ARRAY['public.lu_comments globex -1 +0', 'public.lu_notes initech -1 +0', 'public.lu_order_lines globex -1 +0',
                'public.lu_orders globex -1 +0', 'public.lu_projects globex -1 +0', 'public.lu_projects initech -1 +0',
                'public.lu_shipments globex -1 +0', 'public.lu_tasks globex -1 +0', 'public.lu_tenants globex -1 +0',
                'public.lu_tenants initech -1 +0'],
          '... counting the rows of both tenants');
SELECT is(lu_checksum('acme'), :'sum_acme', '... acme is untouched');
SELECT is(lu_try($$SELECT tombstone.undelete_tenant('initech')$$), '3',
          'undelete_tenant(initech) restores initech''s 3 rows only');
SELECT ok(lu_live('globex') IS NULL, '... globex stays deleted');
SELECT is(tombstone.undelete_change(:c_two), 7::bigint, 'undelete_change of the two-tenant deletion restores globex''s 7 rows');
SELECT is(lu_checksum('globex'), :'sum_globex2', '... globex is exactly as before');
SELECT is(array(SELECT id FROM lu_projects WHERE tenant = 'initech'), '{7}'::int[], '... initech is live');

SELECT * FROM finish();
ROLLBACK;
