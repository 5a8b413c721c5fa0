-- pgTAP: signed change tokens.  The attack matrix of tombstone.authorize():
-- every refusal has its SQLSTATE, and after each one no use was recorded
-- and no token was bound.  Then the happy paths (HS256 and EdDSA), uses,
-- roles, subtransactions, sign() and the privileges of the key tables.
--
-- HS256 tokens are built here with pgcrypto's hmac(), an implementation
-- independent of the extension's; EdDSA tokens were minted once with
-- tools/pg_tombstone_token and the test key bench/token_test_ed25519.pem
-- (exp 2100-01-01, aud pg_tombstone:test).
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
SET search_path = public, tombstone;
SET tombstone.audience = 'pg_tombstone:test';

SELECT plan(165);

-- base64url, and an HS256 token made from a header and claims as text
CREATE FUNCTION pg_temp.b64u(b bytea) RETURNS text LANGUAGE sql IMMUTABLE
AS $$ SELECT translate(encode(b, 'base64'), E'+/=\n', '-_') $$;
CREATE FUNCTION pg_temp.jws(header text, claims text, secret bytea) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT s || '.' || pg_temp.b64u(hmac(convert_to(s, 'UTF8'), secret, 'sha256'))
      FROM (SELECT pg_temp.b64u(convert_to(header, 'UTF8')) || '.' ||
                   pg_temp.b64u(convert_to(claims, 'UTF8')) AS s) x
$$;
-- valid claims with one change: extra members are merged, "drop" removed
CREATE FUNCTION pg_temp.claims(jti text, extra jsonb DEFAULT '{}', drop text DEFAULT NULL)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT ((jsonb_build_object('op', 'delete', 'aud', 'pg_tombstone:test',
                                'exp', 4102444800, 'jti', jti) || extra)
            - coalesce(drop, ''))::text
$$;
CREATE FUNCTION pg_temp.secret() RETURNS bytea LANGUAGE sql IMMUTABLE
AS $$ SELECT convert_to('pg_tombstone test secret, 40 bytes long', 'UTF8') $$;
CREATE FUNCTION pg_temp.hs(claims text, kid text DEFAULT 'tap_hs') RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT pg_temp.jws('{"alg":"HS256","typ":"JWT","kid":"' || kid || '"}', claims, pg_temp.secret())
$$;
-- what a refusal must leave unchanged
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql SECURITY DEFINER AS $$
    SELECT format('uses %s, bound %s',
                  (SELECT coalesce(sum(uses), 0) FROM tombstone.token_uses),
                  (SELECT count(*) FROM tombstone.bound_tokens()))
$$;

CREATE TABLE public.tok_t (id int, tenant text);
CREATE TABLE public.tok_part (id int, tenant text) PARTITION BY LIST (tenant);
CREATE TABLE public.tok_part_a PARTITION OF public.tok_part FOR VALUES IN ('a');

SELECT lives_ok($$SELECT tombstone.add_key('tap_hs', 'HS256', pg_temp.secret())$$,
                'add an HS256 key');
SELECT lives_ok($$SELECT tombstone.add_key('tap_ed', 'EdDSA',
                  '\xdec6f0d58185e4435761f37ea10117ac984a9b02d455e2b0c523092bcaf159bf')$$,
                'add an Ed25519 public key (raw)');
SELECT lives_ok($$SELECT tombstone.add_key('tap_purge', 'HS256', pg_temp.secret(), ARRAY['purge'])$$,
                'add an HS256 key limited to purge');

