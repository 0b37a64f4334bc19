#!/usr/bin/env bash
# Builds every plugin under plugins/ into a wasm component, next to its manifest
# (plugins/<name>/<name>.wasm). One guest workspace and one target dir, so std is
# built once; each plugin is built on its own so the SDK's world feature is not
# unified across plugins (caption-minilm, which needs its own profile, has its
# own workspace but shares the target dir). A second run with nothing changed takes seconds.
# A crate whose Cargo.toml has `[package.metadata.hostel] target = "wasm32-wasip1"`
# (tests/plugins/wasip1-calc) is built for that target: a core module, not a component.
# `[package.metadata.hostel] rustflags = ["-C", "target-feature=+simd128"]` (one line) adds
# flags for that plugin alone, after plugins/.cargo/config.toml's (caption-minilm: wasm SIMD).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CALLER="$PWD"
cd "$ROOT/plugins"

export RUSTC_BOOTSTRAP=1            # -Zbuild-std on Debian's stable rustc
export PATH="$HOME/.cargo/bin:$PATH" # wasm-component-ld
CARGO=/usr/bin/cargo
PROFILE="${HOSTEL_PLUGIN_PROFILE:-release}"

# Example plugins, the test and benchmark guests under tests/plugins, the guest of
# the embedder example and the SDK template (same workspace).
plugins=()
for crate in */hostel.toml ../tests/plugins/*/Cargo.toml ../examples/custom-world/guest/Cargo.toml ../sdk/template/hostel.toml; do
  plugins+=("$(dirname "$crate")")
done
# Arguments name plugin folders relative to plugins/ (`pdf-text`) or to where the
# script was called from (`plugins/pdf-text`, `tests/plugins/faulty`).
if [ $# -gt 0 ]; then
  plugins=()
  for p in "$@"; do
    if [ ! -f "$p/Cargo.toml" ] && [ -f "$CALLER/$p/Cargo.toml" ]; then p="$(realpath --relative-to=. "$CALLER/$p")"; fi
    [ -f "$p/Cargo.toml" ] || { echo "error: $p: no Cargo.toml there (give a plugin folder, e.g. plugins/pdf-text)" >&2; exit 1; }
    plugins+=("$p")
  done
fi

i=0
for p in "${plugins[@]}"; do
  i=$((i + 1))
  printf '\033[1m==> [%d/%d] building plugin %s\033[0m\n' "$i" "${#plugins[@]}" "$p" >&2
  start=$(date +%s)
  name="$(sed -n 's/^name = "\(.*\)"/\1/p' "$p/Cargo.toml" | head -1)"
  target="$(sed -n '/^\[package.metadata.hostel\]/,/^\[/s/^target = "\(.*\)"/\1/p' "$p/Cargo.toml" | head -1)"
  target="${target:-wasm32-wasip2}"
  rustflags="$(sed -n '/^\[package.metadata.hostel\]/,/^\[/s/^rustflags = \(\[.*\]\)/\1/p' "$p/Cargo.toml" | head -1)"
  config=()
  if [ -n "$rustflags" ]; then config=(--config "target.$target.rustflags=$rustflags"); fi
  # Our own target dir, even when CARGO_TARGET_DIR points elsewhere (it holds host builds).
  # A plugin with its own [workspace] (caption-minilm) is built from its manifest.
  # Its first build compiles candle (~6-9 min), so cargo's progress stays on.
  if grep -q '^\[workspace\]' "$p/Cargo.toml"; then
    pkg=(--manifest-path "$p/Cargo.toml")
    [ -f "$p/$name.wasm" ] || echo "    first build of $name compiles candle and tokenizers: ~6-9 min" >&2
  else
    pkg=(-p "$name" --quiet)
  fi
  $CARGO "${config[@]}" build --profile "$PROFILE" "${pkg[@]}" --target "$target" --target-dir target
  src="target/$target/$PROFILE/${name//-/_}.wasm"
  if ! cmp -s "$src" "$p/$name.wasm" 2>/dev/null; then cp "$src" "$p/$name.wasm"; fi
  printf '    %s/%s.wasm  %s bytes  (%ss)\n' "$p" "$name" "$(stat -c %s "$p/$name.wasm")" "$(( $(date +%s) - start ))" >&2
done
