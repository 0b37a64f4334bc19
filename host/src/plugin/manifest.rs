//! The plugin manifest (`hostel.toml` beside a component): identity, kind,
//! limits, pool settings and capabilities. Deny by default: a plugin gets no
//! files, no environment and no network unless the manifest grants them.
//! Unknown fields are errors, so a typo never silently drops a limit.

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which world a plugin implements: a kind the host knows (`component`,
/// `connector`, `pdf-processor`, `caption-model`, or one an embedder added).
/// The manifest only checks its spelling; the host checks that it knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Kind(String);

impl Kind {
    pub fn new(kind: impl Into<String>) -> Kind {
        Kind(kind.into())
    }
    /// The kind as written in manifests.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PartialEq<&str> for Kind {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// A parsed, validated manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Unique name: lower-case letters, digits and dashes.
    pub name: String,
    /// The plugin's own version (semver-like, informational).
    pub version: String,
    /// The world it implements.
    pub kind: Kind,
    /// One line on what it does.
    #[serde(default)]
    pub description: String,
    /// Component file, relative to the manifest's directory (not needed in an
    /// upload, which carries the component itself).
    #[serde(default)]
    pub component: PathBuf,
    /// Where the component comes from instead of a file:
    /// `oci://REGISTRY/REPOSITORY:TAG` or `…@sha256:DIGEST`, pulled on first use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Optional sha256 (hex) pin; the component must match it to load.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Higher priority is evicted later under memory pressure.
    #[serde(default)]
    pub priority: i32,
    /// Plugins that must load before this one.
    #[serde(default)]
    pub dependencies: Vec<String>,
    /// Memory and time limits.
    #[serde(default)]
    pub limits: Limits,
    /// Instance pool settings.
    #[serde(default)]
    pub pool: PoolSettings,
    /// What the plugin may touch outside its sandbox.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Circuit breaker settings.
    #[serde(default)]
    pub breaker: BreakerSettings,
    /// Result memoization for exports whose results depend only on their arguments.
    #[serde(default)]
    pub cache: ResultCacheSettings,
    /// Values the plugin reads through the `config` import.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

/// Limits. `memory` is per instance: all of the instance's linear memories and
/// tables together, not per memory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Most memory one instance may hold (all memories and tables together).
    pub memory: ByteSize,
    /// What one instance is expected to use; reserved before instantiating.
    pub memory_estimate: ByteSize,
    /// Longest one call may run before it is interrupted.
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
    /// Longest compiling and preparing the component may take.
    #[serde(with = "humantime_serde")]
    pub load_timeout: Duration,
    /// Largest result one call may return, measured as JSON; a bigger one is
    /// refused (`output_too_large`) and its instance discarded.
    pub max_output: ByteSize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: ByteSize::mib(128),
            memory_estimate: ByteSize::mib(8),
            call_timeout: Duration::from_secs(10),
            load_timeout: Duration::from_secs(60),
            max_output: ByteSize::mib(16),
        }
    }
}

/// Instance pool settings. Instances keep their state between calls unless
/// `fresh_instance_per_call` is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolSettings {
    /// Instances made at load time and kept warm.
    pub min_warm: u32,
    /// Most instances alive at once (busy + idle).
    pub max_instances: u32,
    /// Most idle instances kept.
    pub max_idle: u32,
    /// Idle instances older than this are dropped.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// An instance is recycled after this many calls (0 = never).
    pub max_uses: u64,
    /// An instance holding more memory than this after a call is dropped,
    /// not kept idle (0 = no limit): linear memory never shrinks, so one big
    /// input would otherwise pin its peak for the instance's whole life.
    pub max_idle_memory: ByteSize,
    /// Make a new instance for every call (no state carried between calls).
    pub fresh_instance_per_call: bool,
    /// Calls that may wait for an instance when all are busy; more get 429.
    pub max_queue: u32,
    /// Longest a queued call waits for an instance before 503.
    #[serde(with = "humantime_serde")]
    pub queue_timeout: Duration,
    /// A call that warms a new instance up (e.g. loads a model's weights),
    /// made by prefetch so the next real call finds it ready.
    pub warm_up: Option<WarmUp>,
}

