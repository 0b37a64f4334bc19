//! Soak: mixed load on loopback for SOAK_SECS seconds (default 60) — invokes
//! across all plugins with intended faults, and load/unload/evict/upload
//! churn beside them — bounded in time, reporting p50/p99 latency, errors and
//! RSS at start and end. On demand (not in the default test run):
//!   cargo test --release -p hostel-tests --test soak -- --ignored --nocapture

use hostel_tests::pdf::make_pdf;
use hostel_tests::{plugin_source, PluginsDir, Server};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
#[ignore = "60 s soak; run with --ignored --nocapture"]
async fn soak() {
    let secs: u64 = std::env::var("SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    std::env::set_var("HOSTEL_TEST_SERVER_LOG", "error");
    let plugins = PluginsDir::new();
    plugins
        .add("faulty", |m| m + "\n[breaker]\nfailures = 0\n")
        .add("pdf-text", |m| m)
        .add("caption-keywords", |m| m)
        .add("hello-connector", |m| m);
    let s = Arc::new(Server::start(&plugins));
    let pdf = Arc::new(make_pdf(&["soak page one", "soak page two"], "Soak", "me"));
    let caption = json!({"description": "sunset over the ocean at the beach", "style": "casual", "hashtag_count": 5, "max_captions": 3});

    // Warm every plugin once, then take the starting RSS.
    s.post_bytes("/v1/plugins/pdf-text/pdf/info", pdf.to_vec()).await;
    s.post_json("/v1/plugins/caption-keywords/caption", &caption).await;
    s.post_json("/v1/plugins/hello-connector/connector/call", &json!({"operation": "echo", "args": {}})).await;
    s.post_bytes("/v1/plugins/faulty/pdf/info", b"echo".to_vec()).await;
    let rss_start = s.rss();

    let deadline = Instant::now() + Duration::from_secs(secs);
    let latencies = Arc::new(Mutex::new(Vec::<u64>::new()));
    let (calls, faults, unexpected) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for worker in 0..4usize {
        let (s, pdf, caption) = (s.clone(), pdf.clone(), caption.clone());
        let (latencies, calls, faults, unexpected) = (latencies.clone(), calls.clone(), faults.clone(), unexpected.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = worker;
            while Instant::now() < deadline {
                i += 4;
                let started = Instant::now();
                let (status, body, intended) = match i % 10 {
                    0..=2 => {
                        let (st, b) = s.post_bytes("/v1/plugins/pdf-text/pdf/info", pdf.to_vec()).await;
                        (st, b.clone(), st == 200 && b["page_count"] == 2)
                    }
                    3 | 4 => {
                        let (st, b) = s.post_json("/v1/plugins/caption-keywords/caption", &caption).await;
                        (st, b.clone(), st == 200 && b["hashtags"].as_array().map(Vec::len) == Some(5))
                    }
                    5 | 6 => {
                        let (st, b) = s.post_json("/v1/plugins/hello-connector/connector/call", &json!({"operation": "echo", "args": {"i": i}})).await;
                        (st, b.clone(), st == 200 && b["result"]["i"] == i)
                    }
                    7 => {
                        let (st, b) = s.post_bytes("/v1/plugins/faulty/pdf/info", b"panic".to_vec()).await;
                        faults.fetch_add(1, Ordering::Relaxed);
                        (st, b.clone(), st == 500 && b["error"]["code"] == "plugin_trapped")
                    }
                    8 => {
                        let (st, b) = s.post_bytes("/v1/plugins/faulty/pdf/info", b"alloc:65536".to_vec()).await;
                        faults.fetch_add(1, Ordering::Relaxed);
                        (st, b.clone(), st == 500 && b["error"]["code"] == "memory_limit_exceeded")
                    }
                    _ => {
                        let (st, b) = s.post_bytes("/v1/plugins/faulty/pdf/info", b"echo".to_vec()).await;
                        (st, b.clone(), st == 200 && b["title"] == "echo")
                    }
                };
                latencies.lock().unwrap().push(started.elapsed().as_micros() as u64);
                calls.fetch_add(1, Ordering::Relaxed);
                if !intended {
                    unexpected.fetch_add(1, Ordering::Relaxed);
                    eprintln!("unexpected answer: {status} {body}");
                }
            }
        }));
    }
    // Churn: unload plugins in turn, ask for memory back, upload a plugin again and again.
    let churn = {
        let s = s.clone();
        let wasm = std::fs::read(plugin_source("hello-connector").join("hello-connector.wasm")).unwrap();
        tokio::spawn(async move {
            let mut n = 0u64;
            let names = ["pdf-text", "caption-keywords", "hello-connector", "faulty"];
            while Instant::now() < deadline {
                n += 1;
                s.post_json(&format!("/v1/plugins/{}/unload", names[n as usize % 4]), &json!({})).await;
                s.post_json("/v1/admin/memory/free", &json!({"bytes": 4 << 20})).await;
                let manifest = format!("name = 'churn'\nversion = '{n}'\nkind = 'connector'\n[config]\ngreeting = 'v{n}'\n");
                let form = reqwest::multipart::Form::new().text("manifest", manifest).part("component", reqwest::multipart::Part::bytes(wasm.clone()).file_name("c.wasm"));
                let r = s.client.post(s.url("/v1/plugins")).multipart(form).send().await.unwrap();
                assert_eq!(r.status(), 201);
                let (status, body) = s.post_json("/v1/plugins/churn/connector/call", &json!({"operation": "greet", "args": {}})).await;
                assert_eq!((status, body["result"]["message"].as_str()), (200, Some(format!("v{n}, world").as_str())), "{body}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            n
        })
    };
    for t in tasks {
        t.await.unwrap();
    }
    let churns = churn.await.unwrap();
    let rss_end = s.rss();
    let mut l = latencies.lock().unwrap().clone();
    l.sort_unstable();
    let at = |q: f64| l[((l.len() - 1) as f64 * q) as usize];
    let (calls, faults, unexpected) = (calls.load(Ordering::Relaxed), faults.load(Ordering::Relaxed), unexpected.load(Ordering::Relaxed));
    println!("\nsoak {secs} s, 4 clients + churn (unload, free, upload) every 200 ms");
    println!("calls {calls} ({:.0}/s), intended faults {faults}, unexpected answers {unexpected}, churn rounds {churns}", calls as f64 / secs as f64);
    println!("latency p50 {} µs, p99 {} µs, max {} µs", at(0.5), at(0.99), l[l.len() - 1]);
    println!("RSS start {:.1} MiB, end {:.1} MiB", rss_start as f64 / 1048576.0, rss_end as f64 / 1048576.0);
    assert_eq!(unexpected, 0);
    assert!(rss_end < rss_start + (64 << 20), "RSS grew from {rss_start} to {rss_end}");
}
