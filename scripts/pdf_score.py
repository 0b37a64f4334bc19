#!/usr/bin/env python3
"""Scores pdf-text against poppler's pdftotext on a corpus of PDFs.

For each PDF: the word multiset of pages 1..40 from pdf-text and from
`pdftotext -l 40`, recall (share of pdftotext's words we have) and precision
(share of our words pdftotext has), U+FFFD count where pdftotext has text, and
the wall time of extracting the whole document (best of 3), ours / pdftotext's. Rows are
grouped by producer (from pdfinfo). Called by scripts/pdf-score.sh.

Extractors:
  --host URL      POST the PDF to URL/v1/plugins/pdf-text/pdf/text (the real host)
  --native BIN    run tools/pdf-text-native (same extractor, built natively)
  --long DIR      with --host: also stream each long PDF there (first page, total)
"""
import argparse, collections, http.client, json, os, subprocess, sys, time, urllib.parse, urllib.request

PAGES = 40
SPEED_RUNS = 3


def producer(path):
    try:
        info = subprocess.run(["pdfinfo", path], capture_output=True, text=True, errors="replace", timeout=60).stdout
    except Exception:
        return "unknown", 0
    fields = {}
    for line in info.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            fields[k.strip()] = v.strip()
    prod, creator = fields.get("Producer", ""), fields.get("Creator", "")
    pages = int(fields.get("Pages", "0") or 0)
    p = prod.lower()
    if "pdftex" in p or "luatex" in p:
        fam = "pdfTeX"
    elif "xdvipdfmx" in p or "dvipdfm" in p:
        fam = "xdvipdfmx"
    elif "gropdf" in p:
        fam = "groff -Tpdf (gropdf)"
    elif "ghostscript" in p and "groff" in creator.lower():
        fam = "groff -> ps2pdf (Ghostscript)"
    elif "ghostscript" in p:
        fam = "Ghostscript"
    elif "skia" in p or "chrom" in creator.lower():
        fam = "Chromium"
    elif "libreoffice" in p or "openoffice" in p:
        fam = "LibreOffice"
    elif "cairo" in p:
        fam = "cairo"
    else:
        fam = prod or "unknown"
    return fam, pages


def words(text):
    return collections.Counter(text.split())


def pdftotext(path, last=None):
    cmd = ["pdftotext", "-enc", "UTF-8"] + (["-l", str(last)] if last else []) + [path, "-"]
    t = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, timeout=600).stdout.decode("utf-8", "replace")
    return out, time.monotonic() - t


def ours_host(url, path, last=None):
    data = open(path, "rb").read()
    q = f"?first=1&last={last}" if last else ""
    req = urllib.request.Request(f"{url}/v1/plugins/pdf-text/pdf/text{q}", data=data, method="POST",
                                 headers={"content-type": "application/pdf"})
    t = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            body = json.loads(r.read())
    except urllib.error.HTTPError as e:
        return None, time.monotonic() - t, e.read().decode("utf-8", "replace")[:200]
    dt = time.monotonic() - t
    return "\n\x0c".join(p["text"] for p in body["pages"]), dt, None


def stream_host(url, path):
    """The stream route: (ms to the first NDJSON line, s to the end, lines, error line)."""
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    t = time.monotonic()
    c.request("POST", "/v1/plugins/pdf-text/pdf/text/stream", body=open(path, "rb").read(),
              headers={"content-type": "application/pdf"})
    r = c.getresponse()
    first, n, err = None, 0, None
    for line in iter(r.readline, b""):
        first = first if first is not None else time.monotonic() - t
        n += 1
        if line.startswith(b'{"error"'):
            err = line[:200].decode("utf-8", "replace")
    return (first or 0) * 1000, time.monotonic() - t, n, err


