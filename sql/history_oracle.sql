-- Row history checked against an oracle: a random workload (fixed seed) of
-- inserts, updates, deletes and undeletes over many tenants, run as many
-- transactions; between transactions, at random moments, copies of some
-- tenants' live rows (snapshots).  Afterwards tombstone.as_of() must give
-- back every snapshot exactly, every column included; three tenants rewound
-- to a snapshot's time must each equal that snapshot, with every other
-- tenant's rows and history untouched, and history must still give back
-- every snapshot.  Then fixed cases: rewinds past ON DELETE CASCADE, the
-- versions one transaction leaves, and as_of()'s errors.
--
-- Size: psql variables steps, tenants and seed (defaults below).
-- scripts/oracle.sh runs this file at a larger size and fails unless the
-- last line reads "oracle verdict: ok".
\set QUIET off
\set SHOW_CONTEXT never
\set VERBOSITY default
\if :{?steps}
\else
\set steps 300
\endif
\if :{?tenants}
\else
\set tenants 20
\endif
\if :{?seed}
\else
\set seed 0.4242
\endif

-- a database of its own, so that rewind_tenant() and the checksums see
-- only this test's tables
SELECT current_database() AS oracle_home \gset
SET client_min_messages = warning;
SET tombstone.drop_database = 'history_oracle';
DROP DATABASE IF EXISTS history_oracle;
CREATE DATABASE history_oracle;
RESET client_min_messages;
\set QUIET on
\c history_oracle
\set QUIET off
SET client_min_messages = warning;
CREATE EXTENSION pg_tombstone;
RESET client_min_messages;
-- snapshots and as_of() results are compared as text: fix the formats
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET synchronous_commit = off;
SET tombstone.audience = 'pg_tombstone:history_oracle';
SELECT tombstone.add_key('key', 'HS256', convert_to('some secret at least 32 bytes long!!', 'UTF8'));

-- Three tables: tasks belong to projects (ON DELETE CASCADE), notes have a
-- dropped column, arrays, jsonb and NULLs; the tenant column of tasks has
-- another name.  Tenants are 't001', 't002', ...; a row never changes tenant.
CREATE SCHEMA o;
CREATE TABLE o.projects (
    id      int PRIMARY KEY,
    tenant  text NOT NULL,
    name    text NOT NULL,
    budget  numeric(10,2),
    note    text
);
CREATE TABLE o.tasks (
    id          int PRIMARY KEY,
    site        text NOT NULL,
    project_id  int NOT NULL REFERENCES o.projects ON DELETE CASCADE,
    title       text NOT NULL,
    done        boolean NOT NULL,
    estimate    int
);
CREATE TABLE o.notes (
    id       int PRIMARY KEY,
    scratch  text,
    tenant   text NOT NULL,
    body     text,
    tags     text[],
    meta     jsonb
);
ALTER TABLE o.notes DROP COLUMN scratch;
CREATE INDEX ON o.projects (tenant);
CREATE INDEX ON o.tasks (site);
CREATE INDEX ON o.tasks (project_id);
CREATE INDEX ON o.notes (tenant);
CREATE SEQUENCE o.ids;

-- three quarters of the tenants have rows before the tables are protected
-- (ids 1 .. 3m, m = tenants * 3 / 4), and more rows after (ids 3m+1 .. 7m);
-- the workload's ids come from o.ids, after 7m
SELECT :tenants * 3 / 4 AS m \gset
INSERT INTO o.projects (id, tenant, name, budget, note)
SELECT g, format('t%s', lpad(g::text, 3, '0')), 'first of ' || g, g * 10, NULL
  FROM generate_series(1, :m) g;
INSERT INTO o.tasks (id, site, project_id, title, done, estimate)
SELECT :m + g, format('t%s', lpad(g::text, 3, '0')), g, 'first task', false,
       CASE WHEN g % 2 = 0 THEN g END
  FROM generate_series(1, :m) g;
INSERT INTO o.notes (id, tenant, body, tags, meta)
SELECT 2 * :m + g, format('t%s', lpad(g::text, 3, '0')), 'first note', ARRAY['a', NULL],
       CASE WHEN g % 3 = 0 THEN 'null'::jsonb ELSE jsonb_build_object('n', g) END
  FROM generate_series(1, :m) g;

SELECT tombstone.protect('o.projects', 'tenant');
SELECT tombstone.protect('o.tasks', 'site', '30 days');
SELECT tombstone.protect('o.notes', 'tenant', '7 days', true);
-- a protected table without history, for as_of()'s errors
CREATE TABLE o.plain (id int PRIMARY KEY, tenant text NOT NULL);
SELECT tombstone.protect('o.plain', 'tenant', history => false);
SELECT table_name, tenant_column, retention, history
  FROM tombstone.protected_tables ORDER BY table_name::text;
SELECT attrelid::regclass AS table_name, attname, format_type(atttypid, atttypmod)
  FROM pg_attribute
 WHERE attrelid IN ('o.projects'::regclass, 'o.tasks'::regclass, 'o.notes'::regclass)
   AND attnum > 0 AND NOT attisdropped AND attname IN ('deleted_at', 'deleted_change', 'valid_from')
 ORDER BY attrelid::regclass::text, attnum;

INSERT INTO o.projects (id, tenant, name, budget, note)
SELECT 3 * :m + g, format('t%s', lpad(g::text, 3, '0')), 'second of ' || g, NULL, 'second'
  FROM generate_series(1, :m) g;
INSERT INTO o.tasks (id, site, project_id, title, done, estimate)
SELECT 4 * :m + 2 * g - k, format('t%s', lpad(g::text, 3, '0')), 3 * :m + g, 'task ' || k, k = 1, NULL
  FROM generate_series(1, :m) g, generate_series(0, 1) k;
INSERT INTO o.notes (id, tenant, body, tags, meta)
SELECT 6 * :m + g, format('t%s', lpad(g::text, 3, '0')), NULL, NULL, '{}'
  FROM generate_series(1, :m) g;
SELECT setval('o.ids', 7 * :m) = 7 * :m AS ids_start_after_the_population;

-- The oracle's own tables (not protected).
CREATE SCHEMA oracle;
-- one row per workload transaction: started is its now(), the time its
-- changes are stamped with in history
CREATE TABLE oracle.txlog (
    step       int PRIMARY KEY,
    tenant     text NOT NULL,
    kind       text NOT NULL,
    started    timestamptz NOT NULL,
    committed  boolean NOT NULL
);
-- a snapshot: one tenant's live rows of every table at ts; after_step is the
-- number of workload transactions that had ended before it
CREATE TABLE oracle.snapshots (
    snap_id     int PRIMARY KEY,
    ts          timestamptz NOT NULL,
    tenant      text NOT NULL,
    after_step  int NOT NULL
);
CREATE SEQUENCE oracle.snap_ids;
-- a row as text: full_row has every column, the tombstone and history
-- columns included (the record's text form, exact for these types: it tells
-- 1.5 from 1.50, JSON null from SQL NULL); user_row only the user's columns
CREATE TABLE oracle.snap_rows (
    snap_id   int NOT NULL,
    tbl       text NOT NULL,
    id        int NOT NULL,
    full_row  text NOT NULL,
    user_row  text NOT NULL
);
CREATE TABLE oracle.asof_rows (
    round     int NOT NULL,
    snap_id   int NOT NULL,
    tbl       text NOT NULL,
    id        int NOT NULL,
    full_row  text NOT NULL,
    user_row  text NOT NULL
);
-- round r of as_of() reads compares the snapshots up to last_snap
CREATE TABLE oracle.rounds (round int PRIMARY KEY, last_snap int NOT NULL);
CREATE TABLE oracle.checksums (
    phase   text NOT NULL,
    tenant  text NOT NULL,
    tbl     text NOT NULL,
    n       bigint NOT NULL,
    md5     text NOT NULL
);
-- what oracle.sh looks at: every check, passed or not
CREATE TABLE oracle.checks (name text PRIMARY KEY, ok boolean NOT NULL);

