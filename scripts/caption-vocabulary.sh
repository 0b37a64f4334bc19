#!/usr/bin/env bash
# Remakes plugins/caption-minilm/data/vocabulary.bin: the embeddings of every bundled
# vocabulary (data/hashtags.tsv, data/captions.tsv), computed by the plugin's own encoder
# compiled natively (plugins/caption-minilm/native), so a host's first caption call does not
# embed ~600 texts in the component. Run it after editing a vocabulary, then
# scripts/build-plugins.sh; the plugin ignores a stale bundle (and says so in its log).
# The first run compiles candle natively (~5 min on 2 cores).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
bash scripts/fetch-model.sh
# The guests' compiler (Debian's rustc) when present, as host/benches/minilm.rs does; from the
# repository root, so plugins/.cargo/config.toml (wasm target) does not apply.
CARGO=cargo
if [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ]; then CARGO=/usr/bin/cargo; export RUSTC=/usr/bin/rustc; fi
"$CARGO" build --release --quiet -p minilm-native --manifest-path plugins/caption-minilm/Cargo.toml \
  --target-dir plugins/target
RAYON_NUM_THREADS=1 plugins/target/release/minilm-native vocabulary models/all-minilm-l6-v2 \
  plugins/caption-minilm/data/vocabulary.bin
