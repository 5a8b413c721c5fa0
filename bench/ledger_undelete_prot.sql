-- 5. pg_tombstone: undo change :change (the deletion of tenant :tenant)
-- with tombstone.undelete_change().
-- Prints "elapsed_ms <wall-clock ms of the call>" and "rows <its result>".
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT clock_timestamp() AS t0 \gset
SELECT tombstone.undelete_change(:change) AS r0 \gset
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000, 3) AS ms \gset
\echo elapsed_ms :ms
\echo rows :r0
