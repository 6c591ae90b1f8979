#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests and the benchmark, on loopback.
#   scripts/pg.sh start [DIR]   starts one (fsync on) and prints shell exports:
#                               PG_DIR=…, TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:PORT
#   scripts/pg.sh stop DIR      stops it and removes DIR
# Works as root (initdb refuses root, so the server runs as the `postgres` user) and
# as a normal user. Installs Debian's postgresql package when it is missing and we
# are root.
set -euo pipefail

find_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd=${1:-}
case "$cmd" in
  start)
    bin=$(find_bin)
    if [ -z "$bin" ]; then
      if [ "$(id -u)" = 0 ]; then
        echo "installing postgresql (Debian package)" >&2
        (export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q postgresql >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q postgresql >/dev/null; })
        bin=$(find_bin)
      fi
      [ -n "$bin" ] || { echo "PostgreSQL is not installed: apt-get install postgresql" >&2; exit 1; }
    fi
    dir=${2:-$(mktemp -d "${TMPDIR:-/tmp}/gateway-pg.XXXXXX")}
    mkdir -p "$dir"
    chmod 755 "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    # A free port on loopback.
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-instructions >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=on -c shared_buffers=256MB" \
      start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "export PG_DIR=$dir"
    echo "export TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$port"
    ;;
  stop)
    dir=${2:?usage: scripts/pg.sh stop DIR}
    bin=$(find_bin)
    [ -d "$dir/data" ] && as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *)
    echo "usage: scripts/pg.sh start [DIR] | stop DIR" >&2
    exit 2
    ;;
esac
