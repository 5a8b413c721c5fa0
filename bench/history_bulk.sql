-- 2. one UPDATE of the 10% of the rows of table :tbl whose id % 10 = :k
-- (run with \timing on; each round a different k)
UPDATE :"tbl" SET payload = md5(payload) WHERE id % 10 = :k;
