#!/usr/bin/env bash
# Cost of tombstone.authorize(), in microseconds per call, for HS256 and
# EdDSA tokens, against a running cluster with pg_tombstone preloaded
# (libpq's PGHOST/PGPORT/PGUSER; a superuser).  Creates and drops database
# $BENCH_DB [token_bench].
#
#   PGPORT=5442 bench/token_bench.sh
#   BENCH_SECONDS=2 BENCH_ROUNDS=5 BENCH_FIRST=1000 PGPORT=5442 bench/token_bench.sh
#
# Every call runs in its own transaction (pgbench, 1 client, simple
# protocol), and each figure is the pgbench latency of that transaction
# minus the latency of a baseline transaction of the same shape without
# authorize() (SELECT 1, or the same token lookup).  Each case and its
# baseline run in turn, BENCH_ROUNDS times (BENCH_SECONDS, or BENCH_FIRST
# fresh tokens, each), and a figure is the median of the differences of
# its rounds, so that a change of load during the run moves the baseline
# with it.  synchronous_commit is off for all of them: authorize() writes a
# row, and the WAL flush of its commit would otherwise measure the disk.
# The load average is printed before and after: on a busy machine the
# latencies measure the other processes too.
#
#   repeat     one standing token (max_uses 2,000,000,000) authorised again
#              and again: the use row is updated.  For EdDSA the signature
#              is verified once per backend and then found in the backend's
#              cache of verified tokens; every other check runs each time.
#   first use  a fresh token every call (BENCH_FIRST of them, minted
#              beforehand): the use row is inserted, and EdDSA tokens are
#              verified in full.
#
# Latency counts waiting for a CPU.  "backend CPU time" reads the CPU time
# of the server process itself (/proc/self/schedstat, Linux; superuser):
# a procedure runs authorize() and COMMIT BENCH_FIRST times (repeat, and
# first use of the tokens of the one-transaction loop below), minus the same
# loop with the token lookup only.  It is the server's cost per authorised
# transaction without client, parsing or scheduling, and it changes little
# with the load of other processes.
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
SECONDS_PER_RUN=${BENCH_SECONDS:-4}
ROUNDS=${BENCH_ROUNDS:-3}
FIRST=${BENCH_FIRST:-3000}
TOKENS=$(( (ROUNDS + 1) * FIRST ))
TOOL=${BENCH_TOOL:-tools/pg_tombstone_token}
KEY=bench/token_test_ed25519.pem
export PGOPTIONS="${PGOPTIONS:-} -c synchronous_commit=off"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

[ -x "$TOOL" ] || { echo "token_bench.sh: build $TOOL first (make)" >&2; exit 1; }

psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" -c "SET tombstone.drop_database = '$DB'" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
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
  FROM generate_series(1, $TOKENS) g;
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
load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime)
echo "minting $TOKENS EdDSA tokens ..." >&2
for i in $(seq 1 $TOKENS); do
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

# median of the numbers given
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.1f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
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
-- backend CPU time (us) per iteration of: authorize(tok) or only the lookup, then COMMIT
-- (the tokens of tbl with i > skip, or "n" times the standing token named)
CREATE PROCEDURE bench_cpu(tbl regclass, skip bigint, n bigint, standing text,
                           authorize boolean, INOUT cpu float8 DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    c0   bigint;
    tok  text;
    toks text[];
BEGIN
    IF standing IS NOT NULL THEN
        SELECT array_agg(b.tok) INTO toks
          FROM bench_tokens b, generate_series(1, n) WHERE b.name = standing;
    ELSE
        EXECUTE format('SELECT array_agg(tok ORDER BY i) FROM %s WHERE i > $1', tbl) INTO toks USING skip;
    END IF;
    n := cardinality(toks);
    COMMIT;
    c0 := split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint;
    FOREACH tok IN ARRAY toks LOOP
        IF authorize THEN
            PERFORM tombstone.authorize(tok);
        ELSE
            PERFORM length(tok);
        END IF;
        COMMIT;
    END LOOP;
    cpu := (split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint - c0) / 1e3 / n;
END
$$;
VACUUM ANALYZE;
SQL

# Each case runs right after its baseline, ROUNDS times; keep the differences.
d_hs_rep=() d_ed_rep=() d_write_hs=() d_write_ed=() d_hs_first=() d_ed_first=()
r_base=() r_lookup=() r_fb=() r_write_base=()
for r in $(seq 1 "$ROUNDS"); do
    echo "round $r of $ROUNDS ..." >&2
    base=$(lat -T "$SECONDS_PER_RUN" -f "$tmp/select1.sql")
    lookup=$(lat -T "$SECONDS_PER_RUN" -f "$tmp/lookup.sql")
    hs_rep=$(lat -T "$SECONDS_PER_RUN" -f "$tmp/hs_repeat.sql")
    lookup2=$(lat -T "$SECONDS_PER_RUN" -f "$tmp/lookup.sql")
    ed_rep=$(lat -T "$SECONDS_PER_RUN" -f "$tmp/ed_repeat.sql")
    write_base=$(lat -T "$SECONDS_PER_RUN" -f "$tmp/write_lookup.sql")
    write_hs=$(lat -T "$SECONDS_PER_RUN" -f "$tmp/write_hs.sql")
    write_base2=$(lat -T "$SECONDS_PER_RUN" -f "$tmp/write_lookup.sql")
    write_ed=$(lat -T "$SECONDS_PER_RUN" -f "$tmp/write_ed.sql")
    first_base=$(lat -t "$FIRST" -f "$tmp/first_base.sql")
    hs_first=$(lat -t "$FIRST" -f "$tmp/hs_first.sql")
    first_base2=$(lat -t "$FIRST" -f "$tmp/first_base.sql")
    ed_first=$(lat -t "$FIRST" -f "$tmp/ed_first.sql")
    r_base+=("$base") r_lookup+=("$lookup") r_fb+=("$first_base") r_write_base+=("$write_base")
    d_hs_rep+=("$(echo "$hs_rep - $lookup" | bc)")
    d_ed_rep+=("$(echo "$ed_rep - $lookup2" | bc)")
    d_write_hs+=("$(echo "$write_hs - $write_base" | bc)")
    d_write_ed+=("$(echo "$write_ed - $write_base2" | bc)")
    d_hs_first+=("$(echo "$hs_first - $first_base" | bc)")
    d_ed_first+=("$(echo "$ed_first - $first_base2" | bc)")
done
loop1() {
    psql -X -At -v ON_ERROR_STOP=1 -d "$DB" -c "BEGIN" -c "SELECT round(bench_loop('$1', $((ROUNDS * FIRST)), $2)::numeric, 1)" -c "ROLLBACK" | sed -n 2p
}
loop_base=$(loop1 bench_hs_first false)
loop_hs=$(loop1 bench_hs_first true)
loop_ed=$(loop1 bench_ed_first true)
# backend CPU time: the loop above rolled back, so its tokens are fresh again
cpu1() {
    { psql -X -At -v ON_ERROR_STOP=1 -d "$DB" -c "CALL bench_cpu('$1', $((ROUNDS * FIRST)), $FIRST, $2, $3)" 2>/dev/null || true; } |
        awk '{ printf "%.1f", $1 }'
}
cpu_base=$(cpu1 bench_hs_first NULL false)
if [ -n "$cpu_base" ]; then
    cpu_hs_rep=$(cpu1 bench_hs_first "'hs'" true)
    cpu_ed_rep=$(cpu1 bench_hs_first "'ed'" true)
    cpu_hs_first=$(cpu1 bench_hs_first NULL true)
    cpu_ed_first=$(cpu1 bench_ed_first NULL true)
fi
uses=$(psql -X -At -d "$DB" -c "SELECT count(*) || ' tokens, ' || sum(uses) || ' uses' FROM tombstone.token_uses")
load_after=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime)

