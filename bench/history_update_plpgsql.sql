-- 1. UPDATE one row by primary key, side plpgsql (pgbench -D rows=N)
\set id random(1, :rows)
UPDATE u_plpgsql SET payload = md5(random()::text) WHERE id = :id;
