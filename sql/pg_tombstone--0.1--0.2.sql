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
CREATE INDEX cleared_keys_change_id_idx ON tombstone.cleared_keys (change_id);
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
-- tombstone.check(): pg_tombstone's triggers that do not fire ALWAYS
-- (issue 16, item 4)
--------------------------------------------------------------------------
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
END
$$;
COMMENT ON FUNCTION tombstone.check() IS
    'List hazards that weaken the protection of protected tables, with a suggested fix for each';
