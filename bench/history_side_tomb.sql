-- pg_tombstone row history benchmark: make table :tbl the pg_tombstone side
-- with row history (tombstone_history.<tbl>, written by its C BEFORE UPDATE
-- trigger).  protect() adds deleted_at, deleted_change and valid_from.
--
--   psql -v ON_ERROR_STOP=1 -v tbl=u_tomb -f bench/history_side_tomb.sql

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_tombstone;
DO $$
BEGIN
    IF NOT tombstone._preloaded() THEN
        RAISE EXCEPTION 'pg_tombstone is not in shared_preload_libraries of this server';
    END IF;
END
$$;
SELECT tombstone.protect(:'tbl', 'tenant_id', history => true);
SELECT hbench_finish_side(:'tbl');
