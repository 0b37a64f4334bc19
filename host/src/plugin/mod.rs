//! A registered plugin: its manifest, its lifecycle state and its counters.
//!
//! Lifecycle: `registered` (known, not compiled) → `loading` (queued for a
//! compile, compiling or mapping) → `loaded` (compiled, `InstancePre` ready)
//! or `failed` (with the reason). Unloading goes back to `registered`. A
//! failure that will repeat (a broken component) is retried only by an
//! explicit load; one that may not (a timeout, a crashed compile worker) is
//! retried by the next call after a backoff. A compile refused for lack of
//! memory leaves the plugin `registered`.

pub mod manifest;

pub use manifest::{Kind, Manifest, ManifestError};

use crate::compile::Compiled;
use crate::instance::{Instance, InstanceState};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use wasmtime::component::Component;

/// Where a plugin is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Registered,
    Loading,
    Loaded,
    Failed,
}

/// A compiled, linked component ready to instantiate. The compiled code is
/// shared with every plugin of the same sha256 and charged to the ledger
/// while anyone holds it (in-flight calls may outlive an unload).
pub struct Loaded {
    pub compiled: Arc<Compiled>,
    /// Linked against the host's imports.
    pub pre: wasmtime::component::InstancePre<InstanceState>,
    /// Its world's exports, found once.
    pub binding: crate::world::Binding,
    pub loaded_at: SystemTime,
    /// Bumped on every load, so instances of an unloaded generation are dropped.
    pub generation: u64,
}

impl Loaded {
    pub fn component(&self) -> &Component {
        &self.compiled.component
    }
    /// sha256 of the component bytes.
    pub fn sha256(&self) -> &str {
        &self.compiled.sha256
    }
    /// Bytes of compiled machine code.
    pub fn code_bytes(&self) -> u64 {
        self.compiled.code_bytes
    }
}

/// A warm instance waiting for its next call.
pub(crate) struct Idle {
    pub generation: u64,
    pub instance: Instance,
    pub since: Instant,
}

/// An idle instance as the evictor sees it.
pub struct IdleView {
    pub id: crate::memory::InstanceId,
    pub since: Instant,
    /// Made by prefetch, not used by a call yet.
    pub prefetched: bool,
}

struct Slot {
    state: State,
    loaded: Option<Arc<Loaded>>,
    error: Option<String>,
    /// The load in flight, which every caller waits on.
    loading: Option<tokio::sync::watch::Receiver<LoadProgress>>,
    /// After a transient failure: when the next call may try again.
    retry_at: Option<Instant>,
    /// Transient failures in a row (sets the backoff).
    attempts: u32,
}

impl Slot {
    fn new() -> Slot {
        Slot { state: State::Registered, loaded: None, error: None, loading: None, retry_at: None, attempts: 0 }
    }
}

/// Where a load in flight is.
#[derive(Clone)]
pub(crate) enum LoadProgress {
    /// Waiting for a compile slot since then.
    Queued(Instant),
    /// Compiling, mapping or linking.
    Working,
    Done(Result<Arc<Loaded>, crate::loader::LoadFailure>),
}

/// Where a plugin came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Found by scanning the plugins directory at start.
    Dir,
    /// Uploaded over the API (kept in the data dir and SQLite).
    Upload,
    /// Listed in the OCI catalogue the host follows.
    Catalogue,
}

/// Counters kept per plugin.
#[derive(Default)]
pub struct Stats {
    /// Loads attempted (compiles and artifact-cache hits).
    pub loads: AtomicU64,
    /// Components actually compiled (artifact-cache misses).
    pub compiles: AtomicU64,
    pub calls: AtomicU64,
    pub errors: AtomicU64,
    pub instances_created: AtomicU64,
    pub instances_reused: AtomicU64,
    pub evictions: AtomicU64,
    /// Instances retired after `max_uses` calls or over `max_idle_memory`.
    pub recycled: AtomicU64,
    /// Instances dropped after a trap, timeout or limit hit.
    pub discarded: AtomicU64,
    /// Calls in flight right now.
    pub busy: AtomicU64,
}

