#!/usr/bin/env bash
# Cost of tombstone.authorize(), in microseconds per call, for HS256 and
# EdDSA tokens, against a running cluster with pg_tombstone preloaded
# (libpq's PGHOST/PGPORT/PGUSER; a superuser).  Creates and drops database
# $BENCH_DB [token_bench].
#
#   PGPORT=5442 bench/token_bench.sh
#   BENCH_SECONDS=5 BENCH_FIRST=1000 PGPORT=5442 bench/token_bench.sh
#
# Every call runs in its own transaction (pgbench, 1 client, simple
# protocol), and each figure is the pgbench latency of that transaction
# minus the latency of a baseline transaction of the same shape without
# authorize() (SELECT 1, or the same token lookup), measured in the same
# run.  synchronous_commit is off for all of them: authorize() writes a row,
# and the WAL flush of its commit would otherwise measure the disk.
#
#   repeat     one standing token (max_uses 2,000,000,000) authorised again
#              and again: the use row is updated.  For EdDSA the signature
#              is verified once per backend and then found in the backend's
#              cache of verified tokens; every other check runs each time.
#   first use  a fresh token every call (BENCH_FIRST of them, minted
#              beforehand): the use row is inserted, and EdDSA tokens are
#              verified in full.
#
# A write transaction costs more to commit than SELECT 1 (an xid, a commit
# record, waking the WAL writer), and that cost is part of the figures
# above.  Since authorize() always accompanies a change, "in a transaction
# that writes a row anyway" compares INSERT + authorize() with INSERT + the
# same token lookup.  "in one transaction" runs BENCH_FIRST other fresh tokens through
# authorize() in a PL/pgSQL loop, minus the same loop without authorize():
# the cost of the function itself.
#
# EdDSA tokens are minted with tools/pg_tombstone_token and the test key
# bench/token_test_ed25519.pem (a published test key: never register it in a
# real database).
set -euo pipefail
cd "$(dirname "$0")/.."

DB=${BENCH_DB:-token_bench}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
FIRST=${BENCH_FIRST:-3000}
TOOL=${BENCH_TOOL:-tools/pg_tombstone_token}
KEY=bench/token_test_ed25519.pem
export PGOPTIONS="${PGOPTIONS:-} -c synchronous_commit=off"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

[ -x "$TOOL" ] || { echo "token_bench.sh: build $TOOL first (make)" >&2; exit 1; }

psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
CREATE EXTENSION pg_tombstone;
SELECT tombstone.add_key('bench_hs', 'HS256', convert_to('token benchmark secret, 32 bytes or more', 'UTF8'));
SELECT tombstone.add_key('bench_ed', 'EdDSA', decode('$("$TOOL" --key-file "$KEY" --alg EdDSA --print-public-key)', 'hex'));
CREATE TABLE bench_tokens (name text PRIMARY KEY, tok text NOT NULL);
INSERT INTO bench_tokens VALUES
    ('hs', tombstone.sign('{"op": "delete", "jti": "bench-hs", "max_uses": 2000000000}'::jsonb
                          || jsonb_build_object('exp', extract(epoch FROM now() + interval '1 day')::bigint), 'bench_hs'));
CREATE TABLE bench_hs_first (i bigint PRIMARY KEY, tok text NOT NULL);
INSERT INTO bench_hs_first
SELECT g, tombstone.sign(jsonb_build_object('op', 'delete', 'jti', 'bench-hs-' || g), 'bench_hs')
  FROM generate_series(1, 2 * $FIRST) g;
CREATE TABLE bench_ed_first (i bigint PRIMARY KEY, tok text NOT NULL);
CREATE TABLE bench_w (i int);
CREATE SEQUENCE bench_hs_seq;
CREATE SEQUENCE bench_ed_seq;
CREATE SEQUENCE bench_base_seq CYCLE MAXVALUE $FIRST;
SQL

