//! Limits on every connection, enforced where the listener is served: how many
//! are open at once, and how long a request head, a request body and an idle
//! keep-alive may take. Without them a few hundred silent or trickling clients
//! hold the server's sockets (and memory) for as long as they like.

use super::ApiError;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// `[http]` in the host config.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpLimits {
    /// Longest a client may take to send a whole request head: from the
    /// connection's opening, or from the first byte of a later request.
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    /// Longest a request body may take to arrive, counted from its head;
    /// then `408 request_timeout` and the connection is closed.
    #[serde(with = "humantime_serde")]
    pub body_timeout: Duration,
    /// A kept-alive connection with no new request for this long is closed.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Connections open at once; more are answered `503 too_many_connections` and closed.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// Accepts connections until `shutdown`, each holding one of `max_connections`
/// permits, served by hyper's HTTP/1 with the head and idle timers; then lets
/// requests in flight finish.
pub(super) async fn serve(
    mut listener: tokio::net::TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let refusal = refusal(limits.max_connections);
    let mut refused = (0u64, None::<Instant>);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // axum's accept: a connection error is skipped, EMFILE waits a second.
        let (stream, _) = tokio::select! {
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            // Refused at once without a task: a fresh socket's send buffer takes
            // the canned answer; a client that already sent may see a reset.
            let _ = stream.try_write(&refusal);
            drop(stream);
            refused.0 += 1;
            if refused.1.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                tracing::warn!(refused = refused.0, max_connections = limits.max_connections, "connections refused: http.max_connections are open");
                refused = (0, Some(Instant::now()));
            }
            continue;
        };
        let clock = Arc::new(ConnClock { limits, opened: Instant::now(), waits: AtomicU32::new(0), first_byte: AtomicU64::new(0) });
        let io = TokioIo::new(Watched { inner: stream, clock: clock.clone() });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(HeadTimer(clock))
            .header_read_timeout(limits.header_timeout)
            .serve_connection(io, TowerToHyperService::new(app.clone()));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection ended: {e}");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The whole answer to a connection over the limit, written without parsing its request.
fn refusal(max: usize) -> Vec<u8> {
    let body = serde_json::json!({"error": {"code": "too_many_connections",
        "message": format!("the server has {max} connections open (http.max_connections); retry later")}})
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// What the head timer needs to tell a request on its way from an idle keep-alive.
struct ConnClock {
    limits: HttpLimits,
    opened: Instant,
    /// Request heads hyper has begun waiting for on this connection.
    waits: AtomicU32,
    /// When the first byte since the current wait began arrived: nanoseconds
    /// after `opened`, plus one; 0 while none has.
    first_byte: AtomicU64,
}

/// hyper's header-read timer starts whenever hyper waits for a request head —
/// on a new connection and after every response — so by itself it would close
/// kept-alive connections after the header timeout. This one gives a kept-alive
/// connection `idle_timeout` until its next request starts, then `header_timeout`.
struct HeadTimer(Arc<ConnClock>);

impl HeadTimer {
    fn arm(&self) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let kept_alive = self.0.waits.fetch_add(1, Ordering::Relaxed) > 0;
        self.0.first_byte.store(0, Ordering::Relaxed);
        let armed = Instant::now();
        let sleep = Box::pin(tokio::time::sleep_until((armed + self.0.limits.header_timeout).into()));
        Box::pin(HeadSleep { clock: self.0.clone(), armed, kept_alive, sleep })
    }
}

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        TokioTimer::new().sleep(duration)
    }

    /// hyper's HTTP/1 server asks for one timer only: the head's.
    fn sleep_until(&self, _deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.arm()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, _deadline: std::time::Instant) {
        *sleep = self.arm();
    }
}

/// The head deadline, recomputed each time hyper polls it (on every read).
struct HeadSleep {
    clock: Arc<ConnClock>,
    armed: Instant,
    kept_alive: bool,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl HeadSleep {
    fn deadline(&self) -> Instant {
        let limits = &self.clock.limits;
        if !self.kept_alive {
            return self.armed + limits.header_timeout;
        }
        match self.clock.first_byte.load(Ordering::Relaxed) {
            0 => self.armed + limits.idle_timeout,
            t => self.clock.opened + Duration::from_nanos(t - 1) + limits.header_timeout,
        }
    }
}

impl Future for HeadSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = tokio::time::Instant::from_std(self.deadline());
        if self.sleep.deadline() != deadline {
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for HeadSleep {}

/// The TCP stream, noting the first byte read after each head wait began.
struct Watched {
    inner: TcpStream,
    clock: Arc<ConnClock>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before && self.clock.first_byte.load(Ordering::Relaxed) == 0 {
            let at = self.clock.opened.elapsed().as_nanos() as u64 + 1;
            let _ = self.clock.first_byte.compare_exchange(0, at, Ordering::Relaxed, Ordering::Relaxed);
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[std::io::IoSlice<'_>]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A total deadline on reading the request body: tower-http's body timeout
/// restarts at every frame, so a byte a second would never trip it. Wraps the
/// body of `request` (if it has one); the flag tells [`after_body`] it expired.
pub(super) fn watch_body(limit: Duration, request: Request) -> (Request, Option<Arc<AtomicBool>>) {
    if hyper::body::Body::is_end_stream(request.body()) {
        return (request, None);
    }
    let expired = Arc::new(AtomicBool::new(false));
    let sleep = Box::pin(tokio::time::sleep(limit));
    let flag = expired.clone();
    let request = request.map(move |inner| Body::new(DeadlineBody { inner, sleep, limit, expired: flag }));
    (request, Some(expired))
}

/// The answer to a request whose body missed the deadline is `408 request_timeout`.
pub(super) fn after_body(limit: Duration, response: Response, expired: Option<Arc<AtomicBool>>) -> Response {
    if !expired.is_some_and(|e| e.load(Ordering::Relaxed)) {
        return response;
    }
    let message = format!("the request body did not arrive within {} (http.body_timeout)", humantime::format_duration(limit));
    let mut response = ApiError::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", message).into_response();
    // The rest of the body is never read: the connection cannot carry another request.
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

struct DeadlineBody {
    inner: Body,
    sleep: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
    expired: Arc<AtomicBool>,
}

/// What a handler's body read fails with once the deadline passed.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {}", humantime::format_duration(*.0))]
struct BodyTimedOut(Duration);

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut(self.limit)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
