//! Cost-aware eviction on the real host: under pressure, policy `cost` keeps
//! the instance that is expensive to recreate and drops a cheap one of the
//! same size; `lru` goes by recency; priority dominates both; the memory
//! report shows scores, cold costs and why each eviction happened; prefetch
//! brings an evicted expensive instance back, warm, once memory allows, and
//! never pushes pressure to `medium`.

use hostel_tests::{PluginsDir, Server};
use serde_json::{json, Value};

const MIB: u64 = 1 << 20;

/// Adds a copy of `slow-start` whose instances take `init_ms` and keep
/// `init_kib` from their first call; `extra` goes into the manifest.
fn add_slow(plugins: &PluginsDir, name: &str, priority: i32, init_ms: u64, init_kib: u64, extra: &str) {
    plugins.add_copy("slow-start", name, false, |m| {
        let m = m
            .replace("INIT_MS = \"200\"", &format!("INIT_MS = \"{init_ms}\""))
            .replace("INIT_KIB = \"4096\"", &format!("INIT_KIB = \"{init_kib}\""))
            .replace("version = \"0.1.0\"", &format!("version = \"0.1.0\"\npriority = {priority}"));
        format!("{m}\n{extra}\n")
    });
}

async fn info(s: &Server, plugin: &str, body: &str) -> Value {
    let (status, body) = s.post_bytes(&format!("/v1/plugins/{plugin}/pdf/info"), body.as_bytes().to_vec()).await;
    assert_eq!(status, 200, "{plugin}: {body}");
    body
}

fn plugin<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["plugins"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap()
}

fn instances(report: &Value, name: &str) -> usize {
    plugin(report, name)["instances"].as_array().unwrap().len()
}

fn evicted(report: &Value) -> Vec<(String, String)> {
    report["recent_evictions"].as_array().unwrap().iter()
        .map(|e| (e["plugin"].as_str().unwrap().to_string(), e["reason"].as_str().unwrap().to_string()))
        .collect()
}

/// `slow` (400 ms to warm up) is called first, then `cheap` (no warm-up), both
/// ~20 MiB; then `top` (~9 MiB, priority 10, never the victim) crosses `high`,
/// and one eviction brings the ledger below `medium` (with room for the few
/// MiB of RSS no charge explains). Returns the report before `top` and the
/// one after the eviction.
async fn pressure(eviction: &str, slow_priority: i32, cheap_priority: i32) -> (Value, Value) {
    let plugins = PluginsDir::new();
    add_slow(&plugins, "slow", slow_priority, 400, 19 << 10, "");
    add_slow(&plugins, "cheap", cheap_priority, 0, 19 << 10, "");
    add_slow(&plugins, "top", 10, 0, 8 << 10, "");
    let config = plugins.config(&format!(
        "[memory]\nbudget = '64MiB'\nmin_idle = '0s'\ncheck_interval = '50ms'\neviction = '{eviction}'\n"
    ));
    let s = Server::start_with(&plugins, &["--config", &config]);
    for p in ["slow", "cheap"] {
        assert_eq!(info(&s, p, "x").await["title"], "cold");
        assert_eq!(info(&s, p, "x").await["title"], "warm", "{p}: the second call reuses the instance");
    }
    let (_, before) = s.get("/v1/admin/memory").await;
    info(&s, "top", "x").await;
    let after = s.wait_for("/v1/admin/memory", 10, |r| r["level"] == "low" && !r["recent_evictions"].as_array().unwrap().is_empty()).await;
    assert_eq!(after["eviction"], eviction);
    assert!(after["used"].as_u64().unwrap() < 64 * MIB * 60 / 100, "{after}");
    (before, after)
}

#[tokio::test(flavor = "multi_thread")]
async fn under_cost_the_expensive_instance_survives_and_a_cheap_one_of_the_same_size_goes() {
    let (before, after) = pressure("cost", 0, 0).await;
    assert_eq!(evicted(&after), [("cheap".to_string(), "pressure".to_string())], "{after}");
    assert_eq!((instances(&after, "slow"), instances(&after, "cheap")), (1, 0), "{after}");
    let e = &after["recent_evictions"][0];
    assert_eq!(e["policy"], "cost");
    // The report showed why: slow's measured cold cost and its higher score.
    let slow_cold = plugin(&before, "slow")["cold_ms"].as_f64().unwrap();
    let cheap_cold = plugin(&before, "cheap")["cold_ms"].as_f64().unwrap();
    assert!(slow_cold >= 400.0 && cheap_cold < 100.0, "cold costs {slow_cold} vs {cheap_cold} ms");
    let score = |r: &Value, p: &str| plugin(r, p)["instances"][0]["score"].as_f64().unwrap();
    assert!(score(&before, "slow") > 10.0 * score(&before, "cheap"), "{before}");
    let victim = e["score"].as_f64().unwrap();
    assert!((victim - score(&before, "cheap")).abs() < 0.5 * score(&before, "cheap") + 1e-6, "{e} vs {before}");
}

