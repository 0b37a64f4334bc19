//! Memory governance costs, printed side by side:
//!   a) a memory-growing call with the limiter + ledger vs with no limiter
//!   b) time from crossing `high` to back under `medium` (eviction latency)
//!   c) host RSS with 1,000 registered, unloaded plugins vs an empty host
//! Run: `cargo bench -p hostel --bench memory` (plugins built by scripts/build-plugins.sh).

mod common;

use common::{raw_pre, raw_store, RawState};
use hostel::bindings::pdf::PdfProcessorPre;
use hostel::memory::{Level, Ledger, MemoryConfig, Thresholds};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{Config, Engine};

fn faulty_wasm() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/plugins/faulty/faulty.wasm");
    assert!(p.exists(), "{} missing: run scripts/build-plugins.sh", p.display());
    p
}

/// Instantiate + `alloc:4096` (64 pages of memory.grow) + drop, `n` times.
async fn growing_calls(pre: &PdfProcessorPre<RawState>, engine: &Engine, ledger: Option<&Arc<Ledger>>, n: usize) -> Duration {
    let name: Arc<str> = "faulty".into();
    let start = Instant::now();
    for _ in 0..n {
        let limiter = ledger.map(|l| {
            let id = l.admit(&name, 1 << 20).unwrap();
            hostel::instance::MemoryLimiter::new(64 << 20, Some((l.clone(), id)))
        });
        let mut store = raw_store(engine, limiter);
        let instance = pre.instantiate_async(&mut store).await.unwrap();
        instance.hostel_plugin_pdf().call_info(&mut store, b"alloc:4096").await.unwrap().unwrap();
    }
    start.elapsed()
}

fn write_plugins(dir: &Path, n: usize) {
    let wasm = faulty_wasm();
    for i in 0..n {
        let d = dir.join(format!("p{i:04}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(&wasm, d.join("faulty.wasm")).unwrap();
        std::fs::write(d.join("hostel.toml"), format!(
            "name = 'p{i:04}'\nversion = '1'\nkind = 'pdf-processor'\ncomponent = 'faulty.wasm'\n[limits]\nmemory = '32MiB'\nmemory_estimate = '1MiB'\n"
        )).unwrap();
    }
}

#[tokio::main]
async fn main() {
    // c) first, on a fresh process: RSS with 1,000 registered plugins (nothing compiled).
    let empty_dir = tempfile::tempdir().unwrap();
    let empty = hostel::Host::builder().plugins_dir(empty_dir.path()).build().unwrap();
    let rss_empty = empty.memory().process_rss;
    let many_dir = tempfile::tempdir().unwrap();
    write_plugins(many_dir.path(), 1000);
    let t = Instant::now();
    let many = hostel::Host::builder().plugins_dir(many_dir.path()).build().unwrap();
    let scan = t.elapsed();
    let rss_many = many.memory().process_rss;
    assert_eq!(many.plugins().len(), 1000);

    // a) limiter + ledger cost on memory-growing calls.
    let mut config = Config::new();
    config.epoch_interruption(true);
    let engine = Engine::new(&config).unwrap();
    let pre = raw_pre(&engine, &faulty_wasm());
    let ledger = Arc::new(Ledger::new(1 << 30, Thresholds::default()));
    const N: usize = 300;
    growing_calls(&pre, &engine, None, 20).await;
    growing_calls(&pre, &engine, Some(&ledger), 20).await;
    let (mut bare, mut ledgered) = (Duration::MAX, Duration::MAX);
    for _ in 0..3 {
        bare = bare.min(growing_calls(&pre, &engine, None, N).await);
        ledgered = ledgered.min(growing_calls(&pre, &engine, Some(&ledger), N).await);
    }
    assert_eq!(ledger.used(), 0, "every instance was released from the ledger");

    // b) crossing high → below high again (relief stops 5 % below it), with the monitor checking every 500 ms
    //    but woken as soon as the level rises.
    let dir = tempfile::tempdir().unwrap();
    write_plugins(dir.path(), 4);
    let host = hostel::Host::builder()
        .plugins_dir(dir.path())
        .memory(MemoryConfig { budget: 96 << 20, min_idle: Duration::ZERO, ..MemoryConfig::default() })
        .build()
        .unwrap();
    for p in ["p0000", "p0001", "p0002"] {
        host.pdf_info(p, b"alloc:20480").await.unwrap();
    }
    let start = Instant::now();
    host.pdf_info("p0003", b"alloc:20480").await.unwrap();
    let crossed_call = start.elapsed();
    while host.memory().level >= Level::High {
        assert!(start.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let relieved = start.elapsed();
    let evictions = host.memory().recent_evictions.len();

    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    println!();
    println!("{:<62} {:>14} {:>14} {:>9}", "benchmark", "baseline", "hostel", "ratio");
    println!("{:<62} {:>14} {:>14} {:>8.3}x", format!("a) {N}× instantiate + 4MiB-growing call: no limiter vs ledger"), ms(bare), ms(ledgered), ledgered.as_secs_f64() / bare.as_secs_f64());
    println!("{:<62} {:>14} {:>14} {:>9}", format!("b) crossing call → below high ({evictions} evictions)"), ms(crossed_call), ms(relieved), "");
    println!("{:<62} {:>14} {:>14} {:>9}", "c) process RSS: empty host vs 1,000 registered plugins", format!("{} MiB", rss_empty >> 20), format!("{} MiB", rss_many >> 20), "");
    println!("{:<62} {:>14} {:>14} {:>9}", "   (RSS growth per registered plugin; scan time)", format!("{} KiB", (rss_many.saturating_sub(rss_empty)) / 1000 / 1024), ms(scan), "");
    println!();
}
