//! Uploads over the API: a plugin registered from a manifest + component,
//! kept across restarts, hot-reloaded under concurrent calls without a failed
//! call, deleted; and every bad upload refused with a clear error.

use hostel_tests::{error_message, plugin_source, PluginsDir, Server};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// The SDK template plugin's component.
fn hello_wasm() -> Vec<u8> {
    std::fs::read(plugin_source("hello-connector").join("hello-connector.wasm")).unwrap()
}

fn manifest(name: &str, version: &str, greeting: &str) -> String {
    format!(
        "name = '{name}'\nversion = '{version}'\nkind = 'connector'\n[limits]\nmemory = '16MiB'\ncall_timeout = '2s'\n[config]\ngreeting = '{greeting}'\n"
    )
}

async fn upload(s: &Server, manifest: &str, component: Vec<u8>, sha256: Option<&str>) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new()
        .text("manifest", manifest.to_string())
        .part("component", reqwest::multipart::Part::bytes(component).file_name("plugin.wasm"));
    if let Some(sha) = sha256 {
        form = form.text("sha256", sha.to_string());
    }
    let r = s.client.post(s.url("/v1/plugins")).multipart(form).send().await.unwrap();
    hostel_tests::decode(r).await
}

async fn greet(s: &Server, name: &str) -> (u16, Value) {
    s.post_json(&format!("/v1/plugins/{name}/connector/call"), &json!({"operation": "greet", "args": {}})).await
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_call_restart_and_delete() {
    let plugins = PluginsDir::new();
    let data = tempfile::tempdir().unwrap();
    let s = Server::start_in(&plugins, data.path(), &[], None);
    let (status, body) = upload(&s, &manifest("hello", "1.0.0", "Hi"), hello_wasm(), None).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["plugin"]["source"], "upload");
    assert_eq!(body["plugin"]["state"], "registered", "an upload stays lazy");
    assert_eq!(body["replaced"], Value::Null);
    let sha = body["plugin"]["sha256"].as_str().map(str::to_string);
    let stored = data.path().join("components").join(format!("{}.wasm", hex_sha(&hello_wasm())));
    assert!(stored.exists(), "stored content-addressed at {}", stored.display());
    assert_eq!(sha, None, "sha256 is reported once loaded");

    let (status, body) = greet(&s, "hello").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["message"], "Hi, world");
    let info = s.plugin("hello").await;
    assert_eq!((info["state"].as_str(), info["from_cache"].as_bool()), (Some("loaded"), Some(true)), "checked at upload, so the first call hits the artifact cache: {info}");

    s.stop();
    let s = Server::start_in(&plugins, data.path(), &[], None);
    let info = s.plugin("hello").await;
    assert_eq!((info["version"].as_str(), info["source"].as_str()), (Some("1.0.0"), Some("upload")));
    assert_eq!(greet(&s, "hello").await.1["result"]["message"], "Hi, world");

    let (status, body) = delete(&s, "hello").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["drained"], true);
    assert_eq!(s.get("/v1/plugins/hello").await.0, 404);
    assert_eq!(greet(&s, "hello").await.0, 404);
    assert!(!stored.exists(), "an unused component is deleted");
    s.stop();
    let s = Server::start_in(&plugins, data.path(), &[], None);
    assert_eq!(s.get("/v1/plugins/hello").await.0, 404, "a delete survives a restart");
}

fn hex_sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

async fn delete(s: &Server, name: &str) -> (u16, Value) {
    let r = s.client.delete(s.url(&format!("/v1/plugins/{name}"))).send().await.unwrap();
    hostel_tests::decode(r).await
}

