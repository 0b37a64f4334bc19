//! Shared helpers for the end-to-end tests: start the real `hostel` binary on
//! a loopback port with a plugins directory made for the test, talk to it over
//! HTTP, and build PDFs.
//!
//! The binary and the plugins must be built first (`scripts/test.sh` does it):
//! `cargo build --release -p hostel` and `scripts/build-plugins.sh`.

pub mod cdp;
pub mod cluster;
pub mod pdf;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The `hostel` binary next to this test executable (same profile).
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("hostel");
    assert!(bin.exists(), "{} is missing: run `cargo build --release -p hostel` (scripts/test.sh does)", bin.display());
    bin
}

/// A plugin's source directory: an example under plugins/ or a test plugin under tests/plugins/.
pub fn plugin_source(name: &str) -> PathBuf {
    let example = repo().join("plugins").join(name);
    let dir = if example.join("hostel.toml").exists() {
        example
    } else if name == "hello-connector" {
        repo().join("sdk/template")
    } else {
        repo().join("tests/plugins").join(name)
    };
    let wasm = dir.join(format!("{name}.wasm"));
    assert!(wasm.exists(), "{} is missing: run scripts/build-plugins.sh", wasm.display());
    dir
}

/// The bytes of a component built by scripts/build-plugins.sh (or
/// build-examples.sh), by its path under the repository.
pub fn built(path: &str) -> Vec<u8> {
    let path = repo().join(path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run scripts/build-plugins.sh and scripts/build-examples.sh)", path.display()))
}

/// A plugins directory for one test, in a temp dir.
pub struct PluginsDir {
    pub dir: tempfile::TempDir,
}

impl PluginsDir {
    pub fn new() -> Self {
        PluginsDir { dir: tempfile::tempdir().unwrap() }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a host config file next to the plugins and returns its path.
    pub fn config(&self, text: &str) -> String {
        let path = self.path().with_extension("toml");
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    /// Adds a copy of the `faulty` test plugin under another name, with extra manifest lines.
    pub fn add_faulty(&self, name: &str, priority: i32, limits: &str) -> &Self {
        let src = plugin_source("faulty");
        let dst = self.path().join(name);
        std::fs::create_dir_all(&dst).unwrap();
        std::fs::copy(src.join("faulty.wasm"), dst.join("faulty.wasm")).unwrap();
        std::fs::write(
            dst.join("hostel.toml"),
            format!("name = '{name}'\nversion = '1'\nkind = 'pdf-processor'\ncomponent = 'faulty.wasm'\npriority = {priority}\n[limits]\n{limits}\n"),
        )
        .unwrap();
        self
    }

    /// Copies a built plugin (manifest + component) in, optionally editing its manifest text.
    pub fn add(&self, name: &str, edit: impl FnOnce(String) -> String) -> &Self {
        let src = plugin_source(name);
        let dst = self.path().join(name);
        std::fs::create_dir_all(&dst).unwrap();
        let wasm = format!("{name}.wasm");
        std::fs::copy(src.join(&wasm), dst.join(&wasm)).unwrap();
        let manifest = std::fs::read_to_string(src.join("hostel.toml")).unwrap();
        std::fs::write(dst.join("hostel.toml"), edit(manifest)).unwrap();
        self
    }

    /// Adds `name`, a copy of the built plugin `source` made distinct (its own
    /// sha256, so its own compile) by a custom section carrying `name`; or
    /// the same bytes when `distinct` is false. `edit` changes the manifest.
    pub fn add_copy(&self, source: &str, name: &str, distinct: bool, edit: impl FnOnce(String) -> String) -> &Self {
        let src = plugin_source(source);
        let dst = self.path().join(name);
        std::fs::create_dir_all(&dst).unwrap();
        let mut wasm = std::fs::read(src.join(format!("{source}.wasm"))).unwrap();
        if distinct {
            wasm.extend_from_slice(&custom_section("hostel-test-copy", name.as_bytes()));
        }
        std::fs::write(dst.join(format!("{name}.wasm")), wasm).unwrap();
        let manifest = std::fs::read_to_string(src.join("hostel.toml")).unwrap();
        let manifest: String = manifest
            .lines()
            .filter(|l| !l.trim_start().starts_with("component "))
            .map(|l| format!("{l}\n"))
            .collect();
        let manifest = manifest.replacen(
            &format!("name = \"{source}\""),
            &format!("name = \"{name}\"\ncomponent = \"{name}.wasm\""),
            1,
        );
        assert!(manifest.contains(&format!("name = \"{name}\"")), "cannot rename {source}: {manifest}");
        std::fs::write(dst.join("hostel.toml"), edit(manifest)).unwrap();
        self
    }

    /// Writes an arbitrary plugin directory (for broken components and manifests).
    pub fn add_raw(&self, dir: &str, manifest: &str, files: &[(&str, &[u8])]) -> &Self {
        let dst = self.path().join(dir);
        std::fs::create_dir_all(&dst).unwrap();
        std::fs::write(dst.join("hostel.toml"), manifest).unwrap();
        for (name, bytes) in files {
            std::fs::write(dst.join(name), bytes).unwrap();
        }
        self
    }
}

/// A custom section (id 0): valid anywhere at the top level of a component.
pub fn custom_section(name: &str, payload: &[u8]) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            out.push(if n == 0 { byte } else { byte | 0x80 });
            if n == 0 {
                break;
            }
        }
    }
    let mut body = Vec::new();
    leb(name.len(), &mut body);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    let mut out = vec![0u8];
    leb(body.len(), &mut out);
    out.extend_from_slice(&body);
    out
}

