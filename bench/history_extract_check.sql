-- 4. after extract_tenant(): schema :schema holds exactly the rows
-- tombstone.as_of() returns for tenant :tenant at :at (epoch seconds) --
-- :per_tenant rows, the 10% updated ones as pass 1 left them -- then it is
-- dropped.
--
--   psql -v ON_ERROR_STOP=1 -v schema=hbench_extract_1 -v tenant=42 -v per_tenant=1000 \
--        -v at=1763740001.3 -f bench/history_extract_check.sql

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT set_config('hbench.schema', :'schema', false),
       set_config('hbench.tenant', :'tenant', false),
       set_config('hbench.per_tenant', :'per_tenant', false) \gset
DO $$
DECLARE
    sch        text := current_setting('hbench.schema');
    tenant     int := current_setting('hbench.tenant')::int;
    per_tenant int := current_setting('hbench.per_tenant')::int;
    upd        int := (per_tenant + 8) / 10;
    tbls       text[];
    n          bigint;
    v1         bigint;
    other      bigint;
BEGIN
    SELECT array_agg(c.relname::text ORDER BY c.relname) INTO tbls
      FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
     WHERE s.nspname = sch AND c.relkind IN ('r', 'p');
    -- h_items is the only protected table of the database
    IF coalesce(cardinality(tbls), 0) <> 1 THEN
        RAISE EXCEPTION 'schema % holds the tables %, expected one copy of h_items', sch, tbls;
    END IF;
    EXECUTE format($q$SELECT count(*), count(*) FILTER (WHERE payload LIKE 'v1-%%'),
                             count(*) FILTER (WHERE payload LIKE 'v%%' AND payload NOT LIKE 'v1-%%'
                                              OR tenant_id <> $1)
                        FROM %I.%I$q$, sch, tbls[1])
       INTO n, v1, other USING tenant;
    IF (n, v1, other) IS DISTINCT FROM (per_tenant::bigint, upd::bigint, 0::bigint) THEN
        RAISE EXCEPTION 'extracted %.%: % rows, % of pass 1, % of other passes or tenants; expected %, %, 0',
            sch, tbls[1], n, v1, other, per_tenant, upd;
    END IF;
END
$$;
DROP SCHEMA :"schema" CASCADE;
