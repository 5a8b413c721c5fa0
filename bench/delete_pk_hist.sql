-- 1. pg_tombstone with its defaults (history on): a plain DELETE
\set id random(1, :rows)
DELETE FROM d_hist WHERE id = :id;
