#!/usr/bin/env bash
# The benchmark: release build, then SQLite and a fresh PostgreSQL (fsync on), each
# with the gateway's default rate limits. Extra arguments go to gateway-bench, e.g.
#   scripts/bench.sh --events 50000 --concurrency 128
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p gateway -p gateway-bench --bins
work=$(mktemp -d "${TMPDIR:-/tmp}/gateway-bench.XXXXXX")
eval "$(scripts/pg.sh start)"
trap 'scripts/pg.sh stop "$PG_DIR"; rm -rf "$work"' EXIT
psql -q "$TEST_POSTGRES_URL/postgres" -c "CREATE DATABASE bench" >/dev/null
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; load generator on the same machine"
target/release/gateway-bench --database-url "sqlite://$work/bench.db?mode=rwc" "$@"
target/release/gateway-bench --database-url "$TEST_POSTGRES_URL/bench" "$@"
