//! Typed errors of the library. The HTTP adapter maps each to a status and a
//! stable `code`; embedders match on the variants.

use std::time::Duration;

/// What went wrong with a plugin operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No plugin of that name is registered.
    #[error("no plugin named {0:?} is registered")]
    UnknownPlugin(String),

    /// The plugin exists but is of another kind than the call needs.
    #[error("plugin {plugin:?} is a {actual} plugin, not a {expected}")]
    WrongKind { plugin: String, expected: String, actual: String },

    /// The plugin could not be loaded (broken component, missing file, invalid manifest).
    #[error("plugin {plugin:?} failed to load: {message}")]
    PluginFailed { plugin: String, message: String },

    /// Loading (compiling) took longer than the manifest's load timeout.
    #[error("plugin {plugin:?} did not load within {after:?}")]
    LoadTimeout { plugin: String, after: Duration },

    /// Its component is in an OCI registry that could not be reached.
    #[error("plugin {plugin:?} could not be pulled: {message}")]
    RegistryUnavailable { plugin: String, message: String },

    /// The plugin returned a `plugin-error`.
    #[error("plugin {plugin:?} reported {code}: {message}")]
    Plugin { plugin: String, code: PluginErrorCode, message: String },

    /// The call ran past its deadline and was interrupted.
    #[error("plugin {plugin:?} did not finish within {after:?}; the call was interrupted")]
    Timeout { plugin: String, after: Duration },

    /// The instance tried to grow its memory past the manifest limit.
    #[error("plugin {plugin:?} exceeded its memory limit of {} per instance", size(*limit))]
    MemoryLimitExceeded { plugin: String, limit: u64 },

    /// The instance tried to grow a table past its maximum number of elements.
    #[error("plugin {plugin:?} grew a table past its maximum of {maximum} elements")]
    TableLimitExceeded { plugin: String, maximum: usize },

    /// The call returned more than the manifest's `max_output`.
    #[error("plugin {plugin:?} returned more than its output limit of {}; the result was dropped and the instance discarded", size(*limit))]
    OutputTooLarge { plugin: String, limit: u64 },

    /// Admitting a new instance (or a compile) would pass the host's memory
    /// budget, even after evicting what is idle and waiting.
    #[error("memory budget exhausted: plugin {plugin:?} needs {}, {} of {} are in use ({holders}); retry later", size(*needed), size(*used), size(*budget))]
    OverBudget { plugin: String, needed: u64, used: u64, budget: u64, holders: String },

    /// A first call waited `after` in the compile queue; the compile goes on.
    #[error("plugin {plugin:?} is still waiting for a compile slot after {after:?}; the compile goes on, retry later")]
    CompileQueueTimeout { plugin: String, after: Duration },

    /// Every instance is busy and the queue is full.
    #[error("plugin {plugin:?} is at max_instances and {max_queue} calls are already queued")]
    QueueFull { plugin: String, max_queue: u64 },

    /// A queued call waited `queue_timeout` without getting an instance.
    #[error("plugin {plugin:?} had no free instance within {after:?}")]
    QueueTimeout { plugin: String, after: Duration },

    /// Too many consecutive failures: the plugin fails fast until a probe succeeds.
    #[error("plugin {plugin:?} failed repeatedly; its circuit is open for another {} s", retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0))]
    CircuitOpen { plugin: String, retry_after: Duration },

    /// The plugin trapped (panic, unreachable, out-of-bounds access, ...).
    #[error("plugin {plugin:?} trapped: {message}")]
    Trap { plugin: String, message: String },

    /// The plugin exports no function of that name.
    #[error("plugin {plugin:?} exports no function {export:?}; it exports: {}", available.join(", "))]
    UnknownExport { plugin: String, export: String, available: Vec<String> },

    /// Too many jobs are running.
    #[error("{0} jobs are running already; retry when some finish")]
    TooManyJobs(u64),

    /// No job has that id.
    #[error("no job {0}")]
    UnknownJob(u64),

    /// An uploaded manifest is invalid (the message names the field).
    #[error("{0}")]
    InvalidManifest(String),

    /// An uploaded component does not compile or does not implement its world.
    #[error("plugin {plugin:?}: the uploaded component was refused: {message}")]
    InvalidComponent { plugin: String, message: String },

    /// The upload's bytes do not hash to the sha256 it was sent with.
    #[error("the component's sha256 is {actual}, not the {expected} it was sent with")]
    Sha256Mismatch { expected: String, actual: String },

    /// The request conflicts with the registry (e.g. a name taken by a plugins-dir plugin).
    #[error("{0}")]
    Conflict(String),

    /// The caller's input could not be passed to the plugin at all.
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// A host-side failure (I/O, configuration).
    #[error("internal error: {0}")]
    Internal(String),
}

