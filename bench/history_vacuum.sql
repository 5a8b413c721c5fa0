-- pg_tombstone row history benchmark: bring one table of comparisons 1 and
-- 2 back to the physical state of its load before a timed run: rewritten
-- and frozen (VACUUM FULL: packed pages, no free space), then vacuumed and
-- analyzed; its side's history table is vacuumed (it only grows).
--
-- Why the rewrite: after a plain VACUUM the space freed by the previous
-- round's updates lets the next round's updates stay on their page (HOT,
-- no index entries) or not, depending on where the freed space fell: one
-- UPDATE of 10% of a plain table took 950, 490, 950, 290, 510 ms in five
-- successive rounds, with 0%, 90%, 0%, 99%, 80% HOT updates.  How that
-- alternates depends on the width of each side's rows, which would make
-- the ratios depend on the round.  From packed pages, every run of every
-- side does what a freshly loaded table does.
--
--   psql -v ON_ERROR_STOP=1 -v tbl=b_tomb -f bench/history_vacuum.sql

\set ON_ERROR_STOP 1
VACUUM (FULL, FREEZE) :"tbl";
VACUUM (FREEZE, ANALYZE) :"tbl";
SELECT format('VACUUM (ANALYZE) %s', h) FROM hbench_history(:'tbl') AS h WHERE h IS NOT NULL \gexec
