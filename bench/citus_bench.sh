#!/usr/bin/env bash
# Issue 17, item 7: a router single-row DELETE on a protected distributed
# table against a hand-written "UPDATE ... SET deleted_at = now()" on an
# identical distributed table that is not protected, side by side on one
# throw-away Citus cluster (a coordinator and two workers on loopback,
# scripts/citus_cluster.sh), with pgbench against the coordinator.  Target:
# protected TPS >= 0.9 x the hand-written UPDATE's.
#
# Needs an installed Citus and pg_tombstone in the PostgreSQL of
# $PG_CONFIG (see scripts/test-citus.sh); prints clearly and exits
# non-zero when Citus is missing.  Not run by CI.
#
#   PG_CONFIG=/path/to/pg_config bench/citus_bench.sh
#   BENCH_SMOKE=1 bench/citus_bench.sh       # a few seconds: does it work?
#
# BENCH_SECONDS (10) per run, BENCH_ROUNDS (5, the two sides alternating
# which goes first; median of the rounds), BENCH_CLIENTS (2),
# BENCH_TENANTS (100) x BENCH_ROWS (1000) rows per table.  Ports as for
# scripts/test-citus.sh (CITUS_PORT_COORDINATOR, ...).  Both tables are
# distributed by tenant_id with 32 shards, colocated, with the same
# primary key (tenant_id, id); each DELETE or UPDATE names one row of one
# tenant, a random one, so both sides find rows already deleted alike.
# fsync = off and synchronous_commit = off on every node, as in
# bench/bench.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/locale.sh

if [ "${BENCH_SMOKE:-0}" = 1 ]; then
    : "${BENCH_SECONDS:=2}" "${BENCH_ROUNDS:=1}" "${BENCH_TENANTS:=10}" "${BENCH_ROWS:=100}"
fi
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-5}
CLIENTS=${BENCH_CLIENTS:-2}
TENANTS=${BENCH_TENANTS:-100}
ROWS=${BENCH_ROWS:-1000}
CITUS_EXTRA_CONF="synchronous_commit = off"
. scripts/citus_cluster.sh

citus_check_installed || exit 3
trap citus_stop EXIT
citus_start || exit 1

psql_at "$COORD" -v ON_ERROR_STOP=1 <<SQL >/dev/null || exit 1
SET client_min_messages = warning;
CREATE TABLE bench_prot (tenant_id int NOT NULL, id int NOT NULL, title text,
                         PRIMARY KEY (tenant_id, id));
CREATE TABLE bench_base (tenant_id int NOT NULL, id int NOT NULL, title text,
                         deleted_at timestamptz, PRIMARY KEY (tenant_id, id));
SELECT create_distributed_table('bench_prot', 'tenant_id', shard_count => 32);
SELECT create_distributed_table('bench_base', 'tenant_id', colocate_with => 'bench_prot');
INSERT INTO bench_prot SELECT t, i, 'row ' || i FROM generate_series(1, $TENANTS) t, generate_series(1, $ROWS) i;
INSERT INTO bench_base SELECT t, i, 'row ' || i, NULL FROM generate_series(1, $TENANTS) t, generate_series(1, $ROWS) i;
SELECT tombstone.protect('bench_prot', 'tenant_id', history => false);
VACUUM ANALYZE bench_prot;
VACUUM ANALYZE bench_base;
SQL

cat >"$TMP/prot.sql" <<SQL
\set t random(1, $TENANTS)
\set i random(1, $ROWS)
DELETE FROM bench_prot WHERE tenant_id = :t AND id = :i;
SQL
cat >"$TMP/base.sql" <<SQL
\set t random(1, $TENANTS)
\set i random(1, $ROWS)
UPDATE bench_base SET deleted_at = now() WHERE tenant_id = :t AND id = :i AND deleted_at IS NULL;
SQL
chmod a+r "$TMP"/*.sql

# one pgbench run; prints its TPS
run() {
    as "'$BIN/pgbench' -n -h '$TMP' -p $COORD -U postgres -c $CLIENTS -j $CLIENTS" \
        "-T $SECONDS_PER_RUN -M prepared -f '$TMP/$1.sql' postgres" 2>&1 |
        sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

: >"$TMP/prot.tps"
: >"$TMP/base.tps"
for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then order="base prot"; else order="prot base"; fi
    for side in $order; do
        tps=$(run "$side")
        echo "round $r $side: ${tps:-failed} tps"
        [ -n "$tps" ] && echo "$tps" >>"$TMP/$side.tps"
    done
done

base=$(median <"$TMP/base.tps")
prot=$(median <"$TMP/prot.tps")
ledger=$(psql_at "$COORD" -At -c "'SELECT count(*) FROM tombstone.changes'")
tombstones=$(psql_at "$COORD" -At -c "\"SET tombstone.visibility = 'all'; SELECT count(deleted_at) FROM bench_prot\"" | tail -1)
echo "ledger entries: $ledger, tombstones in bench_prot: $tombstones"
ratio=$(awk -v p="$prot" -v b="$base" 'BEGIN { if (b > 0) printf "%.3f", p / b; else print "n/a" }')
met=$(awk -v r="$ratio" 'BEGIN { print (r != "n/a" && r >= 0.9) ? "yes" : "no" }')
echo "| comparison | baseline | protected | ratio | target | met |"
echo "|---|---|---|---|---|---|"
echo "| router single-row DELETE vs UPDATE ... SET deleted_at = now() on Citus (tps, $CLIENTS clients, ${SECONDS_PER_RUN} s, median of $ROUNDS) | $base | $prot | $ratio | >= 0.9 | $met |"
[ "$prot" != 0 ] && [ "$base" != 0 ]
