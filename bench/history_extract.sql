-- 4. tombstone.extract_tenant(): a copy of tenant :tenant's rows in every
-- protected table as of :at (epoch seconds), in the new schema :schema.
-- Prints one line per table: table_name|rows.
--
--   psql -At -v ON_ERROR_STOP=1 -v tenant=42 -v at=1763740001.3 -v schema=hbench_extract_1 \
--        -f bench/history_extract.sql

\set ON_ERROR_STOP 1
SELECT table_name, rows
  FROM tombstone.extract_tenant(:'tenant', to_timestamp(:at), :'schema');
