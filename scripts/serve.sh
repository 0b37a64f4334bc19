#!/usr/bin/env bash
# README command 1: installs what is missing, builds the plugins and the host,
# and serves the bundled plugins on http://127.0.0.1:7070 (flags pass through,
# e.g. --listen 127.0.0.1:8080).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

bash scripts/setup.sh
step "building plugins (wasm32-wasip2 components)"
bash scripts/build-plugins.sh
step "building the host (cargo build --release; the first build takes ~7-10 min)"
cargo build --release -p hostel
step "serving plugins/ (Ctrl-C stops)"
exec ./target/release/hostel serve --plugins-dir plugins --data-dir .hostel "$@"
