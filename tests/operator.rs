//! The operator surface: invocation history with pagination (surviving a
//! restart), Prometheus metrics fed by real calls, readiness, and the bearer
//! token on management routes.

use hostel_tests::{error_message, PluginsDir, Server};
use serde_json::{json, Value};

async fn faulty(s: &Server, plugin: &str, command: &str) -> (u16, Value) {
    s.post_bytes(&format!("/v1/plugins/{plugin}/pdf/info"), command.as_bytes().to_vec()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn invocation_history_pages_newest_first_and_survives_restart() {
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| m).add_faulty("other", 0, "memory = '32MiB'");
    let data = tempfile::tempdir().unwrap();
    let s = Server::start_in(&plugins, data.path(), &[], None);
    for _ in 0..5 {
        assert_eq!(faulty(&s, "faulty", "count").await.0, 200);
    }
    assert_eq!(faulty(&s, "faulty", "error").await.0, 422);
    assert_eq!(faulty(&s, "other", "echo").await.0, 200);

    // The writer is asynchronous: wait until all seven rows are there.
    let all = s.wait_for("/v1/invocations?page_size=100", 10, |b| b["total"] == 7).await;
    let rows = all["invocations"].as_array().unwrap();
    assert_eq!(rows[0]["plugin"], "other", "newest first: {all}");
    assert_eq!(rows[1]["outcome"], "invalid_input");
    assert!(rows[1]["message"].as_str().unwrap().contains("faulty was asked to fail"));
    assert_eq!(rows[2]["outcome"], "ok");
    assert_eq!(rows[2]["export"], "info");
    assert_eq!(rows[2]["reused"], true);
    assert_eq!(rows[6]["reused"], false, "the first call instantiated: {}", rows[6]);

    let (status, page) = s.get("/v1/invocations?plugin=faulty&page=2&page_size=4").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!((page["total"].as_u64(), page["page"].as_u64(), page["has_next"].as_bool()), (Some(6), Some(2), Some(false)));
    assert_eq!(page["invocations"].as_array().unwrap().len(), 2);
    let (_, first) = s.get("/v1/invocations?plugin=faulty&page=1&page_size=4").await;
    assert_eq!(first["has_next"], true);

    let (status, body) = s.get("/v1/invocations?page_size=0").await;
    assert_eq!(status, 400, "{body}");
    error_message(&body, "bad_request");
    let (status, body) = s.get("/v1/invocations?page=x").await;
    assert_eq!(status, 400, "{body}");

    s.stop();
    let s = Server::start_in(&plugins, data.path(), &[], None);
    let (_, after) = s.get("/v1/invocations?plugin=faulty").await;
    assert_eq!(after["total"], 6, "history is kept across a restart: {after}");
}

/// The value of one sample line `name{labels} value` in a Prometheus text body.
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name_and_labels) && l[name_and_labels.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_calls_latency_memory_and_instances() {
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| m);
    let config = plugins.config("node = 'n1'\n");
    let s = Server::start_with(&plugins, &["--memory-budget", "256MiB", "--config", &config]);
    for _ in 0..3 {
        faulty(&s, "faulty", "echo").await;
    }
    assert_eq!(faulty(&s, "faulty", "panic").await.0, 500);
    faulty(&s, "faulty", "echo").await;

    let r = s.client.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = r.text().await.unwrap();
    assert_eq!(sample(&text, r#"hostel_invocations_total{node="n1",plugin="faulty",outcome="ok"}"#), Some(4.0), "{text}");
    assert_eq!(sample(&text, r#"hostel_invocations_total{node="n1",plugin="faulty",outcome="plugin_trapped"}"#), Some(1.0));
    assert_eq!(sample(&text, r#"hostel_invocation_duration_seconds_count{node="n1",plugin="faulty"}"#), Some(5.0));
    assert!(sample(&text, r#"hostel_invocation_duration_seconds_sum{node="n1",plugin="faulty"}"#).unwrap() > 0.0);
    assert_eq!(sample(&text, r#"hostel_memory_budget_bytes{node="n1"}"#), Some(256.0 * 1024.0 * 1024.0));
    assert_eq!(sample(&text, r#"hostel_plugin_instances{node="n1",plugin="faulty",state="idle"}"#), Some(1.0));
    assert_eq!(sample(&text, r#"hostel_plugin_instances{node="n1",plugin="faulty",state="busy"}"#), Some(0.0));
    assert_eq!(sample(&text, r#"hostel_plugin_loaded{node="n1",plugin="faulty"}"#), Some(1.0));
    assert_eq!(sample(&text, r#"hostel_plugin_instances_created_total{node="n1",plugin="faulty"}"#), Some(2.0), "the trapped instance was replaced");
    // The memory figure is the ledger's: the same bytes /v1/admin/memory reports.
    let (_, memory) = s.get("/v1/admin/memory").await;
    let plugin = memory["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "faulty").unwrap();
    assert_eq!(sample(&text, r#"hostel_plugin_memory_bytes{node="n1",plugin="faulty"}"#), plugin["instance_bytes"].as_f64());
    assert!(sample(&text, r#"hostel_process_rss_bytes{node="n1"}"#).unwrap() > 1e6);
    // Every series names its node, so several nodes' series stay apart.
    assert!(text.lines().filter(|l| !l.starts_with('#')).all(|l| l.contains("node=\"n1\"")), "{text}");
    assert!(text.trim_end().ends_with("# EOF"));
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_and_healthz() {
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| m);
    let s = Server::start(&plugins);
    let (status, body) = s.get("/readyz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ready")), "{body}");
    assert_eq!(body["plugins"], 1);
    assert_eq!(body["database"], "ok");
    let (status, _) = s.get("/healthz").await;
    assert_eq!(status, 200);
    // Every response carries a request id (the caller's, or a new one) that the logs also show.
    let r = s.client.get(s.url("/healthz")).send().await.unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let (prefix, n) = id.split_once('-').expect("prefix-counter");
    assert_eq!(prefix.len(), 16, "{id}");
    assert!(n.parse::<u64>().is_ok(), "{id}");
    let again = s.client.get(s.url("/healthz")).send().await.unwrap();
    assert_ne!(again.headers()["x-request-id"].to_str().unwrap(), id, "each request gets its own id");
    let r = s.client.get(s.url("/healthz")).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
}

#[tokio::test(flavor = "multi_thread")]
async fn management_routes_need_the_token_when_one_is_set() {
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| m);
    let s = Server::start_with(&plugins, &["--token", "s3cret"]);
    let auth = |r: reqwest::RequestBuilder| r.header("authorization", "Bearer s3cret");

    // Management routes: 401 without (or with a wrong) token, served with it.
    for (method, path) in [
        ("POST", "/v1/plugins/faulty/load"),
        ("POST", "/v1/plugins/faulty/unload"),
        ("GET", "/v1/admin/memory"),
        ("GET", "/v1/admin/pools"),
        ("POST", "/v1/admin/memory/free"),
        ("GET", "/v1/invocations"),
        ("GET", "/v1/jobs"),
        ("DELETE", "/v1/cache"),
    ] {
        let req = |c: &reqwest::Client| c.request(method.parse().unwrap(), s.url(path)).json(&json!({"bytes": 1}));
        let r = req(&s.client).send().await.unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 401, "{method} {path}: {body}");
        assert!(error_message(&body, "unauthorized").contains("bearer token"));
        let wrong = req(&s.client).header("authorization", "Bearer nope").send().await.unwrap();
        assert_eq!(wrong.status(), 401, "{method} {path} with a wrong token");
        let ok = auth(req(&s.client)).send().await.unwrap();
        assert!(ok.status().is_success(), "{method} {path} with the token: {}", ok.status());
    }
    // Uploads and deletes too: refused before the body is even read.
    let r = s.client.post(s.url("/v1/plugins")).body("x").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = s.client.delete(s.url("/v1/plugins/faulty")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(s.plugin("faulty").await["name"], "faulty");
    // The scheme is case-insensitive.
    let r = s.client.get(s.url("/v1/admin/pools")).header("authorization", "bearer s3cret").send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Invocations and reading the plugin list stay open; so do health and metrics.
    assert_eq!(faulty(&s, "faulty", "echo").await.0, 200);
    assert_eq!(s.get("/v1/plugins").await.0, 200);
    assert_eq!(s.get("/healthz").await.0, 200);
    assert_eq!(s.client.get(s.url("/metrics")).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_lists_every_route_and_every_listed_route_answers() {
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| m);
    let s = Server::start_with(&plugins, &["--token", "doc"]);
    let (status, doc) = s.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let mut listed: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys().filter(|k| ["get", "post", "delete", "put", "patch"].contains(&k.as_str())) {
            listed.push((method.to_uppercase(), path.clone()));
        }
    }
    let expected = [
        ("GET", "/"), ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/openapi.json"),
        ("GET", "/v1/plugins"), ("POST", "/v1/plugins"), ("GET", "/v1/plugins/{name}"), ("DELETE", "/v1/plugins/{name}"),
        ("POST", "/v1/plugins/{name}/load"), ("POST", "/v1/plugins/{name}/unload"),
        ("POST", "/v1/plugins/{name}/pdf/info"), ("POST", "/v1/plugins/{name}/pdf/text"), ("POST", "/v1/plugins/{name}/pdf/text/stream"), ("GET", "/v1/kinds"),
        ("GET", "/v1/plugins/{name}/connector"), ("POST", "/v1/plugins/{name}/connector/call"),
        ("POST", "/v1/plugins/{name}/caption"), ("POST", "/v1/plugins/{name}/caption/stream"),
        ("GET", "/v1/admin/memory"), ("GET", "/v1/admin/memory/history"), ("POST", "/v1/admin/memory/free"),
        ("GET", "/v1/admin/alerts"), ("GET", "/v1/admin/pools"), ("GET", "/v1/cache"), ("DELETE", "/v1/cache"),
        ("GET", "/v1/invocations"), ("GET", "/v1/plugins/{name}/exports"), ("POST", "/v1/plugins/{name}/invoke/{export}"),
        ("POST", "/v1/batch"), ("POST", "/v1/jobs"), ("GET", "/v1/jobs"), ("GET", "/v1/jobs/{id}"),
        ("GET", "/v1/events"), ("GET", "/assets/{file}"), ("GET", "/v1/admin/catalogue"),
    ];
    for (method, path) in expected {
        assert!(listed.contains(&(method.to_string(), path.to_string())), "{method} {path} missing from /openapi.json");
    }
    // Each documented operation is served: no `no_route`, no 405 (bodies may be refused: 4xx is fine).
    for (method, path) in &listed {
        let url = s.url(&path.replace("{name}", "faulty").replace("{export}", "info").replace("{id}", "1").replace("{file}", "uplot.js"));
        let r = s.client.request(method.parse().unwrap(), url).bearer_auth("doc").send().await.unwrap();
        let status = r.status().as_u16();
        if path == "/v1/events" {
            // A stream that never ends: its head is the answer.
            assert_eq!((status, r.headers()["content-type"].to_str().unwrap()), (200, "text/event-stream"));
            continue;
        }
        let body = r.text().await.unwrap();
        assert!(status != 405 && !body.contains("\"no_route\""), "{method} {path} is documented but not served: {status} {body}");
    }
    assert_eq!(listed.len(), expected.len(), "documented but not expected here: {listed:?}");
    // Operations carry the error shape.
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
}
