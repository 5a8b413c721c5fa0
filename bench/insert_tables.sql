-- pg_tombstone benchmark: fresh, empty INSERT tables for one round.
--
-- Run by bench/run.sh before each round's INSERT runs, so that every round
-- inserts into empty tables on both sides.  A protected table can be neither
-- dropped nor truncated (and DELETE only tombstones), so the previous
-- round's pair is renamed out of the way; the database is dropped at the end.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

DO $$
DECLARE
    n int;
BEGIN
    IF to_regclass('i_base') IS NULL THEN
        RETURN;
    END IF;
    SELECT count(*) INTO n FROM pg_class
     WHERE relkind = 'r' AND relname LIKE 'i\_base\_old%';
    EXECUTE format('ALTER TABLE i_base RENAME TO %I', 'i_base_old' || n);
    EXECUTE format('ALTER TABLE i_prot RENAME TO %I', 'i_prot_old' || n);
END
$$;

SELECT bench_create('i_base', 0), bench_create('i_prot', 0);
VACUUM (ANALYZE) i_base, i_prot;
SELECT tombstone.protect('i_prot', 'tenant_id', history => false);
