//! `Host`: the library's front door. Embedders build one, register plugins and
//! invoke them; the HTTP server is one adapter over this API.

use crate::artifacts::{ArtifactCache, ArtifactStats, Format};
use crate::db::{Alert, Db};
use crate::engine::Runtime;
use crate::error::{Error, Result};
use crate::memory::{Eviction, Ledger, MemoryConfig};
use crate::plugin::{Loaded, Plugin, State};
use crate::registry::{Registry, Rejected};
use crate::services::SharedCache;
use serde::Serialize;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Builds a [`Host`].
pub struct HostBuilder {
    plugins_dir: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    epoch_tick: Duration,
    cache_bytes: u64,
    memory: MemoryConfig,
    history_retention: u64,
    invocation_retention: u64,
    artifact_format: Format,
    engine: crate::engine::EngineSettings,
    compile_worker: Option<PathBuf>,
    worlds: crate::world::Worlds,
    outbound: crate::services::OutboundConfig,
    events_buffer: usize,
    oci: crate::oci::OciConfig,
    node: Option<String>,
}

impl Default for HostBuilder {
    fn default() -> Self {
        HostBuilder {
            plugins_dir: None,
            data_dir: None,
            epoch_tick: Duration::from_millis(10),
            cache_bytes: 64 << 20,
            memory: MemoryConfig::default(),
            history_retention: 100_000,
            invocation_retention: 100_000,
            artifact_format: Format::Raw,
            engine: crate::engine::EngineSettings::default(),
            compile_worker: None,
            worlds: crate::world::Worlds::default(),
            outbound: crate::services::OutboundConfig::default(),
            events_buffer: crate::observe::DEFAULT_BUFFER,
            oci: crate::oci::OciConfig::default(),
            node: None,
        }
    }
}