awk -v base="$(median "${r_base[@]}")" -v lookup="$(median "${r_lookup[@]}")" \
    -v fb="$(median "${r_fb[@]}")" -v write_base="$(median "${r_write_base[@]}")" \
    -v hs_rep="$(median "${d_hs_rep[@]}")" -v ed_rep="$(median "${d_ed_rep[@]}")" \
    -v hs_first="$(median "${d_hs_first[@]}")" -v ed_first="$(median "${d_ed_first[@]}")" \
    -v write_hs="$(median "${d_write_hs[@]}")" -v write_ed="$(median "${d_write_ed[@]}")" \
    -v n="$FIRST" -v s="$SECONDS_PER_RUN" -v rounds="$ROUNDS" -v uses="$uses" \
    -v loop_base="$loop_base" -v loop_hs="$loop_hs" -v loop_ed="$loop_ed" \
    -v cpu_base="${cpu_base:-}" -v cpu_hs_rep="${cpu_hs_rep:-}" -v cpu_ed_rep="${cpu_ed_rep:-}" \
    -v cpu_hs_first="${cpu_hs_first:-}" -v cpu_ed_first="${cpu_ed_first:-}" \
    -v load_before="$load_before" -v load_after="$load_after" '
function row(name, v) { printf "  %-32s %8.1f   %s\n", name, v, (v <= 50) ? "met" : "not met" }
BEGIN {
    printf "load average before: %s, after: %s\n", load_before, load_after
    printf "transaction latency (us), 1 client, synchronous_commit off, median of %d rounds\n", rounds
    printf "  SELECT 1                         %8.1f\n", base
    printf "  token lookup (repeat baseline)   %8.1f\n", lookup
    printf "  fresh-token lookup (first base)  %8.1f\n", fb
    printf "authorize(), us per call (minus its baseline)       target <= 50\n"
    row("HS256 repeat (standing token)", hs_rep)
    row("EdDSA repeat (standing, cached)", ed_rep)
    row("HS256 first use", hs_first)
    row("EdDSA first use (full verify)", ed_first)
    printf "authorize() in a transaction that writes a row anyway, repeat (minus INSERT + lookup, %.1f)\n", write_base
    row("HS256", write_hs)
    row("EdDSA (cached)", write_ed)
    printf "authorize() in one transaction, first use, us per call (minus the bare loop, %.1f)\n", loop_base
    row("HS256", loop_hs - loop_base)
    row("EdDSA", loop_ed - loop_base)
    if (cpu_base != "") {
        printf "backend CPU time per authorised transaction, us (minus lookup + COMMIT, %.1f)\n", cpu_base
        row("HS256 repeat", cpu_hs_rep - cpu_base)
        row("EdDSA repeat (cached)", cpu_ed_rep - cpu_base)
        row("HS256 first use", cpu_hs_first - cpu_base)
        row("EdDSA first use", cpu_ed_first - cpu_base)
    }
    printf "(%d rounds of %s s per repeat run and %d fresh tokens per first-use run; token_uses: %s)\n", rounds, s, n, uses
}'

psql -X -q -d postgres -c "SET tombstone.drop_database = '$DB'" -c "DROP DATABASE $DB"
