#!/usr/bin/env bash
# README command 1: installs what is missing, builds the plugins and the host,
# and serves the bundled plugins on http://127.0.0.1:7070 (flags pass through,
# e.g. --listen 127.0.0.1:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh
printf '\033[1m==> serving plugins/ (Ctrl-C stops)\033[0m\n' >&2
exec ./target/release/hostel serve --plugins-dir plugins --data-dir .hostel "$@"
