-- 4. baseline, last step: in the database pg_restore has just filled, copy
-- tenant :tenant's rows into a schema of their own, as extract_tenant()
-- does.  Prints the command tag "SELECT <rows>".
--
--   psql -v ON_ERROR_STOP=1 -v tenant=42 -f bench/history_restore_select.sql

\set ON_ERROR_STOP 1
CREATE SCHEMA hbench_restored;
CREATE TABLE hbench_restored.h_items AS SELECT * FROM public.h_items WHERE tenant_id = :tenant;
