//! Lazy loading. The first call to a plugin starts its load on a task of its
//! own; every concurrent caller waits on that one load (single-flight), and a
//! caller that gives up does not cancel it: a compile that finishes late
//! still leaves the plugin `loaded`. Dependencies load first.
//!
//! How long a caller waits: while the compile is queued, at most the engine's
//! `compile_queue_timeout` (then `compile_queue_timeout`, the compile goes
//! on); once it runs, until it ends — the plugin's `load_timeout` bounds the
//! compile itself. A failure leaves the plugin `failed` with the reason (a
//! timeout or crashed worker is retried by a later call after a backoff), and
//! the host keeps serving every other plugin.

mod pull;

use crate::observe::PluginAction;
use crate::compile::{Failure, Job, Progress};
use crate::error::{Error, Result};
use crate::host::Host;
use crate::plugin::{LoadProgress, Loaded, Plugin, State};
use crate::instance::InstanceState;
use crate::world::Binding;
use std::future::Future;
use wasmtime::component::InstancePre;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Why a load ended without a loaded plugin, as every waiter sees it.
#[derive(Debug, Clone)]
pub(crate) enum LoadFailure {
    /// Will fail again the same way (sticky until an explicit load).
    Failed(String),
    /// May succeed later (retried after a backoff).
    Transient(String),
    TimedOut(Duration),
    OverBudget { needed: u64, used: u64, budget: u64 },
    /// The plugin was replaced or deleted while it loaded.
    Retired,
    /// Its OCI registry could not be reached (the next call tries again).
    Registry(String),
}

impl LoadFailure {
    fn into_error(self, host: &Host, plugin: &str) -> Error {
        let plugin = plugin.to_string();
        match self {
            LoadFailure::Failed(message) | LoadFailure::Transient(message) => Error::PluginFailed { plugin, message },
            LoadFailure::TimedOut(after) => Error::LoadTimeout { plugin, after },
            LoadFailure::OverBudget { needed, used, budget } => {
                Error::OverBudget { plugin, needed, used, budget, holders: host.budget_holders() }
            }
            LoadFailure::Retired => Error::UnknownPlugin(plugin),
            LoadFailure::Registry(message) => Error::RegistryUnavailable { plugin, message },
        }
    }
}

impl Host {
    /// The loaded component of `plugin`, loading it if needed. A plugin that
    /// failed for good is only retried when `retry` is set (an explicit load).
    pub(crate) async fn ensure_loaded(&self, plugin: &Arc<Plugin>, retry: bool) -> Result<Arc<Loaded>> {
        self.ensure_loaded_chain(plugin, retry, Vec::new()).await
    }

