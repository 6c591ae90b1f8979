#!/usr/bin/env bash
# Where the microseconds of a webhook go: runs gateway-bench's throughput phase on a
# fresh PostgreSQL and samples the gateway and the PostgreSQL backends with `perf`
# (Debian's linux-perf) while it runs, then prints each one's samples grouped by what
# the code is for (allocation, SQL building, the driver, HTTP, JSON, crypto, kernel…).
#   scripts/profile.sh [GATEWAY_BINARY]      (default: target/release/gateway)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v perf >/dev/null || { echo "perf is missing: apt-get install linux-perf" >&2; exit 1; }
gateway=${1:-target/release/gateway}
cargo build --release -q -p gateway -p gateway-bench --bins
work=$(mktemp -d "${TMPDIR:-/tmp}/gateway-profile.XXXXXX")
eval "$(scripts/pg.sh start)"
trap 'scripts/pg.sh stop "$PG_DIR"; rm -rf "$work"' EXIT
psql -q "$TEST_POSTGRES_URL/postgres" -c "CREATE DATABASE profile" >/dev/null
target/release/gateway-bench --gateway "$gateway" --database-url "$TEST_POSTGRES_URL/profile" \
  --events 40000 --seconds 1 >"$work/bench.log" 2>&1 &
bench=$!
# Wait for the gateway under test to start, then sample everything for 6 s.
for _ in $(seq 100); do
  pid=$(pgrep -n -f "$(basename "$gateway") serve" || true)
  [ -n "$pid" ] && break
  sleep 0.1
done
sleep 3
perf record -q -a -F 1999 -o "$work/perf.data" -- sleep 6 >/dev/null 2>&1
wait "$bench"
sed -n '2,5p' "$work/bench.log"
group() {
  awk -v total="$2" '
    /^#/ || NF < 3 { next }
    {
      pct = $1; sub("%", "", pct); dso = $2; sym = $0
      g = "other code"
      if (dso ~ /kernel/) g = "kernel (network, scheduling, I/O)"
      else if (sym ~ /malloc|free|realloc|memmove|memcpy|memset|_int_|alloc::|__rdl_|__rust_alloc|__rust_dealloc|mi_|_mi_|drop_in_place/) g = "allocation, copying, dropping"
      else if (sym ~ /sea_query|sea_orm/) g = "building SQL (sea-query, sea-orm)"
      else if (sym ~ /sqlx/) g = "the database driver (sqlx)"
      else if (sym ~ /hyper|axum|tower|http::/) g = "HTTP (hyper, axum, tower)"
      else if (sym ~ /serde|json/) g = "JSON"
      else if (sym ~ /sha2|hmac|aes|sha256/) g = "signature and crypto"
      else if (sym ~ /tokio|mio|futures/) g = "async runtime"
      else if (sym ~ /tracing/) g = "tracing"
      else if (sym ~ /gateway::/) g = "the gateway'"'"'s own code"
      else if (dso ~ /postgres/ && sym ~ /yyparse|yylex|copyObject|expression_tree_walker|raw_parser|transform|plan|cost|list_/) g = "PostgreSQL: parsing and planning"
      else if (dso ~ /postgres/ && sym ~ /_bt_|btree|index/) g = "PostgreSQL: index reads and writes"
      else if (dso ~ /postgres/ && sym ~ /XLog|WAL/) g = "PostgreSQL: WAL"
      else if (dso ~ /postgres/) g = "PostgreSQL: executor and the rest"
      sum[g] += pct
    }
    END { for (g in sum) printf "  %6.1f%%  %s\n", sum[g] * 100 / total, g }' | sort -rn
}
for who in gateway postgres; do
  if [ "$who" = gateway ]; then filter=(--pid "$pid"); else filter=(--comm postgres); fi
  report=$(perf report -i "$work/perf.data" "${filter[@]}" --sort dso,sym --stdio 2>/dev/null)
  total=$(printf '%s\n' "$report" | awk '!/^#/ && NF >= 3 { s += $1 } END { print s }')
  echo "== $who: share of its own samples"
  printf '%s\n' "$report" | group - "$total" | head -12
done
