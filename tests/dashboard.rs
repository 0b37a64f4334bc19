//! The dashboard in a real headless Chromium against a real server: the page
//! (embedded in the binary) renders the plugins with their state and the
//! ledger's memory figures, the pressure level and recent invocations. A
//! screenshot is kept in target/test-artifacts/dashboard.png.

use hostel_tests::{repo, PluginsDir, Server};
use std::process::Command;

/// Runs headless Chromium on `url`; `extra` picks what it produces (DOM or screenshot).
fn chromium(url: &str, extra: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--virtual-time-budget=5000", "--window-size=1400,900"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium is installed by scripts/setup.sh (Debian package chromium)");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The first text after `marker` (the start of a tag) in `html`, tags skipped.
fn cell_after<'a>(html: &'a str, marker: &str) -> &'a str {
    let at = html.find(marker).unwrap_or_else(|| panic!("{marker} not in the page:\n{html}"));
    html[at..].split('>').skip(1).map(|s| s.split('<').next().unwrap().trim()).find(|t| !t.is_empty()).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_shows_plugins_memory_and_invocations() {
    let plugins = PluginsDir::new();
    plugins.add("pdf-text", |m| m).add("faulty", |m| m);
    let s = Server::start_with(&plugins, &["--token", "dash"]);
    let pdf = std::fs::read(repo().join("tests/fixtures/groff-ghostscript.pdf")).unwrap();
    let (status, _) = s.post_bytes("/v1/plugins/pdf-text/pdf/info", pdf).await;
    assert_eq!(status, 200);
    let memory: serde_json::Value =
        s.client.get(s.url("/v1/admin/memory")).bearer_auth("dash").send().await.unwrap().json().await.unwrap();
    let bytes = memory["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "pdf-text").unwrap()["instance_bytes"]
        .as_u64()
        .unwrap();
    assert!(bytes > 0);
    s.wait_for("/v1/plugins/pdf-text", 10, |p| p["idle_instances"] == 1).await;

    let url = s.url("/?token=dash");
    let html = tokio::task::block_in_place(|| chromium(&url, &["--dump-dom"]));
    assert!(html.contains("data-ready=\"true\""), "the page loaded its data:\n{html}");
    // One row per plugin, with the state and the ledger's bytes.
    assert_eq!(cell_after(&html, "<tr data-plugin=\"pdf-text\""), "pdf-text");
    assert!(html.contains("class=\"state-loaded\""), "{html}");
    assert!(html.contains("class=\"state-registered\""), "faulty is not loaded yet");
    assert!(html.contains(&format!("data-bytes=\"{bytes}\"")), "memory cell shows the ledger's {bytes} bytes:\n{html}");
    assert_eq!(cell_after(&html, "id=\"level\""), "low");
    // The whole process: RSS with compile workers, the unexplained rest, the compile queue.
    assert!(cell_after(&html, "id=\"rss\"").contains("unexplained"), "{html}");
    let compiles = cell_after(&html, "id=\"compiles\"");
    assert!(compiles.starts_with("compiles 0/") && compiles.contains("0 queued"), "{compiles}");
    assert!(html.contains("<td>info</td>"), "recent invocations list the call");
    assert!(html.contains(">unload</button>") && html.contains(">load</button>"));

    // Without the token the page says so instead of showing data.
    let bare = s.url("/");
    let html = tokio::task::block_in_place(|| chromium(&bare, &["--dump-dom"]));
    assert_eq!(cell_after(&html, "id=\"status\""), "needs the token");

    let dir = repo().join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let shot = dir.join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    tokio::task::block_in_place(|| chromium(&url, &[&format!("--screenshot={}", shot.display())]));
    assert!(std::fs::metadata(&shot).map(|m| m.len() > 10_000).unwrap_or(false), "screenshot written to {}", shot.display());
}
