-- 2. reference: DELETE tenant 3 through the PL/pgSQL trigger
DELETE FROM b_trig WHERE tenant_id = 3;
