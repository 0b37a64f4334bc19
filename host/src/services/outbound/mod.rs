//! Plugins' outbound HTTP: one pooling client per plugin (hyper-util's
//! `Client` over a connector of ours), never shared between plugins, so one
//! plugin's connections and TLS sessions stay its own.
//!
//! The client is made on a plugin's first request while it is loaded and
//! lives in the plugin, not in an instance: it survives instance recycling and
//! eviction, and is dropped on unload, which closes its idle connections (and
//! the busy ones when their response ends). Keep-alive connections are reused;
//! TLS (rustls) offers h2 and http/1.1 by ALPN; at most
//! `max_connections_per_host` are open per host, idle ones close after
//! `idle_timeout`; connecting is bounded by `connect_timeout`, the response
//! head by `first_byte_timeout` and each body frame by `between_bytes_timeout`.
//! Redirects are the guest's business: this client never follows one, and a
//! request the guest makes to follow one is checked like any other.

mod connect;
mod stats;

pub use connect::ConnectError;
pub use stats::{OutboundReport, Stats as OutboundStats};

use crate::memory::Ledger;
use bytesize::ByteSize;
use connect::{ConnUses, Connector, Shared};
use http_body_util::BodyExt;
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper_util::client::legacy::connect::capture_connection;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::Deserialize;
use stats::InFlight;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{ready, Context, Poll};
use std::time::Duration;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

/// `[outbound]` in the host config: how plugins' HTTP clients behave.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundConfig {
    /// DNS + TCP + TLS, and the wait for a free slot under `max_connections_per_host`.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// From the request leaving on a connection to the response head.
    #[serde(with = "humantime_serde")]
    pub first_byte_timeout: Duration,
    /// Between two frames of a response body.
    #[serde(with = "humantime_serde")]
    pub between_bytes_timeout: Duration,
    /// A pooled connection unused this long is closed.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Connections one plugin may have open to one scheme + host + port.
    pub max_connections_per_host: u32,
    /// Idle connections kept per host; 0 closes each after its response.
    pub max_idle_per_host: u32,
    /// Where trusted TLS roots come from.
    pub roots: Roots,
    /// PEM files of extra CA certificates to trust (e.g. a private CA).
    pub extra_roots: Vec<PathBuf>,
    /// Ledger charge per open connection (its buffers).
    pub connection_charge: ByteSize,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            connect_timeout: Duration::from_secs(5),
            first_byte_timeout: Duration::from_secs(10),
            between_bytes_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            max_connections_per_host: 16,
            max_idle_per_host: 16,
            roots: Roots::Platform,
            extra_roots: Vec::new(),
            connection_charge: ByteSize::kib(CONNECTION_CHARGE_KIB),
        }
    }
}

/// Default charge per connection: the heap of one idle pooled TLS connection
/// (rustls + hyper buffers) measured by `cargo bench -p hostel --bench
/// outbound`, rounded up (README, "Outbound HTTP").
pub const CONNECTION_CHARGE_KIB: u64 = 128;

/// Trusted TLS roots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Roots {
    /// The operating system's store; Mozilla's bundle if it has none.
    Platform,
    /// Mozilla's bundle (webpki-roots), built in.
    Bundled,
    /// Only `extra_roots`.
    None,
}

/// The TLS trust could not be set up from the config.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("`outbound.extra_roots`: cannot read {}: {message}", path.display())]
    Read { path: PathBuf, message: String },
    #[error("`outbound.extra_roots`: {} holds no PEM certificate", path.display())]
    Empty { path: PathBuf },
    #[error("`outbound.extra_roots`: {}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

/// What every plugin's client is made from: the settings, the roots, the ledger.
pub struct OutboundHost {
    config: OutboundConfig,
    roots: Arc<rustls::RootCertStore>,
    ledger: Option<Arc<Ledger>>,
}

impl OutboundHost {
    pub fn new(config: OutboundConfig, ledger: Option<Arc<Ledger>>) -> Result<OutboundHost, TlsSetupError> {
        let roots = Arc::new(roots(&config)?);
        tracing::debug!(roots = roots.len(), "outbound TLS roots");
        Ok(OutboundHost { config, roots, ledger })
    }

