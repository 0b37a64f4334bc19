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
