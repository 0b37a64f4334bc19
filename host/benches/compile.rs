//! The budget bounds the whole process: compiles scheduled and paid for.
//! Printed side by side in one run, the real `hostel serve` over loopback
//! (RSS = the host and every process it starts, summed, sampled every 10 ms):
//!   a) fresh-compile churn of N distinct plugins one after another under a
//!      256 MiB budget: max and final RSS, compile time — worker processes vs
//!      in-process compiles (glibc, trimmed after each compile)
//!   b) a burst of M concurrent first calls to M distinct plugins: successes,
//!      wait p50/p99
//!   c) the README tour with every bundled plugin: RSS − ledger at every sample
//!   d) first call with a warm artifact cache (pdf-text), library: vs
//!      `Component::deserialize` and `deserialize_file` on the same artifact
//!   e) RSS after compiling and unloading 20 plugins vs a fresh host
//! Run: `cargo bench -p hostel --bench compile` (plugins: scripts/build-plugins.sh);
//! `HOSTEL_BENCH_CHURN=100 HOSTEL_BENCH_BURST=44` are the sizes (the defaults).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MIB: f64 = 1024.0 * 1024.0;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A custom section, to make a copy of a component distinct (own sha256).
fn custom_section(payload: &[u8]) -> Vec<u8> {
    let name = b"hostel-bench-copy";
    let mut body = vec![name.len() as u8];
    body.extend_from_slice(name);
    body.extend_from_slice(payload);
    let mut out = vec![0u8];
    let mut n = body.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        out.push(if n == 0 { b } else { b | 0x80 });
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&body);
    out
}

/// `n` distinct copies of pdf-text named `{prefix}{i}`.
fn copies(dir: &Path, prefix: &str, n: usize) {
    let wasm = std::fs::read(repo().join("plugins/pdf-text/pdf-text.wasm")).expect("plugins/pdf-text/pdf-text.wasm: run scripts/build-plugins.sh");
    for i in 0..n {
        let name = format!("{prefix}{i}");
        let d = dir.join(&name);
        std::fs::create_dir_all(&d).unwrap();
        let mut bytes = wasm.clone();
        bytes.extend_from_slice(&custom_section(name.as_bytes()));
        std::fs::write(d.join("c.wasm"), bytes).unwrap();
        std::fs::write(d.join("hostel.toml"), format!("name = '{name}'\nversion = '1'\nkind = 'pdf-processor'\ncomponent = 'c.wasm'\n[limits]\nmemory = '64MiB'\nmemory_estimate = '2MiB'\nload_timeout = '10m'\n")).unwrap();
    }
}

fn rss_of(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap_or_default();
    text.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) * 4096
}

fn children_of(pid: u32) -> Vec<u32> {
    let mut kids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        if let Some((_, rest)) = stat.rsplit_once(')') {
            if rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) == Some(pid) {
                kids.push(child);
            }
        }
    }
    kids
}

/// A running `hostel serve` with RSS sampled in the background.
struct Server {
    child: Child,
    base: String,
    client: reqwest::Client,
    max_rss: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    _data: tempfile::TempDir,
}

