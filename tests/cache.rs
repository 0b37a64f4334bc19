//! The compiled-artifact cache: a restart deserializes instead of compiling, a
//! damaged entry is detected, recompiled and replaced, and the cache can be
//! listed and cleared over HTTP.

use hostel_tests::pdf::make_pdf;
use hostel_tests::{PluginsDir, Server};
use serde_json::Value;

async fn call(s: &Server) {
    let (status, body) = s.post_bytes("/v1/plugins/pdf-text/pdf/text", make_pdf(&["cached"], "t", "a")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pages"][0]["text"], "cached");
}

fn artifact(data: &std::path::Path) -> std::path::PathBuf {
    let files: Vec<_> = std::fs::read_dir(data.join("artifacts")).unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn restarts_load_from_the_cache_and_damage_is_recovered() {
    let plugins = PluginsDir::new();
    plugins.add("pdf-text", |m| m);
    let data = tempfile::tempdir().unwrap();

    let s = Server::start_in(&plugins, data.path(), &[], None);
    call(&s).await;
    let info = s.plugin("pdf-text").await;
    assert_eq!((info["compile_count"].as_u64(), info["from_cache"].as_bool()), (Some(1), Some(false)));
    let (_, cache) = s.get("/v1/cache").await;
    assert_eq!(cache["artifacts"]["entries"], 1, "{cache}");
    assert_eq!(cache["artifacts"]["misses"], 1);
    s.stop();

    // Restart: the first call deserializes.
    let s = Server::start_in(&plugins, data.path(), &[], None);
    call(&s).await;
    let info = s.plugin("pdf-text").await;
    assert_eq!((info["compile_count"].as_u64(), info["from_cache"].as_bool()), (Some(0), Some(true)), "{info}");
    let (_, cache) = s.get("/v1/cache").await;
    assert_eq!(cache["artifacts"]["hits"], 1, "{cache}");
    s.stop();

    // Damage the entry in the middle: detected, recompiled, replaced — never loaded.
    let path = artifact(data.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let s = Server::start_in(&plugins, data.path(), &[], None);
    call(&s).await;
    let info = s.plugin("pdf-text").await;
    assert_eq!((info["compile_count"].as_u64(), info["from_cache"].as_bool()), (Some(1), Some(false)), "{info}");
    let (_, cache) = s.get("/v1/cache").await;
    assert_eq!(cache["artifacts"]["corrupt"], 1, "{cache}");
    assert_ne!(std::fs::read(artifact(data.path())).unwrap(), bytes, "the damaged entry was replaced");

    // A truncated file is caught too.
    s.stop();
    std::fs::write(artifact(data.path()), &bytes[..100]).unwrap();
    let s = Server::start_in(&plugins, data.path(), &[], None);
    call(&s).await;
    assert_eq!(s.plugin("pdf-text").await["compile_count"], 1);

    // Clearing removes the entries; loaded plugins keep working.
    let r = s.client.delete(s.url("/v1/cache")).send().await.unwrap();
    let (status, body): (u16, Value) = hostel_tests::decode(r).await;
    assert_eq!(status, 200);
    assert_eq!(body["removed"]["entries"], 1, "{body}");
    let (_, cache) = s.get("/v1/cache").await;
    assert_eq!(cache["artifacts"]["entries"], 0);
    call(&s).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pure_calls_are_memoized_for_their_ttl() {
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| format!("{m}\n[cache]\nttl = '400ms'\npure = ['info']\n"));
    plugins.add_faulty("uncached", 0, "memory = '32MiB'");
    let s = Server::start(&plugins);
    let count = |plugin: &'static str| {
        let s = &s;
        async move { s.post_bytes(&format!("/v1/plugins/{plugin}/pdf/info"), b"count".to_vec()).await.1["page_count"].as_u64().unwrap() }
    };
    // The instance counts calls, so a memoized answer repeats the number.
    assert_eq!(count("faulty").await, 1);
    assert_eq!(count("faulty").await, 1);
    assert_eq!(count("faulty").await, 1);
    assert_eq!((count("uncached").await, count("uncached").await), (1, 2), "no [cache]: every call runs");
    let (_, cache) = s.get("/v1/cache").await;
    assert_eq!(cache["results"]["hits"], 2, "{cache}");
    // Other arguments are another entry.
    let (_, body) = s.post_bytes("/v1/plugins/faulty/pdf/info", b"echo".to_vec()).await;
    assert_eq!(body["title"], "echo");
    // After the ttl the call runs again (on the same warm instance: its third real call).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(count("faulty").await, 3);
    // A reload never serves results of the previous load.
    s.post_json("/v1/plugins/faulty/unload", &serde_json::json!({})).await;
    assert_eq!(count("faulty").await, 1);
}

/// `artifact_format = "zstd"`: a fresh compile is read back in the cache's
/// format (decoded, not mapped as if raw), and a restart loads it.
#[tokio::test(flavor = "multi_thread")]
async fn zstd_artifacts_serve_the_first_call_and_the_restart() {
    let plugins = PluginsDir::new();
    plugins.add("pdf-text", |m| m);
    let data = tempfile::tempdir().unwrap();
    let config = plugins.config("artifact_format = \"zstd\"\n");
    let s = Server::start_in(&plugins, data.path(), &["--config", &config], None);
    call(&s).await;
    let bytes = std::fs::read(artifact(data.path())).unwrap();
    assert_eq!(&bytes[..4], &[0x28, 0xb5, 0x2f, 0xfd], "stored zstd-compressed");
    s.stop();
    let s = Server::start_in(&plugins, data.path(), &["--config", &config], None);
    call(&s).await;
    assert_eq!(s.plugin("pdf-text").await["from_cache"], true);
}
