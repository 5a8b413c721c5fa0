-- 1. pg_tombstone: a plain DELETE, turned into the tombstone by the planner
\set id random(1, :rows)
DELETE FROM d_prot WHERE id = :id;
