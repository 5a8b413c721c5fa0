-- 1. UPDATE one row by primary key, side nohist (pgbench -D rows=N)
\set id random(1, :rows)
UPDATE u_nohist SET payload = md5(random()::text) WHERE id = :id;
