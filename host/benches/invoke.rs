//! Benchmarks of the call path, printed as ratios side by side:
//!   a) cold first call (compile + instantiate + call) vs warm call, pdf-text
//!   b) raw wasmtime typed call on a ready instance vs the same call through Hostel
//!   c) first call with an artifact-cache hit vs compiling
//!   d) the same export through the typed kind vs `kind = "component"` + generic (JSON) invoke
//!   f) the warm call with nobody listening vs a live event subscriber vs spans exported over OTLP
//! Run: `cargo bench -p hostel --bench invoke` (plugins built by scripts/build-plugins.sh).

mod common;

use common::{median, raw_pre_v2, raw_store};
use lopdf::content::{Content, Operation};
use lopdf::{dictionary, Document, Object, Stream};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use wasmtime::{Config, Engine};

fn small_pdf() -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {"Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica"});
    let resources_id = doc.add_object(dictionary! {"Font" => dictionary! {"F1" => font_id}});
    let content = Content {
        operations: vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 12.into()]),
            Operation::new("Td", vec![72.into(), 700.into()]),
            Operation::new("Tj", vec![Object::string_literal("benchmark page")]),
            Operation::new("ET", vec![]),
        ],
    };
    let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
    let page_id = doc.add_object(dictionary! {"Type" => "Page", "Parent" => pages_id, "Contents" => content_id});
    doc.objects.insert(pages_id, Object::Dictionary(dictionary! {
        "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1, "Resources" => resources_id,
        "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
    }));
    let catalog_id = doc.add_object(dictionary! {"Type" => "Catalog", "Pages" => pages_id});
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

fn plugins_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins")
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

#[tokio::main]
async fn main() {
    let pdf = small_pdf();
    let wasm = plugins_dir().join("pdf-text/pdf-text.wasm");
    assert!(wasm.exists(), "{} missing: run scripts/build-plugins.sh", wasm.display());
    const WARM: usize = 2000;

    // a) cold first call vs warm call through Hostel.
    let mut cold = Vec::new();
    let mut host = None;
    for _ in 0..3 {
        let h = hostel::Host::builder().plugins_dir(plugins_dir()).build().unwrap();
        let t = Instant::now();
        h.pdf_info("pdf-text", &pdf).await.unwrap();
        cold.push(t.elapsed());
        host = Some(h);
    }
    let host = host.unwrap();
    for _ in 0..100 {
        host.pdf_info("pdf-text", &pdf).await.unwrap();
    }
    let mut warm = Vec::with_capacity(WARM);
    for _ in 0..WARM {
        let t = Instant::now();
        host.pdf_info("pdf-text", &pdf).await.unwrap();
        warm.push(t.elapsed());
    }
    let (cold, warm) = (median(cold), median(warm));

    // b) raw wasmtime: same component, same engine settings, a ready instance, typed call.
    let mut config = Config::new();
    config.epoch_interruption(true);
    let engine = Engine::new(&config).unwrap();
    let pre = raw_pre_v2(&engine, &wasm);
    let mut store = raw_store(&engine, None);
    let instance = pre.instantiate_async(&mut store).await.unwrap();
    for _ in 0..100 {
        instance.hostel_plugin_pdf().call_info(&mut store, &pdf).await.unwrap().unwrap();
    }
    let mut raw = Vec::with_capacity(WARM);
    for _ in 0..WARM {
        let t = Instant::now();
        instance.hostel_plugin_pdf().call_info(&mut store, &pdf).await.unwrap().unwrap();
        raw.push(t.elapsed());
    }
    let raw = median(raw);

    // c) first call with an artifact-cache hit vs compiling: raw and zstd entries.
    let dir = tempfile::tempdir().unwrap();
    let mut cache_rows = Vec::new();
    for format in [hostel::artifacts::Format::Raw, hostel::artifacts::Format::Zstd] {
        let data = dir.path().join(format!("{format:?}"));
        let warmup = hostel::Host::builder().plugins_dir(plugins_dir()).data_dir(&data).artifact_format(format).build().unwrap();
        warmup.pdf_info("pdf-text", &pdf).await.unwrap();
        drop(warmup);
        let size = hostel::artifacts::ArtifactCache::new(&data.join("artifacts"), &engine, format)
            .unwrap()
            .stats()
            .bytes;
        let mut hits = Vec::new();
        for _ in 0..5 {
            let h = hostel::Host::builder().plugins_dir(plugins_dir()).data_dir(&data).artifact_format(format).build().unwrap();
            let t = Instant::now();
            h.pdf_info("pdf-text", &pdf).await.unwrap();
            hits.push(t.elapsed());
            assert_eq!(h.plugin_info("pdf-text").unwrap().from_cache, Some(true));
        }
        cache_rows.push((format, size, median(hits)));
    }

    // d) typed kind vs kind = "component" + generic invoke: same component, same host.
    let any = tempfile::tempdir().unwrap();
    for (name, kind) in [("pdf-typed", "pdf-processor"), ("pdf-any", "component")] {
        let dir = any.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(&wasm, dir.join("pdf-text.wasm")).unwrap();
        std::fs::write(dir.join("hostel.toml"), format!("name = '{name}'\nversion = '1'\nkind = '{kind}'\ncomponent = 'pdf-text.wasm'\n[limits]\nmemory = '64MiB'\n")).unwrap();
    }
    let h = hostel::Host::builder().plugins_dir(any.path()).build().unwrap();
    let args = serde_json::json!({ "document": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &pdf) });
    for _ in 0..100 {
        h.pdf_info("pdf-typed", &pdf).await.unwrap();
        h.invoke_json("pdf-any", "info", &args).await.unwrap();
    }
    let (mut typed, mut generic) = (Vec::with_capacity(WARM), Vec::with_capacity(WARM));
    for _ in 0..WARM {
        let t = Instant::now();
        h.pdf_info("pdf-typed", &pdf).await.unwrap();
        typed.push(t.elapsed());
        let t = Instant::now();
        h.invoke_json("pdf-any", "info", &args).await.unwrap();
        generic.push(t.elapsed());
    }
    let (typed, generic) = (median(typed), median(generic));

    // e) turning a wasip1 core module into a component (what an upload or scan of one adds).
    let module = std::fs::read(plugins_dir().join("../tests/plugins/wasip1-calc/wasip1-calc.wasm")).expect("wasip1-calc built by scripts/build-plugins.sh");
    let mut componentize = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        hostel::registry::componentize::componentize(&module).unwrap();
        componentize.push(t.elapsed());
    }
    let componentize = median(componentize);

    // f) observability on the warm call: an event subscriber draining the
    // stream, then call spans exported over OTLP/HTTP to a sink on loopback.
    let (events_on, otlp_on, exports) = observed(&host, &pdf, WARM).await;

    println!();
    println!("{:<58} {:>14} {:>14} {:>9}", "benchmark (pdf-text info, 1-page PDF; medians)", "baseline", "hostel", "ratio");
    for (format, size, hit) in &cache_rows {
        println!(
            "{:<58} {:>14} {:>14} {:>8.1}x",
            format!("c) first call: compile vs artifact hit ({format:?}, {} KiB)", size / 1024),
            us(cold),
            us(*hit),
            cold.as_secs_f64() / hit.as_secs_f64()
        );
    }
    println!("{:<58} {:>14} {:>14} {:>8.1}x", "a) warm call vs cold first call (compile+instantiate)", us(warm), us(cold), cold.as_secs_f64() / warm.as_secs_f64());
    println!("{:<58} {:>14} {:>14} {:>8.2}x", "b) raw wasmtime typed call vs Hostel API, warm instance", us(raw), us(warm), warm.as_secs_f64() / raw.as_secs_f64());
    println!("{:<58} {:>14} {:>14} {:>9}", format!("e) componentize a wasip1 module ({} KiB)", module.len() / 1024), "", us(componentize), "");
    println!("{:<58} {:>14} {:>14} {:>8.2}x", "d) typed kind vs kind=component, generic JSON invoke", us(typed), us(generic), generic.as_secs_f64() / typed.as_secs_f64());
    println!("{:<58} {:>14} {:>14} {:>8.2}x", "f) warm call: no listener vs an event-stream subscriber", us(warm), us(events_on), events_on.as_secs_f64() / warm.as_secs_f64());
    println!("{:<58} {:>14} {:>14} {:>8.2}x", format!("f) warm call: no telemetry vs spans over OTLP ({exports} exports)"), us(warm), us(otlp_on), otlp_on.as_secs_f64() / warm.as_secs_f64());
    println!();
}

