//! What the host tells about memory: the live report, history samples,
//! alerts, recent evictions; and the monitor thread that keeps them coming.

use super::{Eviction, InstanceUsage, Level, Thresholds};
use crate::db::{Alert, Sample};
use crate::error::{Error, Result};
use crate::host::{millis, Host, Inner};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Weak;
use std::time::{Instant, SystemTime};

/// How many evictions the report remembers.
const RECENT_EVICTIONS: usize = 200;

/// One instance in the report.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceReport {
    #[serde(flatten)]
    pub usage: InstanceUsage,
    /// `idle` (in the pool) or `busy` (a call holds it).
    pub state: &'static str,
    pub idle_ms: Option<u64>,
    /// Idle instances: the eviction score (frequency × cold seconds / MiB;
    /// lowest goes first within a priority).
    pub score: Option<f64>,
    /// Made by prefetch and not called yet.
    pub prefetched: bool,
}

/// One plugin in the report.
#[derive(Debug, Clone, Serialize)]
pub struct PluginMemory {
    pub name: String,
    pub priority: i32,
    pub limit_per_instance: u64,
    /// Bytes of all its instances (memories and tables).
    pub instance_bytes: u64,
    pub compiled_bytes: u64,
    /// Charged for its open outbound HTTP connections.
    pub outbound_bytes: u64,
    /// Measured cold cost: instantiate to ready plus the first call's extra
    /// time over a warm call, moving average (none before the first sample).
    pub cold_ms: Option<f64>,
    /// Calls, decayed with a 10-minute half-life.
    pub frequency: f64,
    pub instances: Vec<InstanceReport>,
}

/// A compile in flight and what it reserved.
#[derive(Debug, Clone, Serialize)]
pub struct CompileReservation {
    pub plugin: String,
    pub reserved_bytes: u64,
}

/// The whole picture.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryReport {
    pub budget: u64,
    /// Bytes charged: instances (max of reserved and used), compiled code
    /// (once per component) and compiles in flight.
    pub used: u64,
    /// What pressure levels are computed on: `used` plus `unexplained_bytes`.
    pub effective: u64,
    pub level: Level,
    pub thresholds: Thresholds,
    /// Instance reservations not yet used.
    pub reserved_bytes: u64,
    pub compiled_bytes: u64,
    /// Compiles running now and what each reserved.
    pub compiles: Vec<CompileReservation>,
    pub compile_reserved_bytes: u64,
    /// Charged for open outbound HTTP connections, all plugins.
    pub outbound_bytes: u64,
    pub compile: crate::compile::CompileStats,
    pub plugins: Vec<PluginMemory>,
    /// RSS of the host process.
    pub process_rss: u64,
    /// RSS of its compile workers, summed.
    pub worker_rss: u64,
    /// Host RSS before any plugin loaded; RSS above it is plugins' memory.
    pub baseline_rss: u64,
    /// RSS (host and workers) above the baseline that no charge explains.
    pub unexplained_bytes: u64,
    pub system_available: u64,
    pub system_total: u64,
    /// `[memory] eviction`: `cost` or `lru`.
    pub eviction: crate::memory::Policy,
    /// Newest last: what went, why (`reason`), by which `policy`, at what `score`.
    pub recent_evictions: Vec<Eviction>,
}

