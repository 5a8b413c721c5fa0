/* pg_tombstone--0.1--0.2.sql */

-- 0.1 is released and frozen: pg_tombstone--0.1.sql never changes again.
-- Every change to the extension's SQL objects since 0.1 is made here, so that
-- ALTER EXTENSION pg_tombstone UPDATE brings a populated 0.1 database to the
-- same catalog as CREATE EXTENSION of 0.2 (which runs 0.1, then this script).

\echo Use "ALTER EXTENSION pg_tombstone UPDATE TO '0.2'" to load this file. \quit

--------------------------------------------------------------------------
-- ON DELETE SET NULL / SET DEFAULT between protected tables (cascade.c)
--------------------------------------------------------------------------
-- Tombstoning a row gives the live rows that reference it through such a
-- foreign key NULL or their default, as a real DELETE would.  What was
-- cleared is kept here under the change, so that restoring the row with
-- that change sets the references again.  Part of the record: written only
-- by pg_tombstone, append-only like the ledger, and dumped with it.
CREATE TABLE tombstone.cleared_keys (
    change_id bigint   NOT NULL,
    child     regclass NOT NULL,
    conname   name     NOT NULL,
    refs      jsonb    NOT NULL
);
-- by change; unique, so that loading the same rows again fails
CREATE UNIQUE INDEX cleared_keys_change_idx
    ON tombstone.cleared_keys (change_id, child, conname, md5(refs::text));
COMMENT ON TABLE tombstone.cleared_keys IS
    'References cleared by ON DELETE SET NULL / SET DEFAULT when a change tombstoned the rows they pointed at; restored with those rows';
COMMENT ON COLUMN tombstone.cleared_keys.refs IS
    'One element per child row: {"key": its primary key (or values), "old": the foreign key''s columns before, "new": after}';
SELECT pg_catalog.pg_extension_config_dump('tombstone.cleared_keys', '');
REVOKE ALL ON tombstone.cleared_keys FROM PUBLIC;
CREATE TRIGGER tombstone_ledger_guard BEFORE UPDATE OR DELETE ON tombstone.cleared_keys
    FOR EACH ROW EXECUTE FUNCTION tombstone._ledger_guard();
CREATE TRIGGER tombstone_ledger_truncate BEFORE TRUNCATE ON tombstone.cleared_keys
    FOR EACH STATEMENT EXECUTE FUNCTION tombstone._ledger_guard();
ALTER TABLE tombstone.cleared_keys ENABLE ALWAYS TRIGGER tombstone_ledger_guard,
                                   ENABLE ALWAYS TRIGGER tombstone_ledger_truncate;

--------------------------------------------------------------------------
-- protect() adopts a table restored from a dump of single tables
--------------------------------------------------------------------------
-- pg_dump -t brings a protected table back with its triggers and, when it
-- was dumped too, its history table, but not its entry in tombstone.tables
-- (issue 16, item 5).  protect() now makes the triggers again instead of
-- failing on them, and takes a restored history table with the table's
-- columns as the table's history.

-- tombstone_history.<name of tbl>, when it is a history table of tbl that
-- no protected table uses: tbl's columns (names and types) plus valid_to,
-- owned by tbl's owner.
CREATE FUNCTION tombstone._adoptable_history(tbl regclass)
RETURNS regclass
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT h.oid::regclass
      FROM pg_class c
      JOIN pg_class h ON h.relname = c.relname
                     AND h.relnamespace = 'tombstone_history'::regnamespace
                     AND h.relkind = 'r' AND h.relowner = c.relowner
     WHERE c.oid = tbl
       AND NOT EXISTS (SELECT 1 FROM tombstone.tables t WHERE t.history_table = h.oid)
       AND EXISTS (SELECT 1 FROM pg_attribute v
                    WHERE v.attrelid = h.oid AND v.attname = 'valid_to'
                      AND v.atttypid = 'timestamptz'::regtype AND NOT v.attisdropped)
       AND NOT EXISTS (
           (SELECT a.attname, a.atttypid FROM pg_attribute a
             WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped)
           EXCEPT
           (SELECT a.attname, a.atttypid FROM pg_attribute a
             WHERE a.attrelid = h.oid AND a.attnum > 0 AND NOT a.attisdropped))
       AND NOT EXISTS (
           (SELECT a.attname, a.atttypid FROM pg_attribute a
             WHERE a.attrelid = h.oid AND a.attnum > 0 AND NOT a.attisdropped
               AND a.attname <> 'valid_to' AND a.attname NOT LIKE '% (dropped %)')
           EXCEPT
           (SELECT a.attname, a.atttypid FROM pg_attribute a
             WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped))
       AND (SELECT count(*) FROM pg_trigger t
             WHERE t.tgrelid = h.oid AND t.tgenabled = 'A'
               AND t.tgfoid = 'tombstone._history_guard()'::regprocedure
               AND t.tgname IN ('tombstone_history_guard', 'tombstone_history_truncate')) = 2
$$;
COMMENT ON FUNCTION tombstone._adoptable_history(regclass) IS
    'Internal: a restored history table that protect() takes as the history of tbl, or NULL';

-- Citus (issue 17): how Citus holds a table, read from its catalog when
-- the extension citus is installed: partmethod ('h' distributed by hash,
-- 'n' reference or Citus local table) and the distribution column; NULLs
-- for a table Citus does not hold or a database without Citus.
CREATE FUNCTION tombstone._citus_table(tbl regclass, OUT method "char", OUT dist_column name)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF tbl IS NULL OR NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    EXECUTE 'SELECT p.partmethod, CASE WHEN p.partkey IS NOT NULL'
            '        THEN column_to_column_name(p.logicalrelid, p.partkey)::name END'
            '  FROM pg_dist_partition p WHERE p.logicalrelid = $1'
       INTO method, dist_column USING tbl;
END
$$;
COMMENT ON FUNCTION tombstone._citus_table(regclass) IS
    'Internal: how Citus holds a table (partmethod, distribution column), or NULLs';

