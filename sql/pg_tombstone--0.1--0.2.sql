/* pg_tombstone--0.1--0.2.sql */

-- 0.1 is released and frozen: pg_tombstone--0.1.sql never changes again.
-- Every change to the extension's SQL objects since 0.1 is made here, so that
-- ALTER EXTENSION pg_tombstone UPDATE brings a populated 0.1 database to the
-- same catalog as CREATE EXTENSION of 0.2 (which runs 0.1, then this script).

\echo Use "ALTER EXTENSION pg_tombstone UPDATE TO '0.2'" to load this file. \quit

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
-- As in 0.1, plus publications that include the extension's keys (HS256
-- secrets) or its per-database state (registrations, token uses): FOR ALL
-- TABLES publishes them.
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

    -- Publications: the ledger and the history tables replicate; the other
    -- tables of the extension hold what belongs to this database alone.
    RETURN QUERY
    SELECT CASE WHEN pt.tablename = 'keys' THEN 'published_secrets'
                ELSE 'published_local_state' END,
           format('%I.%I', pt.schemaname, pt.tablename)::regclass, pt.pubname::text,
           CASE WHEN pt.tablename = 'keys'
                THEN format('Publication %I includes table tombstone.keys: every subscriber receives the HS256 secrets that sign change tokens, and whoever reads them there can sign tokens this database accepts.',
                            pt.pubname)
                ELSE format('Publication %I includes table tombstone.%I, which describes this database alone: a subscriber that protects its own tables has rows of its own there, and the subscription stops at the first duplicate key.',
                            pt.pubname, pt.tablename) END,
           CASE WHEN p.puballtables
                THEN format('Replace publication %I (FOR ALL TABLES) with one that names what to replicate, e.g. CREATE PUBLICATION app FOR TABLES IN SCHEMA public, tombstone_history, TABLE tombstone.changes;',
                            pt.pubname)
                WHEN EXISTS (SELECT 1 FROM pg_publication_namespace pn
                              WHERE pn.pnpubid = p.oid AND pn.pnnspid = 'tombstone'::regnamespace)
                THEN format('ALTER PUBLICATION %I DROP TABLES IN SCHEMA tombstone; ALTER PUBLICATION %I ADD TABLE tombstone.changes;',
                            pt.pubname, pt.pubname)
                ELSE format('ALTER PUBLICATION %I DROP TABLE tombstone.%I;', pt.pubname, pt.tablename) END
      FROM pg_publication_tables pt
      JOIN pg_publication p ON p.pubname = pt.pubname
     WHERE pt.schemaname = 'tombstone'
       AND pt.tablename IN ('keys', 'token_uses', 'tables', 'tenant_registry')
     ORDER BY 1, 2, 3;
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
        IF NOT tombstone._ddl_authorized(r.relid) THEN
            RAISE EXCEPTION 'cannot detach partition "%" from protected table "%"', r.relid, r.parent
                USING ERRCODE = 'TB007',
                      DETAIL = format('Detached, %s would no longer be protected through table %s.', r.relid, r.parent),
                      HINT = 'Authorise a change token of operation "ddl" naming the table with tombstone.authorize() in the same transaction.';
        END IF;
        PERFORM tombstone._uninstall_triggers(r.relid);
        PERFORM tombstone._unregister(r.relid);
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

