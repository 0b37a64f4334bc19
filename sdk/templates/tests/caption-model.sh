#!/usr/bin/env bash
# A real test of {{name}}: builds it (`hostel build`), serves it from a
# temporary plugins directory with a test value of its [config], calls its
# route and checks the answers. Exits non-zero on the first failed check.
#   ./test.sh                       # hostel from PATH
#   HOSTEL=/path/to/hostel ./test.sh
#   SKIP_BUILD=1 ./test.sh          # test the {{name}}.wasm built already
set -euo pipefail
cd "$(dirname "$0")"
HOSTEL="${HOSTEL:-hostel}"
NAME="{{name}}"

if [ "${SKIP_BUILD:-}" != 1 ]; then
  "$HOSTEL" build .
fi
[ -f "$NAME.wasm" ] || { echo "FAIL: $NAME.wasm is missing: run \`hostel build\` first" >&2; exit 1; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/hostel-test-$NAME.XXXXXX")"
server=""
stop() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
    kill -INT "$server" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap stop EXIT
fail() {
  echo "FAIL: $*" >&2
  if [ -f "$tmp/server.log" ]; then echo "--- hostel serve, last lines:" >&2; tail -n 20 "$tmp/server.log" >&2; fi
  exit 1
}
ok() { echo "ok - $*"; }

# The plugins directory: this plugin, its manifest with a test value of `hashtag`.
mkdir -p "$tmp/plugins/$NAME" "$tmp/data"
cp "$NAME.wasm" "$tmp/plugins/$NAME/"
sed 's/^hashtag = .*/hashtag = "ahoy"/' hostel.toml >"$tmp/plugins/$NAME/hostel.toml"
grep -q '^hashtag = "ahoy"$' "$tmp/plugins/$NAME/hostel.toml" || fail 'hostel.toml has no `hashtag = "..."` line in [config]'

"$HOSTEL" serve --plugins-dir "$tmp/plugins" --data-dir "$tmp/data" --listen 127.0.0.1:0 >"$tmp/server.out" 2>"$tmp/server.log" &
server=$!
url=""
for _ in $(seq 600); do
  url="$(sed -n 's/^listening on \(http:\/\/[^ ]*\).*/\1/p' "$tmp/server.out")"
  [ -n "$url" ] && break
  kill -0 "$server" 2>/dev/null || fail "hostel serve exited"
  sleep 0.1
done
[ -n "$url" ] || fail "hostel serve printed no 'listening on' line within 60 s"
ok "serving on $url"

# call CURL-ARGS...: sets $status and $body. The first call compiles the plugin.
call() {
  local out
  out="$(curl -sS --max-time 300 -w '\n%{http_code}' "$@")" || fail "curl $* failed"
  status="${out##*$'\n'}"
  body="${out%$'\n'*}"
}
# expect STATUS TEXT...: the last call answered STATUS with every TEXT in its body.
expect() {
  [ "$status" = "$1" ] || fail "expected HTTP $1, got $status: $body"
  shift
  local text
  for text in "$@"; do
    case "$body" in *"$text"*) ;; *) fail "expected $text in: $body" ;; esac
  done
}

# count TEXT: how many times TEXT occurs in the last body.
count() { grep -o -- "$1" <<<"$body" | wc -l; }
request='{"description":"A golden retriever puppy playing on the beach at sunset","style":"casual","hashtag_count":3,"max_captions":2}'

call -X POST "$url/v1/plugins/$NAME/caption" -H 'content-type: application/json' -d "$request"
expect 200 '"hashtags":["#ahoy",' 'golden'
[ "$(count '"#')" = 3 ] || fail "expected exactly 3 hashtags: $body"
[ "$(count '"text":')" = 2 ] || fail "expected 2 captions: $body"
ok "caption: 2 captions, 3 hashtags, [config] hashtag first: $body"

call -X POST "$url/v1/plugins/$NAME/caption/stream" -H 'content-type: application/json' -d "$request"
expect 200 'golden'
[ "$(grep -c '"text"' <<<"$body")" = 2 ] || fail "expected 2 NDJSON lines: $body"
ok "caption/stream: 2 lines"

call -X POST "$url/v1/plugins/$NAME/caption" -H 'content-type: application/json' \
  -d '{"description":"Coffee and croissants","style":"professional","hashtag_count":0,"max_captions":1}'
expect 200 '"hashtags":[]'
[ "$(count '"text":')" = 1 ] || fail "expected 1 caption: $body"
ok "no hashtags when none are asked for: $body"

call -X POST "$url/v1/plugins/$NAME/caption" -H 'content-type: application/json' \
  -d '{"description":"   ","style":"funny","hashtag_count":3,"max_captions":2}'
expect 422
ok "an empty description is 422 invalid-input"

echo "PASS: $NAME"