aud=$(psql -X -At -d "$DB" -c "SELECT tombstone.audience()")
exp=$(( $(date +%s) + 86400 ))
"$TOOL" --key-file "$KEY" --kid bench_ed --alg EdDSA \
    --claims "{\"op\":\"delete\",\"aud\":\"$aud\",\"exp\":$exp,\"jti\":\"bench-ed\",\"max_uses\":2000000000}" > "$tmp/ed"
echo "INSERT INTO bench_tokens VALUES ('ed', :'tok')" |
    psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -v tok="$(cat "$tmp/ed")"
echo "minting $((2 * FIRST)) EdDSA tokens ..." >&2
for i in $(seq 1 $((2 * FIRST))); do
    printf '%s\t' "$i"
    "$TOOL" --key-file "$KEY" --kid bench_ed --alg EdDSA \
        --claims "{\"op\":\"delete\",\"aud\":\"$aud\",\"exp\":$exp,\"jti\":\"bench-ed-$i\"}"
done > "$tmp/ed_first.tsv"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "\\copy bench_ed_first FROM '$tmp/ed_first.tsv'"

cat > "$tmp/select1.sql" <<'SQL'
SELECT 1;
SQL
cat > "$tmp/hs_repeat.sql" <<'SQL'
SELECT tombstone.authorize(tok) FROM bench_tokens WHERE name = 'hs';
SQL
cat > "$tmp/ed_repeat.sql" <<'SQL'
SELECT tombstone.authorize(tok) FROM bench_tokens WHERE name = 'ed';
SQL
cat > "$tmp/lookup.sql" <<'SQL'
SELECT tok FROM bench_tokens WHERE name = 'hs';
SQL
cat > "$tmp/write_lookup.sql" <<'SQL'
INSERT INTO bench_w VALUES (1);
SELECT tok FROM bench_tokens WHERE name = 'hs';
SQL
cat > "$tmp/write_hs.sql" <<'SQL'
INSERT INTO bench_w VALUES (1);
SELECT tombstone.authorize(tok) FROM bench_tokens WHERE name = 'hs';
SQL
cat > "$tmp/write_ed.sql" <<'SQL'
INSERT INTO bench_w VALUES (1);
SELECT tombstone.authorize(tok) FROM bench_tokens WHERE name = 'ed';
SQL
cat > "$tmp/hs_first.sql" <<'SQL'
SELECT tombstone.authorize(tok) FROM bench_hs_first WHERE i = (SELECT nextval('bench_hs_seq'));
SQL
cat > "$tmp/ed_first.sql" <<'SQL'
SELECT tombstone.authorize(tok) FROM bench_ed_first WHERE i = (SELECT nextval('bench_ed_seq'));
SQL
cat > "$tmp/first_base.sql" <<'SQL'
SELECT tok FROM bench_ed_first WHERE i = (SELECT nextval('bench_base_seq'));
SQL

# average latency of a script in microseconds
lat() {
    local out
    out=$(pgbench -n -M simple -c 1 "$@" "$DB" 2>&1) || { echo "$out" >&2; exit 1; }
    echo "$out" | awk '/latency average/ { printf "%.1f", $4 * 1000 }'
}

psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
-- microseconds per row of tbl with i > skip: authorize(tok), or only the loop
CREATE FUNCTION bench_loop(tbl regclass, skip bigint, authorize boolean)
RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    n  bigint := 0;
    r  record;
BEGIN
    t0 := clock_timestamp();
    FOR r IN EXECUTE format('SELECT tok FROM %s WHERE i > $1 ORDER BY i', tbl) USING skip LOOP
        IF authorize THEN
            PERFORM tombstone.authorize(r.tok);
        ELSE
            PERFORM length(r.tok);
        END IF;
        n := n + 1;
    END LOOP;
    RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / n;
