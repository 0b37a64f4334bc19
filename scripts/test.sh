#!/usr/bin/env bash
# README command 2: installs what is missing, builds the plugins and the host,
# then runs every test (unit tests and end-to-end tests over loopback HTTP).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

bash scripts/setup.sh
step "building plugins (wasm32-wasip2 components)"
bash scripts/build-plugins.sh
step "building the host (cargo build --release; the first build takes ~7-10 min)"
cargo build --release -p hostel
step "running the tests"
cargo test --release --workspace "$@"
