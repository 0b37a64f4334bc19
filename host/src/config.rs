//! Host configuration: a TOML file, overridden by command-line flags.

use bytesize::ByteSize;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Settings of `hostel serve`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on. Loopback by default.
    pub listen: SocketAddr,
    /// Directory scanned for `*/hostel.toml` at start.
    pub plugins_dir: PathBuf,
    /// Watch the plugins directory: changes take effect without a restart.
    pub watch_plugins: bool,
    /// Where the host keeps its state.
    pub data_dir: PathBuf,
    /// Largest HTTP request body.
    pub max_body: ByteSize,
    /// Capacity of the cache shared by plugins.
    pub cache_size: ByteSize,
    /// Epoch tick: the granularity of call timeouts.
    #[serde(with = "humantime_serde")]
    pub epoch_tick: Duration,
    /// `text` or `json` log lines.
    pub log_format: String,
    /// Memory budget, pressure levels, eviction and admission.
    pub memory: MemorySection,
    /// wasmtime engine settings (pooling allocator).
    pub engine: crate::engine::EngineSettings,
    /// How compiled artifacts are stored: raw (fastest) or zstd (smallest).
    pub artifact_format: crate::artifacts::Format,
    /// Invocation records kept in history (newest win).
    pub invocation_retention: u64,
    /// Bearer token required on management routes; none means open (loopback only by default).
    pub token: Option<String>,
    /// Routes that need the token: `management` or `all` (but `/`, `/healthz`, `/readyz`, `/openapi.json`).
    pub auth: crate::api::Auth,
    /// Connection limits and timeouts of the HTTP server.
    pub http: crate::api::HttpLimits,
    /// Plugins' outbound HTTP clients: pooling, timeouts, TLS roots.
    pub outbound: crate::services::OutboundConfig,
    /// Live events (`GET /v1/events`).
    pub events: EventsSection,
    /// Traces over OpenTelemetry (off unless `otlp_endpoint` is set).
    pub telemetry: crate::observe::TelemetryConfig,
    /// This host's name among nodes (`node` label of `/metrics`); the host name by default.
    pub node: Option<String>,
    /// OCI registries: plain-HTTP ones, credentials, timeouts.
    pub oci: crate::oci::OciConfig,
    /// The OCI catalogue this host serves the plugins of (none by default).
    pub catalogue: crate::oci::CatalogueConfig,
}

/// `[events]` in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsSection {
    /// Events the bus holds; a subscriber this far behind is dropped.
    pub buffer: usize,
}

impl Default for EventsSection {
    fn default() -> Self {
        EventsSection { buffer: crate::observe::DEFAULT_BUFFER }
    }
}

/// `[memory]` in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemorySection {
    /// Most bytes all instances and compiled code may hold together.
    pub budget: ByteSize,
    /// Where medium, high and critical start, as fractions of the budget.
    pub levels: crate::memory::Thresholds,
    /// Idle instances younger than this are not evicted under pressure.
    #[serde(with = "humantime_serde")]
    pub min_idle: Duration,
    #[serde(with = "humantime_serde")]
    pub check_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub sample_interval: Duration,
    /// How long an instantiation waits for memory before `over_budget`.
    #[serde(with = "humantime_serde")]
    pub admission_wait: Duration,
    /// Memory samples kept in history.
    pub history_retention: u64,
    /// Victim order under pressure after priority: `cost` (cold-start
    /// seconds lost per byte freed) or `lru`.
    pub eviction: crate::memory::Policy,
    /// Most bytes prefetched, not yet called instances may hold ("0B": no prefetch).
    pub prefetch_budget: ByteSize,
    /// Plugins cheaper than this to start cold are not prefetched.
    #[serde(with = "humantime_serde")]
    pub prefetch_min_cold: Duration,
}

impl Default for MemorySection {
    fn default() -> Self {
        let m = crate::memory::MemoryConfig::default();
        MemorySection {
            budget: ByteSize::b(m.budget),
            levels: m.thresholds,
            min_idle: m.min_idle,
            check_interval: m.check_interval,
            sample_interval: m.sample_interval,
            admission_wait: m.admission_wait,
            history_retention: 100_000,
            eviction: m.eviction,
            prefetch_budget: ByteSize::b(m.prefetch_budget),
            prefetch_min_cold: m.prefetch_min_cold,
        }
    }
}

