//! The watched plugins directory: a changed manifest takes effect without a
//! restart, a broken change is rejected while the old version answers, a new
//! folder is registered and a removed one is gone.

use hostel_tests::{PluginsDir, Server};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn greet(s: &Server) -> (u16, Value) {
    s.post_json("/v1/plugins/hello-connector/connector/call", &json!({"operation": "greet", "args": {}})).await
}

/// Polls `check` for up to 20 s (a change is applied within ~250 ms of the
/// last write, plus a compile when the component changed).
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "not within 20 s: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_in_the_plugins_directory_take_effect_without_a_restart() {
    let plugins = PluginsDir::new();
    plugins.add("hello-connector", |m| m);
    let s = Server::start(&plugins);
    let (status, body) = greet(&s).await;
    assert_eq!((status, body["result"]["message"].as_str()), (200, Some("Bonjour, world")), "{body}");
    let manifest = plugins.path().join("hello-connector/hostel.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();

    // A changed [config] value: the next calls get it, calls never fail meanwhile.
    std::fs::write(&manifest, text.replace("greeting = \"Bonjour\"", "greeting = \"Howdy\"")).unwrap();
    eventually("the new greeting", async || {
        let (status, body) = greet(&s).await;
        assert_eq!(status, 200, "every call answers during the reload: {body}");
        (body["result"]["message"] == "Howdy, world").then_some(())
    })
    .await;
    let info = s.plugin("hello-connector").await;
    assert_eq!(info["source"], "dir");

    // A broken manifest is rejected with the reason; the previous version serves on.
    std::fs::write(&manifest, "name = 'hello-connector'\nversion = \n").unwrap();
    let rejected = eventually("the broken manifest listed as rejected", async || {
        let (_, list) = s.get("/v1/plugins").await;
        list["rejected"].as_array().unwrap().iter().find(|r| r["path"].as_str().unwrap().contains("hello-connector")).cloned()
    })
    .await;
    assert!(rejected["error"].as_str().unwrap().contains("hostel.toml"), "{rejected}");
    let (status, body) = greet(&s).await;
    assert_eq!((status, body["result"]["message"].as_str()), (200, Some("Howdy, world")), "old version answers: {body}");
    // A component that does not compile is rejected the same way.
    std::fs::write(&manifest, &text).unwrap();
    std::fs::write(plugins.path().join("hello-connector/hello-connector.wasm"), b"\0asm\x0d\0\x01\0garbage").unwrap();
    eventually("the broken component listed as rejected", async || {
        let (_, list) = s.get("/v1/plugins").await;
        list["rejected"].as_array().unwrap().iter().find(|r| r["error"].as_str().is_some_and(|e| e.contains("compile") || e.contains("invalid"))).cloned()
    })
    .await;
    let (status, body) = greet(&s).await;
    assert_eq!((status, body["result"]["message"].as_str()), (200, Some("Howdy, world")), "old version answers: {body}");

    // A new folder is registered (lazily); a removed one is gone.
    plugins.add("pdf-text", |m| m);
    eventually("pdf-text registered", async || (s.get("/v1/plugins/pdf-text").await.0 == 200).then_some(())).await;
    assert_eq!(s.plugin("pdf-text").await["state"], "registered");
    std::fs::remove_dir_all(plugins.path().join("pdf-text")).unwrap();
    eventually("pdf-text gone", async || (s.get("/v1/plugins/pdf-text").await.0 == 404).then_some(())).await;
}
