-- 5. baseline: restore tenant :tenant by hand on the unprotected tables, in
-- one transaction: its own row, then its rows in the five tables.
-- Prints "elapsed_ms <wall-clock ms from before BEGIN to after COMMIT>" and
-- "rows <row count of each UPDATE>".
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT clock_timestamp() AS t0 \gset
BEGIN;
UPDATE base.tenants   SET deleted_at = NULL WHERE id = :tenant AND deleted_at IS NOT NULL;
\set r0 :ROW_COUNT
UPDATE base.projects  SET deleted_at = NULL WHERE tenant_id = :tenant AND deleted_at IS NOT NULL;
\set r1 :ROW_COUNT
UPDATE base.tasks     SET deleted_at = NULL WHERE tenant_id = :tenant AND deleted_at IS NOT NULL;
\set r2 :ROW_COUNT
UPDATE base.comments  SET deleted_at = NULL WHERE tenant_id = :tenant AND deleted_at IS NOT NULL;
\set r3 :ROW_COUNT
UPDATE base.documents SET deleted_at = NULL WHERE tenant_id = :tenant AND deleted_at IS NOT NULL;
\set r4 :ROW_COUNT
UPDATE base.events    SET deleted_at = NULL WHERE tenant_id = :tenant AND deleted_at IS NOT NULL;
\set r5 :ROW_COUNT
COMMIT;
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000, 3) AS ms \gset
\echo elapsed_ms :ms
\echo rows :r0 :r1 :r2 :r3 :r4 :r5
