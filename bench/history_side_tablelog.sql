-- pg_tombstone row history benchmark: make table :tbl the table_log side
-- (Debian package postgresql-15-tablelog).  table_log_init(4, tbl) creates
-- <tbl>_log with the table's columns plus trigger_mode, trigger_tuple,
-- trigger_changed and trigger_id (a bigint primary key from a sequence; its
-- README: "you should use the 4 or 5 column version", and
-- table_log_restore_table() needs it), and an AFTER INSERT OR UPDATE OR
-- DELETE row trigger in C that logs an UPDATE as two rows, the old and the
-- new tuple.
--
--   psql -v ON_ERROR_STOP=1 -v tbl=u_tablelog -f bench/history_side_tablelog.sql

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS table_log;
SELECT table_log_init(4, :'tbl');
SELECT hbench_finish_side(:'tbl');
