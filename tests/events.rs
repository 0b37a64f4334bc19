//! Live events (`GET /v1/events`): what a test does shows up in order —
//! the load, the calls, the level rising, the eviction with its reason, the
//! level falling — and a client that stops reading is dropped with a final
//! `dropped` message while the host's calls go on.

use hostel_tests::{PluginsDir, Server};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn faulty(s: &Server, plugin: &str, command: &str) -> (u16, Value) {
    s.post_bytes(&format!("/v1/plugins/{plugin}/pdf/info"), command.as_bytes().to_vec()).await
}

/// Events until `done` accepts the list (at most `secs`).
async fn collect(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Value>, secs: u64, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut seen = Vec::new();
    while !done(&seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(e)) => seen.push(e),
            _ => panic!("events so far: {}", serde_json::to_string_pretty(&seen).unwrap()),
        }
    }
    seen
}

fn position(events: &[Value], label: &str, what: impl Fn(&Value) -> bool) -> usize {
    events.iter().position(what).unwrap_or_else(|| panic!("{label} not in {}", serde_json::to_string(events).unwrap()))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stream_shows_loads_calls_an_eviction_with_its_reason_and_level_changes_in_order() {
    let plugins = PluginsDir::new();
    let limits = "memory = '32MiB'\nmemory_estimate = '1MiB'";
    plugins.add_faulty("top", 10, limits).add_faulty("low-a", 0, limits).add_faulty("low-b", 0, limits);
    let config = plugins.config("[memory]\nbudget = '64MiB'\nmin_idle = '0s'\ncheck_interval = '50ms'\nsample_interval = '100ms'\n");
    let s = Server::start_with(&plugins, &["--config", &config]);
    let mut rx = s.events("").await;
    let mut calls_only = s.events("types=call&plugin=low-a").await;

    for plugin in ["top", "low-b", "low-a"] {
        let (status, body) = faulty(&s, plugin, "alloc:16384").await;
        assert_eq!(status, 200, "{plugin}: {body}");
    }
    let events = collect(&mut rx, 20, |seen| {
        let evicted = seen.iter().any(|e| e["type"] == "instance" && e["action"] == "evicted");
        let memory = seen.iter().filter(|e| e["type"] == "memory").count() >= 2;
        let rose = seen.iter().position(|e| e["type"] == "pressure" && (e["to"] == "high" || e["to"] == "critical"));
        let fell = rose.is_some_and(|r| seen[r..].iter().any(|e| e["type"] == "pressure" && e["to"] == "low"));
        evicted && memory && fell
    })
    .await;
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "no gaps for a client that keeps up: {seqs:?}");

    let loaded = position(&events, "loaded", |e| e["type"] == "plugin" && e["plugin"] == "top" && e["action"] == "loaded");
    let created = position(&events, "created", |e| e["type"] == "instance" && e["plugin"] == "top" && e["action"] == "created");
    let call = position(&events, "call", |e| e["type"] == "call" && e["plugin"] == "top");
    assert!(loaded < created && created < call, "load, instance, call: {loaded} {created} {call}");
    let c = &events[call];
    assert_eq!((c["export"].as_str(), c["outcome"].as_str(), c["warm"].as_bool()), (Some("info"), Some("ok"), Some(false)), "{c}");
    assert!(c["ms"].as_f64().unwrap() > 0.0);
    let compiled = position(&events, "compiled", |e| e["type"] == "compile" && e["phase"] == "finished");
    assert_eq!(events[compiled]["ok"], true);
    assert!(compiled < loaded);

    let rose = position(&events, "rose", |e| e["type"] == "pressure" && (e["to"] == "high" || e["to"] == "critical"));
    let evicted = position(&events, "evicted", |e| e["type"] == "instance" && e["action"] == "evicted");
    let fell = rose + position(&events[rose..], "fell", |e| e["type"] == "pressure" && e["to"] == "low");
    assert!(rose < evicted && evicted < fell, "rise, eviction, fall: {rose} {evicted} {fell}");
    let e = &events[evicted];
    // Priority first: low-b (priority 0, least recently used of the two) goes.
    assert_eq!((e["plugin"].as_str(), e["reason"].as_str()), (Some("low-b"), Some("pressure")), "{e}");
    assert!(e["bytes"].as_u64().unwrap() >= 16 << 20, "{e}");
    assert!(events.iter().any(|e| e["type"] == "memory" && e["budget"] == 64u64 << 20 && e["level"].is_string()));

    // The filtered stream got low-a's call and nothing else.
    let only = collect(&mut calls_only, 5, |seen| !seen.is_empty()).await;
    assert_eq!((only[0]["type"].as_str(), only[0]["plugin"].as_str()), (Some("call"), Some("low-a")));
    assert!(tokio::time::timeout(Duration::from_millis(300), calls_only.recv()).await.is_err(), "nothing else passes the filter");

    let (status, body) = s.get("/v1/events?types=call,bogus").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("\"bogus\""), "{body}");
    s.stop(); // an open stream does not hold up a graceful shutdown
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_is_dropped_and_calls_go_on() {
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| m);
    let config = plugins.config("[events]\nbuffer = 64\n");
    let s = Server::start_with(&plugins, &["--config", &config]);
    assert_eq!(faulty(&s, "faulty", "echo").await.0, 200);

    // A client with a tiny receive window that reads the head and then stops.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let addr = s.base.trim_start_matches("http://").parse().unwrap();
    let mut stuck = socket.connect(addr).await.unwrap();
    stuck.write_all(b"GET /v1/events HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&head).contains("subscribed") {
        let n = tokio::time::timeout(Duration::from_secs(10), stuck.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "stream closed early");
        head.extend_from_slice(&buf[..n]);
    }

    // Tens of thousands of events (a call and a reuse each; ~10 MB of SSE,
    // more than the sockets' buffers take) while it does not read: every
    // batch finishes promptly, the host never waits for the client.
    let item = serde_json::json!({"plugin": "faulty", "export": "info", "args": {"document": "ZWNobw=="}});
    let batch = serde_json::json!({"items": vec![item; 1000], "concurrency": 8});
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for _ in 0..30 {
        let t = Instant::now();
        let (status, body) = s.post_json("/v1/batch", &batch).await;
        assert_eq!(status, 200);
        assert!(body["results"].as_array().unwrap().iter().all(|r| r["ok"] == true), "{body}");
        slowest = slowest.max(t.elapsed());
    }
    assert!(slowest < Duration::from_secs(20), "a batch of 1000 calls took {slowest:?} behind a client that does not read");
    assert!(started.elapsed() < Duration::from_secs(180));

    // Reading again: what was buffered, then the final word, then the end.
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stuck.read_to_end(&mut rest)).await.expect("the stream ends").unwrap();
    let text = String::from_utf8_lossy(&rest);
    let last = text.lines().filter_map(|l| l.strip_prefix("data: ")).last().expect("data lines");
    let last: Value = serde_json::from_str(last).unwrap();
    assert_eq!(last["type"], "dropped", "{last}");
    assert!(last["missed"].as_u64().unwrap() > 0);
    assert!(last["message"].as_str().unwrap().contains("64 events behind"), "{last}");

    // The host serves on, and a new subscriber gets events again.
    let mut fresh = s.events("types=call").await;
    assert_eq!(faulty(&s, "faulty", "echo").await.0, 200);
    let got = collect(&mut fresh, 5, |seen| !seen.is_empty()).await;
    assert_eq!(got[0]["warm"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn hostel_watch_prints_one_line_per_event() {
    use std::io::{BufRead, BufReader};
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| m);
    let s = Server::start_with(&plugins, &["--token", "w"]);
    let mut watch = std::process::Command::new(hostel_tests::binary())
        .args(["watch", "--types", "call,instance", "--url", &s.base, "--token", "w"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let first = tokio::task::block_in_place(|| lines.next().unwrap().unwrap());
    assert!(first.contains("watching (buffer 4096 events)"), "{first}");
    assert_eq!(faulty(&s, "faulty", "echo").await.0, 200);
    let (created, call) = tokio::task::block_in_place(|| (lines.next().unwrap().unwrap(), lines.next().unwrap().unwrap()));
    assert!(created.contains("instance faulty #") && created.contains(" created "), "{created}");
    assert!(call.contains("call     faulty/info ok") && call.ends_with(" cold"), "{call}");
    let _ = watch.kill();
    let _ = watch.wait();

    // A wrong token is refused with the API's error, and the command fails.
    let out = std::process::Command::new(hostel_tests::binary()).args(["watch", "--url", &s.base, "--token", "nope"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401 Unauthorized: unauthorized"), "{}", String::from_utf8_lossy(&out.stderr));
}
