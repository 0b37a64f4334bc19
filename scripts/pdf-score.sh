#!/usr/bin/env bash
# Scores pdf-text against poppler's pdftotext, per producer: word-multiset
# recall and precision over pages 1..40, U+FFFD where pdftotext has text, and
# whole-document wall time relative to pdftotext (HTTP upload included); with
# the real host also the long documents streamed (first page, whole stream).
#
#   scripts/pdf-score.sh                  # the real host: hostel serve + plugins/pdf-text
#   scripts/pdf-score.sh --native         # tools/pdf-text-native (same extractor, native build)
#   scripts/pdf-score.sh --host URL       # a host already running with pdf-text registered
#   extra flags go to scripts/pdf_score.py: --no-speed, -v
#
# The corpus (never committed) is assembled once in $PDF_CORPUS
# (default target/pdf-corpus): documentation PDFs from Debian packages
# (apt-get download + dpkg-deb -x), and PDFs made here by groff -Tpdf,
# groff -Tps | ps2pdf, Ghostscript (pdfwrite), Chromium print-to-PDF,
# LibreOffice and cairo (pdftocairo) from man pages and text on this machine.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CORPUS="${PDF_CORPUS:-$ROOT/target/pdf-corpus}"

mode=host
url=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --native) mode=native ;;
    --host) mode=url; url="$2"; shift ;;
    *) args+=("$1") ;;
  esac
  shift
done

need_apt=()
for tool in pdftotext:poppler-utils gropdf:groff gs:ghostscript ps2pdf:ghostscript soffice:libreoffice-writer-nogui; do
  command -v "${tool%%:*}" >/dev/null || need_apt+=("${tool#*:}")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing ${need_apt[*]}" >&2
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

