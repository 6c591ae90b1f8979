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
# The gateway the end-to-end tests run is built with fault injection (GATEWAY_FAULT):
# the tests of supervision make a background task panic on purpose. Release builds
# never have it.
features=(--features gateway/fault-injection)
cargo build --workspace --bins "${features[@]}"
cargo test --workspace "${features[@]}" -- --test-threads "${TEST_THREADS:-8}"

# The settings panel, in headless Chromium from Debian's packages, against the binary.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing chromium (Debian package)"
    apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
  else
    echo "chromium is missing: sudo apt-get install chromium" >&2
    exit 1
  fi
fi
(cd admin-ui/tests && npm ci --no-audit --no-fund --loglevel=error)
echo "panel tests (screenshots go to tests/artifacts/panel/)"
GATEWAY_BIN="$PWD/target/debug/gateway" CHROMIUM="$(command -v chromium)" \
  node --test --test-concurrency=1 admin-ui/tests/panel.test.mjs