/// `pool.warm_up`: an export and its JSON arguments, as for a generic call.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmUp {
    /// Export name as in WIT (e.g. `info`, or `interface#function`).
    pub export: String,
    /// An array in parameter order or an object by parameter name.
    #[serde(default)]
    pub args: serde_json::Value,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            min_warm: 0,
            max_instances: 16,
            max_idle: 4,
            idle_timeout: Duration::from_secs(300),
            max_uses: 0,
            max_idle_memory: ByteSize::b(0),
            fresh_instance_per_call: false,
            max_queue: 64,
            queue_timeout: Duration::from_secs(10),
            warm_up: None,
        }
    }
}

/// After `failures` consecutive failed calls (traps, timeouts, limit hits) the
/// plugin fails fast for `cooldown`, then one probe call decides.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerSettings {
    /// Consecutive failures that open the circuit (0 disables it).
    pub failures: u32,
    #[serde(with = "humantime_serde")]
    pub cooldown: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings { failures: 5, cooldown: Duration::from_secs(30) }
    }
}

/// Opt-in memoization: results of the `pure` exports are kept for `ttl`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResultCacheSettings {
    /// How long a result is reused (absent or 0: no memoization).
    #[serde(with = "humantime_serde")]
    pub ttl: Option<Duration>,
    /// Export names (as in WIT, e.g. "info", "extract-text", "generate") whose
    /// results depend only on their arguments.
    pub pure: Vec<String>,
}

/// Grants. Everything not listed is denied.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Capabilities {
    /// Hosts reachable over `wasi:http`: `host` (any port) or `host:port`.
    pub allowed_hosts: Vec<String>,
    /// Directories mounted read-only, relative to the manifest's directory.
    pub read_only_dirs: Vec<DirGrant>,
    /// Environment variables the plugin sees.
    pub env: BTreeMap<String, String>,
}

/// A host directory visible to the plugin, read-only, at `guest` (default `/<host dir name>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirGrant {
    /// Host path, relative to the manifest's directory unless absolute.
    pub host: PathBuf,
    /// Path inside the plugin.
    #[serde(default)]
    pub guest: Option<String>,
}

/// A manifest that could not be read or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// TOML syntax or a field of the wrong type/unknown name.
    #[error("invalid manifest {path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// A field has a value outside what it allows.
    #[error("invalid manifest {path}: field `{field}`: {message}")]
    Field { path: PathBuf, field: &'static str, message: String },
}

/// Largest manifest text accepted (scan and upload).
pub const MAX_MANIFEST: usize = 256 << 10;
const MAX_DESCRIPTION: usize = 1024;
const MAX_KEYS: usize = 256;
const MAX_KEY: usize = 128;
const MAX_VALUE: usize = 64 << 10;
const MILLI: Duration = Duration::from_millis(1);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

