#!/usr/bin/env bash
# Benchmark: Hostel past one machine, on loopback. One run prints, side by side:
#   - throughput and p99 of warm echo calls spread over 6 plugins, through HAProxy
#     (deploy/haproxy/haproxy.cfg) with 1 node vs 3 nodes, and 1 node without HAProxy;
#   - pull + compile + first call of a plugin from the local registry, on a fresh node;
#   - catalogue propagation: push a new version until every node serves it.
# Same load generator (wrk, Debian) and settings for every row: 32 connections, 10 s.
# On a 2-core machine the nodes, HAProxy and wrk share the same two cores: 3 nodes
# cannot add CPU here, so the 3-node row measures the cost of the extra hop and
# of sharing, not the scaling a 3-machine deployment would give.
# Usage: scripts/bench-cluster.sh [connections] [seconds]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
CONNS="${1:-32}"
SECS="${2:-10}"
step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
[ -x target/release/hostel ] || bash scripts/prepare.sh
bash scripts/setup.sh >/dev/null
command -v wrk >/dev/null || { step "installing wrk (apt)"; DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null; }
HOSTEL="$ROOT/target/release/hostel"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

REG="127.0.0.1:$(free_port)"
CAT="oci://$REG/hostel/catalogue:bench"
cat > "$work/registry.yml" <<YML
version: 0.1
log: { level: error, accesslog: { disabled: true } }
storage: { filesystem: { rootdirectory: $work/registry } }
http: { addr: $REG }
YML
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
pids+=($!)
until curl -sf "http://$REG/v2/" >/dev/null; do sleep 0.1; done

step "pushing 6 copies of hello-connector into $CAT"
for i in 1 2 3 4 5 6; do
  mkdir -p "$work/p$i"
  cp sdk/template/hello-connector.wasm "$work/p$i/"
  sed "s/^name = .*/name = \"hello-$i\"/" sdk/template/hostel.toml > "$work/p$i/hostel.toml"
  "$HOSTEL" plugin push "$work/p$i" "oci://$REG/plugins/hello-$i:1" --catalogue "$CAT" >/dev/null
done

cat > "$work/spread.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"operation":"echo","args":"hi"}'
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "/v1/plugins/hello-" .. (n % 6 + 1) .. "/connector/call")
end
LUA

start_nodes() { # N → node ports in $ports
  ports=()
  for i in $(seq 1 "$1"); do
    local port; port=$(free_port)
    mkdir -p "$work/run$RUN/node$i/plugins"
    cat > "$work/run$RUN/node$i/hostel.toml" <<TOML
node = "node$i"
listen = "127.0.0.1:$port"
plugins_dir = "$work/run$RUN/node$i/plugins"
data_dir = "$work/run$RUN/node$i/data"
[catalogue]
reference = "$CAT"
poll_interval = "200ms"
TOML
    RUST_LOG=warn "$HOSTEL" serve --config "$work/run$RUN/node$i/hostel.toml" >/dev/null 2>&1 &
    pids+=($!)
    ports+=("$port")
  done
  for p in "${ports[@]}"; do
    until curl -s "http://127.0.0.1:$p/v1/plugins" 2>/dev/null | grep -q hello-6; do sleep 0.1; done
  done
}
start_lb() { # → $lb
  local servers="" i=0 front stats
  for p in "${ports[@]}"; do i=$((i + 1)); servers+="    server node$i 127.0.0.1:$p"$'\n'; done
  front="127.0.0.1:$(free_port)"; stats="127.0.0.1:$(free_port)"
  awk -v servers="$servers" -v front="$front" -v stats="$stats" '
    /# servers/ { printf "%s", servers; skip = 1; next }
    skip && /^ *server / { next }
    { skip = 0; sub("bind 127.0.0.1:7070", "bind " front); sub("bind 127.0.0.1:8404", "bind " stats); print }' \
    deploy/haproxy/haproxy.cfg > "$work/haproxy$RUN.cfg"
  haproxy -db -f "$work/haproxy$RUN.cfg" >/dev/null 2>&1 &
  pids+=($!)
  lb="http://$front"
  until curl -sf "$lb/readyz" >/dev/null; do sleep 0.1; done
}
warm() { for i in 1 2 3 4 5 6; do for _ in 1 2 3; do curl -sf -X POST -H 'content-type: application/json' -d '{"operation":"echo","args":"w"}' "$1/v1/plugins/hello-$i/connector/call" >/dev/null; done; done; }
measure() { # label url
  warm "$2"
  local out rps p99
  out=$(wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$work/spread.lua" "$2")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errs=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  printf '%-34s %10s req/s   p99 %8s   non-2xx %s\n' "$1" "$rps" "$p99" "${errs:-0}" | tee -a "$work/table"
}

RUN=1; step "1 node"
start_nodes 1
# Pull + compile + first call on a fresh node (nothing pulled yet).
t0=$(now_ms)
curl -sf -X POST -H 'content-type: application/json' -d '{"operation":"echo","args":"first"}' "http://127.0.0.1:${ports[0]}/v1/plugins/hello-1/connector/call" >/dev/null
first_ms=$(( $(now_ms) - t0 ))
measure "1 node, direct" "http://127.0.0.1:${ports[0]}"
start_lb
measure "1 node behind HAProxy" "$lb"
for p in "${pids[@]:1}"; do kill "$p" 2>/dev/null || true; done
pids=("${pids[0]}")

RUN=3; step "3 nodes"
start_nodes 3
start_lb
measure "3 nodes behind HAProxy" "$lb"
# Propagation: a new version of hello-1, until all three nodes list it.
sed -i 's/^version = .*/version = "0.2.0"/' "$work/p1/hostel.toml"
t0=$(now_ms)
"$HOSTEL" plugin push "$work/p1" "oci://$REG/plugins/hello-1:2" --catalogue "$CAT" >/dev/null
for p in "${ports[@]}"; do
  until curl -s "http://127.0.0.1:$p/v1/plugins/hello-1" | grep -q '"version":"0.2.0"'; do sleep 0.02; done
done
prop_ms=$(( $(now_ms) - t0 ))

echo
echo "Cluster on loopback ($(nproc) cores, $CONNS connections, ${SECS} s each, warm echo over 6 plugins):"
cat "$work/table"
echo "pull + compile + first call from the local registry: ${first_ms} ms"
echo "catalogue propagation (push + poll 200 ms, 3 nodes): ${prop_ms} ms"
