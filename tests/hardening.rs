//! Hostile input and careless operators, on the real binary over loopback:
//! each test would have caught one fault found by probing (see
//! docs/reliability.md, "Hostile input"). Connection timeouts and limits are in
//! hardening_net.rs.

use hostel_tests::{binary, error_message, plugin_source, PluginsDir, Server};
use serde_json::{json, Value};
use std::process::Command;

async fn upload(s: &Server, manifest: &str, token: Option<&str>) -> (u16, Value) {
    let wasm = std::fs::read(plugin_source("faulty").join("faulty.wasm")).unwrap();
    let form = reqwest::multipart::Form::new()
        .text("manifest", manifest.to_string())
        .part("component", reqwest::multipart::Part::bytes(wasm).file_name("plugin.wasm"));
    let mut request = s.client.post(s.url("/v1/plugins")).multipart(form);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    hostel_tests::decode(request.send().await.unwrap()).await
}

const BASE: &str = "name = 'x'\nversion = '1'\nkind = 'pdf-processor'\n";

#[tokio::test(flavor = "multi_thread")]
async fn absurd_durations_sizes_and_counts_are_refused_naming_the_field_and_range() {
    let plugins = PluginsDir::new();
    // The same absurd values in the plugins dir: rejected at the scan, the host serves the rest.
    plugins.add_raw("forever", &format!("{}component = 'x.wasm'\n[limits]\ncall_timeout = '500000000000years'\n", BASE.replace("'x'", "'forever'")), &[]);
    plugins.add("faulty", |m| m);
    let s = Server::start(&plugins);
    for (extra, field) in [
        ("[limits]\ncall_timeout = '500000000000years'\n", "limits.call_timeout"),
        ("[limits]\ncall_timeout = '100000000000years'\n", "limits.call_timeout"),
        ("[cache]\nttl = '500000000000years'\npure = ['info']\n", "cache.ttl"),
        ("[limits]\nload_timeout = '0s'\n", "limits.load_timeout"),
        ("[limits]\nmemory = '15EiB'\nmemory_estimate = '15EiB'\n", "limits.memory"),
        ("[pool]\nmax_queue = 100000000\n", "pool.max_queue"),
        ("[breaker]\ncooldown = '1000years'\n", "breaker.cooldown"),
    ] {
        let (status, body) = upload(&s, &format!("{BASE}{extra}"), None).await;
        assert_eq!(status, 400, "{extra}: {body}");
        let message = error_message(&body, "invalid_manifest");
        assert!(message.contains(&format!("`{field}`")) && message.contains("outside"), "{extra}: {message}");
    }
    let (_, list) = s.get("/v1/plugins").await;
    let rejected = list["rejected"].as_array().unwrap();
    assert!(rejected.iter().any(|r| r["error"].as_str().unwrap().contains("limits.call_timeout")), "{list}");
    assert_eq!(s.post_bytes("/v1/plugins/faulty/pdf/info", b"echo".to_vec()).await.0, 200, "the host serves the rest");
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_callers_see_no_secrets_or_host_paths_and_operators_see_the_details() {
    let plugins = PluginsDir::new();
    plugins.add_raw("leaky", "name = 'leaky'\nversion = '1'\nkind = 'pdf-processor'\n[limits]\ndb_password = 98765432101234\n", &[]);
    // A grant of a directory that is not there: its absolute host path is in the operator's message.
    let missing = plugins.path().join("no-such-models");
    plugins.add("faulty", |m| format!("{m}\n[capabilities]\nread_only_dirs = [{{ host = '{}', guest = '/models' }}]\n", missing.display()));
    let s = Server::start_with(&plugins, &["--token", "op"]);
    let host_path = plugins.path().to_string_lossy().into_owned();

    let (_, anonymous) = s.get("/v1/plugins").await;
    let text = anonymous.to_string();
    assert!(!text.contains("98765432101234") && !text.contains("db_password"), "{text}");
    assert!(!text.contains(&host_path), "{text}");
    let (status, body) = s.post_bytes("/v1/plugins/faulty/pdf/info", b"echo".to_vec()).await;
    assert_eq!(status, 503, "{body}");
    let message = error_message(&body, "plugin_failed");
    assert!(message.contains("read_only_dirs") && !message.contains(&host_path), "{message}");
    let (_, info) = s.get("/v1/plugins/faulty").await;
    assert!(!info.to_string().contains(&host_path), "{info}");

    // The operator sees what went wrong, exactly.
    let operator: Value = s.client.get(s.url("/v1/plugins")).bearer_auth("op").send().await.unwrap().json().await.unwrap();
    let text = operator.to_string();
    assert!(text.contains("db_password") && text.contains(&host_path), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_whose_grant_fails_says_failed_like_its_calls() {
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| format!("{m}\n[capabilities]\nread_only_dirs = [{{ host = 'gone', guest = '/data' }}]\n"));
    let s = Server::start(&plugins);
    for _ in 0..3 {
        let (status, body) = s.post_bytes("/v1/plugins/faulty/pdf/info", b"echo".to_vec()).await;
        assert_eq!(status, 503, "{body}");
        let message = error_message(&body, "plugin_failed");
        let info = s.plugin("faulty").await;
        assert_eq!(info["state"], "failed", "{info}");
        assert!(message.contains(info["error"].as_str().unwrap()), "the state's error is what calls get: {message} vs {info}");
    }
    // Granted once it exists (an explicit load retries).
    std::fs::create_dir_all(plugins.path().join("faulty/gone")).unwrap();
    let (status, body) = s.post_json("/v1/plugins/faulty/load", &json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.post_bytes("/v1/plugins/faulty/pdf/info", b"echo".to_vec()).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_manifests_and_uploads_that_can_never_run_are_refused() {
    let plugins = PluginsDir::new();
    let many: String = (0..500).map(|i| format!("key{i} = 'v'\n")).collect();
    plugins.add_raw("wide", &format!("name = 'wide'\nversion = '1'\nkind = 'pdf-processor'\ncomponent = 'x.wasm'\n[config]\n{many}"), &[]);
    let s = Server::start_with(&plugins, &["--memory-budget", "256MiB"]);
    let (_, list) = s.get("/v1/plugins").await;
    assert!(list["rejected"][0]["error"].as_str().unwrap().contains("`config`"), "{list}");

    let huge = format!("{BASE}description = '{}'\n", "d".repeat(300 << 10));
    let (status, body) = upload(&s, &huge, None).await;
    assert_eq!(status, 400, "{}", &body.to_string()[..200.min(body.to_string().len())]);
    assert!(error_message(&body, "invalid_manifest").contains("above the limit"));
    let (status, body) = upload(&s, &format!("{BASE}[config]\n{many}"), None).await;
    assert_eq!(status, 400);
    assert!(error_message(&body, "invalid_manifest").contains("`config`"));
    let (status, body) = upload(&s, &format!("{BASE}[capabilities]\nread_only_dirs = [{{ host = 'models' }}]\n"), None).await;
    assert_eq!(status, 400, "{body}");
    assert!(error_message(&body, "invalid_manifest").contains("carries no files"));
    let (status, body) = upload(&s, &format!("{BASE}[limits]\nmemory = '1GiB'\nmemory_estimate = '1GiB'\n"), None).await;
    assert_eq!(status, 400, "{body}");
    assert!(error_message(&body, "invalid_manifest").contains("above the host's memory budget of 256 MiB"));
    let (_, list) = s.get("/v1/plugins").await;
    assert!(list["plugins"].as_array().unwrap().is_empty(), "nothing was registered: {list}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_error_is_json_and_messages_are_for_people() {
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| format!("{m}\n[breaker]\nfailures = 1\ncooldown = '30s'\n"));
    let s = Server::start(&plugins);
    // Invalid UTF-8 in a path segment, and a wrong content type: the JSON error shape.
    let r = s.client.get(s.url("/v1/plugins/%FF%FE")).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/json");
    let (status, body) = hostel_tests::decode(r).await;
    assert_eq!(status, 400, "{body}");
    error_message(&body, "bad_request");
    let r = s.client.post(s.url("/v1/batch")).header("content-type", "text/plain").body("{}").send().await.unwrap();
    let (status, body) = hostel_tests::decode(r).await;
    assert_eq!(status, 415, "{body}");
    error_message(&body, "unsupported_media_type");

    // A plugin panic says what the plugin said, not Rust's hint about backtraces.
    let (status, body) = s.post_bytes("/v1/plugins/faulty/pdf/info", b"panic".to_vec()).await;
    assert_eq!(status, 500, "{body}");
    let message = error_message(&body, "plugin_trapped");
    assert!(message.contains("asked to panic") && !message.contains("RUST_BACKTRACE"), "{message}");
    // Seconds, not nanoseconds.
    let (status, body) = s.post_bytes("/v1/plugins/faulty/pdf/info", b"echo".to_vec()).await;
    assert_eq!(status, 503, "{body}");
    let message = error_message(&body, "circuit_open");
    assert!(message.contains("for another 30 s") || message.contains("for another 29 s"), "{message}");

    // A CLI error is one line, whatever RUST_BACKTRACE says.
    let out = Command::new(binary()).args(["pools", "--url", "http://127.0.0.1:9"]).env("RUST_BACKTRACE", "1").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.lines().count() <= 2 && stderr.starts_with("error: "), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_into_a_pipe_carry_no_colour_codes() {
    let plugins = PluginsDir::new();
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--plugins-dir"])
        .arg(plugins.path())
        .arg("--data-dir")
        .arg(data.path())
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(logs.contains("serving"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "ANSI escapes in piped logs: {logs:?}");
}
