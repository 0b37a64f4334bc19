//! # Hostel — a WebAssembly plugin host
//!
//! Plugins are WebAssembly components implementing a world of the
//! `hostel:plugin` WIT contract (connector, pdf-processor, caption-model).
//! The host registers them without compiling, loads each on first use
//! (single-flight), enforces per-instance memory limits and call deadlines,
//! keeps warm instances for reuse, and exposes all of it as a library
//! ([`Host`]) with an HTTP adapter ([`api`]).
//!
//! ```no_run
//! # async fn demo() -> hostel::Result<()> {
//! let host = hostel::Host::builder().plugins_dir("plugins").build()?;
//! let pages = host.pdf_text("pdf-text", &std::fs::read("doc.pdf").unwrap(), 1, None).await?;
//! # Ok(()) }
//! ```
//!
//! The path of one call: [`Host`] → registry lookup → loader (compile once,
//! `InstancePre`) → a warm instance or a new `Store` with its limiter → call
//! under an epoch deadline → instance back to the pool or dropped.

pub mod api;
pub mod artifacts;
pub mod bindings;
pub mod compile;
pub mod config;
pub mod db;
pub mod engine;
pub mod error;
mod host;
pub mod instance;
mod invoke;
pub mod jobs;
mod loader;
pub mod memory;
pub mod observe;
pub mod oci;
pub mod plugin;
pub mod pool;
pub mod registry;
pub mod services;
pub mod world;

pub use error::{Error, PluginErrorCode, Result};

/// Makes ring the process's rustls provider — the one the host's own TLS
/// uses — so every reqwest client (registries, OTLP export, the CLI) finds
/// one: reqwest is built without a provider of its own (no aws-lc). Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
pub use host::{Host, HostBuilder, PluginInfo};
pub use invoke::{BatchItem, ExportInfo, ParamInfo, ResultCacheStats};
pub use world::caption::{CaptionStream, Style};
pub use world::pdf::PageStream;
pub use world::{Binding, Typed, World};
pub use plugin::{Kind, Manifest, State};

/// Types exchanged with plugins, re-exported by world.
pub mod types {
    pub use crate::bindings::caption::exports::hostel::plugin::captioner::{Caption, CaptionRequest, CaptionResult, Style};
    pub use crate::bindings::connector::exports::hostel::plugin::connector::ConnectorInfo;
    pub use crate::bindings::pdf::exports::hostel::plugin::pdf::{DocumentInfo, PageText};
    pub use crate::bindings::Metadata;
}
