//! Opening one outbound connection for one plugin: a slot under the per-host
//! bound, a ledger charge, DNS, TCP, then TLS with ALPN (h2 or http/1.1), all
//! within `connect_timeout`. The connection gives its slot and its charge back
//! when hyper drops it (closed by the peer, idle too long, or its pool closed).

use super::stats::Stats;
use crate::memory::Ledger;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::client::TlsStream;

/// Why no connection could be opened. Mapped to a `wasi:http` error code for
/// the guest (see [`super::wasi_error`]).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the request has no host")]
    NoHost,
    #[error("all {max} connections to {host} stayed busy for {after:?}")]
    Limit { host: String, max: u32, after: Duration },
    #[error("no memory budget left for another connection ({charge} bytes)")]
    OverBudget { charge: u64 },
    #[error("connecting to {host} took longer than {after:?}")]
    Timeout { host: String, after: Duration },
    #[error("cannot resolve {host}: {source}")]
    Dns { host: String, source: io::Error },
    #[error("connecting to {host}: {source}")]
    Io { host: String, source: io::Error },
    #[error("{host:?} is not a valid TLS server name")]
    ServerName { host: String },
    #[error("TLS with {host}: {source}")]
    Tls { host: String, source: io::Error },
}

/// What every connection of one plugin shares.
pub(super) struct Shared {
    pub plugin: Arc<str>,
    pub tls: Arc<rustls::ClientConfig>,
    pub connect_timeout: Duration,
    pub max_per_host: u32,
    /// Ledger charge per open connection (0: not charged).
    pub charge: u64,
    pub ledger: Option<Arc<Ledger>>,
    pub stats: Arc<Stats>,
    /// One bound per `scheme://host:port`.
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Shared {
    pub fn new(
        plugin: Arc<str>,
        tls: Arc<rustls::ClientConfig>,
        config: &super::OutboundConfig,
        ledger: Option<Arc<Ledger>>,
        stats: Arc<Stats>,
    ) -> Shared {
        Shared {
            plugin,
            tls,
            connect_timeout: config.connect_timeout,
            max_per_host: config.max_connections_per_host,
            charge: config.connection_charge.as_u64(),
            ledger,
            stats,
            hosts: Mutex::new(HashMap::new()),
        }
    }
}

/// hyper-util's connector for one plugin's pool.
#[derive(Clone)]
pub(super) struct Connector(pub Arc<Shared>);

impl tower_service::Service<http::Uri> for Connector {
    type Response = Conn;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Conn, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        Box::pin(connect(self.0.clone(), uri))
    }
}

async fn connect(shared: Arc<Shared>, uri: http::Uri) -> Result<Conn, ConnectError> {
    let tls = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
    let host = uri.host().ok_or(ConnectError::NoHost)?.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let after = shared.connect_timeout;
    let deadline = tokio::time::Instant::now() + after;
    let bound = {
        let mut hosts = shared.hosts.lock().unwrap();
        let key = format!("{}://{host}:{port}", if tls { "https" } else { "http" });
        hosts.entry(key).or_insert_with(|| Arc::new(Semaphore::new(shared.max_per_host as usize))).clone()
    };
    let permit = match tokio::time::timeout_at(deadline, bound.acquire_owned()).await {
        Ok(Ok(permit)) => permit,
        _ => return Err(ConnectError::Limit { host: format!("{host}:{port}"), max: shared.max_per_host, after }),
    };
    let charge = Charge::take(&shared)?;
    let started = Instant::now();
    let (stream, h2) = tokio::time::timeout_at(deadline, open(&shared, &host, port, tls))
        .await
        .map_err(|_| ConnectError::Timeout { host: format!("{host}:{port}"), after })??;
    let took = started.elapsed();
    shared.stats.connected(took);
    tracing::debug!(plugin = &*shared.plugin, host = %host, port, tls, h2, us = took.as_micros() as u64, "outbound connection opened");
    Ok(Conn {
        io: TokioIo::new(stream),
        h2,
        uses: ConnUses(Arc::new(AtomicU64::new(0))),
        _open: Open { shared: shared.clone(), _permit: permit, _charge: charge },
    })
}

/// DNS, TCP (first address that answers), then TLS if asked.
async fn open(shared: &Shared, host: &str, port: u16, tls: bool) -> Result<(Stream, bool), ConnectError> {
    let addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| ConnectError::Dns { host: host.to_string(), source })?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    let mut tcp = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let tcp = tcp.ok_or_else(|| ConnectError::Io { host: format!("{host}:{port}"), source: last })?;
    let _ = tcp.set_nodelay(true);
    if !tls {
        return Ok((Stream::Plain(tcp), false));
    }
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|_| ConnectError::ServerName { host: host.to_string() })?;
    let stream = tokio_rustls::TlsConnector::from(shared.tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|source| ConnectError::Tls { host: host.to_string(), source })?;
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    Ok((Stream::Tls(Box::new(stream)), h2))
}

/// A connection's ledger charge, given back on drop.
struct Charge {
    ledger: Option<Arc<Ledger>>,
    plugin: Arc<str>,
    bytes: u64,
}

impl Charge {
    fn take(shared: &Shared) -> Result<Charge, ConnectError> {
        let ledger = shared.ledger.clone().filter(|_| shared.charge > 0);
        if let Some(l) = &ledger {
            if !l.charge_outbound(&shared.plugin, shared.charge) {
                tracing::warn!(plugin = &*shared.plugin, charge = shared.charge, "outbound connection refused: over budget");
                return Err(ConnectError::OverBudget { charge: shared.charge });
            }
        }
        Ok(Charge { ledger, plugin: shared.plugin.clone(), bytes: shared.charge })
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if let Some(l) = &self.ledger {
            l.release_outbound(&self.plugin, self.bytes);
        }
    }
}

/// Held while the connection is open: its per-host slot, its charge, the count.
struct Open {
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
    _charge: Charge,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.shared.stats.closed();
        tracing::debug!(plugin = &*self.shared.plugin, "outbound connection closed");
    }
}

/// How many requests a connection has carried; put in each response's
/// extensions, so the first request on it counts as new and the rest as reused.
#[derive(Clone)]
pub(super) struct ConnUses(pub Arc<AtomicU64>);

impl ConnUses {
    /// True for the first request on the connection.
    pub fn first(&self) -> bool {
        self.0.fetch_add(1, Ordering::Relaxed) == 0
    }
}

/// A TCP or TLS stream.
pub(super) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

macro_rules! both {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Stream::Plain($s) => { let $s = Pin::new($s); $e }
            Stream::Tls($s) => { let $s = Pin::new(&mut **$s); $e }
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        both!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        both!(self, s => s.poll_write(cx, buf))
    }
    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        both!(self, s => s.poll_write_vectored(cx, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        both!(self, s => s.poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        both!(self, s => s.poll_shutdown(cx))
    }
}

/// One open connection as hyper sees it.
pub(super) struct Conn {
    io: TokioIo<Stream>,
    h2: bool,
    uses: ConnUses,
    _open: Open,
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        let c = Connected::new().extra(self.uses.clone());
        if self.h2 {
            c.negotiated_h2()
        } else {
            c
        }
    }
}

impl Read for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl Write for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }
    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