#[tokio::test(flavor = "multi_thread")]
async fn under_lru_the_least_recently_used_goes_whatever_it_costs() {
    let (_, after) = pressure("lru", 0, 0).await;
    assert_eq!(evicted(&after), [("slow".to_string(), "pressure".to_string())], "{after}");
    assert_eq!(after["recent_evictions"][0]["policy"], "lru");
    assert!(after["recent_evictions"][0]["score"].as_f64().is_some(), "the score is reported under lru too");
    assert_eq!((instances(&after, "slow"), instances(&after, "cheap")), (0, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn priority_dominates_cost() {
    // The cheap instance has the higher priority: the expensive one goes.
    let (_, after) = pressure("cost", 0, 5).await;
    assert_eq!(evicted(&after), [("slow".to_string(), "pressure".to_string())], "{after}");
}

#[tokio::test(flavor = "multi_thread")]
async fn prefetch_brings_an_evicted_expensive_instance_back_warm_and_never_past_medium() {
    let plugins = PluginsDir::new();
    // ~21 MiB once warm; its warm-up (300 ms) is the `info` call prefetch makes.
    add_slow(&plugins, "slow", 0, 300, 20 << 10, "[pool]\nwarm_up = { export = 'info', args = { document = '' } }");
    plugins.add_faulty("hog", 10, "memory = '64MiB'\nmemory_estimate = '1MiB'");
    let config = plugins.config("[memory]\nbudget = '64MiB'\nmin_idle = '0s'\ncheck_interval = '50ms'\nsample_interval = '50ms'\n");
    let s = Server::start_with(&plugins, &["--config", &config]);
    assert_eq!(info(&s, "slow", "x").await["title"], "cold");

    // hog's ~27 MiB crosses `high`; slow (lower priority) is evicted, which
    // leaves room below `medium` even with the few MiB of RSS no charge explains.
    info(&s, "hog", "alloc:26624").await;
    let report = s.wait_for("/v1/admin/memory", 10, |r| r["level"] == "low" && !r["recent_evictions"].as_array().unwrap().is_empty()).await;
    assert_eq!(evicted(&report), [("slow".to_string(), "pressure".to_string())], "{report}");

    // With hog there, slow's 21 MiB would take the ledger past `medium`: no prefetch.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (_, report) = s.get("/v1/admin/memory").await;
    assert_eq!(instances(&report, "slow"), 0, "prefetched past medium: {report}");
    let (_, alerts) = s.get("/v1/admin/alerts").await;
    let alerts_before = alerts["alerts"].as_array().unwrap().len();

    // hog freed: now it fits, and prefetch makes it and warms it up.
    let (status, _) = s.post_json("/v1/admin/memory/free", &json!({"bytes": 1u64 << 40})).await;
    assert_eq!(status, 200);
    let report = s.wait_for("/v1/admin/memory", 10, |r| plugin(r, "slow")["instances"][0]["state"] == "idle").await;
    assert_eq!(instances(&report, "slow"), 1, "{report}");
    let inst = &plugin(&report, "slow")["instances"][0];
    assert_eq!(inst["prefetched"], true, "{report}");
    assert!(inst["memory_bytes"].as_u64().unwrap() > 20 * MIB, "the warm-up ran in it: {inst}");
    assert_eq!(s.plugin("slow").await["calls"], 1, "prefetch is not a call");

    // The next call is warm: the guest did not have to warm up.
    assert_eq!(info(&s, "slow", "x").await["title"], "warm");
    let (_, report) = s.get("/v1/admin/memory").await;
    assert_eq!(plugin(&report, "slow")["instances"][0]["prefetched"], false);
    assert_eq!(report["level"], "low");
    // Level changes since, newest first: freeing hog may lower the level; nothing raised it.
    let (_, alerts) = s.get("/v1/admin/alerts").await;
    let all = alerts["alerts"].as_array().unwrap();
    let since = &all[..all.len() - alerts_before];
    assert!(since.iter().all(|a| a["to_level"] == "low"), "prefetch raised the level: {alerts}");
}

#[tokio::test(flavor = "multi_thread")]
async fn admission_evicts_before_a_new_instance_would_reach_high_so_pressure_never_gets_there() {
    let plugins = PluginsDir::new();
    // ~20.5 MiB each once called, and their manifests say so.
    for name in ["a", "b", "c"] {
        plugins.add_copy("slow-start", name, false, |m| {
            m.replace("INIT_MS = \"200\"", "INIT_MS = \"0\"")
                .replace("INIT_KIB = \"4096\"", &format!("INIT_KIB = \"{}\"", 19 << 10))
                .replace("memory_estimate = \"2MiB\"", "memory_estimate = \"21MiB\"")
        });
    }
    // The monitor looks rarely: any eviction below comes from admission.
    let config = plugins.config("[memory]\nbudget = '64MiB'\nmin_idle = '0s'\ncheck_interval = '30s'\n");
    let s = Server::start_with(&plugins, &["--config", &config]);
    info(&s, "a", "x").await;
    info(&s, "b", "x").await;
    let (_, before) = s.get("/v1/admin/memory").await;
    assert_eq!(before["level"], "medium", "a and b hold ~41 of 64 MiB: {before}");
    assert!(evicted(&before).is_empty(), "{before}");
    // c's 21 MiB would take the ledger to ~62 MiB, past `high` (48 MiB): one
    // idle instance goes first, and c is admitted below `high`.
    info(&s, "c", "x").await;
    let (_, after) = s.get("/v1/admin/memory").await;
    let gone = evicted(&after);
    assert_eq!(gone.len(), 1, "{after}");
    assert_eq!(gone[0].1, "pressure", "{after}");
    assert!(gone[0].0 == "a" || gone[0].0 == "b", "{after}");
    assert_eq!(instances(&after, "c"), 1, "{after}");
    assert!(after["used"].as_u64().unwrap() < 64 * MIB * 75 / 100, "{after}");
    let (_, alerts) = s.get("/v1/admin/alerts").await;
    let levels: Vec<&str> = alerts["alerts"].as_array().unwrap().iter().map(|a| a["to_level"].as_str().unwrap()).collect();
    assert!(!levels.iter().any(|l| *l == "high" || *l == "critical"), "pressure reached high: {levels:?}");
}
