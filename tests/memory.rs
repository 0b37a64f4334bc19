//! Memory governance on the real host: the ledger matches what plugins
//! allocate, pressure evicts idle instances by priority then LRU (never busy
//! ones), admission refuses with 503 + Retry-After, `free` frees what it says,
//! and history and alerts survive a restart.

use hostel_tests::{error_message, PluginsDir, Server};
use serde_json::{json, Value};

const MIB: u64 = 1 << 20;

/// The instances of `plugin` in the memory report.
fn instances<'a>(report: &'a Value, plugin: &str) -> Vec<&'a Value> {
    report["plugins"].as_array().unwrap().iter()
        .filter(|p| p["name"] == plugin)
        .flat_map(|p| p["instances"].as_array().unwrap().iter())
        .collect()
}

async fn faulty(s: &Server, plugin: &str, command: &str) -> (u16, Value) {
    s.post_bytes(&format!("/v1/plugins/{plugin}/pdf/info"), command.as_bytes().to_vec()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ledger_matches_the_plugins_own_memory_to_the_page() {
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| m);
    let s = Server::start(&plugins);

    let (status, body) = faulty(&s, "faulty", "echo").await;
    assert_eq!(status, 200, "{body}");
    let guest_bytes: u64 = body["author"].as_str().unwrap().parse().unwrap();
    let (_, report) = s.get("/v1/admin/memory").await;
    let inst = instances(&report, "faulty");
    assert_eq!(inst.len(), 1, "{report}");
    assert_eq!(inst[0]["memory_bytes"].as_u64().unwrap(), guest_bytes, "{report}");
    assert_eq!(inst[0]["state"], "idle");
    assert_eq!(guest_bytes % 65536, 0);

    let (_, body) = faulty(&s, "faulty", "alloc:4096").await;
    let grown: u64 = body["author"].as_str().unwrap().parse().unwrap();
    assert!(grown >= guest_bytes + 4 * MIB, "{grown} vs {guest_bytes}");
    let (_, report) = s.get("/v1/admin/memory").await;
    let inst = instances(&report, "faulty");
    assert_eq!(inst[0]["memory_bytes"].as_u64().unwrap(), grown);
    assert_eq!(inst[0]["reserved_bytes"], 0, "the reservation is trued up after the call");
    assert!(report["compiled_bytes"].as_u64().unwrap() > 0);
    let tables = inst[0]["table_bytes"].as_u64().unwrap();
    assert_eq!(report["used"].as_u64().unwrap(), grown + tables + report["compiled_bytes"].as_u64().unwrap());
    assert!(report["process_rss"].as_u64().unwrap() > grown);
    assert!(report["system_total"].as_u64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn pressure_evicts_idle_instances_lowest_priority_first_then_lru() {
    let plugins = PluginsDir::new();
    let limits = "memory = '32MiB'\nmemory_estimate = '1MiB'";
    plugins.add_faulty("top", 10, limits).add_faulty("low-a", 0, limits).add_faulty("low-b", 0, limits);
    // The recency order is policy `lru`'s (under `cost`, tests/eviction.rs).
    let config = plugins.config("[memory]\nbudget = '64MiB'\nmin_idle = '0s'\ncheck_interval = '50ms'\nsample_interval = '100ms'\neviction = 'lru'\n");
    let s = Server::start_with(&plugins, &["--config", &config]);

    // Oldest first: top, then low-b, then low-a. ~17MiB each; the third crosses `high` (75%).
    for plugin in ["top", "low-b", "low-a"] {
        let (status, body) = faulty(&s, plugin, "alloc:16384").await;
        assert_eq!(status, 200, "{plugin}: {body}");
    }
    let report = s.wait_for("/v1/admin/memory", 10, |r| r["level"] == "low" && !r["recent_evictions"].as_array().unwrap().is_empty()).await;
    let evicted: Vec<(&str, &str)> = report["recent_evictions"].as_array().unwrap().iter()
        .map(|e| (e["plugin"].as_str().unwrap(), e["reason"].as_str().unwrap())).collect();
    // Priority beats recency: top is the least recently used, yet low-b goes first,
    // and one eviction is enough to get below `medium`.
    assert_eq!(evicted, [("low-b", "pressure")], "{report}");
    assert_eq!(report["recent_evictions"][0]["policy"], "lru", "{report}");
    assert_eq!(instances(&report, "top").len(), 1);
    assert_eq!(instances(&report, "low-a").len(), 1);
    assert_eq!(instances(&report, "low-b").len(), 0);
    assert!(report["used"].as_u64().unwrap() < 64 * MIB * 60 / 100);
    assert_eq!(s.plugin("low-b").await["evictions"], 1);

    let alerts = s.wait_for("/v1/admin/alerts", 10, |a| a["alerts"].as_array().unwrap().len() >= 2).await;
    let levels: Vec<&str> = alerts["alerts"].as_array().unwrap().iter().rev().map(|a| a["to_level"].as_str().unwrap()).collect();
    assert!(levels.contains(&"high") || levels.contains(&"critical"), "{levels:?}");
    assert_eq!(*levels.last().unwrap(), "low", "{levels:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn busy_instances_hold_the_budget_and_admission_says_503_until_they_finish() {
    let plugins = PluginsDir::new();
    plugins.add_faulty("hog", 0, "memory = '32MiB'\nmemory_estimate = '25MiB'\ncall_timeout = '10s'");
    plugins.add_faulty("late", 5, "memory = '32MiB'\nmemory_estimate = '20MiB'");
    let config = plugins.config("[memory]\nbudget = '64MiB'\nmin_idle = '0s'\ncheck_interval = '50ms'\nadmission_wait = '300ms'\n");
    let s = Server::start_with(&plugins, &["--config", &config]);

    // Two busy hogs reserve 50MiB (78%: high). Nothing is idle, so nothing can be evicted.
    let hogs = futures::future::join(faulty(&s, "hog", "sleep:2500"), faulty(&s, "hog", "sleep:2500"));
    let late = async {
        s.wait_for("/v1/admin/memory", 10, |r| instances(r, "hog").len() == 2).await;
        let r = s.client.post(s.url("/v1/plugins/late/pdf/info")).body("echo").send().await.unwrap();
        let retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        let (status, body) = hostel_tests::decode(r).await;
        let (_, report) = s.get("/v1/admin/memory").await;
        (status, body, retry_after, report)
    };
    let ((a, b), (status, body, retry_after, report)) = futures::future::join(hogs, late).await;
    assert_eq!(status, 503, "{body}");
    assert!(error_message(&body, "over_budget").contains("late"));
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert!(report["used"].as_u64().unwrap() <= 64 * MIB);
    assert!(matches!(report["level"].as_str(), Some("high" | "critical")), "{report}");
    assert!(report["recent_evictions"].as_array().unwrap().is_empty(), "busy instances were evicted: {report}");
    assert_eq!((a.0, b.0), (200, 200), "the busy calls finished: {a:?} {b:?}");

    // Released: the reservations were trued up, so the late plugin now fits.
    let (status, body) = faulty(&s, "late", "echo").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn free_frees_what_it_says() {
    let plugins = PluginsDir::new();
    let limits = "memory = '32MiB'\nmemory_estimate = '1MiB'";
    plugins.add_faulty("a", 0, limits).add_faulty("b", 1, limits);
    let s = Server::start(&plugins);
    faulty(&s, "a", "alloc:8192").await;
    faulty(&s, "b", "alloc:4096").await;
    let (_, before) = s.get("/v1/admin/memory").await;

    let (status, freed) = s.post_json("/v1/admin/memory/free", &json!({"bytes": 1})).await;
    assert_eq!(status, 200, "{freed}");
    let evicted = freed["evicted"].as_array().unwrap();
    assert_eq!(evicted.len(), 1);
    assert_eq!(evicted[0]["plugin"], "a", "lowest priority first");
    assert_eq!(evicted[0]["reason"], "free");
    let bytes = evicted[0]["bytes"].as_u64().unwrap();
    assert!(bytes >= 8 * MIB);
    assert_eq!(freed["freed"].as_u64().unwrap(), bytes);
    let (_, after) = s.get("/v1/admin/memory").await;
    assert_eq!(before["used"].as_u64().unwrap() - after["used"].as_u64().unwrap(), bytes);

    let (_, freed) = s.post_json("/v1/admin/memory/free", &json!({"bytes": 1u64 << 40})).await;
    assert_eq!(freed["evicted"].as_array().unwrap().len(), 1);
    assert_eq!(freed["evicted"][0]["plugin"], "b");
    let (_, freed) = s.post_json("/v1/admin/memory/free", &json!({"bytes": 1})).await;
    assert_eq!(freed["freed"], 0);
    assert!(freed["evicted"].as_array().unwrap().is_empty());

    let (status, body) = s.post_json("/v1/admin/memory/free", &json!({"bytes": -3})).await;
    assert_eq!(status, 400);
    error_message(&body, "bad_request");
    // The plugins still work after their instances were freed.
    assert_eq!(faulty(&s, "a", "echo").await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn history_and_alerts_survive_a_restart() {
    let plugins = PluginsDir::new();
    plugins.add_faulty("big", 0, "memory = '32MiB'\nmemory_estimate = '1MiB'");
    let data = tempfile::tempdir().unwrap();
    let config = plugins.config("[memory]\nbudget = '32MiB'\nmin_idle = '1h'\nsample_interval = '100ms'\ncheck_interval = '50ms'\n");
    let s = Server::start_in(&plugins, data.path(), &["--config", &config], None);
    let (status, body) = faulty(&s, "big", "alloc:20480").await;
    assert_eq!(status, 200, "{body}");
    let alerts = s.wait_for("/v1/admin/alerts", 10, |a| !a["alerts"].as_array().unwrap().is_empty()).await;
    // Samples come every 100ms; wait for one taken after the allocation.
    let history = s.wait_for("/v1/admin/memory/history?limit=1000", 10, |h| {
        let samples = h["samples"].as_array().unwrap();
        samples.len() >= 3 && samples.last().unwrap()["plugins"]["big"].as_u64().is_some_and(|b| b > 20 * MIB)
    }).await;
    let last = history["samples"].as_array().unwrap().last().unwrap().clone();
    s.stop();

    let s = Server::start_in(&plugins, data.path(), &["--config", &config], None);
    let (_, after) = s.get("/v1/admin/alerts").await;
    let ids = |v: &Value| v["alerts"].as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect::<Vec<_>>();
    let (before_ids, after_ids) = (ids(&alerts), ids(&after));
    assert!(before_ids.iter().all(|id| after_ids.contains(id)), "{alerts} vs {after}");
    let (_, old) = s.get(&format!("/v1/admin/memory/history?since=0&limit=1000")).await;
    let ts: Vec<u64> = old["samples"].as_array().unwrap().iter().map(|x| x["ts_ms"].as_u64().unwrap()).collect();
    assert!(ts.contains(&last["ts_ms"].as_u64().unwrap()), "sample lost across restart");
    assert!(ts.windows(2).all(|w| w[0] <= w[1]));
    // Paging: limit 2 gives next_since, which continues after the second sample.
    let (_, page) = s.get("/v1/admin/memory/history?since=0&limit=2").await;
    assert_eq!(page["samples"].as_array().unwrap().len(), 2);
    assert_eq!(page["next_since"], page["samples"][1]["ts_ms"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_instances_expire_after_their_idle_timeout() {
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| format!("{m}\n[pool]\nidle_timeout = '200ms'\n"));
    let config = plugins.config("[memory]\ncheck_interval = '50ms'\n");
    let s = Server::start_with(&plugins, &["--config", &config]);
    assert_eq!(faulty(&s, "faulty", "echo").await.0, 200);
    assert_eq!(s.plugin("faulty").await["idle_instances"], 1);
    let report = s.wait_for("/v1/admin/memory", 10, |r| instances(r, "faulty").is_empty()).await;
    assert_eq!(report["recent_evictions"][0]["reason"], "idle_timeout", "{report}");
    assert_eq!(s.plugin("faulty").await["state"], "loaded", "only the instance goes, not the component");
}

#[tokio::test(flavor = "multi_thread")]
async fn at_critical_idle_plugins_lose_their_compiled_code() {
    let plugins = PluginsDir::new();
    // `big` keeps its instance (younger than min_idle); the others keep no instances.
    plugins.add_faulty("big", 10, "memory = '64MiB'\nmemory_estimate = '1MiB'");
    plugins.add("caption-keywords", |m| format!("{m}\n[pool]\nfresh_instance_per_call = true\n"));
    // (small components: compiling each must fit the 40 MiB budget too)
    plugins.add("market-connector", |m| format!("{m}\n[pool]\nfresh_instance_per_call = true\n"));
    let config = plugins.config("[memory]\nbudget = '40MiB'\nmin_idle = '1h'\ncheck_interval = '50ms'\n");
    let s = Server::start_with(&plugins, &["--config", &config]);
    for p in ["caption-keywords", "market-connector"] {
        let (status, _) = s.post_json(&format!("/v1/plugins/{p}/load"), &json!({})).await;
        assert_eq!(status, 200);
    }
    let (status, body) = faulty(&s, "big", "alloc:34816").await;
    assert_eq!(status, 200, "{body}");
    let report = s.wait_for("/v1/admin/memory", 10, |r| {
        r["recent_evictions"].as_array().unwrap().iter().filter(|e| e["reason"] == "unload").count() == 2
    }).await;
    assert_eq!(s.plugin("caption-keywords").await["state"], "registered");
    assert_eq!(s.plugin("market-connector").await["state"], "registered");
    assert_eq!(s.plugin("big").await["state"], "loaded", "a plugin with an instance keeps its code: {report}");
    assert_eq!(instances(&report, "big").len(), 1, "min_idle protects the young idle instance");
    // Unloaded plugins load again on their next call.
    let (status, _) = s.post_json("/v1/plugins/caption-keywords/caption", &json!({"description": "beach"})).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn pressure_relief_stops_below_high_and_keeps_what_still_fits() {
    let plugins = PluginsDir::new();
    let limits = "memory = '96MiB'\nmemory_estimate = '1MiB'";
    plugins.add_faulty("a", 0, limits).add_faulty("b", 0, limits).add_faulty("c", 0, limits).add_faulty("big", 0, limits);
    let config = plugins.config("[memory]\nbudget = '256MiB'\nmin_idle = '0s'\ncheck_interval = '50ms'\neviction = 'lru'\n");
    let s = Server::start_with(&plugins, &["--config", &config]);
    // ~41 MiB each (47 % of the budget together), then ~81 MiB more: ~78 %, past `high` (75 %).
    for plugin in ["a", "b", "c"] {
        let (status, body) = faulty(&s, plugin, "alloc:40960").await;
        assert_eq!(status, 200, "{plugin}: {body}");
    }
    let (status, body) = faulty(&s, "big", "alloc:81920").await;
    assert_eq!(status, 200, "{body}");
    let report = s.wait_for("/v1/admin/memory", 10, |r| r["level"] != "high" && r["level"] != "critical" && !r["recent_evictions"].as_array().unwrap().is_empty()).await;
    // One eviction (the least recently used, a) brings it 5 % below `high`; evicting to
    // `medium` (60 %) would have taken b as well.
    let evicted: Vec<&str> = report["recent_evictions"].as_array().unwrap().iter().map(|e| e["plugin"].as_str().unwrap()).collect();
    assert_eq!(evicted, ["a"], "{report}");
    assert_eq!((instances(&report, "b").len(), instances(&report, "c").len(), instances(&report, "big").len()), (1, 1, 1), "{report}");
    let effective = report["effective"].as_u64().unwrap();
    assert!(effective < 256 * MIB * 70 / 100 && effective >= 256 * MIB * 60 / 100, "{report}");
    assert_eq!(report["level"], "medium", "{report}");
}
