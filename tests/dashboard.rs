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

/// The plots, live: the memory plot has a point for every sample history
/// returned before the page opened, then — without a reload — a marker for an
/// eviction this test makes and new samples from the event stream; call
/// latency is plotted per plugin. Screenshot: target/test-artifacts/dashboard-plots.png.
#[tokio::test(flavor = "multi_thread")]
async fn the_memory_plot_backfills_from_history_and_updates_live() {
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| m);
    let config = plugins.config("[memory]\nmin_idle = '0s'\nsample_interval = '200ms'\ncheck_interval = '50ms'\n");
    let s = Server::start_with(&plugins, &["--token", "dash", "--config", &config]);
    let auth = |r: reqwest::RequestBuilder| r.bearer_auth("dash");
    for _ in 0..5 {
        let r = auth(s.client.post(s.url("/v1/plugins/faulty/pdf/info"))).body("alloc:2048").send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64 - 300_000;
    let history: serde_json::Value = auth(s.client.get(s.url(&format!("/v1/admin/memory/history?since={since}&limit=1000"))))
        .send().await.unwrap().json().await.unwrap();
    let stamps: Vec<f64> = history["samples"].as_array().unwrap().iter().map(|x| x["ts_ms"].as_u64().unwrap() as f64 / 1000.0).collect();
    assert!(stamps.len() >= 2, "{history}");

    let url = s.url("/?token=dash");
    let mut page = tokio::task::block_in_place(|| hostel_tests::cdp::Page::open(&url));
    tokio::task::block_in_place(|| {
        page.wait_for("document.body.dataset.live === 'true' && window.hostelPlots.memory && window.hostelPlots.memory.data[0].length > 0", 20);
        page.eval("window.__notReloaded = 42");
        let xs = page.eval("window.hostelPlots.memory.data[0]");
        let xs: Vec<f64> = xs.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        for t in &stamps {
            assert!(xs.iter().any(|x| (x - t).abs() < 1e-6), "history sample at {t} is not on the plot: {xs:?}");
        }
        let labels = page.eval("window.hostelPlots.memory.series.map(s => s.label)");
        for label in ["ledger used", "process RSS", "budget", "faulty"] {
            assert!(labels.as_array().unwrap().iter().any(|l| l == label), "{label} not in {labels}");
        }
    });
    let before = tokio::task::block_in_place(|| page.eval("window.hostelPlots.memory.data[0].length")).as_u64().unwrap();

    // An eviction made now shows up as a marker, live.
    let freed: serde_json::Value = auth(s.client.post(s.url("/v1/admin/memory/free"))).json(&serde_json::json!({"bytes": 1}))
        .send().await.unwrap().json().await.unwrap();
    assert_eq!(freed["evicted"][0]["plugin"], "faulty", "{freed}");
    tokio::task::block_in_place(|| {
        let marker = page.wait_for("window.hostelPlots.markers.find(m => m.kind === 'eviction' && m.label === 'faulty (free)')", 10);
        let at = marker["t"].as_f64().unwrap();
        let x_max = page.eval("window.hostelPlots.memory.scales.x.max").as_f64().unwrap();
        assert!(at <= x_max + 1.0, "the marker at {at} is inside the plotted range ending {x_max}");
        page.wait_for(&format!("window.hostelPlots.memory.data[0].length > {before}"), 10);
        assert_eq!(page.eval("window.__notReloaded"), 42, "updated without a reload");
        // Latency per plugin from the calls made above.
        let p99 = page.wait_for("window.hostelPlots.latency.series.some(s => s.label === 'faulty p99') && window.hostelPlots.latency.data[2]", 10);
        assert!(p99.as_array().unwrap().iter().any(|v| v.as_f64().is_some_and(|ms| ms > 0.0)), "{p99}");
        // The range picker back-fills a longer window.
        page.eval("(() => { const r = document.querySelector('#range'); r.value = '3600'; r.dispatchEvent(new Event('change')); })()");
        page.wait_for("window.hostelPlots.range === 3600", 5);
        std::thread::sleep(std::time::Duration::from_millis(700));
        let dir = repo().join("target/test-artifacts");
        std::fs::create_dir_all(&dir).unwrap();
        let png = page.screenshot();
        assert!(png.len() > 10_000);
        std::fs::write(dir.join("dashboard-plots.png"), png).unwrap();
    });
}
