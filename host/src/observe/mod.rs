//! What the host tells operators about calls: every finished (or refused)
//! invocation becomes one [`Call`], which feeds the Prometheus counters and
//! latency histogram here and the `invocations` history table (through the
//! background database writer, never on the caller's path).

mod events;
mod metrics;
pub mod telemetry;

pub(crate) use events::Events;
pub use events::{CompilePhase, Event, InstanceAction, PluginAction, Received, Stamped, Subscription, DEFAULT_BUFFER};
pub use metrics::Metrics;
pub use telemetry::{Telemetry, TelemetryConfig};

use serde::Serialize;
use std::time::Duration;

/// One invocation, as history and metrics see it.
#[derive(Debug, Clone, Serialize)]
pub struct Call {
    /// Set by the database; 0 before it is stored.
    pub id: i64,
    /// Unix milliseconds when the call started.
    pub ts_ms: u64,
    pub plugin: String,
    /// The export called (e.g. `info`, `call`, `generate`).
    pub export: String,
    pub duration_us: u64,
    /// `ok`, or the error code the caller got (e.g. `timeout`, `over_budget`).
    pub outcome: String,
    /// The error message, if any (cut to 500 bytes).
    pub message: Option<String>,
    /// Whether a warm instance served it.
    pub reused: bool,
}

impl Call {
    pub(crate) fn new(plugin: &str, export: &str, started: std::time::SystemTime, took: Duration, reused: bool, error: Option<&crate::Error>) -> Call {
        Call {
            id: 0,
            ts_ms: crate::host::millis(started),
            plugin: plugin.to_string(),
            export: export.to_string(),
            duration_us: took.as_micros() as u64,
            outcome: error.map_or("ok", |e| e.code()).to_string(),
            message: error.map(|e| cut(e.to_string(), 500)),
            reused,
        }
    }
}

/// `text` cut to at most `max` bytes, on a character boundary; a cut text says so.
pub(crate) fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let total = text.len();
        let end = (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        text.truncate(end);
        text.push_str(&format!("… ({total} bytes, cut)"));
    }
    text
}

/// One page of invocation history, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct CallPage {
    pub invocations: Vec<Call>,
    pub page: u32,
    pub page_size: u32,
    pub total: u64,
    pub has_next: bool,
}

impl crate::Host {
    /// Counts a finished or refused call and queues it for history.
    pub(crate) fn record_call(&self, call: Call) {
        self.inner.metrics.observe(&call);
        self.emit(|| Event::Call {
            plugin: call.plugin.clone(),
            export: call.export.clone(),
            outcome: call.outcome.clone(),
            ms: call.duration_us as f64 / 1000.0,
            warm: call.reused,
        });
        if let Some(db) = &self.inner.db {
            db.record_invocation(call);
        }
    }

    /// Page `page` (1-based) of the invocation history, newest first. Empty
    /// when the host has no data dir.
    pub fn invocations(&self, plugin: Option<&str>, page: u32, page_size: u32) -> crate::Result<CallPage> {
        match &self.inner.db {
            Some(db) => db.invocations(plugin, page, page_size).map_err(|e| crate::Error::Internal(e.to_string())),
            None => Ok(CallPage { invocations: Vec::new(), page, page_size, total: 0, has_next: false }),
        }
    }

    /// Prometheus text exposition: call counters and latency, memory, instances, pressure, outbound HTTP.
    pub fn metrics_text(&self) -> String {
        use std::sync::atomic::Ordering;
        let report = self.memory();
        let charge = self.inner.outbound.config().connection_charge.as_u64();
        let plugins = self
            .inner
            .registry
            .list()
            .iter()
            .map(|p| {
                let memory = report.plugins.iter().find(|m| *m.name == *p.name);
                metrics::PluginGauges {
                    plugin: p.name.to_string(),
                    loaded: p.loaded().is_some(),
                    memory_bytes: memory.map_or(0, |m| m.instance_bytes),
                    compiled_bytes: memory.map_or(0, |m| m.compiled_bytes),
                    idle: p.idle_count() as u64,
                    busy: p.stats.busy.load(Ordering::Relaxed),
                    evictions: p.stats.evictions.load(Ordering::Relaxed),
                    instances_created: p.stats.instances_created.load(Ordering::Relaxed),
                    outbound: p.outbound.report(charge),
                    handshake: Some(p.outbound.stats().handshake.clone()),
                }
            })
            .collect();
        self.inner.metrics.encode(&self.inner.node, metrics::HostGauges {
            budget: report.budget,
            used: report.used,
            level: report.level as u8,
            rss: report.process_rss,
            worker_rss: report.worker_rss,
            unexplained: report.unexplained_bytes,
            compiled: report.compiled_bytes,
            compile_reserved: report.compile_reserved_bytes,
            compiles_running: report.compile.queue.running as u64,
            compiles_waiting: report.compile.queue.waiting as u64,
            compiles_total: report.compile.compiles,
            compile_failures: report.compile.worker_failures,
            compiles_refused: report.compile.refused,
            plugins,
        })
    }

    /// Whether the host can serve: its database answers (when it has one).
    /// A node that follows a catalogue is ready once it has one (applied or
    /// restored): before, a balancer would send it calls for plugins it lacks.
    pub fn ready(&self) -> std::result::Result<(), String> {
        if let Some(db) = &self.inner.db {
            db.check().map_err(|e| format!("database: {e}"))?;
        }
        match self.catalogue() {
            Some(f) if f.digest.is_none() => Err(format!("the catalogue {} is not applied yet", f.reference)),
            _ => Ok(()),
        }
    }
}