    /// Default settings and platform roots, charging no ledger: for stores
    /// made outside a [`crate::Host`] (benchmarks, embedders' raw stores).
    pub fn standalone() -> Arc<OutboundHost> {
        static HOST: OnceLock<Arc<OutboundHost>> = OnceLock::new();
        HOST.get_or_init(|| Arc::new(OutboundHost::new(OutboundConfig::default(), None).expect("no extra roots to read")))
            .clone()
    }

    pub fn config(&self) -> &OutboundConfig {
        &self.config
    }

    /// A TLS config of the plugin's own: its session cache is not shared.
    fn tls(&self) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(self.roots.clone())
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(tls))
    }
}

fn roots(config: &OutboundConfig) -> Result<rustls::RootCertStore, TlsSetupError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut store = rustls::RootCertStore::empty();
    let bundled = |store: &mut rustls::RootCertStore| store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    match config.roots {
        Roots::Platform => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!("platform TLS roots: {e}");
            }
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                tracing::warn!("no TLS roots in the platform store; using the bundled Mozilla roots");
                bundled(&mut store);
            }
        }
        Roots::Bundled => bundled(&mut store),
        Roots::None => {}
    }
    for path in &config.extra_roots {
        let read = |e: rustls::pki_types::pem::Error| TlsSetupError::Read { path: path.clone(), message: e.to_string() };
        let certs = CertificateDer::pem_file_iter(path).map_err(read)?.collect::<Result<Vec<_>, _>>().map_err(read)?;
        if certs.is_empty() {
            return Err(TlsSetupError::Empty { path: path.clone() });
        }
        for cert in certs {
            store.add(cert).map_err(|e| TlsSetupError::Invalid { path: path.clone(), message: e.to_string() })?;
        }
    }
    Ok(store)
}

type PoolClient = Client<Connector, WasiBody>;
type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

/// One plugin's outbound HTTP: its pool (while loaded) and its figures.
pub struct Outbound {
    plugin: Arc<str>,
    stats: Arc<OutboundStats>,
    state: Mutex<PoolState>,
}

struct PoolState {
    client: Option<PoolClient>,
    /// Whether a client made now may be kept (the plugin is loaded).
    keep: bool,
}

impl Outbound {
    /// Closed until [`Outbound::open`]: requests get a client of their own.
    pub fn new(plugin: Arc<str>) -> Outbound {
        Outbound { plugin, stats: Arc::default(), state: Mutex::new(PoolState { client: None, keep: false }) }
    }

    /// The plugin is loaded: the next request makes the pool, and it is kept.
    pub fn open(&self) {
        self.state.lock().unwrap().keep = true;
    }

    /// The plugin is unloaded: the pool goes, its idle connections close now
    /// and busy ones when their response ends. A call still running gets a
    /// client that lives for one request.
    pub fn close(&self) {
        let client = {
            let mut state = self.state.lock().unwrap();
            state.keep = false;
            state.client.take()
        };
        if client.is_some() {
            tracing::debug!(plugin = &*self.plugin, "outbound pool closed");
        }
    }

    /// Figures for the admin API and metrics; `charge` is the ledger's charge per connection.
    pub fn report(&self, charge: u64) -> OutboundReport {
        self.stats.report(charge)
    }

    pub(crate) fn stats(&self) -> &OutboundStats {
        &self.stats
    }

    fn client(&self, host: &OutboundHost) -> Result<PoolClient, HttpError> {
        let mut state = self.state.lock().unwrap();
        if let Some(client) = &state.client {
            return Ok(client.clone());
        }
        let tls = host.tls().map_err(|e| HttpError::InternalError(Some(format!("TLS setup: {e}"))))?;
        let c = &host.config;
        let shared = Shared::new(self.plugin.clone(), tls, c, host.ledger.clone(), self.stats.clone());
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(c.idle_timeout)
            .pool_max_idle_per_host(c.max_idle_per_host as usize)
            .build(Connector(Arc::new(shared)));
        if state.keep {
            tracing::debug!(plugin = &*self.plugin, "outbound pool opened");
            state.client = Some(client.clone());
        }
        Ok(client)
    }