type FieldError<'a> = &'a dyn Fn(&'static str, String) -> ManifestError;

fn duration_in(field: FieldError, name: &'static str, d: Duration, min: Duration, max: Duration) -> Result<(), ManifestError> {
    crate::error::out_of_range(d, min, max, crate::error::duration).map_or(Ok(()), |m| Err(field(name, m)))
}

fn bytes_in(field: FieldError, name: &'static str, b: ByteSize, min: u64, max: u64) -> Result<(), ManifestError> {
    crate::error::out_of_range(b.as_u64(), min, max, |v| crate::error::size(*v)).map_or(Ok(()), |m| Err(field(name, m)))
}

fn count_in(field: FieldError, name: &'static str, n: u64, min: u64, max: u64) -> Result<(), ManifestError> {
    crate::error::out_of_range(n, min, max, u64::to_string).map_or(Ok(()), |m| Err(field(name, m)))
}

/// True for names safe as URL segments and directory names.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn too_long(text: &str, path: &Path) -> Result<(), ManifestError> {
    if text.len() > MAX_MANIFEST {
        return Err(ManifestError::Field {
            path: path.to_path_buf(),
            field: "(the whole manifest)",
            message: format!("{} is above the limit of {}", crate::error::size(text.len() as u64), crate::error::size(MAX_MANIFEST as u64)),
        });
    }
    Ok(())
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ManifestError::Io { path: path.to_path_buf(), source })?;
        Manifest::parse(&text, path)
    }

    /// Parses and validates the manifest of an upload, whose component comes
    /// beside it (`component` may be left out).
    pub fn parse_upload(text: &str) -> Result<Manifest, ManifestError> {
        let path = Path::new("uploaded manifest");
        too_long(text, path)?;
        let mut manifest: Manifest = toml::from_str(text).map_err(|e| ManifestError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        if manifest.component.as_os_str().is_empty() && manifest.source.is_none() {
            manifest.component = PathBuf::from(format!("{}.wasm", manifest.name));
        }
        manifest.validate(path)?;
        // An upload carries no files: a directory grant could only name an
        // empty folder (every call would fail) or a host path (never granted
        // over the network). Directories go to plugins in the plugins dir.
        if !manifest.capabilities.read_only_dirs.is_empty() {
            return Err(ManifestError::Field {
                path: path.to_path_buf(),
                field: "capabilities.read_only_dirs",
                message: "an upload carries no files to grant; put plugins that need directories in the plugins directory".into(),
            });
        }
        Ok(manifest)
    }

    /// Parses and validates manifest text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, ManifestError> {
        too_long(text, path)?;
        let manifest: Manifest = toml::from_str(text).map_err(|e| ManifestError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        manifest.validate(path)?;
        Ok(manifest)
    }

    fn validate(&self, path: &Path) -> Result<(), ManifestError> {
        let field = |field: &'static str, message: String| ManifestError::Field {
            path: path.to_path_buf(),
            field,
            message,
        };
        if !valid_name(&self.name) {
            return Err(field(
                "name",
                format!("{:?} must be 1-63 lower-case letters, digits or dashes", self.name),
            ));
        }
        if !valid_name(self.kind.as_str()) {
            return Err(field("kind", format!("{:?} must be 1-63 lower-case letters, digits or dashes", self.kind.as_str())));
        }
        if self.version.trim().is_empty() {
            return Err(field("version", "must not be empty".into()));
        }
        match &self.source {
            None if self.component.as_os_str().is_empty() => {
                return Err(field("component", "must name the component file (or set `source` to an oci:// reference)".into()));
            }
            Some(_) if !self.component.as_os_str().is_empty() => {
                return Err(field("source", "name either `component` (a file) or `source` (an oci:// reference), not both".into()));
            }
            Some(source) => {
                crate::oci::parse_reference(source).map_err(|e| field("source", e.to_string()))?;
            }
            None => {}
        }
        if let Some(sha) = &self.sha256 {
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(field("sha256", format!("{sha:?} is not 64 hex digits")));
            }
        }
        let l = &self.limits;
        bytes_in(&field, "limits.memory", l.memory, 64 << 10, 16 << 30)?;
        if l.memory_estimate > l.memory {
            return Err(field(
                "limits.memory_estimate",
                format!("{} is above limits.memory {}", l.memory_estimate, l.memory),
            ));
        }
        bytes_in(&field, "limits.max_output", l.max_output, 1 << 10, 1 << 30)?;
        duration_in(&field, "limits.call_timeout", l.call_timeout, MILLI, HOUR)?;
        duration_in(&field, "limits.load_timeout", l.load_timeout, MILLI, HOUR)?;
        let p = &self.pool;
        count_in(&field, "pool.max_instances", p.max_instances as u64, 1, 10_000)?;
        count_in(&field, "pool.max_idle", p.max_idle as u64, 0, 10_000)?;
        bytes_in(&field, "pool.max_idle_memory", p.max_idle_memory, 0, 16 << 30)?;
        count_in(&field, "pool.max_queue", p.max_queue as u64, 0, 100_000)?;
        duration_in(&field, "pool.idle_timeout", p.idle_timeout, Duration::ZERO, 30 * DAY)?;
        duration_in(&field, "pool.queue_timeout", p.queue_timeout, Duration::ZERO, HOUR)?;
        if p.min_warm > p.max_instances {
            return Err(field(
                "pool.min_warm",
                format!("{} is above pool.max_instances {}", p.min_warm, p.max_instances),
            ));
        }
        count_in(&field, "breaker.failures", self.breaker.failures as u64, 0, 1_000_000)?;
        duration_in(&field, "breaker.cooldown", self.breaker.cooldown, Duration::ZERO, DAY)?;
        if let Some(ttl) = self.cache.ttl {
            duration_in(&field, "cache.ttl", ttl, Duration::ZERO, 30 * DAY)?;
        }
        count_in(&field, "cache.pure", self.cache.pure.len() as u64, 0, 256)?;
        count_in(&field, "description", self.description.len() as u64, 0, MAX_DESCRIPTION as u64)?;
        count_in(&field, "version", self.version.len() as u64, 1, 64)?;
        count_in(&field, "dependencies", self.dependencies.len() as u64, 0, 64)?;
        count_in(&field, "capabilities.allowed_hosts", self.capabilities.allowed_hosts.len() as u64, 0, 256)?;
        count_in(&field, "capabilities.read_only_dirs", self.capabilities.read_only_dirs.len() as u64, 0, 64)?;
        for (name, map) in [("config", &self.config), ("capabilities.env", &self.capabilities.env)] {
            let name: &'static str = name;
            count_in(&field, name, map.len() as u64, 0, MAX_KEYS as u64)?;
            if let Some((k, _)) = map.iter().find(|(k, v)| k.is_empty() || k.len() > MAX_KEY || v.len() > MAX_VALUE) {
                let shown: String = k.chars().take(40).collect();
                return Err(field(name, format!("key {shown:?}: keys must be 1-{MAX_KEY} bytes and values at most {} KiB", MAX_VALUE >> 10)));
            }
        }
        for host in &self.capabilities.allowed_hosts {
            if host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) {
                return Err(field(
                    "capabilities.allowed_hosts",
                    format!("{host:?} must be a host or host:port, without scheme or path"),
                ));
            }
        }
        for dep in &self.dependencies {
            if !valid_name(dep) || dep == &self.name {
                return Err(field("dependencies", format!("{dep:?} is not a valid other plugin name")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(text, Path::new("x/hostel.toml"))
    }

    #[test]
    fn minimal_manifest_gets_defaults() {
        let m = parse("name='a'\nversion='1'\nkind='pdf-processor'\ncomponent='a.wasm'").unwrap();
        assert_eq!(m.kind, "pdf-processor");
        assert_eq!(m.limits.memory, ByteSize::mib(128));
        assert!(m.capabilities.allowed_hosts.is_empty());
    }

    #[test]
    fn sizes_and_durations_parse() {
        let m = parse(
            "name='a'\nversion='1'\nkind='connector'\ncomponent='a.wasm'\n[limits]\nmemory='1GiB'\ncall_timeout='250ms'",
        )
        .unwrap();
        assert_eq!(m.limits.memory.as_u64(), 1 << 30);
        assert_eq!(m.limits.call_timeout, Duration::from_millis(250));
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse("name='a'\nversion='1'\nkind='connector'\ncomponent='a.wasm'\n[limits]\nmemroy='1GiB'")
            .unwrap_err()
            .to_string();
        assert!(e.contains("memroy"), "{e}");
        let e = parse("name='Bad Name'\nversion='1'\nkind='connector'\ncomponent='a.wasm'").unwrap_err().to_string();
        assert!(e.contains("field `name`"), "{e}");
        let e = parse("name='a'\nversion='1'\nkind='Printer!'\ncomponent='a.wasm'").unwrap_err().to_string();
        assert!(e.contains("Printer!"), "{e}");
        let e = parse("name='a'\nversion='1'\nkind='connector'\ncomponent='a.wasm'\n[capabilities]\nallowed_hosts=['http://x/']")
            .unwrap_err()
            .to_string();
        assert!(e.contains("capabilities.allowed_hosts"), "{e}");
    }

    #[test]
    fn durations_sizes_and_counts_have_sane_ranges() {
        let base = "name='a'\nversion='1'\nkind='connector'\ncomponent='a.wasm'\n";
        for (extra, field) in [
            ("[limits]\ncall_timeout='500000000000years'", "limits.call_timeout"),
            ("[limits]\nload_timeout='2h'", "limits.load_timeout"),
            ("[limits]\nmemory='1TiB'", "limits.memory"),
            ("[limits]\nmax_output='2GiB'", "limits.max_output"),
            ("[cache]\nttl='100000000000years'", "cache.ttl"),
            ("[breaker]\ncooldown='400d'", "breaker.cooldown"),
            ("[pool]\nqueue_timeout='2h'", "pool.queue_timeout"),
            ("[pool]\nmax_instances=20000", "pool.max_instances"),
        ] {
            let e = parse(&format!("{base}{extra}")).map(|_| ()).unwrap_err().to_string();
            assert!(e.contains(&format!("field `{field}`")) && e.contains("outside"), "{extra}: {e}");
        }
        let many: String = (0..300).map(|i| format!("k{i} = 'v'\n")).collect();
        let e = parse(&format!("{base}[config]\n{many}")).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("field `config`"), "{e}");
        let e = parse(&format!("{base}description = '{}'", "x".repeat(2000))).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("field `description`"), "{e}");
        let e = Manifest::parse_upload(&"#".repeat(300 << 10)).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("above the limit"), "{e}");
    }
}

