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

# make_pdf FILE [TITLE]: a two-page PDF 1.4 (page N says "Hello from page N"),
# with an info dictionary (/Author, /Producer, and /Title when given).
make_pdf() {
  local out="$1" title="${2:-}" n i offsets=() s
  local objects=(
    ""
    "<< /Type /Catalog /Pages 2 0 R >>"
    "<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>"
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Resources << /Font << /F1 7 0 R >> >> /Contents 5 0 R >>"
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Resources << /Font << /F1 7 0 R >> >> /Contents 6 0 R >>"
  )
  for n in 1 2; do
    s="BT /F1 18 Tf 20 100 Td (Hello from page $n) Tj ET"
    objects+=("<< /Length ${#s} >>"$'\n'"stream"$'\n'"$s"$'\n'"endstream")
  done
  objects+=("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
  objects+=("<< ${title:+/Title ($title) }/Author (Test Suite) /Producer (test.sh) >>")
  printf '%%PDF-1.4\n' >"$out"
  for ((i = 1; i < ${#objects[@]}; i++)); do
    offsets[i]=$(wc -c <"$out")
    printf '%d 0 obj\n%s\nendobj\n' "$i" "${objects[i]}" >>"$out"
  done
  local xref; xref=$(wc -c <"$out")
  {
    printf 'xref\n0 %d\n0000000000 65535 f \n' "${#objects[@]}"
    for ((i = 1; i < ${#objects[@]}; i++)); do printf '%010d 00000 n \n' "${offsets[i]}"; done
    printf 'trailer\n<< /Size %d /Root 1 0 R /Info 8 0 R >>\nstartxref\n%d\n%%%%EOF\n' "${#objects[@]}" "$xref"
  } >>"$out"
}

# The plugins directory: this plugin, its manifest with a test value of `untitled`.
mkdir -p "$tmp/plugins/$NAME" "$tmp/data"
cp "$NAME.wasm" "$tmp/plugins/$NAME/"
sed 's/^untitled = .*/untitled = "Ahoy untitled"/' hostel.toml >"$tmp/plugins/$NAME/hostel.toml"
grep -q '^untitled = "Ahoy untitled"$' "$tmp/plugins/$NAME/hostel.toml" || fail 'hostel.toml has no `untitled = "..."` line in [config]'
make_pdf "$tmp/titled.pdf" "Test Document"
make_pdf "$tmp/untitled.pdf"

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

call -X POST "$url/v1/plugins/$NAME/pdf/info" -H 'content-type: application/pdf' --data-binary "@$tmp/titled.pdf"
expect 200 '"page_count":2' '"title":"Test Document"' '"author":"Test Suite"' '"producer":"test.sh"' '"version":"1.4"'
ok "pdf/info: $body"

call -X POST "$url/v1/plugins/$NAME/pdf/info" -H 'content-type: application/pdf' --data-binary "@$tmp/untitled.pdf"
expect 200 '"page_count":2' '"title":"Ahoy untitled"'
ok "pdf/info without /Title uses [config] untitled: $body"

call -X POST "$url/v1/plugins/$NAME/pdf/text?first=2" -H 'content-type: application/pdf' --data-binary "@$tmp/titled.pdf"
expect 200 'Hello from page 2'
case "$body" in *"page 1"*) fail "pdf/text?first=2 gave page 1 too: $body" ;; esac
ok "pdf/text of page 2: $body"

call -X POST "$url/v1/plugins/$NAME/pdf/text" -H 'content-type: application/pdf' --data-binary "@$tmp/titled.pdf"
expect 200 'Hello from page 1' 'Hello from page 2'
ok "pdf/text of every page: $body"

call -X POST "$url/v1/plugins/$NAME/pdf/info" -H 'content-type: application/pdf' --data-binary 'not a pdf'
expect 422
ok "not a PDF is 422 invalid-input"

echo "PASS: $NAME"
