//! The instance pool's gate and figures. Idle instances wait in the plugin's
//! idle list; the gate bounds how many calls hold an instance at once
//! (`max_instances`), queues the rest up to `max_queue` for at most
//! `queue_timeout`, and records how long callers waited.

mod breaker;

pub use breaker::{Breaker, BreakerReport};

use crate::error::{Error, Result};
use crate::host::Host;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Wait times kept for the percentiles.
const WAIT_SAMPLES: usize = 4096;

/// Admission to a plugin's instances.
pub struct Gate {
    permits: Arc<Semaphore>,
    waiting: AtomicU64,
    max_queue: u64,
    timeout: Duration,
    waits: AtomicU64,
    samples: Mutex<VecDeque<u64>>,
}

impl Gate {
    pub fn new(max_instances: u32, max_queue: u32, timeout: Duration) -> Gate {
        Gate {
            permits: Arc::new(Semaphore::new(max_instances as usize)),
            waiting: AtomicU64::new(0),
            max_queue: max_queue as u64,
            timeout,
            waits: AtomicU64::new(0),
            samples: Mutex::new(VecDeque::new()),
        }
    }

    /// A permit to hold one instance; waits in the bounded queue if all are taken.
    pub async fn enter(&self, plugin: &str) -> Result<OwnedSemaphorePermit> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            self.record(Duration::ZERO, false);
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_queue {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::QueueFull { plugin: plugin.to_string(), max_queue: self.max_queue });
        }
        let start = Instant::now();
        let outcome = tokio::time::timeout(self.timeout, self.permits.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        self.record(start.elapsed(), true);
        match outcome {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(Error::Internal("pool closed".into())),
            Err(_) => Err(Error::QueueTimeout { plugin: plugin.to_string(), after: self.timeout }),
        }
    }

    /// A permit only if one is free and no call is waiting: background work
    /// (prefetch) never goes ahead of calls.
    pub fn try_enter(&self) -> Option<OwnedSemaphorePermit> {
        if self.waiting() > 0 {
            return None;
        }
        self.permits.clone().try_acquire_owned().ok()
    }

    fn record(&self, waited: Duration, queued: bool) {
        if queued {
            self.waits.fetch_add(1, Ordering::Relaxed);
        }
        let mut s = self.samples.lock().unwrap();
        if s.len() == WAIT_SAMPLES {
            s.pop_front();
        }
        s.push_back(waited.as_micros() as u64);
    }

    /// Calls waiting now.
    pub fn waiting(&self) -> u64 {
        self.waiting.load(Ordering::Relaxed)
    }

    /// (p50, p99) of recent waits in microseconds (0 when nobody waited).
    pub fn percentiles(&self) -> (u64, u64) {
        let mut v: Vec<u64> = self.samples.lock().unwrap().iter().copied().collect();
        if v.is_empty() {
            return (0, 0);
        }
        v.sort_unstable();
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        (at(0.50), at(0.99))
    }
}

/// One plugin's pool, as `GET /v1/admin/pools` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PoolStats {
    pub plugin: String,
    pub idle: usize,
    pub busy: u64,
    pub waiting: u64,
    pub created: u64,
    pub reused: u64,
    /// Retired after `max_uses` calls or over `max_idle_memory`.
    pub recycled: u64,
    /// Dropped after a trap, timeout or limit hit.
    pub discarded: u64,
    pub evicted: u64,
    /// Calls that had to queue for an instance.
    pub waits: u64,
    pub wait_p50_us: u64,
    pub wait_p99_us: u64,
    /// reused / (created + reused).
    pub reuse_ratio: f64,
    pub max_instances: u32,
    pub max_idle: u32,
    pub breaker: BreakerReport,
    /// Its outbound HTTP connections and requests.
    pub outbound: crate::services::OutboundReport,
}

impl Host {
    /// Pool figures for every plugin.
    pub fn pools(&self) -> Vec<PoolStats> {
        let charge = self.inner.outbound.config().connection_charge.as_u64();
        self.inner
            .registry
            .list()
            .iter()
            .map(|p| {
                let s = &p.stats;
                let (created, reused) = (s.instances_created.load(Ordering::Relaxed), s.instances_reused.load(Ordering::Relaxed));
                let (p50, p99) = p.gate.percentiles();
                PoolStats {
                    plugin: p.name.to_string(),
                    idle: p.idle_count(),
                    busy: s.busy.load(Ordering::Relaxed),
                    waiting: p.gate.waiting(),
                    created,
                    reused,
                    recycled: s.recycled.load(Ordering::Relaxed),
                    discarded: s.discarded.load(Ordering::Relaxed),
                    evicted: s.evictions.load(Ordering::Relaxed),
                    waits: p.gate.waits.load(Ordering::Relaxed),
                    wait_p50_us: p50,
                    wait_p99_us: p99,
                    reuse_ratio: if created + reused == 0 { 0.0 } else { reused as f64 / (created + reused) as f64 },
                    max_instances: p.manifest.pool.max_instances,
                    max_idle: p.manifest.pool.max_idle,
                    breaker: p.breaker.report(),
                    outbound: p.outbound.report(charge),
                }
            })
            .collect()
    }
}
