-- 2. baseline: tombstone tenant 3 (10% of the rows) by hand
UPDATE b_base SET deleted_at = now() WHERE tenant_id = 3 AND deleted_at IS NULL;
