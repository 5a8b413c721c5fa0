-- 2. pg_tombstone: DELETE tenant 3 (10% of the rows)
DELETE FROM b_prot WHERE tenant_id = 3;
