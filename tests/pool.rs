//! Instance pools: reuse, recycling after max_uses or over max_idle_memory, traps never reused, the
//! bounded queue (429/503), warm instances at load, and the circuit breaker.

use hostel_tests::{error_message, PluginsDir, Server};
use serde_json::{json, Value};

async fn faulty(s: &Server, plugin: &str, command: &str) -> (u16, Value) {
    s.post_bytes(&format!("/v1/plugins/{plugin}/pdf/info"), command.as_bytes().to_vec()).await
}

async fn pool(s: &Server, plugin: &str) -> Value {
    let (status, body) = s.get("/v1/admin/pools").await;
    assert_eq!(status, 200);
    body["pools"].as_array().unwrap().iter().find(|p| p["plugin"] == plugin).unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_instance_serves_a_hundred_sequential_calls() {
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| m);
    let s = Server::start(&plugins);
    for i in 1..=100u64 {
        let (status, body) = faulty(&s, "faulty", "count").await;
        assert_eq!(status, 200);
        assert_eq!(body["page_count"], i);
    }
    let p = pool(&s, "faulty").await;
    assert_eq!((p["created"].as_u64(), p["reused"].as_u64(), p["idle"].as_u64()), (Some(1), Some(99), Some(1)), "{p}");
    assert!((p["reuse_ratio"].as_f64().unwrap() - 0.99).abs() < 1e-9);
}

/// Many concurrent callers across hundreds of epoch ticks: the pool's instances
/// serve them all. (A pooled instance used to yield at the first instruction of
/// every call after a tick; the runtime then started more calls than there were
/// instances and made, and dropped, one instance per ~190 calls.)
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_callers_across_epoch_ticks_do_not_churn_instances() {
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| m);
    let s = std::sync::Arc::new(Server::start(&plugins));
    assert_eq!(faulty(&s, "faulty", "count").await.0, 200);
    let started = std::time::Instant::now();
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut calls = 0;
                while started.elapsed() < std::time::Duration::from_secs(2) && calls < 5000 {
                    assert_eq!(faulty(&s, "faulty", "count").await.0, 200);
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    let mut calls = 0;
    for c in callers {
        calls += c.await.unwrap();
    }
    let p = pool(&s, "faulty").await;
    assert!(calls > 1000, "only {calls} calls in 2 s");
    assert!(p["created"].as_u64().unwrap() <= 4, "{calls} calls made {p}");
}

#[tokio::test(flavor = "multi_thread")]
async fn max_uses_recycles_and_traps_are_never_reused() {
    let plugins = PluginsDir::new();
    plugins.add_faulty("short", 0, "memory = '32MiB'").add("faulty", |m| m);
    std::fs::write(plugins.path().join("short/hostel.toml"),
        std::fs::read_to_string(plugins.path().join("short/hostel.toml")).unwrap() + "[pool]\nmax_uses = 3\n").unwrap();
    let s = Server::start(&plugins);
    let mut counts = Vec::new();
    for _ in 0..9 {
        counts.push(faulty(&s, "short", "count").await.1["page_count"].as_u64().unwrap());
    }
    assert_eq!(counts, [1, 2, 3, 1, 2, 3, 1, 2, 3]);
    let p = pool(&s, "short").await;
    assert_eq!((p["created"].as_u64(), p["recycled"].as_u64()), (Some(3), Some(3)), "{p}");

    assert_eq!(faulty(&s, "faulty", "count").await.1["page_count"], 1);
    assert_eq!(faulty(&s, "faulty", "count").await.1["page_count"], 2);
    assert_eq!(faulty(&s, "faulty", "panic").await.0, 500);
    assert_eq!(faulty(&s, "faulty", "count").await.1["page_count"], 1, "a trapped instance must not come back");
    assert_eq!(pool(&s, "faulty").await["discarded"], 1);
}

