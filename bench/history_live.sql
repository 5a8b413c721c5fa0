-- 3. baseline: all columns of one random tenant's live rows, by the
-- tenant index  (pgbench -D tenants=N)
\set tenant random(0, :tenants - 1)
SELECT * FROM h_items WHERE tenant_id = :tenant;