corpus() {
  mkdir -p "$CORPUS/deb" "$CORPUS/made" "$CORPUS/long"
  local tmp; tmp="$(mktemp -d)"
  # Debian packages' documentation: (package, PDF paths inside it).
  if [ ! -f "$CORPUS/deb/.done" ]; then
    echo "==> corpus: Debian documentation PDFs" >&2
    (cd "$tmp" && apt-get download r-doc-pdf gnuplot-doc bash-doc groff libtasn1-doc texinfo debmake-doc octave-doc >/dev/null 2>&1)
    for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/x"; done
    local d="$tmp/x/usr/share"
    for f in R/doc/manual/R-FAQ.pdf R/doc/manual/R-data.pdf R/doc/manual/R-intro.pdf doc/gnuplot/gnuplot.pdf \
             doc/bash/bash.pdf doc/bash/bashref.pdf doc/libtasn1-doc/libtasn1.pdf doc/texinfo/txirefcard.pdf \
             doc/debmake-doc/debmake-doc.en.pdf doc/debmake-doc/debmake-doc.ja.pdf doc/octave/refcard-a4.pdf; do
      [ -f "$d/$f" ] && cp "$d/$f" "$CORPUS/deb/"
    done
    for f in "$d"/doc/groff-base/pdf/*.pdf.gz "$d"/doc/groff-base/examples/mom/{letter,sample_docs,slide-demo,typesetting,mon_premier_doc}.pdf.gz; do
      [ -f "$f" ] && zcat "$f" > "$CORPUS/deb/$(basename "${f%.gz}")"
    done
    # Long documents for the streaming figures (not scored by default).
    cp "$d/doc/octave/octave.pdf" "$d/R/doc/manual/refman.pdf" "$CORPUS/long/" 2>/dev/null || true
    touch "$CORPUS/deb/.done"
  fi
  if [ ! -f "$CORPUS/made/.done" ]; then
    echo "==> corpus: PDFs made by groff, Ghostscript, Chromium, LibreOffice, cairo" >&2
    local m="$CORPUS/made"
    for page in bash grep tar find ssh sed make; do
      local src; src="$(man -w "$page" 2>/dev/null || true)"
      [ -n "$src" ] || continue
      zcat -f "$src" > "$tmp/$page.man"
      # groff -Tpdf (gropdf) and groff -Tps | ps2pdf (Ghostscript).
      groff -Tpdf -t -man "$tmp/$page.man" > "$m/gropdf-$page.pdf" 2>/dev/null || rm -f "$m/gropdf-$page.pdf"
      groff -Tps -t -man "$tmp/$page.man" 2>/dev/null | ps2pdf - "$m/ps2pdf-$page.pdf" || rm -f "$m/ps2pdf-$page.pdf"
      (cd "$tmp" && groff -Thtml -t -man "$page.man" > "$page.html" 2>/dev/null) || true
    done
    # Chromium print-to-PDF (headers and footers on, as a user prints).
    for page in grep tar ssh sed; do
      [ -f "$tmp/$page.html" ] || continue
      timeout 120 chromium --headless --no-sandbox --disable-gpu --print-to-pdf="$m/chromium-$page.pdf" "file://$tmp/$page.html" >/dev/null 2>&1 || true
    done
    cat > "$tmp/table.html" <<'EOF'
<!doctype html><html><head><meta charset="utf-8"><title>Table of people</title></head><body>
<h1>People and places</h1><p>Alice lives in Zurich, Bob in Berlin. Café, naïve, façade: résumé of “curly quotes” and the office staff’s efficient flow.</p>
<table border="1"><tr><th>Name</th><th>City</th><th>Age</th></tr><tr><td>Alice</td><td>Zurich</td><td>91</td></tr>
<tr><td>Bob</td><td>Berlin</td><td>42</td></tr><tr><td>Chandra</td><td>Chennai</td><td>37</td></tr></table>
<pre>fn main() {
    println!("code blocks stay where they are");
}</pre><p>String handling in Rust is strict about UTF-8.</p></body></html>
EOF
    timeout 120 chromium --headless --no-sandbox --disable-gpu --print-to-pdf="$m/chromium-table.pdf" "file://$tmp/table.html" >/dev/null 2>&1 || true
    # LibreOffice: a licence text and two man pages as HTML.
    cp /usr/share/common-licenses/GPL-3 "$tmp/GPL-3.txt" 2>/dev/null || true
    for f in "$tmp/GPL-3.txt" "$tmp/grep.html" "$tmp/table.html" "$tmp/find.html"; do
      [ -f "$f" ] || continue
      local name; name="$(basename "${f%.*}")"
      mkdir -p "$tmp/lo"
      timeout 180 soffice --headless --convert-to pdf:writer_pdf_Export --outdir "$tmp/lo" "$f" >/dev/null 2>&1 || true
      [ -f "$tmp/lo/$name.pdf" ] && mv "$tmp/lo/$name.pdf" "$m/libreoffice-$name.pdf"
    done
    # Ghostscript pdfwrite re-distilling a pdfTeX manual, and cairo re-rendering PDFs.
    [ -f "$CORPUS/deb/R-data.pdf" ] && gs -q -dNOPAUSE -dBATCH -sDEVICE=pdfwrite -dLastPage=30 -sOutputFile="$m/gs-R-data.pdf" "$CORPUS/deb/R-data.pdf" >/dev/null 2>&1 || true
    # … and a gropdf file: non-embedded standard 14 fonts with no /Widths.
    [ -f "$m/gropdf-tar.pdf" ] && gs -q -dNOPAUSE -dBATCH -sDEVICE=pdfwrite -sOutputFile="$m/gs-gropdf-tar.pdf" "$m/gropdf-tar.pdf" >/dev/null 2>&1 || true
    for f in "$CORPUS/deb/R-FAQ.pdf" "$CORPUS/deb/bash.pdf" "$m/libreoffice-GPL-3.pdf" "$m/gropdf-tar.pdf"; do
      [ -f "$f" ] && pdftocairo -pdf -l 30 "$f" "$m/cairo-$(basename "$f")" 2>/dev/null || true
    done
    touch "$m/.done"
  fi
  rm -rf "$tmp"
}
corpus

case "$mode" in
  native)
    (cd "$ROOT/tools/pdf-text-native" && cargo build --release --quiet)
    exec python3 "$ROOT/scripts/pdf_score.py" "$CORPUS/deb" "$CORPUS/made" --native "$ROOT/tools/pdf-text-native/target/release/pdf-text-native" "${args[@]}"
    ;;
  url)
    exec python3 "$ROOT/scripts/pdf_score.py" "$CORPUS/deb" "$CORPUS/made" --host "$url" "${args[@]}"
    ;;
esac

# The real host on loopback with pdf-text (as built by scripts/build-plugins.sh).
HOSTEL="${HOSTEL_BIN:-$ROOT/target/release/hostel}"
[ -x "$HOSTEL" ] || { echo "no host binary at $HOSTEL: cargo build --release -p hostel (or HOSTEL_BIN=...)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/plugins/pdf-text"
cp "$ROOT/plugins/pdf-text/pdf-text.wasm" "$work/plugins/pdf-text/"
# Whole documents in one call: a call timeout long enough for the speed runs.
sed -e 's/^call_timeout = .*/call_timeout = "600s"/' "$ROOT/plugins/pdf-text/hostel.toml" > "$work/plugins/pdf-text/hostel.toml"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$HOSTEL" serve --plugins-dir "$work/plugins" --listen "127.0.0.1:$port" --data-dir "$work/data" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
python3 "$ROOT/scripts/pdf_score.py" "$CORPUS/deb" "$CORPUS/made" --host "http://127.0.0.1:$port" --long "$CORPUS/long" "${args[@]}"
