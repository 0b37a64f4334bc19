//! Pools, side by side:
//!   b) instantiate + call + drop through Hostel (fresh instance per call) vs raw
//!      wasmtime with the same pooling allocator and an InstancePre
//!   e) 32 concurrent callers: Hostel with warm pooled instances vs unpooled
//!      (a fresh on-demand instance per call)
//! Run: `cargo bench -p hostel --bench pool` (plugins built by scripts/build-plugins.sh).

mod common;

use common::{median, raw_pre, raw_store};
use hostel::engine::EngineSettings;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A plugins dir with one copy of `src` (a built plugin dir) and extra manifest text.
fn plugin_dir(src: &Path, name: &str, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join(name);
    std::fs::create_dir_all(&dst).unwrap();
    let wasm = format!("{}.wasm", src.file_name().unwrap().to_string_lossy());
    assert!(src.join(&wasm).exists(), "{} missing: run scripts/build-plugins.sh", src.join(&wasm).display());
    std::fs::copy(src.join(&wasm), dst.join(&wasm)).unwrap();
    let manifest: String = std::fs::read_to_string(src.join("hostel.toml"))
        .unwrap()
        .lines()
        .map(|l| if l.starts_with("name =") { format!("name = \"{name}\"\n") } else { format!("{l}\n") })
        .collect();
    std::fs::write(dst.join("hostel.toml"), format!("{manifest}\n{extra}\n")).unwrap();
    dir
}

async fn concurrent(host: &hostel::Host, plugin: &str, doc: &Arc<Vec<u8>>, callers: usize, per: usize) -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let (host, doc, plugin) = (host.clone(), doc.clone(), plugin.to_string());
            tokio::spawn(async move {
                for _ in 0..per {
                    host.pdf_text(&plugin, &doc, 1, None).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    const N: usize = 500;
    let faulty = repo().join("tests/plugins/faulty");

    // b) fresh instance per call through Hostel vs raw wasmtime pooling + InstancePre.
    let dir = plugin_dir(&faulty, "fresh", "[pool]\nfresh_instance_per_call = true");
    let host = hostel::Host::builder().plugins_dir(dir.path()).build().unwrap();
    host.pdf_info("fresh", b"echo").await.unwrap();
    let mut hostel_times = Vec::with_capacity(N);
    for _ in 0..N {
        let t = Instant::now();
        host.pdf_info("fresh", b"echo").await.unwrap();
        hostel_times.push(t.elapsed());
    }

    let mut config = Config::new();
    config.epoch_interruption(true).memory_init_cow(true);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(1000).total_core_instances(8000).total_memories(2000).total_tables(4000)
        .total_stacks(1000).max_core_instances_per_component(32).max_memories_per_component(4)
        .max_tables_per_component(8).max_memory_size(4 << 30);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&config).unwrap();
    let pre = raw_pre(&engine, &faulty.join("faulty.wasm"));
    let mut raw_times = Vec::with_capacity(N);
    for i in 0..N + 1 {
        let t = Instant::now();
        let mut store = raw_store(&engine, None);
        let instance = pre.instantiate_async(&mut store).await.unwrap();
        instance.hostel_plugin_pdf().call_info(&mut store, b"echo").await.unwrap().unwrap();
        drop(store);
        if i > 0 {
            raw_times.push(t.elapsed());
        }
    }
    let (h, r) = (median(hostel_times), median(raw_times));

    // e) 32 concurrent callers on pdf-text: warm pooled instances vs unpooled.
    let doc = Arc::new(std::fs::read(repo().join("tests/fixtures/groff-ghostscript.pdf")).unwrap());
    let pdf = repo().join("plugins/pdf-text");
    let pooled_dir = plugin_dir(&pdf, "pdf", "[pool]\nmax_idle = 32\nmax_instances = 32");
    let pooled = hostel::Host::builder().plugins_dir(pooled_dir.path()).build().unwrap();
    let unpooled_dir = plugin_dir(&pdf, "pdf", "[pool]\nfresh_instance_per_call = true\nmax_instances = 32");
    let unpooled = hostel::Host::builder()
        .plugins_dir(unpooled_dir.path())
        .engine(EngineSettings { pooling: false, ..EngineSettings::default() })
        .build()
        .unwrap();
    const CALLERS: usize = 32;
    const PER: usize = 40;
    concurrent(&pooled, "pdf", &doc, CALLERS, 2).await;
    concurrent(&unpooled, "pdf", &doc, CALLERS, 2).await;
    let tp = concurrent(&pooled, "pdf", &doc, CALLERS, PER).await;
    let tu = concurrent(&unpooled, "pdf", &doc, CALLERS, PER).await;
    let calls = (CALLERS * PER) as f64;

    let us = |d: Duration| format!("{:.1} µs", d.as_secs_f64() * 1e6);
    println!();
    println!("{:<66} {:>13} {:>13} {:>8}", "benchmark (medians)", "baseline", "hostel", "ratio");
    println!("{:<66} {:>13} {:>13} {:>7.2}x", "b) instantiate+call+drop: raw wasmtime pooling+InstancePre vs Hostel", us(r), us(h), h.as_secs_f64() / r.as_secs_f64());
    println!("{:<66} {:>13} {:>13} {:>7.2}x", format!("e) {CALLERS} callers × {PER} pdf-text calls: unpooled vs pooled (calls/s)"),
        format!("{:.0}/s", calls / tu.as_secs_f64()), format!("{:.0}/s", calls / tp.as_secs_f64()), tu.as_secs_f64() / tp.as_secs_f64());
    println!("{:<66} {:>13} {:>13} {:>7.0}%", "   per call (wall / calls) and time saved by pooling", us(tu / (CALLERS * PER) as u32), us(tp / (CALLERS * PER) as u32),
        (1.0 - tp.as_secs_f64() / tu.as_secs_f64()) * 100.0);
    println!();
}
