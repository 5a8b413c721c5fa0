-- 1. reference: DELETE on a table with an ON DELETE DO INSTEAD rule
\set id random(1, :rows)
DELETE FROM d_rule WHERE id = :id;
