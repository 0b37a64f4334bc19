//! Outbound HTTP of a connector, side by side in one run:
//!   a) 200 sequential market-connector calls to a loopback HTTPS server:
//!      pooled (the default `[outbound]`) vs one connection per request
//!      (`max_idle_per_host = 0`: a TCP + TLS handshake per call, as before
//!      the pool); p50/p99 and the ratio. Calls alternate between the two hosts.
//!   b) the floor of a): the same pooled request sent without a plugin.
//!   c) heap held per idle pooled connection (HTTP/1.1 and HTTP/2 over TLS),
//!      measured with a counting allocator: what `[outbound] connection_charge`
//!      is set from.
//! Run: `cargo bench -p hostel --bench outbound` (plugins built by scripts/build-plugins.sh).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hostel::services::{HttpPolicy, Outbound, OutboundConfig, OutboundHost};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime_wasi_http::WasiHttpHooks;

/// Counts live heap bytes.
struct Counting;
static LIVE: AtomicI64 = AtomicI64::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as i64, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as i64, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as i64 - l.size() as i64, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}
#[global_allocator]
static ALLOC: Counting = Counting;

/// A loopback HTTPS server answering `{}` after `delay`, offering `alpn`;
/// counts accepts. It runs on a thread and runtime of its own, as a server
/// in another process would.
fn server(chain: Vec<rustls::pki_types::CertificateDer<'static>>, key: rustls::pki_types::PrivateKeyDer<'static>, alpn: &[&[u8]], delay: Duration) -> (String, Arc<AtomicUsize>) {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let accepts = Arc::new(AtomicUsize::new(0));
    let count = accepts.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((tcp, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::Relaxed);
                // As servers do: no Nagle delay on the handshake's small writes.
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let service = hyper::service::service_fn(move |_req| async move {
                        if !delay.is_zero() {
                            tokio::time::sleep(delay).await;
                        }
                        let body = Full::new(Bytes::from_static(b"{}"));
                        Ok::<_, std::convert::Infallible>(hyper::Response::builder().header("content-type", "application/json").body(body).unwrap())
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(tls), service).await;
                });
            }
        });
    });
    (addr, accepts)
}

/// A plugins dir with market-connector pointed at `addr` over https.
fn plugins(addr: &str) -> tempfile::TempDir {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/market-connector");
    assert!(src.join("market-connector.wasm").exists(), "run scripts/build-plugins.sh");
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("market-connector");
    std::fs::create_dir_all(&dst).unwrap();
    std::fs::copy(src.join("market-connector.wasm"), dst.join("market-connector.wasm")).unwrap();
    let manifest = std::fs::read_to_string(src.join("hostel.toml"))
        .unwrap()
        .replace("allowed_hosts = [\"api.binance.com\"]", &format!("allowed_hosts = [\"{addr}\"]"))
        .replace("base_url = \"https://api.binance.com\"", &format!("base_url = \"https://{addr}\""));
    std::fs::write(dst.join("hostel.toml"), manifest).unwrap();
    dir
}

fn host(dir: &Path, ca: &Path, max_idle_per_host: u32) -> hostel::Host {
    let outbound = OutboundConfig { extra_roots: vec![ca.to_path_buf()], max_idle_per_host, ..OutboundConfig::default() };
    hostel::Host::builder().plugins_dir(dir).outbound(outbound).build().unwrap()
}

