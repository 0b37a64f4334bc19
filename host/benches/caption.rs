//! caption-minilm, the heavy plugin (all-MiniLM-L6-v2 inside the component),
//! printed side by side:
//!   a) cold call vs warm pooled call. Cold = a new instance: instantiate, load
//!      the weights, read the hashtag and caption vocabulary's embeddings (bundled
//!      with the component, data/vocabulary.bin), infer. Measured for the host's
//!      first instance and for later ones.
//!   b) per-instance memory as the ledger charges it vs the process RSS growth
//!   c) captions per second with 1 and 2 concurrent callers
//! Run: `cargo bench -p hostel --bench caption` (weights: scripts/fetch-model.sh;
//! component: scripts/build-plugins.sh).

use hostel::types::{CaptionRequest, Style};
use hostel::Host;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const PLUGIN: &str = "caption-minilm";
const MIB: f64 = 1024.0 * 1024.0;
#[path = "common/sentences.rs"]
mod sentences;
/// The first eight sentences: what this bench has always used.
const DESCRIPTIONS: &[&str] = sentences::TEXTS.split_at(8).0;

fn request(i: usize) -> CaptionRequest {
    let styles = [Style::Inspirational, Style::Funny, Style::Professional, Style::Casual];
    CaptionRequest {
        description: DESCRIPTIONS[i % DESCRIPTIONS.len()].to_string(),
        style: styles[i % styles.len()],
        hashtag_count: 8,
        max_captions: 3,
    }
}

fn plugins_dir() -> tempfile::TempDir {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let src = repo.join("plugins/caption-minilm");
    let models = repo.join("models").canonicalize().expect("models/ missing: run scripts/fetch-model.sh");
    assert!(models.join("all-minilm-l6-v2/model.safetensors").exists(), "weights missing: run scripts/fetch-model.sh");
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join(PLUGIN);
    std::fs::create_dir_all(&dst).unwrap();
    std::fs::copy(src.join("caption-minilm.wasm"), dst.join("caption-minilm.wasm")).expect("run scripts/build-plugins.sh");
    let manifest = std::fs::read_to_string(src.join("hostel.toml"))
        .unwrap()
        .replace("host = \"../../models\"", &format!("host = {:?}", models.display().to_string()));
    std::fs::write(dst.join("hostel.toml"), manifest).unwrap();
    dir
}

async fn call(host: &Host, i: usize) -> Duration {
    let t = Instant::now();
    let result = host.caption(PLUGIN, &request(i)).await.expect("caption");
    assert_eq!(result.hashtags.len(), 8);
    t.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let plugins = plugins_dir();
    let data = tempfile::tempdir().unwrap();
    let build = || Host::builder().plugins_dir(plugins.path()).data_dir(data.path()).build().unwrap();

    // Compile once so every cold call below loads from the artifact cache.
    let host = build();
    let t = Instant::now();
    host.load(PLUGIN).await.unwrap();
    println!("compile (Cranelift, first load): {:.0} ms", ms(t.elapsed()));
    drop(host);

    // a) Cold: first instance on fresh hosts (nothing in the shared cache).
    let mut cold_first = Vec::new();
    for i in 0..3 {
        let host = build();
        cold_first.push(call(&host, i).await);
    }
    // Cold: later instances (idle ones evicted first).
    let host = build();
    let rss_before = host.memory().process_rss;
    call(&host, 0).await;
    let rss_one = host.memory().process_rss;
    let report = host.memory();
    let ledger_one = report.plugins.iter().find(|p| p.name == PLUGIN).unwrap().instance_bytes;
    let mut cold_later = Vec::new();
    for i in 0..5 {
        let freed = host.free(u64::MAX / 2);
        assert_eq!(freed.evicted.len(), 1);
        cold_later.push(call(&host, i).await);
    }
    // Warm: the pooled instance answers.
    for i in 0..5 {
        call(&host, i).await;
    }
    let mut warm = calls(&host, 0..60).await;
    warm.sort();
    let (cold_f, cold_l, warm_m, warm_p90) = (median(cold_first), median(cold_later), warm[30], warm[54]);

    // b) A second instance: ledger charge vs RSS growth.
    tokio::join!(call(&host, 1), call(&host, 2));
    let report = host.memory();
    let p = report.plugins.iter().find(|p| p.name == PLUGIN).unwrap();
    let instances = p.instances.len();
    let rss_two = report.process_rss;

    // c) Throughput with 1 and 2 callers (2 instances are warm now).
    let n = 60;
    let t = Instant::now();
    calls(&host, 0..n).await;
    let one = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (h1, h2) = (host.clone(), host.clone());
    let a = tokio::spawn(async move { calls(&h1, 0..n / 2).await });
    let b = tokio::spawn(async move { calls(&h2, n / 2..n).await });
    a.await.unwrap();
    b.await.unwrap();
    let two = n as f64 / t.elapsed().as_secs_f64();

    println!();
    println!("| caption-minilm | baseline | hostel | ratio |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| a) cold call (first instance: weights, bundled vocabulary) vs warm pooled call | {:.0} ms | {:.1} ms | {:.0}× faster warm (goal ≥ 20×) |",
        ms(cold_f), ms(warm_m), cold_f.as_secs_f64() / warm_m.as_secs_f64()
    );
    println!(
        "| a) cold call (later instance) vs warm | {:.0} ms | {:.1} ms | {:.0}× faster warm |",
        ms(cold_l), ms(warm_m), cold_l.as_secs_f64() / warm_m.as_secs_f64()
    );
    println!(
        "| b) one instance: ledger charge vs process RSS growth | {:.1} MiB RSS | {:.1} MiB ledger | {:.2} |",
        (rss_one.saturating_sub(rss_before)) as f64 / MIB, ledger_one as f64 / MIB,
        ledger_one as f64 / rss_one.saturating_sub(rss_before).max(1) as f64
    );
    println!(
        "| b) {instances} instances: ledger vs RSS growth since the empty host | {:.1} MiB RSS | {:.1} MiB ledger | {:.2} |",
        (rss_two.saturating_sub(rss_before)) as f64 / MIB, p.instance_bytes as f64 / MIB,
        p.instance_bytes as f64 / rss_two.saturating_sub(rss_before).max(1) as f64
    );
    println!("| c) captions per second, 1 caller vs 2 callers | {one:.1}/s | {two:.1}/s | {:.2}× |", two / one);
    println!();
    println!("warm p50 {:.1} ms, p90 {:.1} ms over {} calls", ms(warm_m), ms(warm_p90), warm.len());
}

/// One call after another, each timed.
async fn calls(host: &Host, requests: std::ops::Range<usize>) -> Vec<Duration> {
    let mut out = Vec::with_capacity(requests.len());
    for i in requests {
        out.push(call(host, i).await);
    }
    out
}
