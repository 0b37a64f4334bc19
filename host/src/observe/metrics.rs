//! Prometheus text exposition (prometheus-client). Counters and the latency
//! histogram are kept as calls finish; everything else (memory, instances,
//! pressure, RSS) is read from the host at scrape time, so it is never stale.

use super::Call;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    plugin: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    plugin: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectionLabels {
    plugin: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InstanceLabels {
    plugin: String,
    state: &'static str,
}

/// Counters and histograms fed by finished calls.
#[derive(Clone)]
pub struct Metrics {
    calls: Family<CallLabels, Counter>,
    latency: Family<PluginLabels, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            calls: Family::default(),
            // 100 µs … 26 s, ×4 per bucket.
            latency: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0001, 4.0, 10))),
        }
    }
}

/// One plugin's figures at scrape time.
#[derive(Debug, Clone, Default)]
pub struct PluginGauges {
    pub plugin: String,
    pub loaded: bool,
    pub memory_bytes: u64,
    pub compiled_bytes: u64,
    pub idle: u64,
    pub busy: u64,
    pub evictions: u64,
    pub instances_created: u64,
    /// Its outbound HTTP figures.
    pub outbound: crate::services::OutboundReport,
    /// Connect (handshake) times of its outbound connections.
    pub handshake: Option<Histogram>,
}

/// The host's figures at scrape time.
#[derive(Debug, Clone, Default)]
pub struct HostGauges {
    pub budget: u64,
    pub used: u64,
    /// 0 low, 1 medium, 2 high, 3 critical.
    pub level: u8,
    pub rss: u64,
    pub worker_rss: u64,
    pub unexplained: u64,
    pub compiled: u64,
    pub compile_reserved: u64,
    pub compiles_running: u64,
    pub compiles_waiting: u64,
    pub compiles_total: u64,
    pub compile_failures: u64,
    pub compiles_refused: u64,
    pub plugins: Vec<PluginGauges>,
}

impl Metrics {
    pub(crate) fn observe(&self, call: &Call) {
        self.calls.get_or_create(&CallLabels { plugin: call.plugin.clone(), outcome: call.outcome.clone() }).inc();
        self.latency
            .get_or_create(&PluginLabels { plugin: call.plugin.clone() })
            .observe(call.duration_us as f64 / 1e6);
    }

    /// The whole exposition in Prometheus text format.
    /// Every series carries `node` (this host's name), so nodes' series stay apart.
    pub fn encode(&self, node: &str, gauges: HostGauges) -> String {
        let mut registry = Registry::with_labels(std::iter::once((std::borrow::Cow::Borrowed("node"), std::borrow::Cow::Owned(node.to_string()))));
        registry.register("hostel_invocations", "Invocations by plugin and outcome (ok or the error code)", self.calls.clone());
        registry.register("hostel_invocation_duration_seconds", "Invocation latency, queueing and instantiation included", self.latency.clone());
        registry.register_collector(Box::new(gauges));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("writing to a String cannot fail");
        out
    }
}