END
$$;
VACUUM ANALYZE;
SQL
base=$(lat -T "$SECONDS_PER_RUN" -f "$tmp/select1.sql")
lookup=$(lat -T "$SECONDS_PER_RUN" -f "$tmp/lookup.sql")
hs_rep=$(lat -T "$SECONDS_PER_RUN" -f "$tmp/hs_repeat.sql")
ed_rep=$(lat -T "$SECONDS_PER_RUN" -f "$tmp/ed_repeat.sql")
write_base=$(lat -T "$SECONDS_PER_RUN" -f "$tmp/write_lookup.sql")
write_hs=$(lat -T "$SECONDS_PER_RUN" -f "$tmp/write_hs.sql")
write_ed=$(lat -T "$SECONDS_PER_RUN" -f "$tmp/write_ed.sql")
first_base=$(lat -t "$FIRST" -f "$tmp/first_base.sql")
hs_first=$(lat -t "$FIRST" -f "$tmp/hs_first.sql")
ed_first=$(lat -t "$FIRST" -f "$tmp/ed_first.sql")
loop1() {
    psql -X -At -v ON_ERROR_STOP=1 -d "$DB" -c "BEGIN" -c "SELECT round(bench_loop('$1', $FIRST, $2)::numeric, 1)" -c "ROLLBACK" | sed -n 2p
}
loop_base=$(loop1 bench_hs_first false)
loop_hs=$(loop1 bench_hs_first true)
loop_ed=$(loop1 bench_ed_first true)
uses=$(psql -X -At -d "$DB" -c "SELECT count(*) || ' tokens, ' || sum(uses) || ' uses' FROM tombstone.token_uses")

awk -v base="$base" -v lookup="$lookup" -v hs_rep="$hs_rep" -v ed_rep="$ed_rep" \
    -v fb="$first_base" -v hs_first="$hs_first" -v ed_first="$ed_first" \
    -v n="$FIRST" -v s="$SECONDS_PER_RUN" -v uses="$uses" \
    -v loop_base="$loop_base" -v loop_hs="$loop_hs" -v loop_ed="$loop_ed" \
    -v write_base="$write_base" -v write_hs="$write_hs" -v write_ed="$write_ed" 'BEGIN {
    printf "transaction latency (us), 1 client, synchronous_commit off\n"
    printf "  SELECT 1                         %8.1f\n", base
    printf "  token lookup (repeat baseline)   %8.1f\n", lookup
    printf "  fresh-token lookup (first base)  %8.1f\n", fb
    printf "authorize(), us per call (minus its baseline)       target <= 50\n"
    printf "  HS256 repeat (standing token)    %8.1f   %s\n", hs_rep - lookup, (hs_rep - lookup <= 50) ? "met" : "not met"
    printf "  EdDSA repeat (standing, cached)  %8.1f   %s\n", ed_rep - lookup, (ed_rep - lookup <= 50) ? "met" : "not met"
    printf "  HS256 first use                  %8.1f   %s\n", hs_first - fb, (hs_first - fb <= 50) ? "met" : "not met"
    printf "  EdDSA first use (full verify)    %8.1f   %s\n", ed_first - fb, (ed_first - fb <= 50) ? "met" : "not met"
    printf "authorize() in a transaction that writes a row anyway, repeat (minus INSERT + lookup, %.1f)\n", write_base
    printf "  HS256                            %8.1f   %s\n", write_hs - write_base, (write_hs - write_base <= 50) ? "met" : "not met"
    printf "  EdDSA (cached)                   %8.1f   %s\n", write_ed - write_base, (write_ed - write_base <= 50) ? "met" : "not met"
    printf "authorize() in one transaction, first use, us per call (minus the bare loop, %.1f)\n", loop_base
    printf "  HS256                            %8.1f   %s\n", loop_hs - loop_base, (loop_hs - loop_base <= 50) ? "met" : "not met"
    printf "  EdDSA                            %8.1f   %s\n", loop_ed - loop_base, (loop_ed - loop_base <= 50) ? "met" : "not met"
    printf "(%s s per repeat run, %d fresh tokens per first-use run; token_uses: %s)\n", s, n, uses
}'

psql -X -q -d postgres -c "DROP DATABASE $DB"
