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
