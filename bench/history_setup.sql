-- pg_tombstone row history benchmark, comparisons 1 and 2: helpers.
--
-- Run by bench/history_run.sh once in a fresh database, before the tables
-- are loaded:
--   psql -v ON_ERROR_STOP=1 -f bench/history_setup.sql
--
-- Every table of comparisons 1 and 2 is created by hbench_create() with the
-- same columns and rows; then bench/history_side_<side>.sql turns it into
-- its side (the plain side stays as it is):
--
--   u_<side>  UPDATE one row by primary key (pgbench)
--   b_<side>  one UPDATE of 10% of the rows
--
-- A side is named by the table's suffix: plain, tomb (pg_tombstone,
-- history => true), nohist (pg_tombstone, history => false), plpgsql (a
-- hand-written PL/pgSQL history trigger), tablelog (table_log), periods
-- (periods' system versioning).  hbench_history() finds a side's history
-- table, hbench_versions() counts the row versions kept in it, and
-- hbench_sanity() checks, before anything is timed, that an UPDATE of one
-- row keeps exactly its previous version there.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

-- One benchmark table: nrows rows of ntenants tenants, interleaved
-- (tenant_id = id % ntenants), primary key and tenant index built after the
-- load.  Autovacuum is off: history_run.sh vacuums between runs.
CREATE FUNCTION hbench_create(tbl text, nrows bigint, ntenants int)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    EXECUTE format($f$
        CREATE TABLE %I (
            id          bigint NOT NULL,
            tenant_id   int NOT NULL,
            payload     text NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now()
        ) WITH (autovacuum_enabled = off)$f$, tbl);
    EXECUTE format($f$
        INSERT INTO %I (id, tenant_id, payload, created_at)
        SELECT g, (g %% %s)::int, md5(g::text),
               timestamptz '2024-01-01' + g * interval '1 second'
          FROM generate_series(1, %s) g$f$, tbl, ntenants, nrows);
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (id)', tbl);
    EXECUTE format('CREATE INDEX ON %I (tenant_id)', tbl);
END
$$;

-- The table in which side of tbl keeps row versions; NULL for the sides
-- that keep none (plain, nohist).  Errors when a versioned side has none.
CREATE FUNCTION hbench_history(tbl text)
RETURNS regclass
LANGUAGE plpgsql
AS $$
DECLARE
    side text := substring(tbl FROM '_([a-z]+)$');
    h    regclass;
BEGIN
    CASE side
    WHEN 'plain', 'nohist' THEN
        RETURN NULL;
    WHEN 'tomb' THEN
        h := to_regclass(format('tombstone_history.%I', tbl));
    WHEN 'plpgsql' THEN
        h := to_regclass(format('%I', tbl || '_history'));
    WHEN 'tablelog' THEN
        h := to_regclass(format('%I', tbl || '_log'));
    WHEN 'periods' THEN
        EXECUTE 'SELECT history_table_name FROM periods.system_versioning WHERE table_name = $1'
           INTO h USING tbl::regclass;
    ELSE
        RAISE EXCEPTION 'unknown side "%" of table %', side, tbl;
    END CASE;
    IF h IS NULL THEN
        RAISE EXCEPTION 'table % (side %) has no history table', tbl, side;
    END IF;
    RETURN h;
END
$$;

-- How many previous row versions the side of tbl has kept; NULL for sides
-- that keep none.  table_log writes two rows per UPDATE (the old and the
-- new tuple): the old ones are the versions, and there must be as many new
-- ones.
CREATE FUNCTION hbench_versions(tbl text)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    h      regclass := hbench_history(tbl);
    n      bigint;
    n_new  bigint;
BEGIN
    IF h IS NULL THEN
        RETURN NULL;
    END IF;
    IF tbl LIKE '%\_tablelog' THEN
        EXECUTE format($q$SELECT count(*) FILTER (WHERE trigger_tuple = 'old'),
                                 count(*) FILTER (WHERE trigger_tuple = 'new')
                            FROM %s WHERE trigger_mode = 'UPDATE'$q$, h)
           INTO n, n_new;
        IF n <> n_new THEN
            RAISE EXCEPTION '% holds % old and % new UPDATE tuples', h, n, n_new;
        END IF;
    ELSE
        EXECUTE format('SELECT count(*) FROM %s', h) INTO n;
    END IF;
    RETURN n;
END
$$;

-- Before timing: an UPDATE of one row by primary key changes that row, and
-- a versioned side keeps exactly one version more, holding the row's
-- previous payload; an unversioned side has no history table.  Run inside
-- a transaction that the caller rolls back.
CREATE FUNCTION hbench_sanity(tbl text)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    h      regclass := hbench_history(tbl);
    before bigint := hbench_versions(tbl);
    old_payload text;
    n      bigint;
BEGIN
    EXECUTE format('SELECT payload FROM %I WHERE id = 7', tbl) INTO STRICT old_payload;
    EXECUTE format('UPDATE %I SET payload = $1 WHERE id = 7', tbl) USING 'sanity';
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> 1 THEN
        RAISE EXCEPTION 'UPDATE of id 7 on % reported % rows', tbl, n;
    END IF;
    EXECUTE format('SELECT count(*) FROM %I WHERE id = 7 AND payload = $1', tbl)
       INTO n USING 'sanity';
    IF n <> 1 THEN
        RAISE EXCEPTION 'the UPDATE of id 7 on % is not visible', tbl;
    END IF;
    IF h IS NULL THEN
        IF tbl LIKE '%\_nohist' AND to_regclass(format('tombstone_history.%I', tbl)) IS NOT NULL THEN
            RAISE EXCEPTION '% was protected with history => false but has a history table', tbl;
        END IF;
        RETURN;
    END IF;
    IF hbench_versions(tbl) <> before + 1 THEN
        RAISE EXCEPTION 'the UPDATE of one row on % kept % versions, not 1',
            tbl, hbench_versions(tbl) - before;
    END IF;
    EXECUTE format('SELECT count(*) FROM %s WHERE id = 7 AND payload = $1', h)
       INTO n USING old_payload;
    IF n <> 1 THEN
        RAISE EXCEPTION '% does not hold the previous version of id 7 of %', h, tbl;
    END IF;
END
$$;

-- Last step of every bench/history_side_<side>.sql: the side's history
-- table exists, and autovacuum is off on it as on the table itself, so that
-- no vacuum starts in the middle of a run (history_run.sh vacuums between
-- runs).  A side whose history table refuses the setting keeps autovacuum,
-- with a warning.
CREATE FUNCTION hbench_finish_side(tbl text)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    h regclass := hbench_history(tbl);
BEGIN
    IF h IS NULL THEN
        RETURN;
    END IF;
    BEGIN
        EXECUTE format('ALTER TABLE %s SET (autovacuum_enabled = off)', h);
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'autovacuum stays on for %: %', h, SQLERRM;
    END;
END
$$;
