-- 2. pg_tombstone with its defaults (history on): DELETE tenant 3 (10% of the rows)
DELETE FROM b_hist WHERE tenant_id = 3;
