-- pg_tombstone benchmarks: install the extension in this database and stop
-- unless the server preloads the library (without it a protected table
-- refuses DELETE instead of tombstoning, and nothing would be measured).
-- Included with \ir by the set-up scripts of bench/.

CREATE EXTENSION IF NOT EXISTS pg_tombstone;
DO $$
BEGIN
    IF NOT tombstone._preloaded() THEN
        RAISE EXCEPTION 'pg_tombstone is not in shared_preload_libraries of this server';
    END IF;
END
$$;
