-- 3. pg_tombstone: primary-key read; the extension adds deleted_at IS NULL
\set id random(1, :rows)
SELECT id, tenant_id, payload, created_at FROM s_prot WHERE id = :id;