CREATE OR REPLACE FUNCTION tombstone.protect(tbl regclass,
                                  tenant_column name,
                                  retention interval DEFAULT '30 days',
                                  history boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel     record;
    d       record;
    coltype regtype;
    col     record;
    hist    regclass;
    citus   record;     -- how Citus holds the table, when it does
    unsafe  text;       -- citus.enable_unsafe_triggers before protect()
BEGIN
    IF tbl IS NULL OR tenant_column IS NULL OR retention IS NULL OR history IS NULL THEN
        RAISE EXCEPTION 'arguments of tombstone.protect() must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  DETAIL = format('Called with tbl %s, tenant_column %s, retention %s, history %s.',
                                  coalesce(tbl::text, 'NULL'), coalesce(tenant_column::text, 'NULL'),
                                  coalesce(retention::text, 'NULL'), coalesce(history::text, 'NULL')),
                  HINT = 'Name the table and its tenant column.';
    END IF;
    IF retention < interval '0' THEN
        RAISE EXCEPTION 'retention of table % must not be negative', tbl
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('Retention %s was given.', retention),
                  HINT = 'Give how long tombstoned rows are kept before they may be purged, such as ''30 days''.';
    END IF;
    IF NOT tombstone._preloaded() THEN
        RAISE EXCEPTION 'pg_tombstone must be loaded via shared_preload_libraries'
            USING ERRCODE = 'TB001',
                  DETAIL = format('Table %s was not protected: without the library DELETE cannot be turned into a tombstone.', tbl),
                  HINT = 'Add pg_tombstone to shared_preload_libraries in postgresql.conf and restart the server.';
    END IF;

    SELECT c.relkind, c.relpersistence, c.relispartition, c.reloftype
      INTO rel FROM pg_class c WHERE c.oid = tbl;
    IF rel.relkind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '"%" is not a table', tbl
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = format('Only ordinary and partitioned tables can be protected; %s is %s.', tbl,
                                  CASE rel.relkind WHEN 'v' THEN 'a view' WHEN 'm' THEN 'a materialized view'
                                       WHEN 'f' THEN 'a foreign table' WHEN 'i' THEN 'an index'
                                       WHEN 'I' THEN 'a partitioned index' WHEN 'S' THEN 'a sequence'
                                       WHEN 'c' THEN 'a composite type' ELSE 'not a table' END),
                  HINT = 'Protect the table the rows are stored in.';
    END IF;
    IF rel.reloftype <> 0 THEN
        RAISE EXCEPTION 'cannot protect typed table %', tbl
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = format('The columns of %s follow its type %s, and ALTER TYPE could drop or retype the tombstone columns.', tbl, rel.reloftype::regtype),
                  HINT = format('Detach the table from its type with ALTER TABLE %s NOT OF, then protect it.', tbl);
    END IF;
    IF rel.relpersistence = 't' THEN
        RAISE EXCEPTION 'cannot protect temporary table %', tbl
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'The rows of a temporary table disappear with the session, so they cannot be kept.',
                  HINT = 'Protect a permanent table.';
    END IF;
    -- not a table of the system, of pg_tombstone or of an extension
    PERFORM tombstone._check_protectable(tbl);

    SELECT t.protected_through INTO d
      FROM tombstone.protected_tables t WHERE t.table_name = tbl;
    IF FOUND THEN
        RAISE EXCEPTION 'table % is already protected', tbl
            USING ERRCODE = 'duplicate_object',
                  DETAIL = CASE WHEN d.protected_through IS NULL
                                THEN format('Table %s is listed in tombstone.protected_tables.', tbl)
                                ELSE format('Table %s is protected through table %s.', tbl, d.protected_through) END,
                  HINT = 'See tombstone.protected_tables.';
    END IF;
    SELECT x.relid, x.relkind INTO d
      FROM tombstone._descendants(tbl) x
     WHERE x.relkind = 'f'
        OR EXISTS (SELECT 1 FROM tombstone.protected_tables t WHERE t.table_name = x.relid)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'cannot protect table % because of its partition or child %', tbl, d.relid
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = CASE WHEN d.relkind = 'f'
                                THEN format('%s is a foreign table, whose rows pg_tombstone cannot keep.', d.relid)
                                ELSE format('%s is already protected on its own.', d.relid) END,
                  HINT = 'Protect the tables individually, or detach the partition first.';
    END IF;

    -- A table restored from a dump of single tables (pg_dump -t) comes back
    -- with pg_tombstone's triggers but without its entry: adopt it.  Its
    -- triggers are made again below; its tombstones stay tombstones.
    FOR d IN
        SELECT t.tgrelid::regclass AS relid, t.tgname
          FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
         WHERE (t.tgrelid = tbl OR t.tgrelid IN (SELECT x.relid FROM tombstone._descendants(tbl) x))
           AND p.pronamespace = 'tombstone'::regnamespace
           AND p.proname IN ('_guard_delete', '_before_update', '_guard_truncate')
           AND t.tgparentid = 0
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', d.tgname, d.relid);
    END LOOP;

    IF tenant_column IN ('deleted_at', 'deleted_change')
       OR (history AND tenant_column IN ('valid_from', 'valid_to')) THEN
        RAISE EXCEPTION 'column "%" cannot be the tenant column', tenant_column
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The tombstone columns deleted_at and deleted_change are managed by pg_tombstone.',
                  HINT = 'Give the column that holds the tenant id.';
    END IF;
    SELECT a.attnum INTO col FROM pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = tenant_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of table % does not exist', tenant_column, tbl
            USING ERRCODE = 'undefined_column',
                  DETAIL = format('The tenant column names the column that holds the tenant id of each row of %s.', tbl),
                  HINT = 'Give the name of an existing column.';
    END IF;

    -- A table of Citus (issue 17): its shards on the workers hold the rows.
    -- It must be distributed by its tenant column, so that the rows of one
    -- tenant lie in one shard; the triggers protect() creates reach every
    -- shard, which Citus allows only with citus.enable_unsafe_triggers, set
    -- here for the rest of the transaction.
    citus := tombstone._citus_table(tbl);
    IF citus.method IS NOT NULL THEN
        IF citus.method = 'h' AND citus.dist_column IS DISTINCT FROM tenant_column THEN
            RAISE EXCEPTION 'cannot protect Citus table % by column "%"', tbl, tenant_column
                USING ERRCODE = 'TB070',
                      DETAIL = format('Table %s is distributed by column %s, not by its tenant column %s, so the rows of one tenant are spread over many shards and a DELETE of one tenant''s rows cannot be guarded as one tenant''s.',
                                      tbl, coalesce(citus.dist_column::text, 'none'), tenant_column),
                      HINT = format('Distribute the table by its tenant column (SELECT alter_distributed_table(%L, distribution_column => %L)), then protect it.',
                                    tbl::text, tenant_column);
        ELSIF citus.method NOT IN ('h', 'n') THEN
            RAISE EXCEPTION 'cannot protect Citus table % distributed by %', tbl,
                            CASE citus.method WHEN 'a' THEN 'append' WHEN 'r' THEN 'range' ELSE citus.method::text END
                USING ERRCODE = 'TB070',
                      DETAIL = format('Table %s is neither distributed by hash nor a reference table.', tbl),
                      HINT = 'Distribute the table by hash on its tenant column with create_distributed_table(), then protect it.';
        END IF;
        IF rel.relkind = 'p' OR rel.relispartition THEN
            RAISE EXCEPTION 'cannot protect partitioned Citus table %', tbl
                USING ERRCODE = 'TB070',
                      DETAIL = format('Table %s is %s distributed by Citus; pg_tombstone does not yet install its triggers on the shards of partitions.',
                                      tbl, CASE WHEN rel.relkind = 'p' THEN 'a partitioned table' ELSE 'a partition' END),
                      HINT = 'Protect a Citus table that is not partitioned, or keep the partitioned table local.';
        END IF;
        IF history THEN
            RAISE EXCEPTION 'cannot keep row history of Citus table %', tbl
                USING ERRCODE = 'TB075',
                      DETAIL = format('Table %s is a Citus table; pg_tombstone does not yet keep the old versions of rows stored on the workers'' shards.', tbl),
                      HINT = format('Protect the table with history => false: SELECT tombstone.protect(%L, %L, history => false).',
                                    tbl::text, tenant_column);
        END IF;
        unsafe := current_setting('citus.enable_unsafe_triggers', true);
        PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
    END IF;

    FOR col IN SELECT * FROM (VALUES ('deleted_at'::name, 'timestamptz'::regtype),
                                     ('deleted_change'::name, 'bigint'::regtype)) v(name, type)
    LOOP
        SELECT a.atttypid::regtype INTO coltype FROM pg_attribute a
         WHERE a.attrelid = tbl AND a.attname = col.name AND a.attnum > 0 AND NOT a.attisdropped;
        IF FOUND AND coltype <> col.type THEN
            RAISE EXCEPTION 'column "%" of table % has type %, not %', col.name, tbl, coltype, col.type
                USING ERRCODE = 'datatype_mismatch',
                      DETAIL = format('pg_tombstone stores tombstones in column %s of type %s.', col.name, col.type),
                      HINT = format('Rename the existing column or change its type to %s, then protect the table.', col.type);
        ELSIF NOT FOUND AND rel.relispartition THEN
            RAISE EXCEPTION 'partition % has no column "%"', tbl, col.name
                USING ERRCODE = 'undefined_column',
                      DETAIL = 'Columns cannot be added to a single partition.',
                      HINT = format('Add column %s %s to the partitioned table, or protect the partitioned table instead.', col.name, col.type);
        ELSIF NOT FOUND THEN
            EXECUTE format('ALTER TABLE %s ADD COLUMN %I %s', tbl, col.name, col.type);
        END IF;
    END LOOP;

    -- Row history: the live row carries the start of its validity, and the
    -- history table adds valid_to to the table's columns.
    IF history THEN
        IF EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = 'valid_to'
                      AND a.attnum > 0 AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'table % has a column "valid_to"', tbl
                USING ERRCODE = 'TB040',
                      DETAIL = 'The history table of a protected table has the table''s columns and valid_to, the end of each old version''s validity.',
                      HINT = 'Rename the column, or protect the table with history => false.';
        END IF;
        SELECT a.atttypid::regtype INTO coltype FROM pg_attribute a
         WHERE a.attrelid = tbl AND a.attname = 'valid_from' AND a.attnum > 0 AND NOT a.attisdropped;
        IF FOUND AND coltype <> 'timestamptz'::regtype THEN
            RAISE EXCEPTION 'column "valid_from" of table % has type %, not timestamp with time zone', tbl, coltype
                USING ERRCODE = 'datatype_mismatch',
                      DETAIL = 'With history, pg_tombstone stores the start of each row version''s validity in column valid_from.',
                      HINT = 'Rename the existing column, or protect the table with history => false.';
        ELSIF NOT FOUND AND rel.relispartition THEN
            RAISE EXCEPTION 'partition % has no column "valid_from"', tbl
                USING ERRCODE = 'undefined_column',
                      DETAIL = 'Columns cannot be added to a single partition.',
                      HINT = 'Protect the partitioned table instead, or protect the partition with history => false.';
        ELSIF NOT FOUND THEN
            -- existing rows get the time of protection: history starts now
            EXECUTE format('ALTER TABLE %s ADD COLUMN valid_from timestamptz NOT NULL DEFAULT now()', tbl);
        ELSE
            EXECUTE format('UPDATE %s SET valid_from = now() WHERE valid_from IS NULL', tbl);
            EXECUTE format('ALTER TABLE %s ALTER COLUMN valid_from SET DEFAULT now(),'
                           ' ALTER COLUMN valid_from SET NOT NULL', tbl);
        END IF;
    END IF;

    -- Record everything first: the nested ALTER TABLE commands below fire
    -- the DDL event trigger, which must find nothing left to adopt.
    IF history THEN
        hist := tombstone._adoptable_history(tbl);
        IF hist IS NULL THEN
            hist := tombstone._create_history(tbl, tenant_column);
        ELSIF NOT EXISTS (SELECT FROM pg_trigger g WHERE g.tgrelid = hist
                             AND g.tgname = 'tombstone_history_insert') THEN
            -- restored from a dump of 0.1: it refuses INSERT as 0.2 does
            EXECUTE format('CREATE TRIGGER tombstone_history_insert BEFORE INSERT ON %s'
                           ' FOR EACH STATEMENT EXECUTE FUNCTION tombstone._history_guard()', hist);
            EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER tombstone_history_insert', hist);
        END IF;
    END IF;
    PERFORM tombstone._register(tbl, tenant_column, retention, history, NULL, hist);
    FOR d IN SELECT * FROM tombstone._descendants(tbl) LOOP
        PERFORM tombstone._register(d.relid, tenant_column, retention, history, tbl, NULL);
    END LOOP;

    PERFORM tombstone._install_triggers(tbl, false);
    FOR d IN SELECT * FROM tombstone._descendants(tbl) LOOP
        PERFORM tombstone._install_triggers(d.relid, d.relispartition);
    END LOOP;
    IF citus.method IS NOT NULL THEN
        PERFORM set_config('citus.enable_unsafe_triggers', coalesce(unsafe, 'off'), true);
    END IF;
