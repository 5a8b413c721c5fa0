-- pg_tombstone row history benchmark: make table :tbl the pg_tombstone side
-- without row history (a reference: what protection alone costs an UPDATE).
--
--   psql -v ON_ERROR_STOP=1 -v tbl=u_nohist -f bench/history_side_nohist.sql

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\ir require_preloaded.sql
SELECT tombstone.protect(:'tbl', 'tenant_id', history => false);
SELECT hbench_finish_side(:'tbl');
