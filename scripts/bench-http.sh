#!/usr/bin/env bash
# Benchmark d): HTTP no-op invoke throughput on loopback: Hostel vs the HTTP stack's limit
# (a bare axum handler) and vs `wasmtime serve`.
#   bare axum:       host/examples/bare_http.rs, the same route and runtime, which parses the
#                    same JSON body and answers the same JSON with no plugin and no middleware
#   Hostel:          POST /v1/plugins/hello-connector/connector/call  {"operation":"echo","args":…}
#                    (the SDK template plugin; a warm pooled instance answers)
#   wasmtime serve:  the hello-http wasi:http component (tests/plugins/hello-http), which
#                    reads the body and answers {"result": <body>} the same way; run with its
#                    defaults (a fresh instance per request) and with warm instance reuse
# Same load generator (wrk, Debian), same connections, same duration, one after the other.
# Installs what it needs: wrk (apt) and wasmtime-cli 48.0.8 (cargo, into target/tools; the
# first run compiles it, ~10-15 min on 2 cores).
# Usage: scripts/bench-http.sh [connections] [seconds]   (defaults: 32 connections, 10 s)
#   BENCH_NO_PREPARE=1 skips scripts/prepare.sh (when the build is known to be current);
#   BENCH_NO_WASMTIME=1 leaves out wasmtime serve (and its first-time install).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
CONNS="${1:-32}"
SECS="${2:-10}"
WASMTIME_VERSION=48.0.8
TOOLS="$ROOT/target/tools"

[ -n "${BENCH_NO_PREPARE:-}" ] || bash scripts/prepare.sh
if ! command -v wrk >/dev/null 2>&1; then
  step "installing wrk (apt)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q wrk
fi
if [ -z "${BENCH_NO_WASMTIME:-}" ] && ! "$TOOLS/bin/wasmtime" --version 2>/dev/null | grep -q "$WASMTIME_VERSION"; then
  step "installing wasmtime-cli $WASMTIME_VERSION into $TOOLS (first time only, ~10-15 min)"
  cargo install --locked --root "$TOOLS" "wasmtime-cli@$WASMTIME_VERSION"
fi

work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# Hostel with only the hello-connector plugin.
mkdir -p "$work/plugins/hello-connector"
cp sdk/template/hostel.toml sdk/template/hello-connector.wasm "$work/plugins/hello-connector/"
RUST_LOG=warn target/release/hostel serve --listen 127.0.0.1:0 --plugins-dir "$work/plugins" \
  --data-dir "$work/data" > "$work/hostel.out" &
pids+=($!)
for _ in $(seq 100); do grep -q '^listening on ' "$work/hostel.out" 2>/dev/null && break; sleep 0.1; done
hostel_url="$(sed -n 's/^listening on //p' "$work/hostel.out")/v1/plugins/hello-connector/connector/call"

# The bare axum server (built by prepare.sh's --all-targets build).
target/release/examples/bare_http 127.0.0.1:0 > "$work/bare.out" &
pids+=($!)
for _ in $(seq 100); do grep -q '^listening on ' "$work/bare.out" 2>/dev/null && break; sleep 0.1; done
bare_url="$(sed -n 's/^listening on //p' "$work/bare.out")/v1/plugins/hello-connector/connector/call"

# wasmtime serve with the equivalent wasi:http component, pooling allocator on; twice: with its
# defaults (a fresh instance per request for WASIp2) and reusing warm instances like Hostel.
wasmtime_serve() { # name extra-flags... -> sets $url
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$TOOLS/bin/wasmtime" serve -S cli -O pooling-allocator=y --addr "127.0.0.1:$port" "${@:2}" \
    tests/plugins/hello-http/hello-http.wasm > "$work/$1.out" 2> "$work/$1.err" &
  pids+=($!)
  url="http://127.0.0.1:$port/"
  for _ in $(seq 100); do curl -s -o /dev/null "$url" -d '{}' && break; sleep 0.1; done
}
if [ -z "${BENCH_NO_WASMTIME:-}" ]; then
  wasmtime_serve fresh
  fresh_url=$url
  wasmtime_serve reuse --max-instance-reuse-count 100000 --idle-instance-timeout 60
  reuse_url=$url
fi

body='{"operation":"echo","args":{"n":1}}'
cat > "$work/post.lua" <<EOF
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
EOF
step "checking all answer"
curl -sf -X POST -H 'content-type: application/json' -d "$body" "$hostel_url"; echo
curl -sf -X POST -H 'content-type: application/json' -d "$body" "$bare_url"; echo
if [ -z "${BENCH_NO_WASMTIME:-}" ]; then
  curl -sf -X POST -H 'content-type: application/json' -d "$body" "$fresh_url"; echo
  curl -sf -X POST -H 'content-type: application/json' -d "$body" "$reuse_url"; echo
fi

run() { # name url -> "requests/s p50 p99"
  wrk -t1 -c"$CONNS" -d2s -s "$work/post.lua" "$2" > /dev/null # warm-up
  wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$work/post.lua" "$2" > "$work/$1.wrk"
  local rps p50 p99 errors
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/$1.wrk")
  p50=$(awk '$1 == "50%" {print $2}' "$work/$1.wrk")
  p99=$(awk '$1 == "99%" {print $2}' "$work/$1.wrk")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' "$work/$1.wrk" | tr '\n' ' ')
  [ -z "$errors" ] || { echo "$1: $errors" >&2; cat "$work/$1.wrk" >&2; exit 1; }
  echo "$rps $p50 $p99"
}
step "wrk: $CONNS connections, ${SECS}s each, one server at a time"
read -r b_rps b_p50 b_p99 < <(run bare "$bare_url")
if [ -z "${BENCH_NO_WASMTIME:-}" ]; then
  read -r f_rps f_p50 f_p99 < <(run fresh "$fresh_url")
  read -r r_rps r_p50 r_p99 < <(run reuse "$reuse_url")
fi
read -r h_rps h_p50 h_p99 < <(run hostel "$hostel_url")

ratio() { awk -v h="$1" -v w="$2" 'BEGIN { printf "%.2fx", h / w }'; }
# wrk prints latencies as 812.00us, 1.23ms or 1.01s: in ms.
ms() { awk -v t="$1" 'BEGIN { v = t + 0; if (t ~ /us$/) v /= 1000; else if (t ~ /[^m]s$/) v *= 1000; printf "%.3f", v }'; }
p99ratio() { ratio "$(ms "$1")" "$(ms "$2")"; }
echo
echo "d) HTTP no-op invoke on loopback, $CONNS connections, wrk, ${SECS}s each"
printf '%-44s %12s %10s %10s %14s %14s\n' "server" "requests/s" "p50" "p99" "hostel/this" "hostel p99/this"
row() { printf '%-44s %12s %10s %10s %14s %14s\n' "$1" "$2" "$3" "$4" "$(ratio "$h_rps" "$2")" "$(p99ratio "$h_p99" "$4")"; }
row "bare axum handler (same JSON, no plugin)" "$b_rps" "$b_p50" "$b_p99"
if [ -z "${BENCH_NO_WASMTIME:-}" ]; then
  row "wasmtime serve 48.0.8 (instance per request)" "$f_rps" "$f_p50" "$f_p99"
  row "wasmtime serve 48.0.8 (warm instance reuse)" "$r_rps" "$r_p50" "$r_p99"
fi
row "hostel (pooled warm instances)" "$h_rps" "$h_p50" "$h_p99"
echo
echo "goals: hostel >= 0.6x the bare handler's requests/s, p99 <= 2x its p99; p99 <= wasmtime serve's (warm reuse)"
