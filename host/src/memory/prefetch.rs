//! Prefetch: when pressure falls below `medium`, re-create instances that
//! were evicted for memory and that the policy expects to be needed soon, so
//! their next call is warm instead of paying a cold start.
//!
//! Bounds, so it never starves real calls: one instance at a time on its own
//! thread at a lower CPU priority; only plugins already loaded (it never
//! queues a compile); a pool permit only if one is free and no call waits;
//! admission without eviction; an instance only if the ledger stays below
//! `medium` with it (it is dropped if its warm-up pushed past); one instance
//! per plugin that lost one (at most `max(min_warm, 1)` idle); prefetched
//! instances no call used yet hold at most `[memory] prefetch_budget`; only
//! plugins whose cold cost is at least `[memory] prefetch_min_cold`.

use super::policy::Policy;
use super::Level;
use crate::host::{Host, Inner};
use crate::plugin::Plugin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

/// Most instances one round makes (each round is woken by the monitor).
const PER_ROUND: usize = 8;

/// CPU niceness of the prefetch thread, above the host's.
const NICENESS: i32 = 10;

/// Starts the prefetch thread (none when `prefetch_budget` is 0). It stops
/// when the host is dropped.
pub(crate) fn spawn_prefetcher(host: &Host) {
    if host.inner.memory.prefetch_budget == 0 {
        return;
    }
    let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
    *host.inner.prefetch.lock().unwrap() = Some(tx);
    let weak: Weak<Inner> = Arc::downgrade(&host.inner);
    let spawned = std::thread::Builder::new().name("hostel-prefetch".into()).spawn(move || {
        // SAFETY: setpriority on this thread's own id has no preconditions.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, NICENESS);
        }
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(r) => r,
            Err(e) => return tracing::error!("prefetch: no runtime: {e}"),
        };
        while rx.recv().is_ok() {
            let Some(inner) = weak.upgrade() else { return };
            let host = Host { inner };
            let made = runtime.block_on(host.prefetch_round());
            if made > 0 {
                tracing::debug!(made, "prefetched instances");
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start the prefetch thread: {e}");
    }
}

impl Host {
    /// Wakes the prefetcher if memory is below `medium` (the monitor calls this).
    pub(crate) fn kick_prefetch(&self) {
        if self.inner.ledger.level() < Level::Medium {
            if let Some(tx) = self.inner.prefetch.lock().unwrap().as_ref() {
                let _ = tx.try_send(());
            }
        }
    }

    /// Bytes held by prefetched instances no call has used yet.
    fn prefetched_bytes(&self) -> u64 {
        let ledger = &self.inner.ledger;
        self.inner.registry.list().iter().flat_map(|p| p.idle_view()).filter(|v| v.prefetched).map(|v| ledger.charged(v.id)).sum()
    }

    /// What an instance of `plugin` is expected to hold once warm.
    fn expected_bytes(plugin: &Plugin) -> u64 {
        let measured = plugin.usage.lock().unwrap().instance_bytes;
        measured.max(plugin.manifest.limits.memory_estimate.as_u64())
    }

    /// Plugins worth an instance now, most wanted first: by priority, then
    /// (policy `cost`) expected cold seconds saved per byte, or (`lru`) the
    /// most recently called.
    fn prefetch_wanted(&self) -> Vec<(Arc<Plugin>, u64)> {
        let min_cold = self.inner.memory.prefetch_min_cold.as_secs_f64();
        let now = self.secs();
        let mut wanted: Vec<(Arc<Plugin>, u64, f64)> = Vec::new();
        for p in self.inner.registry.list() {
            let pool = &p.manifest.pool;
            let keep = pool.min_warm.max(1).min(pool.max_idle) as usize;
            let usage = p.usage.lock().unwrap().clone();
            let ready = p.lost.load(Ordering::Relaxed)
                && !p.is_retired()
                && p.loaded().is_some()
                && !pool.fresh_instance_per_call
                && p.idle_count() < keep
                && p.gate.waiting() == 0
                && usage.cold_secs >= min_cold;
            if !ready {
                continue;
            }
            let bytes = Self::expected_bytes(&p);
            let rank = match self.inner.memory.eviction {
                Policy::Cost => usage.frequency_at(now).max(1.0) * usage.cold_secs / (bytes.max(1) as f64),
                Policy::Lru => usage.seen_at,
            };
            wanted.push((p, bytes, rank));
        }
        wanted.sort_by(|a, b| b.0.manifest.priority.cmp(&a.0.manifest.priority).then(b.2.total_cmp(&a.2)));
        wanted.into_iter().map(|(p, b, _)| (p, b)).collect()
    }

    /// One round: makes instances for wanted plugins while they fit below
    /// `medium` and the prefetch budget. Returns how many it made.
    pub(crate) async fn prefetch_round(&self) -> usize {
        let ledger = self.inner.ledger.clone();
        let medium = ledger.thresholds().bytes_at(Level::Medium, ledger.budget());
        let budget = self.inner.memory.prefetch_budget;
        let mut made = 0;
        for (plugin, expected) in self.prefetch_wanted() {
            if made == PER_ROUND || ledger.level() >= Level::Medium {
                break;
            }
            if ledger.effective() + expected >= medium || self.prefetched_bytes() + expected > budget {
                continue;
            }
            match self.prefetch_instance(&plugin).await {
                Ok(true) => made += 1,
                Ok(false) => {}
                Err(e) => {
                    // Not retried until the plugin loses an instance again.
                    plugin.lost.store(false, Ordering::Relaxed);
                    tracing::warn!(plugin = &*plugin.name, "prefetch failed: {e}");
                }
            }
        }
        made
    }
}