impl Collector for HostGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let host = [
            ("hostel_memory_budget_bytes", "The memory budget for all plugins", self.budget),
            ("hostel_memory_used_bytes", "Bytes charged in the ledger (instances, reservations, compiled code)", self.used),
            ("hostel_memory_pressure_level", "Pressure level: 0 low, 1 medium, 2 high, 3 critical", self.level as u64),
            ("hostel_process_rss_bytes", "Resident set size of the host process", self.rss),
            ("hostel_compile_worker_rss_bytes", "Resident set size of the compile workers running now, summed", self.worker_rss),
            ("hostel_memory_unexplained_bytes", "RSS (host and workers) above the host's baseline that no ledger charge explains", self.unexplained),
            ("hostel_memory_compiled_bytes", "Compiled code of loaded components, once per component", self.compiled),
            ("hostel_compile_reserved_bytes", "Memory reserved by compiles in flight", self.compile_reserved),
            ("hostel_compiles_running", "Compiles running now", self.compiles_running),
            ("hostel_compiles_waiting", "Compiles waiting in the compile queue", self.compiles_waiting),
        ];
        for (name, help, value) in host {
            let gauge = ConstGauge::new(value as i64);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        let totals = [
            ("hostel_compiles", "Compiles run (artifact-cache misses)", self.compiles_total),
            ("hostel_compile_worker_failures", "Compile workers that crashed, were killed or timed out", self.compile_failures),
            ("hostel_compiles_refused", "Compiles refused because their memory reservation could not fit", self.compiles_refused),
        ];
        for (name, help, value) in totals {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)?;
        }
        let per_plugin: [(&str, &str, fn(&PluginGauges) -> u64); 3] = [
            ("hostel_plugin_memory_bytes", "Bytes charged to the plugin's instances", |p| p.memory_bytes),
            ("hostel_plugin_compiled_bytes", "Compiled code of the plugin's loaded component", |p| p.compiled_bytes),
            ("hostel_plugin_loaded", "1 if the plugin's component is compiled and loaded", |p| p.loaded as u64),
        ];
        for (name, help, read) in per_plugin {
            let mut family = encoder.encode_descriptor(name, help, None, prometheus_client::metrics::MetricType::Gauge)?;
            for p in &self.plugins {
                let labels = PluginLabels { plugin: p.plugin.clone() };
                ConstGauge::new(read(p) as i64).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor("hostel_plugin_instances", "Instances by state", None, prometheus_client::metrics::MetricType::Gauge)?;
        for p in &self.plugins {
            for (state, n) in [("idle", p.idle), ("busy", p.busy)] {
                let labels = InstanceLabels { plugin: p.plugin.clone(), state };
                ConstGauge::new(n as i64).encode(family.encode_family(&labels)?)?;
            }
        }
        let counters: [(&str, &str, fn(&PluginGauges) -> u64); 2] = [
            ("hostel_plugin_evictions", "Idle instances evicted", |p| p.evictions),
            ("hostel_plugin_instances_created", "Instances created", |p| p.instances_created),
        ];
        for (name, help, read) in counters {
            let mut family = encoder.encode_descriptor(name, help, None, prometheus_client::metrics::MetricType::Counter)?;
            for p in &self.plugins {
                let labels = PluginLabels { plugin: p.plugin.clone() };
                ConstCounter::new(read(p)).encode(family.encode_family(&labels)?)?;
            }
        }
        self.encode_outbound(&mut encoder)
    }
}

impl HostGauges {
    /// Per plugin: outbound connections by state, requests on new and
    /// reused connections, requests by status, handshake times.
    fn encode_outbound(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use prometheus_client::metrics::MetricType;
        let mut family = encoder.encode_descriptor("hostel_outbound_connections", "Outbound HTTP connections open now, by state (idle or busy)", None, MetricType::Gauge)?;
        for p in &self.plugins {
            let o = &p.outbound;
            for (state, n) in [("idle", o.idle), ("busy", o.open - o.idle)] {
                ConstGauge::new(n as i64).encode(family.encode_family(&ConnectionLabels { plugin: p.plugin.clone(), state })?)?;
            }
        }
        let mut family = encoder.encode_descriptor("hostel_outbound_connection_requests", "Outbound HTTP responses by connection: new (opened for the request) or reused (from the pool)", None, MetricType::Counter)?;
        for p in &self.plugins {
            for (state, n) in [("new", p.outbound.new), ("reused", p.outbound.reused)] {
                ConstCounter::new(n).encode(family.encode_family(&ConnectionLabels { plugin: p.plugin.clone(), state })?)?;
            }
        }
        let mut family = encoder.encode_descriptor("hostel_outbound_requests", "Finished outbound HTTP requests by status, or by the error that ended them", None, MetricType::Counter)?;
        for p in &self.plugins {
            for (status, n) in &p.outbound.requests {
                ConstCounter::new(*n).encode(family.encode_family(&StatusLabels { plugin: p.plugin.clone(), status: status.clone() })?)?;
            }
        }
        let mut family = encoder.encode_descriptor("hostel_outbound_handshake_seconds", "Connect time of outbound connections: DNS, TCP and TLS", None, MetricType::Histogram)?;
        for p in &self.plugins {
            if let Some(h) = &p.handshake {
                h.encode(family.encode_family(&PluginLabels { plugin: p.plugin.clone() })?)?;
            }
        }
        Ok(())
    }
}
