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
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:7070".parse().expect("valid default address"),
            plugins_dir: PathBuf::from("plugins"),
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
        toml::from_str(&text).map_err(|e| ConfigError { path: path.to_path_buf(), message: e.to_string() })
    }
}
