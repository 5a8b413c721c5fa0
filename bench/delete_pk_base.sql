-- 1. baseline: the tombstone written by hand on an unprotected table
\set id random(1, :rows)
UPDATE d_base SET deleted_at = now() WHERE id = :id AND deleted_at IS NULL;
