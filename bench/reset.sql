-- pg_tombstone benchmark: bring one table back to its loaded state.
--
--   psql -v ON_ERROR_STOP=1 -v tbl=d_prot -f bench/reset.sql
--
-- Un-tombstones every row (visibility 'all', because a protected table hides
-- its tombstones; UPDATE ... SET deleted_at = NULL is allowed on it) and
-- vacuums, so that every round starts from the same state on both sides.

\set ON_ERROR_STOP 1
SET tombstone.visibility = 'all';
UPDATE :"tbl" SET deleted_at = NULL WHERE deleted_at IS NOT NULL;
VACUUM (ANALYZE) :"tbl";
