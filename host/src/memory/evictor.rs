//! Eviction: dropping idle instances to give memory back. Busy instances are
//! never touched — they are not in any idle list while a call holds them.
//!
//! Order: lowest plugin priority first, then the policy's (see `policy`:
//! `cost` — expected cold-start seconds lost per byte freed — or `lru`). Three
//! triggers: pressure (at `high`, until 5 % below it; at `critical` also the
//! compiled components of idle plugins; and before admitting an instance that
//! would reach `high`, just enough to stay below), idle timeouts, and explicit requests
//! (`free(bytes)`, and admission making room for a new instance or a compile,
//! which may also unload idle plugins' compiled code). Pressure is measured on
//! the ledger plus the unexplained rest of RSS, so it reacts to real memory.

use super::policy::{self, Candidate, Policy};
use super::Level;
use crate::host::Host;
use crate::plugin::Plugin;
use serde::Serialize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why something was evicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvictionReason {
    /// The ledger was at `high` or above, or a new instance would have taken it there.
    Pressure,
    /// The instance sat idle past its plugin's `idle_timeout`.
    IdleTimeout,
    /// An operator asked for memory back.
    Free,
    /// A new instance needed room to be admitted.
    Admission,
    /// At `critical`: the compiled component of an idle plugin was unloaded.
    Unload,
}

/// One eviction, as reported by the API.
#[derive(Debug, Clone, Serialize)]
pub struct Eviction {
    pub ts_ms: u64,
    pub plugin: String,
    /// The instance's ledger id (none when a compiled component was unloaded).
    pub instance: Option<u64>,
    pub bytes: u64,
    pub reason: EvictionReason,
    /// The policy that chose the victim.
    pub policy: Policy,
    /// The victim's score when it went (none when a compiled component was unloaded).
    pub score: Option<f64>,
}

/// What `free(bytes)` did.
#[derive(Debug, Clone, Serialize)]
pub struct FreeReport {
    pub requested: u64,
    pub freed: u64,
    pub evicted: Vec<Eviction>,
}

