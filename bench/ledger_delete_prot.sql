-- 6. pg_tombstone: DELETE tenant :tenant from the tenant registry; the
-- extension tombstones its rows in every protected table, as one change.
-- The delete_tenant token is signed before the clock starts and authorised
-- inside it, as a client holding an approved token would.
-- Prints "elapsed_ms <wall-clock ms of the transaction>" and "rows <DELETE n>".
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT tombstone.sign(jsonb_build_object('op', 'delete_tenant', 'tenants', jsonb_build_array(:'tenant'),
                                          'sub', 'bench', 'reason', 'benchmark run'), 'bench') AS token \gset
SELECT clock_timestamp() AS t0 \gset
BEGIN;
SELECT tombstone.authorize(:'token') IS NOT NULL AS authorised \gset
DELETE FROM prot.tenants WHERE id = :tenant;
\set r0 :ROW_COUNT
COMMIT;
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000, 3) AS ms \gset
\echo elapsed_ms :ms
\echo rows :r0
