/* pg_tombstone--0.1.sql */

\echo Use "CREATE EXTENSION pg_tombstone" to load this file. \quit

--------------------------------------------------------------------------
-- Catalog
--------------------------------------------------------------------------

GRANT USAGE ON SCHEMA tombstone TO PUBLIC;

-- The history tables of protected tables (protect(..., history => true)),
-- owned by the owners of the tables they keep the old row versions of.
CREATE SCHEMA tombstone_history;
COMMENT ON SCHEMA tombstone_history IS
    'pg_tombstone: old versions of the rows of protected tables, one table per protected table';
GRANT USAGE ON SCHEMA tombstone_history TO PUBLIC;

-- One row per protected relation.  Partitions and inheritance children of a
-- protected table have their own row, with the root they are protected
-- through in "parent", so that every check is a lookup by relation.
CREATE TABLE tombstone.tables (
    relid         regclass    PRIMARY KEY,
    tenant_column name        NOT NULL,
    retention     interval    NOT NULL,
    history       boolean     NOT NULL,
    parent        regclass,
    protected_at  timestamptz NOT NULL DEFAULT now(),
    history_table regclass
);
COMMENT ON TABLE tombstone.tables IS
    'Relations protected by pg_tombstone; written only by tombstone.protect()';
SELECT pg_catalog.pg_extension_config_dump('tombstone.tables', '');
REVOKE ALL ON tombstone.tables FROM PUBLIC;
GRANT SELECT ON tombstone.tables TO PUBLIC;

CREATE VIEW tombstone.protected_tables AS
SELECT t.relid         AS table_name,
       t.tenant_column,
       t.retention,
       t.history,
       t.parent        AS protected_through,
       t.protected_at,
       t.history_table
  FROM tombstone.tables t;
COMMENT ON VIEW tombstone.protected_tables IS
    'Protected tables; protected_through names the table whose protection a partition or child inherits';
GRANT SELECT ON tombstone.protected_tables TO PUBLIC;

-- The tenant registry: the table whose rows are the tenants.  At most one.
CREATE TABLE tombstone.tenant_registry (
    relid     regclass PRIMARY KEY,
    id_column name     NOT NULL,
    singleton boolean  NOT NULL DEFAULT true UNIQUE CHECK (singleton)
);
COMMENT ON TABLE tombstone.tenant_registry IS
    'The table of tenants: tombstoning one of its rows tombstones that tenant in every protected table; written only by tombstone.protect_tenants()';
SELECT pg_catalog.pg_extension_config_dump('tombstone.tenant_registry', '');
REVOKE ALL ON tombstone.tenant_registry FROM PUBLIC;
GRANT SELECT ON tombstone.tenant_registry TO PUBLIC;

--------------------------------------------------------------------------
-- The ledger
--------------------------------------------------------------------------

-- One entry per statement that tombstoned or restored rows of protected
-- tables, written by the extension (never by users: see _ledger_guard).
-- Column order is part of the C code (ledger.c).
CREATE SEQUENCE tombstone.changes_id_seq;
CREATE TABLE tombstone.changes (
    id               bigint      PRIMARY KEY,
    at               timestamptz NOT NULL,
    xid              xid8        NOT NULL,
    role             name        NOT NULL,
    session_role     name        NOT NULL,
    application_name text        NOT NULL,
    operation        text        NOT NULL,
    undoes           bigint,
    statement        text,
    rows             jsonb       NOT NULL,
    token_id         text,
    token_subject    text,
    token_reason     text
);
ALTER SEQUENCE tombstone.changes_id_seq OWNED BY tombstone.changes.id;
COMMENT ON TABLE tombstone.changes IS
    'The ledger: one entry per statement that tombstoned or restored rows of protected tables; append-only';
COMMENT ON COLUMN tombstone.changes.at IS
    'Start of the transaction, the deleted_at of the rows the change tombstoned';
COMMENT ON COLUMN tombstone.changes.operation IS
    'delete, cascade (through a foreign key from an unprotected table), delete_tenant, or undelete';