def ours_native(binary, path, last=None):
    t = time.monotonic()
    r = subprocess.run([binary, path] + ([str(last)] if last else []), capture_output=True, timeout=600)
    dt = time.monotonic() - t
    if r.returncode != 0:
        return None, dt, r.stderr.decode("utf-8", "replace")[:200]
    return r.stdout.decode("utf-8", "replace"), dt, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", nargs="+")
    ap.add_argument("--host")
    ap.add_argument("--native")
    ap.add_argument("--no-speed", action="store_true", help="skip whole-document timing")
    ap.add_argument("--verbose", "-v", action="store_true")
    ap.add_argument("--long", help="with --host: stream every PDF in this folder, print first-page and total times")
    a = ap.parse_args()
    if a.host:
        run = lambda p, last=None: ours_host(a.host.rstrip("/"), p, last)
    elif a.native:
        run = lambda p, last=None: ours_native(a.native, p, last)
    else:
        sys.exit("give --host URL or --native BIN")
    files = sorted(os.path.join(d, f) for c in a.corpus for d, _, fs in os.walk(c) for f in fs if f.endswith(".pdf"))
    groups = collections.defaultdict(list)
    for path in files:
        fam, pages = producer(path)
        ref, _ = pdftotext(path, PAGES)
        rw = words(ref)
        if sum(rw.values()) < 20:
            continue  # no text layer to compare (scans, images)
        got, _, err = run(path, min(PAGES, pages) if pages else PAGES)
        if got is None:
            print(f"  {os.path.basename(path)}: ERROR {err}", file=sys.stderr)
            groups[fam].append((path, 0.0, 0.0, 0, None))
            continue
        gw = words(got)
        common = sum((rw & gw).values())
        recall = common / max(1, sum(rw.values()))
        precision = common / max(1, sum(gw.values()))
        fffd = got.count("\ufffd") - ref.count("\ufffd")
        speed = None
        if not a.no_speed:
            # Best of SPEED_RUNS each: on a shared machine one run of a small
            # file is mostly the noise of whatever else runs then.
            t_ref = min(pdftotext(path)[1] for _ in range(SPEED_RUNS))
            runs = [run(path) for _ in range(SPEED_RUNS)]
            err = next((r[2] for r in runs if r[2] is not None), None)
            t_ours = min(r[1] for r in runs)
            speed = t_ours / max(t_ref, 1e-3) if err is None else float("inf")
        groups[fam].append((path, recall, precision, max(0, fffd), speed))
        if a.verbose:
            sp = f"{speed:.2f}x" if speed is not None else "-"
            print(f"  {fam:32} {os.path.basename(path):40} R={recall:.3f} P={precision:.3f} fffd={max(0, fffd)} speed={sp}", file=sys.stderr)
    print(f"| producer | files | recall (min / mean) | precision (min / mean) | U+FFFD | speed vs pdftotext (max / median) |")
    print(f"| --- | --- | --- | --- | --- | --- |")
    for fam in sorted(groups):
        rows = groups[fam]
        r = [x[1] for x in rows]
        p = [x[2] for x in rows]
        s = sorted(x[4] for x in rows if x[4] is not None)
        sp = f"{max(s):.2f}x / {s[len(s) // 2]:.2f}x" if s else "-"
        print(f"| {fam} | {len(rows)} | {min(r):.3f} / {sum(r) / len(r):.3f} | {min(p):.3f} / {sum(p) / len(p):.3f} | {sum(x[3] for x in rows)} | {sp} |")


    if a.long and a.host:
        print()
        print("| long document | pages | first page (stream) | whole stream | pdftotext |")
        print("| --- | --- | --- | --- | --- |")
        for f in sorted(os.listdir(a.long)):
            if not f.endswith(".pdf"):
                continue
            path = os.path.join(a.long, f)
            first, total, n, err = stream_host(a.host.rstrip("/"), path)
            _, t_ref = pdftotext(path)
            print(f"| {f} | {n} | {first:.0f} ms | {total:.2f} s | {t_ref:.2f} s |" + (f" {err}" if err else ""))


if __name__ == "__main__":
    main()
