-- pg_tombstone benchmark, comparisons 5 and 6: vacuum the six tables of
-- one side before a timed run, as bench/reset.sql does for comparison 2.
--
--   psql -v ON_ERROR_STOP=1 -v sch=prot -f bench/ledger_vacuum.sql

\set ON_ERROR_STOP 1
VACUUM (ANALYZE) :"sch".tenants, :"sch".projects, :"sch".tasks, :"sch".comments,
                 :"sch".documents, :"sch".events;
