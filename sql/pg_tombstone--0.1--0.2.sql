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
