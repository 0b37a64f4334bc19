//! market-connector against a mock exchange on loopback: results are what the
//! mock served; a host not in `allowed_hosts` is refused before any request.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use hostel_tests::{error_message, PluginsDir, Server};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A Binance-shaped market-data API; counts the requests it gets.
async fn mock_exchange() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/api/v3/ping", get(|State(h): State<Arc<AtomicUsize>>| async move {
            h.fetch_add(1, Ordering::SeqCst);
            Json(json!({}))
        }))
        .route("/api/v3/ticker/24hr", get(|State(h): State<Arc<AtomicUsize>>, Query(q): Query<HashMap<String, String>>| async move {
            h.fetch_add(1, Ordering::SeqCst);
            let symbol = q.get("symbol").cloned().unwrap_or_default();
            if symbol != "BTCUSDT" {
                return (axum::http::StatusCode::BAD_REQUEST, Json(json!({"code": -1121, "msg": "Invalid symbol."})));
            }
            (axum::http::StatusCode::OK, Json(json!({
                "symbol": "BTCUSDT", "lastPrice": "43210.50", "priceChangePercent": "-1.25",
                "highPrice": "44000.00", "lowPrice": "42000.00", "volume": "1234.5"
            })))
        }))
        .route("/api/v3/klines", get(|State(h): State<Arc<AtomicUsize>>, Query(q): Query<HashMap<String, String>>| async move {
            h.fetch_add(1, Ordering::SeqCst);
            let limit: i64 = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(500);
            let rows: Vec<Value> = (0..limit)
                .map(|i| json!([1_700_000_000_000i64 + i * 60_000, format!("{}.0", 100 + i), "110.0", "90.0", "105.5", "7.25", 1_700_000_059_999i64 + i * 60_000, "0", 3, "0", "0", "0"]))
                .collect();
            Json(Value::Array(rows))
        }))
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr.to_string(), hits)
}

fn connector(base_url: &str, allowed: &str) -> PluginsDir {
    let plugins = PluginsDir::new();
    let (base_url, allowed) = (base_url.to_string(), allowed.to_string());
    plugins.add("market-connector", move |m| {
        m.replace("allowed_hosts = [\"api.binance.com\"]", &format!("allowed_hosts = [\"{allowed}\"]"))
            .replace("base_url = \"https://api.binance.com\"", &format!("base_url = \"{base_url}\""))
    });
    plugins
}

#[tokio::test(flavor = "multi_thread")]
async fn ticker_and_candles_come_from_the_exchange() {
    let (addr, hits) = mock_exchange().await;
    let plugins = connector(&format!("http://{addr}"), &addr);
    let s = Server::start(&plugins);

    let (status, body) = s.post_json("/v1/plugins/market-connector/connector/call",
        &json!({"operation": "ticker", "args": {"symbol": "BTCUSDT"}})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!({"symbol": "BTCUSDT", "last": 43210.5, "change_pct": -1.25, "high": 44000.0, "low": 42000.0, "volume": 1234.5}));

    let (status, body) = s.post_json("/v1/plugins/market-connector/connector/call",
        &json!({"operation": "candles", "args": {"symbol": "BTCUSDT", "interval": "1m", "limit": 4}})).await;
    assert_eq!(status, 200, "{body}");
    let candles = body["result"].as_array().unwrap();
    assert_eq!(candles.len(), 4);
    assert_eq!(candles[3]["open"], 103.0);
    assert_eq!(candles[3]["open_time"], 1_700_000_180_000i64);
    assert_eq!(candles[0]["close"], 105.5);
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    // The exchange says the symbol is unknown → not_found, with its message.
    let (status, body) = s.post_json("/v1/plugins/market-connector/connector/call",
        &json!({"operation": "ticker", "args": {"symbol": "NOPEUSDT"}})).await;
    assert_eq!(status, 404, "{body}");
    assert!(error_message(&body, "not_found").contains("Invalid symbol"));

    // Input the connector itself rejects never reaches the exchange.
    let before = hits.load(Ordering::SeqCst);
    let (status, body) = s.post_json("/v1/plugins/market-connector/connector/call",
        &json!({"operation": "candles", "args": {"symbol": "BTCUSDT", "interval": "7m"}})).await;
    assert_eq!(status, 422, "{body}");
    assert!(error_message(&body, "invalid_input").contains("interval"));
    let (status, body) = s.post_json("/v1/plugins/market-connector/connector/call",
        &json!({"operation": "teleport"})).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(hits.load(Ordering::SeqCst), before);

    let (status, body) = s.get("/v1/plugins/market-connector/connector").await;
    assert_eq!(status, 200);
    assert_eq!(body["operations"], json!(["ping", "ticker", "candles"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_not_allowed_is_refused_before_any_request() {
    let (addr, hits) = mock_exchange().await;
    let port = addr.rsplit(':').next().unwrap();
    // Same server, but reached as "localhost", which the manifest does not allow.
    let plugins = connector(&format!("http://localhost:{port}"), &addr);
    let s = Server::start(&plugins);
    let (status, body) = s.post_json("/v1/plugins/market-connector/connector/call",
        &json!({"operation": "ticker", "args": {"symbol": "BTCUSDT"}})).await;
    assert_eq!(status, 403, "{body}");
    assert!(error_message(&body, "denied").contains("does not allow"));
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the denied request must not reach the server");

    // No allowed hosts at all: the default manifest grants nothing else.
    let plugins = connector(&format!("http://{addr}"), "example.invalid");
    let s = Server::start(&plugins);
    let (status, _) = s.post_json("/v1/plugins/market-connector/connector/call", &json!({"operation": "ping"})).await;
    assert_eq!(status, 403);
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sdk_template_works_with_config_cache_and_log() {
    let plugins = PluginsDir::new();
    plugins.add("hello-connector", |m| m);
    let s = Server::start(&plugins);
    let (status, body) = s.post_json("/v1/plugins/hello-connector/connector/call",
        &json!({"operation": "echo", "args": {"a": [1, 2]}})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!({"a": [1, 2]}));
    for n in 1..=3 {
        let (status, body) = s.post_json("/v1/plugins/hello-connector/connector/call", &json!({"operation": "greet"})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"], json!({"message": "Bonjour, world", "count": n}));
    }
    // The cache is per plugin and outlives instances: unload, reload, count goes on.
    s.post_json("/v1/plugins/hello-connector/unload", &json!({})).await;
    let (_, body) = s.post_json("/v1/plugins/hello-connector/connector/call", &json!({"operation": "greet"})).await;
    assert_eq!(body["result"]["count"], 4);
}
