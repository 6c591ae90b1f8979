#!/usr/bin/env bash
# The benchmarks: release build, then SQLite and a fresh PostgreSQL (fsync on), each
# with the gateway's default rate limits.
#  1. gateway-bench: webhook throughput and latency. Extra arguments go to it, e.g.
#       scripts/bench.sh --events 50000 --concurrency 128
#  2. gateway-bench-log: the admin event log and health page at LOG_ROWS webhook
#     events (default 1,000,000; LOG_ROWS=0 skips it).
#  3. gateway-bench-push: 10,000 widgets long-polling, and notifications per second.
#  4. gateway-bench-status: widget status reads per second (200 and 304).
#  5. gateway-bench with 10,000 tenants × 10 orders beside 20 tenants × 5,000 orders (the
#     same 100,000 orders: only the tenant count differs), and with two replicas
#     (PostgreSQL); SCALE=0 skips these.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p gateway -p gateway-bench --bins
work=$(mktemp -d "${TMPDIR:-/tmp}/gateway-bench.XXXXXX")
eval "$(scripts/pg.sh start)"
trap 'scripts/pg.sh stop "$PG_DIR"; rm -rf "$work"' EXIT
psql -q "$TEST_POSTGRES_URL/postgres" -c "CREATE DATABASE bench" -c "CREATE DATABASE bench_log" -c "CREATE DATABASE bench_push" \
  -c "CREATE DATABASE bench_status" -c "CREATE DATABASE bench_many" -c "CREATE DATABASE bench_few" -c "CREATE DATABASE bench_replicas" >/dev/null
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; load generator on the same machine"
target/release/gateway-bench --database-url "sqlite://$work/bench.db?mode=rwc" "$@"
target/release/gateway-bench --database-url "$TEST_POSTGRES_URL/bench" "$@"
rows=${LOG_ROWS:-1000000}
if [ "$rows" -gt 0 ]; then
  target/release/gateway-bench-log --database-url "sqlite://$work/log.db?mode=rwc" --rows "$rows"
  target/release/gateway-bench-log --database-url "$TEST_POSTGRES_URL/bench_log" --rows "$rows"
fi
target/release/gateway-bench-push --database-url "sqlite://$work/push.db?mode=rwc"
target/release/gateway-bench-push --database-url "$TEST_POSTGRES_URL/bench_push"
target/release/gateway-bench-status --database-url "sqlite://$work/status.db?mode=rwc"
target/release/gateway-bench-status --database-url "$TEST_POSTGRES_URL/bench_status"
if [ "${SCALE:-1}" != 0 ]; then
  target/release/gateway-bench --database-url "$TEST_POSTGRES_URL/bench_many" --tenants 10000 --orders-per-tenant 10 "$@"
  target/release/gateway-bench --database-url "$TEST_POSTGRES_URL/bench_few" --tenants 20 --orders-per-tenant 5000 "$@"
  target/release/gateway-bench --database-url "$TEST_POSTGRES_URL/bench_replicas" --replicas 2 --concurrency 128 "$@"
fi
