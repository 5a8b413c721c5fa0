-- pg_tombstone benchmark, comparisons 5 and 6: before the first round and
-- after the last, both sides hold every row they were loaded with, none
-- tombstoned, with the same definitions, and the ledger has :changes
-- entries (two per round).  See ledger_verify() in bench/ledger_setup.sql.
--
--   psql -v ON_ERROR_STOP=1 -v tenants=10 -v per_tenant=100000 -v changes=0 -f bench/ledger_sanity.sql

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT ledger_verify(:tenants, :per_tenant, :changes);
