#!/usr/bin/env bash
# A demo of Hostel past one machine, all on loopback: Debian's docker-registry,
# the bundled plugins pushed to it and listed in a catalogue, N nodes following
# that catalogue, and HAProxy in front (deploy/haproxy/haproxy.cfg).
# Usage: scripts/cluster.sh [nodes]   (default 3; Ctrl-C stops everything)
#   balancer  http://127.0.0.1:7070   (HAProxy stats: http://127.0.0.1:8404/)
#   nodes     http://127.0.0.1:7071 … 707N
#   registry  127.0.0.1:5000, catalogue oci://127.0.0.1:5000/hostel/catalogue:demo
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
N="${1:-3}"
REGISTRY="${HOSTEL_DEMO_REGISTRY:-127.0.0.1:5000}"
CATALOGUE="oci://$REGISTRY/hostel/catalogue:demo"
step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

[ -x target/release/hostel ] || bash scripts/prepare.sh
bash scripts/setup.sh >/dev/null
HOSTEL=target/release/hostel
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM

step "registry on $REGISTRY (storage in $work/registry)"
cat > "$work/registry.yml" <<YML
version: 0.1
log: { level: error, accesslog: { disabled: true } }
storage: { filesystem: { rootdirectory: $work/registry }, delete: { enabled: true } }
http: { addr: $REGISTRY }
YML
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
pids+=($!)
until curl -sf "http://$REGISTRY/v2/" >/dev/null; do sleep 0.2; done

step "pushing the bundled plugins and listing them in $CATALOGUE"
for dir in plugins/pdf-text plugins/market-connector plugins/caption-keywords sdk/template; do
  name="$(sed -n 's/^name = "\(.*\)"/\1/p' "$dir/hostel.toml" | head -1)"
  version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$dir/hostel.toml" | head -1)"
  "$HOSTEL" plugin push "$dir" "oci://$REGISTRY/plugins/$name:$version" --catalogue "$CATALOGUE"
done

servers=""
for i in $(seq 1 "$N"); do
  port=$((7070 + i))
  mkdir -p "$work/node$i/plugins"
  cat > "$work/node$i/hostel.toml" <<TOML
node = "node$i"
listen = "127.0.0.1:$port"
plugins_dir = "$work/node$i/plugins"
data_dir = "$work/node$i/data"
[catalogue]
reference = "$CATALOGUE"
poll_interval = "2s"
[memory]
budget = "512MiB"
TOML
  RUST_LOG="${RUST_LOG:-info}" "$HOSTEL" serve --config "$work/node$i/hostel.toml" > "$work/node$i/log" 2>&1 &
  pids+=($!)
  servers+="    server node$i 127.0.0.1:$port"$'\n'
done
for i in $(seq 1 "$N"); do
  until curl -sf "http://127.0.0.1:$((7070 + i))/readyz" >/dev/null; do sleep 0.2; done
done

step "HAProxy on 127.0.0.1:7070 in front of $N nodes"
awk -v servers="$servers" '
  /# servers/ { printf "%s", servers; skip = 1; next }
  skip && /^ *server / { next }
  { skip = 0; print }' deploy/haproxy/haproxy.cfg > "$work/haproxy.cfg"
haproxy -c -q -f "$work/haproxy.cfg"
haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
pids+=($!)
until curl -sf http://127.0.0.1:7070/readyz >/dev/null; do sleep 0.2; done

cat <<TXT

Ready. Try:
  curl -s -X POST http://127.0.0.1:7070/v1/plugins/hello-connector/connector/call \\
       -H 'content-type: application/json' -d '{"operation":"echo","args":"hi"}'
  for p in 7071 7072 7073; do curl -s http://127.0.0.1:\$p/v1/plugins/hello-connector | grep -o '"calls":[0-9]*'; done
  $HOSTEL catalogue list $CATALOGUE
Node logs: $work/node*/log. Ctrl-C stops everything.
TXT
wait
