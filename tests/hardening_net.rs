//! Connection limits and timeouts (`[http]`) and `auth = "all"`, on the real
//! binary over loopback with raw TCP clients: silent, idle, trickling and
//! excess connections are closed or refused in bounded time, and `/healthz`
//! keeps answering.

use hostel_tests::{error_message, PluginsDir, Server};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n";

async fn connect(s: &Server) -> TcpStream {
    TcpStream::connect(s.base.trim_start_matches("http://")).await.unwrap()
}

/// Reads until the peer closes (EOF or reset), for at most `max`: what came, and when it closed.
async fn until_closed(stream: &mut TcpStream, max: Duration) -> (String, Option<Duration>) {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = max.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), None),
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), Some(start.elapsed())),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads one whole response (head and a `content-length` body) off a kept-alive connection.
async fn response(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap()))
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return text;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.expect("a response").unwrap();
        assert!(n > 0, "closed before a whole response: {text:?}");
        got.extend_from_slice(&buf[..n]);
    }
}

/// A connection that asked for /healthz once and is now kept alive.
async fn kept_alive(s: &Server) -> TcpStream {
    let mut c = connect(s).await;
    c.write_all(HEALTHZ).await.unwrap();
    let r = response(&mut c).await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    c
}

/// `/healthz` on a fresh connection: its answer and how long it took.
async fn healthz_fresh(s: &Server) -> (String, Duration) {
    let start = Instant::now();
    let mut c = connect(s).await;
    c.write_all(HEALTHZ).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(2), response(&mut c)).await.unwrap_or_default();
    (r, start.elapsed())
}