CREATE TABLE pg_temp.t (name text PRIMARY KEY, tok text);
INSERT INTO pg_temp.t VALUES
    ('good', pg_temp.hs(pg_temp.claims('tap-good'))),
    ('ed_ok', 'eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCIsImtpZCI6InRhcF9lZCJ9.eyJvcCI6ImRlbGV0ZSIsImF1ZCI6InBnX3RvbWJzdG9uZTp0ZXN0IiwiZXhwIjo0MTAyNDQ0ODAwLCJqdGkiOiJ0YXAtZWQtb2siLCJ0YWJsZXMiOlsidG9rX3QiXSwidGVuYW50cyI6WyIqIl0sInN1YiI6ImFsaWNlIiwicmVhc29uIjoiZml4dHVyZSJ9.ilxjv09jXecGmC2pLVgXZATu9OzQac1aZLcfplleZAzfVDt8kYIgXFuiI6rxjrQlA6SYJATNTNDs9oUroIXJCQ'),
    ('ed_multi', 'eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCIsImtpZCI6InRhcF9lZCJ9.eyJvcCI6ImRlbGV0ZSIsImF1ZCI6InBnX3RvbWJzdG9uZTp0ZXN0IiwiZXhwIjo0MTAyNDQ0ODAwLCJqdGkiOiJ0YXAtZWQtbXVsdGkiLCJtYXhfdXNlcyI6Mn0.qfp36CKx6pKGm99bSQ5iu10w_xsU-Ubw3-s_B34bn00Dl3O54h2SUBLJaR6RX9-9t5xE5GD2mjo6DbJvyXmhBA'),
    -- signed with the Ed25519 private key, but naming the HS256 key
    ('ed_on_hs', 'eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCIsImtpZCI6InRhcF9ocyJ9.eyJvcCI6ImRlbGV0ZSIsImF1ZCI6InBnX3RvbWJzdG9uZTp0ZXN0IiwiZXhwIjo0MTAyNDQ0ODAwLCJqdGkiOiJ0YXAtZWQtb24taHMifQ.RrRqtGhObM5cNfp41VXTqmLfp4FKmHtdu0l-hhuaUqoclf93Ahyqqkrcx41X77zLotqGCQ0zivSIJLmyR8OnBQ'),
    -- the classic confusion: HS256 with the Ed25519 public key as secret
    ('hs_on_ed', pg_temp.jws('{"alg":"HS256","kid":"tap_ed"}', pg_temp.claims('tap-hs-on-ed'),
                             '\xdec6f0d58185e4435761f37ea10117ac984a9b02d455e2b0c523092bcaf159bf')),
    ('forged', pg_temp.jws('{"alg":"HS256","kid":"tap_hs"}', pg_temp.claims('tap-forged'),
                           convert_to('not the secret, but 32 bytes or more', 'UTF8'))),
    ('alg_none', pg_temp.b64u('{"alg":"none","kid":"tap_hs"}') || '.' ||
                 pg_temp.b64u(convert_to(pg_temp.claims('tap-none'), 'UTF8')) || '.AAAA'),
    ('alg_none_empty', pg_temp.b64u('{"alg":"none","kid":"tap_hs"}') || '.' ||
                       pg_temp.b64u(convert_to(pg_temp.claims('tap-none'), 'UTF8')) || '.'),
    ('alg_hs512', pg_temp.jws('{"alg":"HS512","kid":"tap_hs"}', pg_temp.claims('tap-512'), pg_temp.secret())),
    ('unknown_kid', pg_temp.hs(pg_temp.claims('tap-kid'), 'nobody')),
    ('no_kid', pg_temp.jws('{"alg":"HS256","typ":"JWT"}', pg_temp.claims('tap-nokid'), pg_temp.secret())),
    ('kid_number', pg_temp.jws('{"alg":"HS256","kid":7}', pg_temp.claims('tap-kidnum'), pg_temp.secret())),
    ('crit', pg_temp.jws('{"alg":"HS256","kid":"tap_hs","crit":["exp"]}', pg_temp.claims('tap-crit'), pg_temp.secret())),
    ('other_op_key', pg_temp.hs(pg_temp.claims('tap-opkey'), 'tap_purge')),
    ('purge_key_ok', pg_temp.hs(pg_temp.claims('tap-purgeok', '{"op": "purge"}'), 'tap_purge')),
    ('expired', pg_temp.hs(pg_temp.claims('tap-expired', '{"exp": 1000000000}'))),
    ('not_yet', pg_temp.hs(pg_temp.claims('tap-notyet', '{"nbf": 4000000000}'))),
    ('wrong_aud', pg_temp.hs(pg_temp.claims('tap-aud', '{"aud": "pg_tombstone:1:elsewhere"}'))),
    ('wrong_aud_list', pg_temp.hs(pg_temp.claims('tap-audl', '{"aud": ["a", "b"]}'))),
    ('aud_list_ok', pg_temp.hs(pg_temp.claims('tap-audok', '{"aud": ["a", "pg_tombstone:test"]}'))),
    ('bad_header_json', pg_temp.jws('{"alg":"HS256","kid":"tap_hs"', pg_temp.claims('tap-hj'), pg_temp.secret())),
    ('header_array', pg_temp.jws('["HS256"]', pg_temp.claims('tap-ha'), pg_temp.secret())),
    ('bad_claims_json', pg_temp.hs('{"op":"delete",')),
    ('claims_array', pg_temp.hs('[1,2]')),
    ('duplicate_claim', pg_temp.hs('{"op":"purge","op":"delete","aud":"pg_tombstone:test","exp":4102444800,"jti":"tap-dup"}')),
    ('huge_number', pg_temp.hs('{"op":"delete","aud":"pg_tombstone:test","exp":1e999999,"jti":"tap-huge"}')),
    ('nul_escape', pg_temp.hs('{"op":"delete","aud":"pg_tombstone:test","exp":4102444800,"jti":"a\u0000b"}')),
    ('no_op', pg_temp.hs(pg_temp.claims('tap-noop', '{}', 'op'))),
    ('no_aud', pg_temp.hs(pg_temp.claims('tap-noaud', '{}', 'aud'))),
    ('no_exp', pg_temp.hs(pg_temp.claims('tap-noexp', '{}', 'exp'))),
    ('no_jti', pg_temp.hs(pg_temp.claims('tap-nojti', '{}', 'jti'))),
    ('op_number', pg_temp.hs(pg_temp.claims('tap-opn', '{"op": 42}'))),
    ('op_unknown', pg_temp.hs(pg_temp.claims('tap-opu', '{"op": "drop_everything"}'))),
    ('aud_number', pg_temp.hs(pg_temp.claims('tap-audn', '{"aud": 42}'))),
    ('exp_string', pg_temp.hs(pg_temp.claims('tap-exps', '{"exp": "2100-01-01"}'))),
    ('jti_number', pg_temp.hs(pg_temp.claims('x', '{"jti": 7}'))),
    ('tables_string', pg_temp.hs(pg_temp.claims('tap-ts', '{"tables": "tok_t"}'))),
    ('tables_unknown', pg_temp.hs(pg_temp.claims('tap-tu', '{"tables": ["tok_t", "no_such_table"]}'))),
    ('tenants_numbers', pg_temp.hs(pg_temp.claims('tap-tn', '{"tenants": [1, 2]}'))),
    ('tenants_star_mixed', pg_temp.hs(pg_temp.claims('tap-tsm', '{"tenants": ["*", "a"]}'))),
    ('max_rows_zero', pg_temp.hs(pg_temp.claims('tap-mr0', '{"max_rows": 0}'))),
    ('max_rows_fraction', pg_temp.hs(pg_temp.claims('tap-mrf', '{"max_rows": 1.5}'))),
    ('max_uses_negative', pg_temp.hs(pg_temp.claims('tap-mun', '{"max_uses": -1}'))),
    ('role_number', pg_temp.hs(pg_temp.claims('tap-rn', '{"role": 5}'))),
    ('reason_object', pg_temp.hs(pg_temp.claims('tap-ro', '{"reason": {"a": 1}}'))),
    ('for_role', pg_temp.hs(pg_temp.claims('tap-role', '{"role": "tok_member_of"}'))),
    ('for_missing_role', pg_temp.hs(pg_temp.claims('tap-norole', '{"role": "tok_no_such_role"}'))),
    ('three_uses', pg_temp.hs(pg_temp.claims('tap-three', '{"max_uses": 3}'))),
    ('scoped', pg_temp.hs(pg_temp.claims('tap-scoped', '{"tables": ["public.tok_part", "TOK_T"], "tenants": ["a", "b"], "max_rows": 10}'))),
    ('savepoint', pg_temp.hs(pg_temp.claims('tap-savepoint'))),
    ('plain_role', pg_temp.hs(pg_temp.claims('tap-plain')));

