#!/usr/bin/env bash
# Installs everything Hostel needs to build its wasm plugins on a Debian 12 machine.
# Idempotent: a second run with everything present takes about a second.
# Route (see ../shared/TOOLCHAIN.md): Debian's Rust 1.96 + its std source + -Zbuild-std,
# linked into a component by wasm-component-ld. The host itself builds with rustup's stable.
set -euo pipefail

WASM_COMPONENT_LD_VERSION=0.5.31
# chromium: the dashboard test drives the page in headless Chromium.
APT_PACKAGES=(rustc-web cargo-web rust-web-src lld-19 wasi-libc chromium)

step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "installing Debian packages: ${missing[*]} (about 1-2 min)"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
else
  step "Debian guest toolchain present"
fi

# The std source must be exactly the compiler's version, or -Zbuild-std fails in core.
ver=$(/usr/bin/rustc -V | awk '{print $2}' | cut -d+ -f1 | cut -d- -f1)
if [ ! -d "/usr/src/rustc-$ver" ] && [ ! -d /usr/lib/rustlib/src/rust/library ]; then
  echo "error: /usr/bin/rustc is $ver but no matching std source (/usr/src/rustc-$ver) is installed" >&2
  exit 1
fi
step "guest compiler: $(/usr/bin/rustc -V), std source /usr/src/rustc-$ver"

if command -v wasm-component-ld >/dev/null 2>&1 \
   && wasm-component-ld --version 2>/dev/null | grep -q "$WASM_COMPONENT_LD_VERSION"; then
  step "wasm-component-ld $WASM_COMPONENT_LD_VERSION present"
else
  step "installing wasm-component-ld $WASM_COMPONENT_LD_VERSION with cargo (1.5-3 min)"
  cargo install --locked "wasm-component-ld@$WASM_COMPONENT_LD_VERSION"
fi
