-- 1. reference: the hand-written equivalent of what pg_tombstone records, in
-- one statement: the tombstone and a ledger row (issue 18)
\set id random(1, :rows)
WITH u AS (UPDATE d_led SET deleted_at = now() WHERE id = :id AND deleted_at IS NULL RETURNING tenant_id)
INSERT INTO ledger_hand (tbl, tenant, n) SELECT 'd_led', tenant_id::text, 1 FROM u;
