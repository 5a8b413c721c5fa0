-- 3. baseline: primary-key read, live rows only, written by hand
\set id random(1, :rows)
SELECT id, tenant_id, payload, created_at FROM s_base WHERE id = :id AND deleted_at IS NULL;
