//! Crash consistency: kill -9 the host in the middle of uploads and of heavy
//! history writes, restart it on the same data dir, and check that nothing is
//! half-registered, every acknowledged upload is there, no stray component
//! file is left, and SQLite's integrity check passes.

use hostel_tests::{plugin_source, PluginsDir, Server};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn integrity(data: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(data.join("hostel.db")).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0)).unwrap()
}

fn manifest(name: &str) -> String {
    format!("name = '{name}'\nversion = '1'\nkind = 'connector'\n[limits]\nmemory = '16MiB'\n")
}

async fn upload(s: &Server, name: &str) -> Result<u16, reqwest::Error> {
    let wasm = std::fs::read(plugin_source("hello-connector").join("hello-connector.wasm")).unwrap();
    let form = reqwest::multipart::Form::new()
        .text("manifest", manifest(name))
        .part("component", reqwest::multipart::Part::bytes(wasm).file_name("c.wasm"));
    s.client.post(s.url("/v1/plugins")).multipart(form).send().await.map(|r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_during_uploads_leaves_only_whole_plugins() {
    let plugins = PluginsDir::new();
    let data = tempfile::tempdir().unwrap();
    for round in 0..3u64 {
        let s = Arc::new(Server::start_in(&plugins, data.path(), &[], None));
        // One upload acknowledged before the kill, others cut off at various points.
        let acked = format!("acked-{round}");
        assert_eq!(upload(&s, &acked).await.unwrap(), 201);
        let inflight: Vec<_> = (0..4)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move { upload(&s, &format!("cut-{round}-{i}")).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20 + 40 * round)).await;
        s.kill9();
        let mut answered = Vec::new();
        for (i, t) in inflight.into_iter().enumerate() {
            if let Ok(Ok(201)) = t.await {
                answered.push(format!("cut-{round}-{i}"));
            }
        }
        let s = Server::start_in(&plugins, data.path(), &[], None);
        let (_, list) = s.get("/v1/plugins").await;
        let names: Vec<String> = list["plugins"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect();
        for r in 0..=round {
            assert!(names.contains(&format!("acked-{r}")), "acknowledged upload acked-{r} lost: {names:?}");
        }
        for name in &answered {
            assert!(names.contains(name), "acknowledged upload {name} lost: {names:?}");
        }
        // Whatever is registered is whole: it answers.
        for name in &names {
            let (status, body) = s.post_json(&format!("/v1/plugins/{name}/connector/call"), &json!({"operation": "echo", "args": {}})).await;
            assert_eq!(status, 200, "{name}: {body}");
        }
        assert_eq!(list["rejected"].as_array().unwrap().len(), 0, "{list}");
        // No component file without a plugin (all uploads share one component here).
        let files: Vec<_> = std::fs::read_dir(data.path().join("components")).unwrap().flatten().collect();
        assert_eq!(files.len(), 1, "{files:?}");
        drop(s);
        assert_eq!(integrity(data.path()), "ok");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_during_heavy_history_writes_keeps_the_database_whole() {
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| m);
    let data = tempfile::tempdir().unwrap();
    let s = Arc::new(Server::start_in(&plugins, data.path(), &[], None));
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                for _ in 0..100_000 {
                    if s.client.post(s.url("/v1/plugins/faulty/pdf/info")).body("echo").send().await.is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    // Let thousands of invocation rows and memory samples flow, then kill mid-stream.
    s.wait_for("/v1/invocations?page_size=1", 30, |b| b["total"].as_u64().unwrap_or(0) > 2000).await;
    s.kill9();
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(integrity(data.path()), "ok");
    let s = Server::start_in(&plugins, data.path(), &[], None);
    let (status, page) = s.get("/v1/invocations?page_size=1").await;
    assert_eq!(status, 200);
    assert!(page["total"].as_u64().unwrap() > 2000, "{page}");
    assert_eq!(s.post_bytes("/v1/plugins/faulty/pdf/info", b"echo".to_vec()).await.0, 200);
}

/// Overwrites the file's 4 KiB pages between fractions `from` and `to` of its length.
fn damage(db: &std::path::Path, from: f64, to: f64) {
    use std::io::{Seek, SeekFrom, Write};
    let len = std::fs::metadata(db).unwrap().len();
    let pages = len / 4096;
    let mut f = std::fs::OpenOptions::new().write(true).open(db).unwrap();
    for page in ((pages as f64 * from) as u64)..((pages as f64 * to) as u64) {
        f.seek(SeekFrom::Start(page * 4096)).unwrap();
        f.write_all(&[0xA5; 4096]).unwrap();
    }
    f.sync_all().unwrap();
}

async fn hello(s: &Server) -> (u16, serde_json::Value) {
    s.post_json("/v1/plugins/hello-connector/connector/call", &json!({"operation": "echo", "args": {"x": 1}})).await
}

fn damaged_files(data: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.contains(".damaged-") && !n.ends_with("-wal") && !n.ends_with("-shm")).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_database_is_moved_aside_and_the_host_comes_up() {
    let plugins = PluginsDir::new();
    plugins.add("hello-connector", |m| m);
    let data = tempfile::tempdir().unwrap();
    let db = data.path().join("hostel.db");

    // 1. History pages damaged: the host starts afresh and carries the upload over.
    let s = Server::start_in(&plugins, data.path(), &[], None);
    assert_eq!(upload(&s, "kept").await.unwrap(), 201);
    for _ in 0..1500 {
        assert_eq!(hello(&s).await.0, 200);
    }
    s.stop();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    drop(conn);
    damage(&db, 0.5, 0.9);
    let s = Server::start_in(&plugins, data.path(), &[], None);
    assert_eq!(s.get("/readyz").await.0, 200);
    assert_eq!(damaged_files(data.path()).len(), 1, "{:?}", damaged_files(data.path()));
    let (status, body) = s.post_json("/v1/plugins/kept/connector/call", &json!({"operation": "echo", "args": {"y": 2}})).await;
    assert_eq!((status, &body["result"]["y"]), (200, &json!(2)), "the salvaged upload answers: {body}");
    assert_eq!(hello(&s).await.0, 200);
    s.stop();
    assert_eq!(integrity(data.path()), "ok");

    // 2. Not a database at all: the upload's row is gone, its component is kept beside the damaged file.
    std::fs::write(&db, vec![0x5A; 64 * 1024]).unwrap();
    let s = Server::start_in(&plugins, data.path(), &[], None);
    assert_eq!(s.get("/readyz").await.0, 200);
    assert_eq!(hello(&s).await.0, 200, "plugins-dir plugins keep serving");
    assert_eq!(s.get("/v1/plugins/kept").await.0, 404);
    let damaged = damaged_files(data.path());
    let kept = damaged.iter().find(|n| n.ends_with(".components")).unwrap_or_else(|| panic!("components not kept: {damaged:?}"));
    assert_eq!(std::fs::read_dir(data.path().join(kept)).unwrap().count(), 1);
    s.stop();

    // 3. No crash loop: the next start is an ordinary one.
    let s = Server::start_in(&plugins, data.path(), &[], None);
    assert_eq!(s.get("/readyz").await.0, 200);
    assert_eq!(damaged_files(data.path()), damaged, "nothing new was moved aside");
    assert_eq!(upload(&s, "again").await.unwrap(), 201);
    s.stop();
    assert_eq!(integrity(data.path()), "ok");

    // 4. Truncated to nothing (SQLite sees a new file): the rows are gone, so the components
    //    are moved aside as lost, never swept as strays.
    std::fs::write(&db, b"").unwrap();
    for wal in ["hostel.db-wal", "hostel.db-shm"] {
        let _ = std::fs::remove_file(data.path().join(wal));
    }
    let s = Server::start_in(&plugins, data.path(), &[], None);
    assert_eq!(s.get("/readyz").await.0, 200);
    assert_eq!(s.get("/v1/plugins/again").await.0, 404);
    let lost: Vec<_> = std::fs::read_dir(data.path()).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().starts_with("components.lost-")).collect();
    assert_eq!(lost.len(), 1);
    assert_eq!(std::fs::read_dir(lost[0].path()).unwrap().count(), 1, "the upload's component was kept");
    s.stop();
}