-- a row's user columns (all but deleted_at, deleted_change and valid_from)
CREATE FUNCTION oracle.user_row(x o.projects) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT ROW(x.id, x.tenant, x.name, x.budget, x.note)::text $$;
CREATE FUNCTION oracle.user_row(x o.tasks) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT ROW(x.id, x.site, x.project_id, x.title, x.done, x.estimate)::text $$;
CREATE FUNCTION oracle.user_row(x o.notes) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT ROW(x.id, x.tenant, x.body, x.tags, x.meta)::text $$;

-- every live row now, as the snapshots store them
CREATE VIEW oracle.current_rows AS
SELECT 'o.projects' AS tbl, x.tenant, x.id, x::text AS full_row, oracle.user_row(x) AS user_row
  FROM o.projects x
UNION ALL
SELECT 'o.tasks', x.site, x.id, x::text, oracle.user_row(x) FROM o.tasks x
UNION ALL
SELECT 'o.notes', x.tenant, x.id, x::text, oracle.user_row(x) FROM o.notes x;

-- random values; in statements that change several rows the values come
-- from the row's id instead, so that nothing depends on the order in which
-- rows are visited
CREATE FUNCTION oracle.pick(a int[]) RETURNS int
LANGUAGE sql VOLATILE AS $$ SELECT a[1 + floor(random() * cardinality(a))::int] WHERE cardinality(a) > 0 $$;
CREATE FUNCTION oracle.word(prefix text) RETURNS text
LANGUAGE sql VOLATILE AS $$ SELECT prefix || ' ' || floor(random() * 10000)::int $$;
CREATE FUNCTION oracle.maybe(prefix text) RETURNS text
LANGUAGE sql VOLATILE AS $$ SELECT CASE WHEN random() < 0.3 THEN NULL ELSE oracle.word(prefix) END $$;
CREATE FUNCTION oracle.maybe_int() RETURNS int
LANGUAGE sql VOLATILE AS $$ SELECT CASE WHEN random() < 0.3 THEN NULL ELSE floor(random() * 40)::int END $$;
CREATE FUNCTION oracle.money() RETURNS numeric
LANGUAGE sql VOLATILE AS $$ SELECT CASE WHEN random() < 0.2 THEN NULL ELSE round((random() * 10000)::numeric, 2) END $$;
CREATE FUNCTION oracle.tags() RETURNS text[]
LANGUAGE sql VOLATILE AS $$
    SELECT CASE WHEN random() < 0.25 THEN NULL
                WHEN random() < 0.2 THEN '{}'::text[]
                ELSE ARRAY[oracle.word('tag'), CASE WHEN random() < 0.3 THEN NULL ELSE 'b' END] END
$$;
-- 6,400 characters that do not compress well: stored out of line (TOAST)
CREATE FUNCTION oracle.big() RETURNS text
LANGUAGE sql VOLATILE AS $$ SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 200) $$;
CREATE FUNCTION oracle.meta() RETURNS jsonb
LANGUAGE sql VOLATILE AS $$
    SELECT CASE WHEN random() < 0.2 THEN NULL
                WHEN random() < 0.2 THEN 'null'::jsonb
                ELSE jsonb_build_object('v', floor(random() * 100)::int, 'flag', random() < 0.5) END
$$;
-- a tenant; low numbers are busier (r^1.5 as r * sqrt(r): correctly
-- rounded everywhere, so the workload is the same on every platform)
CREATE FUNCTION oracle.tenant(ntenants int) RETURNS text
LANGUAGE sql VOLATILE AS $$
    SELECT format('t%s', lpad((1 + floor(ntenants * r * sqrt(r)))::int::text, 3, '0'))
      FROM (SELECT random() AS r) x
$$;
CREATE FUNCTION oracle.all_tenants(ntenants int) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT array_agg(format('t%s', lpad(g::text, 3, '0')) ORDER BY g) FROM generate_series(1, ntenants) g
$$;

-- What a workload transaction does, with its weight; "tricky" ones get a
-- snapshot of their tenant just before them half of the time, and just
-- after them 30% of the time.
CREATE TABLE oracle.kinds (kind text PRIMARY KEY, weight int NOT NULL, tricky boolean NOT NULL);
INSERT INTO oracle.kinds VALUES
    -- one change
    ('insert_project', 8, false),       -- with 0 to 2 tasks
    ('insert_task', 8, false),
    ('insert_note', 6, false),
    ('upsert_note', 3, false),          -- INSERT ... ON CONFLICT DO UPDATE of a live note
    ('update_project', 10, false),      -- some columns, to values or NULL
    ('update_tasks', 8, false),         -- several rows in one statement
    ('move_task', 4, false),            -- to another project of its tenant
    ('update_note', 8, false),          -- keeps the body half of the time
    ('big_note', 2, false),             -- a body stored out of line (TOAST)
    ('noop_update', 3, false),          -- SET name = name
    ('delete_project', 5, false),       -- cascades to its tasks
    ('delete_tasks', 5, false),         -- several rows, sometimes all of the tenant's
    ('delete_note', 4, false),          -- in a data-modifying WITH
    ('merge_notes', 3, false),          -- MERGE: DELETE or UPDATE a note, INSERT another
    ('tombstone_by_update', 2, false),  -- UPDATE ... SET deleted_at = now()
    ('undelete_project', 4, false),     -- tombstone.undelete(), with its cascade
    ('undelete_task', 3, false),        -- whose project is live
    ('undelete_note', 3, false),
    ('undelete_by_update', 2, false),   -- UPDATE ... SET deleted_at = NULL
    -- several changes of the same rows in one transaction: one version
    ('update_thrice', 4, true),
    ('delete_then_undelete', 3, true),
    ('undelete_then_delete', 2, true),
    ('insert_then_update', 4, true),
    ('insert_then_delete', 2, true),
    ('update_then_delete', 3, true),
    ('undelete_then_update', 2, true),
    ('subxact_rolled_back_first', 3, true),   -- first change in a rolled back subtransaction
    ('subxact_rolled_back_second', 2, true),  -- second change in a rolled back subtransaction
    ('subxact_released', 2, true),            -- first change in a released subtransaction
    ('tenant_mix', 3, true),            -- every table of the tenant
    ('rollback', 3, true);              -- changes, then ROLLBACK

