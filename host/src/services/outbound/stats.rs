//! One plugin's outbound figures: connections open and idle, requests on new
//! and reused connections, connect (handshake) time, requests by status. They
//! are kept for the plugin's whole registration, across unloads.

use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Handshake times kept for the percentiles.
const SAMPLES: usize = 1024;

pub struct Stats {
    open: AtomicU64,
    /// Requests sent and not yet finished (response body read or dropped).
    in_flight: AtomicU64,
    opened: AtomicU64,
    new: AtomicU64,
    reused: AtomicU64,
    samples: Mutex<VecDeque<u64>>,
    /// Connect time (DNS + TCP + TLS) of every connection opened, in seconds.
    pub(crate) handshake: Histogram,
    /// Finished requests by HTTP status, or by the error that ended them.
    by_status: Mutex<BTreeMap<String, u64>>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            open: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            opened: AtomicU64::new(0),
            new: AtomicU64::new(0),
            reused: AtomicU64::new(0),
            samples: Mutex::new(VecDeque::new()),
            // 100 µs … 3.3 s, ×2 per bucket.
            handshake: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            by_status: Mutex::new(BTreeMap::new()),
        }
    }
}

/// Counts a request in flight until dropped.
pub(super) struct InFlight(Arc<Stats>);

impl InFlight {
    pub fn new(stats: &Arc<Stats>) -> InFlight {
        stats.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(stats.clone())
    }
}

impl Stats {
    pub(super) fn connected(&self, took: Duration) {
        self.open.fetch_add(1, Ordering::Relaxed);
        self.opened.fetch_add(1, Ordering::Relaxed);
        self.handshake.observe(took.as_secs_f64());
        let mut s = self.samples.lock().unwrap();
        if s.len() == SAMPLES {
            s.pop_front();
        }
        s.push_back(took.as_micros() as u64);
    }

    pub(super) fn closed(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// A response arrived on a connection that was `new` or reused.
    pub(super) fn answered(&self, status: u16, new: bool) {
        if new { &self.new } else { &self.reused }.fetch_add(1, Ordering::Relaxed);
        self.outcome(&status.to_string());
    }

    /// A request ended with `outcome` (a status or an error's name).
    pub(crate) fn outcome(&self, outcome: &str) {
        *self.by_status.lock().unwrap().entry(outcome.to_string()).or_default() += 1;
    }

    pub fn report(&self, charge: u64) -> OutboundReport {
        let open = self.open.load(Ordering::Relaxed);
        let in_flight = self.in_flight.load(Ordering::Relaxed);
        let (p50, p99) = {
            let mut v: Vec<u64> = self.samples.lock().unwrap().iter().copied().collect();
            v.sort_unstable();
            let at = |q: f64| if v.is_empty() { 0 } else { v[((v.len() - 1) as f64 * q).round() as usize] };
            (at(0.5), at(0.99))
        };
        OutboundReport {
            open,
            // An HTTP/1 request holds its connection; an HTTP/2 connection
            // carries many, so with h2 this is a lower bound.
            idle: open.saturating_sub(in_flight),
            in_flight,
            opened: self.opened.load(Ordering::Relaxed),
            new: self.new.load(Ordering::Relaxed),
            reused: self.reused.load(Ordering::Relaxed),
            handshake_p50_us: p50,
            handshake_p99_us: p99,
            charged_bytes: open * charge,
            requests: self.by_status.lock().unwrap().clone(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A plugin's outbound HTTP, as `GET /v1/admin/pools` shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OutboundReport {
    /// Connections open now.
    pub open: u64,
    /// Open connections no request is using.
    pub idle: u64,
    /// Requests sent whose response is not finished yet.
    pub in_flight: u64,
    /// Connections opened so far (each one a TCP, and for https a TLS, handshake).
    pub opened: u64,
    /// Requests answered on a connection opened for them.
    pub new: u64,
    /// Requests answered on a pooled connection.
    pub reused: u64,
    /// Connect time (DNS + TCP + TLS) of recent connections.
    pub handshake_p50_us: u64,
    pub handshake_p99_us: u64,
    /// What the open connections are charged in the ledger.
    pub charged_bytes: u64,
    /// Finished requests by HTTP status (`"200"`), or by the error that ended
    /// them (`"denied"`, `"connection_timeout"`, …).
    pub requests: BTreeMap<String, u64>,
}
