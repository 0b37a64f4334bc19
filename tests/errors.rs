//! Bad input of every kind gets its status and a message naming the problem,
//! and the host keeps serving everyone else.

use hostel_tests::pdf::make_pdf;
use hostel_tests::{error_message, PluginsDir, Server};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn request_errors() {
    let plugins = PluginsDir::new();
    plugins.add("caption-keywords", |m| m).add("pdf-text", |m| m);
    let s = Server::start(&plugins);

    let (status, body) = s.get("/healthz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));

    // Unknown plugin wins over a body that would not parse.
    let (status, body) = s.post_json("/v1/plugins/ghost/caption", &json!({})).await;
    assert_eq!(status, 404);
    assert!(error_message(&body, "unknown_plugin").contains("ghost"));

    let r = s.client.post(s.url("/v1/plugins/caption-keywords/caption"))
        .header("content-type", "application/json").body("{\"description\": ").send().await.unwrap();
    let (status, body) = hostel_tests::decode(r).await;
    assert_eq!(status, 400);
    error_message(&body, "bad_request");

    let (status, body) = s.post_json("/v1/plugins/caption-keywords/caption", &json!({"descripton": "typo"})).await;
    assert_eq!(status, 400);
    assert!(error_message(&body, "bad_request").contains("descripton"));

    let (status, body) = s.post_bytes("/v1/plugins/caption-keywords/pdf/text", make_pdf(&["x"], "t", "a")).await;
    assert_eq!(status, 400);
    assert!(error_message(&body, "wrong_kind").contains("caption-model"));

    let (status, body) = s.get("/v1/nothing/here").await;
    assert_eq!(status, 404);
    error_message(&body, "no_route");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_are_refused() {
    let plugins = PluginsDir::new();
    plugins.add("pdf-text", |m| m);
    let config = plugins.path().join("../hostel-small.toml");
    std::fs::write(&config, "max_body = \"4KiB\"\n").unwrap();
    let s = Server::start_with(&plugins, &["--config", config.to_str().unwrap()]);
    let (status, body) = s.post_bytes("/v1/plugins/pdf-text/pdf/text", vec![b'x'; 8 * 1024]).await;
    assert_eq!(status, 413);
    error_message(&body, "payload_too_large");
    let (status, _) = s.post_bytes("/v1/plugins/pdf-text/pdf/info", make_pdf(&["small"], "t", "a")).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_plugins_fail_alone() {
    let plugins = PluginsDir::new();
    plugins.add("pdf-text", |m| m);
    plugins.add_raw("garbage", "name='garbage'\nversion='1'\nkind='pdf-processor'\ncomponent='garbage.wasm'\n",
        &[("garbage.wasm", b"\0asm this is not a component")]);
    plugins.add_raw("missing", "name='missing'\nversion='1'\nkind='pdf-processor'\ncomponent='missing.wasm'\n", &[]);
    plugins.add_raw("typo", "name='typo'\nversion='1'\nkind='pdf-processor'\ncomponent='x.wasm'\n[limits]\nmemroy='1MiB'\n", &[]);
    // A real component of the wrong world.
    let caption = std::fs::read(hostel_tests::plugin_source("caption-keywords").join("caption-keywords.wasm")).unwrap();
    plugins.add_raw("mislabelled", "name='mislabelled'\nversion='1'\nkind='pdf-processor'\ncomponent='c.wasm'\n", &[("c.wasm", &caption)]);
    let s = Server::start(&plugins);

    let (_, list) = s.get("/v1/plugins").await;
    let rejected = list["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{list}");
    assert!(rejected[0]["error"].as_str().unwrap().contains("memroy"));

    let (status, body) = s.post_bytes("/v1/plugins/garbage/pdf/info", b"x".to_vec()).await;
    assert_eq!(status, 503);
    assert!(error_message(&body, "plugin_failed").contains("not a valid WebAssembly component"), "{body}");
    let info = s.plugin("garbage").await;
    assert_eq!(info["state"], "failed");
    assert!(info["error"].as_str().unwrap().contains("not a valid WebAssembly component"));

    let (status, body) = s.post_bytes("/v1/plugins/missing/pdf/info", b"x".to_vec()).await;
    assert_eq!(status, 503);
    assert!(error_message(&body, "plugin_failed").contains("build-plugins.sh"), "{body}");

    let (status, body) = s.post_bytes("/v1/plugins/mislabelled/pdf/info", b"x".to_vec()).await;
    assert_eq!(status, 503);
    assert!(error_message(&body, "plugin_failed").contains("does not implement the pdf-processor world"), "{body}");

    // The healthy plugin is unaffected.
    let (status, body) = s.post_bytes("/v1/plugins/pdf-text/pdf/text", make_pdf(&["still here"], "t", "a")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pages"][0]["text"], "still here");
}

#[tokio::test(flavor = "multi_thread")]
async fn traps_timeouts_and_memory_limits_discard_only_the_instance() {
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| m).add("pdf-text", |m| m);
    let s = Server::start(&plugins);

    let started = std::time::Instant::now();
    let (status, body) = s.post_bytes("/v1/plugins/faulty/pdf/info", b"loop".to_vec()).await;
    assert_eq!(status, 504, "{body}");
    assert!(error_message(&body, "timeout").contains("500ms"), "{body}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "the loop was not interrupted");

    let (status, body) = s.post_bytes("/v1/plugins/faulty/pdf/info", b"panic".to_vec()).await;
    assert_eq!(status, 500);
    assert!(error_message(&body, "plugin_trapped").contains("faulty was asked to panic"), "{body}");

    // 32MiB limit per instance: 40MiB cannot fit.
    let (status, body) = s.post_bytes("/v1/plugins/faulty/pdf/info", b"alloc:40960".to_vec()).await;
    assert_eq!(status, 500, "{body}");
    let message = error_message(&body, "memory_limit_exceeded");
    assert!(message.contains("faulty") && message.contains("32 MiB"), "{message}");

    let (status, body) = s.post_bytes("/v1/plugins/faulty/pdf/info", b"error".to_vec()).await;
    assert_eq!(status, 422);
    error_message(&body, "invalid_input");

    // Shallow recursion is fine; a runaway one traps, never crashes the host: Rust's shadow stack
    // in linear memory runs out (out-of-bounds access) or the wasm stack does (stack overflow).
    let (status, body) = s.post_bytes("/v1/plugins/faulty/pdf/info", b"recurse:100".to_vec()).await;
    assert_eq!((status, body["title"].as_str()), (200, Some("depth 100")), "{body}");
    let (status, body) = s.post_bytes("/v1/plugins/faulty/pdf/info", b"recurse:100000000".to_vec()).await;
    assert_eq!(status, 500, "{body}");
    let message = error_message(&body, "plugin_trapped");
    assert!(message.contains("out of bounds memory access") || message.contains("stack overflow"), "{message}");

    // Each failure dropped its instance; the next call gets a fresh, working one.
    let (status, body) = s.post_bytes("/v1/plugins/faulty/pdf/info", b"echo".to_vec()).await;
    assert_eq!(status, 200, "{body}");
    let info = s.plugin("faulty").await;
    assert_eq!(info["instances_created"], 5, "{info}");
    assert_eq!(info["errors"], 5);
    // Other plugins never noticed.
    let (status, _) = s.post_bytes("/v1/plugins/pdf-text/pdf/info", make_pdf(&["ok"], "t", "a")).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_outputs_and_table_growth_are_faults_of_their_own() {
    let plugins = PluginsDir::new();
    plugins.add_faulty("big", 0, "memory = '32MiB'\nmax_output = '1MiB'");
    plugins.add("pdf-text", |m| m);
    let s = Server::start(&plugins);
    let call = |cmd: &'static str| s.post_bytes("/v1/plugins/big/pdf/info", cmd.as_bytes().to_vec());

    // Under the limit it answers; over it the result is dropped and the instance discarded.
    let (status, body) = call("big:512").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["title"].as_str().unwrap().len(), 512 * 1024);
    let (status, body) = call("big:2048").await;
    assert_eq!(status, 502, "{body}");
    let message = error_message(&body, "output_too_large");
    assert!(message.contains("\"big\"") && message.contains("1 MiB"), "{message}");

    // A table may grow a little; growing it past the table maximum traps with its own class.
    let (status, body) = call("table:16").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["title"].as_str().unwrap().starts_with("table grown to "), "{body}");
    let (status, body) = call("table:5000000").await;
    assert_eq!(status, 500, "{body}");
    let message = error_message(&body, "table_limit_exceeded");
    assert!(message.contains("\"big\"") && message.contains("maximum"), "{message}");

    let (status, body) = call("echo").await;
    assert_eq!(status, 200, "{body}");
    let info = s.plugin("big").await;
    assert_eq!(info["instances_created"], 3, "one new instance after each fault: {info}");
    assert_eq!(info["errors"], 2, "{info}");
    let (status, _) = s.post_bytes("/v1/plugins/pdf-text/pdf/info", make_pdf(&["ok"], "t", "a")).await;
    assert_eq!(status, 200);
}
