-- 2. reference: DELETE tenant 3 through the DO INSTEAD rule
DELETE FROM b_rule WHERE tenant_id = 3;