-- One workload transaction's changes, all of tenant p_tenant.  Returns what
-- it did: p_kind, another kind when there was nothing to do it to, or
-- 'rollback' when the caller must roll back.
CREATE FUNCTION oracle.step(p_tenant text, p_kind text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_p  int;
    v_k  int;
    v_n  bigint;
    v_s  int := floor(random() * 1000)::int;
BEGIN
    CASE p_kind
    WHEN 'insert_project' THEN
        v_p := nextval('o.ids');
        INSERT INTO o.projects (id, tenant, name, budget, note)
        VALUES (v_p, p_tenant, oracle.word('project'), oracle.money(), oracle.maybe('note'));
        FOR i IN 1 .. floor(random() * 3)::int LOOP
            INSERT INTO o.tasks (id, site, project_id, title, done, estimate)
            VALUES (nextval('o.ids'), p_tenant, v_p, oracle.word('task'), random() < 0.3, oracle.maybe_int());
        END LOOP;
    WHEN 'insert_task' THEN
        v_p := oracle.pick(ARRAY(SELECT id FROM o.projects WHERE tenant = p_tenant ORDER BY id));
        IF v_p IS NULL THEN
            RETURN oracle.step(p_tenant, 'insert_project');
        END IF;
        INSERT INTO o.tasks (id, site, project_id, title, done, estimate)
        VALUES (nextval('o.ids'), p_tenant, v_p, oracle.word('task'), false, oracle.maybe_int());
    WHEN 'insert_note' THEN
        INSERT INTO o.notes (id, tenant, body, tags, meta)
        VALUES (nextval('o.ids'), p_tenant, oracle.maybe('body'), oracle.tags(), oracle.meta());
    WHEN 'upsert_note' THEN
        v_k := oracle.pick(ARRAY(SELECT id FROM o.notes WHERE tenant = p_tenant ORDER BY id));
        IF v_k IS NULL THEN
            RETURN oracle.step(p_tenant, 'insert_note');
        END IF;
        INSERT INTO o.notes (id, tenant, body) VALUES (v_k, p_tenant, 'upserted ' || v_s)
            ON CONFLICT (id) DO UPDATE SET body = excluded.body, meta = oracle.meta();
    WHEN 'update_project' THEN
        v_p := oracle.pick(ARRAY(SELECT id FROM o.projects WHERE tenant = p_tenant ORDER BY id));
        IF v_p IS NULL THEN
            RETURN oracle.step(p_tenant, 'insert_project');
        END IF;
        UPDATE o.projects
           SET name = CASE WHEN v_s % 2 = 0 THEN oracle.word('project') ELSE name END,
               budget = CASE WHEN v_s % 3 = 0 THEN oracle.money() ELSE budget END,
               note = CASE WHEN v_s % 5 < 3 THEN oracle.maybe('note') ELSE note END
         WHERE id = v_p;
    WHEN 'update_tasks' THEN
        UPDATE o.tasks
           SET done = NOT done,
               estimate = CASE WHEN estimate IS NULL THEN (id + v_s) % 40
                               WHEN (id + v_s) % 3 = 0 THEN NULL
                               ELSE estimate + 1 END
         WHERE site = p_tenant AND (id + v_s) % 2 = 0;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        IF v_n = 0 THEN
            RETURN oracle.step(p_tenant, 'insert_task');
        END IF;
    WHEN 'move_task' THEN
        v_k := oracle.pick(ARRAY(SELECT id FROM o.tasks WHERE site = p_tenant ORDER BY id));
        v_p := oracle.pick(ARRAY(SELECT id FROM o.projects WHERE tenant = p_tenant ORDER BY id));
        IF v_k IS NULL OR v_p IS NULL THEN
            RETURN oracle.step(p_tenant, 'insert_task');
        END IF;
        UPDATE o.tasks SET project_id = v_p, title = left(title, 20) || '>' WHERE id = v_k;
    WHEN 'update_note' THEN
        v_k := oracle.pick(ARRAY(SELECT id FROM o.notes WHERE tenant = p_tenant ORDER BY id));
        IF v_k IS NULL THEN
            RETURN oracle.step(p_tenant, 'insert_note');
        END IF;
        UPDATE o.notes
           SET body = CASE WHEN v_s % 2 = 0 THEN oracle.maybe('body') ELSE body END,
               tags = CASE WHEN v_s % 3 = 0 THEN oracle.tags()
                           WHEN tags IS NOT NULL THEN tags[1:3] || ('x' || v_s) ELSE tags END,
               meta = CASE WHEN v_s % 4 = 0 THEN oracle.meta() ELSE meta END
         WHERE id = v_k;
    WHEN 'big_note' THEN
        v_k := oracle.pick(ARRAY(SELECT id FROM o.notes WHERE tenant = p_tenant ORDER BY id));
        IF v_k IS NULL THEN
            INSERT INTO o.notes (id, tenant, body, tags, meta)
            VALUES (nextval('o.ids'), p_tenant, oracle.big(), NULL, NULL);
        ELSE
            UPDATE o.notes SET body = oracle.big() WHERE id = v_k;
        END IF;
    WHEN 'noop_update' THEN
        v_p := oracle.pick(ARRAY(SELECT id FROM o.projects WHERE tenant = p_tenant ORDER BY id));
        IF v_p IS NULL THEN
            RETURN oracle.step(p_tenant, 'insert_project');
        END IF;
        UPDATE o.projects SET name = name WHERE id = v_p;
    WHEN 'delete_project' THEN
        v_p := oracle.pick(ARRAY(SELECT id FROM o.projects WHERE tenant = p_tenant ORDER BY id));
        IF v_p IS NULL THEN
            RETURN oracle.step(p_tenant, 'insert_project');
        END IF;
        DELETE FROM o.projects WHERE id = v_p;
    WHEN 'delete_tasks' THEN
        IF v_s % 10 = 0 THEN
            DELETE FROM o.tasks WHERE site = p_tenant;
        ELSE
            DELETE FROM o.tasks WHERE site = p_tenant AND (done OR (id + v_s) % 7 = 0);
        END IF;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        IF v_n = 0 THEN
            RETURN oracle.step(p_tenant, 'insert_task');
        END IF;
    WHEN 'delete_note' THEN
        v_k := oracle.pick(ARRAY(SELECT id FROM o.notes WHERE tenant = p_tenant ORDER BY id));
        IF v_k IS NULL THEN
            RETURN oracle.step(p_tenant, 'insert_note');
        END IF;
        WITH d AS (DELETE FROM o.notes WHERE id = v_k RETURNING id)
        SELECT count(*) INTO v_n FROM d;
    WHEN 'merge_notes' THEN
        v_k := oracle.pick(ARRAY(SELECT id FROM o.notes WHERE tenant = p_tenant ORDER BY id));
        IF v_k IS NULL THEN
            RETURN oracle.step(p_tenant, 'insert_note');
        END IF;
        MERGE INTO o.notes AS nt
        USING (VALUES (v_k), (nextval('o.ids')::int)) AS v(id) ON nt.id = v.id
        WHEN MATCHED AND v_s % 2 = 0 THEN DELETE
        WHEN MATCHED THEN UPDATE SET body = 'merged ' || v_s, tags = NULL
        WHEN NOT MATCHED THEN INSERT (id, tenant, body, tags, meta)
                              VALUES (v.id, p_tenant, 'merge ' || v_s, ARRAY['m'], 'null');
    WHEN 'tombstone_by_update' THEN
        v_k := oracle.pick(ARRAY(SELECT id FROM o.notes WHERE tenant = p_tenant ORDER BY id));
        IF v_k IS NULL THEN
            RETURN oracle.step(p_tenant, 'insert_note');
        END IF;
        UPDATE o.notes SET deleted_at = now() WHERE id = v_k;
    WHEN 'undelete_project' THEN
        PERFORM set_config('tombstone.visibility', 'deleted', true);
        v_p := oracle.pick(ARRAY(SELECT id FROM o.projects WHERE tenant = p_tenant ORDER BY id));
        PERFORM set_config('tombstone.visibility', 'live', true);
        IF v_p IS NULL THEN
            RETURN oracle.step(p_tenant, 'delete_project');
        END IF;
        v_n := tombstone.undelete('o.projects', jsonb_build_object('id', v_p));
    WHEN 'undelete_task' THEN
        PERFORM set_config('tombstone.visibility', 'all', true);
        v_k := oracle.pick(ARRAY(SELECT tk.id FROM o.tasks tk JOIN o.projects pr ON pr.id = tk.project_id
                                  WHERE tk.site = p_tenant AND tk.deleted_at IS NOT NULL
                                    AND pr.deleted_at IS NULL ORDER BY tk.id));
        PERFORM set_config('tombstone.visibility', 'live', true);
        IF v_k IS NULL THEN
            RETURN oracle.step(p_tenant, 'delete_tasks');
        END IF;
        v_n := tombstone.undelete('o.tasks', jsonb_build_object('id', v_k));
    WHEN 'undelete_note' THEN
        PERFORM set_config('tombstone.visibility', 'deleted', true);
        v_k := oracle.pick(ARRAY(SELECT id FROM o.notes WHERE tenant = p_tenant ORDER BY id));
        PERFORM set_config('tombstone.visibility', 'live', true);
        IF v_k IS NULL THEN
            RETURN oracle.step(p_tenant, 'delete_note');
        END IF;
        v_n := tombstone.undelete('o.notes', jsonb_build_object('id', v_k));
    WHEN 'undelete_by_update' THEN
        PERFORM set_config('tombstone.visibility', 'deleted', true);
        v_k := oracle.pick(ARRAY(SELECT id FROM o.notes WHERE tenant = p_tenant ORDER BY id));
        IF v_k IS NOT NULL THEN
            UPDATE o.notes SET deleted_at = NULL WHERE id = v_k;
        END IF;
        PERFORM set_config('tombstone.visibility', 'live', true);
        IF v_k IS NULL THEN
            RETURN oracle.step(p_tenant, 'tombstone_by_update');
        END IF;
    WHEN 'update_thrice' THEN
        v_p := oracle.pick(ARRAY(SELECT id FROM o.projects WHERE tenant = p_tenant ORDER BY id));
        IF v_p IS NULL THEN
            RETURN oracle.step(p_tenant, 'insert_then_update');
        END IF;
        UPDATE o.projects SET name = oracle.word('thrice') WHERE id = v_p;
        UPDATE o.projects SET budget = oracle.money() WHERE id = v_p;
        UPDATE o.projects SET note = oracle.maybe('thrice') WHERE id = v_p;
    WHEN 'delete_then_undelete' THEN
        v_p := oracle.pick(ARRAY(SELECT id FROM o.projects WHERE tenant = p_tenant ORDER BY id));
        IF v_p IS NULL THEN
            RETURN oracle.step(p_tenant, 'insert_then_delete');
        END IF;
        DELETE FROM o.projects WHERE id = v_p;
        v_n := tombstone.undelete('o.projects', jsonb_build_object('id', v_p));
    WHEN 'undelete_then_delete' THEN
        PERFORM set_config('tombstone.visibility', 'deleted', true);
        v_k := oracle.pick(ARRAY(SELECT id FROM o.notes WHERE tenant = p_tenant ORDER BY id));
        PERFORM set_config('tombstone.visibility', 'live', true);
        IF v_k IS NULL THEN
            RETURN oracle.step(p_tenant, 'insert_then_delete');
        END IF;
        v_n := tombstone.undelete('o.notes', jsonb_build_object('id', v_k));
        DELETE FROM o.notes WHERE id = v_k;
    WHEN 'insert_then_update' THEN
        v_p := nextval('o.ids');
        INSERT INTO o.projects (id, tenant, name, budget, note)
        VALUES (v_p, p_tenant, oracle.word('fresh'), NULL, NULL);
        UPDATE o.projects SET budget = oracle.money() WHERE id = v_p;
        UPDATE o.projects SET note = oracle.word('fresh') WHERE id = v_p;
        v_k := nextval('o.ids');
        INSERT INTO o.tasks (id, site, project_id, title, done, estimate)
        VALUES (v_k, p_tenant, v_p, oracle.word('fresh'), false, NULL);
        UPDATE o.tasks SET done = true, estimate = 1 WHERE id = v_k;
    WHEN 'insert_then_delete' THEN
        v_k := nextval('o.ids');
        INSERT INTO o.notes (id, tenant, body, tags, meta) VALUES (v_k, p_tenant, 'short-lived', NULL, NULL);
        DELETE FROM o.notes WHERE id = v_k;
        v_p := nextval('o.ids');
        INSERT INTO o.projects (id, tenant, name, budget, note) VALUES (v_p, p_tenant, 'short-lived', 1, NULL);
        INSERT INTO o.tasks (id, site, project_id, title, done, estimate)
        VALUES (nextval('o.ids'), p_tenant, v_p, 'short-lived', false, NULL);
        DELETE FROM o.projects WHERE id = v_p;
    WHEN 'update_then_delete' THEN
        v_k := oracle.pick(ARRAY(SELECT id FROM o.tasks WHERE site = p_tenant ORDER BY id));
        IF v_k IS NULL THEN
            RETURN oracle.step(p_tenant, 'insert_then_delete');
        END IF;
        UPDATE o.tasks SET title = oracle.word('doomed'), estimate = NULL WHERE id = v_k;
        DELETE FROM o.tasks WHERE id = v_k;
    WHEN 'undelete_then_update' THEN
        PERFORM set_config('tombstone.visibility', 'deleted', true);
        v_k := oracle.pick(ARRAY(SELECT id FROM o.notes WHERE tenant = p_tenant ORDER BY id));
        PERFORM set_config('tombstone.visibility', 'live', true);
        IF v_k IS NULL THEN
            RETURN oracle.step(p_tenant, 'update_thrice');
        END IF;
        v_n := tombstone.undelete('o.notes', jsonb_build_object('id', v_k));
        UPDATE o.notes SET body = oracle.word('back'), tags = NULL WHERE id = v_k;
    WHEN 'subxact_rolled_back_first' THEN
        v_p := oracle.pick(ARRAY(SELECT id FROM o.projects WHERE tenant = p_tenant ORDER BY id));
        IF v_p IS NULL THEN
            RETURN oracle.step(p_tenant, 'insert_then_update');
        END IF;
        BEGIN
            UPDATE o.projects SET name = 'rolled back' WHERE id = v_p;
            IF v_s % 2 = 0 THEN
                DELETE FROM o.projects WHERE id = v_p;
            END IF;
            RAISE EXCEPTION 'roll back the subtransaction';
        EXCEPTION WHEN raise_exception THEN
            NULL;
        END;
        UPDATE o.projects SET budget = oracle.money() WHERE id = v_p;
    WHEN 'subxact_rolled_back_second' THEN
        v_p := oracle.pick(ARRAY(SELECT id FROM o.projects WHERE tenant = p_tenant ORDER BY id));
        IF v_p IS NULL THEN
            RETURN oracle.step(p_tenant, 'insert_then_update');
        END IF;
        UPDATE o.projects SET note = oracle.maybe('kept') WHERE id = v_p;
        BEGIN
            UPDATE o.projects SET name = 'rolled back' WHERE id = v_p;
            DELETE FROM o.projects WHERE id = v_p;
            RAISE EXCEPTION 'roll back the subtransaction';
        EXCEPTION WHEN raise_exception THEN
            NULL;
        END;
    WHEN 'subxact_released' THEN
        v_k := oracle.pick(ARRAY(SELECT id FROM o.notes WHERE tenant = p_tenant ORDER BY id));
        IF v_k IS NULL THEN
            RETURN oracle.step(p_tenant, 'insert_note');
        END IF;
        BEGIN
            UPDATE o.notes SET body = oracle.word('inner') WHERE id = v_k;
        EXCEPTION WHEN division_by_zero THEN
            NULL;
        END;
        UPDATE o.notes SET meta = oracle.meta() WHERE id = v_k;
    WHEN 'tenant_mix' THEN
        PERFORM oracle.step(p_tenant, 'update_project');
        PERFORM oracle.step(p_tenant, 'insert_task');
        PERFORM oracle.step(p_tenant, 'update_tasks');
        PERFORM oracle.step(p_tenant, 'delete_note');
        PERFORM oracle.step(p_tenant, 'update_note');
    WHEN 'rollback' THEN
        PERFORM oracle.step(p_tenant, 'update_project');
        PERFORM oracle.step(p_tenant, 'delete_tasks');
        PERFORM oracle.step(p_tenant, 'insert_note');
        RETURN 'rollback';
    END CASE;
    RETURN p_kind;
END
$$;

-- A snapshot of some tenants: ts is the first thing a fresh transaction
-- does, and that transaction changes no protected table.
CREATE PROCEDURE oracle.snapshot(p_tenants text[], p_after_step int)
LANGUAGE plpgsql AS $$
DECLARE
    v_ts  timestamptz;
    v_id  int;
    v_t   text;
BEGIN
    COMMIT;
    v_ts := clock_timestamp();
    FOREACH v_t IN ARRAY p_tenants LOOP
        v_id := nextval('oracle.snap_ids');
        INSERT INTO oracle.snapshots VALUES (v_id, v_ts, v_t, p_after_step);
        INSERT INTO oracle.snap_rows
        SELECT v_id, c.tbl, c.id, c.full_row, c.user_row FROM oracle.current_rows c WHERE c.tenant = v_t;
    END LOOP;
    COMMIT;
END
$$;

-- The workload: one transaction per step, one tenant per transaction (the
-- guard stays on), snapshots between transactions.
CREATE PROCEDURE oracle.run(p_steps int, p_tenants int, p_seed float8)
LANGUAGE plpgsql AS $$
DECLARE
    v_kinds    text[];
    v_tricky   text[];
    v_some     text[];
    v_tenant   text;
    v_kind     text;
    v_done     text;
    v_started  timestamptz;
BEGIN
    PERFORM setseed(p_seed);
    v_kinds := ARRAY(SELECT k.kind FROM oracle.kinds k, generate_series(1, k.weight) ORDER BY k.kind COLLATE "C");
    v_tricky := ARRAY(SELECT k.kind FROM oracle.kinds k WHERE k.tricky ORDER BY k.kind COLLATE "C");
    -- every tenant, before the first workload transaction
    CALL oracle.snapshot(oracle.all_tenants(p_tenants), 0);
    FOR v_step IN 1 .. p_steps LOOP
        -- one to three tenants at a random moment
        IF random() < 0.1 THEN
            v_some := ARRAY(SELECT DISTINCT oracle.tenant(p_tenants)
                              FROM generate_series(1, 1 + floor(random() * 3)::int) ORDER BY 1);
            CALL oracle.snapshot(v_some, v_step - 1);
        END IF;
        v_tenant := oracle.tenant(p_tenants);
        v_kind := v_kinds[1 + floor(random() * cardinality(v_kinds))::int];
        IF v_kind = ANY (v_tricky) AND random() < 0.5 THEN
            CALL oracle.snapshot(ARRAY[v_tenant], v_step - 1);
        END IF;
        COMMIT;
        v_started := now();
        v_done := oracle.step(v_tenant, v_kind);
        IF v_done = 'rollback' THEN
            ROLLBACK;
            INSERT INTO oracle.txlog VALUES (v_step, v_tenant, v_kind, v_started, false);
        ELSE
            INSERT INTO oracle.txlog VALUES (v_step, v_tenant, v_done, v_started, true);
        END IF;
        COMMIT;
        -- and sometimes just after them
        IF v_kind = ANY (v_tricky) AND random() < 0.3 THEN
            CALL oracle.snapshot(ARRAY[v_tenant], v_step);
        END IF;
    END LOOP;
    -- every tenant at the end, and one that never had rows
    CALL oracle.snapshot(oracle.all_tenants(p_tenants) || 'nobody'::text, p_steps);
END
$$;

-- Run it.  Undeletes may report progress in NOTICEs; they are not the point.
SET client_min_messages = warning;
CALL oracle.run(:steps, :tenants, :seed);
RESET client_min_messages;

-- The workload: steps = committed + rolled back; every transaction has its
-- own start time (the stamp history uses); every snapshot's ts lies after
-- the start of every transaction before it and before the start of every
-- transaction after it.
SELECT count(*) AS steps,
       count(*) FILTER (WHERE committed) AS committed,
       count(*) FILTER (WHERE NOT committed) AS rolled_back,
       count(DISTINCT started) AS distinct_start_times,
       count(DISTINCT tenant) AS tenants_changed
  FROM oracle.txlog;
CREATE VIEW oracle.snapshot_between AS
WITH b AS (
    SELECT l.step, max(l.started) OVER (ORDER BY l.step) AS last_start_up_to,
           min(l.started) OVER (ORDER BY l.step DESC) AS first_start_from
      FROM oracle.txlog l
)
SELECT s.snap_id,
       s.ts > coalesce(before.last_start_up_to, '-infinity')
       AND s.ts < coalesce(after.first_start_from, 'infinity') AS strictly_between
  FROM oracle.snapshots s
  LEFT JOIN b before ON before.step = s.after_step
  LEFT JOIN b after ON after.step = s.after_step + 1;
SELECT count(DISTINCT ts) AS snapshot_moments, count(*) AS snapshots,
       count(*) FILTER (WHERE after_step = 0) AS before_the_workload,
       count(*) FILTER (WHERE after_step = :steps) AS after_the_workload,
       count(*) FILTER (WHERE strictly_between) AS strictly_between_transactions
  FROM oracle.snapshots s JOIN oracle.snapshot_between USING (snap_id);
INSERT INTO oracle.checks
SELECT 'workload', count(*) = :steps AND count(DISTINCT started) = :steps FROM oracle.txlog;
INSERT INTO oracle.checks
SELECT 'snapshots between transactions', bool_and(strictly_between) FROM oracle.snapshot_between;
-- what the transactions did (every kind ran; a kind with nothing to work
-- on ran another one)
SELECT k.kind, count(l.step) AS transactions
  FROM oracle.kinds k LEFT JOIN oracle.txlog l ON l.kind = k.kind
 GROUP BY k.kind ORDER BY k.kind COLLATE "C";

-- What the snapshots hold, against the rows live now: unchanged, changed
-- since (updated, also a no-op update: valid_from moved), gone since
-- (tombstoned), and rows live now that the snapshot did not have (created
-- or restored since), summed over snapshots.  as_of() must reproduce the
-- past, not the present, for every row that is not "unchanged".
SELECT r.tbl, count(*) AS snapshot_rows,
       count(*) FILTER (WHERE c.full_row = r.full_row) AS unchanged,
       count(*) FILTER (WHERE c.full_row <> r.full_row) AS changed_since,
       count(*) FILTER (WHERE c.id IS NULL) AS gone_since,
       (SELECT count(*) FROM oracle.snapshots s JOIN oracle.current_rows n ON n.tenant = s.tenant
         WHERE n.tbl = r.tbl
           AND NOT EXISTS (SELECT FROM oracle.snap_rows o WHERE o.snap_id = s.snap_id
                                                            AND o.tbl = n.tbl AND o.id = n.id)) AS new_since
  FROM oracle.snap_rows r LEFT JOIN oracle.current_rows c USING (tbl, id)
 GROUP BY r.tbl ORDER BY r.tbl;

-- Round 1: as_of() at every snapshot's ts, for its tenant, in every table.
INSERT INTO oracle.rounds SELECT 1, max(snap_id) FROM oracle.snapshots;
INSERT INTO oracle.asof_rows
SELECT 1, s.snap_id, 'o.projects', a.id, a::text, oracle.user_row(a)
  FROM oracle.snapshots s, tombstone.as_of(NULL::o.projects, s.tenant, s.ts) a;
INSERT INTO oracle.asof_rows
SELECT 1, s.snap_id, 'o.tasks', a.id, a::text, oracle.user_row(a)
  FROM oracle.snapshots s, tombstone.as_of(NULL::o.tasks, s.tenant, s.ts) a;
INSERT INTO oracle.asof_rows
SELECT 1, s.snap_id, 'o.notes', a.id, a::text, oracle.user_row(a)
  FROM oracle.snapshots s, tombstone.as_of(NULL::o.notes, s.tenant, s.ts) a;

-- The comparison, as multisets per snapshot and table (EXCEPT ALL both
-- ways): "all columns" compares each row's text form, every column
-- included (deleted_at, deleted_change and valid_from too: as_of() gives
-- the row as it was, so valid_from is the start of that version);
-- "user columns" leaves out deleted_at, deleted_change and valid_from.
CREATE FUNCTION oracle.diff(p_round int)
RETURNS TABLE (tbl text, snap_id int, compared text, side text, row_data text)
LANGUAGE sql STABLE AS $$
    WITH snap AS (
        SELECT r.* FROM oracle.snap_rows r
         WHERE r.snap_id <= (SELECT last_snap FROM oracle.rounds WHERE round = p_round)
    ), asof AS (
        SELECT a.* FROM oracle.asof_rows a WHERE a.round = p_round
    )
    SELECT d.tbl, d.snap_id, 'all columns', 'only in snapshot', d.full_row
      FROM (SELECT tbl, snap_id, full_row FROM snap EXCEPT ALL SELECT tbl, snap_id, full_row FROM asof) d
    UNION ALL
    SELECT d.tbl, d.snap_id, 'all columns', 'only in as_of', d.full_row
      FROM (SELECT tbl, snap_id, full_row FROM asof EXCEPT ALL SELECT tbl, snap_id, full_row FROM snap) d
    UNION ALL
    SELECT d.tbl, d.snap_id, 'user columns', 'only in snapshot', d.user_row
      FROM (SELECT tbl, snap_id, user_row FROM snap EXCEPT ALL SELECT tbl, snap_id, user_row FROM asof) d
    UNION ALL
    SELECT d.tbl, d.snap_id, 'user columns', 'only in as_of', d.user_row
      FROM (SELECT tbl, snap_id, user_row FROM asof EXCEPT ALL SELECT tbl, snap_id, user_row FROM snap) d
$$;
CREATE FUNCTION oracle.summary(p_round int)
RETURNS TABLE (tbl text, snapshots bigint, snapshot_rows bigint, as_of_rows bigint,
               only_in_snapshot bigint, only_in_as_of bigint,
               only_in_snapshot_user_cols bigint, only_in_as_of_user_cols bigint)
LANGUAGE sql STABLE AS $$
    WITH t(tbl) AS (VALUES ('o.notes'), ('o.projects'), ('o.tasks')),
    d AS (SELECT * FROM oracle.diff(p_round))
    SELECT t.tbl,
           (SELECT count(*) FROM oracle.snapshots s
             WHERE s.snap_id <= (SELECT last_snap FROM oracle.rounds WHERE round = p_round)),
           (SELECT count(*) FROM oracle.snap_rows r
             WHERE r.tbl = t.tbl AND r.snap_id <= (SELECT last_snap FROM oracle.rounds WHERE round = p_round)),
           (SELECT count(*) FROM oracle.asof_rows a WHERE a.tbl = t.tbl AND a.round = p_round),
           (SELECT count(*) FROM d WHERE d.tbl = t.tbl AND d.compared = 'all columns' AND d.side = 'only in snapshot'),
           (SELECT count(*) FROM d WHERE d.tbl = t.tbl AND d.compared = 'all columns' AND d.side = 'only in as_of'),
           (SELECT count(*) FROM d WHERE d.tbl = t.tbl AND d.compared = 'user columns' AND d.side = 'only in snapshot'),
           (SELECT count(*) FROM d WHERE d.tbl = t.tbl AND d.compared = 'user columns' AND d.side = 'only in as_of')
      FROM t ORDER BY t.tbl
$$;
-- as_of_rows = snapshot_rows and no differences
SELECT * FROM oracle.summary(1);
-- the first differences, if any
SELECT tbl, snap_id, compared, side, left(row_data, 200) AS row_data
  FROM oracle.diff(1) ORDER BY snap_id, tbl, compared, side, row_data LIMIT 10;
INSERT INTO oracle.checks
SELECT 'as_of equals every snapshot', NOT EXISTS (SELECT FROM oracle.diff(1))
       AND (SELECT count(*) FROM oracle.snap_rows) = (SELECT count(*) FROM oracle.asof_rows WHERE round = 1);

-- Rewind: three tenants, each to the snapshot from the middle of the
-- workload (a quarter to three quarters of the steps) from which it has
-- changed most (user columns); ties go to the earlier snapshot.
CREATE FUNCTION oracle.tenant_vs_snapshot(p_snap int)
RETURNS TABLE (tbl text, rows_at_snapshot bigint, rows_now bigint, only_at_snapshot bigint, only_now bigint)
LANGUAGE sql STABLE AS $$
    WITH t(tbl) AS (VALUES ('o.notes'), ('o.projects'), ('o.tasks')),
    snap AS (SELECT r.tbl, r.user_row FROM oracle.snap_rows r WHERE r.snap_id = p_snap),
    cur AS (SELECT c.tbl, c.user_row FROM oracle.current_rows c
             WHERE c.tenant = (SELECT s.tenant FROM oracle.snapshots s WHERE s.snap_id = p_snap)),
    gone AS (SELECT * FROM snap EXCEPT ALL SELECT * FROM cur),
    new AS (SELECT * FROM cur EXCEPT ALL SELECT * FROM snap)
    SELECT t.tbl,
           (SELECT count(*) FROM snap WHERE snap.tbl = t.tbl),
           (SELECT count(*) FROM cur WHERE cur.tbl = t.tbl),
           (SELECT count(*) FROM gone WHERE gone.tbl = t.tbl),
           (SELECT count(*) FROM new WHERE new.tbl = t.tbl)
      FROM t ORDER BY t.tbl
$$;
-- (rows changed = only_at_snapshot + only_now of tenant_vs_snapshot(),
-- computed for all candidates at once: a row's user_row includes its id)
CREATE TABLE oracle.rewinds AS
WITH cur AS MATERIALIZED (SELECT c.tbl, c.tenant, c.id, c.user_row FROM oracle.current_rows c),
per AS (
    SELECT s.snap_id, s.tenant, count(r.id) AS at_snapshot,
           count(r.id) FILTER (WHERE r.id IS NOT NULL AND c.id IS NULL) AS only_at_snapshot
      FROM oracle.snapshots s
      LEFT JOIN oracle.snap_rows r ON r.snap_id = s.snap_id
      LEFT JOIN cur c ON c.tenant = s.tenant AND c.tbl = r.tbl AND c.id = r.id AND c.user_row = r.user_row
     WHERE s.after_step BETWEEN :steps / 4 AND :steps * 3 / 4
     GROUP BY s.snap_id, s.tenant
), d AS (
    SELECT DISTINCT ON (p.tenant) p.snap_id, p.tenant,
           p.only_at_snapshot
           + (SELECT count(*) FROM cur WHERE cur.tenant = p.tenant) - (p.at_snapshot - p.only_at_snapshot) AS changed
      FROM per p
     ORDER BY p.tenant, 3 DESC, p.snap_id
)
SELECT row_number() OVER (ORDER BY d.changed DESC, d.snap_id)::int AS n, d.snap_id, d.tenant, d.changed
  FROM d
 ORDER BY d.changed DESC, d.snap_id
 LIMIT 3;
SELECT w.n, w.snap_id, w.tenant, s.after_step,
       (SELECT count(*) FROM oracle.txlog l WHERE l.step > s.after_step AND l.tenant = s.tenant AND l.committed)
           AS its_transactions_since,
       w.changed AS rows_changed_since
  FROM oracle.rewinds w JOIN oracle.snapshots s USING (snap_id) ORDER BY w.n;
SELECT w.n, v.* FROM oracle.rewinds w, oracle.tenant_vs_snapshot(w.snap_id) v ORDER BY w.n, v.tbl;

-- Every tenant's rows in every table with history and in its history
-- table, tombstones included, every column: a checksum before and after
-- the rewinds.
CREATE FUNCTION oracle.checksum(p_phase text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_t  record;
    v_n  bigint;
BEGIN
    PERFORM set_config('tombstone.visibility', 'all', true);
    FOR v_t IN SELECT t.table_name::text AS tbl, t.history_table::text AS hist, t.tenant_column
                 FROM tombstone.protected_tables t WHERE t.history ORDER BY 1 LOOP
        EXECUTE format('INSERT INTO oracle.checksums'
                       ' SELECT $1, x.%1$I, $2, count(*), md5(string_agg(x::text, '','' ORDER BY x::text))'
                       '   FROM %2$s x GROUP BY x.%1$I', v_t.tenant_column, v_t.tbl)
          USING p_phase, v_t.tbl;
        EXECUTE format('INSERT INTO oracle.checksums'
                       ' SELECT $1, x.%1$I, $2, count(*), md5(string_agg(x::text, '','' ORDER BY x::text))'
                       '   FROM %2$s x GROUP BY x.%1$I', v_t.tenant_column, v_t.hist)
          USING p_phase, v_t.hist;
    END LOOP;
    PERFORM set_config('tombstone.visibility', 'live', true);
    SELECT count(*) INTO v_n FROM oracle.checksums WHERE phase = p_phase;
    RETURN v_n;
END
$$;
SELECT oracle.checksum('before rewind') AS tenant_tables;

-- What each rewind has to do, from its snapshot and the rows live now:
-- tombstone the rows live now that the snapshot lacks; give the snapshot's
-- rows that are gone or differ (user columns) their old values back.
CREATE TABLE oracle.rewind_expected AS
SELECT w.n, t.tbl,
       (SELECT count(*) FROM oracle.current_rows c WHERE c.tenant = w.tenant AND c.tbl = t.tbl
           AND NOT EXISTS (SELECT FROM oracle.snap_rows r
                            WHERE r.snap_id = w.snap_id AND r.tbl = c.tbl AND r.id = c.id)) AS tombstoned,
       (SELECT count(*) FROM oracle.snap_rows r WHERE r.snap_id = w.snap_id AND r.tbl = t.tbl
           AND NOT EXISTS (SELECT FROM oracle.current_rows c
                            WHERE c.tenant = w.tenant AND c.tbl = r.tbl AND c.id = r.id
                              AND c.user_row = r.user_row)) AS rewound
  FROM oracle.rewinds w, (VALUES ('o.notes'), ('o.projects'), ('o.tasks')) t(tbl);

-- without a change token: refused, nothing changed
SELECT * FROM oracle.rewinds w JOIN oracle.snapshots s USING (snap_id), tombstone.rewind_tenant(s.tenant, s.ts)
 WHERE w.n = 1;
\echo :SQLSTATE
SELECT oracle.checksum('refused rewind') AS tenant_tables;
SELECT count(*) AS tenant_tables_changed
  FROM (SELECT * FROM oracle.checksums WHERE phase = 'before rewind') b
  FULL JOIN (SELECT * FROM oracle.checksums WHERE phase = 'refused rewind') a USING (tenant, tbl)
 WHERE a.md5 IS DISTINCT FROM b.md5;

-- each rewind in a transaction of its own, with a token for its tenant
CREATE TABLE oracle.rewind_result (n int, tbl text, tombstoned bigint, rewound bigint);
CREATE PROCEDURE oracle.rewind_all()
LANGUAGE plpgsql AS $$
DECLARE
    v_w  record;
BEGIN
    FOR v_w IN SELECT w.n, w.tenant, s.ts FROM oracle.rewinds w JOIN oracle.snapshots s USING (snap_id)
                ORDER BY w.n LOOP
        PERFORM tombstone.authorize(tombstone.sign(
                    jsonb_build_object('op', 'rewind', 'tenants', jsonb_build_array(v_w.tenant),
                                       'tables', jsonb_build_array('o.projects', 'o.tasks', 'o.notes')),
                    'key'));
        INSERT INTO oracle.rewind_result
        SELECT v_w.n, r.table_name::text, r.tombstoned, r.rewound
          FROM tombstone.rewind_tenant(v_w.tenant, v_w.ts) r;
        COMMIT;
    END LOOP;
END
$$;
-- (each rewind says that table o.plain has no history, in a NOTICE)
SET client_min_messages = warning;
CALL oracle.rewind_all();
RESET client_min_messages;
-- what they report, against what they had to do
SELECT n, tbl, r.tombstoned, e.tombstoned AS expected_tombstoned, r.rewound, e.rewound AS expected_rewound
  FROM oracle.rewind_expected e FULL JOIN oracle.rewind_result r USING (n, tbl) ORDER BY n, tbl;

-- each tenant's live rows equal its snapshot's (user columns: a rewind is
-- a change of its own, with its own valid_from and deleted_change)
SELECT w.n, v.* FROM oracle.rewinds w, oracle.tenant_vs_snapshot(w.snap_id) v ORDER BY w.n, v.tbl;
INSERT INTO oracle.checks
SELECT 'rewinds equal their snapshots', bool_and(rows_at_snapshot = rows_now AND only_at_snapshot = 0 AND only_now = 0)
       AND (SELECT count(*) FROM oracle.rewind_result) = 3 * (SELECT count(*) FROM oracle.rewinds)
       AND (SELECT count(*) FROM oracle.rewinds) = least(3, :tenants)
  FROM oracle.rewinds w, oracle.tenant_vs_snapshot(w.snap_id) v;
-- every other tenant's rows and history unchanged, to the last column;
-- the rewound tenants' changed
SELECT oracle.checksum('after rewind') AS tenant_tables;
SELECT tenant IN (SELECT tenant FROM oracle.rewinds) AS rewound_tenant, tbl LIKE 'tombstone_history.%' AS history,
       count(*) AS tenant_tables, sum(b.n) AS rows_before, sum(a.n) AS rows_after,
       count(*) FILTER (WHERE a.md5 IS DISTINCT FROM b.md5 OR a.n IS DISTINCT FROM b.n) AS changed
  FROM (SELECT * FROM oracle.checksums WHERE phase = 'before rewind') b
  FULL JOIN (SELECT * FROM oracle.checksums WHERE phase = 'after rewind') a USING (tenant, tbl)
 GROUP BY 1, 2 ORDER BY 1, 2;
INSERT INTO oracle.checks
SELECT 'other tenants untouched by the rewinds',
       count(*) FILTER (WHERE a.md5 IS DISTINCT FROM b.md5 OR a.n IS DISTINCT FROM b.n) = 0
  FROM (SELECT * FROM oracle.checksums WHERE phase = 'before rewind') b
  FULL JOIN (SELECT * FROM oracle.checksums WHERE phase = 'after rewind') a USING (tenant, tbl)
 WHERE tenant NOT IN (SELECT tenant FROM oracle.rewinds);

-- Round 2: history is not rewritten by the rewinds: every snapshot still
-- reads back, and so do snapshots of the rewound tenants taken after them.
SELECT array_agg(tenant ORDER BY tenant) AS rewound_tenants FROM oracle.rewinds \gset
CALL oracle.snapshot(:'rewound_tenants', :steps);
INSERT INTO oracle.rounds SELECT 2, max(snap_id) FROM oracle.snapshots;
INSERT INTO oracle.asof_rows
SELECT 2, s.snap_id, 'o.projects', a.id, a::text, oracle.user_row(a)
  FROM oracle.snapshots s, tombstone.as_of(NULL::o.projects, s.tenant, s.ts) a;
INSERT INTO oracle.asof_rows
SELECT 2, s.snap_id, 'o.tasks', a.id, a::text, oracle.user_row(a)
  FROM oracle.snapshots s, tombstone.as_of(NULL::o.tasks, s.tenant, s.ts) a;
INSERT INTO oracle.asof_rows
SELECT 2, s.snap_id, 'o.notes', a.id, a::text, oracle.user_row(a)
  FROM oracle.snapshots s, tombstone.as_of(NULL::o.notes, s.tenant, s.ts) a;
SELECT * FROM oracle.summary(2);
SELECT tbl, snap_id, compared, side, left(row_data, 200) AS row_data
  FROM oracle.diff(2) ORDER BY snap_id, tbl, compared, side, row_data LIMIT 10;
INSERT INTO oracle.checks
SELECT 'as_of equals every snapshot after the rewinds', NOT EXISTS (SELECT FROM oracle.diff(2))
       AND (SELECT count(*) FROM oracle.snap_rows) = (SELECT count(*) FROM oracle.asof_rows WHERE round = 2);

-- Rewind past cascades.  1: a task created after time at and a task that
-- was tombstoned at at (restored since) are tombstoned since with their
-- project by ON DELETE CASCADE; rewinding restores the project, and both
-- tasks must stay tombstoned.
INSERT INTO o.projects (id, tenant, name) VALUES (-10, 'cascade1', 'live at at');
INSERT INTO o.tasks (id, site, project_id, title, done) VALUES (-11, 'cascade1', -10, 'tombstoned at at', false);
DELETE FROM o.tasks WHERE id = -11;
SELECT clock_timestamp() AS cascade1_at \gset
INSERT INTO o.tasks (id, site, project_id, title, done) VALUES (-12, 'cascade1', -10, 'created since', false);
SELECT tombstone.undelete('o.tasks', '{"id": -11}');
DELETE FROM o.projects WHERE id = -10;
-- what was live at at
SELECT 'o.projects' AS tbl, id, NULL::int AS project_id FROM tombstone.as_of(NULL::o.projects, 'cascade1', :'cascade1_at')
UNION ALL
SELECT 'o.tasks', id, project_id FROM tombstone.as_of(NULL::o.tasks, 'cascade1', :'cascade1_at')
ORDER BY 1, 2;
BEGIN;
SELECT tombstone.authorize(tombstone.sign('{"op": "rewind", "tenants": ["cascade1"], "tables": ["o.projects", "o.tasks", "o.notes"]}',
                                          'key')) ->> 'op' AS authorized;
SET LOCAL client_min_messages = warning;
SELECT table_name, tombstoned, rewound FROM tombstone.rewind_tenant('cascade1', :'cascade1_at') ORDER BY table_name::text;
COMMIT;
SET tombstone.visibility = 'all';
SELECT 'o.projects' AS tbl, id, NULL::int AS project_id, name AS what, deleted_at IS NULL AS live
  FROM o.projects WHERE tenant = 'cascade1'
UNION ALL
SELECT 'o.tasks', id, project_id, title, deleted_at IS NULL FROM o.tasks WHERE site = 'cascade1'
ORDER BY 1, 2;
RESET tombstone.visibility;

-- 2: a task moved since to a project created since, that project deleted
-- since (the task with it, by cascade); rewinding restores the task into
-- its old project, which is live.
INSERT INTO o.projects (id, tenant, name) VALUES (-20, 'cascade2', 'live at at');
INSERT INTO o.tasks (id, site, project_id, title, done) VALUES (-22, 'cascade2', -20, 'moved since', false);
SELECT clock_timestamp() AS cascade2_at \gset
INSERT INTO o.projects (id, tenant, name) VALUES (-21, 'cascade2', 'created since');
UPDATE o.tasks SET project_id = -21 WHERE id = -22;
DELETE FROM o.projects WHERE id = -21;
-- what was live at at
SELECT 'o.projects' AS tbl, id, NULL::int AS project_id FROM tombstone.as_of(NULL::o.projects, 'cascade2', :'cascade2_at')
UNION ALL
SELECT 'o.tasks', id, project_id FROM tombstone.as_of(NULL::o.tasks, 'cascade2', :'cascade2_at')
ORDER BY 1, 2;
BEGIN;
SELECT tombstone.authorize(tombstone.sign('{"op": "rewind", "tenants": ["cascade2"], "tables": ["o.projects", "o.tasks", "o.notes"]}',
                                          'key')) ->> 'op' AS authorized;
SET LOCAL client_min_messages = warning;
SELECT table_name, tombstoned, rewound FROM tombstone.rewind_tenant('cascade2', :'cascade2_at') ORDER BY table_name::text;
COMMIT;
SET tombstone.visibility = 'all';
SELECT 'o.projects' AS tbl, id, NULL::int AS project_id, name AS what, deleted_at IS NULL AS live
  FROM o.projects WHERE tenant = 'cascade2'
UNION ALL
SELECT 'o.tasks', id, project_id, title, deleted_at IS NULL FROM o.tasks WHERE site = 'cascade2'
ORDER BY 1, 2;
RESET tombstone.visibility;
INSERT INTO oracle.checks
SELECT 'rewinds past cascades',
       (SELECT array_agg(id ORDER BY id) FROM o.projects WHERE tenant IN ('cascade1', 'cascade2')) = '{-20,-10}'
       AND (SELECT array_agg(id || ':' || project_id ORDER BY id) FROM o.tasks WHERE site IN ('cascade1', 'cascade2'))
           = '{-22:-20}';

-- Versions kept, counted in the history table: a row inserted and changed
-- in one transaction has none; several changes in one transaction leave
-- one; a rolled back subtransaction or transaction leaves none; each
-- version ends where the next begins.
SELECT history_table AS projects_history FROM tombstone.protected_tables
 WHERE table_name = 'o.projects'::regclass \gset
INSERT INTO o.projects (id, tenant, name) VALUES (-1, 'direct', 'a');
BEGIN;
INSERT INTO o.projects (id, tenant, name) VALUES (-2, 'direct', 'new');
UPDATE o.projects SET name = 'new, updated' WHERE id = -2;
UPDATE o.projects SET budget = 2 WHERE id = -2;
COMMIT;
BEGIN;
UPDATE o.projects SET name = 'b' WHERE id = -1;
UPDATE o.projects SET name = 'c' WHERE id = -1;
UPDATE o.projects SET budget = 1 WHERE id = -1;
COMMIT;
BEGIN;
DELETE FROM o.projects WHERE id = -1;
SELECT tombstone.undelete('o.projects', '{"id": -1}');
COMMIT;
BEGIN;
SAVEPOINT s;
UPDATE o.projects SET name = 'rolled back' WHERE id = -1;
ROLLBACK TO SAVEPOINT s;
UPDATE o.projects SET name = 'd' WHERE id = -1;
COMMIT;
BEGIN;
UPDATE o.projects SET name = 'never' WHERE id = -1;
ROLLBACK;
DELETE FROM o.projects WHERE id = -2;
-- the versions kept: the history table's, and the last live version of a
-- tombstone made in place, which the tombstone carries (valid_from before
-- deleted_at) until it is restored or changed; read with the tombstones
SET tombstone.visibility = 'all';
CREATE VIEW oracle.direct_versions AS
SELECT h.id, h.name, h.budget, h.deleted_at, h.valid_from, h.valid_to
  FROM :projects_history h WHERE h.tenant = 'direct'
UNION ALL
SELECT p.id, p.name, p.budget, NULL, p.valid_from, p.deleted_at
  FROM ONLY o.projects p
 WHERE p.tenant = 'direct' AND p.valid_from < p.deleted_at;
SELECT h.id, h.name, h.budget, h.deleted_at IS NOT NULL AS tombstone,
       h.valid_from < h.valid_to AS valid,
       h.valid_from = lag(h.valid_to) OVER (PARTITION BY h.id ORDER BY h.valid_to) AS follows_previous
  FROM oracle.direct_versions h ORDER BY h.id, h.valid_to;
SELECT p.id, p.name, p.budget, p.deleted_at IS NOT NULL AS tombstone,
       p.valid_from = (SELECT max(h.valid_to) FROM :projects_history h WHERE h.id = p.id) AS follows_previous
  FROM o.projects p WHERE p.tenant = 'direct' ORDER BY p.id;
INSERT INTO oracle.checks
SELECT 'one version per transaction',
       count(*) FILTER (WHERE h.id = -1) = 3 AND count(*) FILTER (WHERE h.id = -2) = 1
  FROM oracle.direct_versions h;
RESET tombstone.visibility;

-- as_of()'s errors.  A time in the future and one before the retention:
-- their detail names the current time, so only the message is shown.
\set VERBOSITY terse
SELECT * FROM tombstone.as_of(NULL::o.projects, 't001', '2999-01-01 00:00:00+00');
\echo :SQLSTATE
SELECT * FROM tombstone.as_of(NULL::o.projects, 't001', clock_timestamp() + interval '1 second');
\echo :SQLSTATE
-- before the history began (protect() ran just now; retention: 30 days for projects, 7 for notes)
SELECT * FROM tombstone.as_of(NULL::o.projects, 't001', '2000-01-01 00:00:00+00');
\echo :SQLSTATE
SELECT * FROM tombstone.as_of(NULL::o.notes, 't001', now() - interval '8 days');
\echo :SQLSTATE
\set VERBOSITY default
-- a NULL tenant or time
SELECT * FROM tombstone.as_of(NULL::o.projects, NULL, now());
\echo :SQLSTATE
SELECT * FROM tombstone.as_of(NULL::o.projects, 't001', NULL);
\echo :SQLSTATE
-- a table that is not protected, one protected without history, a type
-- that is not a table's
SELECT * FROM tombstone.as_of(NULL::oracle.snapshots, 't001', now());
\echo :SQLSTATE
SELECT * FROM tombstone.as_of(NULL::o.plain, 't001', now());
\echo :SQLSTATE
SELECT * FROM tombstone.as_of(NULL::int, 't001', now());
\echo :SQLSTATE

-- the verdict oracle.sh looks for
SELECT name, ok FROM oracle.checks ORDER BY name;
SELECT CASE WHEN count(*) = 8 AND bool_and(ok) THEN 'ok' ELSE 'FAILED' END AS verdict
  FROM oracle.checks \gset
\echo oracle verdict: :verdict

\set QUIET on
\c :oracle_home
\set QUIET off
\if :{?keep}
\else
SET tombstone.drop_database = 'history_oracle';
DROP DATABASE history_oracle;
RESET tombstone.drop_database;
\endif