END
$$;
COMMENT ON FUNCTION tombstone.protect(regclass, name, interval, boolean) IS
    'Protect a tenant-scoped table: DELETE becomes a tombstone and nothing can be destroyed';

--------------------------------------------------------------------------
-- tombstone.check(): pg_tombstone's triggers that do not fire ALWAYS, and
-- tables that carry them without an entry (issue 16, items 4 and 5)
--------------------------------------------------------------------------

--------------------------------------------------------------------------
-- The database's owner can dump it; no dump carries an HS256 secret
--------------------------------------------------------------------------
-- pg_dump copies the data of every table registered with
-- pg_extension_config_dump(), so whoever dumps must be able to read them
-- (issue 16, item 7).  The owner of the database (pg_database_owner) may
-- read the ledger, its sequence, token uses, cleared references and the
-- keys, and HS256 secrets move out of tombstone.keys into
-- tombstone.key_secrets, which only its owner reads and which no dump
-- copies: a secret that signs change tokens does not leave the server in
-- a dump, whoever makes it.  A restored database has its keys (ids,
-- algorithms, operations, Ed25519 public keys) and gets each HS256 secret
-- again with tombstone.add_key() (token.c).
CREATE TABLE tombstone.key_secrets (
    key_id text  PRIMARY KEY REFERENCES tombstone.keys ON DELETE CASCADE,
    secret bytea NOT NULL
);
COMMENT ON TABLE tombstone.key_secrets IS
    'HS256 secrets of the keys in tombstone.keys; readable by no role but its owner, and not part of any dump';
REVOKE ALL ON tombstone.key_secrets FROM PUBLIC;
ALTER TABLE tombstone.keys ALTER COLUMN key DROP NOT NULL,
    ADD CONSTRAINT keys_key_check CHECK (key IS NOT NULL OR alg = 'HS256');
