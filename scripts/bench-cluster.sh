#!/usr/bin/env bash
# The cluster's benchmark, in one run on a fresh PostgreSQL (fsync on) and PgBouncer
# (Debian's packages; transaction pooling), each phase on a fresh database:
#  1. every delivery a PaymentIntent of its own paying a fresh order (20 restaurants ×
#     1,000 orders, 20,000 events, Stripe-sized bodies, 32 connections), 1 replica;
#  2. the same events piled on 20 × 33 orders (about 30 PaymentIntents an order);
#  3. as 1, three replicas through PgBouncer (DATABASE_DIRECT_URL to PostgreSQL).
# Each prints webhooks/s and CPU per webhook (gateway, PostgreSQL, PgBouncer), then
# pgbench doing the same writes one commit per event on the same server.
# Extra arguments go to every gateway-bench, e.g. scripts/bench-cluster.sh --events 40000
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p gateway -p gateway-bench --bins
pgbouncer=$(command -v pgbouncer || ls /usr/sbin/pgbouncer 2>/dev/null || true)
if [ -z "$pgbouncer" ] && [ "$(id -u)" = 0 ]; then
  (export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q pgbouncer >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q pgbouncer >/dev/null; })
  pgbouncer=/usr/sbin/pgbouncer
fi
[ -x "$pgbouncer" ] || { echo "pgbouncer is missing: apt-get install pgbouncer" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/gateway-cluster.XXXXXX")
chmod 755 "$work"
eval "$(scripts/pg.sh start)"
bouncer_pid=
trap '[ -n "$bouncer_pid" ] && kill "$bouncer_pid" 2>/dev/null; scripts/pg.sh stop "$PG_DIR"; rm -rf "$work"' EXIT
server=${TEST_POSTGRES_URL#*@}
listen=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo '"postgres" ""' >"$work/users.txt"
cat >"$work/pgbouncer.ini" <<INI
[databases]
* = host=${server%:*} port=${server#*:}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $listen
unix_socket_dir =
auth_type = trust
auth_file = $work/users.txt
pool_mode = transaction
max_client_conn = 400
default_pool_size = 20
INI
as_user=()
[ "$(id -u)" = 0 ] && as_user=(-u postgres)
"$pgbouncer" "${as_user[@]}" "$work/pgbouncer.ini" >"$work/pgbouncer.log" 2>&1 &
bouncer_pid=$!
for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$listen") 2>/dev/null && break; sleep 0.1; done
psql -q "$TEST_POSTGRES_URL/postgres" -c "CREATE DATABASE fresh" -c "CREATE DATABASE piled" -c "CREATE DATABASE pooled" >/dev/null
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; load generator on the same machine"
common=(--tenants 20 --events 20000 --concurrency 32 --bodies stripe --traffic intents --seconds 5)
target/release/gateway-bench --database-url "$TEST_POSTGRES_URL/fresh" "${common[@]}" --orders-per-tenant 1000 "$@"
target/release/gateway-bench --database-url "$TEST_POSTGRES_URL/piled" "${common[@]}" --orders-per-tenant 33 "$@"
target/release/gateway-bench --database-url "$TEST_POSTGRES_URL/pooled" "${common[@]}" --orders-per-tenant 1000 \
  --replicas 3 --pooled-url "postgres://postgres@127.0.0.1:$listen/pooled" "$@"
