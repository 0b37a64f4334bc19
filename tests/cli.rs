//! The CLI as an operator uses it: the real `hostel` binary as a client of a
//! real server on loopback — tables, `--json`, upload, invoke, errors, token.

use hostel_tests::{binary, plugin_source, PluginsDir, Server};
use serde_json::Value;
use std::process::Command;

/// Runs `hostel <args>` against the server; returns (success, stdout, stderr).
fn hostel(s: &Server, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(binary()).args(args).env("HOSTEL_URL", &s.base).env_remove("HOSTEL_TOKEN").output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn plugin_commands_tables_and_json() {
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| m);
    let s = Server::start(&plugins);
    let (ok, out, err) = tokio::task::block_in_place(|| hostel(&s, &["plugin", "list"]));
    assert!(ok, "{err}");
    assert!(out.contains("faulty") && out.contains("registered") && out.contains("pdf-processor"), "{out}");

    // Upload the SDK template from its manifest (the component is found beside it).
    let template = plugin_source("hello-connector");
    let manifest = template.join("hostel.toml");
    let (ok, out, err) = tokio::task::block_in_place(|| hostel(&s, &["plugin", "add", manifest.to_str().unwrap()]));
    assert!(ok, "{err}");
    assert!(out.contains("hello-connector 0.1.0 uploaded"), "{out}");

    let (ok, out, err) = tokio::task::block_in_place(|| {
        hostel(&s, &["plugin", "invoke", "hello-connector", "call", r#"{"operation":"greet","args":{}}"#])
    });
    assert!(ok, "{err}");
    let body: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(body["result"]["message"], "Bonjour, world");

    let pdf = hostel_tests::pdf::make_pdf(&["cli page"], "From the CLI", "me");
    let file = plugins.path().join("doc.pdf");
    std::fs::write(&file, pdf).unwrap();
    let (ok, out, err) = tokio::task::block_in_place(|| {
        hostel(&s, &["plugin", "invoke", "faulty", "info", "--file", file.to_str().unwrap()])
    });
    assert!(!ok, "faulty answers 'unknown command' for a real PDF: {out}");
    assert!(err.contains("422") && err.contains("invalid_input"), "{err}");

    let (ok, out, _) = tokio::task::block_in_place(|| hostel(&s, &["plugin", "show", "hello-connector", "--json"]));
    assert!(ok);
    let info: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((info["state"].as_str(), info["calls"].as_u64()), (Some("loaded"), Some(1)));

    let (ok, out, _) = tokio::task::block_in_place(|| hostel(&s, &["pools"]));
    assert!(ok && out.contains("hello-connector"), "{out}");
    let (ok, out, _) = tokio::task::block_in_place(|| hostel(&s, &["memory"]));
    assert!(ok && out.contains("used") && out.contains("hello-connector") && out.contains("compiles: 0 of "), "{out}");
    s.wait_for("/v1/invocations", 10, |b| b["total"] == 2).await;
    let (ok, out, _) = tokio::task::block_in_place(|| hostel(&s, &["invocations", "--plugin", "hello-connector"]));
    assert!(ok && out.contains("call") && out.contains("of 1 calls"), "{out}");

    let (status, job) = s.post_json("/v1/jobs", &serde_json::json!({"stages": [{"plugin": "hello-connector", "export": "call", "args": {"operation": "echo", "args": "{}"}}]})).await;
    assert_eq!(status, 202);
    s.wait_for("/v1/jobs/1", 10, |j| j["state"] == "succeeded").await;
    let (ok, out, _) = tokio::task::block_in_place(|| hostel(&s, &["jobs"]));
    assert!(ok && out.contains("succeeded") && out.contains("hello-connector call"), "{out}");
    let (ok, out, _) = tokio::task::block_in_place(|| hostel(&s, &["jobs", &job["id"].to_string()]));
    assert!(ok && out.contains("job 1 succeeded") && out.contains("MiB"), "{out}");

    let (ok, _, err) = tokio::task::block_in_place(|| hostel(&s, &["plugin", "rm", "hello-connector"]));
    assert!(ok, "{err}");
    let (ok, _, err) = tokio::task::block_in_place(|| hostel(&s, &["plugin", "show", "hello-connector"]));
    assert!(!ok && err.contains("404") && err.contains("unknown_plugin"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_sends_the_token_and_reports_a_missing_one() {
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| m);
    let s = Server::start_with(&plugins, &["--token", "t0k"]);
    let (ok, _, err) = tokio::task::block_in_place(|| hostel(&s, &["memory"]));
    assert!(!ok && err.contains("401") && err.contains("unauthorized"), "{err}");
    let (ok, out, err) = tokio::task::block_in_place(|| hostel(&s, &["memory", "--token", "t0k", "--json"]));
    assert!(ok, "{err}");
    let body: Value = serde_json::from_str(&out).unwrap();
    assert!(body["budget"].as_u64().unwrap() > 0);
    let (ok, _, err) = tokio::task::block_in_place(|| {
        Command::new(binary()).args(["pools", "--url", "http://127.0.0.1:9"]).output().map(|o| (o.status.success(), (), String::from_utf8_lossy(&o.stderr).into_owned())).unwrap()
    });
    assert!(!ok && err.contains("cannot reach the host"), "{err}");
}