impl HostBuilder {
    /// Registers every `*/hostel.toml` under `dir` at build time (nothing is compiled).
    pub fn plugins_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.plugins_dir = Some(dir.into());
        self
    }
    /// How often the engine's epoch advances: the granularity of call timeouts.
    pub fn epoch_tick(mut self, tick: Duration) -> Self {
        self.epoch_tick = tick;
        self
    }
    /// Capacity of the cache shared by plugins (the `cache` import), in bytes.
    pub fn cache_bytes(mut self, bytes: u64) -> Self {
        self.cache_bytes = bytes;
        self
    }
    /// Where the host keeps its SQLite file (memory history, alerts). Without
    /// it nothing is persisted.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }
    /// Memory budget, pressure levels, eviction and admission settings.
    pub fn memory(mut self, memory: MemoryConfig) -> Self {
        self.memory = memory;
        self
    }
    /// Engine settings: pooling allocator on/off and its sizes.
    pub fn engine(mut self, settings: crate::engine::EngineSettings) -> Self {
        self.engine = settings;
        self
    }
    /// The binary that runs compile workers (`[engine] compile = "process"`):
    /// one whose `main` calls [`crate::compile::run_if_requested`] first,
    /// like `hostel` itself. Without it compiles run in-process.
    pub fn compile_worker(mut self, exe: impl Into<PathBuf>) -> Self {
        self.compile_worker = Some(exe.into());
        self
    }
    /// Adds a world of the embedder's own: plugins whose manifest says
    /// `kind = world.kind()` must implement it, and are called with
    /// [`Host::call_world`] through the same pools, limits and ledger.
    pub fn world(mut self, world: impl crate::world::World) -> Self {
        self.worlds.add(Arc::new(world));
        self
    }
    /// How plugins' outbound HTTP clients pool, time out and trust TLS roots.
    pub fn outbound(mut self, config: crate::services::OutboundConfig) -> Self {
        self.outbound = config;
        self
    }
    /// How many live events the bus holds for subscribers (a subscriber that
    /// falls this far behind is told so and, over HTTP, dropped).
    pub fn events_buffer(mut self, events: usize) -> Self {
        self.events_buffer = events;
        self
    }
    /// How compiled artifacts are stored in `<data_dir>/artifacts`.
    pub fn artifact_format(mut self, format: Format) -> Self {
        self.artifact_format = format;
        self
    }
    /// How many memory samples history keeps.
    pub fn history_retention(mut self, samples: u64) -> Self {
        self.history_retention = samples;
        self
    }
    /// How many invocation records history keeps.
    pub fn invocation_retention(mut self, calls: u64) -> Self {
        self.invocation_retention = calls;
        self
    }

    /// How OCI registries are reached (plain HTTP, credentials, timeouts).
    pub fn oci(mut self, config: crate::oci::OciConfig) -> Self {
        self.oci = config;
        self
    }

    /// This host's name among nodes (the `node` label of `/metrics`);
    /// the machine's host name by default.
    pub fn node(mut self, name: impl Into<String>) -> Self {
        self.node = Some(name.into());
        self
    }

    pub fn build(self) -> Result<Host> {
        crate::install_crypto_provider();
        self.memory.thresholds.validate().map_err(Error::Internal)?;
        let runtime = Runtime::new(self.epoch_tick, &self.engine).map_err(|e| Error::Internal(format!("engine: {e:#}")))?;
        let db = match &self.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::Internal(format!("cannot create data dir {}: {e}", dir.display())))?;
                Some(Db::open(&dir.join("hostel.db"), (self.history_retention, self.invocation_retention)).map_err(|e| Error::Internal(e.to_string()))?)
            }
            None => None,
        };
        let registry = Registry::default();
        if let Some(dir) = &self.plugins_dir {
            let n = registry
                .scan(dir, &self.worlds, self.data_dir.as_deref())
                .map_err(|e| Error::Internal(format!("cannot read plugins dir {}: {e}", dir.display())))?;
            tracing::info!(dir = %dir.display(), plugins = n, "plugins registered (compiled lazily on first use)");
        }
        let artifacts = match &self.data_dir {
            Some(dir) => Some(Arc::new(
                ArtifactCache::new(&dir.join("artifacts"), &runtime.engine, self.artifact_format)
                    .map_err(|e| Error::Internal(format!("artifact cache in {}: {e}", dir.display())))?,
            )),
            None => None,
        };
        let last_job = db.as_ref().and_then(|db| db.last_job_id().ok()).unwrap_or(0);
        let fingerprint = crate::artifacts::engine_fingerprint(&runtime.engine);
        let sources = crate::artifacts::SourceIndex::new(self.data_dir.as_ref().map(|d| d.join("artifacts").join("sources")));
        let compiler = crate::compile::Compiler::new(&self.engine, fingerprint, self.compile_worker.clone(), sources);
        let ledger = Arc::new(Ledger::new(self.memory.budget, self.memory.thresholds));
        let outbound = crate::services::OutboundHost::new(self.outbound, Some(ledger.clone())).map_err(|e| Error::Internal(e.to_string()))?;
        let (kick, kicked) = mpsc::channel();
        let host = Host {
            inner: Arc::new(Inner {
                runtime,
                worlds: self.worlds,
                registry,
                cache: SharedCache::new(self.cache_bytes),
                outbound: Arc::new(outbound),
                ledger,
                artifacts,
                results: crate::invoke::ResultCache::new(10_000),
                memory: self.memory,
                db,
                evictions: Mutex::new(VecDeque::new()),
                kick: Mutex::new(kick),
                system: Mutex::new(sysinfo::System::new()),
                metrics: crate::observe::Metrics::default(),
                data_dir: self.data_dir.clone(),
                uploads: tokio::sync::Mutex::new(()),
                jobs: crate::jobs::Jobs::after(last_job),
                compiler,
                engine: self.engine.clone(),
                baseline_rss: std::sync::atomic::AtomicU64::new(0),
                admitting: std::sync::atomic::AtomicU64::new(0),
                started: std::time::Instant::now(),
                prefetch: Mutex::new(None),
                plugins_dir: self.plugins_dir.clone(),
                watcher: Mutex::new(None),
                events: crate::observe::Events::new(self.events_buffer),
                oci: crate::oci::Oci::new(self.oci),
                node: self.node.unwrap_or_else(default_node),
                following: Mutex::new(None),
            }),
        };
        let weak = Arc::downgrade(&host.inner);
        host.inner.ledger.on_level_change(move |change| {
            let Some(inner) = weak.upgrade() else { return };
            tracing::warn!(from = change.from.as_str(), to = change.to.as_str(), used = change.used, budget = change.budget, "memory pressure level changed");
            inner.events.emit(|| crate::observe::Event::Pressure {
                from: change.from.as_str().into(),
                to: change.to.as_str().into(),
                used: change.used,
                budget: change.budget,
            });
            if let Some(db) = &inner.db {
                db.record_alert(Alert {
                    id: 0,
                    ts_ms: millis(SystemTime::now()),
                    from_level: change.from.as_str().into(),
                    to_level: change.to.as_str().into(),
                    used: change.used,
                    budget: change.budget,
                });
            }
            if change.to > change.from {
                let _ = inner.kick.lock().unwrap().send(());
            }
        });
        host.restore_uploads();
        // What the host holds before any plugin: RSS above this is plugins' memory.
        host.inner.baseline_rss.store(crate::memory::process_rss(std::process::id()), Ordering::Relaxed);
        crate::memory::spawn_prefetcher(&host);
        crate::memory::spawn_monitor(&host, kicked);
        Ok(host)
    }
}