    /// Sends one request (already allowed by the plugin's policy).
    pub(crate) async fn send(
        self: Arc<Self>,
        host: Arc<OutboundHost>,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<(http::Response<WasiBody>, IoFuture), HttpError> {
        let c = &host.config;
        let shorter = |mine: Duration, theirs: Option<Duration>| theirs.map_or(mine, |t| t.min(mine));
        let first_byte = shorter(c.first_byte_timeout, options.and_then(|o| o.first_byte_timeout));
        let between = shorter(c.between_bytes_timeout, options.and_then(|o| o.between_bytes_timeout));
        let client = self.client(&host)?;
        let authority = request.uri().authority().map(|a| a.to_string()).unwrap_or_default();
        let in_flight = InFlight::new(&self.stats);
        // Connecting is bounded by the connector; the first byte is waited
        // for once the request has a connection.
        let mut connected = capture_connection(&mut request);
        let response = client.request(request);
        tokio::pin!(response);
        let early = tokio::select! {
            biased;
            r = &mut response => Some(r),
            _ = connected.wait_for_connection_metadata() => None,
        };
        let result = match early {
            Some(r) => r.map_err(|e| (wasi_error(&e), causes(&e))),
            None => match tokio::time::timeout(first_byte, &mut response).await {
                Ok(r) => r.map_err(|e| (wasi_error(&e), causes(&e))),
                Err(_) => Err((HttpError::ConnectionReadTimeout, format!("no response head within {first_byte:?}"))),
            },
        };
        let response = match result {
            Ok(r) => r,
            Err((code, why)) => {
                let name = error_name(&code);
                tracing::warn!(plugin = &*self.plugin, %authority, error = name, "outbound request failed: {why}");
                self.stats.outcome(name);
                return Err(code);
            }
        };
        let new = response.extensions().get::<ConnUses>().is_none_or(ConnUses::first);
        self.stats.answered(response.status().as_u16(), new);
        let timer = Box::pin(tokio::time::sleep(between));
        let response = response.map(|incoming| ResponseBody { incoming, between, timer, in_flight: Some(in_flight) }.boxed_unsync());
        Ok((response, Box::new(async { Ok(()) })))
    }
}

/// An error with its causes: "client error (Connect): connecting to h:1 took longer than 5s".
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let cause = s.to_string();
        // Errors that print their source already are not repeated.
        if !text.ends_with(&cause) {
            text = format!("{text}: {cause}");
        }
        source = s.source();
    }
    text
}

/// The `wasi:http` error for a failed request.
fn wasi_error(e: &hyper_util::client::legacy::Error) -> HttpError {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(c) = s.downcast_ref::<ConnectError>() {
            return c.wasi();
        }
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            return if h.is_timeout() {
                HttpError::HttpResponseTimeout
            } else if h.is_incomplete_message() {
                HttpError::HttpResponseIncomplete
            } else if h.is_canceled() || h.is_closed() {
                HttpError::ConnectionTerminated
            } else {
                HttpError::HttpProtocolError
            };
        }
        source = s.source();
    }
    if e.is_connect() {
        HttpError::ConnectionRefused
    } else {
        HttpError::HttpProtocolError
    }
}