/// The class of a `plugin-error` (mirrors the WIT `error-code` enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginErrorCode {
    InvalidInput,
    NotFound,
    Unavailable,
    Denied,
    Internal,
}

impl std::fmt::Display for PluginErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PluginErrorCode::InvalidInput => "invalid_input",
            PluginErrorCode::NotFound => "not_found",
            PluginErrorCode::Unavailable => "unavailable",
            PluginErrorCode::Denied => "denied",
            PluginErrorCode::Internal => "internal",
        })
    }
}

impl Error {
    /// A stable, machine-readable code (used as `error.code` over HTTP).
    pub fn code(&self) -> &'static str {
        match self {
            Error::UnknownPlugin(_) => "unknown_plugin",
            Error::WrongKind { .. } => "wrong_kind",
            Error::PluginFailed { .. } => "plugin_failed",
            Error::LoadTimeout { .. } => "load_timeout",
            Error::RegistryUnavailable { .. } => "registry_unavailable",
            Error::Plugin { code, .. } => match code {
                PluginErrorCode::InvalidInput => "invalid_input",
                PluginErrorCode::NotFound => "not_found",
                PluginErrorCode::Unavailable => "upstream_unavailable",
                PluginErrorCode::Denied => "denied",
                PluginErrorCode::Internal => "plugin_internal",
            },
            Error::Timeout { .. } => "timeout",
            Error::MemoryLimitExceeded { .. } => "memory_limit_exceeded",
            Error::OutputTooLarge { .. } => "output_too_large",
            Error::TableLimitExceeded { .. } => "table_limit_exceeded",
            Error::OverBudget { .. } => "over_budget",
            Error::CompileQueueTimeout { .. } => "compile_queue_timeout",
            Error::QueueFull { .. } => "queue_full",
            Error::QueueTimeout { .. } => "queue_timeout",
            Error::CircuitOpen { .. } => "circuit_open",
            Error::Trap { .. } => "plugin_trapped",
            Error::UnknownExport { .. } => "unknown_export",
            Error::UnknownJob(_) => "unknown_job",
            Error::TooManyJobs(_) => "too_many_jobs",
            Error::InvalidManifest(_) => "invalid_manifest",
            Error::InvalidComponent { .. } => "invalid_component",
            Error::Sha256Mismatch { .. } => "sha256_mismatch",
            Error::Conflict(_) => "conflict",
            Error::InvalidRequest(_) => "bad_request",
            Error::Internal(_) => "internal",
        }
    }
}

/// "VALUE is outside MIN to MAX" when `value` is out of its range: the one
/// wording of every range check (manifests and the host config).
pub(crate) fn out_of_range<T: PartialOrd>(value: T, min: T, max: T, show: impl Fn(&T) -> String) -> Option<String> {
    (value < min || value > max).then(|| format!("{} is outside {} to {}", show(&value), show(&min), show(&max)))
}

/// A duration for people: `10s`, `1h`.
pub(crate) fn duration(d: &Duration) -> String {
    humantime::format_duration(*d).to_string()
}

/// A byte count for people: `16 MiB`, `1.5 GiB`, `300 B`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else if value.fract() < 0.05 || value >= 100.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Result of library operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
