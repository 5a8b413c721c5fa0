-- pg_tombstone benchmark: fresh tables protected with the defaults (history
-- on) for one round of comparisons 1 and 2.
--
--   psql -v ON_ERROR_STOP=1 -v rows=1000000 -v tbl=d_hist -f bench/hist_tables.sql
--
-- Run by bench/run.sh before each round.  A tombstone of a table with
-- history is made in place (no history row) only over a row that no change
-- restored before; resetting the table with UPDATE ... SET deleted_at = NULL
-- would restore every row, and the next round would measure the other
-- path.  So each round gets a new table, loaded like the others: a
-- protected table can be neither dropped nor truncated, so the previous
-- one is renamed out of the way (the database is dropped at the end).

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT format('ALTER TABLE %I RENAME TO %I', :'tbl',
              :'tbl' || '_old' || (SELECT count(*) FROM pg_class
                                    WHERE relkind = 'r' AND relname LIKE :'tbl' || '\_old%'))
 WHERE to_regclass(:'tbl') IS NOT NULL \gexec
SELECT bench_create(:'tbl', :rows);
VACUUM (FREEZE, ANALYZE) :"tbl";
SELECT tombstone.protect(:'tbl', 'tenant_id');
-- protect() added valid_from: rewrite the table as loaded
VACUUM (FULL, FREEZE, ANALYZE) :"tbl";
