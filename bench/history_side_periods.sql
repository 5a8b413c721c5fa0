-- pg_tombstone row history benchmark: make table :tbl the periods side
-- (Debian package postgresql-15-periods, which needs btree_gist): SQL:2011
-- system versioning.  add_system_time_period() adds system_time_start and
-- system_time_end with their checks and a BEFORE trigger that sets them;
-- add_system_versioning() creates <tbl>_history (the table's columns, no
-- index) and the AFTER trigger that writes the previous version there.
--
--   psql -v ON_ERROR_STOP=1 -v tbl=u_periods -f bench/history_side_periods.sql

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS periods CASCADE;
SELECT periods.add_system_time_period(:'tbl');
SELECT periods.add_system_versioning(:'tbl');
SELECT hbench_finish_side(:'tbl');
