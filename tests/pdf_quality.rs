//! pdf-text's quality against poppler's `pdftotext` on the fixture PDFs of
//! real producers (tests/fixtures/*.pdf: groff -Tpdf, groff → ps2pdf,
//! cairo, Chromium, LibreOffice; sources in tests/fixtures/quality-src):
//! word-multiset recall and precision ≥ 0.98 and no U+FFFD where pdftotext
//! has text. And the stream route hands out page 1 before the rest is done.

use hostel_tests::pdf::make_pdf;
use hostel_tests::{repo, PluginsDir, Server};
use std::collections::HashMap;
use std::time::Instant;

fn server() -> (PluginsDir, Server) {
    let plugins = PluginsDir::new();
    plugins.add("pdf-text", |m| m);
    let server = Server::start(&plugins);
    (plugins, server)
}

fn words(text: &str) -> HashMap<&str, usize> {
    let mut counts = HashMap::new();
    for w in text.split_whitespace() {
        *counts.entry(w).or_insert(0) += 1;
    }
    counts
}

/// (recall, precision) of `got` against `reference`, over word multisets.
fn score(reference: &str, got: &str) -> (f64, f64) {
    let (r, g) = (words(reference), words(got));
    let common: usize = r.iter().map(|(w, n)| (*n).min(g.get(w).copied().unwrap_or(0))).sum();
    let total = |m: &HashMap<&str, usize>| m.values().sum::<usize>().max(1) as f64;
    (common as f64 / total(&r), common as f64 / total(&g))
}

fn pdftotext(path: &std::path::Path) -> String {
    let out = std::process::Command::new("pdftotext")
        .args(["-enc", "UTF-8"])
        .arg(path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is needed: bash scripts/setup.sh installs it");
    assert!(out.status.success(), "pdftotext failed on {}", path.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn text_matches_pdftotext_on_every_fixture() {
    let (_p, s) = server();
    let mut fixtures: Vec<_> = std::fs::read_dir(repo().join("tests/fixtures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pdf"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 5, "{fixtures:?}");
    let mut failures = Vec::new();
    for path in &fixtures {
        let reference = pdftotext(path);
        let (status, body) = s.post_bytes("/v1/plugins/pdf-text/pdf/text", std::fs::read(path).unwrap()).await;
        assert_eq!(status, 200, "{}: {body}", path.display());
        let got: Vec<&str> = body["pages"].as_array().unwrap().iter().map(|p| p["text"].as_str().unwrap()).collect();
        let got = got.join("\n");
        let (recall, precision) = score(&reference, &got);
        let fffd = got.matches('\u{fffd}').count().saturating_sub(reference.matches('\u{fffd}').count());
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        eprintln!("{name}: recall {recall:.3} precision {precision:.3} U+FFFD {fffd}");
        if recall < 0.98 || precision < 0.98 || fffd > 0 {
            failures.push(format!("{name}: recall {recall:.3}, precision {precision:.3}, U+FFFD {fffd}"));
        }
    }
    assert!(failures.is_empty(), "below pdftotext's text: {failures:?}");
}

/// Page 1's NDJSON line arrives while the pages after it are still being
/// extracted: the response is open and most of the document is to come.
#[tokio::test(flavor = "multi_thread")]
async fn the_stream_gives_page_one_before_the_rest() {
    let (_p, s) = server();
    let line: String = (0..30).map(|i| format!("line {i} of a page with words enough to lay out\n")).collect();
    let pages: Vec<String> = (0..400).map(|n| format!("Page {} begins here\n{line}", n + 1)).collect();
    let pages: Vec<&str> = pages.iter().map(String::as_str).collect();
    let pdf = make_pdf(&pages, "Long", "me");
    // Loaded (compiled) first, so the clock below times the stream alone.
    let (status, _) = s.post_bytes("/v1/plugins/pdf-text/pdf/info", make_pdf(&["warm"], "w", "w")).await;
    assert_eq!(status, 200);
    let started = Instant::now();
    let mut r = s.client.post(s.url("/v1/plugins/pdf-text/pdf/text/stream")).body(pdf).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let mut seen = Vec::new();
    let mut first_at = None;
    let mut lines_when_first = 0;
    while let Some(chunk) = r.chunk().await.unwrap() {
        seen.extend_from_slice(&chunk);
        let lines = seen.iter().filter(|&&b| b == b'\n').count();
        if first_at.is_none() && lines > 0 {
            first_at = Some(started.elapsed());
            lines_when_first = lines;
        }
    }
    let total = started.elapsed();
    let text = String::from_utf8(seen).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 400, "{:?}", lines.last());
    assert_eq!(lines[0]["page"], 1);
    assert!(lines[0]["text"].as_str().unwrap().starts_with("Page 1 begins here"), "{}", lines[0]);
    assert_eq!(lines[399]["page"], 400);
    let first_at = first_at.unwrap();
    assert!(lines_when_first < 200, "page 1 came with {lines_when_first} pages: the stream was not streamed");
    assert!(first_at * 2 < total, "page 1 after {first_at:?} of {total:?}");
}
