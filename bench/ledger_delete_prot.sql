-- 6. pg_tombstone: DELETE tenant :tenant from the tenant registry; the
-- extension tombstones its rows in every protected table, as one change.
-- Prints "elapsed_ms <wall-clock ms of the statement>" and "rows <DELETE n>".
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT clock_timestamp() AS t0 \gset
DELETE FROM prot.tenants WHERE id = :tenant;
\set r0 :ROW_COUNT
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000, 3) AS ms \gset
\echo elapsed_ms :ms
\echo rows :r0
