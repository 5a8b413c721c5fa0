-- 3. tombstone.as_of(): all columns of one random tenant's rows as they
-- were at :at (epoch seconds)  (pgbench -D tenants=N -D at=EPOCH)
\set tenant random(0, :tenants - 1)
SELECT * FROM tombstone.as_of(NULL::h_items, :tenant::text, to_timestamp(:at));
