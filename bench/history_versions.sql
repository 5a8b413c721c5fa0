-- pg_tombstone row history benchmark: print "versions <n>", the number of
-- previous row versions kept for table :tbl ("versions " when its side
-- keeps none).
--
--   psql -v ON_ERROR_STOP=1 -v tbl=u_tomb -f bench/history_versions.sql

\set ON_ERROR_STOP 1
SELECT coalesce(hbench_versions(:'tbl')::text, '') AS v \gset
\echo versions :v