impl MemorySection {
    pub fn to_config(&self) -> crate::memory::MemoryConfig {
        crate::memory::MemoryConfig {
            budget: self.budget.as_u64(),
            thresholds: self.levels,
            min_idle: self.min_idle,
            check_interval: self.check_interval,
            sample_interval: self.sample_interval,
            admission_wait: self.admission_wait,
            eviction: self.eviction,
            prefetch_budget: self.prefetch_budget.as_u64(),
            prefetch_min_cold: self.prefetch_min_cold,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:7070".parse().expect("valid default address"),
            plugins_dir: PathBuf::from("plugins"),
            watch_plugins: true,
            data_dir: PathBuf::from(".hostel"),
            max_body: ByteSize::mib(32),
            cache_size: ByteSize::mib(64),
            epoch_tick: Duration::from_millis(10),
            log_format: "text".into(),
            memory: MemorySection::default(),
            engine: crate::engine::EngineSettings::default(),
            artifact_format: crate::artifacts::Format::Raw,
            invocation_retention: 100_000,
            token: None,
            auth: crate::api::Auth::Management,
            http: crate::api::HttpLimits::default(),
            outbound: crate::services::OutboundConfig::default(),
            events: EventsSection::default(),
            telemetry: crate::observe::TelemetryConfig::default(),
            node: None,
            oci: crate::oci::OciConfig::default(),
            catalogue: crate::oci::CatalogueConfig::default(),
        }
    }
}

