-- pg_tombstone: every destructive path is refused with its own SQLSTATE and
-- leaves the rows (live and tombstoned) as they were; DELETE under
-- session_replication_role = replica still tombstones; an UPDATE that moves
-- rows between partitions keeps them.
--
-- "Rows intact" compares a fingerprint (row count and md5 of every row, read
-- with tombstone.visibility = 'all') of every table of this file with the one
-- taken before the first destructive command.

\set ECHO none
\set QUIET 1
BEGIN;
-- multi-tenant deletes here test what DELETE does; the token guard has its own tests
SET LOCAL tombstone.guard = off;
SET LOCAL client_min_messages = warning;
SELECT plan(108);

--------------------------------------------------------------------------
-- Fixture
--------------------------------------------------------------------------

CREATE TABLE ds_plain (
    tenant int  NOT NULL,
    id     int  NOT NULL,
    val    text NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE TABLE ds_part (
    tenant int  NOT NULL,
    id     int  NOT NULL,
    val    text NOT NULL,
    PRIMARY KEY (tenant, id)
) PARTITION BY LIST (tenant);
CREATE TABLE ds_part_t1 PARTITION OF ds_part FOR VALUES IN (1);
CREATE TABLE ds_part_t2 PARTITION OF ds_part FOR VALUES IN (2);

-- an unprotected table referenced by a protected one
CREATE TABLE ds_unprot (id int PRIMARY KEY);
CREATE TABLE ds_child (
    tenant int NOT NULL,
    id     int PRIMARY KEY,
    uid    int NOT NULL REFERENCES ds_unprot
);

-- inheritance: the child is created after protect() and adopted
CREATE TABLE ds_inh_parent (tenant int NOT NULL, id int NOT NULL, val text);

-- a protected table in a schema of its own
CREATE SCHEMA ds_schema;
CREATE TABLE ds_schema.t (tenant int NOT NULL, id int NOT NULL);

-- a protected table owned by a role of its own
CREATE ROLE tb_destructive_owner NOLOGIN;
CREATE TABLE ds_owned (tenant int NOT NULL, id int NOT NULL);
ALTER TABLE ds_owned OWNER TO tb_destructive_owner;

-- a protected table whose tenant column has a domain type
CREATE DOMAIN ds_tenant_id AS int;
CREATE TABLE ds_dom (tenant ds_tenant_id NOT NULL, id int NOT NULL);

SELECT lives_ok($$SELECT tombstone.protect(r, 'tenant')
                    FROM unnest('{ds_plain,ds_part,ds_child,ds_inh_parent,ds_schema.t,ds_owned,ds_dom}'::regclass[]) r$$,
                'protect the fixture tables');
CREATE TABLE ds_inh_child (extra int) INHERITS (ds_inh_parent);

SELECT results_eq(
    $$SELECT table_name::text, protected_through::text FROM tombstone.protected_tables
       WHERE table_name::text LIKE 'ds\_%' ORDER BY 1$$,
    $$VALUES ('ds_child', NULL), ('ds_dom', NULL), ('ds_inh_child', 'ds_inh_parent'),
             ('ds_inh_parent', NULL), ('ds_owned', NULL), ('ds_part', NULL),
             ('ds_part_t1', 'ds_part'), ('ds_part_t2', 'ds_part'), ('ds_plain', NULL),
             ('ds_schema.t', NULL)$$,
    'fixture tables are protected, the inheritance child through its parent');
SELECT results_eq(
    $$SELECT tgname::text COLLATE "default", tgenabled::text FROM pg_trigger
       WHERE tgrelid = 'ds_inh_child'::regclass
         AND tgname IN ('tombstone_guard_delete', 'tombstone_guard_truncate') ORDER BY 1$$,
    $$VALUES ('tombstone_guard_delete', 'A'), ('tombstone_guard_truncate', 'A')$$,
    'the adopted inheritance child has the guard triggers, firing always');

INSERT INTO ds_plain SELECT t, i, format('p%s-%s', t, i) FROM generate_series(1, 2) t, generate_series(1, 5) i;
INSERT INTO ds_part SELECT 1, i, format('a%s', i) FROM generate_series(1, 5) i;
INSERT INTO ds_part SELECT 2, i, format('b%s', i) FROM generate_series(11, 15) i;
INSERT INTO ds_unprot SELECT generate_series(1, 3);
INSERT INTO ds_child SELECT 1, i, i FROM generate_series(1, 3) i;
INSERT INTO ds_inh_parent VALUES (1, 1, 'parent 1'), (1, 2, 'parent 2');
INSERT INTO ds_inh_child (tenant, id, val, extra) VALUES (1, 3, 'child 3', 0), (1, 4, 'child 4', 0);
INSERT INTO ds_schema.t VALUES (1, 1), (1, 2);
INSERT INTO ds_owned VALUES (1, 1), (1, 2);
INSERT INTO ds_dom VALUES (1, 1), (1, 2);

-- one tombstone in most tables: tombstoned rows must survive as well
DELETE FROM ds_plain WHERE tenant = 1 AND id = 5;
DELETE FROM ds_part WHERE tenant = 1 AND id = 5;
DELETE FROM ds_child WHERE id = 3;
DELETE FROM ds_inh_parent WHERE id IN (2, 4);
DELETE FROM ds_schema.t WHERE id = 2;
DELETE FROM ds_owned WHERE id = 2;
DELETE FROM ds_dom WHERE id = 2;

-- Fingerprint of every fixture table: physical row count and md5 of the
-- rows, tombstones included.  A table that no longer exists shows as such.
CREATE FUNCTION ds_fp() RETURNS text
LANGUAGE plpgsql
SET tombstone.visibility = 'all'
AS $$
DECLARE
    name text;
    rel  regclass;
    n    bigint;
    h    text;
    fp   text := '';
BEGIN
    FOREACH name IN ARRAY ARRAY['ds_plain', 'ds_part', 'ds_part_t1', 'ds_part_t2', 'ds_unprot',
                                'ds_child', 'ds_inh_parent', 'ds_inh_child', 'ds_schema.t',
                                'ds_owned', 'ds_dom']
    LOOP
        rel := to_regclass(name);
        IF rel IS NULL THEN
            fp := fp || name || '=missing ';
            CONTINUE;
        END IF;
        EXECUTE format('SELECT count(*), md5(coalesce(string_agg(x::text, %L ORDER BY x::text), %L)) FROM %s x',
                       ';', '', rel)
           INTO n, h;
        fp := fp || format('%s=%s/%s ', name, n, h);
    END LOOP;
    RETURN fp;
END
$$;

CREATE TABLE ds_before AS SELECT ds_fp() AS fp;
CREATE TABLE ds_triggers_before AS
    SELECT tgrelid::regclass::text AS rel, tgname::text COLLATE "default" AS tgname,
           tgenabled::text AS tgenabled, tgfoid::regproc::text AS func
      FROM pg_trigger
     WHERE tgname LIKE 'tombstone\_%' AND tgrelid::regclass::text LIKE 'ds\_%';

-- the fingerprint really counts tombstoned rows
SELECT is((SELECT fp FROM ds_before) ~ 'ds_plain=10/' AND (SELECT fp FROM ds_before) ~ 'ds_part=10/'
          AND (SELECT fp FROM ds_before) ~ 'ds_inh_parent=4/',
          true, 'fingerprint counts tombstoned rows too');

--------------------------------------------------------------------------
-- TRUNCATE
--------------------------------------------------------------------------

SELECT throws_ok('TRUNCATE ds_plain', 'TB003', NULL, 'TRUNCATE of a protected table is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'TRUNCATE: rows intact');

SELECT throws_ok('TRUNCATE ONLY ds_plain', 'TB003', NULL, 'TRUNCATE ONLY of a protected table is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'TRUNCATE ONLY: rows intact');

SELECT throws_ok('TRUNCATE ds_part', 'TB003', NULL, 'TRUNCATE of a protected partitioned table is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'TRUNCATE partitioned table: rows intact');

SELECT throws_ok('TRUNCATE ds_part_t1', 'TB003', NULL, 'TRUNCATE of a single partition is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'TRUNCATE partition: rows intact');

SELECT throws_ok('TRUNCATE ds_unprot CASCADE', 'TB003', NULL,
                 'TRUNCATE CASCADE of an unprotected table reaching a protected one by FK is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'TRUNCATE CASCADE: rows intact, unprotected table included');

SELECT throws_ok('TRUNCATE ds_inh_parent', 'TB003', NULL, 'TRUNCATE of a protected inheritance parent is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'TRUNCATE inheritance parent: rows intact');

SELECT throws_ok('TRUNCATE ds_inh_child', 'TB003', NULL, 'TRUNCATE of an adopted inheritance child is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'TRUNCATE inheritance child: rows intact');

--------------------------------------------------------------------------
-- DROP
--------------------------------------------------------------------------

SELECT throws_ok('DROP TABLE ds_plain', 'TB004', NULL, 'DROP TABLE of a protected table is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'DROP TABLE: rows intact');

SELECT throws_ok('DROP TABLE ds_part_t1', 'TB004', NULL, 'DROP TABLE of a partition is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'DROP TABLE partition: rows intact');

SELECT throws_ok('DROP TABLE ds_part CASCADE', 'TB004', NULL, 'DROP TABLE CASCADE of a partitioned table is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'DROP TABLE partitioned CASCADE: rows intact');

SELECT throws_ok('DROP TABLE ds_inh_child', 'TB004', NULL, 'DROP TABLE of an adopted inheritance child is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'DROP TABLE inheritance child: rows intact');

SELECT throws_ok('DROP SCHEMA ds_schema CASCADE', 'TB004', NULL,
                 'DROP SCHEMA CASCADE containing a protected table is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'DROP SCHEMA CASCADE: rows intact');

SELECT throws_ok('DROP OWNED BY tb_destructive_owner', 'TB004', NULL,
                 'DROP OWNED BY the owner of a protected table is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'DROP OWNED: rows intact');

SELECT throws_ok('DROP EXTENSION pg_tombstone', 'TB008', NULL, 'DROP EXTENSION pg_tombstone is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'DROP EXTENSION: rows intact');

SELECT throws_ok('DROP EXTENSION pg_tombstone CASCADE', 'TB008', NULL, 'DROP EXTENSION pg_tombstone CASCADE is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'DROP EXTENSION CASCADE: rows intact');

--------------------------------------------------------------------------
-- Columns
--------------------------------------------------------------------------

SELECT throws_ok('ALTER TABLE ds_plain DROP COLUMN deleted_at', 'TB005', NULL, 'DROP COLUMN deleted_at is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'DROP COLUMN deleted_at: rows intact');

SELECT throws_ok('ALTER TABLE ds_plain DROP COLUMN deleted_change', 'TB005', NULL, 'DROP COLUMN deleted_change is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'DROP COLUMN deleted_change: rows intact');

SELECT throws_ok('ALTER TABLE ds_plain DROP COLUMN tenant', 'TB005', NULL, 'DROP COLUMN of the tenant column is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'DROP COLUMN tenant: rows intact');

SELECT throws_ok('ALTER TABLE ds_part DROP COLUMN deleted_at', 'TB005', NULL,
                 'DROP COLUMN deleted_at of a partitioned table is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'DROP COLUMN deleted_at of partitioned table: rows intact');

SELECT throws_ok('DROP DOMAIN ds_tenant_id CASCADE', 'TB005', NULL,
                 'DROP DOMAIN CASCADE dropping the tenant column is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'DROP DOMAIN CASCADE: rows intact');

SELECT throws_ok('ALTER TABLE ds_plain RENAME COLUMN deleted_at TO gone_at', 'TB009', NULL,
                 'RENAME COLUMN deleted_at is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'RENAME COLUMN deleted_at: rows intact');

SELECT throws_ok('ALTER TABLE ds_plain RENAME tenant TO customer', 'TB009', NULL,
                 'RENAME of the tenant column is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'RENAME COLUMN tenant: rows intact');

SELECT throws_ok('ALTER TABLE ds_plain ALTER COLUMN deleted_at TYPE timestamp', 'TB009', NULL,
                 'ALTER COLUMN deleted_at TYPE is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'ALTER COLUMN deleted_at TYPE: rows intact');

SELECT throws_ok('ALTER TABLE ds_plain ALTER COLUMN deleted_change TYPE int', 'TB009', NULL,
                 'ALTER COLUMN deleted_change TYPE is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'ALTER COLUMN deleted_change TYPE: rows intact');

--------------------------------------------------------------------------
-- Triggers
--------------------------------------------------------------------------

SELECT throws_ok('ALTER TABLE ds_plain DISABLE TRIGGER tombstone_guard_delete', 'TB006', NULL,
                 'DISABLE TRIGGER tombstone_guard_delete is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'DISABLE TRIGGER tombstone_guard_delete: rows intact');

-- ALL and USER reach every trigger, but pg_tombstone's keep firing always
SELECT lives_ok('ALTER TABLE ds_plain DISABLE TRIGGER ALL', 'DISABLE TRIGGER ALL goes through');
SELECT is((SELECT string_agg(tgenabled::text, '' ORDER BY tgname) FROM pg_trigger
            WHERE tgrelid = 'ds_plain'::regclass AND tgname LIKE 'tombstone%'), 'AAA',
          'DISABLE TRIGGER ALL: the guard triggers still fire always');
ALTER TABLE ds_plain ENABLE TRIGGER ALL;

SELECT lives_ok('ALTER TABLE ds_plain DISABLE TRIGGER USER', 'DISABLE TRIGGER USER goes through');
SELECT is((SELECT string_agg(tgenabled::text, '' ORDER BY tgname) FROM pg_trigger
            WHERE tgrelid = 'ds_plain'::regclass AND tgname LIKE 'tombstone%'), 'AAA',
          'DISABLE TRIGGER USER: the guard triggers still fire always');
ALTER TABLE ds_plain ENABLE TRIGGER USER;

SELECT throws_ok('ALTER TABLE ds_plain ENABLE REPLICA TRIGGER tombstone_guard_delete', 'TB006', NULL,
                 'ENABLE REPLICA TRIGGER tombstone_guard_delete is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'ENABLE REPLICA TRIGGER: rows intact');

SELECT throws_ok('ALTER TABLE ds_plain ENABLE TRIGGER tombstone_guard_delete', 'TB006', NULL,
                 'ENABLE TRIGGER (origin only) tombstone_guard_delete is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'ENABLE TRIGGER: rows intact');

SELECT throws_ok('ALTER TABLE ds_plain DISABLE TRIGGER tombstone_guard_truncate', 'TB006', NULL,
                 'DISABLE TRIGGER tombstone_guard_truncate is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'DISABLE TRIGGER tombstone_guard_truncate: rows intact');

SELECT throws_ok('ALTER TABLE ds_part_t1 DISABLE TRIGGER tombstone_guard_delete', 'TB006', NULL,
                 'DISABLE TRIGGER on a single partition is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'DISABLE TRIGGER on partition: rows intact');

SELECT lives_ok('ALTER TABLE ds_part DISABLE TRIGGER ALL',
                'DISABLE TRIGGER ALL on a partitioned table goes through');
SELECT is((SELECT count(*) FROM pg_trigger t JOIN tombstone._descendants('ds_part') d ON d.relid = t.tgrelid
            WHERE t.tgname LIKE 'tombstone%' AND t.tgenabled <> 'A'), 0::bigint,
          'DISABLE TRIGGER ALL on a partitioned table: the guard triggers of its partitions still fire always');
ALTER TABLE ds_part ENABLE TRIGGER ALL;

SELECT throws_ok('ALTER TRIGGER tombstone_guard_delete ON ds_plain RENAME TO guard_gone', 'TB006', NULL,
                 'RENAME of tombstone_guard_delete is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'RENAME TRIGGER: rows intact');

SELECT throws_ok('DROP TRIGGER tombstone_guard_delete ON ds_plain', 'TB010', NULL,
                 'DROP TRIGGER tombstone_guard_delete is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'DROP TRIGGER: rows intact');

SELECT throws_ok('DROP TRIGGER tombstone_guard_delete ON ds_part', 'TB010', NULL,
                 'DROP TRIGGER tombstone_guard_delete on a partitioned table is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'DROP TRIGGER on partitioned table: rows intact');

--------------------------------------------------------------------------
-- Partitions and inheritance
--------------------------------------------------------------------------

SELECT throws_ok('ALTER TABLE ds_part DETACH PARTITION ds_part_t1', 'TB007', NULL, 'DETACH PARTITION is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'DETACH PARTITION: rows intact');

SELECT throws_ok('ALTER TABLE ds_inh_child NO INHERIT ds_inh_parent', 'TB007', NULL,
                 'NO INHERIT on an inheritance child of a protected table is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'NO INHERIT: rows intact');

--------------------------------------------------------------------------
-- Event triggers
--------------------------------------------------------------------------

SELECT throws_ok('ALTER EVENT TRIGGER tombstone_sql_drop DISABLE', 'TB011', NULL,
                 'ALTER EVENT TRIGGER tombstone_sql_drop DISABLE is refused');
SELECT is(ds_fp(), (SELECT fp FROM ds_before), 'ALTER EVENT TRIGGER DISABLE: rows intact');

SELECT throws_ok('ALTER EVENT TRIGGER tombstone_sql_drop ENABLE REPLICA', 'TB011', NULL,
                 'ALTER EVENT TRIGGER tombstone_sql_drop ENABLE REPLICA is refused');
SELECT throws_ok('ALTER EVENT TRIGGER tombstone_ddl_end DISABLE', 'TB011', NULL,
                 'ALTER EVENT TRIGGER tombstone_ddl_end DISABLE is refused');

--------------------------------------------------------------------------
-- After all refusals: nothing of the protection changed
--------------------------------------------------------------------------

SELECT is((SELECT count(*)::int FROM pg_trigger
            WHERE tgname IN ('tombstone_guard_delete', 'tombstone_guard_truncate') AND tgenabled = 'A'
              AND tgrelid IN (SELECT table_name FROM tombstone.protected_tables
                               WHERE table_name::text LIKE 'ds\_%')),
          20, 'every protected fixture table still has both guard triggers, firing always');
SELECT set_eq($$SELECT tgrelid::regclass::text, tgname::text COLLATE "default", tgenabled::text, tgfoid::regproc::text
                  FROM pg_trigger
                 WHERE tgname LIKE 'tombstone\_%' AND tgrelid::regclass::text LIKE 'ds\_%'$$,
              'SELECT * FROM ds_triggers_before',
              'the tombstone triggers are exactly as before the refused commands');
SELECT results_eq($$SELECT evtname::text COLLATE "default", evtenabled::text FROM pg_event_trigger
                     WHERE evtname LIKE 'tombstone\_%' ORDER BY 1$$,
                  $$VALUES ('tombstone_ddl_end', 'A'), ('tombstone_ddl_start', 'A'), ('tombstone_sql_drop', 'A')$$,
                  'event triggers still enabled always');
SELECT is((SELECT count(*)::int FROM tombstone.protected_tables WHERE table_name::text LIKE 'ds\_%'),
          10, 'the fixture tables are all still protected');
SELECT lives_ok('DROP TABLE ds_unprot CASCADE',
                'control: DROP TABLE CASCADE of the unprotected referenced table is allowed');
SELECT is((SELECT count(*)::int FROM ds_child), 2,
          'control: dropping the referenced table only drops the FK, the protected rows stay');

--------------------------------------------------------------------------
-- DELETE with session_replication_role = replica still tombstones
--------------------------------------------------------------------------

SET LOCAL session_replication_role = replica;
DELETE FROM ds_plain WHERE tenant = 2 AND id = 1;
SELECT is(:ROW_COUNT, 1, 'replica role: DELETE on a protected table reports 1 row');
DELETE FROM ds_part WHERE tenant = 2 AND id = 11;
SELECT is(:ROW_COUNT, 1, 'replica role: DELETE on a protected partitioned table reports 1 row');
DELETE FROM ds_part_t2 WHERE id = 12;
SELECT is(:ROW_COUNT, 1, 'replica role: DELETE on a partition reports 1 row');
DELETE FROM ds_plain WHERE tenant = 2 AND id = 1;
SELECT is(:ROW_COUNT, 0, 'replica role: repeated DELETE reports 0 rows');
RESET session_replication_role;

SELECT is((SELECT count(*)::int FROM ds_plain WHERE tenant = 2 AND id = 1), 0,
          'replica role: deleted row hidden');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM ds_plain WHERE tenant = 2 AND id = 1 AND deleted_at = now()), 1,
          'replica role: row of plain table kept as a tombstone');
SELECT is((SELECT count(*)::int FROM ds_part WHERE tenant = 2 AND id IN (11, 12) AND deleted_at = now()), 2,
          'replica role: rows of partitioned table kept as tombstones');
SELECT is((SELECT count(*)::int FROM ds_plain), 10, 'replica role: ds_plain still holds 10 rows');
SELECT is((SELECT count(*)::int FROM ds_part), 10, 'replica role: ds_part still holds 10 rows');
RESET tombstone.visibility;

--------------------------------------------------------------------------
-- UPDATE moving rows between partitions
--------------------------------------------------------------------------

UPDATE ds_part SET tenant = 2 WHERE tenant = 1 AND id = 1;
SELECT is(:ROW_COUNT, 1, 'cross-partition UPDATE reports 1 row');
SELECT results_eq($$SELECT tableoid::regclass::text, tenant, val, deleted_at IS NULL FROM ds_part WHERE id = 1$$,
                  $$VALUES ('ds_part_t2', 2, 'a1', true)$$,
                  'cross-partition UPDATE: the row is live in the other partition');

UPDATE ds_part SET tenant = 2, val = val || '!' WHERE tenant = 1 AND id IN (2, 3);
SELECT is(:ROW_COUNT, 2, 'cross-partition UPDATE of several rows reports 2 rows');
SELECT results_eq($$SELECT tableoid::regclass::text, tenant, id, val FROM ds_part WHERE id IN (2, 3) ORDER BY id$$,
                  $$VALUES ('ds_part_t2', 2, 2, 'a2!'), ('ds_part_t2', 2, 3, 'a3!')$$,
                  'cross-partition UPDATE of several rows: all of them moved');

MERGE INTO ds_part p USING (VALUES (1, 4)) s(tenant, id) ON p.tenant = s.tenant AND p.id = s.id
 WHEN MATCHED THEN UPDATE SET tenant = 2;
SELECT is(:ROW_COUNT, 1, 'MERGE moving a row to another partition reports 1 row');
SELECT results_eq($$SELECT tableoid::regclass::text, tenant FROM ds_part WHERE id = 4$$,
                  $$VALUES ('ds_part_t2', 2)$$,
                  'MERGE moving a row: the row is in the other partition');

SET LOCAL tombstone.visibility = 'all';
UPDATE ds_part SET tenant = 2 WHERE tenant = 1 AND id = 5;
SELECT is(:ROW_COUNT, 1, 'cross-partition UPDATE of a tombstoned row (visibility all) reports 1 row');
SELECT results_eq($$SELECT tableoid::regclass::text, tenant, deleted_at IS NOT NULL FROM ds_part WHERE id = 5$$,
                  $$VALUES ('ds_part_t2', 2, true)$$,
                  'the moved tombstone stays a tombstone');
SELECT results_eq($$SELECT tenant, count(*)::int FROM ds_part GROUP BY tenant ORDER BY tenant$$,
                  $$VALUES (2, 10)$$,
                  'after the moves ds_part still holds all 10 rows, now all in tenant 2');
RESET tombstone.visibility;

DELETE FROM ds_part WHERE id = 1;
SELECT is(:ROW_COUNT, 1, 'a moved row can be tombstoned afterwards');
SET LOCAL tombstone.visibility = 'all';
SELECT is((SELECT count(*)::int FROM ds_part WHERE id = 1 AND deleted_at IS NOT NULL), 1,
          'the moved row, tombstoned, is still stored');
RESET tombstone.visibility;

SELECT * FROM finish();
ROLLBACK;