impl Server {
    fn start(plugins: &Path, config: &str) -> Server {
        let data = tempfile::tempdir().unwrap();
        let cfg = data.path().join("config.toml");
        std::fs::write(&cfg, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_hostel"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&cfg)
            .arg("--plugins-dir")
            .arg(plugins)
            .arg("--data-dir")
            .arg(data.path().join("data"))
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = line.trim().strip_prefix("listening on ").unwrap().to_string();
        let (max_rss, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let (m, s, pid) = (max_rss.clone(), stop.clone(), child.id());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let total = rss_of(pid) + children_of(pid).into_iter().map(rss_of).sum::<u64>();
                m.fetch_max(total, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        hostel::install_crypto_provider();
        let client = reqwest::Client::builder().timeout(Duration::from_secs(900)).build().unwrap();
        Server { child, base, client, max_rss, stop, _data: data }
    }

    fn rss(&self) -> u64 {
        rss_of(self.child.id()) + children_of(self.child.id()).into_iter().map(rss_of).sum::<u64>()
    }

    async fn info(&self, plugin: &str) -> (u16, Duration) {
        let pdf = std::fs::read(repo().join("tests/fixtures/groff-ghostscript.pdf")).unwrap();
        let t = Instant::now();
        let r = self.client.post(format!("{}/v1/plugins/{plugin}/pdf/info", self.base)).body(pdf).send().await.unwrap();
        (r.status().as_u16(), t.elapsed())
    }

    async fn post(&self, path: &str) -> u16 {
        self.client.post(format!("{}{path}", self.base)).json(&serde_json::json!({})).send().await.unwrap().status().as_u16()
    }

    async fn memory(&self) -> serde_json::Value {
        self.client.get(format!("{}/v1/admin/memory", self.base)).send().await.unwrap().json().await.unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mib(b: u64) -> String {
    format!("{:.0} MiB", b as f64 / MIB)
}

/// a) one mode's churn: (max RSS, final RSS, total seconds, failures).
async fn churn(mode: &str, n: usize) -> (u64, u64, f64, usize) {
    let dir = tempfile::tempdir().unwrap();
    copies(dir.path(), "c", n);
    let s = Server::start(dir.path(), &format!("[memory]\nbudget = '256MiB'\ncheck_interval = '50ms'\n[engine]\ncompile = '{mode}'\n"));
    let t = Instant::now();
    let mut failed = 0;
    for i in 0..n {
        if s.info(&format!("c{i}")).await.0 != 200 {
            failed += 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    (s.max_rss.load(Ordering::Relaxed), s.rss(), secs, failed)
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn burst(m: usize) -> (usize, Duration, Duration, u64) {
    let dir = tempfile::tempdir().unwrap();
    copies(dir.path(), "b", m);
    let s = Server::start(dir.path(), "[memory]\nbudget = '256MiB'\ncheck_interval = '50ms'\n");
    let calls = (0..m).map(|i| {
        let s = &s;
        async move { s.info(&format!("b{i}")).await }
    });
    let results = futures::future::join_all(calls).await;
    let ok = results.iter().filter(|r| r.0 == 200).count();
    let mut waits: Vec<Duration> = results.iter().map(|r| r.1).collect();
    (ok, percentile(&mut waits, 0.5), percentile(&mut waits, 0.99), s.max_rss.load(Ordering::Relaxed))
}

/// c) the README tour: every bundled plugin called; worst RSS − ledger.
async fn tour() -> (u64, u64, usize) {
    let s = Server::start(&repo().join("plugins"), "[memory]\ncheck_interval = '50ms'\n");
    let worst = Arc::new(AtomicU64::new(0));
    let samples = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (base, client, pid) = (s.base.clone(), s.client.clone(), s.child.id());
        let (worst, samples, stop) = (worst.clone(), samples.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let used = client.get(format!("{base}/v1/admin/memory")).send().await.unwrap().json::<serde_json::Value>().await.unwrap()["used"].as_u64().unwrap();
                let rss = rss_of(pid) + children_of(pid).into_iter().map(rss_of).sum::<u64>();
                worst.fetch_max(rss.saturating_sub(used), Ordering::Relaxed);
                samples.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let post = |path: &str, body: serde_json::Value| {
        let (c, u) = (s.client.clone(), format!("{}{path}", s.base));
        async move { c.post(u).json(&body).send().await.unwrap().status().as_u16() }
    };
    let mut failures = 0;
    let pdf = std::fs::read(repo().join("tests/fixtures/groff-ghostscript.pdf")).unwrap();
    for status in [
        post("/v1/plugins/hello-connector/connector/call", serde_json::json!({"operation": "greet", "args": {}})).await,
        s.client.post(format!("{}/v1/plugins/pdf-text/pdf/text", s.base)).body(pdf.clone()).send().await.unwrap().status().as_u16(),
        s.info("pdf-text").await.0,
        post("/v1/plugins/caption-keywords/caption", serde_json::json!({"description": "sunset over the ocean", "style": "inspirational", "hashtag_count": 5, "max_captions": 3})).await,
        post("/v1/plugins/caption-minilm/caption", serde_json::json!({"description": "new espresso machine at our cafe", "style": "professional", "hashtag_count": 5, "max_captions": 2})).await,
        post("/v1/plugins/caption-minilm/caption", serde_json::json!({"description": "a quiet hike", "style": "casual", "hashtag_count": 3, "max_captions": 2})).await,
        s.client.get(format!("{}/v1/plugins/market-connector/connector", s.base)).send().await.unwrap().status().as_u16(),
    ] {
        if status != 200 {
            failures += 1;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    sampler.await.unwrap();
    (worst.load(Ordering::Relaxed), samples.load(Ordering::Relaxed), failures)
}

/// d) library: warm-cache first call, a warm call, deserialize vs deserialize_file.
async fn warm_first_call() -> (Duration, Duration, Duration, Duration) {
    let plugins = tempfile::tempdir().unwrap();
    let d = plugins.path().join("pdf-text");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(repo().join("plugins/pdf-text/pdf-text.wasm"), d.join("pdf-text.wasm")).unwrap();
    std::fs::copy(repo().join("plugins/pdf-text/hostel.toml"), d.join("hostel.toml")).unwrap();
    let data = tempfile::tempdir().unwrap();
    let pdf = std::fs::read(repo().join("tests/fixtures/groff-ghostscript.pdf")).unwrap();
    let build = || hostel::Host::builder().plugins_dir(plugins.path()).data_dir(data.path()).build().unwrap();
    build().pdf_info("pdf-text", &pdf).await.unwrap(); // compiles once, fills the cache
    let (mut firsts, mut warms) = (Vec::new(), Vec::new());
    if std::env::var("HOSTEL_BENCH_TRACE").is_ok() {
        tracing_subscriber::fmt().with_env_filter("hostel=debug").with_writer(std::io::stderr).init();
    }
    for _ in 0..15 {
        let host = build();
        host.pdf_info("pdf-text", &pdf).await.unwrap(); // warm the OS page cache the same way
        drop(host);
        let host = build();
        // The dropped host's engine is freed by its epoch thread a tick
        // later (unmapping the pooling reservation): let that pass.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t = Instant::now();
        host.pdf_info("pdf-text", &pdf).await.unwrap();
        firsts.push(t.elapsed());
        let t = Instant::now();
        host.pdf_info("pdf-text", &pdf).await.unwrap();
        warms.push(t.elapsed());
    }
    let artifact = std::fs::read_dir(data.path().join("artifacts")).unwrap().flatten().map(|e| e.path()).find(|p| p.extension().is_some_and(|x| x == "cwasm")).unwrap();
    let engine = wasmtime::Engine::new(&hostel::engine::config(&hostel::engine::EngineSettings::default(), true)).unwrap();
    let (mut copy, mut map) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        let t = Instant::now();
        let bytes = std::fs::read(&artifact).unwrap();
        // SAFETY: an artifact this build wrote for this engine configuration.
        let c = unsafe { wasmtime::component::Component::deserialize(&engine, &bytes) }.unwrap();
        copy.push(t.elapsed());
        drop(c);
        let t = Instant::now();
        let c = unsafe { wasmtime::component::Component::deserialize_file(&engine, &artifact) }.unwrap();
        map.push(t.elapsed());
        drop(c);
    }
    (percentile(&mut firsts, 0.5), percentile(&mut warms, 0.5), percentile(&mut copy, 0.5), percentile(&mut map, 0.5))
}

/// e) fresh host vs after compiling and unloading 20 plugins.
async fn unloaded(n: usize) -> (u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    copies(dir.path(), "u", n);
    let s = Server::start(dir.path(), "");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fresh = s.rss();
    for i in 0..n {
        assert_eq!(s.info(&format!("u{i}")).await.0, 200);
    }
    for i in 0..n {
        assert_eq!(s.post(&format!("/v1/plugins/u{i}/unload")).await, 200);
    }
    let m = s.memory().await;
    assert_eq!(m["compiled_bytes"], 0, "{m}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    (fresh, s.rss())
}

#[tokio::main]
async fn main() {
    let n = env_usize("HOSTEL_BENCH_CHURN", 100);
    let m = env_usize("HOSTEL_BENCH_BURST", 44);
    println!("compile benchmark (2 cores; RSS = host + compile workers, sampled every 10 ms)\n");

    let only = std::env::var("HOSTEL_BENCH_ONLY").unwrap_or_default();
    let (first, warm, copy, map) = warm_first_call().await;
    println!(
        "d) first call, warm artifact cache (pdf-text info on the groff PDF, median of 15): {:.2} ms; the same call warm {:.2} ms; load overhead {:.2} ms",
        first.as_secs_f64() * 1e3,
        warm.as_secs_f64() * 1e3,
        first.saturating_sub(warm).as_secs_f64() * 1e3
    );
    println!("   same artifact: read + Component::deserialize {:.2} ms | Component::deserialize_file {:.2} ms | ratio {:.1}x", copy.as_secs_f64() * 1e3, map.as_secs_f64() * 1e3, copy.as_secs_f64() / map.as_secs_f64().max(1e-9));

    if only == "d" {
        return;
    }
    let (fresh, after) = unloaded(20).await;
    println!("e) RSS fresh host {} | after compiling + unloading 20 plugins {} | +{} (goal ≤ +32 MiB)", mib(fresh), mib(after), mib(after.saturating_sub(fresh)));

    println!("a) churn: {n} distinct plugins compiled one after another, budget 256 MiB (goal: max RSS ≤ 320 MiB)");
    println!("   {:<12} {:>10} {:>10} {:>12} {:>8}", "compile", "max RSS", "RSS after", "s/compile", "failed");
    for mode in ["process", "in-process"] {
        let (max, end, secs, failed) = churn(mode, n).await;
        println!("   {:<12} {:>10} {:>10} {:>12.2} {:>8}", mode, mib(max), mib(end), secs / n as f64, failed);
    }

    let (ok, p50, p99, max) = burst(m).await;
    println!("b) burst: {m} concurrent first calls to {m} distinct plugins, budget 256 MiB: {ok}/{m} succeeded, wait p50 {:.1} s, p99 {:.1} s, max RSS {}", p50.as_secs_f64(), p99.as_secs_f64(), mib(max));

    let (worst, samples, failures) = tour().await;
    println!("c) README tour, every bundled plugin: worst RSS − ledger {} over {samples} samples (goal ≤ 64 MiB); {failures} calls not 200 (market-connector needs the internet)", mib(worst));
}