/// An idle instance and what the policy knows of it.
struct Victim {
    plugin: Arc<Plugin>,
    candidate: Candidate,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Host {
    /// Evicts idle instances (lowest priority, then the policy's order) until
    /// `bytes` are freed or nothing idle is left.
    pub fn free(&self, bytes: u64) -> FreeReport {
        let ledger = &self.inner.ledger;
        let start = ledger.used();
        let evicted = self.evict_idle(Duration::ZERO, EvictionReason::Free, || start.saturating_sub(ledger.used()) >= bytes);
        FreeReport { requested: bytes, freed: start.saturating_sub(ledger.used()), evicted }
    }

    /// Makes room for `needed` more bytes by evicting idle instances, then
    /// unloading the compiled code of plugins with nothing busy or idle.
    pub(crate) fn make_room(&self, needed: u64) -> Vec<Eviction> {
        let ledger = &self.inner.ledger;
        let budget = ledger.budget();
        let mut evicted = self.evict_idle(Duration::ZERO, EvictionReason::Admission, || ledger.used() + needed <= budget);
        if ledger.used() + needed > budget {
            evicted.extend(self.unload_idle_plugins(|| ledger.used() + needed <= budget));
        }
        evicted
    }

    /// Before admitting `needed` bytes: if they would take pressure to `high`,
    /// evicts idle instances older than `min_idle` (policy order, reason
    /// `pressure`) until they no longer would. Evicts nothing when even every
    /// idle instance would not be enough (busy instances, compiles or RSS no
    /// charge explains hold the rest): that would be loss without relief.
    /// Never refuses: the budget, not `high`, is what admission enforces.
    pub(crate) fn keep_below_high(&self, needed: u64) {
        let ledger = &self.inner.ledger;
        let high = ledger.thresholds().bytes_at(Level::High, ledger.budget());
        if ledger.effective() + needed < high {
            return;
        }
        let victims = self.victims(self.inner.memory.min_idle);
        let idle: u64 = victims.iter().map(|v| v.candidate.bytes).sum();
        if ledger.effective() + needed < high + idle {
            self.evict_in_order(victims, EvictionReason::Pressure, || ledger.effective() + needed < high);
        }
    }

    /// At `high` or above: evicts idle instances older than `min_idle` until
    /// 5 % below `high` ([`Thresholds::relief_bytes`]); at `critical` also
    /// unloads idle plugins' compiled code.
    ///
    /// [`Thresholds::relief_bytes`]: crate::memory::Thresholds::relief_bytes
    pub(crate) fn relieve_pressure(&self) -> Vec<Eviction> {
        let ledger = &self.inner.ledger;
        let level = ledger.level();
        if level < Level::High {
            return Vec::new();
        }
        let target = ledger.thresholds().relief_bytes(ledger.budget());
        let min_idle = self.inner.memory.min_idle;
        let mut evicted = self.evict_idle(min_idle, EvictionReason::Pressure, || ledger.effective() < target);
        if level == Level::Critical && ledger.effective() >= target {
            evicted.extend(self.unload_idle_plugins(|| ledger.effective() < target));
        }
        evicted
    }

    /// Drops instances idle longer than their plugin's `idle_timeout`.
    pub(crate) fn expire_idle(&self) -> Vec<Eviction> {
        let now = self.secs();
        let mut evicted = Vec::new();
        for plugin in self.inner.registry.list() {
            let timeout = plugin.manifest.pool.idle_timeout;
            for view in plugin.idle_view() {
                if view.since.elapsed() >= timeout {
                    let bytes = self.inner.ledger.charged(view.id);
                    let v = Victim { candidate: self.candidate(&plugin, &view, bytes, now), plugin: plugin.clone() };
                    evicted.extend(self.evict_one(&v, EvictionReason::IdleTimeout));
                }
            }
        }
        evicted
    }

    /// What the policy knows of one idle instance of `plugin` holding `bytes`.
    pub(crate) fn candidate(&self, plugin: &Plugin, view: &crate::plugin::IdleView, bytes: u64, now: f64) -> Candidate {
        let usage = plugin.usage.lock().unwrap();
        Candidate {
            id: view.id,
            priority: plugin.manifest.priority,
            bytes,
            last_used: view.since.saturating_duration_since(self.inner.started).as_secs_f64(),
            cold_secs: usage.cold_secs,
            frequency: usage.frequency_at(now),
        }
    }

    /// Idle instances older than `min_idle`, in the policy's eviction order.
    fn victims(&self, min_idle: Duration) -> Vec<Victim> {
        let bytes: std::collections::HashMap<u64, u64> =
            self.inner.ledger.snapshot().instances.iter().map(|i| (i.id, i.charged_bytes)).collect();
        let now = self.secs();
        let mut all: Vec<Victim> = Vec::new();
        for plugin in self.inner.registry.list() {
            for view in plugin.idle_view() {
                if view.since.elapsed() >= min_idle {
                    let candidate = self.candidate(&plugin, &view, bytes.get(&view.id).copied().unwrap_or(0), now);
                    all.push(Victim { plugin: plugin.clone(), candidate });
                }
            }
        }
        let mut order: Vec<Candidate> = all.iter().map(|v| v.candidate.clone()).collect();
        policy::order(self.inner.memory.eviction, &mut order);
        let rank: std::collections::HashMap<u64, usize> = order.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
        all.sort_by_key(|v| rank[&v.candidate.id]);
        all
    }

    fn evict_idle(&self, min_idle: Duration, reason: EvictionReason, done: impl Fn() -> bool) -> Vec<Eviction> {
        self.evict_in_order(self.victims(min_idle), reason, done)
    }

    /// Evicts `victims` front to back until `done`.
    fn evict_in_order(&self, victims: Vec<Victim>, reason: EvictionReason, done: impl Fn() -> bool) -> Vec<Eviction> {
        let mut evicted = Vec::new();
        for v in victims {
            if done() {
                break;
            }
            if let Some(e) = self.evict_one(&v, reason) {
                evicted.push(e);
            }
        }
        evicted
    }

    fn evict_one(&self, v: &Victim, reason: EvictionReason) -> Option<Eviction> {
        let (plugin, id) = (&v.plugin, v.candidate.id);
        let instance = plugin.remove_idle(id)?;
        let bytes = instance.store.data().limiter.used();
        plugin.stats.evictions.fetch_add(1, Ordering::Relaxed);
        let score = policy::score(&v.candidate);
        let policy = self.inner.memory.eviction;
        if matches!(reason, EvictionReason::Pressure | EvictionReason::Admission) {
            // Evicted for memory, not for disuse: prefetch may bring it back
            // when memory allows.
            plugin.lost.store(true, Ordering::Relaxed);
        }
        let e = Eviction { ts_ms: now_ms(), plugin: plugin.name.to_string(), instance: Some(id), bytes, reason, policy, score: Some(score) };
        tracing::info!(plugin = %e.plugin, instance = id, bytes, reason = ?reason, policy = policy.as_str(), score, "evicted idle instance");
        // Recorded before the bytes go, so the eviction comes before the level change it causes.
        self.record_eviction(&e);
        drop(instance); // its limiter releases the bytes from the ledger
        Some(e)
    }

    /// Unloads compiled components of plugins with nothing busy or idle,
    /// lowest priority first, then loaded longest ago, until `done`.
    fn unload_idle_plugins(&self, done: impl Fn() -> bool) -> Vec<Eviction> {
        let mut plugins: Vec<Arc<Plugin>> = self
            .inner
            .registry
            .list()
            .into_iter()
            .filter(|p| p.loaded().is_some() && p.stats.busy.load(Ordering::Relaxed) == 0 && p.idle_count() == 0)
            .collect();
        plugins.sort_by_key(|p| (p.manifest.priority, p.loaded().map(|l| l.loaded_at)));
        let mut evicted = Vec::new();
        for plugin in plugins {
            if done() {
                break;
            }
            let bytes = plugin.loaded().map(|l| l.code_bytes()).unwrap_or(0);
            if plugin.unload() {
                let policy = self.inner.memory.eviction;
                let e = Eviction { ts_ms: now_ms(), plugin: plugin.name.to_string(), instance: None, bytes, reason: EvictionReason::Unload, policy, score: None };
                tracing::warn!(plugin = %e.plugin, bytes, "memory needed: unloaded compiled component");
                self.record_eviction(&e);
                evicted.push(e);
            }
        }
        evicted
    }
}