COMMENT ON COLUMN tombstone.keys.key IS
    'The Ed25519 public key; NULL for HS256, whose secret is in tombstone.key_secrets';
INSERT INTO tombstone.key_secrets (key_id, secret)
SELECT k.key_id, k.key FROM tombstone.keys k WHERE k.alg = 'HS256';
UPDATE tombstone.keys SET key = NULL WHERE alg = 'HS256';
GRANT SELECT ON tombstone.keys, tombstone.changes, tombstone.token_uses,
                tombstone.cleared_keys TO pg_database_owner;
GRANT SELECT ON SEQUENCE tombstone.changes_id_seq TO pg_database_owner;

--------------------------------------------------------------------------
-- Operating a protected database with other tools (issue 16): logical
-- replication and partition managers
--------------------------------------------------------------------------

-- History tables of 0.1 get the replica identity that _create_history()
-- now gives new ones: without one, a purge of a published history table is
-- refused by PostgreSQL ("does not have a replica identity and publishes
-- deletes").
DO $$
DECLARE
    h regclass;
BEGIN
    FOR h IN SELECT t.history_table FROM tombstone.tables t WHERE t.history_table IS NOT NULL LOOP
        EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', h);
    END LOOP;
END
$$;

-- A subscriber's ledger follows the publisher's: the change id sequence is
-- never behind an entry that logical replication wrote into
-- tombstone.changes, so that once the subscription is gone the next change
-- recorded here takes an id of its own.  (While it replicates the ledger,
-- the library refuses to record changes here: TB065.)
CREATE FUNCTION tombstone._ledger_follow()
RETURNS trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s record;
BEGIN
    SELECT q.last_value, q.is_called INTO s FROM tombstone.changes_id_seq q;
    IF NEW.id > s.last_value OR (NOT s.is_called AND NEW.id = s.last_value) THEN
        PERFORM setval('tombstone.changes_id_seq', NEW.id);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION tombstone._ledger_follow() IS
    'Trigger: the change id sequence follows ledger entries that logical replication applies';

-- Replication workers apply with session_replication_role = replica; the
-- extension's own entries are written directly and fire no trigger.
CREATE TRIGGER tombstone_ledger_follow AFTER INSERT ON tombstone.changes
    FOR EACH ROW
    WHEN (pg_catalog.current_setting('session_replication_role') = 'replica')
    EXECUTE FUNCTION tombstone._ledger_follow();
ALTER TABLE tombstone.changes ENABLE ALWAYS TRIGGER tombstone_ledger_follow;

-- As above, plus publications that include the extension's HS256 secrets
-- (tombstone.key_secrets) or its per-database state (registrations, keys,
-- token uses): FOR ALL TABLES publishes them.
CREATE OR REPLACE FUNCTION tombstone.check()
RETURNS TABLE (hazard text, table_name regclass, object_name text,
               detail text, suggestion text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT tombstone._preloaded() THEN
        hazard := 'library_not_preloaded';
        object_name := 'shared_preload_libraries';
        detail := 'pg_tombstone is not in shared_preload_libraries: DELETE on a protected table is refused instead of tombstoned, tombstones are not hidden and the DDL guard is off.';
        suggestion := 'Add pg_tombstone to shared_preload_libraries in postgresql.conf and restart the server.';
        RETURN NEXT;
    END IF;

    RETURN QUERY
    SELECT 'unique_holds_tombstones', t.relid, i.indexrelid::regclass::text,
           format('A tombstoned row keeps its key in unique index %s, so a new row with the same key is refused while the old one is deleted.',
                  i.indexrelid::regclass),
           format('%sCREATE UNIQUE INDEX ON %s (%s) WHERE deleted_at IS NULL;',
                  CASE WHEN con.conname IS NOT NULL
                       THEN format('ALTER TABLE %s DROP CONSTRAINT %I; ', t.relid, con.conname) ELSE '' END,
                  t.relid,
                  (SELECT string_agg(pg_get_indexdef(i.indexrelid, k, true), ', ' ORDER BY k)
                     FROM generate_series(1, i.indnkeyatts) k))
      FROM tombstone.tables t
      JOIN pg_index i ON i.indrelid = t.relid
      LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype = 'u'
     WHERE i.indisunique AND NOT i.indisprimary
       AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
       AND coalesce(pg_get_expr(i.indpred, i.indrelid), '') !~ 'deleted_at IS NULL'
     ORDER BY 2, 3;

    RETURN QUERY
    SELECT 'cascade_from_unprotected', con.conrelid::regclass, con.conname::text,
           format('Deleting a row of unprotected table %s deletes it physically and only tombstones the rows of %s that reference it, which are then left referencing a row that no longer exists.',
                  con.confrelid::regclass, con.conrelid::regclass),
           format('Protect %s as well, or make foreign key %I ON DELETE RESTRICT.', con.confrelid::regclass, con.conname)
      FROM pg_constraint con
      JOIN tombstone.tables t ON t.relid = con.conrelid
     WHERE con.contype = 'f' AND con.confdeltype = 'c' AND con.conparentid = 0
       AND NOT EXISTS (SELECT 1 FROM tombstone.tables p WHERE p.relid = con.confrelid)
     ORDER BY 2, 3;

    RETURN QUERY
    SELECT 'unprotected_reference', con.conrelid::regclass, con.conname::text,
           format('Rows of unprotected table %s keep referencing rows of %s after those are tombstoned.',
                  con.conrelid::regclass, con.confrelid::regclass),
           format('Protect %s as well.', con.conrelid::regclass)
      FROM pg_constraint con
      JOIN tombstone.tables t ON t.relid = con.confrelid
     WHERE con.contype = 'f' AND con.conparentid = 0
       AND NOT EXISTS (SELECT 1 FROM tombstone.tables c WHERE c.relid = con.conrelid)
     ORDER BY 2, 3;

    RETURN QUERY
    SELECT 'no_tenant_index', t.relid, t.tenant_column::text,
           format('No index of %s starts with tenant column %I: reading, deleting or undeleting one tenant, and undoing a change, scan the whole table.',
                  t.relid, t.tenant_column),
           format('CREATE INDEX ON %s (%I);', t.relid, t.tenant_column)
      FROM tombstone.tables t
      JOIN pg_attribute a ON a.attrelid = t.relid AND a.attname = t.tenant_column
     WHERE t.parent IS NULL
       AND NOT EXISTS (SELECT 1 FROM pg_index i
                        WHERE i.indrelid = t.relid AND i.indkey[0] = a.attnum)
     ORDER BY 2;

    -- pg_tombstone's triggers and event triggers fire ALWAYS, also with
    -- session_replication_role = replica; any other firing leaves a gap
    RETURN QUERY
    SELECT 'guard_trigger_not_always', t.tgrelid::regclass, t.tgname::text,
           format('Trigger %I of %s runs tombstone.%s() but %s.', t.tgname, t.tgrelid::regclass, p.proname,
                  CASE t.tgenabled WHEN 'O' THEN 'fires on origin only: it is off with session_replication_role = replica'
                                   WHEN 'R' THEN 'fires with session_replication_role = replica only'
                                   ELSE 'is disabled' END),
           format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I;', t.tgrelid::regclass, t.tgname)
      FROM pg_trigger t
      JOIN pg_proc p ON p.oid = t.tgfoid
     WHERE p.pronamespace = 'tombstone'::regnamespace AND t.tgenabled <> 'A'
     ORDER BY 2, 3;
    RETURN QUERY
    SELECT 'guard_trigger_not_always', NULL::regclass, e.evtname::text,
           format('Event trigger %I runs tombstone.%s() but %s.', e.evtname, p.proname,
                  CASE e.evtenabled WHEN 'O' THEN 'fires on origin only: it is off with session_replication_role = replica'
                                    WHEN 'R' THEN 'fires with session_replication_role = replica only'
                                    ELSE 'is disabled' END),
           format('ALTER EVENT TRIGGER %I ENABLE ALWAYS;', e.evtname)
      FROM pg_event_trigger e
      JOIN pg_proc p ON p.oid = e.evtfoid
     WHERE p.pronamespace = 'tombstone'::regnamespace AND e.evtenabled <> 'A'
     ORDER BY 3;

    -- a table restored from a dump of single tables: the triggers came
    -- back, the entry in tombstone.tables did not
    RETURN QUERY
    SELECT 'not_protected', c.oid::regclass, NULL::text,
           format('Table %s has pg_tombstone''s triggers but no entry in tombstone.protected_tables (as after restoring a dump of single tables): its tombstones read as live rows and every DELETE is refused.',
                  c.oid::regclass),
           format('SELECT tombstone.protect(%L, <its tenant column>);', c.oid::regclass::text)
      FROM pg_class c
     WHERE c.relkind IN ('r', 'p')
       AND EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
                    WHERE t.tgrelid = c.oid AND p.pronamespace = 'tombstone'::regnamespace
                      AND p.proname IN ('_guard_delete', '_before_update', '_guard_truncate'))
       AND NOT EXISTS (SELECT 1 FROM tombstone.tables x WHERE x.relid = c.oid)
     ORDER BY 2;

    -- Publications: the application's tables, their history tables and the
    -- record (ledger, cleared references) replicate; the extension's other
    -- tables hold what belongs to this database alone.
    RETURN QUERY
    SELECT CASE WHEN pt.tablename = 'key_secrets' THEN 'published_secrets'
                ELSE 'published_local_state' END,
           format('%I.%I', pt.schemaname, pt.tablename)::regclass, pt.pubname::text,
           CASE WHEN pt.tablename = 'key_secrets'
                THEN format('Publication %I includes table tombstone.key_secrets: every subscriber receives the HS256 secrets that sign change tokens, and whoever reads them there can sign tokens this database accepts.',
                            pt.pubname)
                ELSE format('Publication %I includes table tombstone.%I, which describes this database alone: a subscriber that protects its own tables or registers its own keys has rows of its own there, and the subscription stops at the first duplicate key.',
                            pt.pubname, pt.tablename) END,
           CASE WHEN p.puballtables
                THEN format('Replace publication %I (FOR ALL TABLES) with one that names what to replicate, e.g. CREATE PUBLICATION app FOR TABLES IN SCHEMA public, tombstone_history, TABLE tombstone.changes, tombstone.cleared_keys;',
                            pt.pubname)
                WHEN EXISTS (SELECT 1 FROM pg_publication_namespace pn
                              WHERE pn.pnpubid = p.oid AND pn.pnnspid = 'tombstone'::regnamespace)
                THEN format('ALTER PUBLICATION %I DROP TABLES IN SCHEMA tombstone; ALTER PUBLICATION %I ADD TABLE tombstone.changes, tombstone.cleared_keys;',
                            pt.pubname, pt.pubname)
                ELSE format('ALTER PUBLICATION %I DROP TABLE tombstone.%I;', pt.pubname, pt.tablename) END
      FROM pg_publication_tables pt
      JOIN pg_publication p ON p.pubname = pt.pubname
     WHERE pt.schemaname = 'tombstone'
       AND pt.tablename IN ('key_secrets', 'keys', 'token_uses', 'tables', 'tenant_registry')
     ORDER BY 1, 2, 3;

    RETURN QUERY
    SELECT 'unlogged', c.oid::regclass, c.oid::regclass::text,
           format('Table %s is unlogged: after a crash PostgreSQL empties it, and every row of it is lost%s.',
                  c.oid::regclass,
                  CASE WHEN c.oid IN (SELECT t.relid FROM tombstone.tables t) THEN ', tombstones included'
                       WHEN c.oid IN (SELECT t.history_table FROM tombstone.tables t) THEN ', old row versions included'
                       ELSE '' END),
           format('ALTER TABLE %s SET LOGGED;', c.oid::regclass)
      FROM pg_class c
     WHERE c.relpersistence = 'u'
       AND (c.oid IN (SELECT t.relid FROM tombstone.tables t)
            OR c.oid IN (SELECT t.history_table FROM tombstone.tables t)
            OR c.relnamespace = 'tombstone'::regnamespace)
     ORDER BY 2;
END
$$;
COMMENT ON FUNCTION tombstone.check() IS
    'List hazards that weaken the protection of protected tables, with a suggested fix for each';
-- As in 0.1, plus: a partition or child that left its protected tree
-- (DETACH PARTITION, NO INHERIT) is no longer protected at all.  The DDL
-- guard let it go only with a change token of operation "ddl" covering it;
-- its remaining triggers are dropped and it is forgotten, so that no half
-- of the protection stays behind.  Without the library loaded the guard
-- did not run, and this refuses it instead.
CREATE OR REPLACE FUNCTION tombstone._on_ddl_end()
RETURNS event_trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r   record;
    trg record;
    root record;
BEGIN
    FOR r IN
        WITH touched AS (
            SELECT DISTINCT c.objid FROM pg_event_trigger_ddl_commands() c
             WHERE c.object_type = 'table' AND c.classid = 'pg_class'::regclass
        )
        SELECT x.relid, x.relispartition FROM touched t, LATERAL (
            SELECT t.objid::regclass AS relid, c.relispartition
              FROM pg_class c WHERE c.oid = t.objid
            UNION
            SELECT d.relid, d.relispartition FROM tombstone._descendants(t.objid::regclass) d
        ) x(relid, relispartition)
        WHERE NOT EXISTS (SELECT 1 FROM tombstone.tables p WHERE p.relid = x.relid)
    LOOP
        -- the nearest protected ancestor, if any
        WITH RECURSIVE up(relid, depth) AS (
            SELECT i.inhparent, 1 FROM pg_inherits i WHERE i.inhrelid = r.relid
            UNION ALL
            SELECT i.inhparent, up.depth + 1 FROM pg_inherits i JOIN up ON i.inhrelid = up.relid
        )
        SELECT coalesce(p.parent, p.relid) AS root, p.tenant_column, p.retention, p.history
          INTO root
          FROM up JOIN tombstone.tables p ON p.relid = up.relid
         ORDER BY up.depth LIMIT 1;
        IF FOUND THEN
            PERFORM tombstone._register(r.relid, root.tenant_column, root.retention, root.history, root.root, NULL);
            PERFORM tombstone._install_triggers(r.relid, r.relispartition);
        END IF;
    END LOOP;

    -- partitions and children no longer below the table they are protected
    -- through
    FOR r IN
        WITH roots AS (
            SELECT DISTINCT coalesce(p.parent, p.relid) AS root
              FROM pg_event_trigger_ddl_commands() c
              JOIN tombstone.tables p ON p.relid = c.objid
             WHERE c.object_type = 'table' AND c.classid = 'pg_class'::regclass
        ), below AS MATERIALIZED (
            SELECT roots.root, d.relid FROM roots, LATERAL tombstone._descendants(roots.root) d
        )
        SELECT p.relid, p.parent
          FROM roots JOIN tombstone.tables p ON p.parent = roots.root
         WHERE NOT EXISTS (SELECT 1 FROM below b WHERE b.root = p.parent AND b.relid = p.relid)
    LOOP
        IF tombstone._ddl_authorized(r.relid) THEN
            -- the triggers it still has of its own (DETACH dropped the clones)
            FOR trg IN SELECT g.tgname, g.tgrelid::regclass AS rel FROM pg_trigger g
                      WHERE g.tgparentid = 0 AND g.tgname LIKE 'tombstone\_%'
                        AND g.tgfoid IN ('tombstone._guard_delete()'::regprocedure,
                                         'tombstone._before_update()'::regprocedure,
                                         'tombstone._guard_truncate()'::regprocedure)
                        AND (g.tgrelid = r.relid
                             OR g.tgrelid IN (SELECT d.relid FROM tombstone._descendants(r.relid) d))
            LOOP
                EXECUTE format('DROP TRIGGER %I ON %s', trg.tgname, trg.rel);
            END LOOP;
            PERFORM tombstone._unregister(r.relid);
        ELSIF NOT tombstone._preloaded() THEN
            RAISE EXCEPTION 'cannot detach partition "%" from protected table "%"',
                            (SELECT c.relname FROM pg_class c WHERE c.oid = r.relid),
                            (SELECT c.relname FROM pg_class c WHERE c.oid = r.parent)
                USING ERRCODE = 'TB007',
                      DETAIL = format('Detached, %s would no longer be protected through table %s.', r.relid, r.parent),
                      HINT = 'Authorise a change token of operation "ddl" naming the table with tombstone.authorize() in the same transaction.';
        END IF;
        -- (with the library loaded the DDL guard refused any other detach:
        -- what is left was detached under 0.1, which kept it registered)
    END LOOP;

    -- schema changes of tables with history reach their history tables
    FOR r IN
        SELECT DISTINCT p.relid, p.history_table
          FROM pg_event_trigger_ddl_commands() c
          JOIN tombstone.tables p ON p.relid = c.objid
         WHERE c.object_type = 'table' AND c.classid = 'pg_class'::regclass
           AND p.history_table IS NOT NULL
    LOOP
        PERFORM tombstone._sync_history(r.relid, r.history_table);
    END LOOP;
END
$$;
COMMENT ON FUNCTION tombstone._on_ddl_end() IS
    'Event trigger: protect new partitions and inheritance children of protected tables; forget those detached with a change token';

--------------------------------------------------------------------------
-- Internal functions are the extension's own (issue 15, items 1 and 3)
--------------------------------------------------------------------------
-- protect(), protect_tenants(), unprotect() and the event triggers work
-- through internal functions that every role protecting a table must be
-- able to execute.  Called directly they refuse (TB050): the C ones check
-- that one of those entry points is running (src/foundation/internal.c),
-- the PL/pgSQL ones ask _require_internal().  All of them check their
-- arguments.

CREATE FUNCTION tombstone._require_internal(funcname text)
RETURNS void
AS 'MODULE_PATHNAME', 'tombstone_require_internal'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone._require_internal(text) IS
    'Internal: refuse unless protect(), protect_tenants(), unprotect() or an event trigger of the extension is running';

CREATE OR REPLACE FUNCTION tombstone._install_triggers(tbl regclass, is_partition boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM tombstone._require_internal('tombstone._install_triggers');
    IF tbl IS NULL OR is_partition IS NULL OR NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = tbl) THEN
        RAISE EXCEPTION 'tombstone._install_triggers() needs an existing table'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('Called with tbl %s, is_partition %s.', coalesce(tbl::oid::text, 'NULL'),
                                  coalesce(is_partition::text, 'NULL')),
                  HINT = 'Protect tables with tombstone.protect().';
    END IF;
    IF NOT is_partition THEN
        EXECUTE format('CREATE TRIGGER tombstone_guard_delete BEFORE DELETE ON %s'
                       ' FOR EACH ROW EXECUTE FUNCTION tombstone._guard_delete()', tbl);
        EXECUTE format('CREATE TRIGGER tombstone_before_update BEFORE UPDATE ON %s'
                       ' FOR EACH ROW EXECUTE FUNCTION tombstone._before_update()', tbl);
    END IF;
    EXECUTE format('CREATE TRIGGER tombstone_guard_truncate BEFORE TRUNCATE ON %s'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION tombstone._guard_truncate()', tbl);
    IF (tombstone._citus_table(tbl)).method IS NOT NULL THEN
        -- Citus runs ENABLE TRIGGER on the shards only as the one subcommand
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER tombstone_guard_delete', tbl);
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER tombstone_guard_truncate', tbl);
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER tombstone_before_update', tbl);
        RETURN;
    END IF;
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER tombstone_guard_delete,'
                   ' ENABLE ALWAYS TRIGGER tombstone_guard_truncate,'
                   ' ENABLE ALWAYS TRIGGER tombstone_before_update', tbl);
END
$$;

CREATE OR REPLACE FUNCTION tombstone._uninstall_triggers(tbl regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
BEGIN
    PERFORM tombstone._require_internal('tombstone._uninstall_triggers');
    IF tbl IS NULL OR NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = tbl) THEN
        RAISE EXCEPTION 'tombstone._uninstall_triggers() needs an existing table'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('Called with tbl %s.', coalesce(tbl::oid::text, 'NULL')),
                  HINT = 'Stop protecting a table with tombstone.unprotect().';
    END IF;
    EXECUTE format('DROP TRIGGER IF EXISTS tombstone_guard_delete ON %s', tbl);
    EXECUTE format('DROP TRIGGER IF EXISTS tombstone_before_update ON %s', tbl);
    EXECUTE format('DROP TRIGGER IF EXISTS tombstone_guard_truncate ON %s', tbl);
    FOR r IN SELECT d.relid FROM tombstone._descendants(tbl) d LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS tombstone_guard_truncate ON %s', r.relid);
        -- inheritance children carry triggers of their own
        EXECUTE format('DROP TRIGGER IF EXISTS tombstone_guard_delete ON %s', r.relid);
        EXECUTE format('DROP TRIGGER IF EXISTS tombstone_before_update ON %s', r.relid);
    END LOOP;
END
$$;

-- Carry a schema change of a protected table to its history table, which
-- must be the one tombstone.tables names for it.
CREATE OR REPLACE FUNCTION tombstone._sync_history(tbl regclass, hist regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c record;
BEGIN
    PERFORM tombstone._require_internal('tombstone._sync_history');
    IF tbl IS NULL OR hist IS NULL
       OR NOT EXISTS (SELECT FROM tombstone.tables t
                       WHERE t.relid = tbl AND t.parent IS NULL AND t.history_table = hist) THEN
        RAISE EXCEPTION 'relation % is not the history table of table %',
                        coalesce(hist::oid::text, 'NULL'), coalesce(tbl::oid::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'tombstone._sync_history() changes only the history table tombstone.tables names for the table.',
                  HINT = 'Change the protected table; its history table follows.';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = 'valid_to'
                  AND a.attnum > 0 AND NOT a.attisdropped) THEN
        RAISE EXCEPTION 'cannot add column "valid_to" to table %, which keeps row history', tbl
            USING ERRCODE = 'TB040',
                  DETAIL = format('History table %s uses column valid_to for the end of each old version''s validity.', hist),
                  HINT = 'Choose another name.';
    END IF;
    FOR c IN
        SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS typ, h.attname AS hname,
               h.atttypid <> a.atttypid OR h.atttypmod <> a.atttypmod AS retyped,
               format_type(h.atttypid, h.atttypmod) AS htyp
          FROM pg_attribute a
          LEFT JOIN pg_attribute h ON h.attrelid = hist AND h.attname = a.attname
                                  AND h.attnum > 0 AND NOT h.attisdropped
         WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
           AND (h.attname IS NULL OR h.atttypid <> a.atttypid OR h.atttypmod <> a.atttypmod)
    LOOP
        IF c.hname IS NULL THEN
            -- old versions had no such column: they read as NULL
            EXECUTE format('ALTER TABLE %s ADD COLUMN %I %s', hist, c.attname, c.typ);
        ELSE
            BEGIN
                EXECUTE format('ALTER TABLE %s ALTER COLUMN %I TYPE %s USING %I::%s',
                               hist, c.attname, c.typ, c.attname, c.typ);
            EXCEPTION WHEN OTHERS THEN
                RAISE EXCEPTION 'cannot change the type of column "%" of table % to %', c.attname, tbl, c.typ
                    USING ERRCODE = 'TB040',
                          DETAIL = format('The old versions of rows in history table %s have %s values that do not convert to %s: %s.',
                                          hist, c.htyp, c.typ, SQLERRM),
                          HINT = 'Change the type in steps that convert every old value, or add a new column and copy the values.';
            END;
        END IF;
    END LOOP;
    FOR c IN
        SELECT h.attname, h.attnum
          FROM pg_attribute h
         WHERE h.attrelid = hist AND h.attnum > 0 AND NOT h.attisdropped
           AND h.attname <> 'valid_to' AND h.attname NOT LIKE '% (dropped %)'
           AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = h.attname
                              AND a.attnum > 0 AND NOT a.attisdropped)
    LOOP
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I DROP NOT NULL', hist, c.attname);
        EXECUTE format('ALTER TABLE %s RENAME COLUMN %I TO %I', hist, c.attname,
                       left(c.attname, 40) || ' (dropped ' || c.attnum || ')');
    END LOOP;
END
$$;

-- extract_tenant() with an empty schema name: a proper error, not the
-- syntax error of CREATE SCHEMA ""
CREATE OR REPLACE FUNCTION tombstone.extract_tenant(tenant text, at timestamptz, into_schema name)
RETURNS TABLE (table_name regclass, rows bigint)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r      record;
    target name;
    n      bigint;
BEGIN
    IF tenant IS NULL OR at IS NULL OR into_schema IS NULL THEN
        RAISE EXCEPTION 'arguments of tombstone.extract_tenant() must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  DETAIL = format('Called with tenant %s, at %s, into_schema %s.',
                                  coalesce(quote_literal(tenant), 'NULL'), coalesce(at::text, 'NULL'),
                                  coalesce(quote_ident(into_schema), 'NULL')),
                  HINT = 'Give the tenant, the time and the name of a schema to create.';
    END IF;
    IF into_schema = '' THEN
        RAISE EXCEPTION 'schema name of tombstone.extract_tenant() must not be empty'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('Called with tenant %s and an empty into_schema.', quote_literal(tenant)),
                  HINT = 'Give the name of a schema to create.';
    END IF;
    -- a new schema: extracting never overwrites anything
    EXECUTE format('CREATE SCHEMA %I', into_schema);
    FOR r IN
        SELECT t.relid, c.relname, n.nspname, t.history_table,
               count(*) OVER (PARTITION BY c.relname) AS same_name
          FROM tombstone.tables t
          JOIN pg_class c ON c.oid = t.relid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE t.parent IS NULL
         ORDER BY n.nspname, c.relname
    LOOP
        IF r.history_table IS NULL THEN
            RAISE NOTICE 'table % has no row history and was not extracted', r.relid;
            CONTINUE;
        END IF;
        target := CASE WHEN r.same_name > 1 THEN left(r.nspname || '_' || r.relname, 63)
                       ELSE r.relname END;
        EXECUTE format('CREATE TABLE %I.%I (LIKE %s)', into_schema, target, r.relid);
        EXECUTE format('INSERT INTO %I.%I SELECT * FROM tombstone.as_of(NULL::%s, $1, $2)',
                       into_schema, target, r.relid)
          USING tenant, at;
        GET DIAGNOSTICS n = ROW_COUNT;
        table_name := format('%I.%I', into_schema, target)::regclass;
        rows := n;
        RETURN NEXT;
    END LOOP;
