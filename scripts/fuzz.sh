#!/usr/bin/env bash
# Fuzzes manifest parsing, upload handling and the JSON↔WIT mapping with
# cargo-fuzz (libFuzzer, coverage-guided) for SECONDS per target.
# Usage: scripts/fuzz.sh [SECONDS, default 30] [TARGET...]   (targets: manifest upload json_wit)
# CI runs a short round after the tests; docs/reliability.md has a longer one.
# Findings land in host/fuzz/artifacts/<target>/ and fail the run.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SECS="${1:-30}"; shift || true
TARGETS=("$@"); [ ${#TARGETS[@]} -gt 0 ] || TARGETS=(manifest upload json_wit)
step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
  step "installing cargo-fuzz (cargo install --locked, ~1 min)"
  cargo install cargo-fuzz --locked --version 0.13.2
fi
# libFuzzer itself is C++.
if ! command -v c++ >/dev/null; then
  step "installing g++ (apt) for libFuzzer"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends g++ >&2
fi
# The plugins whose exports json_wit calls, and the component upload seeds.
bash "$ROOT/scripts/build-plugins.sh" pdf-text caption-keywords ../sdk/template

# Seeds: every manifest in the repo, a real upload, JSON arguments per export.
FUZZ="$ROOT/host/fuzz"
mkdir -p "$FUZZ/seeds/manifest" "$FUZZ/seeds/upload" "$FUZZ/seeds/json_wit"
for m in "$ROOT"/plugins/*/hostel.toml "$ROOT"/sdk/template/hostel.toml "$ROOT"/tests/plugins/*/hostel.toml; do
  cp "$m" "$FUZZ/seeds/manifest/$(basename "$(dirname "$m")").toml"
done
{ sed 's/^component = .*//' "$ROOT/sdk/template/hostel.toml"; printf '\0'; cat "$ROOT/sdk/template/hello-connector.wasm"; } > "$FUZZ/seeds/upload/hello-connector"
{ printf 'name = "tiny"\nversion = "1"\nkind = "connector"\n\0'; printf '\0asm\r\0\1\0'; } > "$FUZZ/seeds/upload/empty-component"
printf '\0{"document":"JVBERi0xLjQK"}' > "$FUZZ/seeds/json_wit/pdf-info"
printf '\1{"document":"JVBERi0xLjQK","first":1,"last":null}' > "$FUZZ/seeds/json_wit/pdf-text"
printf '\2{"request":{"description":"sunset at the beach","style":"funny","hashtag-count":3,"max-captions":2}}' > "$FUZZ/seeds/json_wit/caption"
printf '\4{"operation":"echo","args":"{\\"x\\":[1,2.5,null,true]}"}' > "$FUZZ/seeds/json_wit/connector"
printf '\2[{"description":"x","style":{"a":1},"hashtag-count":-1,"max-captions":1e400}]' > "$FUZZ/seeds/json_wit/mismatch"

cd "$ROOT/host"
# cargo-fuzz passes -Z flags: Rust's stable compiler takes them with RUSTC_BOOTSTRAP.
# The fuzz build has its own target dir (host/fuzz/target), so the host build is untouched.
export RUSTC_BOOTSTRAP=1
step "building fuzz targets (coverage-instrumented wasmtime; ~10 min the first time)"
set +e
cargo fuzz build -s none --target-dir "$FUZZ/target" 2>&1 | grep -v '^\s*Compiling' >&2
status=${PIPESTATUS[0]}
set -e
[ "$status" -eq 0 ] || { echo "building the fuzz targets failed" >&2; exit 1; }
for t in "${TARGETS[@]}"; do
  step "fuzzing $t for ${SECS}s"
  mkdir -p "$FUZZ/corpus/$t"
  max_len=4096; [ "$t" = upload ] && max_len=262144
  set +e
  cargo fuzz run -s none --target-dir "$FUZZ/target" "$t" "$FUZZ/corpus/$t" "$FUZZ/seeds/$t" -- \
    -max_total_time="$SECS" -max_len="$max_len" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 2>&1 \
    | grep -E 'Done|stat::number_of_executed_units|stat::new_units_added|stat::peak_rss_mb|ERROR|panicked|SUMMARY|==[0-9]+==|artifact' >&2
  status=${PIPESTATUS[0]}
  set -e
  [ "$status" -eq 0 ] || { echo "fuzz target $t failed (exit $status); see host/fuzz/artifacts/$t" >&2; exit "$status"; }
done