/// One registered plugin.
pub struct Plugin {
    pub name: Arc<str>,
    pub manifest: Manifest,
    /// The directory of the manifest; relative paths resolve against it.
    pub dir: PathBuf,
    pub component_path: PathBuf,
    pub source: Source,
    pub config: Arc<BTreeMap<String, String>>,
    pub allowed_hosts: Arc<Vec<String>>,
    pub stats: Stats,
    /// Bounds calls holding an instance; queues the rest.
    pub gate: crate::pool::Gate,
    pub breaker: crate::pool::Breaker,
    /// Its outbound HTTP client: pooled connections while loaded, closed on unload.
    pub outbound: Arc<crate::services::Outbound>,
    /// Cold cost and call frequency, for the eviction policy.
    pub usage: Mutex<crate::memory::Usage>,
    /// An instance was evicted for memory (pressure or admission) and no
    /// instance was made since: prefetch may bring one back.
    pub(crate) lost: AtomicBool,
    /// Its component, once pulled from the manifest's OCI `source`.
    pulled: Mutex<Option<crate::oci::Pulled>>,
    slot: Mutex<Slot>,
    /// Warm instances waiting for the next call.
    idle: Mutex<Vec<Idle>>,
    generation: AtomicU64,
    /// Replaced by a new version or deleted: calls in flight finish, their
    /// instances are dropped instead of pooled.
    retired: AtomicBool,
}

impl Plugin {
    /// A plugin found in `dir` (its component path is relative to it).
    pub fn new(manifest: Manifest, dir: PathBuf) -> Plugin {
        let component_path = dir.join(&manifest.component);
        Plugin::with_component(manifest, dir, component_path, Source::Dir)
    }

    pub fn with_component(manifest: Manifest, dir: PathBuf, component_path: PathBuf, source: Source) -> Plugin {
        let gate = crate::pool::Gate::new(manifest.pool.max_instances, manifest.pool.max_queue, manifest.pool.queue_timeout);
        let breaker = crate::pool::Breaker::new(manifest.breaker.failures, manifest.breaker.cooldown);
        let name: Arc<str> = manifest.name.as_str().into();
        Plugin {
            gate,
            breaker,
            outbound: Arc::new(crate::services::Outbound::new(name.clone())),
            name,
            config: Arc::new(manifest.config.clone()),
            allowed_hosts: Arc::new(manifest.capabilities.allowed_hosts.clone()),
            manifest,
            dir,
            component_path,
            source,
            stats: Stats::default(),
            usage: Mutex::new(crate::memory::Usage::default()),
            lost: AtomicBool::new(false),
            pulled: Mutex::new(None),
            slot: Mutex::new(Slot::new()),
            idle: Mutex::new(Vec::new()),
            generation: AtomicU64::new(0),
            retired: AtomicBool::new(false),
        }
    }