END
$$;

--------------------------------------------------------------------------
-- The record is protected like the rows (issue 15, item 4)
--------------------------------------------------------------------------
-- History tables, the ledger, tombstone.tables, the tenant registry, keys,
-- their secrets, token uses and cleared references are written only by the
-- extension, for superusers too:
-- the extension writes the ledger, history and token uses directly (no
-- trigger fires) and its catalog through statements it marks as its own.
-- An INSERT into an empty table of the extension is a restore of a dump
-- (pg_extension_config_dump loads them after CREATE EXTENSION).  DDL on
-- them is refused by the DDL guard of the record
-- (src/mechanisms/record_guard.c).

CREATE FUNCTION tombstone._catalog_guard()
RETURNS trigger
AS 'MODULE_PATHNAME', 'tombstone_catalog_guard'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone._catalog_guard() IS
    'Trigger: the tables of the extension are written by the extension only';

DO $$
DECLARE
    t regclass;
BEGIN
    FOREACH t IN ARRAY ARRAY['tombstone.tables', 'tombstone.tenant_registry',
                             'tombstone.keys', 'tombstone.token_uses']::regclass[]
    LOOP
        EXECUTE format('CREATE TRIGGER tombstone_catalog_guard BEFORE INSERT OR UPDATE OR DELETE ON %s'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION tombstone._catalog_guard()', t);
        EXECUTE format('CREATE TRIGGER tombstone_catalog_truncate BEFORE TRUNCATE ON %s'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION tombstone._catalog_guard()', t);
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER tombstone_catalog_guard,'
                       ' ENABLE ALWAYS TRIGGER tombstone_catalog_truncate', t);
    END LOOP;
END
$$;

CREATE TRIGGER tombstone_ledger_insert BEFORE INSERT ON tombstone.changes
    FOR EACH STATEMENT EXECUTE FUNCTION tombstone._ledger_guard();
ALTER TABLE tombstone.changes ENABLE ALWAYS TRIGGER tombstone_ledger_insert;

-- HS256 secrets are written by add_key() only; a DELETE goes with its key
-- (remove_key(), through the foreign key) and loses nothing to forge.
CREATE TRIGGER tombstone_catalog_guard BEFORE INSERT OR UPDATE ON tombstone.key_secrets
    FOR EACH STATEMENT EXECUTE FUNCTION tombstone._catalog_guard();
CREATE TRIGGER tombstone_catalog_truncate BEFORE TRUNCATE ON tombstone.key_secrets
    FOR EACH STATEMENT EXECUTE FUNCTION tombstone._catalog_guard();
ALTER TABLE tombstone.key_secrets ENABLE ALWAYS TRIGGER tombstone_catalog_guard,
    ENABLE ALWAYS TRIGGER tombstone_catalog_truncate;

-- The references that ON DELETE SET NULL / SET DEFAULT cleared are
-- recorded by the cascade only; the ledger's guard triggers already refuse
-- their UPDATE, DELETE and TRUNCATE.
CREATE TRIGGER tombstone_catalog_guard BEFORE INSERT ON tombstone.cleared_keys
    FOR EACH STATEMENT EXECUTE FUNCTION tombstone._catalog_guard();
ALTER TABLE tombstone.cleared_keys ENABLE ALWAYS TRIGGER tombstone_catalog_guard;

-- history tables made by 0.1 refuse INSERT as those made by 0.2 do
DO $$
DECLARE
    h regclass;
BEGIN
    FOR h IN SELECT t.history_table FROM tombstone.tables t
              WHERE t.history_table IS NOT NULL
                AND NOT EXISTS (SELECT FROM pg_trigger g WHERE g.tgrelid = t.history_table
                                   AND g.tgname = 'tombstone_history_insert')
    LOOP
        EXECUTE format('CREATE TRIGGER tombstone_history_insert BEFORE INSERT ON %s'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION tombstone._history_guard()', h);
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER tombstone_history_insert', h);
    END LOOP;
END
$$;

-- With tombstone.tables written by the extension only, the retention of a
-- table is changed by a function: a shorter one needs a "ddl" token.
CREATE FUNCTION tombstone.set_retention(tbl regclass, retention interval)
RETURNS void
AS 'MODULE_PATHNAME', 'tombstone_set_retention'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone.set_retention(regclass, interval) IS
    'Change how long a protected table keeps tombstones and old row versions before a purge may remove them; a shorter retention needs a change token of operation ddl';

--------------------------------------------------------------------------
-- What cannot be protected (issue 15, item 6)
--------------------------------------------------------------------------
-- protect() accepted tombstone.changes (after which every DELETE failed),
-- the extension's other tables, information_schema tables and tables of
-- other extensions.  _check_protectable() refuses them (TB053); protect()
-- calls it before it changes anything, _register() and _create_history()
-- call the same check in C.

CREATE FUNCTION tombstone._check_protectable(tbl regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'tombstone_check_protectable'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION tombstone._check_protectable(regclass) IS
    'Internal: refuse a table that cannot be protected (of the system, of pg_tombstone, of an extension)';


--------------------------------------------------------------------------
-- UNLOGGED loses everything on a crash (issue 15, item 5)
--------------------------------------------------------------------------
-- protect() refuses an unlogged table (TB052, in _check_protectable()), as
-- the DDL guard refuses SET UNLOGGED of protected tables, history tables,
-- the ledger and the extension's tables; check() reports any such table.


--------------------------------------------------------------------------
-- Fail closed without the library, for DDL too (issue 15, item 10)
--------------------------------------------------------------------------
-- With pg_tombstone not in shared_preload_libraries, DROP EXTENSION ...
-- CASCADE, DROP SCHEMA tombstone CASCADE, DISABLE TRIGGER and DETACH
-- PARTITION went through.  An event trigger at ddl_command_start, written
-- in C, loads the library on demand (installing the DDL guard's hooks for
-- the session) and checks the statement from its parse tree; with the
-- library preloaded the ProcessUtility hook has checked it already.

CREATE FUNCTION tombstone._on_ddl_start()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'tombstone_on_ddl_start'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone._on_ddl_start() IS
    'Event trigger: refuse destructive DDL on protected tables and the extension''s objects, also without the library preloaded';

CREATE EVENT TRIGGER tombstone_ddl_start ON ddl_command_start
    EXECUTE FUNCTION tombstone._on_ddl_start();
ALTER EVENT TRIGGER tombstone_ddl_start ENABLE ALWAYS;

--------------------------------------------------------------------------
-- DROP DATABASE of a database holding protected tables (issue 15, item 11)
--------------------------------------------------------------------------
-- DROP DATABASE runs from another database, so a database where the
-- extension keeps protected tables, their history and the ledger is marked
-- in the shared catalog pg_shseclabel (a label of provider pg_tombstone on
-- the database), set here and removed by DROP EXTENSION pg_tombstone.  The
-- DDL guard refuses DROP DATABASE of a marked database (TB055) unless the
-- session names it in tombstone.drop_database.

CREATE FUNCTION tombstone._mark_database()
RETURNS void
AS 'MODULE_PATHNAME', 'tombstone_mark_database'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone._mark_database() IS
    'Internal: mark this database as one where pg_tombstone keeps rows, so that DROP DATABASE refuses it';

SELECT tombstone._mark_database();

--------------------------------------------------------------------------
-- Citus (issue 17)
--------------------------------------------------------------------------
-- Internal: the change id a DELETE on a protected Citus table stamps on the
-- rows it tombstones.  STABLE and without a column argument, so that Citus
-- evaluates it once on the coordinator and ships the id to the shards as a
-- constant; it opens the statement's change.  Its rows are counted per
-- tenant from the table when the statement ends, or, when the DELETE's
-- WHERE clause pins one tenant (given here), from the number of rows the
-- statement reports.  Called directly it changes nothing.
CREATE FUNCTION tombstone._citus_change(root oid, tenant text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'tombstone_citus_change'
LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone._citus_change(oid, text) IS
    'Internal: the change id a DELETE on a protected Citus table ships to its shards';
