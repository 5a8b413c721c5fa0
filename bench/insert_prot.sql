-- 4. pg_tombstone: INSERT into a protected table
\set tenant random(1, 10)
INSERT INTO i_prot (tenant_id, payload) VALUES (:tenant, 'inserted by pgbench');
