#!/usr/bin/env bash
# README command 2: installs what is missing, builds the plugins and the host,
# then runs every test (unit tests and end-to-end tests over loopback HTTP).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh
printf '\033[1m==> running the tests\033[0m\n' >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo test --release --workspace "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i == "passed;") p += $(i-1); if ($i == "failed;") f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
