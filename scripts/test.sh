#!/usr/bin/env bash
# Runs every test: formatting and lints, unit tests, and the end-to-end suite against
# the real binary on SQLite and on a PostgreSQL server this script starts and stops.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/pg.sh start)"
trap 'scripts/pg.sh stop "$PG_DIR"' EXIT
echo "PostgreSQL for the tests: $TEST_POSTGRES_URL"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --bins
cargo test --workspace -- --test-threads "${TEST_THREADS:-8}"
