-- Tombstoned rows are hidden from every read and write of a protected table
\set QUIET off
\set SHOW_CONTEXT never
\set VERBOSITY default

CREATE TABLE customers (id int PRIMARY KEY, tenant_id int NOT NULL, name text);
-- ON DELETE SET NULL: a live invoice keeps referring to its tombstoned
-- customer (which still exists), so an undelete brings the pair back
CREATE TABLE invoices (id int PRIMARY KEY, tenant_id int NOT NULL,
                       customer_id int REFERENCES customers ON DELETE SET NULL,
                       amount int);
INSERT INTO customers VALUES (1, 1, 'alpha'), (2, 1, 'beta'), (3, 2, 'gamma');
INSERT INTO invoices VALUES (10, 1, 1, 100), (11, 1, 2, 200), (12, 2, 3, 300);
SELECT tombstone.protect('customers', 'tenant_id');
SELECT tombstone.protect('invoices', 'tenant_id');
DELETE FROM customers WHERE id = 2;
DELETE FROM invoices WHERE id = 12;

SELECT id, name FROM customers ORDER BY id;
SELECT i.id, c.name FROM invoices i JOIN customers c ON c.id = i.customer_id ORDER BY i.id;
-- an outer join keeps its outer rows: invoice 11 stays, without its customer
SELECT i.id, c.name FROM invoices i LEFT JOIN customers c ON c.id = i.customer_id ORDER BY i.id;
SELECT c.id, i.id AS invoice FROM invoices i RIGHT JOIN customers c ON c.id = i.customer_id ORDER BY c.id;
SELECT c.id, i.id AS invoice FROM invoices i FULL JOIN customers c ON c.id = i.customer_id ORDER BY c.id, i.id;
SELECT id FROM invoices WHERE customer_id IN (SELECT id FROM customers) ORDER BY id;
SELECT id FROM invoices i WHERE EXISTS (SELECT 1 FROM customers c WHERE c.id = i.customer_id) ORDER BY id;
SELECT id FROM invoices i WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = i.customer_id) ORDER BY id;
SELECT id, (SELECT name FROM customers c WHERE c.id = i.customer_id) FROM invoices i ORDER BY id;
SELECT id FROM customers UNION ALL SELECT id FROM invoices ORDER BY 1;
SELECT count(*) FROM (SELECT * FROM customers UNION SELECT * FROM customers) u;
CREATE FUNCTION all_customers() RETURNS SETOF customers LANGUAGE sql STABLE AS 'SELECT * FROM customers';
SELECT id FROM all_customers() ORDER BY id;
CREATE VIEW customer_names AS SELECT id, name FROM customers;
SELECT * FROM customer_names ORDER BY id;
SELECT tenant_id, count(*) FROM customers GROUP BY tenant_id ORDER BY 1;

-- writes: UPDATE does not reach a tombstoned row, FK checks do not see it
UPDATE customers SET name = 'changed' WHERE id = 2;
UPDATE customers SET name = upper(name);
INSERT INTO invoices VALUES (13, 1, 2, 50);
INSERT INTO invoices VALUES (13, 1, 1, 50);
INSERT INTO customers VALUES (4, 1, 'delta') ON CONFLICT (id) DO NOTHING;
-- a tombstoned row still holds its key (tombstone.check() reports such keys)
INSERT INTO customers VALUES (2, 1, 'again') ON CONFLICT (id) DO NOTHING;
SELECT id, name FROM customers ORDER BY id;

-- COPY of the table is a physical export and keeps everything;
-- COPY of a query is a query
COPY customers (id, name) TO STDOUT;
COPY (SELECT id, name FROM customers ORDER BY id) TO STDOUT;

-- the GUC
SET tombstone.visibility = 'all';
SELECT id, name, deleted_at IS NOT NULL AS tombstoned FROM customers ORDER BY id;
SET tombstone.visibility = 'deleted';
SELECT id, name FROM customers ORDER BY id;
SET tombstone.visibility = 'nonsense';
RESET tombstone.visibility;

-- a visibility change reaches cached plans at once
SET plan_cache_mode = force_generic_plan;
PREPARE count_customers AS SELECT count(*) FROM customers;
EXECUTE count_customers;
SET tombstone.visibility = 'all';
EXECUTE count_customers;
RESET tombstone.visibility;
EXECUTE count_customers;
RESET plan_cache_mode;
CREATE FUNCTION count_customers() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    SELECT count(*) INTO n FROM customers;
    RETURN n;
END $$;
SELECT count_customers();
SET tombstone.visibility = 'deleted';
SELECT count_customers();
RESET tombstone.visibility;
SELECT count_customers();

-- with visibility 'all' a DELETE still tombstones only live rows
SET tombstone.visibility = 'all';
DELETE FROM customers WHERE id IN (1, 2);
SELECT id, deleted_at IS NOT NULL AS tombstoned FROM customers ORDER BY id;
RESET tombstone.visibility;

-- a plan cached before protect() is re-planned after it
CREATE TABLE late (id int PRIMARY KEY, tenant_id int);
INSERT INTO late VALUES (1, 1), (2, 1);
PREPARE del_late(int) AS DELETE FROM late WHERE id = $1;
PREPARE count_late AS SELECT count(*) FROM late;
EXECUTE count_late;
SELECT tombstone.protect('late', 'tenant_id');
EXECUTE del_late(1);
EXECUTE count_late;
SET tombstone.visibility = 'all';
SELECT id, deleted_at IS NOT NULL AS tombstoned FROM late ORDER BY id;
RESET tombstone.visibility;

-- undoing by hand: setting deleted_at back to NULL makes the row visible
SET tombstone.visibility = 'deleted';
UPDATE customers SET deleted_at = NULL WHERE id = 2;
RESET tombstone.visibility;
SELECT id, name FROM customers ORDER BY id;

-- an inlined SQL function whose body is a UNION ALL of protected tables
CREATE TABLE archive_a (id int PRIMARY KEY, tenant_id int);
CREATE TABLE archive_b (id int PRIMARY KEY, tenant_id int);
INSERT INTO archive_a VALUES (1, 1), (2, 1);
INSERT INTO archive_b VALUES (1, 1), (2, 1);
SELECT tombstone.protect('archive_a', 'tenant_id');
SELECT tombstone.protect('archive_b', 'tenant_id');
DELETE FROM archive_a WHERE id = 1;
DELETE FROM archive_b WHERE id = 1;
CREATE FUNCTION archives() RETURNS SETOF archive_a LANGUAGE sql STABLE
  AS 'SELECT * FROM archive_a UNION ALL SELECT * FROM archive_b';
SELECT id FROM archives() ORDER BY id;

-- a partition protected on its own, read and deleted through its
-- unprotected parent
CREATE TABLE ledger (id int, tenant_id int NOT NULL, deleted_at timestamptz,
                     deleted_change bigint) PARTITION BY LIST (tenant_id);
CREATE TABLE ledger_1 PARTITION OF ledger FOR VALUES IN (1);
CREATE TABLE ledger_2 PARTITION OF ledger FOR VALUES IN (2);
INSERT INTO ledger (id, tenant_id) VALUES (1, 1), (2, 1), (3, 2);
SELECT tombstone.protect('ledger_1', 'tenant_id', history => false);
DELETE FROM ledger_1 WHERE id = 1;
SELECT id FROM ledger ORDER BY id;
DELETE FROM ledger WHERE id = 2;
\echo :SQLSTATE
SELECT id FROM ledger_1 ORDER BY id;
