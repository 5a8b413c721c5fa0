-- pg_tombstone row history benchmark: before timing anything, an UPDATE
-- of one row of table :tbl keeps exactly its previous version on a
-- versioned side (hbench_sanity() in bench/history_setup.sql).  Rolled back.
--
--   psql -v ON_ERROR_STOP=1 -v tbl=u_tomb -f bench/history_sanity.sql

\set ON_ERROR_STOP 1
BEGIN;
SELECT hbench_sanity(:'tbl');
ROLLBACK;
