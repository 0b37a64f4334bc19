//! Connectors' outbound HTTP through each plugin's pooled client, against
//! upstream servers on loopback that count what they see: TCP accepts, TLS
//! handshakes, connections open now, and the client address and HTTP version
//! of every request.

use bytes::Bytes;
use hostel_tests::{error_message, PluginsDir, Server};
use http_body_util::Full;
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// How an upstream answers.
#[derive(Clone)]
enum Answer {
    /// `{}` (what a ping wants) after a delay.
    Json(Duration),
    /// Takes the connection and never sends a byte (not even a TLS hello).
    Silent,
    /// A 302 to this URL.
    Redirect(String),
}

#[derive(Default)]
struct Seen {
    accepts: AtomicUsize,
    handshakes: AtomicUsize,
    open: AtomicUsize,
    requests: Mutex<Vec<(SocketAddr, Version)>>,
}

struct Upstream {
    addr: SocketAddr,
    seen: Arc<Seen>,
}

impl Upstream {
    fn accepts(&self) -> usize {
        self.seen.accepts.load(SeqCst)
    }
    fn handshakes(&self) -> usize {
        self.seen.handshakes.load(SeqCst)
    }
    fn open(&self) -> usize {
        self.seen.open.load(SeqCst)
    }
    fn requests(&self) -> Vec<(SocketAddr, Version)> {
        self.seen.requests.lock().unwrap().clone()
    }
    /// Waits (at most 5 s) until `n` connections are open.
    async fn wait_open(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.open() != n {
            assert!(Instant::now() < deadline, "{} connections open, expected {n}", self.open());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Counts a connection as open until dropped.
struct Open(Arc<Seen>);
impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, SeqCst);
    }
}

/// An HTTP (or, with `tls`, HTTPS) server on 127.0.0.1, HTTP/1.1 and HTTP/2.
async fn upstream(tls: Option<Arc<rustls::ServerConfig>>, answer: Answer) -> Upstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let counts = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, peer)) = listener.accept().await {
            counts.accepts.fetch_add(1, SeqCst);
            counts.open.fetch_add(1, SeqCst);
            let (seen, tls, answer) = (counts.clone(), tls.clone(), answer.clone());
            tokio::spawn(async move {
                let _open = Open(seen.clone());
                if let Answer::Silent = answer {
                    let mut buf = [0u8; 4096];
                    while tcp.read(&mut buf).await.is_ok_and(|n| n > 0) {}
                    return;
                }
                match tls {
                    Some(config) => {
                        let Ok(stream) = tokio_rustls::TlsAcceptor::from(config).accept(tcp).await else { return };
                        seen.handshakes.fetch_add(1, SeqCst);
                        serve(TokioIo::new(stream), peer, seen.clone(), answer).await
                    }
                    None => serve(TokioIo::new(tcp), peer, seen.clone(), answer).await,
                }
            });
        }
    });
    Upstream { addr, seen }
}

async fn serve<I>(io: I, peer: SocketAddr, seen: Arc<Seen>, answer: Answer)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let (seen, answer) = (seen.clone(), answer.clone());
        async move {
            seen.requests.lock().unwrap().push((peer, req.version()));
            let builder = Response::builder().header("content-type", "application/json");
            let response = match answer {
                Answer::Json(delay) => {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    builder.body(Full::new(Bytes::from_static(b"{}")))
                }
                Answer::Redirect(to) => builder.status(StatusCode::FOUND).header("location", to).body(Full::new(Bytes::from_static(b"{}"))),
                Answer::Silent => unreachable!(),
            };
            Ok::<_, std::convert::Infallible>(response.unwrap())
        }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).serve_connection(io, service).await;
}

/// A test CA and a certificate for 127.0.0.1 signed by it.
struct Pki {
    ca_pem: String,
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
}

