-- Signed change tokens: what a user sees when a token is refused
\set QUIET off
\set SHOW_CONTEXT never
\set VERBOSITY default

-- the default audience names the cluster and the database
SELECT tombstone.audience() ~ ('^pg_tombstone:[0-9]+:' || current_database() || '$') AS default_audience;
SET tombstone.audience = 'pg_tombstone:regress';
SELECT tombstone.audience();

SELECT tombstone.add_key('reg_hs', 'HS256', convert_to('regression test secret, 32 bytes or more', 'UTF8'));
SELECT tombstone.add_key('reg_ed', 'EdDSA', '\xdec6f0d58185e4435761f37ea10117ac984a9b02d455e2b0c523092bcaf159bf');
SELECT tombstone.add_key('reg_ddl', 'HS256', convert_to('another regression secret, 32 bytes', 'UTF8'));

-- tokens with fixed iat, exp and jti are the same on every run
CREATE TABLE reg_tok (name text PRIMARY KEY, tok text);
INSERT INTO reg_tok VALUES
    ('good', tombstone.sign('{"op": "delete", "jti": "reg-good", "iat": 1700000000, "exp": 4102444800, "tenants": ["7"], "reason": "ticket 12"}', 'reg_hs')),
    ('expired', tombstone.sign('{"op": "delete", "jti": "reg-expired", "iat": 999996400, "exp": 1000000000}', 'reg_hs')),
    ('not_yet', tombstone.sign('{"op": "delete", "jti": "reg-not-yet", "iat": 1700000000, "exp": 4102444800, "nbf": 4000000000}', 'reg_hs')),
    ('for_role', tombstone.sign('{"op": "delete", "jti": "reg-role", "iat": 1700000000, "exp": 4102444800, "role": "reg_operators"}', 'reg_hs')),
    ('wrong_op_key', tombstone.sign('{"op": "delete", "jti": "reg-op", "iat": 1700000000, "exp": 4102444800}', 'reg_ddl')),
    ('no_table', tombstone.sign('{"op": "ddl", "jti": "reg-table", "iat": 1700000000, "exp": 4102444800, "tables": ["reg_tok", "missing_table"]}', 'reg_hs')),
    ('ed_ok', 'eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCIsImtpZCI6InJlZ19lZCJ9.eyJvcCI6InB1cmdlIiwiYXVkIjoicGdfdG9tYnN0b25lOnJlZ3Jlc3MiLCJleHAiOjQxMDI0NDQ4MDAsImp0aSI6InJlZ3Jlc3MtZWQtMSIsInJlYXNvbiI6InJlZ3Jlc3MgZml4dHVyZSJ9.zrRjM9QSqEgS7LZ2eBEBGEoUBBoCs4YTnOCrVWGVIHwl6GZJ-Q_5OE71OnE-FAuxWpj8FzEVowBhMpffUz1nAQ'),
    ('ed_other_aud', 'eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCIsImtpZCI6InJlZ19lZCJ9.eyJvcCI6InB1cmdlIiwiYXVkIjoicGdfdG9tYnN0b25lOmVsc2V3aGVyZSIsImV4cCI6NDEwMjQ0NDgwMCwianRpIjoicmVncmVzcy1lZC0yIn0.6OBp_DQQAw-Yb63a_HxJnRcjPgpYfFFelV6q8IU3ZhiUpUY5KJhotVcE1KHSecI8hsRLCD3zmYB7Rtr_dX8bBQ');
-- the good token with its claims replaced, and with another kid or alg
INSERT INTO reg_tok
SELECT 'edited', split_part(tok, '.', 1) || '.' ||
       translate(encode(convert_to('{"op": "purge", "aud": "pg_tombstone:regress", "exp": 4102444800, "jti": "reg-good"}', 'UTF8'), 'base64'), E'+/=\n', '-_') ||
       '.' || split_part(tok, '.', 3)
  FROM reg_tok WHERE name = 'good'
UNION ALL
SELECT 'other_kid', translate(encode(convert_to('{"alg":"HS256","kid":"retired-2023"}', 'UTF8'), 'base64'), E'+/=\n', '-_') || '.' ||
       split_part(tok, '.', 2) || '.' || split_part(tok, '.', 3)
  FROM reg_tok WHERE name = 'good'
UNION ALL
SELECT 'alg_none', translate(encode(convert_to('{"alg":"none","kid":"reg_hs"}', 'UTF8'), 'base64'), E'+/=\n', '-_') || '.' ||
       split_part(tok, '.', 2) || '.AAAA'
  FROM reg_tok WHERE name = 'good'
  FROM reg_tok WHERE name = 'good';