impl ConnectError {
    fn wasi(&self) -> HttpError {
        use std::io::ErrorKind;
        match self {
            ConnectError::NoHost => HttpError::HttpRequestUriInvalid,
            ConnectError::Limit { .. } | ConnectError::OverBudget { .. } => HttpError::ConnectionLimitReached,
            ConnectError::Timeout { .. } => HttpError::ConnectionTimeout,
            ConnectError::Dns { source, .. } => HttpError::DnsError { rcode: Some(source.to_string()), info_code: None },
            ConnectError::Io { source, .. } if source.kind() == ErrorKind::ConnectionRefused => HttpError::ConnectionRefused,
            ConnectError::Io { source, .. } => HttpError::Connect(std::io::Error::new(source.kind(), source.to_string())),
            ConnectError::ServerName { .. } => HttpError::TlsProtocolError,
            ConnectError::Tls { source, .. } => match source.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                Some(rustls::Error::InvalidCertificate(_)) => HttpError::TlsCertificateError,
                Some(rustls::Error::AlertReceived(alert)) => {
                    HttpError::TlsAlertReceived { alert_id: Some(u8::from(*alert)), alert_message: Some(format!("{alert:?}")) }
                }
                _ => HttpError::TlsProtocolError,
            },
        }
    }
}

/// The name a failed request is counted under in "requests by status".
pub(crate) fn error_name(e: &HttpError) -> &'static str {
    match e {
        HttpError::HttpRequestDenied => "denied",
        HttpError::ConnectionTimeout => "connection_timeout",
        HttpError::ConnectionReadTimeout | HttpError::HttpResponseTimeout => "response_timeout",
        HttpError::ConnectionLimitReached => "connection_limit_reached",
        HttpError::ConnectionRefused | HttpError::Connect(_) => "connection_refused",
        HttpError::DnsError { .. } => "dns_error",
        HttpError::TlsCertificateError => "tls_certificate_error",
        HttpError::TlsProtocolError | HttpError::TlsAlertReceived { .. } => "tls_error",
        HttpError::ConnectionTerminated | HttpError::HttpResponseIncomplete => "connection_terminated",
        _ => "protocol_error",
    }
}

/// A response body that gives up after `between` without a frame, and ends
/// its request's in-flight count when it ends.
struct ResponseBody {
    incoming: Incoming,
    between: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    in_flight: Option<InFlight>,
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.timer.as_mut().reset(tokio::time::Instant::now() + this.between);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(end) => {
                this.in_flight.take();
                Poll::Ready(end.map(|r| r.map_err(|e| if e.is_timeout() { HttpError::HttpResponseTimeout } else { HttpError::Hyper(e) })))
            }
            Poll::Pending => {
                ready!(this.timer.as_mut().poll(cx));
                this.in_flight.take();
                Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_roots_that_cannot_be_used_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let config = |path: &str| OutboundConfig { roots: Roots::None, extra_roots: vec![dir.path().join(path)], ..OutboundConfig::default() };
        let missing = OutboundHost::new(config("missing.pem"), None).err().unwrap().to_string();
        assert!(missing.contains("`outbound.extra_roots`") && missing.contains("missing.pem"), "{missing}");
        std::fs::write(dir.path().join("empty.pem"), "no certificate here\n").unwrap();
        let empty = OutboundHost::new(config("empty.pem"), None).err().unwrap();
        assert!(matches!(empty, TlsSetupError::Empty { .. }), "{empty}");
        let none = OutboundHost::new(OutboundConfig { roots: Roots::None, ..OutboundConfig::default() }, None).unwrap();
        assert_eq!(none.roots.len(), 0);
        let bundled = OutboundHost::new(OutboundConfig { roots: Roots::Bundled, ..OutboundConfig::default() }, None).unwrap();
        assert!(bundled.roots.len() > 100);
    }

    #[test]
    fn connect_failures_become_wasi_error_codes() {
        let timeout = ConnectError::Timeout { host: "h:1".into(), after: Duration::from_secs(1) };
        assert!(matches!(timeout.wasi(), HttpError::ConnectionTimeout));
        let refused = ConnectError::Io { host: "h:1".into(), source: std::io::ErrorKind::ConnectionRefused.into() };
        assert!(matches!(refused.wasi(), HttpError::ConnectionRefused));
        let full = ConnectError::Limit { host: "h:1".into(), max: 2, after: Duration::from_secs(1) };
        assert_eq!(error_name(&full.wasi()), "connection_limit_reached");
        let cert = ConnectError::Tls {
            host: "h".into(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)),
        };
        assert_eq!(error_name(&cert.wasi()), "tls_certificate_error");
    }
}
