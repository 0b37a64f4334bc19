#!/usr/bin/env bash
# Shared first half of serve.sh and test.sh: install what is missing, build the
# plugins into components and the host in release mode.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

bash scripts/setup.sh
bash scripts/fetch-model.sh   # all-MiniLM-L6-v2 weights for caption-minilm (once)
step "building plugins (wasm32-wasip2 components)"
bash scripts/build-plugins.sh
step "building the Python and JavaScript examples (componentize-py, componentize-js)"
bash scripts/build-examples.sh
step "building the host and its tests (cargo build --release; the first build takes ~10 min)"
# One build of the whole workspace, tests included, so `cargo test` reuses it
# (building -p hostel alone resolves other features and compiles wasmtime twice).
cargo build --release --workspace --all-targets
