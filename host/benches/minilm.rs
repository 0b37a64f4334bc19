//! caption-minilm's forward pass, side by side in one run: the plugin's
//! encoder compiled natively (x86_64, one thread: plugins/caption-minilm/native,
//! the same source file) vs the component called through Hostel's API, for one
//! sentence and for a batch of 32; then the component's cold instances.
//! Run: `cargo bench -p hostel --bench minilm` (it builds the native side with
//! the guests' compiler on first run, a few minutes; weights:
//! scripts/fetch-model.sh; component: scripts/build-plugins.sh caption-minilm).

use hostel::types::{CaptionRequest, Style};
use hostel::Host;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PLUGIN: &str = "caption-minilm";
const ROUNDS: usize = 20;
#[path = "common/sentences.rs"]
mod sentences;
use sentences::TEXTS;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

fn models() -> PathBuf {
    let models = repo().join("models");
    assert!(models.join("all-minilm-l6-v2/model.safetensors").exists(), "weights missing: run scripts/fetch-model.sh");
    models
}

/// Builds and runs the native side; returns its JSON report.
fn native() -> Value {
    let repo = repo();
    let plugins = repo.join("plugins");
    // The guests' compiler (Debian's rustc, see shared TOOLCHAIN notes) when present,
    // so both sides come from the same LLVM. Run from the repository root, so
    // plugins/.cargo/config.toml (wasm target, build-std) does not apply.
    let (cargo, rustc) = if Path::new("/usr/bin/cargo").exists() && Path::new("/usr/bin/rustc").exists() {
        ("/usr/bin/cargo".to_string(), Some("/usr/bin/rustc"))
    } else {
        (std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()), None)
    };
    eprintln!("building the native side (plugins/caption-minilm/native; the first build compiles candle)");
    let mut build = Command::new(&cargo);
    build.current_dir(&repo).args(["build", "--release", "--quiet", "-p", "minilm-native", "--manifest-path"])
        .arg(plugins.join("caption-minilm/Cargo.toml"))
        .arg("--target-dir")
        .arg(plugins.join("target"));
    if let Some(rustc) = rustc {
        build.env("RUSTC", rustc);
    }
    assert!(build.status().expect("run cargo").success(), "the native side did not build");
    let mut child = Command::new(plugins.join("target/release/minilm-native"))
        .arg(models().join("all-minilm-l6-v2"))
        .arg(ROUNDS.to_string())
        .env("RAYON_NUM_THREADS", "1")
        .env("TOKENIZERS_PARALLELISM", "false")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run minilm-native");
    serde_json::to_writer(child.stdin.take().unwrap(), &TEXTS).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "minilm-native failed");
    serde_json::from_slice(&out.stdout).expect("minilm-native printed no JSON")
}

fn plugins_dir() -> tempfile::TempDir {
    let src = repo().join("plugins/caption-minilm");
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join(PLUGIN);
    std::fs::create_dir_all(&dst).unwrap();
    std::fs::copy(src.join("caption-minilm.wasm"), dst.join("caption-minilm.wasm")).expect("run scripts/build-plugins.sh");
    let manifest = std::fs::read_to_string(src.join("hostel.toml"))
        .unwrap()
        .replace("host = \"../../models\"", &format!("host = {:?}", models().display().to_string()));
    std::fs::write(dst.join("hostel.toml"), manifest).unwrap();
    dir
}

async fn embed(host: &Host, texts: &[&str]) -> (Duration, Value) {
    let t = Instant::now();
    let result = host.invoke_json(PLUGIN, "embed", &json!({ "texts": texts })).await.expect("embed");
    (t.elapsed(), result)
}

async fn caption(host: &Host) -> Duration {
    let request = CaptionRequest {
        description: TEXTS[0].to_string(),
        style: Style::Inspirational,
        hashtag_count: 8,
        max_captions: 3,
    };
    let t = Instant::now();
    host.caption(PLUGIN, &request).await.expect("caption");
    t.elapsed()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("a vector").iter().map(|x| x.as_f64().unwrap()).collect()
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    dot / (a.iter().map(|x| x * x).sum::<f64>().sqrt() * b.iter().map(|x| x * x).sum::<f64>().sqrt())
}

#[tokio::main]
async fn main() {
    // RUST_LOG=info shows the plugin's own timing lines (load, vocabulary).
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).with_writer(std::io::stderr).init();
    }
    let native = native();
    let native_one = median(floats(&native["one_ms"]));
    let native_batch = median(floats(&native["batch_ms"]));

    let plugins = plugins_dir();
    let data = tempfile::tempdir().unwrap();
    let build = || Host::builder().plugins_dir(plugins.path()).data_dir(data.path()).build().unwrap();
    // Compile once, so the cold instances below load from the artifact cache.
    build().load(PLUGIN).await.unwrap();

    // Cold first instance: a fresh host (nothing in its shared cache), one caption call:
    // instantiate, load the weights, read the bundled vocabulary embeddings, infer.
    let mut cold_first = Vec::new();
    for _ in 0..3 {
        cold_first.push(ms(caption(&build()).await));
    }
    // Cold first instance answering `embed`: it loads the weights and embeds no vocabulary.
    let mut cold_embed = Vec::new();
    for _ in 0..3 {
        cold_embed.push(ms(embed(&build(), &TEXTS[..1]).await.0));
    }
    // Later instances: the idle one evicted, the vocabulary's embeddings in the host's cache.
    let host = build();
    caption(&host).await;
    let mut cold_later = Vec::new();
    for _ in 0..3 {
        assert_eq!(host.free(u64::MAX / 2).evicted.len(), 1);
        cold_later.push(ms(caption(&host).await));
    }

    // Warm: the pooled instance answers `embed` through Hostel's generic invoke.
    let (_, first) = embed(&host, &TEXTS[..1]).await;
    embed(&host, &TEXTS).await;
    let (mut one, mut batch) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        one.push(ms(embed(&host, &TEXTS[..1]).await.0));
        batch.push(ms(embed(&host, &TEXTS).await.0));
    }
    let (one, batch) = (median(one), median(batch));
    let agreement = cosine(&floats(&first[0]), &floats(&native["embedding"]));

    let n = TEXTS.len() as f64;
    println!();
    println!("| all-MiniLM-L6-v2 embed (median of {ROUNDS}) | native x86_64, 1 thread | component via Hostel | ratio |");
    println!("| --- | --- | --- | --- |");
    println!("| 1 sentence | {native_one:.2} ms | {one:.2} ms | {:.2}× (goal ≤ 2×) |", one / native_one);
    println!(
        "| batch of 32, per sentence | {:.2} ms | {:.2} ms | {:.2}× (goal ≤ 2×) |",
        native_batch / n, batch / n, batch / native_batch
    );
    println!("| batch of 32, whole call | {native_batch:.1} ms | {batch:.1} ms | {:.2}× |", batch / native_batch);
    println!(
        "| load the weights (native) vs cold first instance (component, one caption call) | {:.0} ms | {:.0} ms | goal ≤ 2000 ms |",
        native["load_ms"].as_f64().unwrap(), median(cold_first.clone())
    );
    println!("| cold first instance, one embed call (no vocabulary needed) | | {:.0} ms | goal ≤ 2000 ms |", median(cold_embed.clone()));
    println!("| later instance, one caption call | | {:.0} ms | |", median(cold_later.clone()));
    println!();
    println!("cold first instance runs: caption {cold_first:.0?} ms, embed {cold_embed:.0?} ms; later instances: {cold_later:.0?} ms");
    println!("cosine of the component's and the native embedding of {:?}: {agreement:.7}", TEXTS[0]);
}
