#!/usr/bin/env bash
# Runs every test: formatting and lints, unit tests, and the end-to-end suite against
# the real binary on SQLite and on a PostgreSQL server this script starts and stops.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step is timed and has a limit (together under CI's 90 minutes): a hang fails
# the run with the step's name instead of running until CI gives up. `timeout` stops
# the step's whole process group, gateways the tests started included.
started=$SECONDS
step() {
  local name=$1 limit=$2 t0=$SECONDS rc=0
  shift 2
  echo "== $name"
  # At a terminal, --foreground keeps Ctrl-C reaching the step (timeout's own process
  # group would not get it); CI has no terminal.
  local fg=()
  if [ -t 0 ]; then fg=(--foreground); fi
  timeout "${fg[@]}" --kill-after=30 "$limit" "$@" || rc=$?
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "== $name: still running after $limit, stopped (it hangs, or the machine is far too slow)" >&2
  fi
  echo "== $name: $((SECONDS - t0)) s (exit $rc; $((SECONDS - started)) s so far)"
  return "$rc"
}

# A Debian package the tests need (`need_package PACKAGE COMMAND… [-- APT OPTIONS]`):
# installed when one of its commands is missing and we are root.
need_package() {
  local package=$1 commands=() options=()
  shift
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do commands+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  options=("$@")
  for command in "${commands[@]}"; do
    command -v "$command" >/dev/null 2>&1 && continue
    if [ "$(id -u)" != 0 ]; then
      echo "$command is missing: sudo apt-get install $package" >&2
      exit 1
    fi
    echo "installing $package (Debian package)"
    DEBIAN_FRONTEND=noninteractive step "$package" 10m bash -c "apt-get install -y -q ${options[*]} $package >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q ${options[*]} $package >/dev/null; }"
    return
  done
}

# The outside tools the tests check the gateway with: Prometheus and promtool
# (Debian's `prometheus`), and PyPI's openapi-spec-validator and Schemathesis in a
# virtualenv of their own under target/ (GATEWAY_TEST_TOOLS tells the tests where).
need_package prometheus prometheus promtool -- --no-install-recommends
# PgBouncer (transaction pooling) in front of the tests' PostgreSQL: Debian's 1.18.
export PATH="$PATH:/usr/sbin"
need_package pgbouncer pgbouncer -- --no-install-recommends
tools=$PWD/target/test-tools
if [ ! -x "$tools/bin/schemathesis" ] || [ ! -x "$tools/bin/openapi-spec-validator" ]; then
  step "python test tools" 10m bash -c "python3 -m venv '$tools' && '$tools/bin/pip' install -q --disable-pip-version-check 'openapi-spec-validator==0.9.0' 'schemathesis==4.32.5'"
fi
export GATEWAY_TEST_TOOLS=$tools/bin

eval "$(scripts/pg.sh start)"
trap 'scripts/pg.sh stop "$PG_DIR"' EXIT
echo "PostgreSQL for the tests: $TEST_POSTGRES_URL"

step "format" 5m cargo fmt --all -- --check
step "lints" 20m cargo clippy --workspace --all-targets -- -D warnings
# The gateway the end-to-end tests run is built with fault injection (GATEWAY_FAULT):
# the tests of supervision make a background task panic on purpose. Release builds
# never have it.
features=(--features gateway/fault-injection)
step "build" 20m cargo build --workspace --bins "${features[@]}"
step "unit and end-to-end tests" 30m cargo test --workspace "${features[@]}" -- --test-threads "${TEST_THREADS:-8}"

# The settings panel, in headless Chromium from Debian's packages, against the binary.
need_package chromium chromium
step "panel test dependencies" 5m npm ci --prefix admin-ui/tests --no-audit --no-fund --loglevel=error
echo "panel tests (screenshots go to tests/artifacts/panel/)"
step "panel tests" 10m env GATEWAY_BIN="$PWD/target/debug/gateway" CHROMIUM="$(command -v chromium)" \
  node --test --test-concurrency=1 --test-timeout=180000 --test-force-exit admin-ui/tests/panel.test.mjs
echo "== all tests passed in $((SECONDS - started)) s"