#[cfg(test)]
mod properties {
    //! Manifests arrive over the network (uploads): whatever the text, parsing
    //! returns a manifest or an error that says what is wrong, never a panic.
    use super::*;
    use proptest::prelude::*;

    /// Plausible manifest lines: real keys with arbitrary values, junk keys, junk sections.
    fn line() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec![
            "name", "version", "kind", "component", "source", "sha256", "priority", "dependencies", "memory", "memory_estimate",
            "call_timeout", "load_timeout", "min_warm", "max_instances", "max_idle", "idle_timeout", "max_uses", "max_idle_memory",
            "allowed_hosts", "read_only_dirs", "env", "failures", "cooldown", "ttl", "pure", "bogus",
        ]);
        let value = prop_oneof![
            "[a-z0-9-]{0,12}".prop_map(|s| format!("'{s}'")),
            any::<i64>().prop_map(|n| n.to_string()),
            "[0-9]{1,12}(B|KiB|MiB|GiB|TiB|ms|s|m|h|x)?".prop_map(|s| format!("'{s}'")),
            Just("[]".to_string()),
            Just("[{ host = '../..', guest = '/x' }]".to_string()),
            Just("{ A = 'b' }".to_string()),
            ".{0,20}",
        ];
        let section = prop::sample::select(vec!["[limits]", "[pool]", "[capabilities]", "[breaker]", "[cache]", "[config]", "[nope]"]);
        prop_oneof![
            4 => (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
            1 => section.prop_map(str::to_string),
            1 => ".{0,30}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn parsing_never_panics(lines in prop::collection::vec(line(), 0..16)) {
            let text = format!("name = 'p'\nversion = '1'\nkind = 'connector'\n{}", lines.join("\n"));
            for result in [Manifest::parse(&text, Path::new("hostel.toml")), Manifest::parse_upload(&text)] {
                if let Err(e) = result {
                    prop_assert!(!e.to_string().is_empty());
                }
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(text in ".{0,400}") {
            let _ = Manifest::parse_upload(&text);
        }
    }
}
