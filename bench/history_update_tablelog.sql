-- 1. UPDATE one row by primary key, side tablelog (pgbench -D rows=N)
\set id random(1, :rows)
UPDATE u_tablelog SET payload = md5(random()::text) WHERE id = :id;
