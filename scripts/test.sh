#!/usr/bin/env bash
# README command 2: installs what is missing, builds the plugins and the host,
# then runs every test (unit tests and end-to-end tests over loopback HTTP).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh
printf '\033[1m==> running the tests\033[0m\n' >&2
cargo test --release --workspace "$@"