/// A config file that could not be read or parsed.
#[derive(Debug, thiserror::Error)]
#[error("config {path}: {message}")]
pub struct ConfigError {
    pub path: PathBuf,
    pub message: String,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError { path: path.to_path_buf(), message: e.to_string() })?;
        let config: Config = toml::from_str(&text).map_err(|e| ConfigError { path: path.to_path_buf(), message: e.to_string() })?;
        config.validate().map_err(|message| ConfigError { path: path.to_path_buf(), message })?;
        Ok(config)
    }

    /// Every duration, size and count within its documented range (README's config block).
    pub fn validate(&self) -> Result<(), String> {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        let durations = [
            ("epoch_tick", self.epoch_tick, ms(1), s(1)),
            ("memory.min_idle", self.memory.min_idle, Duration::ZERO, s(30 * 86_400)),
            ("memory.check_interval", self.memory.check_interval, ms(10), s(3600)),
            ("memory.sample_interval", self.memory.sample_interval, ms(10), s(86_400)),
            ("memory.admission_wait", self.memory.admission_wait, Duration::ZERO, s(3600)),
            ("memory.prefetch_min_cold", self.memory.prefetch_min_cold, Duration::ZERO, s(3600)),
            ("engine.compile_queue_timeout", self.engine.compile_queue_timeout, Duration::ZERO, s(86_400)),
            ("http.header_timeout", self.http.header_timeout, ms(100), s(3600)),
            ("http.body_timeout", self.http.body_timeout, ms(100), s(86_400)),
            ("http.idle_timeout", self.http.idle_timeout, ms(100), s(86_400)),
            ("outbound.connect_timeout", self.outbound.connect_timeout, ms(10), s(600)),
            ("outbound.first_byte_timeout", self.outbound.first_byte_timeout, ms(10), s(3600)),
            ("outbound.between_bytes_timeout", self.outbound.between_bytes_timeout, ms(10), s(3600)),
            ("outbound.idle_timeout", self.outbound.idle_timeout, ms(100), s(86_400)),
            ("oci.connect_timeout", self.oci.connect_timeout, ms(10), s(600)),
            ("oci.read_timeout", self.oci.read_timeout, ms(100), s(3600)),
            ("catalogue.poll_interval", self.catalogue.poll_interval, ms(100), s(86_400)),
        ];
        let sizes = [
            ("max_body", self.max_body.as_u64(), 1 << 10, 4 << 30),
            ("cache_size", self.cache_size.as_u64(), 0, 64 << 30),
            ("memory.budget", self.memory.budget.as_u64(), 1 << 20, 1 << 40),
            ("memory.prefetch_budget", self.memory.prefetch_budget.as_u64(), 0, 1 << 40),
            ("engine.max_memory", self.engine.max_memory.as_u64(), 64 << 10, 64 << 30),
            ("outbound.connection_charge", self.outbound.connection_charge.as_u64(), 0, 16 << 20),
            ("oci.max_component", self.oci.max_component.as_u64(), 1 << 10, 16 << 30),
        ];
        for (field, b, min, max) in sizes {
            if b < min || b > max {
                let f = crate::error::size;
                return Err(format!("`{field}`: {} is outside {} to {}", f(b), f(min), f(max)));
            }
        }
        let counts = [
            ("engine.max_instances", self.engine.max_instances as u64, 1, 100_000),
            ("engine.max_concurrent_compiles", self.engine.max_concurrent_compiles as u64, 0, 256),
            ("invocation_retention", self.invocation_retention, 0, 100_000_000),
            ("memory.history_retention", self.memory.history_retention, 0, 100_000_000),
            ("http.max_connections", self.http.max_connections as u64, 1, 1_000_000),
            ("outbound.max_connections_per_host", self.outbound.max_connections_per_host as u64, 1, 10_000),
            ("outbound.max_idle_per_host", self.outbound.max_idle_per_host as u64, 0, 10_000),
        ];
        if let Some(r) = &self.catalogue.reference {
            crate::oci::parse_reference(r).map_err(|e| format!("`catalogue.reference`: {e}"))?;
        }
        if self.node.as_deref().is_some_and(|n| n.is_empty() || n.len() > 128) {
            return Err("`node`: must be 1 to 128 characters".into());
        }
        use crate::error::{duration, out_of_range, size};
        let problem = durations
            .into_iter()
            .find_map(|(f, d, min, max)| out_of_range(d, min, max, duration).map(|m| (f, m)))
            .or_else(|| sizes.into_iter().find_map(|(f, b, min, max)| out_of_range(b, min, max, |v| size(*v)).map(|m| (f, m))))
            .or_else(|| counts.into_iter().find_map(|(f, n, min, max)| out_of_range(n, min, max, u64::to_string).map(|m| (f, m))));
        if let Some((field, message)) = problem {
            return Err(format!("`{field}`: {message}"));
        }
        self.memory.levels.validate()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn out_of_range_values_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        for (text, field) in [
            ("epoch_tick = '10years'", "epoch_tick"),
            ("[memory]\nbudget = '1KiB'", "memory.budget"),
            ("[engine]\ncompile_queue_timeout = '500000000000years'", "engine.compile_queue_timeout"),
            ("[engine]\nmax_concurrent_compiles = 100000", "engine.max_concurrent_compiles"),
            ("[http]\nheader_timeout = '0s'", "http.header_timeout"),
            ("[http]\nbody_timeout = '2days'", "http.body_timeout"),
            ("[http]\nidle_timeout = '1ms'", "http.idle_timeout"),
            ("[http]\nmax_connections = 0", "http.max_connections"),
            ("[outbound]\nconnect_timeout = '1ms'", "outbound.connect_timeout"),
            ("[outbound]\nmax_connections_per_host = 0", "outbound.max_connections_per_host"),
            ("[outbound]\nconnection_charge = '1GiB'", "outbound.connection_charge"),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = super::Config::load(&path).unwrap_err().to_string();
            assert!(e.contains(field) && e.contains("outside"), "{text}: {e}");
        }
        std::fs::write(&path, "[engine]\ncompile = 'process'\nmax_concurrent_compiles = 2").unwrap();
        assert_eq!(super::Config::load(&path).unwrap().engine.compile_slots(), 2);
        std::fs::write(&path, "auth = 'all'\n[http]\nidle_timeout = '1s'\nmax_connections = 8").unwrap();
        let c = super::Config::load(&path).unwrap();
        assert_eq!((c.auth, c.http.idle_timeout, c.http.max_connections), (crate::api::Auth::All, Duration::from_secs(1), 8));
        assert_eq!(c.http.header_timeout, Duration::from_secs(10), "unset keys keep their defaults");
        std::fs::write(&path, "[outbound]\nmax_idle_per_host = 0\nroots = 'none'\nextra_roots = ['ca.pem']").unwrap();
        let c = super::Config::load(&path).unwrap();
        assert_eq!((c.outbound.max_idle_per_host, c.outbound.roots), (0, crate::services::outbound::Roots::None));
        assert_eq!(c.outbound.connect_timeout, Duration::from_secs(5), "unset keys keep their defaults");
        std::fs::write(&path, "[memory]\neviction = 'lru'\nprefetch_budget = '0B'").unwrap();
        let c = super::Config::load(&path).unwrap().memory.to_config();
        assert_eq!((c.eviction, c.prefetch_budget), (crate::memory::Policy::Lru, 0));
        assert_eq!(super::Config::default().memory.eviction, crate::memory::Policy::Cost, "cost is the default");
        std::fs::write(&path, "[memory]\neviction = 'fifo'").unwrap();
        assert!(super::Config::load(&path).unwrap_err().to_string().contains("lru"));
        std::fs::write(&path, "auth = 'everything'").unwrap();
        assert!(super::Config::load(&path).unwrap_err().to_string().contains("management"));
    }
}