COMMENT ON COLUMN tombstone.changes.undoes IS
    'For the work of undelete_change() and undelete_tenant(): the change undone';
COMMENT ON COLUMN tombstone.changes.statement IS
    'The statement the client sent, at most 1024 bytes';
COMMENT ON COLUMN tombstone.changes.rows IS
    'Rows tombstoned and restored, per table and tenant: [{"table", "tenant", "tombstoned", "restored"}]';
COMMENT ON COLUMN tombstone.changes.token_id IS
    'The change token that authorised the change (signed change tokens)';
SELECT pg_catalog.pg_extension_config_dump('tombstone.changes', '');
SELECT pg_catalog.pg_extension_config_dump('tombstone.changes_id_seq', '');
REVOKE ALL ON tombstone.changes FROM PUBLIC;
REVOKE ALL ON SEQUENCE tombstone.changes_id_seq FROM PUBLIC;

CREATE VIEW tombstone.change_rows AS
SELECT c.id AS change_id, c.at, c.operation, r."table" AS table_name, r.tenant,
       r.tombstoned, r.restored
  FROM tombstone.changes c,
       LATERAL jsonb_to_recordset(c.rows) AS r("table" text, tenant text,
                                               tombstoned bigint, restored bigint);
COMMENT ON VIEW tombstone.change_rows IS
    'The ledger one row per change, table and tenant';
REVOKE ALL ON tombstone.change_rows FROM PUBLIC;

--------------------------------------------------------------------------
-- C entry points
--------------------------------------------------------------------------

CREATE FUNCTION tombstone._ledger_guard()
RETURNS trigger
AS 'MODULE_PATHNAME', 'tombstone_ledger_guard'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone._ledger_guard() IS
    'Trigger: the ledger is append-only';

CREATE TRIGGER tombstone_ledger_guard BEFORE UPDATE OR DELETE ON tombstone.changes
    FOR EACH ROW EXECUTE FUNCTION tombstone._ledger_guard();
CREATE TRIGGER tombstone_ledger_truncate BEFORE TRUNCATE ON tombstone.changes
    FOR EACH STATEMENT EXECUTE FUNCTION tombstone._ledger_guard();
ALTER TABLE tombstone.changes ENABLE ALWAYS TRIGGER tombstone_ledger_guard,
                              ENABLE ALWAYS TRIGGER tombstone_ledger_truncate;

CREATE FUNCTION tombstone._ri_tolerant()
RETURNS boolean
AS 'MODULE_PATHNAME', 'tombstone_ri_tolerant'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone._ri_tolerant() IS
    'Internal: whether a foreign-key check made while tombstoning may find a tombstoned row';

CREATE FUNCTION tombstone._register_tenants(regclass, name)
RETURNS void
AS 'MODULE_PATHNAME', 'tombstone_register_tenants'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone._register_tenants(regclass, name) IS
    'Internal: record the tenant registry, a table owned by the caller';

CREATE FUNCTION tombstone._preloaded()
RETURNS boolean
AS 'MODULE_PATHNAME', 'tombstone_preloaded_sql'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION tombstone._preloaded() IS
    'Whether pg_tombstone was loaded from shared_preload_libraries in this backend';