-- the key reg_ddl signed a delete token, then was limited to ddl
SELECT tombstone.remove_key('reg_ddl');
SELECT tombstone.add_key('reg_ddl', 'HS256', convert_to('another regression secret, 32 bytes', 'UTF8'), ARRAY['ddl']);
SELECT key_id, alg, length(key) AS key_bytes, ops FROM tombstone.keys ORDER BY key_id;
-- HS256 secrets are kept apart, out of every dump
SELECT key_id, length(secret) AS secret_bytes FROM tombstone.key_secrets ORDER BY key_id;

-- refusals, one of each kind
SELECT tombstone.authorize(NULL);
\echo :SQLSTATE
SELECT tombstone.authorize('not a token');
\echo :SQLSTATE
SELECT tombstone.authorize(repeat('x', 9000));
\echo :SQLSTATE
SELECT tombstone.authorize(tok) FROM reg_tok WHERE name = 'alg_none';
\echo :SQLSTATE
SELECT tombstone.authorize(tok) FROM reg_tok WHERE name = 'other_kid';
\echo :SQLSTATE
SELECT tombstone.authorize(tok) FROM reg_tok WHERE name = 'edited';
\echo :SQLSTATE
SELECT tombstone.authorize(tok) FROM reg_tok WHERE name = 'expired';
\echo :SQLSTATE
SELECT tombstone.authorize(tok) FROM reg_tok WHERE name = 'not_yet';
\echo :SQLSTATE
SELECT tombstone.authorize(tok) FROM reg_tok WHERE name = 'ed_other_aud';
\echo :SQLSTATE
CREATE ROLE reg_operators NOLOGIN;
CREATE ROLE reg_app NOLOGIN;
GRANT SELECT ON reg_tok TO reg_app;
SET ROLE reg_app;
SELECT tombstone.authorize(tok) FROM reg_tok WHERE name = 'for_role';
\echo :SQLSTATE
RESET ROLE;
SELECT tombstone.authorize(tok) FROM reg_tok WHERE name = 'no_table';
\echo :SQLSTATE
SELECT tombstone.sign('{"tenants": ["7"], "jti": "reg-no-op", "iat": 1700000000, "exp": 4102444800}', 'reg_hs');
\echo :SQLSTATE
SELECT tombstone.authorize(tok) FROM reg_tok WHERE name = 'wrong_op_key';
\echo :SQLSTATE
SELECT tombstone.sign('{"op": "purge"}', 'reg_ed');
\echo :SQLSTATE
SELECT count(*) AS uses_recorded FROM tombstone.token_uses;

-- accepted, bound to the transaction, then refused as used
BEGIN;
SELECT tombstone.authorize(tok) FROM reg_tok WHERE name = 'good';
SELECT jti, key_id, op, tenants, all_tenants, reason, exp FROM tombstone.bound_tokens();
COMMIT;
SELECT count(*) AS bound_after_commit FROM tombstone.bound_tokens();
SELECT tombstone.authorize(tok) FROM reg_tok WHERE name = 'good';
\echo :SQLSTATE
SELECT jti, key_id, uses, max_uses, exp FROM tombstone.token_uses;

-- an Ed25519 token minted with pg_tombstone_token
BEGIN;
SELECT tombstone.authorize(tok) FROM reg_tok WHERE name = 'ed_ok';
ROLLBACK;

-- key management
SELECT tombstone.add_key('weak', 'HS256', convert_to('short', 'UTF8'));
SELECT tombstone.add_key('reg_hs', 'HS256', convert_to('regression test secret, 32 bytes or more', 'UTF8'));
SELECT tombstone.remove_key('never-added');
SET ROLE reg_app;
SELECT * FROM tombstone.keys;
SELECT tombstone.sign('{"op": "delete"}', 'reg_hs');
RESET ROLE;

-- sign() output checked by an independent HMAC-SHA256 (Perl's Digest::SHA)
SELECT tombstone.sign('{"op": "delete", "tenants": ["7"]}', 'reg_hs') AS signed \gset
\setenv REG_TOKEN :signed
\! perl -MDigest::SHA=hmac_sha256 -MMIME::Base64 -e 'my ($h, $p, $s) = split /\./, $ENV{REG_TOKEN}; my $m = encode_base64(hmac_sha256("$h.$p", "regression test secret, 32 bytes or more"), ""); $m =~ tr{+/}{-_}; $m =~ s/=+$//; print(($m eq $s ? "signature verifies" : "SIGNATURE DOES NOT VERIFY"), "\n");'
\setenv REG_TOKEN

DROP TABLE reg_tok;
DROP ROLE reg_app;
DROP ROLE reg_operators;
SELECT tombstone.remove_key(key_id) FROM tombstone.keys ORDER BY key_id;