#[tokio::test(flavor = "multi_thread")]
async fn hot_reload_under_concurrent_calls_drops_no_call() {
    let plugins = PluginsDir::new();
    let s = Arc::new(Server::start(&plugins));
    assert_eq!(upload(&s, &manifest("hello", "1.0.0", "Hi"), hello_wasm(), None).await.0, 201);
    assert_eq!(greet(&s, "hello").await.1["result"]["message"], "Hi, world");

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed, new_seen) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (s, stop, ok, failed, new_seen) = (s.clone(), stop.clone(), ok.clone(), failed.clone(), new_seen.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let (status, body) = greet(&s, "hello").await;
                    match (status, body["result"]["message"].as_str()) {
                        (200, Some("Hi, world")) => ok.fetch_add(1, Ordering::SeqCst),
                        (200, Some("Hey, world")) => new_seen.fetch_add(1, Ordering::SeqCst),
                        _ => {
                            eprintln!("failed call: {status} {body}");
                            failed.fetch_add(1, Ordering::SeqCst)
                        }
                    };
                }
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while ok.load(Ordering::SeqCst) < 20 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (status, body) = upload(&s, &manifest("hello", "2.0.0", "Hey"), hello_wasm(), None).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["replaced"], "1.0.0");
    assert_eq!(body["plugin"]["state"], "loaded", "a new version of a loaded plugin swaps in loaded");
    while new_seen.load(Ordering::SeqCst) < 20 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for c in callers {
        c.await.unwrap();
    }
    assert_eq!(failed.load(Ordering::SeqCst), 0, "no call may fail during a hot reload");
    assert!(ok.load(Ordering::SeqCst) > 0 && new_seen.load(Ordering::SeqCst) > 0, "calls reached both versions");
    assert_eq!(greet(&s, "hello").await.1["result"]["message"], "Hey, world", "new calls go to the new version");
    assert_eq!(s.plugin("hello").await["version"], "2.0.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_uploads_are_refused_with_the_reason() {
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| m);
    let s = Server::start_with(&plugins, &["--config", &plugins.config("max_body = '2MiB'\n")]);
    let ok = manifest("hello", "1.0.0", "Hi");

    let (status, body) = upload(&s, "name = 'Bad Name'\nversion = '1'\nkind = 'connector'\n", hello_wasm(), None).await;
    assert_eq!(status, 400, "{body}");
    assert!(error_message(&body, "invalid_manifest").contains("`name`"));
    let (status, body) = upload(&s, "name = 'x'\nversion = '1'\nkind = 'connector'\nmemory_limt = 3\n", hello_wasm(), None).await;
    assert_eq!(status, 400, "{body}");
    assert!(error_message(&body, "invalid_manifest").contains("memory_limt"));

    let grant = format!("{ok}[capabilities]\nread_only_dirs = [{{ host = '../../..', guest = '/etc' }}]\n");
    let (status, body) = upload(&s, &grant, hello_wasm(), None).await;
    assert_eq!(status, 400, "an upload may not grant directories outside its own: {body}");
    assert!(error_message(&body, "invalid_manifest").contains("read_only_dirs"));

    let (status, body) = upload(&s, &ok, b"\0asm not really".to_vec(), None).await;
    assert_eq!(status, 422, "{body}");
    assert!(error_message(&body, "invalid_component").contains("not a valid WebAssembly component"));
    let pdf = std::fs::read(plugin_source("faulty").join("faulty.wasm")).unwrap();
    let (status, body) = upload(&s, &ok, pdf, None).await;
    assert_eq!(status, 422, "a pdf-processor uploaded as a connector: {body}");
    assert!(error_message(&body, "invalid_component").contains("connector"));

    let (status, body) = upload(&s, &ok, hello_wasm(), Some(&"0".repeat(64))).await;
    assert_eq!(status, 400, "{body}");
    error_message(&body, "sha256_mismatch");
    let (status, body) = upload(&s, &ok, hello_wasm(), Some(&hex_sha(&hello_wasm()))).await;
    assert_eq!(status, 201, "the right sha256 is accepted: {body}");

    let (status, body) = upload(&s, &manifest("faulty", "9", "x"), hello_wasm(), None).await;
    assert_eq!(status, 409, "{body}");
    assert!(error_message(&body, "conflict").contains("plugins directory"));
    let (status, body) = delete(&s, "faulty").await;
    assert_eq!(status, 409, "{body}");

    let form = reqwest::multipart::Form::new().text("manifest", ok.clone());
    let r = s.client.post(s.url("/v1/plugins")).multipart(form).send().await.unwrap();
    let (status, body) = hostel_tests::decode(r).await;
    assert_eq!(status, 400);
    assert!(error_message(&body, "bad_request").contains("component"));
    let r = s.client.post(s.url("/v1/plugins")).body("not a form").send().await.unwrap();
    assert_eq!(r.status(), 400);

    // Nothing half-registered: the list holds the plugins-dir plugin and the one good upload.
    let (_, list) = s.get("/v1/plugins").await;
    let names: Vec<&str> = list["plugins"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["faulty", "hello"]);
    assert_eq!(faulty_echo(&s).await, 200, "the host kept serving");

    // Over max_body: 413. The server answers before reading the whole body and closes, so
    // the client can see a reset instead of the answer; such tries are repeated, and
    // any other answer fails the test.
    let mut refused = None;
    for _ in 0..10 {
        let form = reqwest::multipart::Form::new()
            .text("manifest", ok.clone())
            .part("component", reqwest::multipart::Part::bytes(vec![0u8; 3 << 20]).file_name("big.wasm"));
        match s.client.post(s.url("/v1/plugins")).multipart(form).send().await {
            Ok(r) => {
                refused = Some(hostel_tests::decode(r).await);
                break;
            }
            Err(e) => eprintln!("connection reset before the answer was read: {e}"),
        }
    }
    let (status, body) = refused.expect("an answer to at least one of 10 oversized uploads");
    assert_eq!(status, 413, "{body}");
    error_message(&body, "payload_too_large");
    // The refused connection is gone; a new one is served as usual.
    let fresh = reqwest::Client::new();
    let r = fresh.post(s.url("/v1/plugins/faulty/pdf/info")).body("echo").send().await.unwrap();
    assert_eq!(r.status(), 200);
}

async fn faulty_echo(s: &Server) -> u16 {
    s.post_bytes("/v1/plugins/faulty/pdf/info", b"echo".to_vec()).await.0
}
