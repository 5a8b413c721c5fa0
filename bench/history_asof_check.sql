-- pg_tombstone row history benchmark, comparisons 3 and 4: h_items holds
-- what bench/history_asof_pass.sql made of it, and (with -v tomb=1)
-- tombstone.as_of() returns each tenant's rows as they were: at :at0
-- (before pass 1) the loaded rows, at :at (between passes 1 and 2) the
-- rows of pass 1, and the history table holds the three passes' versions.
-- Checked for the first, the last and a middle tenant, and for :tenant.
-- Times are epoch seconds.
--
--   psql -v ON_ERROR_STOP=1 -v tenants=1000 -v per_tenant=1000 -v tomb=1 \
--        -v at0=1763740000.1 -v at=1763740001.3 -v tenant=42 -f bench/history_asof_check.sql

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT set_config('hbench.tenants', :'tenants', false),
       set_config('hbench.per_tenant', :'per_tenant', false),
       set_config('hbench.tomb', :'tomb', false),
       set_config('hbench.at0', :'at0', false),
       set_config('hbench.at', :'at', false),
       set_config('hbench.tenant', :'tenant', false) \gset
DO $$
DECLARE
    tenants    int := current_setting('hbench.tenants')::int;
    per_tenant int := current_setting('hbench.per_tenant')::int;
    tomb       boolean := current_setting('hbench.tomb')::int = 1;
    at0        timestamptz := to_timestamp(current_setting('hbench.at0')::float8);
    at         timestamptz := to_timestamp(current_setting('hbench.at')::float8);
    -- updated rows per tenant: indexes 0 .. per_tenant - 1 that are 1 mod 10
    upd        int := (per_tenant + 8) / 10;
    t          int;
    n          bigint;
    v1         bigint;
    v3         bigint;
    other      bigint;
BEGIN
    IF (SELECT count(*) FROM h_items) <> tenants::bigint * per_tenant THEN
        RAISE EXCEPTION 'h_items has % rows, expected %',
            (SELECT count(*) FROM h_items), tenants::bigint * per_tenant;
    END IF;
    IF tomb THEN
        -- dynamic: without pg_tombstone's history the table does not exist
        EXECUTE 'SELECT count(*) FROM tombstone_history.h_items' INTO n;
        IF n <> 3::bigint * tenants * upd THEN
            RAISE EXCEPTION 'tombstone_history.h_items has % versions, expected %',
                n, 3::bigint * tenants * upd;
        END IF;
    END IF;
    FOREACH t IN ARRAY ARRAY[0, tenants / 2, tenants - 1,
                             current_setting('hbench.tenant')::int] LOOP
        SELECT count(*), count(*) FILTER (WHERE payload LIKE 'v3-%'),
               count(*) FILTER (WHERE payload LIKE 'v%' AND payload NOT LIKE 'v3-%')
          INTO n, v3, other
          FROM h_items WHERE tenant_id = t;
        IF (n, v3, other) IS DISTINCT FROM (per_tenant::bigint, upd::bigint, 0::bigint) THEN
            RAISE EXCEPTION 'live rows of tenant %: % rows, % of pass 3, % of other passes; expected %, %, 0',
                t, n, v3, other, per_tenant, upd;
        END IF;
        CONTINUE WHEN NOT tomb;

        SELECT count(*), count(*) FILTER (WHERE payload LIKE 'v1-%'),
               count(*) FILTER (WHERE payload LIKE 'v%' AND payload NOT LIKE 'v1-%')
          INTO n, v1, other
          FROM tombstone.as_of(NULL::h_items, t::text, at) a
         WHERE a.tenant_id = t;
        IF (n, v1, other) IS DISTINCT FROM (per_tenant::bigint, upd::bigint, 0::bigint) THEN
            RAISE EXCEPTION 'as_of(tenant %, between passes 1 and 2): % rows, % of pass 1, % of other passes; expected %, %, 0',
                t, n, v1, other, per_tenant, upd;
        END IF;
        SELECT count(*) INTO n FROM tombstone.as_of(NULL::h_items, t::text, at);
        IF n <> per_tenant THEN
            RAISE EXCEPTION 'as_of(tenant %) returned % rows, % of them of that tenant', t, n, per_tenant;
        END IF;

        SELECT count(*), count(*) FILTER (WHERE payload LIKE 'v%')
          INTO n, other
          FROM tombstone.as_of(NULL::h_items, t::text, at0) a
         WHERE a.tenant_id = t;
        IF (n, other) IS DISTINCT FROM (per_tenant::bigint, 0::bigint) THEN
            RAISE EXCEPTION 'as_of(tenant %, before pass 1): % rows, % of some pass; expected %, 0',
                t, n, other, per_tenant;
        END IF;
    END LOOP;
END
$$;