CREATE FUNCTION tombstone._register(regclass, name, interval, boolean, regclass, regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'tombstone_register'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone._register(regclass, name, interval, boolean, regclass, regclass) IS
    'Internal: record a relation owned by the caller in tombstone.tables';

CREATE FUNCTION tombstone._create_history(tbl regclass, tenant_column name)
RETURNS regclass
AS 'MODULE_PATHNAME', 'tombstone_create_history'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone._create_history(regclass, name) IS
    'Internal: create the history table of a table owned by the caller, in schema tombstone_history';

CREATE FUNCTION tombstone._history_guard()
RETURNS trigger
AS 'MODULE_PATHNAME', 'tombstone_history_guard'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone._history_guard() IS
    'Trigger: history tables are written by pg_tombstone only and emptied only by an authorised purge';

CREATE FUNCTION tombstone._guard_delete()
RETURNS trigger
AS 'MODULE_PATHNAME', 'tombstone_guard_delete'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone._guard_delete() IS
    'Trigger: refuse physical deletes of protected rows';

CREATE FUNCTION tombstone._before_update()
RETURNS trigger
AS 'MODULE_PATHNAME', 'tombstone_before_update'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone._before_update() IS
    'Trigger: record tombstones and undeletes of protected rows as changes';

-- Called per row by the UPDATE that a DELETE on a protected table becomes
-- (the planner puts it in the target list as "deleted_change = ..."): counts
-- the row for its tenant and returns the id of the statement's change.
-- Harmless anywhere else: it counts nothing outside such a statement.
CREATE FUNCTION tombstone._stamp(root oid, tenant anyelement)
RETURNS bigint
AS 'MODULE_PATHNAME', 'tombstone_stamp'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone._stamp(oid, anyelement) IS
    'Internal: the change id a DELETE turned into a tombstone stamps on each row';

-- Internal: what an UPDATE of a table with row history sets valid_from to
-- (the planner puts it in the target list as "valid_from = ..."): stamps
-- the new version of the row and keeps the old one in the history table.
-- Harmless anywhere else: it returns valid_from as it is.
CREATE FUNCTION tombstone._version(valid_from timestamptz, row_xmin xid, row_ctid tid)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'tombstone_version'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone._version(timestamptz, xid, tid) IS
    'Internal: the valid_from an UPDATE of a table with row history stamps on each row';

CREATE FUNCTION tombstone._guard_truncate()
RETURNS trigger
AS 'MODULE_PATHNAME', 'tombstone_guard_truncate'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone._guard_truncate() IS
    'Trigger: refuse TRUNCATE of protected tables';

--------------------------------------------------------------------------
-- Protecting tables
--------------------------------------------------------------------------

-- Create the triggers of one relation, firing ALWAYS so that
-- session_replication_role = replica does not switch them off.  Partitions
-- receive the row triggers as clones of their parent's, so only their firing
-- is set here; statement triggers are never cloned.  No index is created on
-- deleted_change: it would make every tombstoning UPDATE non-HOT and cost an
-- index insert per tombstoned row; undelete_change() finds a change's rows
-- through the tenant column (see tombstone.check(), hazard no_tenant_index).  The BEFORE UPDATE trigger records
-- tombstones and undeletes on the ledger and lets a row move between
-- partitions (which PostgreSQL executes as a delete and an insert).
CREATE FUNCTION tombstone._install_triggers(tbl regclass, is_partition boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT is_partition THEN
        EXECUTE format('CREATE TRIGGER tombstone_guard_delete BEFORE DELETE ON %s'
                       ' FOR EACH ROW EXECUTE FUNCTION tombstone._guard_delete()', tbl);
        EXECUTE format('CREATE TRIGGER tombstone_before_update BEFORE UPDATE ON %s'
                       ' FOR EACH ROW EXECUTE FUNCTION tombstone._before_update()', tbl);
    END IF;
    EXECUTE format('CREATE TRIGGER tombstone_guard_truncate BEFORE TRUNCATE ON %s'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION tombstone._guard_truncate()', tbl);
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER tombstone_guard_delete,'
                   ' ENABLE ALWAYS TRIGGER tombstone_guard_truncate,'
                   ' ENABLE ALWAYS TRIGGER tombstone_before_update', tbl);
END
$$;
COMMENT ON FUNCTION tombstone._install_triggers(regclass, boolean) IS
    'Internal: create the guard triggers of a protected relation';

-- The partitions and inheritance children below tbl, at any depth.
CREATE FUNCTION tombstone._descendants(tbl regclass)
RETURNS TABLE (relid regclass, relkind "char", relispartition boolean)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE d(relid) AS (
        SELECT i.inhrelid FROM pg_inherits i WHERE i.inhparent = tbl
        UNION
        SELECT i.inhrelid FROM pg_inherits i JOIN d ON i.inhparent = d.relid
    )
    SELECT d.relid::regclass, c.relkind, c.relispartition
      FROM d JOIN pg_class c ON c.oid = d.relid
     WHERE c.relkind IN ('r', 'p', 'f')
$$;
COMMENT ON FUNCTION tombstone._descendants(regclass) IS
    'Internal: partitions and inheritance children of a table, at any depth';

CREATE FUNCTION tombstone.protect(tbl regclass,
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
        hist := tombstone._create_history(tbl, tenant_column);
    END IF;
    PERFORM tombstone._register(tbl, tenant_column, retention, history, NULL, hist);
    FOR d IN SELECT * FROM tombstone._descendants(tbl) LOOP
        PERFORM tombstone._register(d.relid, tenant_column, retention, history, tbl, NULL);
    END LOOP;

    PERFORM tombstone._install_triggers(tbl, false);
    FOR d IN SELECT * FROM tombstone._descendants(tbl) LOOP
        PERFORM tombstone._install_triggers(d.relid, d.relispartition);
    END LOOP;
END
$$;
COMMENT ON FUNCTION tombstone.protect(regclass, name, interval, boolean) IS
    'Protect a tenant-scoped table: DELETE becomes a tombstone and nothing can be destroyed';

CREATE FUNCTION tombstone.protect_tenants(tbl regclass, id_column name)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reg   record;
    prot  record;
    attno smallint;
BEGIN
    IF tbl IS NULL OR id_column IS NULL THEN
        RAISE EXCEPTION 'arguments of tombstone.protect_tenants() must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  DETAIL = format('Called with tbl %s, id_column %s.',
                                  coalesce(tbl::text, 'NULL'), coalesce(id_column::text, 'NULL')),
                  HINT = 'Name the table of tenants and its id column.';
    END IF;
    IF NOT tombstone._preloaded() THEN
        RAISE EXCEPTION 'pg_tombstone must be loaded via shared_preload_libraries'
            USING ERRCODE = 'TB001',
                  DETAIL = 'Tenant deletion is carried out by the library, which is not loaded.',
                  HINT = 'Add pg_tombstone to shared_preload_libraries in postgresql.conf and restart the server.';
    END IF;
    SELECT * INTO reg FROM tombstone.tenant_registry LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'the tenant registry is already table %', reg.relid
            USING ERRCODE = 'duplicate_object',
                  DETAIL = format('Table %s with id column %s was declared the table of tenants.', reg.relid, reg.id_column),
                  HINT = 'A database has one tenant registry.';
    END IF;
    SELECT a.attnum INTO attno FROM pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = id_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of table % does not exist', id_column, tbl
            USING ERRCODE = 'undefined_column',
                  DETAIL = 'The id column holds the tenant id that the tenant column of every protected table refers to.',
                  HINT = 'Give the name of an existing column.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_index i
                    WHERE i.indrelid = tbl AND i.indisunique AND i.indpred IS NULL
                      AND i.indnkeyatts = 1 AND i.indkey[0] = attno) THEN
        RAISE EXCEPTION 'column "%" of table % is not unique', id_column, tbl
            USING ERRCODE = 'invalid_table_definition',
                  DETAIL = 'Each row of the tenant registry must be exactly one tenant.',
                  HINT = format('Make %s the primary key of %s, or add a unique constraint on it.', id_column, tbl);
    END IF;

    SELECT * INTO prot FROM tombstone.protected_tables t WHERE t.table_name = tbl;
    IF NOT FOUND THEN
        PERFORM tombstone.protect(tbl, id_column);
    ELSIF prot.protected_through IS NOT NULL THEN
        RAISE EXCEPTION 'table % is protected through table %', tbl, prot.protected_through
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'A partition or inheritance child cannot be the tenant registry on its own.',
                  HINT = format('Declare %s the tenant registry instead.', prot.protected_through);
    ELSIF prot.tenant_column <> id_column THEN
        RAISE EXCEPTION 'table % is protected with tenant column %, not %', tbl, prot.tenant_column, id_column
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'In the tenant registry, each row is its own tenant: the tenant column is the id column.',
                  HINT = 'Give the tenant column the table was protected with.';
    END IF;
    PERFORM tombstone._register_tenants(tbl, id_column);
END
$$;
COMMENT ON FUNCTION tombstone.protect_tenants(regclass, name) IS
    'Declare the table of tenants: deleting one of its rows tombstones that tenant in every protected table';

CREATE FUNCTION tombstone.undelete(tbl regclass, match jsonb)
RETURNS bigint
AS 'MODULE_PATHNAME', 'tombstone_undelete'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone.undelete(regclass, jsonb) IS
    'Restore the tombstoned rows of a table whose columns equal the given values; returns their count';

CREATE FUNCTION tombstone.undelete_change(change_id bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'tombstone_undelete_change'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone.undelete_change(bigint) IS
    'Undo one change of the ledger: the rows it tombstoned come back, the rows it restored are tombstoned again';

CREATE FUNCTION tombstone.undelete_tenant(tenant text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'tombstone_undelete_tenant'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone.undelete_tenant(text) IS
    'Restore a deleted tenant: its registry row and every row the tenant deletion tombstoned';

--------------------------------------------------------------------------
-- Row history and time travel
--------------------------------------------------------------------------

CREATE FUNCTION tombstone.as_of(rowtype anyelement, tenant text, at timestamptz)
RETURNS SETOF anyelement
AS 'MODULE_PATHNAME', 'tombstone_as_of'
LANGUAGE C STABLE PARALLEL UNSAFE CALLED ON NULL INPUT;
COMMENT ON FUNCTION tombstone.as_of(anyelement, text, timestamptz) IS
    'The rows of a tenant in a protected table as they were at a past time: SELECT * FROM tombstone.as_of(NULL::tbl, tenant, at)';

CREATE FUNCTION tombstone.rewind_tenant(tenant text, at timestamptz)
RETURNS TABLE (table_name regclass, tombstoned bigint, rewound bigint)
AS 'MODULE_PATHNAME', 'tombstone_rewind_tenant'
LANGUAGE C VOLATILE PARALLEL UNSAFE CALLED ON NULL INPUT;
COMMENT ON FUNCTION tombstone.rewind_tenant(text, timestamptz) IS
    'Make a tenant''s rows in every protected table with history what they were at a past time, as one ledger change (needs a rewind token)';

CREATE FUNCTION tombstone.extract_tenant(tenant text, at timestamptz, into_schema name)
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
COMMENT ON FUNCTION tombstone.extract_tenant(text, timestamptz, name) IS
    'Copy a tenant''s rows of every protected table with history, as of a past time, into tables of a new schema';

-- Carry a schema change of a protected table to its history table: new
-- columns are added, retyped columns retyped, and the columns of dropped
-- ones are kept as "<name> (dropped <n>)" (their old values are not lost).  Renamed
-- columns were renamed before the ALTER TABLE ran (ddl_guard.c).
CREATE FUNCTION tombstone._sync_history(tbl regclass, hist regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c record;
BEGIN
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
COMMENT ON FUNCTION tombstone._sync_history(regclass, regclass) IS
    'Internal: carry a schema change of a protected table to its history table';

CREATE FUNCTION tombstone.preview(statement text)
RETURNS TABLE (table_name regclass, tenant text, rows bigint)
AS 'MODULE_PATHNAME', 'tombstone_preview'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone.preview(text) IS
    'Run one DELETE in a subtransaction that is rolled back; report per table and tenant what it would tombstone';

--------------------------------------------------------------------------
-- Event triggers: adopt new partitions, fail closed on DROP
--------------------------------------------------------------------------

-- A partition created or attached under a protected table, or a new
-- inheritance child, is protected like its parent.
CREATE FUNCTION tombstone._on_ddl_end()
RETURNS event_trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r   record;
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
    'Event trigger: protect new partitions and inheritance children of protected tables';

-- The guard's answers for SQL code: whether a bound "ddl" (or "unprotect")
-- token names a table, and forgetting a table once one does.
CREATE FUNCTION tombstone._ddl_authorized(relid oid)
RETURNS boolean
AS 'MODULE_PATHNAME', 'tombstone_ddl_authorized'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone._ddl_authorized(oid) IS
    'Internal: whether a change token of operation ddl bound to this transaction names the table';

CREATE FUNCTION tombstone._require_token(op text, tbl regclass)
RETURNS text
AS 'MODULE_PATHNAME', 'tombstone_require_token'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone._require_token(text, regclass) IS
    'Internal: the id of a bound change token of this operation naming the table, or an error';

CREATE FUNCTION tombstone._unregister(relid oid)
RETURNS void
AS 'MODULE_PATHNAME', 'tombstone_unregister'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone._unregister(oid) IS
    'Internal: forget a protected table, with a change token naming it';

-- Drop the triggers protect() created on tbl and the relations below it.
CREATE FUNCTION tombstone._uninstall_triggers(tbl regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
BEGIN
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
COMMENT ON FUNCTION tombstone._uninstall_triggers(regclass) IS
    'Internal: drop the guard triggers of a table that stops being protected';

CREATE FUNCTION tombstone.unprotect(tbl regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p record;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'argument of tombstone.unprotect() must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  DETAIL = 'Called with tbl NULL.',
                  HINT = 'Name the protected table.';
    END IF;
    SELECT * INTO p FROM tombstone.protected_tables t WHERE t.table_name = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table % is not protected', tbl
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'tombstone.protected_tables has no entry for it.',
                  HINT = 'See tombstone.protected_tables for the protected tables.';
    ELSIF p.protected_through IS NOT NULL THEN
        RAISE EXCEPTION 'table % is protected through table %', tbl, p.protected_through
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'A partition or inheritance child is protected with its parent.',
                  HINT = format('Unprotect %s instead.', p.protected_through);
    END IF;
    PERFORM tombstone._require_token('unprotect', tbl);
    PERFORM tombstone._uninstall_triggers(tbl);
    PERFORM tombstone._unregister(tbl);
END
$$;
COMMENT ON FUNCTION tombstone.unprotect(regclass) IS
    'Stop protecting a table (needs a change token of operation unprotect); its rows, tombstoned ones included, stay';

-- The DROP guard that works without the library: with pg_tombstone preloaded
-- the object access hook refuses these drops before anything happens.
CREATE FUNCTION tombstone._on_sql_drop()
RETURNS event_trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    obj record;
    p   record;
BEGIN
    FOR obj IN SELECT * FROM pg_event_trigger_dropped_objects()
                WHERE object_type IN ('table', 'table column', 'trigger')
    LOOP
        IF obj.object_type = 'table' THEN
            SELECT * INTO p FROM tombstone.tables t WHERE t.relid = obj.objid;
            IF FOUND AND tombstone._ddl_authorized(obj.objid) THEN
                PERFORM tombstone._unregister(obj.objid);
            ELSIF FOUND THEN
                RAISE EXCEPTION 'cannot drop protected table "%"', obj.object_name
                    USING ERRCODE = 'TB004',
                          DETAIL = format('The command would drop table %s with all of its rows, live and tombstoned.', obj.object_identity),
                          HINT = 'Authorise a change token of operation "ddl" naming the table with tombstone.authorize() in the same transaction.';
            END IF;
        ELSIF obj.object_type = 'table column' THEN
            SELECT * INTO p FROM tombstone.tables t WHERE t.relid = obj.objid;
            IF FOUND AND obj.address_names[3] IN ('deleted_at', 'deleted_change', p.tenant_column)
                     AND tombstone._ddl_authorized(obj.objid) THEN
                -- a table without its tombstone columns cannot stay protected
                PERFORM tombstone._uninstall_triggers(obj.objid::regclass);
                PERFORM tombstone._unregister(obj.objid);
            ELSIF FOUND AND obj.address_names[3] IN ('deleted_at', 'deleted_change', p.tenant_column) THEN
                RAISE EXCEPTION 'cannot drop column "%" of protected table "%"', obj.address_names[3], obj.address_names[2]
                    USING ERRCODE = 'TB005',
                          DETAIL = format('Column %s is used by pg_tombstone to keep deleted rows recoverable.', obj.object_identity),
                          HINT = 'Authorise a change token of operation "ddl" naming the table with tombstone.authorize() in the same transaction.';
            END IF;
        ELSIF obj.address_names[3] LIKE 'tombstone\_%' THEN
            SELECT * INTO p FROM tombstone.tables t
             WHERE t.relid = to_regclass(format('%I.%I', obj.address_names[1], obj.address_names[2]));
            IF FOUND AND NOT tombstone._ddl_authorized(p.relid) THEN
                RAISE EXCEPTION 'cannot drop trigger "%" of protected table "%"', obj.address_names[3], obj.address_names[2]
                    USING ERRCODE = 'TB010',
                          DETAIL = format('Trigger %s keeps rows from being deleted physically.', obj.object_identity),
                          HINT = 'Authorise a change token of operation "ddl" naming the table with tombstone.authorize() in the same transaction.';
            END IF;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION tombstone._on_sql_drop() IS
    'Event trigger: refuse drops of protected tables, their tombstone columns and guard triggers';

CREATE EVENT TRIGGER tombstone_ddl_end ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION tombstone._on_ddl_end();
ALTER EVENT TRIGGER tombstone_ddl_end ENABLE ALWAYS;

CREATE EVENT TRIGGER tombstone_sql_drop ON sql_drop
    EXECUTE FUNCTION tombstone._on_sql_drop();
ALTER EVENT TRIGGER tombstone_sql_drop ENABLE ALWAYS;

--------------------------------------------------------------------------
-- Hazards
--------------------------------------------------------------------------

CREATE FUNCTION tombstone.check()
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
END
$$;
COMMENT ON FUNCTION tombstone.check() IS
    'List hazards that weaken the protection of protected tables, with a suggested fix for each';

-- Change tokens (src/token.c)
--------------------------------------------------------------------------
-- Keys, uses, signing and authorising signed change tokens.  The tables
-- are readable by no application role: authorize() reads the keys and
-- records uses as the owner of tombstone.keys.
--------------------------------------------------------------------------

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'tombstone_approver') THEN
        CREATE ROLE tombstone_approver NOLOGIN;
    END IF;
END
$$;

CREATE TABLE tombstone.keys (
    key_id   text        PRIMARY KEY,
    alg      text        NOT NULL CHECK (alg IN ('HS256', 'EdDSA')),
    key      bytea       NOT NULL,
    ops      text[]      CHECK (ops <@ ARRAY['delete', 'delete_tenant', 'purge',
                                             'rewind', 'ddl', 'unprotect']),
    added_at timestamptz NOT NULL DEFAULT now(),
    added_by name        NOT NULL DEFAULT current_user
);
COMMENT ON TABLE tombstone.keys IS
    'Keys that change tokens name in "kid": HS256 secrets and Ed25519 public keys; written only by tombstone.add_key() and tombstone.remove_key()';
COMMENT ON COLUMN tombstone.keys.ops IS
    'Operations the key may authorize; NULL means all';
SELECT pg_catalog.pg_extension_config_dump('tombstone.keys', '');
REVOKE ALL ON tombstone.keys FROM PUBLIC;

CREATE TABLE tombstone.token_uses (
    jti        text        PRIMARY KEY,
    key_id     text        NOT NULL,
    uses       int         NOT NULL CHECK (uses > 0),
    max_uses   int         NOT NULL CHECK (max_uses > 0),
    first_used timestamptz NOT NULL,
    last_used  timestamptz NOT NULL,
    exp        timestamptz NOT NULL
);
COMMENT ON TABLE tombstone.token_uses IS
    'Uses of change tokens, by jti: a token is refused once uses reaches max_uses; written only by tombstone.authorize()';
SELECT pg_catalog.pg_extension_config_dump('tombstone.token_uses', '');
REVOKE ALL ON tombstone.token_uses FROM PUBLIC;

CREATE FUNCTION tombstone.audience()
RETURNS text
AS 'MODULE_PATHNAME', 'tombstone_audience'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tombstone.audience() IS
    'The "aud" a change token must name to be accepted in this database';

CREATE FUNCTION tombstone.add_key(key_id text, alg text, key bytea, ops text[] DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'tombstone_add_key'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone.add_key(text, text, bytea, text[]) IS
    'Register a key for change tokens: an HS256 secret (at least 32 bytes) or an Ed25519 public key (32 raw bytes or PEM), for the operations in ops (NULL: all)';
REVOKE ALL ON FUNCTION tombstone.add_key(text, text, bytea, text[]) FROM PUBLIC;

CREATE FUNCTION tombstone.remove_key(key_id text)
RETURNS void
AS 'MODULE_PATHNAME', 'tombstone_remove_key'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone.remove_key(text) IS
    'Remove a key: tokens naming it are refused from then on';
REVOKE ALL ON FUNCTION tombstone.remove_key(text) FROM PUBLIC;

CREATE FUNCTION tombstone.sign(claims jsonb, key_id text)
RETURNS text
AS 'MODULE_PATHNAME', 'tombstone_sign'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone.sign(jsonb, text) IS
    'Mint an HS256 change token; iat, exp (iat + 1 hour), jti and aud are filled in when absent';
REVOKE ALL ON FUNCTION tombstone.sign(jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tombstone.sign(jsonb, text) TO tombstone_approver;

CREATE FUNCTION tombstone.authorize(token text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'tombstone_authorize'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone.authorize(text) IS
    'Verify a change token, consume one of its uses and bind it to the current transaction; returns its claims';

CREATE FUNCTION tombstone.bound_tokens()
RETURNS TABLE (jti text, key_id text, op text, sub text, reason text,
               tables regclass[], tenants text[], all_tenants boolean,
               max_rows bigint, rows_used bigint, exp timestamptz)
AS 'MODULE_PATHNAME', 'tombstone_bound_tokens'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone.bound_tokens() IS
    'The change tokens bound to the current transaction, oldest first';

-- Purge and refusal counters (src/purge.c, src/observe.c)
--------------------------------------------------------------------------
-- Hard deletion of tombstones, authorised by a change token of operation
-- "purge" (the token is the authority: the rows are deleted as the owner of
-- each table, so the caller needs no DELETE privilege), and the counters of
-- refusals kept in shared memory.
--------------------------------------------------------------------------

CREATE FUNCTION tombstone.purge(tbl regclass DEFAULT NULL, tenant text DEFAULT NULL)
RETURNS TABLE (table_name regclass, tenant text, purged bigint)
AS 'MODULE_PATHNAME', 'tombstone_purge'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone.purge(regclass, text) IS
    'Remove for good the rows tombstoned longer than their table''s retention, of one table (NULL: every protected table) and one tenant (NULL: all); needs a "purge" change token';

CREATE FUNCTION tombstone.purge_tenant(tenant text)
RETURNS TABLE (table_name regclass, tenant text, purged bigint)
AS 'MODULE_PATHNAME', 'tombstone_purge_tenant'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone.purge_tenant(text) IS
    'Erasure: remove for good every tombstoned row of a tenant in every protected table, regardless of retention; needs a "purge" change token';

CREATE FUNCTION tombstone._refusals()
RETURNS TABLE (sqlstate text, kind text, refusals bigint, last_refused timestamptz)
AS 'MODULE_PATHNAME', 'tombstone_refusals'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION tombstone._refusals() IS
    'Internal: the refusal counters in shared memory, one row per SQLSTATE of class TB';

CREATE VIEW tombstone.refusals AS
SELECT r.sqlstate, r.kind, r.refusals, r.last_refused
  FROM tombstone._refusals() r;
COMMENT ON VIEW tombstone.refusals IS
    'How many times each kind of refusal was raised since the server started (or the last reset_refusals()), cluster-wide';
GRANT SELECT ON tombstone.refusals TO PUBLIC;

CREATE FUNCTION tombstone.reset_refusals()
RETURNS void
AS 'MODULE_PATHNAME', 'tombstone_reset_refusals'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tombstone.reset_refusals() IS
    'Set every refusal counter back to zero';
REVOKE ALL ON FUNCTION tombstone.reset_refusals() FROM PUBLIC;
