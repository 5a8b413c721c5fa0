-- pg_tombstone row history benchmark: make table :tbl the hand-written
-- side, the usual approach without an extension: a valid_from column on the
-- table, a history table <tbl>_history with the table's columns plus
-- valid_to (each version valid over [valid_from, valid_to)) and an index on
-- (tenant_id, valid_to) to read one tenant's history -- the same columns
-- and index as pg_tombstone's history table -- and a PL/pgSQL BEFORE UPDATE row
-- trigger that inserts OLD there and starts the new version's validity.
-- The trigger function is written per table with static SQL, so PL/pgSQL
-- caches the plan of its INSERT, as a hand-written trigger would.
--
--   psql -v ON_ERROR_STOP=1 -v tbl=u_plpgsql -f bench/history_side_plpgsql.sql

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
-- now() is stable, so the column is added without rewriting the table
ALTER TABLE :"tbl" ADD COLUMN valid_from timestamptz NOT NULL DEFAULT now();
SELECT format('CREATE TABLE %I (LIKE %I, valid_to timestamptz NOT NULL)',
              :'tbl' || '_history', :'tbl') \gexec
SELECT format('CREATE INDEX ON %I (tenant_id, valid_to)', :'tbl' || '_history') \gexec
SELECT format($f$
CREATE FUNCTION %1$I() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    INSERT INTO %2$I SELECT OLD.*, now();
    NEW.valid_from := now();
    RETURN NEW;
END
$body$$f$, :'tbl' || '_keep_history', :'tbl' || '_history') \gexec
SELECT format('CREATE TRIGGER keep_history BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION %I()',
              :'tbl', :'tbl' || '_keep_history') \gexec
SELECT hbench_finish_side(:'tbl');
