-- 1. reference: DELETE on a table with a PL/pgSQL BEFORE DELETE trigger
\set id random(1, :rows)
DELETE FROM d_trig WHERE id = :id;