/// Linear memory never shrinks: an instance a call grew past
/// `max_idle_memory` is dropped, and the next call gets a fresh one.
#[tokio::test(flavor = "multi_thread")]
async fn an_instance_grown_past_max_idle_memory_is_not_kept() {
    let plugins = PluginsDir::new();
    plugins.add_faulty("lean", 0, "memory = '64MiB'");
    std::fs::write(plugins.path().join("lean/hostel.toml"),
        std::fs::read_to_string(plugins.path().join("lean/hostel.toml")).unwrap() + "[pool]\nmax_idle_memory = '8MiB'\n").unwrap();
    let s = Server::start(&plugins);
    assert_eq!(faulty(&s, "lean", "count").await.1["page_count"], 1);
    assert_eq!(faulty(&s, "lean", "count").await.1["page_count"], 2, "a small instance is kept");
    let (status, body) = faulty(&s, "lean", "alloc:16384").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(faulty(&s, "lean", "count").await.1["page_count"], 1, "the 16 MiB instance must not come back");
    let p = pool(&s, "lean").await;
    assert_eq!((p["created"].as_u64(), p["recycled"].as_u64(), p["discarded"].as_u64()), (Some(2), Some(1), Some(0)), "{p}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_queue_is_bounded() {
    let plugins = PluginsDir::new();
    plugins.add_faulty("single", 0, "memory = '32MiB'\ncall_timeout = '5s'");
    std::fs::write(plugins.path().join("single/hostel.toml"),
        std::fs::read_to_string(plugins.path().join("single/hostel.toml")).unwrap()
            + "[pool]\nmax_instances = 1\nmax_queue = 1\nqueue_timeout = '1s'\n").unwrap();
    let s = Server::start(&plugins);
    let first = faulty(&s, "single", "sleep:3000");
    let later = async {
        s.wait_for("/v1/admin/pools", 10, |b| b["pools"][0]["busy"] == 1).await;
        let queued = faulty(&s, "single", "echo");
        let rejected = async {
            s.wait_for("/v1/admin/pools", 10, |b| b["pools"][0]["waiting"] == 1).await;
            faulty(&s, "single", "echo").await
        };
        futures::future::join(queued, rejected).await
    };
    let (first, (queued, rejected)) = futures::future::join(first, later).await;
    assert_eq!(first.0, 200);
    assert_eq!(rejected.0, 429, "{rejected:?}");
    assert!(error_message(&rejected.1, "queue_full").contains("max_instances"));
    assert_eq!(queued.0, 503, "{queued:?}");
    error_message(&queued.1, "queue_timeout");
    let p = pool(&s, "single").await;
    assert_eq!(p["waits"], 1, "{p}");
    assert!(p["wait_p99_us"].as_u64().unwrap() >= 1_000_000, "{p}");
    assert_eq!(faulty(&s, "single", "echo").await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn min_warm_instances_are_made_at_load() {
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| format!("{m}\n[pool]\nmin_warm = 2\nmax_idle = 4\n"));
    let s = Server::start(&plugins);
    let (status, _) = s.post_json("/v1/plugins/faulty/load", &json!({})).await;
    assert_eq!(status, 200);
    let p = pool(&s, "faulty").await;
    assert_eq!((p["idle"].as_u64(), p["created"].as_u64()), (Some(2), Some(2)), "{p}");
    faulty(&s, "faulty", "echo").await;
    assert_eq!(pool(&s, "faulty").await["created"], 2, "the call used a warm instance");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_breaker_opens_fails_fast_half_opens_and_closes() {
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| format!("{m}\n[breaker]\nfailures = 2\ncooldown = '2s'\n"));
    let s = Server::start(&plugins);
    assert_eq!(faulty(&s, "faulty", "panic").await.0, 500);
    assert_eq!(faulty(&s, "faulty", "panic").await.0, 500);
    let r = s.client.post(s.url("/v1/plugins/faulty/pdf/info")).body("echo").send().await.unwrap();
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry} should be the remaining cooldown");
    let (status, body) = hostel_tests::decode(r).await;
    assert_eq!(status, 503);
    error_message(&body, "circuit_open");
    assert_eq!(s.plugin("faulty").await["breaker"]["state"], "open");
    let created = pool(&s, "faulty").await["created"].as_u64().unwrap();

    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    // Half-open: a failing probe opens it again at once.
    assert_eq!(faulty(&s, "faulty", "panic").await.0, 500);
    assert_eq!(faulty(&s, "faulty", "echo").await.0, 503);
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    // A good probe closes it.
    assert_eq!(faulty(&s, "faulty", "echo").await.0, 200);
    assert_eq!(s.plugin("faulty").await["breaker"]["state"], "closed");
    assert_eq!(faulty(&s, "faulty", "echo").await.0, 200);
    assert_eq!(pool(&s, "faulty").await["created"].as_u64().unwrap(), created + 2, "fail-fast calls made no instance");
}