-- payload edited after signing: another payload, the original signature
INSERT INTO pg_temp.t
SELECT 'edited', split_part(tok, '.', 1) || '.' ||
       pg_temp.b64u(convert_to(pg_temp.claims('tap-good', '{"op": "purge"}'), 'UTF8')) || '.' ||
       split_part(tok, '.', 3)
  FROM pg_temp.t WHERE name = 'good';
INSERT INTO pg_temp.t
SELECT 'ed_edited', split_part(tok, '.', 1) || '.' ||
       pg_temp.b64u(convert_to(pg_temp.claims('tap-ed-ok', '{"tenants": ["*"], "tables": ["tok_t"]}'), 'UTF8')) || '.' ||
       split_part(tok, '.', 3)
  FROM pg_temp.t WHERE name = 'ed_ok';

-- a refusal: its SQLSTATE, and nothing recorded or bound
CREATE FUNCTION pg_temp.refused(name text, code text, what text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    before text := pg_temp.state();
BEGIN
    RETURN NEXT throws_ok(format('SELECT tombstone.authorize(tok) FROM pg_temp.t WHERE name = %L', name),
                          code, NULL, what);
    RETURN NEXT is(pg_temp.state(), before, what || ': nothing recorded or bound');
END
$$;

-- form and size
SELECT throws_ok($$SELECT tombstone.authorize(NULL)$$, '22004', NULL, 'NULL token');
SELECT throws_ok($$SELECT tombstone.authorize('')$$, 'TB020', NULL, 'empty token');
SELECT throws_ok($$SELECT tombstone.authorize('garbage')$$, 'TB020', NULL, 'garbage');
SELECT throws_ok($$SELECT tombstone.authorize(split_part(tok, '.', 1) || '.' || split_part(tok, '.', 2))
                     FROM pg_temp.t WHERE name = 'good'$$, 'TB020', NULL, 'truncated: two parts');
SELECT throws_ok($$SELECT tombstone.authorize(left(tok, length(tok) - 2)) FROM pg_temp.t WHERE name = 'good'$$,
                 'TB020', NULL, 'truncated signature (not canonical base64url)');
SELECT throws_ok($$SELECT tombstone.authorize(left(tok, length(tok) - 3)) FROM pg_temp.t WHERE name = 'good'$$,
                 'TB023', NULL, 'truncated signature (too short)');
SELECT throws_ok($$SELECT tombstone.authorize(tok || '.x') FROM pg_temp.t WHERE name = 'good'$$,
                 'TB020', NULL, 'four parts');
SELECT throws_ok($$SELECT tombstone.authorize(tok || '=') FROM pg_temp.t WHERE name = 'good'$$,
                 'TB020', NULL, 'padding');
SELECT throws_ok($$SELECT tombstone.authorize('eyJ+.eyJ/.AAAA')$$, 'TB020', NULL, 'base64 instead of base64url');
SELECT throws_ok($$SELECT tombstone.authorize(' ' || tok) FROM pg_temp.t WHERE name = 'good'$$,
                 'TB020', NULL, 'leading space');
SELECT throws_ok($$SELECT tombstone.authorize(tok || repeat('A', 9000)) FROM pg_temp.t WHERE name = 'good'$$,
                 'TB020', NULL, 'huge token (> 8192 bytes)');
SELECT is(pg_temp.state(), 'uses 0, bound 0', 'form refusals recorded and bound nothing');

-- header and algorithm
SELECT pg_temp.refused('bad_header_json', 'TB020', 'header is not JSON');
SELECT pg_temp.refused('header_array', 'TB020', 'header is not an object');
SELECT pg_temp.refused('no_kid', 'TB020', 'header without kid');
SELECT pg_temp.refused('kid_number', 'TB020', 'kid is not a string');
SELECT pg_temp.refused('crit', 'TB020', 'header with crit');
SELECT pg_temp.refused('alg_none', 'TB021', 'alg none');
SELECT pg_temp.refused('alg_none_empty', 'TB020', 'alg none with an empty signature');
SELECT pg_temp.refused('alg_hs512', 'TB021', 'unsupported alg');
SELECT pg_temp.refused('hs_on_ed', 'TB021', 'HS256 token against an Ed25519 key');
SELECT pg_temp.refused('ed_on_hs', 'TB021', 'EdDSA token against an HS256 key');

-- key and signature
SELECT pg_temp.refused('unknown_kid', 'TB022', 'unknown kid');
SELECT pg_temp.refused('forged', 'TB023', 'forged signature');
SELECT pg_temp.refused('edited', 'TB023', 'claims edited after signing (HS256)');
SELECT pg_temp.refused('ed_edited', 'TB023', 'claims edited after signing (EdDSA)');
SELECT pg_temp.refused('other_op_key', 'TB022', 'key limited to other operations');

-- claims
SELECT pg_temp.refused('bad_claims_json', 'TB020', 'claims are not JSON');
SELECT pg_temp.refused('claims_array', 'TB020', 'claims are not an object');
SELECT pg_temp.refused('duplicate_claim', 'TB020', 'a claim given twice');
SELECT pg_temp.refused('huge_number', 'TB020', 'number out of range');
SELECT pg_temp.refused('nul_escape', 'TB020', 'NUL character escaped in a claim');
SELECT pg_temp.refused('no_op', 'TB029', 'missing op');
SELECT pg_temp.refused('no_aud', 'TB029', 'missing aud');
SELECT pg_temp.refused('no_exp', 'TB029', 'missing exp');
SELECT pg_temp.refused('no_jti', 'TB029', 'missing jti');
SELECT pg_temp.refused('op_number', 'TB029', 'op is a number');
SELECT pg_temp.refused('op_unknown', 'TB029', 'op is not an operation');
SELECT pg_temp.refused('aud_number', 'TB029', 'aud is a number');
SELECT pg_temp.refused('exp_string', 'TB029', 'exp is a string');
SELECT pg_temp.refused('jti_number', 'TB029', 'jti is a number');
SELECT pg_temp.refused('tables_string', 'TB029', 'tables is not an array');
SELECT pg_temp.refused('tables_unknown', 'TB029', 'tables names a table that does not exist');
SELECT pg_temp.refused('tenants_numbers', 'TB029', 'tenants are numbers');
SELECT pg_temp.refused('tenants_star_mixed', 'TB029', 'tenants mixes * with ids');
SELECT pg_temp.refused('max_rows_zero', 'TB029', 'max_rows 0');
SELECT pg_temp.refused('max_rows_fraction', 'TB029', 'max_rows 1.5');
SELECT pg_temp.refused('max_uses_negative', 'TB029', 'max_uses -1');
SELECT pg_temp.refused('role_number', 'TB029', 'role is a number');
SELECT pg_temp.refused('reason_object', 'TB029', 'reason is an object');

-- time and audience
SELECT pg_temp.refused('expired', 'TB024', 'expired');
SELECT pg_temp.refused('not_yet', 'TB025', 'nbf in the future');
SELECT pg_temp.refused('wrong_aud', 'TB026', 'another audience');
SELECT pg_temp.refused('wrong_aud_list', 'TB026', 'audience list without this database');
RESET tombstone.audience;
SELECT pg_temp.refused('good', 'TB026', 'the default audience is not pg_tombstone:test');
SELECT matches(tombstone.audience(),
               '^pg_tombstone:[0-9]+:' || current_database() || '$',
               'default audience: pg_tombstone:<system identifier>:<database>');
SET tombstone.audience = 'pg_tombstone:test';

-- roles: pgTAP cannot record results as another role, so what each role
-- gets is kept in pg_temp.r and checked afterwards
CREATE ROLE tok_member_of NOLOGIN;
CREATE ROLE tok_plain NOLOGIN;
CREATE ROLE tok_member NOLOGIN IN ROLE tok_member_of;
CREATE ROLE tok_approver NOLOGIN IN ROLE tombstone_approver;
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$$;
CREATE TABLE pg_temp.r (name text PRIMARY KEY, result text);
GRANT SELECT, INSERT ON pg_temp.t, pg_temp.r TO tok_plain, tok_member, tok_approver;
SELECT pg_temp.state() AS state_before_roles \gset
SET ROLE tok_plain;
INSERT INTO pg_temp.r VALUES
    ('for_role', pg_temp.try($$SELECT tombstone.authorize(tok) FROM pg_temp.t WHERE name = 'for_role'$$)),
    ('for_missing_role', pg_temp.try($$SELECT tombstone.authorize(tok) FROM pg_temp.t WHERE name = 'for_missing_role'$$)),
    ('plain_role', pg_temp.try($$SELECT tombstone.authorize(tok) FROM pg_temp.t WHERE name = 'plain_role'$$)),
    ('read_keys', pg_temp.try($$SELECT * FROM tombstone.keys$$)),
    ('read_uses', pg_temp.try($$SELECT * FROM tombstone.token_uses$$)),
    ('write_uses', pg_temp.try($$UPDATE tombstone.token_uses SET uses = 0$$)),
    ('add_key', pg_temp.try($$SELECT tombstone.add_key('mine', 'HS256', '\x0000000000000000000000000000000000000000000000000000000000000000')$$)),
    ('remove_key', pg_temp.try($$SELECT tombstone.remove_key('tap_hs')$$)),
    ('sign_plain', pg_temp.try($$SELECT tombstone.sign('{"op": "delete"}', 'tap_hs')$$));
RESET ROLE;
SET ROLE tok_member;
INSERT INTO pg_temp.r VALUES
    ('member', pg_temp.try($$SELECT tombstone.authorize(tok) FROM pg_temp.t WHERE name = 'for_role'$$));
RESET ROLE;
SET ROLE tok_approver;
INSERT INTO pg_temp.r VALUES
    ('sign', pg_temp.try($$INSERT INTO pg_temp.t VALUES ('signed', tombstone.sign('{"op": "ddl", "tables": ["tok_t"]}', 'tap_hs'))$$)),
    ('sign_ed', pg_temp.try($$SELECT tombstone.sign('{"op": "ddl"}', 'tap_ed')$$)),
    ('sign_unknown', pg_temp.try($$SELECT tombstone.sign('{"op": "ddl"}', 'nobody')$$)),
    ('sign_op', pg_temp.try($$SELECT tombstone.sign('{"op": "ddl"}', 'tap_purge')$$)),
    ('sign_bad_claim', pg_temp.try($$SELECT tombstone.sign('{"op": "ddl", "max_uses": 0}', 'tap_hs')$$)),
    ('sign_no_op', pg_temp.try($$SELECT tombstone.sign('{"tables": ["tok_t"]}', 'tap_hs')$$)),
    ('sign_array', pg_temp.try($$SELECT tombstone.sign('[1]', 'tap_hs')$$)),
    ('sign_null', pg_temp.try($$SELECT tombstone.sign(NULL, 'tap_hs')$$));
RESET ROLE;
SELECT is((SELECT result FROM pg_temp.r WHERE name = 'for_role'), 'TB028', 'token of another role');
SELECT is((SELECT result FROM pg_temp.r WHERE name = 'for_missing_role'), 'TB028', 'token of a role that does not exist');
SELECT is((SELECT result FROM pg_temp.r WHERE name = 'plain_role'), 'ok',
          'an application role authorizes without any privilege on the key tables');
SELECT is((SELECT result FROM pg_temp.r WHERE name = 'member'), 'ok', 'a member of the token''s role may use it');
SELECT is(pg_temp.state(),
          format('uses %s, bound %s', split_part(split_part(:'state_before_roles', ',', 1), ' ', 2)::int + 2,
                 split_part(:'state_before_roles', ' ', 4)::int + 2),
          'the refused role tokens recorded and bound nothing, the two accepted ones one use each');
SELECT is((SELECT result FROM pg_temp.r WHERE name = 'read_keys'), '42501', 'keys are unreadable by a plain role');
SELECT is((SELECT result FROM pg_temp.r WHERE name = 'read_uses'), '42501', 'token_uses are unreadable by a plain role');
SELECT is((SELECT result FROM pg_temp.r WHERE name = 'write_uses'), '42501', 'token_uses are not writable by a plain role');
SELECT is((SELECT result FROM pg_temp.r WHERE name = 'add_key'), '42501', 'add_key is not executable by a plain role');
SELECT is((SELECT result FROM pg_temp.r WHERE name = 'remove_key'), '42501', 'remove_key is not executable by a plain role');
SELECT is((SELECT result FROM pg_temp.r WHERE name = 'sign_plain'), '42501', 'sign() is refused to a role outside tombstone_approver');
SELECT is((SELECT result FROM pg_temp.r WHERE name = 'sign'), 'ok', 'sign() is allowed to a member of tombstone_approver');
SELECT is((SELECT result FROM pg_temp.r WHERE name = 'sign_ed'), 'TB021', 'sign() refuses an EdDSA key');
SELECT is((SELECT result FROM pg_temp.r WHERE name = 'sign_unknown'), 'TB022', 'sign() refuses an unknown key');
SELECT is((SELECT result FROM pg_temp.r WHERE name = 'sign_op'), 'TB022', 'sign() refuses an operation its key may not authorize');
SELECT is((SELECT result FROM pg_temp.r WHERE name = 'sign_bad_claim'), 'TB029', 'sign() refuses claims authorize() would refuse');
SELECT is((SELECT result FROM pg_temp.r WHERE name = 'sign_no_op'), 'TB029', 'sign() refuses claims without op');
SELECT is((SELECT result FROM pg_temp.r WHERE name = 'sign_array'), '22023', 'sign() refuses claims that are not an object');
SELECT is((SELECT result FROM pg_temp.r WHERE name = 'sign_null'), '22004', 'sign() refuses NULL');

-- the happy paths
SELECT is((SELECT tombstone.authorize(tok) - 'jti' FROM pg_temp.t WHERE name = 'good'),
          '{"op": "delete", "aud": "pg_tombstone:test", "exp": 4102444800, "uses": 1, "max_uses": 1}'::jsonb,
          'HS256 token authorized: claims with uses');
SELECT pg_temp.refused('good', 'TB027', 'replay of a used token');
SELECT is((SELECT tombstone.authorize(tok)->>'sub' FROM pg_temp.t WHERE name = 'ed_ok'),
          'alice', 'EdDSA token authorized');
SELECT pg_temp.refused('ed_ok', 'TB027', 'replay of a used EdDSA token');
SELECT is((SELECT (tombstone.authorize(tok)->>'uses')::int FROM pg_temp.t WHERE name = 'ed_multi'),
          1, 'EdDSA max_uses 2: first use');
SELECT is((SELECT (tombstone.authorize(tok)->>'uses')::int FROM pg_temp.t WHERE name = 'ed_multi'),
          2, 'EdDSA max_uses 2: second use (verified from the cache)');
SELECT pg_temp.refused('ed_multi', 'TB027', 'EdDSA max_uses 2: third use');
SELECT is((SELECT (tombstone.authorize(tok)->>'uses')::int FROM pg_temp.t WHERE name = 'three_uses'), 1, 'max_uses 3: use 1');
SELECT is((SELECT (tombstone.authorize(tok)->>'uses')::int FROM pg_temp.t WHERE name = 'three_uses'), 2, 'max_uses 3: use 2');
SELECT is((SELECT (tombstone.authorize(tok)->>'uses')::int FROM pg_temp.t WHERE name = 'three_uses'), 3, 'max_uses 3: use 3');
SELECT pg_temp.refused('three_uses', 'TB027', 'max_uses 3: use 4');
SELECT is((SELECT uses FROM tombstone.token_uses WHERE jti = 'tap-three'), 3, 'three uses recorded');
SELECT is((SELECT tombstone.authorize(tok)->>'uses' FROM pg_temp.t WHERE name = 'purge_key_ok'),
          '1', 'a key limited to purge authorizes a purge token');
SELECT is((SELECT tombstone.authorize(tok)->'aud' FROM pg_temp.t WHERE name = 'aud_list_ok'),
          '["a", "pg_tombstone:test"]', 'aud as a list containing this database');

-- what the guard sees
SELECT is((SELECT tombstone.authorize(tok)->>'jti' FROM pg_temp.t WHERE name = 'scoped'), 'tap-scoped',
          'scoped token authorized');
SELECT is((SELECT array_agg(jti ORDER BY jti) FROM tombstone.bound_tokens() WHERE jti LIKE 'tap-s%'),
          ARRAY['tap-scoped'], 'the scoped token is bound');
SELECT is((SELECT row(tables, tenants, all_tenants, max_rows)::text FROM tombstone.bound_tokens() WHERE jti = 'tap-scoped'),
          row('{tok_part,tok_t}'::regclass[], '{a,b}'::text[], false, 10::bigint)::text,
          'tables resolved, tenants and budget kept');
SELECT is((SELECT row(all_tenants, sub, reason)::text FROM tombstone.bound_tokens() WHERE jti = 'tap-ed-ok'),
          row(true, 'alice', 'fixture')::text, 'tenants ["*"] means all tenants');

-- a token bound in a subtransaction that rolls back is unbound, its use undone
SAVEPOINT s1;
SELECT is((SELECT tombstone.authorize(tok)->>'uses' FROM pg_temp.t WHERE name = 'savepoint'), '1',
          'authorized in a savepoint');
SELECT is((SELECT count(*) FROM tombstone.bound_tokens() WHERE jti = 'tap-savepoint'), 1::bigint, 'bound in the savepoint');
ROLLBACK TO SAVEPOINT s1;
SELECT is((SELECT count(*) FROM tombstone.bound_tokens() WHERE jti = 'tap-savepoint'), 0::bigint,
          'unbound when the savepoint rolls back');
SELECT is((SELECT count(*) FROM tombstone.token_uses WHERE jti = 'tap-savepoint'), 0::bigint,
          'its use rolled back');
SAVEPOINT s2;
SELECT is((SELECT tombstone.authorize(tok)->>'uses' FROM pg_temp.t WHERE name = 'savepoint'), '1',
          'usable again after the rollback');
RELEASE SAVEPOINT s2;
SELECT is((SELECT count(*) FROM tombstone.bound_tokens() WHERE jti = 'tap-savepoint'), 1::bigint,
          'bound after the savepoint is released');

-- sign() output
SELECT is((SELECT split_part(tok, '.', 3) = pg_temp.b64u(hmac(convert_to(split_part(tok, '.', 1) || '.' || split_part(tok, '.', 2), 'UTF8'),
                                                             pg_temp.secret(), 'sha256'))
             FROM pg_temp.t WHERE name = 'signed'),
          true, 'sign() output verifies with pgcrypto''s HMAC-SHA256');
SELECT is((SELECT convert_from(decode(rpad(translate(split_part(tok, '.', 1), '-_', '+/'),
                                          (length(split_part(tok, '.', 1)) + 3) / 4 * 4, '='), 'base64'), 'UTF8')::jsonb
             FROM pg_temp.t WHERE name = 'signed'),
          '{"alg": "HS256", "typ": "JWT", "kid": "tap_hs"}'::jsonb, 'sign() header');
SELECT is((SELECT (c->>'exp')::numeric - (c->>'iat')::numeric = 3600 AND c->>'aud' = 'pg_tombstone:test'
                  AND c->>'jti' ~ '^[0-9a-f]{32}$'
             FROM (SELECT tombstone.authorize(tok) AS c FROM pg_temp.t WHERE name = 'signed') x),
          true, 'sign() fills iat, exp = iat + 3600, aud and a random jti; authorize() accepts it');

-- add_key() and remove_key()
SELECT throws_ok($$SELECT tombstone.add_key('short', 'HS256', '\x00112233')$$, '22023', NULL,
                 'HS256 secret shorter than 32 bytes');
SELECT throws_ok($$SELECT tombstone.add_key('ed31', 'EdDSA', '\x00112233445566778899aabbccddeeff00112233445566778899aabbccddee')$$,
                 '22023', NULL, 'Ed25519 key of 31 bytes');
SELECT throws_ok($$SELECT tombstone.add_key('rsa', 'RS256', pg_temp.secret())$$, '22023', NULL, 'unsupported algorithm');
SELECT throws_ok($$SELECT tombstone.add_key('tap_hs', 'HS256', pg_temp.secret())$$, '42710', NULL, 'duplicate key id');
SELECT throws_ok($$SELECT tombstone.add_key('badops', 'HS256', pg_temp.secret(), ARRAY['delete', 'drop'])$$, '22023', NULL,
                 'unknown operation in ops');
SELECT throws_ok($$SELECT tombstone.add_key(NULL, 'HS256', pg_temp.secret())$$, '22004', NULL, 'add_key with NULL');
SELECT throws_ok($$SELECT tombstone.add_key('priv', 'EdDSA', convert_to(E'-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEII2YB4XGSvfSDls6CyiMSKYOChdUPdpgTcu8vKiyp+JH\n-----END PRIVATE KEY-----\n', 'UTF8'))$$,
                 '22023', NULL, 'a private key is refused');
SELECT lives_ok($$SELECT tombstone.add_key('tap_pem', 'EdDSA', convert_to(E'-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA3sbw1YGF5ENXYfN+oQEXrJhKmwLUVeKwxSMJK8rxWb8=\n-----END PUBLIC KEY-----\n', 'UTF8'))$$,
                'an Ed25519 public key in PEM');
SELECT is((SELECT key FROM tombstone.keys WHERE key_id = 'tap_pem'),
          (SELECT key FROM tombstone.keys WHERE key_id = 'tap_ed'), 'PEM is stored as the 32 raw bytes');
SELECT throws_ok($$SELECT tombstone.remove_key('nobody')$$, '42704', NULL, 'remove an unknown key');
SELECT lives_ok($$SELECT tombstone.remove_key('tap_hs')$$, 'remove a key');
INSERT INTO pg_temp.t VALUES ('after_removal', pg_temp.hs(pg_temp.claims('tap-removed')));
SELECT pg_temp.refused('after_removal', 'TB022', 'a token whose key was removed');

SELECT * FROM finish();
ROLLBACK;