impl Host {
    /// Budget, usage, level, per plugin and per instance, process and system memory.
    pub fn memory(&self) -> MemoryReport {
        let snap = self.inner.ledger.snapshot();
        let charged: BTreeMap<u64, u64> = snap.instances.iter().map(|i| (i.id, i.charged_bytes)).collect();
        let now = self.secs();
        // Idle instances: (idle ms, score, prefetched).
        let mut idle: BTreeMap<u64, (u64, f64, bool)> = BTreeMap::new();
        let mut plugins: Vec<PluginMemory> = Vec::new();
        for plugin in self.inner.registry.list() {
            for view in plugin.idle_view() {
                let c = self.candidate(&plugin, &view, charged.get(&view.id).copied().unwrap_or(0), now);
                idle.insert(view.id, (view.since.elapsed().as_millis() as u64, super::policy::score(&c), view.prefetched));
            }
            let sha = plugin.loaded().map(|l| l.sha256().to_string());
            let usage = plugin.usage.lock().unwrap().clone();
            plugins.push(PluginMemory {
                name: plugin.name.to_string(),
                priority: plugin.manifest.priority,
                limit_per_instance: plugin.manifest.limits.memory.as_u64(),
                instance_bytes: 0,
                compiled_bytes: sha.and_then(|s| snap.compiled.get(&s).copied()).unwrap_or(0),
                outbound_bytes: snap.outbound.get(&*plugin.name).copied().unwrap_or(0),
                cold_ms: (usage.cold_samples > 0).then_some(usage.cold_secs * 1e3),
                frequency: usage.frequency_at(now),
                instances: Vec::new(),
            });
        }
        let mut reserved = 0;
        for usage in snap.instances {
            reserved += usage.reserved_bytes.saturating_sub(usage.memory_bytes + usage.table_bytes);
            let Some(p) = plugins.iter_mut().find(|p| p.name == usage.plugin) else { continue };
            p.instance_bytes += usage.memory_bytes + usage.table_bytes;
            let seen = idle.get(&usage.id).copied();
            p.instances.push(InstanceReport {
                state: if seen.is_some() { "idle" } else { "busy" },
                idle_ms: seen.map(|s| s.0),
                score: seen.map(|s| s.1),
                prefetched: seen.is_some_and(|s| s.2),
                usage,
            });
        }
        let (rss, available, total) = self.system_memory();
        let worker_rss: u64 = self.inner.compiler.worker_pids().into_iter().map(process_rss).sum();
        let compiles: Vec<CompileReservation> =
            snap.compiles.iter().map(|(p, b)| CompileReservation { plugin: p.clone(), reserved_bytes: *b }).collect();
        let baseline = self.inner.baseline_rss.load(std::sync::atomic::Ordering::Relaxed);
        MemoryReport {
            budget: snap.budget,
            used: snap.used,
            effective: snap.used + snap.unexplained,
            level: snap.level,
            thresholds: self.inner.ledger.thresholds(),
            reserved_bytes: reserved,
            compiled_bytes: snap.compiled.values().sum(),
            compile_reserved_bytes: compiles.iter().map(|c| c.reserved_bytes).sum(),
            compiles,
            outbound_bytes: snap.outbound.values().sum(),
            compile: self.compile_stats(),
            plugins,
            process_rss: rss,
            worker_rss,
            baseline_rss: baseline,
            unexplained_bytes: (rss + worker_rss).saturating_sub(baseline).saturating_sub(snap.used),
            system_available: available,
            system_total: total,
            eviction: self.inner.memory.eviction,
            recent_evictions: self.inner.evictions.lock().unwrap().iter().cloned().collect(),
        }
    }

    /// (process RSS, system available, system total).
    fn system_memory(&self) -> (u64, u64, u64) {
        let mut sys = self.inner.system.lock().unwrap();
        sys.refresh_memory();
        (process_rss(std::process::id()), sys.available_memory(), sys.total_memory())
    }

    /// Measures RSS (host and compile workers) above the baseline and tells
    /// the ledger, so pressure follows real memory.
    pub(crate) fn measure(&self) {
        let rss = process_rss(std::process::id());
        let workers: u64 = self.inner.compiler.worker_pids().into_iter().map(process_rss).sum();
        let baseline = self.inner.baseline_rss.load(std::sync::atomic::Ordering::Relaxed);
        self.inner.ledger.observe_measured((rss + workers).saturating_sub(baseline));
    }

    /// What holds the budget now, for `over_budget` messages.
    pub(crate) fn budget_holders(&self) -> String {
        let snap = self.inner.ledger.snapshot();
        let idle: std::collections::HashSet<u64> =
            self.inner.registry.list().iter().flat_map(|p| p.idle_view()).map(|v| v.id).collect();
        let (mut busy, mut idle_bytes) = (0u64, 0u64);
        for i in &snap.instances {
            if idle.contains(&i.id) {
                idle_bytes += i.charged_bytes;
            } else {
                busy += i.charged_bytes;
            }
        }
        let size = crate::error::size;
        format!(
            "busy instances {}, idle instances {}, compiled code {}, compiles {}, outbound connections {}",
            size(busy),
            size(idle_bytes),
            size(snap.compiled.values().sum()),
            size(snap.compiles.iter().map(|c| c.1).sum()),
            size(snap.outbound.values().sum())
        )
    }

