-- 4. baseline: INSERT into an unprotected table
\set tenant random(1, 10)
INSERT INTO i_base (tenant_id, payload) VALUES (:tenant, 'inserted by pgbench');