pub(crate) struct Inner {
    pub runtime: Runtime,
    /// The kinds plugins may be, and what each must export.
    pub worlds: crate::world::Worlds,
    pub registry: Registry,
    pub cache: SharedCache,
    /// What plugins' outbound HTTP clients are made from.
    pub outbound: Arc<crate::services::OutboundHost>,
    pub ledger: Arc<Ledger>,
    pub artifacts: Option<Arc<ArtifactCache>>,
    /// Memoized results of pure exports.
    pub results: crate::invoke::ResultCache,
    pub memory: MemoryConfig,
    pub db: Option<Db>,
    /// The most recent evictions, newest last.
    pub evictions: Mutex<VecDeque<Eviction>>,
    /// Wakes the memory monitor when pressure rises.
    pub kick: Mutex<mpsc::Sender<()>>,
    pub system: Mutex<sysinfo::System>,
    /// Prometheus counters and histograms fed by finished calls.
    pub metrics: crate::observe::Metrics,
    /// Where uploads, artifacts and the database live (none: nothing persisted).
    pub data_dir: Option<PathBuf>,
    /// Serializes uploads and deletes, so SQLite and the registry agree on the winner.
    pub uploads: tokio::sync::Mutex<()>,
    pub jobs: crate::jobs::Jobs,
    pub compiler: crate::compile::Compiler,
    pub engine: crate::engine::EngineSettings,
    /// Process RSS when the host was built, before any plugin loaded.
    pub baseline_rss: std::sync::atomic::AtomicU64,
    /// Bytes of instances waiting for admission (compiles leave them room).
    pub admitting: std::sync::atomic::AtomicU64,
    /// Zero of the host's clock in seconds ([`Host::secs`]).
    pub started: std::time::Instant,
    /// Wakes the prefetcher (when it runs).
    pub prefetch: Mutex<Option<mpsc::SyncSender<()>>>,
    /// The plugins directory, if any, and its watcher once started.
    pub plugins_dir: Option<PathBuf>,
    pub watcher: Mutex<Option<crate::registry::Watcher>>,
    /// Live events for subscribers.
    pub events: crate::observe::Events,
    /// Registry clients for plugins whose component is in an OCI registry.
    pub oci: crate::oci::Oci,
    /// This host's name among nodes.
    pub node: String,
    /// The catalogue this host follows, once it follows one.
    pub following: Mutex<Option<crate::registry::Following>>,
}