    /// Memory samples newer than `since` (unix ms), oldest first.
    pub fn memory_history(&self, since: u64, limit: u32) -> Result<Vec<Sample>> {
        match &self.inner.db {
            Some(db) => db.samples(since, limit).map_err(|e| Error::Internal(e.to_string())),
            None => Ok(Vec::new()),
        }
    }

    /// Level changes, newest first; `before` (an alert id) pages backwards.
    pub fn alerts(&self, before: Option<i64>, limit: u32) -> Result<Vec<Alert>> {
        match &self.inner.db {
            Some(db) => db.alerts(before, limit).map_err(|e| Error::Internal(e.to_string())),
            None => Ok(Vec::new()),
        }
    }

    /// Writes one memory sample now (the monitor does this every interval).
    pub fn sample_memory(&self) {
        if self.inner.db.is_none() && self.inner.events.subscribers() == 0 {
            return;
        }
        let report = self.memory();
        let plugins: serde_json::Map<String, serde_json::Value> = report
            .plugins
            .iter()
            .filter(|p| p.instance_bytes + p.compiled_bytes > 0)
            .map(|p| (p.name.clone(), (p.instance_bytes + p.compiled_bytes).into()))
            .collect();
        let plugins: serde_json::Value = plugins.into();
        self.emit(|| crate::observe::Event::Memory {
            used: report.used,
            budget: report.budget,
            level: report.level.as_str().into(),
            rss: report.process_rss,
            plugins: plugins.clone(),
        });
        let Some(db) = &self.inner.db else { return };
        db.record_sample(Sample {
            ts_ms: millis(SystemTime::now()),
            used: report.used,
            budget: report.budget,
            level: report.level.as_str().into(),
            rss: report.process_rss,
            system_available: report.system_available,
            plugins,
        });
    }

    /// Waits until every history write sent so far is committed.
    pub fn flush_history(&self) {
        if let Some(db) = &self.inner.db {
            db.flush();
        }
    }

    pub(crate) fn record_eviction(&self, e: &Eviction) {
        let reason = serde_json::to_value(e.reason).ok().and_then(|v| v.as_str().map(str::to_string));
        match e.instance {
            Some(id) => self.emit(|| crate::observe::Event::Instance {
                plugin: e.plugin.clone(),
                action: crate::observe::InstanceAction::Evicted,
                instance: id,
                bytes: e.bytes,
                reason,
            }),
            None => self.emit_plugin(&e.plugin, crate::observe::PluginAction::Unloaded, reason, None),
        }
        let mut recent = self.inner.evictions.lock().unwrap();
        if recent.len() == RECENT_EVICTIONS {
            recent.pop_front();
        }
        recent.push_back(e.clone());
    }
}

/// Resident bytes of process `pid` (0 if it is gone), from `/proc/<pid>/statm`.
pub fn process_rss(pid: u32) -> u64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/statm")) else { return 0 };
    let pages: u64 = text.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    pages * page
}

/// Starts the monitor thread: idle timeouts, pressure relief (right away when
/// the level rises), and periodic samples. It stops when the host is dropped.
pub(crate) fn spawn_monitor(host: &Host, kicked: Receiver<()>) {
    let weak: Weak<Inner> = std::sync::Arc::downgrade(&host.inner);
    let check = host.inner.memory.check_interval;
    let sample_every = host.inner.memory.sample_interval;
    let spawned = std::thread::Builder::new().name("hostel-memory".into()).spawn(move || {
        let mut last_sample = Instant::now() - sample_every;
        loop {
            match kicked.recv_timeout(check) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            let Some(inner) = weak.upgrade() else { return };
            let host = Host { inner };
            host.measure();
            host.expire_idle();
            host.relieve_pressure();
            host.kick_prefetch();
            if last_sample.elapsed() >= sample_every {
                host.sample_memory();
                last_sample = Instant::now();
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start the memory monitor: {e}");
    }
}
