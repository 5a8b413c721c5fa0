-- 1. UPDATE one row by primary key, side plain (pgbench -D rows=N)
\set id random(1, :rows)
UPDATE u_plain SET payload = md5(random()::text) WHERE id = :id;
