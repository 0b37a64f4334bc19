#!/usr/bin/env bash
# Shared first half of serve.sh and test.sh: install what is missing, build the
# plugins into components and the host in release mode.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

bash scripts/setup.sh
step "building plugins (wasm32-wasip2 components)"
bash scripts/build-plugins.sh
step "building the host (cargo build --release; the first build takes ~7-10 min)"
cargo build --release -p hostel