/// A plugin host. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Host {
    pub(crate) inner: Arc<Inner>,
}

/// What the host reports about one plugin.
#[derive(Debug, Clone, Serialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub kind: String,
    pub description: String,
    pub state: State,
    pub error: Option<String>,
    /// Unix milliseconds of the last successful load.
    pub loaded_at_ms: Option<u64>,
    pub compile_ms: Option<u64>,
    /// Whether the current load came from the artifact cache.
    pub from_cache: Option<bool>,
    /// While `loading`: `queued` (waiting for a compile slot) or `compiling`.
    pub load_phase: Option<&'static str>,
    pub load_count: u64,
    pub compile_count: u64,
    pub calls: u64,
    pub errors: u64,
    pub instances_created: u64,
    pub instances_reused: u64,
    pub evictions: u64,
    pub busy_instances: u64,
    pub idle_instances: usize,
    pub sha256: Option<String>,
    /// Compiled code of its component (shared with plugins of the same sha256).
    pub compiled_bytes: u64,
    pub memory_limit: u64,
    pub memory_estimate: u64,
    pub breaker: crate::pool::BreakerReport,
    pub call_timeout_ms: u64,
    pub priority: i32,
    /// `dir` (found in the plugins directory), `upload` or `catalogue`.
    pub source: crate::plugin::Source,
    /// The manifest's OCI `source`, when its component is in a registry.
    pub oci_source: Option<String>,
    /// The OCI manifest digest it was pulled at (none until its first load).
    pub oci_digest: Option<String>,
}

impl Host {
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// Seconds since the host was built: the time base of call frequencies.
    pub(crate) fn secs(&self) -> f64 {
        self.inner.started.elapsed().as_secs_f64()
    }

    /// The world of `kind`.
    pub(crate) fn world(&self, kind: &crate::plugin::Kind) -> Result<&Arc<dyn crate::world::World>> {
        self.inner.worlds.get(kind.as_str()).ok_or_else(|| Error::InvalidManifest(self.inner.worlds.check(kind.as_str()).unwrap_err()))
    }

    /// This host's name among nodes.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// The kinds this host knows, with the WIT worlds each accepts.
    pub fn kinds(&self) -> Vec<(String, Vec<String>)> {
        self.inner.worlds.kinds().into_iter().filter_map(|k| self.inner.worlds.get(k).map(|w| (k.to_string(), w.wit()))).collect()
    }

    pub(crate) fn plugin(&self, name: &str) -> Result<Arc<Plugin>> {
        self.inner.registry.get(name).ok_or_else(|| Error::UnknownPlugin(name.to_string()))
    }

    /// Every registered plugin.
    pub fn plugins(&self) -> Vec<PluginInfo> {
        self.inner.registry.list().iter().map(|p| info(p)).collect()
    }

    /// Manifests the scan could not register, with the reason.
    pub fn rejected(&self) -> Vec<Rejected> {
        self.inner.registry.rejected()
    }

    /// Whether `name` is registered (`unknown_plugin` if not): what a route
    /// checks before reading a body, without building a [`PluginInfo`].
    pub fn check_registered(&self, name: &str) -> Result<()> {
        self.plugin(name).map(|_| ())
    }

    /// One plugin.
    pub fn plugin_info(&self, name: &str) -> Result<PluginInfo> {
        Ok(info(&*self.plugin(name)?))
    }

    /// Loads (compiles) a plugin now rather than on first call; retries a failed one.
    pub async fn load(&self, name: &str) -> Result<PluginInfo> {
        let plugin = self.plugin(name)?;
        self.ensure_loaded(&plugin, true).await?;
        Ok(info(&plugin))
    }

    /// The artifact cache's counters, if the host has a data dir.
    pub fn artifact_stats(&self) -> Option<ArtifactStats> {
        self.inner.artifacts.as_ref().map(|a| a.stats())
    }

    /// Entries and bytes in the plugins' shared key/value cache.
    pub fn shared_cache_usage(&self) -> (usize, u64) {
        self.inner.cache.usage()
    }

