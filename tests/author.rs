//! The authors' toolkit: `hostel new` → `hostel build` → serve → call for
//! every kind and language, in a directory outside the repository; `hostel
//! dev` rebuilding and hot-reloading on save.

use hostel_tests::{binary, repo};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `hostel ARGS` with the guest toolchains of this checkout; Rust guests
/// share the plugins' target dir (std is built once there).
fn hostel(args: &[&str]) -> Command {
    let mut c = Command::new(binary());
    c.args(args).env("HOSTEL_TOOLS", repo().join(".tools")).env("CARGO_TARGET_DIR", repo().join("plugins/target"));
    c
}

fn run(mut c: Command) -> String {
    let out = c.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{c:?} failed: {text}");
    text
}

/// The typed (or generic) call each kind's template answers, and what the answer must hold.
async fn call(s: &hostel_tests::Server, name: &str, kind: &str) -> Value {
    let (status, body) = match kind {
        "connector" => s.post_json(&format!("/v1/plugins/{name}/connector/call"), &json!({"operation": "greet", "args": {}})).await,
        "pdf-processor" => s.post_bytes(&format!("/v1/plugins/{name}/pdf/info"), hostel_tests::pdf::make_pdf(&["one", "two"], "T", "a")).await,
        "caption-model" => {
            let request = json!({"description": "sunset over the ocean at the beach", "style": "casual", "hashtag_count": 3, "max_captions": 2});
            s.post_json(&format!("/v1/plugins/{name}/caption"), &request).await
        }
        _ => s.post_json(&format!("/v1/plugins/{name}/invoke/greet"), &json!({"name": "you"})).await,
    };
    assert_eq!(status, 200, "{name}: {body}");
    match kind {
        "pdf-processor" => assert_eq!(body["page_count"], 2, "{name}: {body}"),
        "caption-model" => assert_eq!(body["hashtags"].as_array().map(Vec::len), Some(3), "{name}: {body}"),
        "connector" => assert!(body["result"].to_string().contains("world") || body["result"].is_object(), "{name}: {body}"),
        _ => assert!(body["result"].as_str().is_some_and(|r| r.contains("you")), "{name}: {body}"),
    }
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn new_then_build_then_serve_answers_for_every_kind_and_language() {
    let outside = tempfile::tempdir().unwrap();
    let mut made = Vec::new();
    for lang in ["rust", "python", "js"] {
        for kind in ["connector", "pdf-processor", "caption-model", "component"] {
            let name = format!("my-{lang}-{}", kind.split('-').next().unwrap());
            let dir = outside.path().to_string_lossy().into_owned();
            run(hostel(&["new", &name, "--kind", kind, "--lang", lang, "--dir", &dir]));
            let plugin = outside.path().join(&name);
            let manifest = std::fs::read_to_string(plugin.join("hostel.toml")).unwrap();
            assert!(manifest.contains(&format!("name = \"{name}\"")), "the name is set: {manifest}");
            if lang == "rust" && kind != "component" {
                assert!(plugin.join("hostel-sdk/src/lib.rs").is_file(), "outside the repository the SDK comes along");
            }
            let built = run(hostel(&["build", &plugin.to_string_lossy()]));
            let wasm = plugin.join(format!("{name}.wasm"));
            assert!(wasm.is_file() && built.contains(&wasm.to_string_lossy().into_owned()) && built.contains("export "), "{built}");
            made.push((name, kind));
        }
    }
    // A second `new` of the same name refuses to overwrite; a bad kind is named.
    let dir = outside.path().to_string_lossy().into_owned();
    let again = hostel(&["new", "my-rust-connector", "--kind", "connector", "--dir", &dir]).output().unwrap();
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let bad = hostel(&["new", "x", "--kind", "printer", "--dir", &dir]).output().unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("pdf-processor"), "{}", String::from_utf8_lossy(&bad.stderr));

    // Served as a plugins directory: every one answers its route.
    let plugins = hostel_tests::PluginsDir { dir: outside };
    let s = hostel_tests::Server::start(&plugins);
    let (_, list) = s.get("/v1/plugins").await;
    assert_eq!(list["rejected"], json!([]), "{list}");
    for (name, kind) in &made {
        call(&s, name, kind).await;
    }
}

/// Reads the dev server's stdout until a line contains `needle`; returns it.
fn wait_line(lines: &std::sync::mpsc::Receiver<String>, needle: &str, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(_) => panic!("no line with {needle:?} within {secs} s"),
        }
    }
}

async fn greet(url: &str, name: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/plugins/{name}/connector/call"))
        .json(&json!({"operation": "greet", "args": {}}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    body["result"].to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_rebuilds_and_reloads_on_every_save_and_keeps_the_old_version_on_a_broken_one() {
    let outside = tempfile::tempdir().unwrap();
    let dir = outside.path().to_string_lossy().into_owned();
    run(hostel(&["new", "live", "--kind", "connector", "--lang", "rust", "--dir", &dir]));
    let plugin = outside.path().join("live");
    let mut child = hostel(&["dev", &plugin.to_string_lossy(), "--listen", "127.0.0.1:0"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let serving = wait_line(&lines, "serving live", 240);
    let url = serving.split(" at ").nth(1).unwrap().split(';').next().unwrap().to_string();
    let before = greet(&url, "live").await;

    // Edit the source and the manifest's [config]: the next answers show both.
    let lib = plugin.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    assert!(source.contains("=> \"world\","), "the template greets the world by default: {source}");
    std::fs::write(&lib, source.replace("=> \"world\",", "=> \"dev world\",")).unwrap();
    let manifest_path = plugin.join("hostel.toml");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    let greeting = manifest.lines().find_map(|l| l.strip_prefix("greeting = ")).expect("a [config] greeting").trim_matches('"').to_string();
    std::fs::write(&manifest_path, manifest.replace(&format!("greeting = \"{greeting}\""), "greeting = \"Salut\"")).unwrap();
    let saved = Instant::now();
    loop {
        let now = greet(&url, "live").await;
        if now.contains("Salut, dev world") {
            break;
        }
        assert!(saved.elapsed() < Duration::from_secs(120), "no reload within 120 s: {now} (was {before})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("edit-to-answer (Rust connector, warm): {:.1} s", saved.elapsed().as_secs_f64());

    // A syntax error: reported, and the last good version answers on.
    std::fs::write(&lib, "this is not rust").unwrap();
    wait_line(&lines, "build failed", 120);
    assert!(greet(&url, "live").await.contains("Salut, dev world"));
    let _ = child.kill();
    let _ = child.wait();
}
