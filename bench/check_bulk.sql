-- pg_tombstone benchmark: after the bulk DELETE of tenant 3 on table :tbl,
-- exactly the rows of tenant 3 are tombstoned and none is gone.
--
--   psql -v ON_ERROR_STOP=1 -v tbl=b_prot -v rows=1000000 -f bench/check_bulk.sql

\set ON_ERROR_STOP 1
SET tombstone.visibility = 'all';
SELECT count(*) = :rows
       AND bool_and((deleted_at IS NOT NULL) = (tenant_id = 3)) AS bulk_ok
  FROM :"tbl" \gset
\if :bulk_ok
\else
\warn 'bulk DELETE on table' :tbl 'did not tombstone exactly the rows of tenant 3'
SELECT 1/0 AS bulk_check_failed;
\endif
