-- pg_tombstone row history benchmark, comparisons 3 and 4: the table
-- h_items of :tenants tenants with :per_tenant rows each, interleaved
-- (tenant_id = (id - 1) % tenants), primary key and tenant index built
-- after the load.  With -v protect=1 it is protected with row history;
-- protect=0 leaves it an ordinary table (the source of the pg_dump of
-- comparison 4, and comparison 3's live side when pg_tombstone has no row
-- history yet).  history_run.sh then updates 10% of every tenant's rows
-- three times (bench/history_asof_pass.sql) and freezes everything.
--
--   psql -v ON_ERROR_STOP=1 -v tenants=1000 -v per_tenant=1000 -v protect=1 \
--        -f bench/history_asof_setup.sql

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE TABLE h_items (
    id          bigint NOT NULL,
    tenant_id   int NOT NULL,
    payload     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
) WITH (autovacuum_enabled = off);
INSERT INTO h_items (id, tenant_id, payload, created_at)
SELECT g + 1, (g % :tenants)::int, md5(g::text),
       timestamptz '2024-01-01' + g * interval '1 second'
  FROM generate_series(0, :tenants::bigint * :per_tenant - 1) g;
ALTER TABLE h_items ADD PRIMARY KEY (id);
CREATE INDEX ON h_items (tenant_id);
\if :protect
\ir require_preloaded.sql
SELECT tombstone.protect('h_items', 'tenant_id', history => true);
DO $$
BEGIN
    IF to_regclass('tombstone_history.h_items') IS NULL THEN
        RAISE EXCEPTION 'protect(history => true) created no tombstone_history.h_items';
    END IF;
END
$$;
\endif