/// Warm-call medians with a live event subscriber, then with call spans
/// exported over OTLP/HTTP to a sink on loopback; and how many exports it got.
async fn observed(host: &hostel::Host, pdf: &[u8], n: usize) -> (Duration, Duration, usize) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let mut subscription = host.subscribe();
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let drain = tokio::spawn(async move {
        while let hostel::observe::Received::Event(_) | hostel::observe::Received::Lagged(_) = subscription.recv().await {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    let events_on = timed(host, pdf, n).await;
    assert!(received.load(Ordering::Relaxed) > n, "the subscriber got the events");
    drain.abort();

    let exports = Arc::new(AtomicUsize::new(0));
    let seen = exports.clone();
    let sink = axum::Router::new().route("/v1/traces", axum::routing::post(move |_: axum::body::Bytes| {
        seen.fetch_add(1, Ordering::Relaxed);
        async { "" }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, sink).await.unwrap() });
    let config = hostel::observe::TelemetryConfig {
        otlp_endpoint: Some(format!("http://127.0.0.1:{port}")),
        export_interval: Duration::from_millis(200),
        ..Default::default()
    };
    let (layer, telemetry) = hostel::observe::telemetry::otlp_layer(&config).unwrap().unwrap();
    use tracing_subscriber::layer::SubscriberExt as _;
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).unwrap();
    let otlp_on = timed(host, pdf, n).await;
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await.unwrap();
    (events_on, otlp_on, exports.load(Ordering::Relaxed))
}

async fn timed(host: &hostel::Host, pdf: &[u8], n: usize) -> Duration {
    for _ in 0..100 {
        host.pdf_info("pdf-text", pdf).await.unwrap();
    }
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        host.pdf_info("pdf-text", pdf).await.unwrap();
        took.push(t.elapsed());
    }
    median(took)
}
