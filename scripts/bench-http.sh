#!/usr/bin/env bash
# Benchmark d): HTTP no-op invoke throughput on loopback, Hostel vs `wasmtime serve`.
#   Hostel:          POST /v1/plugins/hello-connector/connector/call  {"operation":"echo","args":…}
#                    (the SDK template plugin; a warm pooled instance answers)
#   wasmtime serve:  the hello-http wasi:http component (tests/plugins/hello-http), which
#                    reads the body and answers {"result": <body>} the same way
# Same load generator (wrk, Debian), same connections, same duration, one after the other.
# Installs what it needs: wrk (apt) and wasmtime-cli 48.0.8 (cargo, into target/tools; the
# first run compiles it, ~10-15 min on 2 cores).
# Usage: scripts/bench-http.sh [connections] [seconds]   (defaults: 32 connections, 10 s)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
CONNS="${1:-32}"
SECS="${2:-10}"
WASMTIME_VERSION=48.0.8
TOOLS="$ROOT/target/tools"

bash scripts/prepare.sh
if ! command -v wrk >/dev/null 2>&1; then
  step "installing wrk (apt)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q wrk
fi
if ! "$TOOLS/bin/wasmtime" --version 2>/dev/null | grep -q "$WASMTIME_VERSION"; then
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

# wasmtime serve with the equivalent wasi:http component.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$TOOLS/bin/wasmtime" serve -S cli --addr "127.0.0.1:$port" tests/plugins/hello-http/hello-http.wasm \
  2> "$work/wasmtime.err" &
pids+=($!)
wasmtime_url="http://127.0.0.1:$port/"
for _ in $(seq 100); do curl -s -o /dev/null "$wasmtime_url" -d '{}' && break; sleep 0.1; done

body='{"operation":"echo","args":{"n":1}}'
cat > "$work/post.lua" <<EOF
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
EOF
step "checking both answer"
curl -sf -X POST -H 'content-type: application/json' -d "$body" "$hostel_url"; echo
curl -sf -X POST -H 'content-type: application/json' -d "$body" "$wasmtime_url"; echo

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
step "wrk: $CONNS connections, ${SECS}s each, wasmtime serve first"
read -r w_rps w_p50 w_p99 < <(run wasmtime "$wasmtime_url")
read -r h_rps h_p50 h_p99 < <(run hostel "$hostel_url")

echo
printf '%-58s %14s %14s %8s\n' "d) HTTP no-op invoke, $CONNS connections (wrk, loopback)" "wasmtime serve" "hostel" "ratio"
printf '%-58s %14s %14s %7.2fx\n' "   throughput (requests/s)" "$w_rps" "$h_rps" "$(awk -v h="$h_rps" -v w="$w_rps" 'BEGIN { print h / w }')"
printf '%-58s %14s %14s\n' "   latency p50" "$w_p50" "$h_p50"
printf '%-58s %14s %14s\n' "   latency p99" "$w_p99" "$h_p99"
echo
