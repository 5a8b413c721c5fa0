-- 1. UPDATE one row by primary key, side tomb (pgbench -D rows=N)
\set id random(1, :rows)
UPDATE u_tomb SET payload = md5(random()::text) WHERE id = :id;
