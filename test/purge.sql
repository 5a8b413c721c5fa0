-- pgTAP: tombstone.purge() and tombstone.purge_tenant().  First the matrix
-- of refusals, each followed by a check that nothing changed (every row of
-- every table, the tokens' uses and bindings); then the happy paths: only
-- tombstones past the retention go (or every tombstone of the erased
-- tenant), live rows never, children before parents, referenced parents
-- stay, the token's budget is charged, the ledger records one change, a
-- role without DELETE privilege purges with a token, and a trigger's
-- look-alike query cannot use the purge's window.
--
-- Refusals caught here (throws_ok runs them in an exception block) are not
-- emitted, so the refusal counters do not see them: that is checked too.
BEGIN;
SET search_path = public, tombstone;
SET tombstone.audience = 'pg_tombstone:tap-purge';
SET tombstone.visibility = 'all';
-- the NOTICEs of kept and live rows are shown in the pg_regress test
SET client_min_messages = warning;

SELECT plan(67);

SELECT lives_ok($$SELECT tombstone.add_key('tap_purge', 'HS256',
                  convert_to('pg_tombstone purge test secret, 40 bytes', 'UTF8'))$$,
                'add an HS256 key');

-- a token for claims (op purge unless given), bound, then one purge
CREATE FUNCTION pg_temp.tok(claims jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT tombstone.sign(jsonb_build_object('op', 'purge') || claims, 'tap_purge')
$$;
CREATE FUNCTION pg_temp.purge_with(claims jsonb, tbl regclass DEFAULT NULL, tenant text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tombstone.authorize(pg_temp.tok(claims));
    RETURN (SELECT coalesce(sum(p.purged), 0) FROM tombstone.purge(tbl, tenant) p);
END
$$;
CREATE FUNCTION pg_temp.purge_tenant_with(claims jsonb, tenant text)
RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tombstone.authorize(pg_temp.tok(claims));
    RETURN (SELECT coalesce(sum(p.purged), 0) FROM tombstone.purge_tenant(tenant) p);
END
$$;
-- two purges under one token: they share its budget
CREATE FUNCTION pg_temp.purge_twice(claims jsonb, tbl1 regclass, tenant1 text,
                                    tbl2 regclass, tenant2 text)
RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tombstone.authorize(pg_temp.tok(claims));
    RETURN (SELECT coalesce(sum(p.purged), 0) FROM tombstone.purge(tbl1, tenant1) p) +
           (SELECT coalesce(sum(p.purged), 0) FROM tombstone.purge(tbl2, tenant2) p);
END
$$;

CREATE SCHEMA tp;
CREATE TABLE tp.sites (id text PRIMARY KEY);
CREATE TABLE tp.projects (id int PRIMARY KEY, site_id text NOT NULL REFERENCES tp.sites);
CREATE TABLE tp.tasks (id int PRIMARY KEY, site_id text NOT NULL,
                       project_id int NOT NULL REFERENCES tp.projects ON DELETE CASCADE);
CREATE TABLE tp.events (id int, site_id text NOT NULL) PARTITION BY LIST (site_id);
CREATE TABLE tp.events_acme PARTITION OF tp.events FOR VALUES IN ('acme');
CREATE TABLE tp.events_other PARTITION OF tp.events DEFAULT;
CREATE TABLE tp.nums (id int PRIMARY KEY, tenant int);
CREATE TABLE tp.inh (id int, site_id text);
CREATE TABLE tp.inh_kid () INHERITS (tp.inh);
CREATE TABLE tp.tree (id int PRIMARY KEY, parent int REFERENCES tp.tree, site_id text);
CREATE TABLE tp.nulls (id int, site_id text);
CREATE TABLE tp.ext (id int PRIMARY KEY, project_id int REFERENCES tp.projects ON DELETE CASCADE);

SELECT tombstone.protect_tenants('tp.sites', 'id');
SELECT tombstone.protect(t, c, retention => r)
  FROM (VALUES ('tp.projects'::regclass, 'site_id'::name, interval '1 day'),
               ('tp.tasks', 'site_id', '1 day'), ('tp.events', 'site_id', '7 days'),
               ('tp.nums', 'tenant', '1 day'), ('tp.inh', 'site_id', '1 day'),
               ('tp.tree', 'site_id', '1 day'), ('tp.nulls', 'site_id', '1 day')) v(t, c, r);

-- rows as they are after deletions long ago ('2000-01-01') and just now
-- (now()); loaded as a restore would, without foreign-key checks
SET LOCAL session_replication_role = replica;
INSERT INTO tp.sites VALUES ('acme'), ('globex'), ('initech');
INSERT INTO tp.projects (id, site_id, deleted_at) VALUES
    (1, 'acme', '2000-01-01'), (2, 'acme', NULL), (3, 'acme', '2000-01-01'),
    (4, 'acme', '2000-01-01'), (5, 'globex', '2000-01-01'), (6, 'globex', now()),
    (7, 'globex', NULL), (8, 'initech', '2000-01-01');
INSERT INTO tp.tasks (id, site_id, project_id, deleted_at) VALUES
    (20, 'acme', 1, '2000-01-01'), (21, 'acme', 4, now()), (22, 'acme', 2, NULL),
    (23, 'globex', 5, '2000-01-01'), (24, 'globex', 7, now());
INSERT INTO tp.events (id, site_id, deleted_at) VALUES
    (30, 'acme', '2000-01-01'), (31, 'acme', NULL), (32, 'globex', '2000-01-01'),
    (33, 'initech', '2000-01-01');
INSERT INTO tp.nums (id, tenant, deleted_at) VALUES
    (40, 7, '2000-01-01'), (41, 7, NULL), (42, 8, '2000-01-01');
INSERT INTO tp.inh (id, site_id, deleted_at) VALUES (50, 'acme', '2000-01-01');
INSERT INTO tp.inh_kid (id, site_id, deleted_at) VALUES (51, 'acme', '2000-01-01'), (52, 'acme', NULL);
INSERT INTO tp.tree (id, parent, site_id, deleted_at) VALUES
    (60, NULL, 'acme', '2000-01-01'), (61, 60, 'acme', '2000-01-01'), (62, 61, 'acme', '2000-01-01');
INSERT INTO tp.nulls (id, site_id, deleted_at) VALUES (70, NULL, '2000-01-01'), (71, 'acme', '2000-01-01');
INSERT INTO tp.ext VALUES (1, 3);
SET LOCAL session_replication_role = origin;

-- everything a refusal must leave alone
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
    SELECT format('projects %s tasks %s events %s nums %s inh %s tree %s nulls %s sites %s uses %s bound %s',
                  (SELECT array_agg(id ORDER BY id) FROM tp.projects),
                  (SELECT array_agg(id ORDER BY id) FROM tp.tasks),
                  (SELECT array_agg(id ORDER BY id) FROM tp.events),
                  (SELECT array_agg(id ORDER BY id) FROM tp.nums),
                  (SELECT array_agg(id ORDER BY id) FROM tp.inh),
                  (SELECT array_agg(id ORDER BY id) FROM tp.tree),
                  (SELECT array_agg(id ORDER BY id) FROM tp.nulls),
                  (SELECT array_agg(id ORDER BY id) FROM tp.sites),
                  (SELECT coalesce(sum(uses), 0) FROM tombstone.token_uses),
                  (SELECT count(*) FROM tombstone.bound_tokens()))
$$;
CREATE TEMP TABLE baseline AS
SELECT pg_temp.state() AS state,
       (SELECT sum(refusals) FROM tombstone.refusals) AS refusals,
       (SELECT count(*) FROM tombstone.changes) AS changes;

------------------------------------------------------------------------
-- Refusals
------------------------------------------------------------------------

SELECT throws_ok($$SELECT * FROM tombstone.purge()$$, 'TB035',
                 'tombstone.purge() needs a change token of operation "purge"',
                 'purge() without a token');
SELECT is(pg_temp.state(), (SELECT state FROM baseline), '... nothing changed');
SELECT throws_ok($$SELECT * FROM tombstone.purge('tp.projects')$$, 'TB035', NULL,
                 'purge(table) without a token');
SELECT throws_ok($$SELECT * FROM tombstone.purge_tenant('acme')$$, 'TB035',
                 'tombstone.purge_tenant() needs a change token of operation "purge"',
                 'purge_tenant() without a token');
SELECT is(pg_temp.state(), (SELECT state FROM baseline), '... nothing changed');

SELECT throws_ok($$SELECT pg_temp.purge_with('{"op": "delete", "tables": ["tp.projects"], "tenants": ["*"]}', 'tp.projects')$$,
                 'TB035', NULL, 'a token of operation "delete" does not purge');
SELECT throws_ok($$SELECT pg_temp.purge_with('{"op": "ddl", "tables": ["tp.projects"], "tenants": ["*"]}', 'tp.projects')$$,
                 'TB035', NULL, 'a token of operation "ddl" does not purge');
SELECT throws_ok($$SELECT pg_temp.purge_with('{"tenants": ["*"]}', 'tp.projects')$$,
                 'TB035', NULL, 'a purge token without "tables" covers no table');
SELECT is(pg_temp.state(), (SELECT state FROM baseline), '... nothing changed');

SELECT throws_ok($$SELECT pg_temp.purge_with('{"tables": ["tp.tasks"], "tenants": ["*"]}', 'tp.projects')$$,
                 'TB035', 'change token does not cover every table and tenant tombstone.purge() would purge',
                 'a token for another table');
SELECT throws_ok($$SELECT pg_temp.purge_with('{"tables": ["tp.projects"], "tenants": ["acme"]}', 'tp.projects')$$,
                 'TB035', NULL, 'a token for one tenant, with rows of three to purge');
SELECT throws_ok($$SELECT pg_temp.purge_with('{"tables": ["tp.projects"], "tenants": ["*"]}')$$,
                 'TB035', NULL, 'purge() of every table with a token for one table');
SELECT throws_ok($$SELECT pg_temp.purge_with('{"tables": ["tp.events_acme"], "tenants": ["*"]}', 'tp.events')$$,
                 'TB035', NULL, 'a token for one partition does not cover the partitioned table');
SELECT throws_ok($$SELECT pg_temp.purge_with('{"tables": ["tp.nulls"], "tenants": ["acme"]}', 'tp.nulls')$$,
                 'TB035', NULL, 'rows with a NULL tenant need "tenants": ["*"]');
SELECT throws_ok($$SELECT pg_temp.purge_tenant_with('{"tables": ["tp.projects", "tp.tasks", "tp.events"], "tenants": ["acme"]}', 'globex')$$,
                 'TB035', NULL, 'purge_tenant() with a token for another tenant');
SELECT throws_ok($$SELECT pg_temp.purge_tenant_with('{"tables": ["tp.projects"], "tenants": ["globex"]}', 'globex')$$,
                 'TB035', NULL, 'purge_tenant() with a token for some of the tables');
SELECT is(pg_temp.state(), (SELECT state FROM baseline), '... nothing changed');

SELECT throws_ok($$SELECT pg_temp.purge_with('{"tables": ["tp.events"], "tenants": ["*"], "max_rows": 2}', 'tp.events')$$,
                 'TB032', NULL, 'more rows than max_rows');
SELECT throws_ok($$SELECT pg_temp.purge_twice('{"tables": ["tp.events"], "tenants": ["*"], "max_rows": 2}',
                                               'tp.events', 'acme', 'tp.events', NULL)$$,
                 'TB032', NULL, 'two purges under one token share its max_rows');
SELECT is(pg_temp.state(), (SELECT state FROM baseline), '... nothing changed, not even the first purge');

SELECT throws_ok($$SELECT * FROM tombstone.purge('tp.ext')$$, '42809', 'table "ext" is not protected',
                 'an unprotected table');
SELECT throws_ok($$SELECT * FROM tombstone.purge('pg_class')$$, '42809', NULL,
                 'a catalog');
SELECT throws_ok($$SELECT * FROM tombstone.purge_tenant(NULL)$$, '22004', NULL,
                 'purge_tenant(NULL)');
SELECT is(pg_temp.state(), (SELECT state FROM baseline), '... nothing changed');

-- a statement written to look like purge.c's own is still a tombstone
SELECT lives_ok($$/* pg_tombstone */ DELETE FROM tp.events WHERE id = 31$$,
                'a user''s DELETE with the internal prefix runs');
SELECT ok((SELECT deleted_at IS NOT NULL FROM tp.events WHERE id = 31),
          '... and tombstoned the row instead of removing it');
UPDATE tp.events SET deleted_at = NULL WHERE id = 31;

SELECT is((SELECT sum(refusals) FROM tombstone.refusals), (SELECT refusals FROM baseline),
          'refusals caught by an exception block are not counted');
SELECT is((SELECT count(*) FROM tombstone.refusals), 50::bigint,
          'tombstone.refusals lists every refusal code');

------------------------------------------------------------------------
-- Purging
------------------------------------------------------------------------

-- one table, one tenant
SELECT is(pg_temp.purge_with('{"tables": ["tp.tasks"], "tenants": ["acme"]}', 'tp.tasks', 'acme'),
          1::bigint, 'purge(tasks, acme) removes acme''s old tombstone');
SELECT is((SELECT array_agg(id ORDER BY id) FROM tp.tasks), '{21,22,23,24}',
          '... recent tombstones, live rows and other tenants stay');
SELECT is((SELECT array_agg(rows_used) FROM tombstone.bound_tokens()), '{1}'::bigint[],
          '... and charged the token one row');
SELECT is((SELECT operation FROM tombstone.changes ORDER BY id DESC LIMIT 1), 'purge',
          'the ledger has a change of operation purge');
SELECT is((SELECT rows FROM tombstone.changes ORDER BY id DESC LIMIT 1),
          '[{"table": "tp.tasks", "tenant": "acme", "purged": 1, "restored": 0, "tombstoned": 0}]',
          '... with the rows purged per table and tenant');

-- a partition
SELECT is(pg_temp.purge_with('{"tables": ["tp.events"], "tenants": ["*"]}', 'tp.events_acme'),
          1::bigint, 'purge(partition) with a token for its partitioned table');
SELECT is((SELECT array_agg(id ORDER BY id) FROM tp.events), '{31,32,33}',
          '... removes that partition''s old tombstones only');

-- erasure
SELECT is(pg_temp.purge_tenant_with('{"tables": ["tp.projects", "tp.tasks", "tp.events"], "tenants": ["globex"]}', 'globex'),
          5::bigint, 'purge_tenant(globex) removes every tombstone of globex');
SELECT is((SELECT array_agg(id ORDER BY id) FROM tp.projects WHERE site_id = 'globex'), '{7}',
          '... recent ones too; its live project stays');
SELECT is((SELECT array_agg(id ORDER BY id) FROM tp.tasks WHERE site_id = 'globex'), NULL::int[],
          '... its tasks are gone, the recent one too');
SELECT is((SELECT array_agg(id ORDER BY id) FROM tp.events), '{31,33}',
          '... and its event');
SELECT is((SELECT array_agg(id ORDER BY id) FROM tp.sites), '{acme,globex,initech}',
          '... the live tenant row stays');
SELECT is((SELECT array_agg(id ORDER BY id) FROM tp.nums), '{40,41,42}',
          '... a table whose tenant column cannot hold "globex" is not touched');
SELECT is((SELECT sum((r->>'purged')::int) FROM tombstone.changes c, jsonb_array_elements(c.rows) r
            WHERE c.id = (SELECT max(id) FROM tombstone.changes)),
          5::bigint, '... and the ledger counts 5 rows purged');

-- a role without DELETE privilege, and a trigger trying the window
CREATE ROLE tap_purge_ops;
GRANT USAGE ON SCHEMA tp TO tap_purge_ops;
CREATE FUNCTION tp.sneak() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE '/* pg_tombstone */ DELETE FROM tp.events WHERE id = 31';
    RETURN old;
END
$$;
CREATE TRIGGER sneak BEFORE DELETE ON tp.nums FOR EACH ROW EXECUTE FUNCTION tp.sneak();
CREATE FUNCTION pg_temp.as_ops(tok text, tbl regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    SET LOCAL ROLE tap_purge_ops;
    IF tok IS NOT NULL THEN
        PERFORM tombstone.authorize(tok);
    END IF;
    SELECT coalesce(sum(p.purged), 0) INTO n FROM tombstone.purge(tbl) p;
    RESET ROLE;
    RETURN n;
END
$$;
SELECT ok(NOT has_table_privilege('tap_purge_ops', 'tp.nums', 'DELETE'),
          'the operator role has no DELETE privilege');
SELECT throws_ok($$SELECT pg_temp.as_ops(NULL, 'tp.nums')$$, 'TB035', NULL,
                 'without a token for the table it purges nothing');
SELECT is(pg_temp.as_ops(pg_temp.tok('{"tables": ["tp.nums"], "tenants": ["7", "8"]}'), 'tp.nums'),
          2::bigint, 'with a token it purges as the table''s owner');
SELECT is((SELECT array_agg(id ORDER BY id) FROM tp.nums), '{41}',
          '... old tombstones of an integer tenant column gone, the live row stays');
SELECT is((SELECT array_agg(id ORDER BY id) FROM tp.events), '{31,33}',
          'the trigger''s look-alike DELETE removed nothing');
SELECT ok((SELECT deleted_at IS NOT NULL FROM tp.events WHERE id = 31),
          '... it tombstoned the row, as any DELETE does');
UPDATE tp.events SET deleted_at = NULL WHERE id = 31;
SELECT throws_ok($$SET LOCAL ROLE tap_purge_ops; SELECT tombstone.reset_refusals()$$, '42501', NULL,
                 'resetting the refusal counters needs a privilege');
RESET ROLE;

-- every table: children before parents, referenced parents stay
SELECT is(pg_temp.purge_with('{"tables": ["tp.projects", "tp.tasks", "tp.events", "tp.inh",
                                          "tp.tree", "tp.nulls", "tp.sites"], "tenants": ["*"]}'),
          8::bigint, 'purge() of every protected table');
SELECT is((SELECT array_agg(id ORDER BY id) FROM tp.projects), '{2,3,4,7}',
          '... project 1 went once its task had; 3 (an unprotected row references it) and 4 (a recent tombstone does) stay');
SELECT is((SELECT array_agg(id ORDER BY id) FROM tp.tasks), '{21,22}',
          '... the recent tombstone and the live task stay');
SELECT is((SELECT array_agg(id ORDER BY id) FROM tp.events), '{31}',
          '... old events gone');
SELECT is((SELECT array_agg(id ORDER BY id) FROM tp.inh), '{52}',
          '... an inheritance parent covers its children');
SELECT is((SELECT array_agg(id ORDER BY id) FROM tp.tree), '{60,61}',
          '... a self-referencing table loses one level per call');
SELECT is((SELECT array_agg(id ORDER BY id) FROM tp.nulls), NULL::int[],
          '... rows with a NULL tenant go under "tenants": ["*"]');
SELECT is((SELECT count(*) FROM tp.ext), 1::bigint,
          '... and no foreign-key action removed the unprotected row');
SELECT is(pg_temp.purge_with('{"tables": ["tp.tree"], "tenants": ["*"]}', 'tp.tree'),
          1::bigint, 'the next purge takes the next level');
SELECT is(pg_temp.purge_with('{"tables": ["tp.tree"], "tenants": ["*"]}', 'tp.tree'),
          1::bigint, '... and the next');
SELECT is(pg_temp.purge_with('{"tables": ["tp.tree"], "tenants": ["*"]}', 'tp.tree'),
          0::bigint, 'nothing left: nothing purged');

-- live rows are never removed
SELECT is((SELECT array_agg(id ORDER BY id) FROM tp.projects WHERE deleted_at IS NULL), '{2,7}',
          'every live project is still there');
SELECT is((SELECT array_agg(id ORDER BY id) FROM tp.tasks WHERE deleted_at IS NULL), '{22}',
          'every live task is still there');
SELECT is((SELECT array_agg(id ORDER BY id) FROM tp.sites), '{acme,globex,initech}',
          'every tenant is still there');

-- the erasure of a deleted tenant leaves nothing of it
DELETE FROM tp.tasks WHERE site_id = 'acme';
DELETE FROM tp.projects WHERE id = 2;
DELETE FROM tp.ext;
DELETE FROM tp.inh WHERE id = 52;
SELECT is(pg_temp.purge_tenant_with('{"tables": ["tp.projects", "tp.tasks", "tp.events", "tp.inh", "tp.tree"],
                                      "tenants": ["acme"]}', 'acme'),
          6::bigint, 'purge_tenant(acme) once acme''s rows are tombstoned');
SELECT is((SELECT count(*) FROM tp.projects WHERE site_id = 'acme') +
          (SELECT count(*) FROM tp.tasks WHERE site_id = 'acme'),
          0::bigint, '... no project or task of acme is left');
SELECT is((SELECT array_agg(id ORDER BY id) FROM tp.events), '{31}',
          '... its live event stays');

SELECT * FROM finish();
ROLLBACK;