fn pct(v: &mut [Duration], q: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// Sends GET `url` through `policy` and reads the whole body.
async fn get(policy: &mut HttpPolicy, url: &str) {
    let body = Empty::<Bytes>::new().map_err(|_| unreachable!()).boxed_unsync();
    let request = http::Request::get(url).body(body).unwrap();
    let sent = policy.send_request(request, None, Box::new(async { Ok(()) }));
    let (response, _io) = Box::into_pin(sent).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();
}

/// Live heap bytes per idle pooled connection, HTTP/1.1 (one pool, `n`
/// connections) and HTTP/2 (`n` pools, one connection each, pool included).
async fn heap_per_connection(chain: &[rustls::pki_types::CertificateDer<'static>], key: &rustls::pki_types::PrivateKeyDer<'static>, ca: &Path) -> (i64, i64) {
    let n = 50;
    let config = OutboundConfig { extra_roots: vec![ca.to_path_buf()], max_idle_per_host: 1000, max_connections_per_host: 1000, ..OutboundConfig::default() };
    let outbound_host = Arc::new(OutboundHost::new(config, None).unwrap());
    let policy = |addr: &str| {
        let outbound = Arc::new(Outbound::new("bench".into()));
        outbound.open();
        HttpPolicy::with_outbound("bench".into(), Arc::new(vec![addr.to_string()]), outbound, outbound_host.clone())
    };
    let settle = || tokio::time::sleep(Duration::from_millis(300));

    let (h1, _) = server(chain.to_vec(), key.clone_key(), &[b"http/1.1"], Duration::from_millis(100));
    let url = format!("https://{h1}/");
    let mut one = policy(&h1);
    get(&mut one, &url).await;
    settle().await;
    let before = LIVE.load(Ordering::Relaxed);
    // n concurrent requests through the same pool: n connections, then idle.
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let sent = one.send_request(
                http::Request::get(url.as_str()).body(Empty::<Bytes>::new().map_err(|_| unreachable!()).boxed_unsync()).unwrap(),
                None,
                Box::new(async { Ok(()) }),
            );
            tokio::spawn(async move {
                let (response, _io) = Box::into_pin(sent).await.unwrap();
                response.into_body().collect().await.unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    settle().await;
    let h1_per = (LIVE.load(Ordering::Relaxed) - before) / (n as i64 - 1);

    let (h2, _) = server(chain.to_vec(), key.clone_key(), &[b"h2", b"http/1.1"], Duration::ZERO);
    let url = format!("https://{h2}/");
    let mut pools: Vec<HttpPolicy> = (0..n).map(|_| policy(&h2)).collect();
    settle().await;
    let before = LIVE.load(Ordering::Relaxed);
    for p in &mut pools {
        get(p, &url).await;
    }
    settle().await;
    let h2_per = (LIVE.load(Ordering::Relaxed) - before) / n as i64;
    drop((one, pools));
    (h1_per, h2_per)
}

#[tokio::main]
async fn main() {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
    let ca = rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().unwrap()).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().signed_by(&leaf_key, &ca).unwrap();
    let chain = vec![leaf.der().clone(), ca.der().clone()];
    let key: rustls::pki_types::PrivateKeyDer<'static> = rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der()).into();
    let scratch = tempfile::tempdir().unwrap();
    let ca_path = scratch.path().join("ca.pem");
    std::fs::write(&ca_path, ca.pem()).unwrap();

    // a) pooled vs one connection per request.
    let (addr, accepts) = server(chain.clone(), key.clone_key(), &[b"h2", b"http/1.1"], Duration::ZERO);
    let dir = plugins(&addr);
    let pooled = host(dir.path(), &ca_path, OutboundConfig::default().max_idle_per_host);
    let fresh = host(dir.path(), &ca_path, 0);
    const CALLS: usize = 200;
    for h in [&pooled, &fresh] {
        for _ in 0..10 {
            h.connector_call("market-connector", "ping", "{}").await.unwrap();
        }
    }
    let warm_accepts = accepts.load(Ordering::Relaxed);
    let (mut a, mut b) = (Vec::with_capacity(CALLS), Vec::with_capacity(CALLS));
    for _ in 0..CALLS {
        for (h, times) in [(&pooled, &mut a), (&fresh, &mut b)] {
            let start = Instant::now();
            h.connector_call("market-connector", "ping", "{}").await.unwrap();
            times.push(start.elapsed());
        }
    }
    let run_accepts = accepts.load(Ordering::Relaxed) - warm_accepts;
    let (a50, a99, b50, b99) = (pct(&mut a, 0.5), pct(&mut a, 0.99), pct(&mut b, 0.5), pct(&mut b, 0.99));
    println!("a) {CALLS} sequential market-connector pings to a loopback HTTPS server (TLS 1.3, ALPN h2)");
    println!("   {:<36} {:>12} {:>12}", "", "p50", "p99");
    println!("   {:<36} {:>12} {:>12}", "pooled (keep-alive)", ms(a50), ms(a99));
    println!("   {:<36} {:>12} {:>12}", "one connection per request", ms(b50), ms(b99));
    println!("   {:<36} {:>11.1}x {:>11.1}x", "per-request / pooled", b50.as_secs_f64() / a50.as_secs_f64(), b99.as_secs_f64() / a99.as_secs_f64());
    println!("   connections the server accepted during the timed calls: {run_accepts} (the per-request host made {CALLS} calls)");

    // b) the floor: the same pooled request without a plugin (HttpPolicy directly).
    let config = OutboundConfig { extra_roots: vec![ca_path.clone()], ..OutboundConfig::default() };
    let outbound = Arc::new(Outbound::new("bare".into()));
    outbound.open();
    let mut bare = HttpPolicy::with_outbound("bare".into(), Arc::new(vec![addr.clone()]), outbound, Arc::new(OutboundHost::new(config, None).unwrap()));
    let url = format!("https://{addr}/api/v3/ping");
    let mut c = Vec::with_capacity(CALLS);
    for i in 0..CALLS + 10 {
        let start = Instant::now();
        get(&mut bare, &url).await;
        if i >= 10 {
            c.push(start.elapsed());
        }
    }
    println!("b) the pooled request alone, no plugin (HttpPolicy::send_request): p50 {}, p99 {}", ms(pct(&mut c, 0.5)), ms(pct(&mut c, 0.99)));

    // c) heap per idle pooled connection.
    let (h1, h2) = heap_per_connection(&chain, &key, &ca_path).await;
    println!("c) live heap per idle pooled TLS connection: HTTP/1.1 {:.1} KiB, HTTP/2 {:.1} KiB (pool and TLS config included); [outbound] connection_charge defaults to {} KiB",
        h1 as f64 / 1024.0, h2 as f64 / 1024.0, hostel::services::outbound::CONNECTION_CHARGE_KIB);
}