impl Pki {
    fn new() -> Pki {
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
        ca.distinguished_name.push(rcgen::DnType::CommonName, "hostel test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().unwrap()).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().signed_by(&key, &ca).unwrap();
        Pki {
            ca_pem: ca.pem(),
            chain: vec![leaf.der().clone(), ca.der().clone()],
            key: rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        }
    }

    /// A server config offering these ALPN protocols.
    fn server(&self, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .unwrap();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

/// A copy of market-connector named `name` that talks to `base_url` and may reach `allowed`.
fn add(plugins: &PluginsDir, name: &str, base_url: &str, allowed: &str, extra: &str) {
    let (base_url, allowed, extra) = (base_url.to_string(), allowed.to_string(), extra.to_string());
    plugins.add_copy("market-connector", name, false, move |m| {
        let m = m
            .replace("allowed_hosts = [\"api.binance.com\"]", &format!("allowed_hosts = [\"{allowed}\"]"))
            .replace("base_url = \"https://api.binance.com\"", &format!("base_url = \"{base_url}\""));
        format!("{m}\n{extra}\n")
    });
}

async fn ping(s: &Server, plugin: &str) -> (u16, Value) {
    s.post_json(&format!("/v1/plugins/{plugin}/connector/call"), &json!({"operation": "ping"})).await
}

/// The plugin's `outbound` figures from `/v1/admin/pools`.
async fn outbound(s: &Server, plugin: &str) -> Value {
    let (status, body) = s.get("/v1/admin/pools").await;
    assert_eq!(status, 200, "{body}");
    body["pools"].as_array().unwrap().iter().find(|p| p["plugin"] == plugin).expect("plugin in pools")["outbound"].clone()
}

/// What the ledger charges the plugin for its open connections.
async fn charged(s: &Server, plugin: &str) -> u64 {
    let (_, memory) = s.get("/v1/admin/memory").await;
    memory["plugins"].as_array().unwrap().iter().find(|p| p["name"] == plugin).unwrap()["outbound_bytes"].as_u64().unwrap()
}

async fn unload(s: &Server, plugin: &str) {
    let (status, body) = s.post_json(&format!("/v1/plugins/{plugin}/unload"), &json!({})).await;
    assert_eq!(status, 200, "{body}");
}

const CHARGE: u64 = 128 << 10;

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_calls_open_one_connection() {
    let up = upstream(None, Answer::Json(Duration::ZERO)).await;
    let plugins = PluginsDir::new();
    // Every instance is recycled after one call: the pool lives in the plugin, not the instance.
    add(&plugins, "alpha", &format!("http://{}", up.addr), &up.addr.to_string(), "[pool]\nmax_uses = 1");
    let s = Server::start(&plugins);
    for i in 0..100 {
        let (status, body) = ping(&s, "alpha").await;
        assert_eq!(status, 200, "call {i}: {body}");
    }
    assert_eq!(up.accepts(), 1, "100 sequential calls, one TCP connection");
    assert_eq!(up.requests().len(), 100);
    assert!(up.requests().iter().all(|r| r.1 == Version::HTTP_11));
    assert_eq!(s.plugin("alpha").await["instances_created"], 100, "each call had a fresh instance");

    let o = outbound(&s, "alpha").await;
    assert_eq!((&o["opened"], &o["new"], &o["reused"]), (&json!(1), &json!(1), &json!(99)), "{o}");
    assert_eq!((&o["open"], &o["idle"], &o["in_flight"]), (&json!(1), &json!(1), &json!(0)), "{o}");
    assert_eq!(o["requests"], json!({"200": 100}));
    assert_eq!(o["charged_bytes"], CHARGE);
    assert_eq!(charged(&s, "alpha").await, CHARGE, "the open connection is charged in the ledger");

    let text = s.client.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let node = s.get("/v1/admin/catalogue").await.1["node"].as_str().unwrap().to_string();
    for line in [
        r#"hostel_outbound_connection_requests_total{plugin="alpha",state="reused"} 99"#,
        r#"hostel_outbound_connection_requests_total{plugin="alpha",state="new"} 1"#,
        r#"hostel_outbound_requests_total{plugin="alpha",status="200"} 100"#,
        r#"hostel_outbound_connections{plugin="alpha",state="idle"} 1"#,
        r#"hostel_outbound_handshake_seconds_count{plugin="alpha"} 1"#,
    ] {
        // Every series also carries this node's name (the host name by default).
        assert!(text.lines().any(|l| l.replacen(&format!("node={node:?},"), "", 1) == line), "{line} not in:\n{text}");
    }

    // So do `hostel pools` and the dashboard.
    let out = std::process::Command::new(hostel_tests::binary()).arg("pools").env("HOSTEL_URL", &s.base).output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && table.contains("outbound HTTP") && table.contains("200: 100"), "{table}");
    let url = s.url("/");
    let html = tokio::task::block_in_place(|| {
        let profile = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("chromium")
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                   "--virtual-time-budget=5000", "--dump-dom"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(&url)
            .output()
            .expect("chromium is installed by scripts/setup.sh");
        String::from_utf8_lossy(&out.stdout).into_owned()
    });
    assert!(html.contains(r#"<tr data-outbound="alpha">"#), "{html}");
    assert!(html.contains(r#"<td class="open">1 / 1</td>"#) && html.contains(r#"<td class="reuse">1 / 99</td>"#), "{html}");
    assert!(html.contains("200: 100"), "{html}");
}

#[tokio::test(flavor = "multi_thread")]
async fn https_calls_share_one_tls_handshake_over_h2_or_http1() {
    let pki = Pki::new();
    let h2 = upstream(Some(pki.server(&[b"h2", b"http/1.1"])), Answer::Json(Duration::ZERO)).await;
    let h1 = upstream(Some(pki.server(&[b"http/1.1"])), Answer::Json(Duration::ZERO)).await;
    let plugins = PluginsDir::new();
    add(&plugins, "alpha", &format!("https://{}", h2.addr), &h2.addr.to_string(), "");
    add(&plugins, "beta", &format!("https://{}", h1.addr), &h1.addr.to_string(), "");
    let ca = plugins.path().with_extension("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let config = plugins.config(&format!("[outbound]\nextra_roots = ['{}']\n", ca.display()));
    let s = Server::start_with(&plugins, &["--config", &config]);
    for i in 0..100 {
        let (status, body) = ping(&s, "alpha").await;
        assert_eq!(status, 200, "call {i}: {body}");
    }
    for i in 0..20 {
        let (status, body) = ping(&s, "beta").await;
        assert_eq!(status, 200, "call {i}: {body}");
    }
    assert_eq!((h2.accepts(), h2.handshakes()), (1, 1), "100 https calls, one TLS handshake");
    assert!(h2.requests().iter().all(|r| r.1 == Version::HTTP_2), "ALPN chose h2");
    assert_eq!((h1.accepts(), h1.handshakes()), (1, 1));
    assert!(h1.requests().iter().all(|r| r.1 == Version::HTTP_11), "ALPN chose http/1.1");
    let o = outbound(&s, "alpha").await;
    assert_eq!((&o["opened"], &o["reused"], &o["open"]), (&json!(1), &json!(99), &json!(1)), "{o}");
    assert!(o["handshake_p50_us"].as_u64().unwrap() > 0, "{o}");

    // Unloading closes the plugin's HTTP/2 connection, and only its own.
    unload(&s, "alpha").await;
    h2.wait_open(0).await;
    assert_eq!(h1.open(), 1, "beta's connection stays");
    assert_eq!(outbound(&s, "alpha").await["open"], 0);
    assert_eq!(charged(&s, "alpha").await, 0);
    unload(&s, "beta").await;
    h1.wait_open(0).await;

    // The test CA is trusted only through extra_roots.
    let bare = Server::start(&plugins);
    let (status, body) = ping(&bare, "beta").await;
    assert_eq!(status, 502, "{body}");
    assert!(error_message(&body, "upstream_unavailable").contains("TlsCertificateError"), "{body}");
    assert_eq!(h1.handshakes(), 1, "no handshake completed with an untrusted certificate");
    assert_eq!(outbound(&bare, "beta").await["requests"], json!({"tls_certificate_error": 1}));
}

#[tokio::test(flavor = "multi_thread")]
async fn plugins_never_share_connections_evictions_keep_them_and_unload_closes_them() {
    let up = upstream(None, Answer::Json(Duration::ZERO)).await;
    let plugins = PluginsDir::new();
    for name in ["alpha", "beta"] {
        add(&plugins, name, &format!("http://{}", up.addr), &up.addr.to_string(), "");
    }
    let s = Server::start(&plugins);
    for _ in 0..3 {
        for name in ["alpha", "beta"] {
            let (status, body) = ping(&s, name).await;
            assert_eq!(status, 200, "{body}");
        }
    }
    assert_eq!(up.accepts(), 2, "one connection per plugin, each reused");
    let peers: Vec<SocketAddr> = up.requests().iter().map(|r| r.0).collect();
    let (alpha, beta): (Vec<_>, Vec<_>) = peers.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    assert!(alpha.iter().all(|p| p.1 == alpha[0].1) && beta.iter().all(|p| p.1 == beta[0].1), "{peers:?}");
    assert_ne!(alpha[0].1, beta[0].1, "beta never got alpha's connection: {peers:?}");
    assert_eq!((charged(&s, "alpha").await, charged(&s, "beta").await), (CHARGE, CHARGE));

    // Evicting every idle instance leaves the pools alone.
    let (status, freed) = s.post_json("/v1/admin/memory/free", &json!({"bytes": 1u64 << 40})).await;
    assert_eq!(status, 200, "{freed}");
    assert_eq!(freed["evicted"].as_array().unwrap().len(), 2, "{freed}");
    assert_eq!(s.plugin("alpha").await["idle_instances"], 0);
    let (status, _) = ping(&s, "alpha").await;
    assert_eq!((status, up.accepts()), (200, 2), "a new instance reuses the plugin's connection");

    unload(&s, "alpha").await;
    up.wait_open(1).await;
    assert_eq!(outbound(&s, "alpha").await["open"], 0);
    assert_eq!(charged(&s, "alpha").await, 0, "the closed connection's charge is given back");
    let (status, _) = ping(&s, "beta").await;
    assert_eq!((status, up.accepts()), (200, 2), "beta's pool is untouched");
    // Loaded again, alpha starts a new pool.
    let (status, _) = ping(&s, "alpha").await;
    assert_eq!((status, up.accepts()), (200, 3));
    assert_eq!(outbound(&s, "alpha").await["opened"], 2);
    unload(&s, "beta").await;
    up.wait_open(1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_upstream_is_a_clean_upstream_unavailable() {
    let silent = upstream(None, Answer::Silent).await;
    let plugins = PluginsDir::new();
    add(&plugins, "alpha", &format!("http://{}", silent.addr), &silent.addr.to_string(), "");
    // TLS to a server that never answers the hello: the connect (handshake) stalls.
    add(&plugins, "beta", &format!("https://{}", silent.addr), &silent.addr.to_string(), "");
    let config = plugins.config("[outbound]\nconnect_timeout = '300ms'\nfirst_byte_timeout = '300ms'\n");
    let s = Server::start_with(&plugins, &["--config", &config]);

    let (status, body) = ping(&s, "alpha").await;
    assert_eq!(status, 502, "{body}");
    assert!(error_message(&body, "upstream_unavailable").contains("ConnectionReadTimeout"), "{body}");
    let (status, body) = ping(&s, "beta").await;
    assert_eq!(status, 502, "{body}");
    assert!(error_message(&body, "upstream_unavailable").contains("ConnectionTimeout"), "{body}");
    assert_eq!(outbound(&s, "alpha").await["requests"], json!({"response_timeout": 1}));
    assert_eq!(outbound(&s, "beta").await["requests"], json!({"connection_timeout": 1}));
    // Neither stalled connection is kept.
    silent.wait_open(0).await;
    assert_eq!(silent.accepts(), 2);
    assert_eq!((charged(&s, "alpha").await, charged(&s, "beta").await), (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_per_host_are_bounded() {
    let slow = upstream(None, Answer::Json(Duration::from_millis(200))).await;
    let plugins = PluginsDir::new();
    add(&plugins, "alpha", &format!("http://{}", slow.addr), &slow.addr.to_string(), "");
    let config = plugins.config("[outbound]\nmax_connections_per_host = 2\n");
    let s = Server::start_with(&plugins, &["--config", &config]);
    let calls = (0..6).map(|_| ping(&s, "alpha"));
    for (status, body) in futures::future::join_all(calls).await {
        assert_eq!(status, 200, "{body}");
    }
    assert!(slow.accepts() <= 2, "6 concurrent calls, at most 2 connections: {}", slow.accepts());
    let o = outbound(&s, "alpha").await;
    assert_eq!(o["requests"], json!({"200": 6}));
    assert!(o["opened"].as_u64().unwrap() <= 2, "{o}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_outside_the_allow_list_is_never_connected_to() {
    let up = upstream(None, Answer::Json(Duration::ZERO)).await;
    let elsewhere = upstream(None, Answer::Json(Duration::ZERO)).await;
    let redirector = upstream(None, Answer::Redirect(format!("http://{}/api/v3/ping", elsewhere.addr))).await;
    let plugins = PluginsDir::new();
    // Same address, another port in the allow-list.
    add(&plugins, "alpha", &format!("http://{}", up.addr), "127.0.0.1:1", "");
    add(&plugins, "beta", &format!("http://{}", redirector.addr), &redirector.addr.to_string(), "");
    let s = Server::start(&plugins);

    let (status, body) = ping(&s, "alpha").await;
    assert_eq!(status, 403, "{body}");
    assert!(error_message(&body, "denied").contains("does not allow"));
    assert_eq!(up.accepts(), 0, "a denied request opens no connection");
    let o = outbound(&s, "alpha").await;
    assert_eq!((&o["requests"], &o["opened"]), (&json!({"denied": 1}), &json!(0)), "{o}");

    // The host does not follow redirects; the guest sees the 302 itself.
    let (status, body) = ping(&s, "beta").await;
    assert_eq!(status, 502, "{body}");
    assert!(error_message(&body, "upstream_unavailable").contains("302"), "{body}");
    assert_eq!((redirector.accepts(), elsewhere.accepts()), (1, 0), "the redirect target was never contacted");
    assert_eq!(outbound(&s, "beta").await["requests"], json!({"302": 1}));
}
