//! Reliability under bad plugins: 10,000 calls from 8 concurrent clients mix
//! panics, memory blow-ups, oversized outputs, table growth, slow calls,
//! plugin errors and timeouts with good calls
//! to three plugins. Every answer is checked exactly; the host never dies;
//! afterwards the ledger holds nothing but compiled code once idle instances
//! are freed.

use hostel_tests::pdf::make_pdf;
use hostel_tests::{PluginsDir, Server};
use serde_json::json;
use std::sync::Arc;

/// What one call is, and the status and check its answer must pass.
fn call(i: usize) -> (&'static str, String, Vec<u8>, u16) {
    match i % 20 {
        0 => ("faulty", "/v1/plugins/faulty/pdf/info".into(), b"panic".to_vec(), 500),
        1 => ("faulty", "/v1/plugins/faulty/pdf/info".into(), b"alloc:65536".to_vec(), 500),
        2 => ("faulty", "/v1/plugins/faulty/pdf/info".into(), b"error".to_vec(), 422),
        3 => ("faulty", "/v1/plugins/faulty/pdf/info".into(), b"big:2048".to_vec(), 502),
        4 => ("faulty", "/v1/plugins/faulty/pdf/info".into(), b"table:5000000".to_vec(), 500),
        5 => ("faulty", "/v1/plugins/faulty/pdf/info".into(), b"sleep:20".to_vec(), 200),
        6..=9 => ("faulty", "/v1/plugins/faulty/pdf/info".into(), b"echo".to_vec(), 200),
        10..=14 => ("pdf", "/v1/plugins/pdf-text/pdf/info".into(), Vec::new(), 200),
        _ => ("hello", "/v1/plugins/hello-connector/connector/call".into(), Vec::new(), 200),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_mixed_calls_no_crash_no_wrong_answer_ledger_back_to_baseline() {
    let plugins = PluginsDir::new();
    // The breaker stays off here: this test wants every fault to reach the plugin.
    plugins
        .add("faulty", |m| m.replace("call_timeout = \"500ms\"", "call_timeout = \"500ms\"\nmax_output = \"1MiB\"") + "\n[breaker]\nfailures = 0\n[pool]\nmax_instances = 8\nmax_idle = 8\n")
        .add("pdf-text", |m| m)
        .add("hello-connector", |m| m);
    // Each of the ~1,000 discarded instances would log a warning; errors are enough here.
    std::env::set_var("HOSTEL_TEST_SERVER_LOG", "error");
    let s = Arc::new(Server::start(&plugins));
    let pdf = Arc::new(make_pdf(&["reliable"], "Soak", "me"));

    const CLIENTS: usize = 8;
    const PER: usize = 1250;
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (s, pdf) = (s.clone(), pdf.clone());
            tokio::spawn(async move {
                let mut wrong = Vec::new();
                for n in 0..PER {
                    let i = c * PER + n;
                    let (kind, path, body, expected) = call(i);
                    let (status, answer) = match kind {
                        "pdf" => s.post_bytes(&path, pdf.to_vec()).await,
                        "hello" => s.post_json(&path, &json!({"operation": "echo", "args": {"i": i}})).await,
                        _ => s.post_bytes(&path, body.clone()).await,
                    };
                    let right = status == expected
                        && match (kind, status, body.as_slice()) {
                            ("pdf", _, _) => answer["page_count"] == 1 && answer["title"] == "Soak",
                            ("hello", _, _) => answer["result"]["i"] == i,
                            (_, 200, b"sleep:20") => answer["title"] == "slept",
                            (_, 200, _) => answer["title"] == "echo",
                            (_, 500, b"panic") => answer["error"]["code"] == "plugin_trapped",
                            (_, 500, b"table:5000000") => answer["error"]["code"] == "table_limit_exceeded",
                            (_, 502, _) => answer["error"]["code"] == "output_too_large",
                            (_, 500, _) => answer["error"]["code"] == "memory_limit_exceeded",
                            (_, 422, _) => answer["error"]["code"] == "invalid_input",
                            _ => false,
                        };
                    if !right {
                        wrong.push(format!("call {i} {path} {:?}: {status} {answer}", String::from_utf8_lossy(&body)));
                    }
                }
                wrong
            })
        })
        .collect();
    // A few loops (each interrupted at the 500 ms call timeout) alongside.
    let loops: Vec<_> = (0..4)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.post_bytes("/v1/plugins/faulty/pdf/info", b"loop".to_vec()).await })
        })
        .collect();
    let mut wrong = Vec::new();
    for t in tasks {
        wrong.extend(t.await.expect("client task"));
    }
    for l in loops {
        let (status, body) = l.await.unwrap();
        assert_eq!((status, body["error"]["code"].as_str()), (504, Some("timeout")), "{body}");
    }
    assert!(wrong.is_empty(), "{} wrong answers, first: {:?}", wrong.len(), &wrong[..wrong.len().min(5)]);

    // Still serving; counters add up.
    let (status, _) = s.get("/healthz").await;
    assert_eq!(status, 200);
    let faulty = s.plugin("faulty").await;
    assert_eq!(faulty["calls"].as_u64(), Some((CLIENTS * PER / 20 * 10 + 4) as u64), "{faulty}");
    let (_, pools) = s.get("/v1/admin/pools").await;
    let pool = pools["pools"].as_array().unwrap().iter().find(|p| p["plugin"] == "faulty").unwrap().clone();
    assert_eq!(pool["discarded"].as_u64(), Some((CLIENTS * PER / 20 * 4 + 4) as u64), "every trap, blow-up, oversized output, table growth and loop discarded its instance: {pool}");
    assert_eq!(pool["busy"], 0);

    // Ledger back to baseline: with idle instances freed, only compiled code is charged.
    let (status, freed) = s.post_json("/v1/admin/memory/free", &json!({"bytes": u64::MAX / 2})).await;
    assert_eq!(status, 200, "{freed}");
    let (_, memory) = s.get("/v1/admin/memory").await;
    assert_eq!(memory["used"], memory["compiled_bytes"], "{memory}");
    assert_eq!(memory["reserved_bytes"], 0);
    let instances: usize = memory["plugins"].as_array().unwrap().iter().map(|p| p["instances"].as_array().unwrap().len()).sum();
    assert_eq!(instances, 0, "{memory}");
}
