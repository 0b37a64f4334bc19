//! pdf-text over HTTP: text equals what the test put in, info fields, page
//! ranges, a PDF from a real producer, and broken, truncated or locked input
//! as `invalid_input`.

use hostel_tests::pdf::make_pdf;
use hostel_tests::{error_message, repo, PluginsDir, Server};

fn server() -> (PluginsDir, Server) {
    let plugins = PluginsDir::new();
    plugins.add("pdf-text", |m| m);
    let server = Server::start(&plugins);
    (plugins, server)
}

#[tokio::test]
async fn page_text_equals_what_was_written() {
    let (_p, s) = server();
    let pages = ["First page says hello", "Second page\nhas two lines", "Third page: 42 apples"];
    let pdf = make_pdf(&pages, "Quarterly Report", "Ada Lovelace");

    let (status, body) = s.post_bytes("/v1/plugins/pdf-text/pdf/text", pdf.clone()).await;
    assert_eq!(status, 200, "{body}");
    let got = body["pages"].as_array().unwrap();
    assert_eq!(got.len(), 3);
    for (i, page) in got.iter().enumerate() {
        assert_eq!(page["page"], i as u64 + 1);
        let text = page["text"].as_str().unwrap();
        let words: Vec<&str> = text.split_whitespace().collect();
        let expected: Vec<&str> = pages[i].split_whitespace().collect();
        assert_eq!(words, expected, "page {}", i + 1);
    }

    let (status, body) = s.post_bytes("/v1/plugins/pdf-text/pdf/text?first=2&last=3", pdf.clone()).await;
    assert_eq!(status, 200, "{body}");
    let nums: Vec<u64> = body["pages"].as_array().unwrap().iter().map(|p| p["page"].as_u64().unwrap()).collect();
    assert_eq!(nums, [2, 3]);
    assert!(body["pages"][1]["text"].as_str().unwrap().contains("42 apples"));

    let (status, info) = s.post_bytes("/v1/plugins/pdf-text/pdf/info", pdf).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["page_count"], 3);
    assert_eq!(info["title"], "Quarterly Report");
    assert_eq!(info["author"], "Ada Lovelace");
    assert_eq!(info["version"], "1.5");
}

#[tokio::test]
async fn reads_a_pdf_made_by_groff_and_ghostscript() {
    let (_p, s) = server();
    let pdf = std::fs::read(repo().join("tests/fixtures/groff-ghostscript.pdf")).unwrap();
    let (status, info) = s.post_bytes("/v1/plugins/pdf-text/pdf/info", pdf.clone()).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["page_count"], 2);
    assert!(info["producer"].as_str().unwrap().contains("Ghostscript"), "{info}");
    let (status, body) = s.post_bytes("/v1/plugins/pdf-text/pdf/text", pdf).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["pages"][0]["text"].as_str().unwrap().contains("Hostel reads real PDFs."), "{body}");
    assert!(body["pages"][1]["text"].as_str().unwrap().contains("WebAssembly components"), "{body}");
}

#[tokio::test]
async fn broken_pdfs_are_invalid_input_and_the_plugin_keeps_serving() {
    let (_p, s) = server();
    let (status, body) = s.post_bytes("/v1/plugins/pdf-text/pdf/info", b"hello, not a pdf".to_vec()).await;
    assert_eq!(status, 422);
    assert!(error_message(&body, "invalid_input").contains("not a PDF"));

    let mut truncated = make_pdf(&["some text"], "t", "a");
    truncated.truncate(truncated.len() / 2);
    let (status, body) = s.post_bytes("/v1/plugins/pdf-text/pdf/text", truncated).await;
    assert_eq!(status, 422, "{body}");
    error_message(&body, "invalid_input");

    let (status, body) = s.post_bytes("/v1/plugins/pdf-text/pdf/text", Vec::new()).await;
    assert_eq!(status, 422);
    assert!(error_message(&body, "invalid_input").contains("empty"));

    // A user password (tests/fixtures/pdf-errors: qpdf AES-256, password "secret"); the
    // empty-password AES and RC4 fixtures are read in pdf_quality.
    let locked = std::fs::read(repo().join("tests/fixtures/pdf-errors/user-password.pdf")).unwrap();
    let (status, body) = s.post_bytes("/v1/plugins/pdf-text/pdf/text/stream", locked).await;
    assert_eq!(status, 422, "{body}");
    assert!(error_message(&body, "invalid_input").contains("encrypted"), "{body}");

    // Damaged cross-reference data (a wrong startxref) is rebuilt, as before.
    let good = make_pdf(&["mended text"], "t", "a");
    let at = good.windows(9).rposition(|w| w == b"startxref").unwrap();
    let mut bad = good[..at].to_vec();
    bad.extend_from_slice(b"startxref\n999\n%%EOF\n");
    let (status, body) = s.post_bytes("/v1/plugins/pdf-text/pdf/text", bad).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["pages"][0]["text"].as_str().unwrap().contains("mended text"), "{body}");

    let pdf = make_pdf(&["one", "two"], "t", "a");
    let (status, body) = s.post_bytes("/v1/plugins/pdf-text/pdf/text?first=2&last=5", pdf.clone()).await;
    assert_eq!(status, 422);
    assert!(error_message(&body, "invalid_input").contains("outside"));

    // Same plugin, good input, still fine — and no instance was lost to a trap.
    let (status, body) = s.post_bytes("/v1/plugins/pdf-text/pdf/text", pdf).await;
    assert_eq!(status, 200, "{body}");
    let info = s.plugin("pdf-text").await;
    assert_eq!(info["state"], "loaded");
    assert_eq!(info["instances_created"], 1, "plugin errors must not discard the instance: {info}");
}