    /// Counters of the result cache (memoized pure calls).
    pub fn result_cache_stats(&self) -> crate::invoke::ResultCacheStats {
        self.inner.results.stats()
    }

    /// Empties the artifact cache and the result cache; returns (entries, bytes) of artifacts removed.
    pub fn clear_artifacts(&self) -> (u64, u64) {
        self.inner.results.clear();
        self.inner.artifacts.as_ref().map(|a| a.clear()).unwrap_or((0, 0))
    }

    /// Watches the plugins directory from now on: a new, changed or removed
    /// plugin there takes effect without a restart (a broken change is
    /// rejected and the old version serves on). Needs a tokio runtime.
    pub fn watch_plugins_dir(&self) -> Result<()> {
        let Some(dir) = self.inner.plugins_dir.clone() else { return Ok(()) };
        let watcher = crate::registry::Watcher::start(self, dir.clone())
            .map_err(|e| Error::Internal(format!("cannot watch the plugins dir {}: {e}", dir.display())))?;
        *self.inner.watcher.lock().unwrap() = Some(watcher);
        Ok(())
    }

    /// Drops a plugin's compiled component and idle instances; it stays registered.
    pub fn unload(&self, name: &str) -> Result<PluginInfo> {
        let plugin = self.plugin(name)?;
        if plugin.unload() {
            tracing::info!(plugin = name, "unloaded");
            self.emit_plugin(name, crate::observe::PluginAction::Unloaded, None, None);
        }
        Ok(info(&plugin))
    }
}

impl Host {
    pub(crate) fn emit_plugin(&self, name: &str, action: crate::observe::PluginAction, message: Option<String>, ms: Option<u64>) {
        self.emit(|| crate::observe::Event::Plugin { plugin: name.to_string(), action, message, ms });
    }
}

pub(crate) fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The machine's host name, else `hostel`.
fn default_node() -> String {
    sysinfo::System::host_name().filter(|n| !n.is_empty()).unwrap_or_else(|| "hostel".into())
}

pub(crate) fn info(p: &Plugin) -> PluginInfo {
    let (state, loaded, error): (State, Option<Arc<Loaded>>, Option<String>) = p.status();
    let m = &p.manifest;
    PluginInfo {
        name: m.name.clone(),
        version: m.version.clone(),
        kind: m.kind.as_str().to_string(),
        description: m.description.clone(),
        state,
        error,
        loaded_at_ms: loaded.as_ref().map(|l| millis(l.loaded_at)),
        compile_ms: loaded.as_ref().map(|l| l.compiled.took.as_millis() as u64),
        from_cache: loaded.as_ref().map(|l| l.compiled.from_cache),
        load_phase: p.load_phase(),
        load_count: p.stats.loads.load(Ordering::Relaxed),
        compile_count: p.stats.compiles.load(Ordering::Relaxed),
        calls: p.stats.calls.load(Ordering::Relaxed),
        errors: p.stats.errors.load(Ordering::Relaxed),
        instances_created: p.stats.instances_created.load(Ordering::Relaxed),
        instances_reused: p.stats.instances_reused.load(Ordering::Relaxed),
        evictions: p.stats.evictions.load(Ordering::Relaxed),
        busy_instances: p.stats.busy.load(Ordering::Relaxed),
        idle_instances: p.idle_count(),
        sha256: loaded.as_ref().map(|l| l.sha256().to_string()),
        compiled_bytes: loaded.as_ref().map(|l| l.code_bytes()).unwrap_or(0),
        memory_limit: m.limits.memory.as_u64(),
        memory_estimate: m.limits.memory_estimate.as_u64(),
        breaker: p.breaker.report(),
        call_timeout_ms: m.limits.call_timeout.as_millis() as u64,
        priority: m.priority,
        source: p.source,
        oci_source: m.source.clone(),
        oci_digest: p.pulled().map(|p| p.manifest_digest),
    }
}
