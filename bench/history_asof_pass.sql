-- pg_tombstone row history benchmark, comparisons 3 and 4: history pass
-- :pass (1, 2, 3), one transaction: the rows whose index within their
-- tenant is 1 modulo 10 (10% of every tenant's rows) get payload
-- 'v<pass>-<id>'.
--
--   psql -v ON_ERROR_STOP=1 -v tenants=1000 -v pass=1 -f bench/history_asof_pass.sql

\set ON_ERROR_STOP 1
UPDATE h_items SET payload = 'v' || :pass || '-' || id
 WHERE ((id - 1) / :tenants) % 10 = 1;
