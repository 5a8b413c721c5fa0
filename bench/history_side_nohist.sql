-- pg_tombstone row history benchmark: make table :tbl the pg_tombstone side
-- without row history (a reference: what protection alone costs an UPDATE).
--
--   psql -v ON_ERROR_STOP=1 -v tbl=u_nohist -f bench/history_side_nohist.sql

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
SELECT tombstone.protect(:'tbl', 'tenant_id', history => false);
SELECT hbench_finish_side(:'tbl');
