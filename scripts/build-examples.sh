#!/usr/bin/env bash
# Builds the Python and JavaScript example plugins into components, each into
# <dir>/<name>.wasm, from the released contract wit/0.1.0 unchanged:
#   examples/python-caption  world caption-model     componentize-py (.tools/python)
#   examples/js-connector    world connector-plugin  componentize-js (.tools/node)
# One progress line each. An example whose sources, WIT and tool version are
# unchanged since its last build is skipped. scripts/setup.sh installs the tools.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
WIT=wit/0.1.0
STAMPS=.tools/stamps
export PYTHONDONTWRITEBYTECODE=1   # no __pycache__ in the source tree

py_build() {  # dir out
  .tools/python/bin/componentize-py -d "$WIT" -w caption-model componentize -p "$1" app -o "$2"
}
js_build() {  # dir out
  npx --prefix .tools/node --no-install componentize-js --wit "$WIT" --world-name connector-plugin -o "$2" "$1/connector.js"
}
py_version() { .tools/python/bin/componentize-py --version; }
js_version() { sed -n 's/.*"version": "\(.*\)".*/\1/p' .tools/node/node_modules/@bytecodealliance/componentize-js/package.json; }

if [ ! -x .tools/python/bin/componentize-py ] || [ ! -x .tools/node/node_modules/.bin/componentize-js ]; then
  echo "error: componentize-py or componentize-js missing in .tools: run scripts/setup.sh" >&2
  exit 1
fi
mkdir -p "$STAMPS"

examples=("python-caption py" "js-connector js")
i=0
for entry in "${examples[@]}"; do
  read -r name lang <<<"$entry"
  i=$((i + 1))
  dir="examples/$name"
  out="$dir/$name.wasm"
  # What the component is made of: the sources, the manifest-free WIT and the tool.
  stamp="$( { "${lang}_version"; cat "$WIT"/*.wit; find "$dir" -type f \( -name '*.py' -o -name '*.js' \) | sort | xargs cat; } | sha256sum | cut -d' ' -f1)"
  if [ -f "$out" ] && [ "$(cat "$STAMPS/$name" 2>/dev/null)" = "$stamp" ]; then
    printf '==> [%d/%d] %s  %s bytes  (unchanged)\n' "$i" "${#examples[@]}" "$out" "$(stat -c %s "$out")" >&2
    continue
  fi
  start=$(date +%s)
  log="$STAMPS/$name.log"
  if ! "${lang}_build" "$dir" "$out.tmp" >"$log" 2>&1; then
    rm -f "$out.tmp"
    cat "$log" >&2
    echo "error: building $out failed (log above, also in $log)" >&2
    exit 1
  fi
  mv "$out.tmp" "$out"
  echo "$stamp" >"$STAMPS/$name"
  printf '==> [%d/%d] %s  %s bytes  (%ss)\n' "$i" "${#examples[@]}" "$out" "$(stat -c %s "$out")" "$(( $(date +%s) - start ))" >&2
done
