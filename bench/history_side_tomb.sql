-- pg_tombstone row history benchmark: make table :tbl the pg_tombstone side
-- with row history (tombstone_history.<tbl>, written by its C BEFORE UPDATE
-- trigger).  protect() adds deleted_at, deleted_change and valid_from.
--
--   psql -v ON_ERROR_STOP=1 -v tbl=u_tomb -f bench/history_side_tomb.sql

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\ir require_preloaded.sql
SELECT tombstone.protect(:'tbl', 'tenant_id', history => true);
SELECT hbench_finish_side(:'tbl');