fn within(d: Duration, lo: f64, hi: f64, what: &str) {
    let secs = d.as_secs_f64();
    assert!((lo..=hi).contains(&secs), "{what}: closed after {secs:.2} s, expected {lo}–{hi} s");
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_connections_close_after_the_idle_timeout_and_silent_ones_after_the_header_timeout() {
    let plugins = PluginsDir::new();
    let cfg = plugins.config("[http]\nheader_timeout = '3s'\nidle_timeout = '1s'\n");
    let s = Server::start_with(&plugins, &["--config", &cfg]);
    // Ten kept-alive connections, each idle after one request, and five that never send a byte.
    let idle = (0..10).map(|_| async {
        let mut c = kept_alive(&s).await;
        until_closed(&mut c, Duration::from_secs(6)).await
    });
    let silent = (0..5).map(|_| async {
        let mut c = connect(&s).await;
        until_closed(&mut c, Duration::from_secs(6)).await
    });
    let (idle, silent) = tokio::join!(futures::future::join_all(idle), futures::future::join_all(silent));
    for (i, (got, closed)) in idle.iter().enumerate() {
        let closed = closed.unwrap_or_else(|| panic!("kept-alive connection {i} still open after 6 s"));
        assert!(got.is_empty(), "nothing more is sent: {got:?}");
        within(closed, 0.8, 2.0, "an idle kept-alive connection (idle_timeout 1 s, header_timeout 3 s)");
    }
    for (got, closed) in &silent {
        let closed = closed.expect("a silent connection is closed");
        assert!(got.is_empty(), "{got:?}");
        within(closed, 2.5, 4.5, "a connection that never sent a byte (header_timeout 3 s)");
    }
    println!("idle kept-alive closed after {:.2} s; silent closed after {:.2} s", idle[0].1.unwrap().as_secs_f64(), silent[0].1.unwrap().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_headers_are_cut_after_the_header_timeout_while_healthz_answers() {
    let plugins = PluginsDir::new();
    let cfg = plugins.config("[http]\nheader_timeout = '1s'\nidle_timeout = '10s'\n");
    let s = &Server::start_with(&plugins, &["--config", &cfg]);
    // Slow loris: a request line, then one header line every 200 ms, never the blank line.
    let loris = (0..10).map(|i| async move {
        let mut c = connect(s).await;
        let start = Instant::now();
        c.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        let mut buf = [0u8; 1024];
        let mut got = Vec::new();
        while start.elapsed() < Duration::from_secs(5) {
            match tokio::time::timeout(Duration::from_millis(200), c.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), Some(start.elapsed())),
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Err(_) => {
                    if c.write_all(format!("x-slow-{i}: a\r\n").as_bytes()).await.is_err() {
                        return (String::from_utf8_lossy(&got).into_owned(), Some(start.elapsed()));
                    }
                }
            }
        }
        (String::from_utf8_lossy(&got).into_owned(), None)
    });
    let health = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        healthz_fresh(s).await
    };
    // A kept-alive connection outlives the header timeout while idle, then
    // gets header_timeout from the first byte of its next request.
    let kept = async {
        let mut c = kept_alive(s).await;
        let mut buf = [0u8; 16];
        let early = tokio::time::timeout(Duration::from_millis(1500), c.read(&mut buf)).await;
        assert!(early.is_err(), "an idle kept-alive connection was closed before idle_timeout (10 s): {early:?}");
        c.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        until_closed(&mut c, Duration::from_secs(4)).await
    };
    let (loris, (health, took), kept) = tokio::join!(futures::future::join_all(loris), health, kept);
    assert!(health.starts_with("HTTP/1.1 200"), "healthz beside 10 slow clients: {health:?}");
    assert!(took < Duration::from_millis(500), "healthz took {took:?} beside 10 slow clients");
    for (got, closed) in &loris {
        let closed = closed.expect("a slow-header connection is closed within 5 s");
        assert!(!got.contains("200 OK"), "a head that never ended was answered: {got:?}");
        within(closed, 0.8, 2.0, "a trickled head (header_timeout 1 s)");
    }
    let closed = kept.1.expect("a kept-alive connection's unfinished head is cut");
    within(closed, 0.8, 2.0, "a kept-alive connection's unfinished next head");
    println!("trickled heads closed after {:.2} s; healthz took {took:?}", loris[0].1.unwrap().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_bodies_are_answered_408_within_the_body_timeout() {
    let plugins = PluginsDir::new();
    let cfg = plugins.config("[http]\nbody_timeout = '1s'\nheader_timeout = '5s'\nidle_timeout = '5s'\n");
    let s = Server::start_with(&plugins, &["--config", &cfg]);
    // Bodies that declare 1 MB and send a byte every 200 ms.
    let slow = (0..5).map(|_| async {
        let mut c = connect(&s).await;
        let head = "POST /v1/batch HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n{";
        c.write_all(head.as_bytes()).await.unwrap();
        let start = Instant::now();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while start.elapsed() < Duration::from_secs(5) {
            match tokio::time::timeout(Duration::from_millis(200), c.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Err(_) => {
                    let _ = c.write_all(b" ").await;
                }
            }
        }
        (String::from_utf8_lossy(&got).into_owned(), start.elapsed())
    });
    let health = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        healthz_fresh(&s).await
    };
    let (slow, (health, took)) = tokio::join!(futures::future::join_all(slow), health);
    assert!(health.starts_with("HTTP/1.1 200") && took < Duration::from_millis(500), "healthz beside slow bodies: {took:?} {health:?}");
    for (got, ended) in &slow {
        assert!(got.starts_with("HTTP/1.1 408"), "a trickled body: {got:?}");
        assert!(got.to_ascii_lowercase().contains("connection: close"), "{got}");
        let body: Value = serde_json::from_str(got.split_once("\r\n\r\n").unwrap().1).unwrap();
        assert!(error_message(&body, "request_timeout").contains("http.body_timeout"), "{body}");
        within(*ended, 0.8, 2.5, "a trickled body answered and closed (body_timeout 1 s)");
    }
    println!("trickled bodies answered 408 and closed after {:.2} s", slow[0].1.as_secs_f64());

    // A body that arrives in time is served; a wrong content type is a JSON 415.
    let (status, body) = s.post_json("/v1/batch", &json!({"items": [{"plugin": "nope", "export": "x", "args": {}}]})).await;
    assert_eq!(status, 200, "{body}");
    let r = s.client.post(s.url("/v1/batch")).header("content-type", "text/plain").body("{}").send().await.unwrap();
    let (status, body) = hostel_tests::decode(r).await;
    assert_eq!(status, 415, "{body}");
    assert!(error_message(&body, "unsupported_media_type").contains("application/json"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_over_max_connections_are_refused_and_healthz_answers_once_under() {
    let plugins = PluginsDir::new();
    let cfg = plugins.config("[http]\nmax_connections = 8\nheader_timeout = '10s'\nidle_timeout = '10s'\n");
    let s = Server::start_with(&plugins, &["--config", &cfg]);
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(kept_alive(&s).await);
    }
    // Four more: answered 503 at once and closed, before they send anything.
    for i in 0..4 {
        let mut c = connect(&s).await;
        let (got, closed) = until_closed(&mut c, Duration::from_secs(2)).await;
        let closed = closed.unwrap_or_else(|| panic!("excess connection {i} was kept open (queued?): {got:?}"));
        assert!(closed < Duration::from_millis(500), "refused after {closed:?}");
        assert!(got.starts_with("HTTP/1.1 503"), "{got:?}");
        let body: Value = serde_json::from_str(got.split_once("\r\n\r\n").unwrap().1).unwrap();
        assert!(error_message(&body, "too_many_connections").contains("max_connections"), "{body}");
    }
    // The connections already open are still served.
    held[0].write_all(HEALTHZ).await.unwrap();
    assert!(response(&mut held[0]).await.starts_with("HTTP/1.1 200"));

    // One closes: a fresh /healthz gets its slot.
    drop(held.pop());
    let dropped = Instant::now();
    let (answer, took) = loop {
        let (r, took) = healthz_fresh(&s).await;
        if r.starts_with("HTTP/1.1 200") || dropped.elapsed() > Duration::from_secs(2) {
            break (r, took);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(answer.starts_with("HTTP/1.1 200"), "no slot 2 s after a connection closed: {answer:?}");
    assert!(took < Duration::from_millis(200), "healthz took {took:?}");
    println!("under the limit again after {:?}; healthz took {took:?}", dropped.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_all_needs_the_token_on_invoke_and_batch_but_not_on_health() {
    let plugins = PluginsDir::new();
    plugins.add("faulty", |m| m);
    let cfg = plugins.config("auth = 'all'\ntoken = 's3cret'\n");
    let s = Server::start_with(&plugins, &["--config", &cfg]);
    let batch = json!({"items": [{"plugin": "faulty", "export": "info", "args": {"document": "ZWNobw=="}}]});
    let calls = |token: Option<&'static str>| {
        let req = |m: &str, p: &str| {
            let r = s.client.request(m.parse().unwrap(), s.url(p));
            match token {
                Some(t) => r.bearer_auth(t),
                None => r,
            }
        };
        [
            req("POST", "/v1/plugins/faulty/pdf/info").body("echo"),
            req("POST", "/v1/batch").json(&batch),
            req("GET", "/v1/plugins/faulty/exports"),
            req("GET", "/v1/plugins"),
            req("GET", "/v1/plugins/faulty"),
            req("GET", "/metrics"),
        ]
    };
    for token in [None, Some("wrong")] {
        for r in calls(token) {
            let r = r.send().await.unwrap();
            let url = r.url().path().to_string();
            assert_eq!(r.headers().get("www-authenticate").map(|v| v.to_str().unwrap()), Some("Bearer"), "{url}");
            let (status, body) = hostel_tests::decode(r).await;
            assert_eq!(status, 401, "{url} with {token:?}: {body}");
            error_message(&body, "unauthorized");
        }
    }
    for r in calls(Some("s3cret")) {
        let r = r.send().await.unwrap();
        let url = r.url().path().to_string();
        let (status, body) = hostel_tests::decode(r).await;
        assert_eq!(status, 200, "{url} with the token: {body}");
        if url == "/v1/batch" {
            assert!(body["results"][0]["result"].is_object() || body.to_string().contains("echo"), "{body}");
        }
    }
    for path in ["/healthz", "/readyz", "/", "/openapi.json"] {
        assert_eq!(s.client.get(s.url(path)).send().await.unwrap().status(), 200, "{path} stays open");
    }

    // auth = "all" with no token anywhere would leave every route open: refused at start.
    let data = tempfile::tempdir().unwrap();
    let lone = plugins.config("auth = 'all'\n");
    let out = std::process::Command::new(hostel_tests::binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--config", &lone])
        .arg("--plugins-dir")
        .arg(plugins.path())
        .arg("--data-dir")
        .arg(data.path())
        .env_remove("HOSTEL_TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("needs a token"), "{:?}: {err}", out.status);
}