/// Pids of the live child processes of `pid` (e.g. compile workers).
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut kids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        // pid (comm) state ppid …: comm may hold spaces, so split after the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r.to_string()) else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 1 && fields[1].parse::<u32>().ok() == Some(pid) && fields[0] != "Z" {
            kids.push(child);
        }
    }
    kids
}

/// Resident bytes of process `pid` from /proc (0 if gone).
pub fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// A running `hostel serve`, killed on drop.
pub struct Server {
    child: Child,
    pub base: String,
    pub client: reqwest::Client,
    _data: tempfile::TempDir,
}

impl Server {
    /// Starts the binary on 127.0.0.1 with a free port.
    pub fn start(plugins: &PluginsDir) -> Server {
        Self::start_with(plugins, &[])
    }

    pub fn start_with(plugins: &PluginsDir, extra: &[&str]) -> Server {
        let data = tempfile::tempdir().unwrap();
        let path = data.path().to_path_buf();
        Self::start_in(plugins, &path, extra, Some(data))
    }

    /// Starts with a given data directory (to test what survives a restart).
    pub fn start_in(plugins: &PluginsDir, data_dir: &Path, extra: &[&str], keep: Option<tempfile::TempDir>) -> Server {
        let data = keep.unwrap_or_else(|| tempfile::tempdir().unwrap());
        let mut child = Command::new(binary())
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--plugins-dir")
            .arg(plugins.path())
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            // Tests that provoke thousands of faults on purpose may quiet the server.
            .env("RUST_LOG", std::env::var("HOSTEL_TEST_SERVER_LOG").unwrap_or_else(|_| "warn,hostel::api::response=off".into()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn hostel");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from hostel: {line:?}"))
            .to_string();
        let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        Server { child, base, client, _data: data }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        decode(r).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self.client.post(self.url(path)).json(body).send().await.unwrap();
        decode(r).await
    }

    /// Uploads a plugin (multipart manifest + component) over the API.
    pub async fn upload(&self, manifest: &str, component: Vec<u8>) -> (u16, Value) {
        let form = reqwest::multipart::Form::new()
            .text("manifest", manifest.to_string())
            .part("component", reqwest::multipart::Part::bytes(component).file_name("plugin.wasm"));
        let r = self.client.post(self.url("/v1/plugins")).multipart(form).send().await.unwrap();
        decode(r).await
    }

    pub async fn post_bytes(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let r = self.client.post(self.url(path)).body(body).send().await.unwrap();
        decode(r).await
    }

    /// Stops the server the way Ctrl-C does (SIGINT) and waits for it to exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "hostel exited with {exit:?}");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// RSS of the server and every process it started, summed.
    pub fn rss_with_children(&self) -> u64 {
        rss_of(self.pid()) + children_of(self.pid()).into_iter().map(rss_of).sum::<u64>()
    }

    /// The server's resident set size in bytes (from /proc).
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .expect("VmRSS of the server in /proc")
    }

    /// Kills the server with SIGKILL now, even while other tasks still hold it
    /// (a crash, not a shutdown); waits until the process is gone.
    pub fn kill9(&self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-KILL", &pid]).status().unwrap();
        assert!(status.success());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{pid}/stat")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z ")
        {
            assert!(std::time::Instant::now() < deadline, "hostel {pid} did not die");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Polls `GET path` until `check` accepts the body (at most `secs` seconds).
    pub async fn wait_for(&self, path: &str, secs: u64, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let (_, body) = self.get(path).await;
            if check(&body) {
                return body;
            }
            assert!(std::time::Instant::now() < deadline, "timed out waiting on {path}: last {body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Subscribes to `GET /v1/events?query`: each SSE message's JSON, in order,
    /// starting with the `subscribed` message (awaited here, so the stream is live).
    pub async fn events(&self, query: &str) -> tokio::sync::mpsc::UnboundedReceiver<Value> {
        use futures::StreamExt;
        let client = reqwest::Client::new();
        let response = client.get(self.url(&format!("/v1/events?{query}"))).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut body = response.bytes_stream();
        tokio::spawn(async move {
            let mut pending = Vec::new();
            while let Some(Ok(chunk)) = body.next().await {
                pending.extend_from_slice(&chunk);
                while let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
                    let message: Vec<u8> = pending.drain(..end + 2).collect();
                    for line in String::from_utf8_lossy(&message).lines() {
                        if let Some(data) = line.strip_prefix("data: ") {
                            if tx.send(serde_json::from_str::<Value>(data).unwrap()).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        });
        let first = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
        assert_eq!(first["type"], "subscribed", "{first}");
        rx
    }

    /// The plugin's status document.
    pub async fn plugin(&self, name: &str) -> Value {
        let (status, body) = self.get(&format!("/v1/plugins/{name}")).await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Status and JSON body (a non-JSON body becomes a JSON string).
pub async fn decode(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Asserts an error body `{"error":{"code","message"}}` with `code`, and returns the message.
pub fn error_message(body: &Value, code: &str) -> String {
    assert_eq!(body["error"]["code"], code, "unexpected body: {body}");
    let message = body["error"]["message"].as_str().expect("error message").to_string();
    assert!(!message.is_empty());
    message
}