    /// Takes the plugin out of service: idle instances go now; busy ones are
    /// dropped when their call ends. The compiled component is freed when the
    /// last call holding this version lets go of it.
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
        self.idle.lock().unwrap().clear();
        self.outbound.close();
    }

    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::SeqCst)
    }

    pub fn kind(&self) -> &Kind {
        &self.manifest.kind
    }

    /// Current state, the loaded component if any, and the last error.
    pub fn status(&self) -> (State, Option<Arc<Loaded>>, Option<String>) {
        let slot = self.slot.lock().unwrap();
        (slot.state, slot.loaded.clone(), slot.error.clone())
    }

    pub fn loaded(&self) -> Option<Arc<Loaded>> {
        self.slot.lock().unwrap().loaded.clone()
    }

    /// A generation no load of any plugin had before (so memoized results
    /// and pooled instances of a replaced version never match the new one).
    pub(crate) fn next_generation(&self) -> u64 {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let g = NEXT.fetch_add(1, Ordering::Relaxed);
        self.generation.store(g, Ordering::Relaxed);
        g
    }

    /// The load in flight, or a new one made by `start` (called under the
    /// slot's lock, so concurrent callers share one load). `retry` also
    /// restarts a failed plugin. `Err` is the failure callers get without a load.
    pub(crate) fn join_load(
        &self,
        retry: bool,
        start: impl FnOnce() -> tokio::sync::watch::Receiver<LoadProgress>,
    ) -> Result<tokio::sync::watch::Receiver<LoadProgress>, (String, Option<Instant>)> {
        let mut slot = self.slot.lock().unwrap();
        if let Some(rx) = &slot.loading {
            return Ok(rx.clone());
        }
        if let (State::Loaded, Some(loaded)) = (slot.state, &slot.loaded) {
            // Finished between the caller's look and now.
            return Ok(tokio::sync::watch::channel(LoadProgress::Done(Ok(loaded.clone()))).1);
        }
        if slot.state == State::Failed && !retry {
            let due = slot.retry_at.is_some_and(|at| Instant::now() >= at);
            if !due {
                return Err((slot.error.clone().unwrap_or_default(), slot.retry_at));
            }
        }
        let rx = start();
        slot.loading = Some(rx.clone());
        slot.state = State::Loading;
        Ok(rx)
    }

    /// Where the load in flight is, if one is.
    pub(crate) fn load_phase(&self) -> Option<&'static str> {
        let slot = self.slot.lock().unwrap();
        slot.loading.as_ref().map(|rx| match &*rx.borrow() {
            LoadProgress::Queued(_) => "queued",
            _ => "compiling",
        })
    }

    pub(crate) fn set_loaded(&self, loaded: Arc<Loaded>) {
        let mut slot = self.slot.lock().unwrap();
        *slot = Slot { state: State::Loaded, loaded: Some(loaded), ..Slot::new() };
        if !self.is_retired() {
            self.outbound.open();
        }
    }

    /// A failure: sticky unless `transient`, which backs off 1 s, 2 s, 4 s … 60 s.
    pub(crate) fn set_failed(&self, message: String, transient: bool) {
        let mut slot = self.slot.lock().unwrap();
        let attempts = if transient { slot.attempts + 1 } else { 0 };
        let retry_at = transient.then(|| Instant::now() + Duration::from_secs(1u64 << (attempts - 1).min(6)).min(Duration::from_secs(60)));
        *slot = Slot { state: State::Failed, error: Some(message), retry_at, attempts, ..Slot::new() };
    }

    /// Back to `registered` (a load refused for lack of memory, not a fault).
    pub(crate) fn set_registered(&self) {
        let mut slot = self.slot.lock().unwrap();
        *slot = Slot::new();
    }

    /// Drops the compiled component, every idle instance and the outbound
    /// pool (its connections close); in-flight calls finish on what they
    /// hold. Returns whether anything was loaded.
    pub fn unload(&self) -> bool {
        let was_loaded = {
            let mut slot = self.slot.lock().unwrap();
            let was = slot.loaded.is_some();
            if slot.loading.is_none() {
                *slot = Slot::new();
            }
            was
        };
        self.idle.lock().unwrap().clear();
        self.outbound.close();
        was_loaded
    }

    /// A warm instance of generation `generation`, if one is idle.
    pub(crate) fn take_idle(&self, generation: u64) -> Option<Instance> {
        let mut idle = self.idle.lock().unwrap();
        idle.retain(|i| i.generation == generation);
        idle.pop().map(|i| i.instance)
    }

    /// The idle instances, for the evictor.
    pub fn idle_view(&self) -> Vec<IdleView> {
        self.idle
            .lock()
            .unwrap()
            .iter()
            .map(|i| IdleView { id: i.instance.id, since: i.since, prefetched: i.instance.prefetched })
            .collect()
    }

    /// Removes one idle instance by ledger id (it is dropped by the caller).
    pub(crate) fn remove_idle(&self, id: crate::memory::InstanceId) -> Option<Instance> {
        let mut idle = self.idle.lock().unwrap();
        let pos = idle.iter().position(|i| i.instance.id == id)?;
        Some(idle.remove(pos).instance)
    }

    /// Returns a healthy instance for reuse, unless the pool settings say otherwise.
    pub(crate) fn put_idle(&self, generation: u64, instance: Instance) {
        let pool = &self.manifest.pool;
        if pool.fresh_instance_per_call || self.is_retired() {
            return;
        }
        if pool.max_uses > 0 && instance.uses >= pool.max_uses {
            self.stats.recycled.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let max_memory = pool.max_idle_memory.as_u64();
        if max_memory > 0 && instance.store.data().limiter.used() > max_memory {
            self.stats.recycled.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // Looked at under the idle lock: an unload resets the slot before it
        // clears the idle list, so an instance pushed here is either of the
        // current load or cleared by that unload.
        let mut idle = self.idle.lock().unwrap();
        if self.loaded().map(|l| l.generation) != Some(generation) {
            return;
        }
        if idle.len() < pool.max_idle as usize {
            idle.push(Idle { generation, instance, since: Instant::now() });
        }
    }

    /// Its pulled component, if it has an OCI source and was pulled.
    pub fn pulled(&self) -> Option<crate::oci::Pulled> {
        self.pulled.lock().unwrap().clone()
    }

    pub(crate) fn set_pulled(&self, pulled: crate::oci::Pulled) {
        *self.pulled.lock().unwrap() = Some(pulled);
    }

    /// Idle instances held now.
    pub fn idle_count(&self) -> usize {
        self.idle.lock().unwrap().len()
    }
}
