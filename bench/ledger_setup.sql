-- pg_tombstone benchmark, comparisons 5 and 6: a tenant schema, loaded
-- twice side by side.
--
-- Run by bench/run.sh in a fresh database of its own (a database has one
-- tenant registry, and protected tables cannot be dropped):
--   psql -v ON_ERROR_STOP=1 -v tenants=10 -v per_tenant=100000 -f bench/ledger_setup.sql
--
-- Schemas base and prot hold the same six tables with the same columns,
-- rows, indexes and foreign keys:
--
--   tenants    (id)                                    1 row per tenant
--   projects   tenant_id -> tenants  ON DELETE CASCADE  5% of a tenant's rows
--   tasks      project_id -> projects ON DELETE CASCADE 25%
--   comments   task_id -> tasks      ON DELETE CASCADE  40%
--   documents  tenant_id -> tenants  ON DELETE CASCADE  10%
--   events     tenant_id only (a log)                   20%
--
-- so that each tenant has :per_tenant rows over the five tables below
-- tenants.  The tenants' rows come in runs of 100 consecutive rows, tenant
-- after tenant, as rows written in bursts over time do: a tenant's rows fill
-- about the same number of pages whatever the number of tenants, so that a
-- larger table does not by itself make the same change touch more pages.
-- A task's project and a comment's task belong to the same tenant.  Every
-- table has an index on tenant_id, and tasks and comments one on their
-- foreign-key column.
--
-- Each table is loaded with its final columns (deleted_at, deleted_change
-- included), indexed, given its foreign keys and frozen before protect()
-- runs, so that the only difference between the two sides is what pg_tombstone
-- adds to prot: its triggers (protect() adds no index: undelete_change()
-- finds a change's rows through the tenant index both sides have).  prot.tenants is the tenant
-- registry (tombstone.protect_tenants).  Autovacuum is off on every table:
-- run.sh vacuums them itself before each timed run.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

\ir require_preloaded.sql

-- rows per tenant of each table; events takes what the others leave
CREATE FUNCTION ledger_shares(per_tenant bigint)
RETURNS TABLE (tbl text, n bigint)
LANGUAGE sql IMMUTABLE
AS $$
    SELECT * FROM (VALUES ('projects', per_tenant * 5 / 100),
                          ('tasks', per_tenant * 25 / 100),
                          ('comments', per_tenant * 40 / 100),
                          ('documents', per_tenant * 10 / 100),
                          ('events', per_tenant - per_tenant * 5 / 100 - per_tenant * 25 / 100
                                     - per_tenant * 40 / 100 - per_tenant * 10 / 100)) v(tbl, n)
$$;

-- The rows of a table with n rows per tenant: the tenants' rows come in
-- runs of 100 consecutive ids, tenant after tenant (rows 1-100 tenant 1,
-- 101-200 tenant 2, ...), as rows written in bursts are; j numbers the rows
-- of one tenant in the table from 0.  In id order, which is the order they
-- are inserted in.
CREATE FUNCTION ledger_rows(ntenants int, n bigint)
RETURNS TABLE (id bigint, tenant int, j bigint)
LANGUAGE sql IMMUTABLE
AS $$
    SELECT g + 1, (g / 100 % ntenants + 1)::int, g / 100 / ntenants * 100 + g % 100
      FROM generate_series(0, (n + 99) / 100 * 100 * ntenants - 1) g
     WHERE g / 100 / ntenants * 100 + g % 100 < n
$$;

-- The id of the j-th row of tenant k in such a table.
CREATE FUNCTION ledger_id(ntenants int, k int, j bigint)
RETURNS bigint
LANGUAGE sql IMMUTABLE
AS $$
    SELECT (j / 100 * ntenants + k - 1) * 100 + j % 100 + 1
$$;

CREATE FUNCTION ledger_create(sch text, ntenants int, per_tenant bigint)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    np bigint := (SELECT n FROM ledger_shares(per_tenant) WHERE tbl = 'projects');
    nt bigint := (SELECT n FROM ledger_shares(per_tenant) WHERE tbl = 'tasks');
    nc bigint := (SELECT n FROM ledger_shares(per_tenant) WHERE tbl = 'comments');
    nd bigint := (SELECT n FROM ledger_shares(per_tenant) WHERE tbl = 'documents');
    ne bigint := (SELECT n FROM ledger_shares(per_tenant) WHERE tbl = 'events');
    t text;
BEGIN
    EXECUTE format('CREATE SCHEMA %I', sch);
    EXECUTE format($f$
        CREATE TABLE %1$I.tenants (
            id             int NOT NULL,
            name           text NOT NULL,
            created_at     timestamptz NOT NULL DEFAULT now(),
            deleted_at     timestamptz,
            deleted_change bigint
        ) WITH (autovacuum_enabled = off);
        CREATE TABLE %1$I.projects (
            id             bigint NOT NULL,
            tenant_id      int NOT NULL,
            name           text NOT NULL,
            created_at     timestamptz NOT NULL DEFAULT now(),
            deleted_at     timestamptz,
            deleted_change bigint
        ) WITH (autovacuum_enabled = off);
        CREATE TABLE %1$I.tasks (
            id             bigint NOT NULL,
            tenant_id      int NOT NULL,
            project_id     bigint NOT NULL,
            title          text NOT NULL,
            status         smallint NOT NULL,
            created_at     timestamptz NOT NULL DEFAULT now(),
            deleted_at     timestamptz,
            deleted_change bigint
        ) WITH (autovacuum_enabled = off);
        CREATE TABLE %1$I.comments (
            id             bigint NOT NULL,
            tenant_id      int NOT NULL,
            task_id        bigint NOT NULL,
            body           text NOT NULL,
            created_at     timestamptz NOT NULL DEFAULT now(),
            deleted_at     timestamptz,
            deleted_change bigint
        ) WITH (autovacuum_enabled = off);
        CREATE TABLE %1$I.documents (
            id             bigint NOT NULL,
            tenant_id      int NOT NULL,
            title          text NOT NULL,
            body           text NOT NULL,
            created_at     timestamptz NOT NULL DEFAULT now(),
            deleted_at     timestamptz,
            deleted_change bigint
        ) WITH (autovacuum_enabled = off);
        CREATE TABLE %1$I.events (
            id             bigint NOT NULL,
            tenant_id      int NOT NULL,
            kind           text NOT NULL,
            payload        text NOT NULL,
            created_at     timestamptz NOT NULL DEFAULT now(),
            deleted_at     timestamptz,
            deleted_change bigint
        ) WITH (autovacuum_enabled = off);
    $f$, sch);

    EXECUTE format($f$
        INSERT INTO %1$I.tenants (id, name, created_at)
        SELECT k, 'tenant ' || k, timestamptz '2024-01-01' + k * interval '1 minute'
          FROM generate_series(1, %2$s) k;
        INSERT INTO %1$I.projects (id, tenant_id, name, created_at)
        SELECT r.id, r.tenant, 'project ' || md5(r.id::text),
               timestamptz '2024-01-01' + r.id * interval '1 second'
          FROM ledger_rows(%2$s, %3$s) r;
        INSERT INTO %1$I.tasks (id, tenant_id, project_id, title, status, created_at)
        SELECT r.id, r.tenant, ledger_id(%2$s, r.tenant, r.j %% %3$s),
               'task ' || md5(r.id::text), (r.id %% 4)::smallint,
               timestamptz '2024-01-01' + r.id * interval '1 second'
          FROM ledger_rows(%2$s, %4$s) r;
        INSERT INTO %1$I.comments (id, tenant_id, task_id, body, created_at)
        SELECT r.id, r.tenant, ledger_id(%2$s, r.tenant, r.j %% %4$s),
               md5(r.id::text) || md5((r.id + 1)::text),
               timestamptz '2024-01-01' + r.id * interval '1 second'
          FROM ledger_rows(%2$s, %5$s) r;
        INSERT INTO %1$I.documents (id, tenant_id, title, body, created_at)
        SELECT r.id, r.tenant, 'document ' || r.id, md5(r.id::text) || md5((-r.id)::text),
               timestamptz '2024-01-01' + r.id * interval '1 second'
          FROM ledger_rows(%2$s, %6$s) r;
        INSERT INTO %1$I.events (id, tenant_id, kind, payload, created_at)
        SELECT r.id, r.tenant, (ARRAY['login', 'view', 'edit', 'export'])[r.id %% 4 + 1],
               md5(r.id::text), timestamptz '2024-01-01' + r.id * interval '1 second'
          FROM ledger_rows(%2$s, %7$s) r;
    $f$, sch, ntenants, np, nt, nc, nd, ne);

    EXECUTE format('ALTER TABLE %I.tenants ADD PRIMARY KEY (id)', sch);
    FOREACH t IN ARRAY ARRAY['projects', 'tasks', 'comments', 'documents', 'events'] LOOP
        EXECUTE format('ALTER TABLE %I.%I ADD PRIMARY KEY (id)', sch, t);
        EXECUTE format('CREATE INDEX ON %I.%I (tenant_id)', sch, t);
    END LOOP;
    EXECUTE format('CREATE INDEX ON %I.tasks (project_id)', sch);
    EXECUTE format('CREATE INDEX ON %I.comments (task_id)', sch);
    EXECUTE format($f$
        ALTER TABLE %1$I.projects ADD FOREIGN KEY (tenant_id)
            REFERENCES %1$I.tenants (id) ON DELETE CASCADE;
        ALTER TABLE %1$I.tasks ADD FOREIGN KEY (project_id)
            REFERENCES %1$I.projects (id) ON DELETE CASCADE;
        ALTER TABLE %1$I.comments ADD FOREIGN KEY (task_id)
            REFERENCES %1$I.tasks (id) ON DELETE CASCADE;
        ALTER TABLE %1$I.documents ADD FOREIGN KEY (tenant_id)
            REFERENCES %1$I.tenants (id) ON DELETE CASCADE;
    $f$, sch);
END
$$;

-- The rows of one tenant in the tables of schema sch, and how many of them
-- are tombstoned (through the tenant_id index; with tombstone.visibility =
-- 'all' for the protected side).  Used by bench/ledger_check.sql.
CREATE FUNCTION ledger_tenant_rows(sch text, tenant int)
RETURNS TABLE (tbl text, total bigint, tombstoned bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenants', 'projects', 'tasks', 'comments', 'documents', 'events'] LOOP
        tbl := t;
        EXECUTE format('SELECT count(*), count(*) FILTER (WHERE deleted_at IS NOT NULL)'
                       '  FROM %I.%I WHERE %I = $1',
                       sch, t, CASE WHEN t = 'tenants' THEN 'id' ELSE 'tenant_id' END)
           INTO total, tombstoned USING tenant;
        RETURN NEXT;
    END LOOP;
END
$$;

-- The latest change of the ledger must be operation op (undoing change
-- undoes, or none), and must have tombstoned (or, for an undelete,
-- restored) exactly the rows of tenant in the six protected tables and
-- nothing else.  Returns its id; raises an error otherwise.
CREATE FUNCTION ledger_check_change(p_op text, p_tenant int, p_per_tenant bigint,
                                    p_undoes bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    c   record;
    bad text;
BEGIN
    SELECT * INTO c FROM tombstone.changes ORDER BY id DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the ledger is empty, expected a change of operation %', p_op;
    END IF;
    IF c.operation <> p_op OR c.undoes IS DISTINCT FROM p_undoes THEN
        RAISE EXCEPTION 'latest change is % (operation %, undoes %), expected operation % undoing %',
            c.id, c.operation, c.undoes, p_op, coalesce(p_undoes::text, 'nothing');
    END IF;
    SELECT string_agg(format('%s tenant %s: %s tombstoned, %s restored, expected %s %s',
                             coalesce(r."table", s.tbl), r.tenant, r.tombstoned, r.restored,
                             s.n, CASE WHEN p_op = 'undelete' THEN 'restored' ELSE 'tombstoned' END),
                      '; ')
      INTO bad
      FROM jsonb_to_recordset(c.rows) r("table" text, tenant text, tombstoned bigint, restored bigint)
      FULL JOIN (SELECT 'prot.' || x.tbl AS tbl, x.n FROM ledger_shares(p_per_tenant) x
                 UNION ALL SELECT 'prot.tenants', 1) s ON s.tbl = r."table"
     WHERE r.tenant IS DISTINCT FROM p_tenant::text
        OR s.n IS NULL
        OR (CASE WHEN p_op = 'undelete' THEN r.restored ELSE r.tombstoned END) IS DISTINCT FROM s.n
        OR (CASE WHEN p_op = 'undelete' THEN r.tombstoned ELSE r.restored END) <> 0;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'change % (%) did not change exactly the rows of tenant %: %',
            c.id, p_op, p_tenant, bad;
    END IF;
    RETURN c.id;
END
$$;

-- The state both sides start from and return to after every round: the
-- same definitions (but for what protect() adds), ntenants * n rows per
-- table and none tombstoned, the protected tables and the registry as set
-- up, and nchanges entries in the ledger.  Raises an error otherwise.
-- Reads every row: bench/run.sh calls it before the first round and after
-- the last.
CREATE FUNCTION ledger_verify(ntenants int, per_tenant bigint, nchanges bigint)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    bad   text;
    t     record;
    nbase bigint;
    nprot bigint;
    ndead bigint;
BEGIN
    PERFORM set_config('tombstone.visibility', 'all', true);

    SELECT string_agg(x, ', ') INTO bad FROM (
        SELECT table_name::text AS x FROM tombstone.protected_tables
        EXCEPT SELECT 'prot.' || tbl FROM ledger_shares(1) EXCEPT SELECT 'prot.tenants'
        UNION ALL
        (SELECT 'prot.' || tbl FROM ledger_shares(1) UNION ALL SELECT 'prot.tenants'
         EXCEPT SELECT table_name::text FROM tombstone.protected_tables)) d;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'the protected tables are not prot.*: % differ', bad;
    END IF;
    IF (SELECT relid::text FROM tombstone.tenant_registry) IS DISTINCT FROM 'prot.tenants' THEN
        RAISE EXCEPTION 'the tenant registry is not prot.tenants';
    END IF;

    -- columns, constraints and indexes, with the schema name taken out:
    -- protect() adds none, so both sides must have the same
    WITH defs AS (
        SELECT n.nspname AS sch, c.relname || ' column ' || a.attnum || ' ' || a.attname || ' '
               || format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END AS def
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname IN ('base', 'prot') AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
        UNION ALL
        SELECT n.nspname, c.relname || ' ' || replace(pg_get_constraintdef(con.oid), n.nspname || '.', '')
          FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname IN ('base', 'prot')
        UNION ALL
        SELECT n.nspname, replace(pg_get_indexdef(i.indexrelid), n.nspname || '.', '')
          FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname IN ('base', 'prot')
    )
    SELECT string_agg(sch || ': ' || def, '; ') INTO bad FROM (
        (SELECT 'only base' AS sch, def FROM defs WHERE sch = 'base'
         EXCEPT SELECT 'only base', def FROM defs WHERE sch = 'prot')
        UNION ALL
        (SELECT 'only prot', def FROM defs WHERE sch = 'prot'
         EXCEPT SELECT 'only prot', def FROM defs WHERE sch = 'base')) d;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'the tables of base and prot differ: %', bad;
    END IF;

    FOR t IN SELECT tbl, n FROM ledger_shares(per_tenant) UNION ALL SELECT 'tenants', 1 LOOP
        EXECUTE format('SELECT count(*) FROM base.%I', t.tbl) INTO nbase;
        EXECUTE format('SELECT count(*) FROM prot.%I', t.tbl) INTO nprot;
        EXECUTE format('SELECT (SELECT count(*) FROM base.%1$I WHERE deleted_at IS NOT NULL OR deleted_change IS NOT NULL)'
                       '     + (SELECT count(*) FROM prot.%1$I WHERE deleted_at IS NOT NULL)', t.tbl) INTO ndead;
        IF nbase <> ntenants * t.n OR nprot <> ntenants * t.n OR ndead <> 0 THEN
            RAISE EXCEPTION 'table %: % rows in base, % in prot, % tombstoned; expected % rows, none tombstoned',
                t.tbl, nbase, nprot, ndead, ntenants * t.n;
        END IF;
    END LOOP;

    IF (SELECT count(*) FROM tombstone.changes) <> nchanges THEN
        RAISE EXCEPTION 'the ledger has % changes, expected %',
            (SELECT count(*) FROM tombstone.changes), nchanges;
    END IF;
END
$$;

SELECT ledger_create('base', :tenants, :per_tenant);
SELECT ledger_create('prot', :tenants, :per_tenant);

VACUUM (FREEZE, ANALYZE) base.tenants, base.projects, base.tasks, base.comments,
                         base.documents, base.events,
                         prot.tenants, prot.projects, prot.tasks, prot.comments,
                         prot.documents, prot.events;

-- protected first, so that the registry too is without row history
SELECT tombstone.protect('prot.tenants', 'id', history => false);
SELECT tombstone.protect_tenants('prot.tenants', 'id');
-- history => false: row history has its own benchmark (history_bench.sh)
SELECT tombstone.protect(('prot.' || tbl)::regclass, 'tenant_id', history => false)
  FROM ledger_shares(1) ORDER BY tbl;

-- Deleting a tenant needs a delete_tenant token (bench/ledger_delete_prot.sql
-- signs one per run with this key, as an approver would)
SELECT tombstone.add_key('bench', 'HS256', convert_to('benchmark key, not a secret, 32+ bytes', 'UTF8'))
 WHERE NOT EXISTS (SELECT FROM tombstone.keys WHERE key_id = 'bench');