    fn ensure_loaded_chain<'a>(
        &'a self,
        plugin: &'a Arc<Plugin>,
        retry: bool,
        chain: Vec<String>,
    ) -> Pin<Box<dyn Future<Output = Result<Arc<Loaded>>> + Send + 'a>> {
        Box::pin(async move {
            if plugin.is_retired() {
                // Replaced or deleted: never compile it again (its file may be gone).
                return Err(Error::UnknownPlugin(plugin.name.to_string()));
            }
            if let (State::Loaded, Some(loaded), _) = plugin.status() {
                return Ok(loaded);
            }
            let name = plugin.name.to_string();
            if chain.contains(&name) {
                let mut chain = chain;
                chain.push(name.clone());
                return Err(Error::PluginFailed { plugin: name, message: format!("dependency cycle: {}", chain.join(" -> ")) });
            }
            let mut rx = plugin
                .join_load(retry, || self.start_load(plugin.clone(), chain))
                .map_err(|(message, retry_at)| match retry_at {
                    Some(at) => Error::PluginFailed {
                        plugin: name.clone(),
                        message: format!("{message} (retried in {} s)", at.saturating_duration_since(Instant::now()).as_secs() + 1),
                    },
                    None => Error::PluginFailed { plugin: name.clone(), message },
                })?;
            let queue_timeout = self.inner.engine.compile_queue_timeout;
            loop {
                let wait = match &*rx.borrow_and_update() {
                    LoadProgress::Done(Ok(loaded)) => return Ok(loaded.clone()),
                    LoadProgress::Done(Err(f)) => return Err(f.clone().into_error(self, &name)),
                    LoadProgress::Queued(since) => {
                        let left = queue_timeout.saturating_sub(since.elapsed());
                        if left.is_zero() {
                            return Err(Error::CompileQueueTimeout { plugin: name, after: queue_timeout });
                        }
                        Some(left)
                    }
                    LoadProgress::Working => None,
                };
                let changed = match wait {
                    Some(left) => tokio::time::timeout(left, rx.changed()).await.unwrap_or(Ok(())),
                    None => rx.changed().await,
                };
                if changed.is_err() {
                    // The load task ended without a word (it panicked).
                    return Err(Error::PluginFailed { plugin: name, message: "the load task failed".into() });
                }
            }
        })
    }

    /// Starts the load task of `plugin`; returns what callers wait on.
    fn start_load(&self, plugin: Arc<Plugin>, chain: Vec<String>) -> tokio::sync::watch::Receiver<LoadProgress> {
        let (tx, rx) = tokio::sync::watch::channel(LoadProgress::Working);
        let host = self.clone();
        tokio::spawn(async move {
            plugin.stats.loads.fetch_add(1, Ordering::Relaxed);
            let outcome = host.load_plugin(&plugin, chain, &tx).await;
            match &outcome {
                Ok(loaded) => {
                    tracing::info!(plugin = &*plugin.name, ms = loaded.compiled.took.as_millis() as u64, from_cache = loaded.compiled.from_cache, "loaded");
                    plugin.set_loaded(loaded.clone());
                    host.emit_plugin(&plugin.name, PluginAction::Loaded, None, Some(loaded.compiled.took.as_millis() as u64));
                }
                Err(LoadFailure::OverBudget { .. }) | Err(LoadFailure::Retired) => plugin.set_registered(),
                Err(LoadFailure::Registry(message)) => {
                    // Not the plugin's fault, and cheap to try again: no backoff.
                    tracing::warn!(plugin = &*plugin.name, "pull failed: {message}");
                    host.emit_plugin(&plugin.name, PluginAction::Failed, Some(message.clone()), None);
                    plugin.set_registered();
                }
                Err(f) => {
                    let (message, transient) = match f {
                        LoadFailure::Failed(m) => (m.clone(), false),
                        LoadFailure::Transient(m) => (m.clone(), true),
                        LoadFailure::TimedOut(after) => (format!("compiling took longer than its load_timeout of {after:?}"), true),
                        _ => unreachable!("handled above"),
                    };
                    tracing::error!(plugin = &*plugin.name, transient, "load failed: {message}");
                    host.emit_plugin(&plugin.name, PluginAction::Failed, Some(message.clone()), None);
                    plugin.set_failed(message, transient);
                }
            }
            let loaded = outcome.is_ok();
            let _ = tx.send(LoadProgress::Done(outcome));
            // The channel holds the outcome while any end of it lives: drop
            // ours now, so an unload right after the first call frees the
            // compiled code without waiting for this task to be scheduled.
            drop(tx);
            if loaded {
                host.warm_up(&plugin).await;
            }
        });
        rx
    }

    /// Dependencies, checks, the shared compiled component, linking.
    async fn load_plugin(&self, plugin: &Arc<Plugin>, chain: Vec<String>, progress: &tokio::sync::watch::Sender<LoadProgress>) -> Result<Arc<Loaded>, LoadFailure> {
        let name = plugin.name.to_string();
        let mut chain = chain;
        chain.push(name.clone());
        for dep in &plugin.manifest.dependencies {
            let dependency = self
                .inner
                .registry
                .get(dep)
                .ok_or_else(|| LoadFailure::Failed(format!("dependency {dep:?} is not registered")))?;
            if let Err(e) = self.ensure_loaded_chain(&dependency, false, chain.clone()).await {
                return Err(LoadFailure::Failed(format!("dependency {dep:?} failed: {e}")));
            }
        }
        let budget = self.inner.ledger.budget();
        let estimate = plugin.manifest.limits.memory_estimate.as_u64();
        if estimate > budget {
            return Err(LoadFailure::Failed(format!(
                "its memory_estimate of {} is above the host's memory budget of {}",
                crate::error::size(estimate),
                crate::error::size(budget)
            )));
        }
        // A grant that cannot be made fails the load, so the state says what calls get.
        for grant in &plugin.manifest.capabilities.read_only_dirs {
            if !plugin.dir.join(&grant.host).is_dir() {
                return Err(LoadFailure::Failed(format!(
                    "capabilities.read_only_dirs: cannot grant directory {}: it does not exist",
                    grant.host.display()
                )));
            }
        }
        let t0 = Instant::now();
        let path = match &plugin.manifest.source {
            Some(source) => self.pull(plugin, source).await?,
            None => plugin.component_path.clone(),
        };
        let found = self.find_component(path.clone()).await.map_err(|e| {
            tracing::error!(plugin = %name, path = %path.display(), "cannot read the component: {e}");
            if e.kind() == std::io::ErrorKind::NotFound {
                LoadFailure::Failed("its component file is missing (build the plugins with scripts/build-plugins.sh)".into())
            } else {
                LoadFailure::Transient(format!("cannot read its component: {e}"))
            }
        })?;
        let (hashed, ready) = (found.hashed, found.ready);
        // A pulled file must still be the blob its layer digest names (the
        // manifest's pin was checked against that digest when it was pulled).
        let pulled = plugin.pulled().filter(|p| p.path == path);
        if let Some(p) = &pulled {
            if !p.sha256.eq_ignore_ascii_case(&hashed.sha256) {
                return Err(LoadFailure::Failed(format!("its pulled component changed on disk (sha256 {}, pulled as {}); unload and load it to pull again", hashed.sha256, p.sha256)));
            }
        } else if let (Some(pin), None) = (&plugin.manifest.sha256, &plugin.manifest.source) {
            if !pin.eq_ignore_ascii_case(&hashed.sha256) {
                return Err(LoadFailure::Failed(format!("component sha256 {} does not match the manifest's pin {pin}", hashed.sha256)));
            }
        }
        let job = Job {
            plugin: plugin.name.clone(),
            priority: plugin.manifest.priority,
            path,
            sha256: hashed.sha256.as_str().into(),
            wasm_len: hashed.len,
            timeout: plugin.manifest.limits.load_timeout,
            cache_checked: found.cache_checked,
        };
        let t1 = Instant::now();
        let (mut compile, started) = match ready {
            // Shared or just mapped: no task, no queue.
            Some(c) => (tokio::sync::watch::channel(Progress::Done(Ok(c))).1, false),
            None => self.component(job),
        };
        let compiled = loop {
            let step = match &*compile.borrow_and_update() {
                Progress::Done(r) => Some(r.clone()),
                Progress::Queued { since } => {
                    let _ = progress.send(LoadProgress::Queued(*since));
                    None
                }
                Progress::Compiling => {
                    let _ = progress.send(LoadProgress::Working);
                    None
                }
            };
            if let Some(r) = step {
                break r;
            }
            if compile.changed().await.is_err() {
                return Err(LoadFailure::Transient("the compile task failed".into()));
            }
        };
        let _ = progress.send(LoadProgress::Working);
        let compiled = compiled.map_err(|f| match f {
            Failure::Invalid(m) => LoadFailure::Failed(m),
            Failure::Transient(m) => LoadFailure::Transient(m),
            Failure::TimedOut(d) => LoadFailure::TimedOut(d),
            Failure::OverBudget { needed, used, budget } => LoadFailure::OverBudget { needed, used, budget },
        })?;
        if started && !compiled.from_cache {
            plugin.stats.compiles.fetch_add(1, Ordering::Relaxed);
        }
        if plugin.is_retired() {
            return Err(LoadFailure::Retired);
        }
        // An instance needs at least its initial memories: over the limit, it never runs.
        if let Some(r) = compiled.component.resources_required() {
            let initial = r.max_initial_memory_size.unwrap_or(0).saturating_mul(64 << 10);
            let limit = plugin.manifest.limits.memory.as_u64();
            if initial > limit {
                return Err(LoadFailure::Failed(format!(
                    "its initial memory of {} is above its limits.memory of {}",
                    crate::error::size(initial),
                    crate::error::size(limit)
                )));
            }
        }
        let t2 = Instant::now();
        let (pre, binding) = link(self, plugin, &compiled.component).map_err(LoadFailure::Failed)?;
        tracing::debug!(plugin = %name, sha_us = (t1 - t0).as_micros() as u64, component_us = (t2 - t1).as_micros() as u64, link_us = t2.elapsed().as_micros() as u64, "load steps");
        Ok(Arc::new(Loaded { compiled, pre, binding, loaded_at: SystemTime::now(), generation: plugin.next_generation() }))
    }

    /// Makes the manifest's `min_warm` instances right after a load.
    async fn warm_up(&self, plugin: &Arc<Plugin>) {
        let warm = plugin.manifest.pool.min_warm.min(plugin.manifest.pool.max_idle);
        for _ in 0..warm {
            // Looked up each time: an unload meanwhile ends the warm-up.
            let Some(loaded) = plugin.loaded() else { return };
            let loaded = &loaded;
            let deadline = crate::invoke::deadline(plugin.manifest.limits.call_timeout);
            match self.instantiate(plugin, loaded, deadline).await {
                Ok(instance) => plugin.put_idle(loaded.generation, instance),
                Err(e) => {
                    tracing::warn!(plugin = &*plugin.name, "warm instance not made: {e}");
                    break;
                }
            }
        }
    }
}

/// Links a component against the host's imports, then binds it to its
/// kind's world. An import the host lacks is named in the error.
fn link(host: &Host, plugin: &Plugin, component: &wasmtime::component::Component) -> Result<(InstancePre<InstanceState>, Binding), String> {
    let world = host.world(plugin.kind()).map_err(|e| e.to_string())?;
    let pre = host
        .inner
        .runtime
        .linker
        .instantiate_pre(component)
        .map_err(|e| format!("cannot link the component: {}", one_line(&e)))?;
    let binding = world.bind(&pre)?;
    Ok((pre, binding))
}

/// An error chain on one line, outermost first.
pub(crate) fn one_line(e: &wasmtime::Error) -> String {
    let parts: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    parts.join(": ")
}
