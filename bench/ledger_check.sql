-- pg_tombstone benchmark, comparisons 5 and 6: after a timed run, the rows
-- of tenant :tenant in schema :sch are all tombstoned (state 'deleted') or
-- all live (state 'live'), and there are as many as loaded.  On the
-- protected side (op given), the latest ledger entry is change of operation
-- :op (undoing change :undoes, 0 for none) that changed exactly those rows;
-- its id is printed as "change <id>".
--
--   psql -v ON_ERROR_STOP=1 -v sch=prot -v tenant=3 -v per_tenant=100000 \
--        -v state=deleted -v op=delete_tenant -v undoes=0 -f bench/ledger_check.sql

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET tombstone.visibility = 'all';
SELECT bool_and(r.total = s.n AND r.tombstoned = CASE WHEN :'state' = 'deleted' THEN s.n ELSE 0 END) AS state_ok,
       string_agg(format('%s: %s of %s rows tombstoned', r.tbl, r.tombstoned, r.total), ', ') AS state_detail
  FROM ledger_tenant_rows(:'sch', :tenant) r
  JOIN (SELECT tbl, n FROM ledger_shares(:per_tenant) UNION ALL SELECT 'tenants', 1) s USING (tbl) \gset
\if :state_ok
\else
\warn 'ledger check: the rows of tenant' :tenant 'in schema' :sch 'are not all' :state ':' :state_detail
SELECT 1/0 AS ledger_check_failed;
\endif
\if :{?op}
SELECT ledger_check_change(:'op', :tenant, :per_tenant, nullif(:undoes, 0)) AS change \gset
\echo change :change
\endif
