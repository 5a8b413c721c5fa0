-- pg_tombstone benchmark: before timing anything, check that every variant
-- does what its row in the report claims.  Everything is rolled back.
--
--   psql -v ON_ERROR_STOP=1 -f bench/sanity.sql

\set ON_ERROR_STOP 1
BEGIN;
DO $$
DECLARE
    n    bigint;
    t    text;
    live boolean;
BEGIN
    IF NOT tombstone._preloaded() THEN
        RAISE EXCEPTION 'pg_tombstone is not preloaded';
    END IF;
    IF (SELECT count(*) FROM tombstone.protected_tables
         WHERE table_name::text IN ('d_prot', 'b_prot', 's_prot', 'i_prot')
           AND history_table IS NULL) <> 4
       OR (SELECT count(*) FROM tombstone.protected_tables
            WHERE table_name::text IN ('d_hist', 'b_hist')
              AND history_table IS NOT NULL) <> 2
       OR EXISTS (SELECT FROM tombstone.protected_tables
                   WHERE table_name::text ~ '^[dbsi]_(base|trig|rule|led)$') THEN
        RAISE EXCEPTION 'the wrong tables are protected';
    END IF;

    -- DELETE by primary key tombstones exactly one row on every variant, and
    -- the hand-written UPDATE of the baseline does the same
    FOREACH t IN ARRAY ARRAY['d_base', 'd_prot', 'd_trig', 'd_rule', 'd_hist', 'd_led'] LOOP
        IF t = 'd_base' THEN
            EXECUTE 'UPDATE d_base SET deleted_at = now() WHERE id = 42 AND deleted_at IS NULL';
        ELSIF t = 'd_led' THEN
            EXECUTE 'WITH u AS (UPDATE d_led SET deleted_at = now() WHERE id = 42 AND deleted_at IS NULL RETURNING tenant_id)
                     INSERT INTO ledger_hand (tbl, tenant, n) SELECT ''d_led'', tenant_id::text, 1 FROM u';
        ELSE
            EXECUTE format('DELETE FROM %I WHERE id = 42', t);
        END IF;
        GET DIAGNOSTICS n = ROW_COUNT;
        -- a trigger returning NULL and a DO INSTEAD rule report 0 rows
        IF n <> (CASE WHEN t IN ('d_trig', 'd_rule') THEN 0 ELSE 1 END) THEN
            RAISE EXCEPTION 'deleting id 42 from % reported % rows', t, n;
        END IF;
        PERFORM set_config('tombstone.visibility', 'all', true);
        EXECUTE format('SELECT count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM %I WHERE id = 42', t)
           INTO n;
        IF n <> 1 THEN
            RAISE EXCEPTION 'id 42 of % was not tombstoned', t;
        END IF;
        EXECUTE format('SELECT count(*) FROM %I', t) INTO n;
        IF n <> (SELECT count(*) FROM d_base) THEN
            RAISE EXCEPTION '% lost rows', t;
        END IF;
        PERFORM set_config('tombstone.visibility', 'live', true);
    END LOOP;

    -- the hand-written ledger got its row; the table with history kept no
    -- old version for the tombstone (it carries it in place)
    IF (SELECT count(*) FROM ledger_hand WHERE tenant = '2') <> 1 THEN
        RAISE EXCEPTION 'the hand-written ledger row of d_led is missing';
    END IF;
    EXECUTE format('SELECT count(*) FROM %s',
                   (SELECT history_table FROM tombstone.protected_tables
                     WHERE table_name = 'd_hist'::regclass)) INTO n;
    IF n <> 0 THEN
        RAISE EXCEPTION 'the tombstone of d_hist wrote % history rows', n;
    END IF;

    -- the protected table hides the tombstone, as the baseline's qual does
    EXECUTE 'SELECT count(*) FROM d_prot WHERE id = 42' INTO n;
    IF n <> 0 THEN
        RAISE EXCEPTION 'the tombstone of d_prot is not hidden';
    END IF;

    -- both SELECT tables see the same live rows
    EXECUTE 'SELECT count(*) FROM s_prot' INTO n;
    IF n <> (SELECT count(*) FROM s_base WHERE deleted_at IS NULL) THEN
        RAISE EXCEPTION 's_prot and s_base differ in live rows';
    END IF;

    -- INSERT works on both sides
    INSERT INTO i_base (tenant_id, payload) VALUES (1, 'sanity');
    INSERT INTO i_prot (tenant_id, payload) VALUES (1, 'sanity');
END
$$;
ROLLBACK;
