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
