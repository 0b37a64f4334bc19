//! Compiles are work the host schedules and pays for.
//!
//! The path of one compile: artifact cache (a hit maps the file, no queue) →
//! the compile queue (at most `max_concurrent_compiles` at once, higher
//! priority first, then first come) → a reservation of the compile's
//! estimated peak in the ledger (eviction makes room; refused with
//! `over_budget` when it cannot fit) → Cranelift in a worker process (or a
//! blocking thread) under the plugin's `load_timeout` → the artifact written
//! to the cache → mapped with `Component::deserialize_file` → reservation
//! released.
//!
//! One [`Compiled`] per component sha256, shared by every plugin name that
//! uses it and charged once; concurrent loads of one sha256 share one compile.
//! A compile runs on its own task: a caller that gives up waiting does not
//! stop it, and its result still lands.

mod estimate;
mod inspect;
mod queue;
mod worker;

pub use crate::observe::CompilePhase;
use estimate::EstimateReport;
pub use inspect::initial_memory;
pub use queue::QueueStats;
pub use worker::{run_if_requested, WORKER_ARG};

use crate::artifacts::SourceIndex;
use crate::host::Host;
use crate::memory::Ledger;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use wasmtime::component::Component;

/// Where Cranelift runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// A worker process per compile (the `hostel` binary, or an embedder's
    /// binary that calls [`run_if_requested`]).
    Process,
    /// A blocking thread in the host process; freed memory is trimmed back
    /// to the OS afterwards.
    InProcess,
}

/// A compiled component, shared by every plugin whose component has this
/// sha256. Its code is charged to the ledger once, while it lives.
pub struct Compiled {
    pub component: Component,
    pub sha256: Arc<str>,
    /// Bytes of compiled code (the mapped image).
    pub code_bytes: u64,
    /// Mapped from the artifact cache rather than compiled now.
    pub from_cache: bool,
    /// Time to compile (or to map) it.
    pub took: Duration,
    ledger: Arc<Ledger>,
}

impl Drop for Compiled {
    fn drop(&mut self) {
        self.ledger.remove_compiled(&self.sha256, self.code_bytes);
    }
}

/// Why a compile produced nothing. `Invalid` will fail the same way again;
/// the others may not.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    Invalid(String),
    Transient(String),
    TimedOut(Duration),
    OverBudget { needed: u64, used: u64, budget: u64 },
}

/// Where a compile is, for callers deciding how long to wait.
#[derive(Clone)]
pub(crate) enum Progress {
    Queued { since: Instant },
    Compiling,
    Done(Result<Arc<Compiled>, Failure>),
}

/// What the host needs to know to compile one plugin's component.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub plugin: Arc<str>,
    pub priority: i32,
    pub path: PathBuf,
    pub sha256: Arc<str>,
    pub wasm_len: u64,
    pub timeout: Duration,
    /// The artifact cache was looked at already (a miss): go straight to compiling.
    pub cache_checked: bool,
}

/// What [`Host::find_component`] found.
pub(crate) struct Found {
    pub hashed: crate::artifacts::Hashed,
    /// The compiled component, if loaded for another name or mapped from the cache.
    pub ready: Option<Arc<Compiled>>,
    pub cache_checked: bool,
}

/// Counters of the compile service.
#[derive(Debug, Clone, Serialize)]
pub struct CompileStats {
    pub mode: Mode,
    pub queue: QueueStats,
    /// Compiles run (artifact-cache misses).
    pub compiles: u64,
    /// Loads served from the artifact cache.
    pub mapped: u64,
    /// Loads that found the component already loaded for another name.
    pub shared: u64,
    /// Compiles refused because their reservation could not fit.
    pub refused: u64,
    /// Workers that crashed, were killed or timed out.
    pub worker_failures: u64,
    /// Compiled components alive (one per distinct sha256).
    pub components: usize,
    pub estimate: EstimateReport,
}

/// The compile service: queue, in-flight compiles, shared components.
pub(crate) struct Compiler {
    mode: Mode,
    worker_exe: Option<PathBuf>,
    queue: Arc<queue::Queue>,
    settings: crate::engine::EngineSettings,
    fingerprint: String,
    shared: Mutex<HashMap<Arc<str>, Weak<Compiled>>>,
    inflight: Mutex<HashMap<Arc<str>, watch::Receiver<Progress>>>,
    estimates: estimate::Estimates,
    /// Worker processes alive now (their RSS counts as the host's).
    workers: Mutex<HashSet<u32>>,
    pub sources: SourceIndex,
    compiles: AtomicU64,
    mapped: AtomicU64,
    shared_hits: AtomicU64,
    refused: AtomicU64,
    worker_failures: AtomicU64,
}

impl Compiler {
    pub fn new(settings: &crate::engine::EngineSettings, fingerprint: String, worker_exe: Option<PathBuf>, sources: SourceIndex) -> Compiler {
        let mode = match (settings.compile, &worker_exe) {
            (Mode::Process, Some(_)) => Mode::Process,
            (Mode::Process, None) => {
                tracing::debug!("no compile worker binary given (HostBuilder::compile_worker): compiling in-process");
                Mode::InProcess
            }
            (Mode::InProcess, _) => Mode::InProcess,
        };
        Compiler {
            mode,
            worker_exe,
            queue: queue::Queue::new(settings.compile_slots()),
            settings: settings.clone(),
            fingerprint,
            shared: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
            estimates: estimate::Estimates::new(mode),
            workers: Mutex::new(HashSet::new()),
            sources,
            compiles: AtomicU64::new(0),
            mapped: AtomicU64::new(0),
            shared_hits: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            worker_failures: AtomicU64::new(0),
        }
    }

    pub fn stats(&self) -> CompileStats {
        let components = {
            let mut shared = self.shared.lock().unwrap();
            shared.retain(|_, w| w.strong_count() > 0);
            shared.len()
        };
        CompileStats {
            mode: self.mode,
            queue: self.queue.stats(),
            compiles: self.compiles.load(Ordering::Relaxed),
            mapped: self.mapped.load(Ordering::Relaxed),
            shared: self.shared_hits.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            worker_failures: self.worker_failures.load(Ordering::Relaxed),
            components,
            estimate: self.estimates.report(),
        }
    }

    /// Pids of the compile workers running now.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.workers.lock().unwrap().iter().copied().collect()
    }

    /// The loaded component with this sha256, if some plugin holds it.
    fn loaded(&self, sha256: &str) -> Option<Arc<Compiled>> {
        self.shared.lock().unwrap().get(sha256).and_then(Weak::upgrade)
    }
}

impl Host {
    /// The compiled component for `job`: shared if another name has it
    /// loaded, joined if it is being compiled, else mapped from the artifact
    /// cache or compiled. Returns a receiver that ends in `Progress::Done`,
    /// and whether this call started the work (rather than joining it).
    pub(crate) fn component(&self, job: Job) -> (watch::Receiver<Progress>, bool) {
        let compiler = &self.inner.compiler;
        if let Some(c) = compiler.loaded(&job.sha256) {
            compiler.shared_hits.fetch_add(1, Ordering::Relaxed);
            return (watch::channel(Progress::Done(Ok(c))).1, false);
        }
        let mut inflight = compiler.inflight.lock().unwrap();
        if let Some(rx) = inflight.get(&job.sha256) {
            return (rx.clone(), false);
        }
        let (tx, rx) = watch::channel(Progress::Compiling);
        inflight.insert(job.sha256.clone(), rx.clone());
        drop(inflight);
        let host = self.clone();
        tokio::spawn(async move {
            let sha = job.sha256.clone();
            let result = host.produce(job, &tx).await;
            if let Ok(c) = &result {
                host.inner.compiler.shared.lock().unwrap().insert(sha.clone(), Arc::downgrade(c));
            }
            host.inner.compiler.inflight.lock().unwrap().remove(&sha);
            let _ = tx.send(Progress::Done(result));
        });
        (rx, true)
    }

    /// The fast path of a load, in one blocking step: the component's sha256
    /// (a `stat` when its identity is known), then the compiled component if
    /// another name has it loaded, else mapped from the artifact cache unless
    /// a compile of it is in flight.
    pub(crate) async fn find_component(&self, path: PathBuf) -> std::io::Result<Found> {
        let host = self.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let compiler = &host.inner.compiler;
            let hashed = compiler.sources.sha256(&path)?;
            if let Some(c) = compiler.loaded(&hashed.sha256) {
                compiler.shared_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Found { hashed, ready: Some(c), cache_checked: false });
            }
            if compiler.inflight.lock().unwrap().contains_key(hashed.sha256.as_str()) {
                return Ok(Found { hashed, ready: None, cache_checked: false });
            }
            let sha: Arc<str> = hashed.sha256.as_str().into();
            let Some(mapped) = host.map_artifact(&sha) else {
                return Ok(Found { hashed, ready: None, cache_checked: true });
            };
            let mut shared = compiler.shared.lock().unwrap();
            // Another name may have mapped it at the same moment: keep one
            // (ours is dropped, and its charge with it).
            let c = match shared.get(&sha).and_then(Weak::upgrade) {
                Some(existing) => existing,
                None => {
                    shared.insert(sha, Arc::downgrade(&mapped));
                    mapped
                }
            };
            Ok(Found { hashed, ready: Some(c), cache_checked: true })
        });
        joined.await.map_err(|e| std::io::Error::other(format!("load task failed: {e}")))?
    }

    async fn produce(&self, job: Job, progress: &watch::Sender<Progress>) -> Result<Arc<Compiled>, Failure> {
        if !job.cache_checked {
            // A compile of it may have ended since the load looked.
            let (host, sha) = (self.clone(), job.sha256.clone());
            if let Ok(Some(c)) = tokio::task::spawn_blocking(move || host.map_artifact(&sha)).await {
                return Ok(c);
            }
        }
        let compiler = &self.inner.compiler;
        let _ = progress.send(Progress::Queued { since: Instant::now() });
        self.emit_compile(&job.plugin, CompilePhase::Queued, None, None);
        let _slot = compiler.queue.enter(job.priority).await;
        let (path, threads) = (job.path.clone(), compile_threads());
        let profile = tokio::task::spawn_blocking(move || std::fs::read(&path).map(|b| inspect::code_profile(&b, threads)))
            .await
            .map_err(|e| Failure::Transient(format!("compile task failed: {e}")))?
            .map_err(|e| Failure::Transient(format!("cannot read the component: {e}")))?;
        // The head-room is dropped when only it would not fit: the compile
        // then takes the whole budget and runs alone.
        let budget = self.inner.ledger.budget();
        let estimate = match compiler.estimates.estimate(&profile) {
            e if e > budget && compiler.estimates.expected(&profile) <= budget => budget,
            e => e,
        };
        let reservation = self.reserve_compile(&job, estimate).await?;
        let _ = progress.send(Progress::Compiling);
        self.emit_compile(&job.plugin, CompilePhase::Started, None, None);
        compiler.compiles.fetch_add(1, Ordering::Relaxed);
        tracing::info!(plugin = %job.plugin, wasm_bytes = job.wasm_len, reserved = estimate, mode = ?compiler.mode, "compiling");
        let started = Instant::now();
        let output = match &self.inner.artifacts {
            Some(a) => a.path(&job.sha256),
            None => std::env::temp_dir().join(format!("hostel-{}-{}.cwasm", std::process::id(), job.sha256)),
        };
        let outcome = match compiler.mode {
            Mode::Process => self.compile_in_worker(&job, &output, &profile).await,
            Mode::InProcess => self.compile_in_process(&job, &output, reservation).await,
        };
        let took = started.elapsed();
        let component = match (outcome, &self.inner.artifacts) {
            // The cache's own format (a zstd entry is decoded, a raw one mapped).
            (Ok(()), Some(artifacts)) => artifacts
                .open_fresh(&self.inner.runtime.engine, &job.sha256)
                .map_err(|e| Failure::Transient(format!("cannot map the compiled artifact: {e}"))),
            (Ok(()), None) => self.map_fresh(&output),
            (Err(f), _) => Err(f),
        };
        if self.inner.artifacts.is_none() {
            let _ = std::fs::remove_file(&output); // mapped pages outlive the name
            let _ = std::fs::remove_file(output.with_extension("meta"));
        }
        self.emit_compile(&job.plugin, CompilePhase::Finished, Some(took.as_millis() as u64), Some(component.is_ok()));
        let component = component?;
        tracing::info!(plugin = %job.plugin, ms = took.as_millis() as u64, "compiled");
        Ok(self.adopt(component, &job.sha256, false, took))
    }

    fn emit_compile(&self, plugin: &str, phase: CompilePhase, ms: Option<u64>, ok: Option<bool>) {
        self.emit(|| crate::observe::Event::Compile { plugin: plugin.to_string(), phase, ms, ok });
    }

    /// A cache hit (blocking): map the artifact; no queue, no compile
    /// reservation. Its code joins the ledger: room is made first if it can be.
    fn map_artifact(&self, sha256: &Arc<str>) -> Option<Arc<Compiled>> {
        let artifacts = self.inner.artifacts.as_ref()?;
        if let Some(len) = artifacts.entry_len(sha256) {
            if self.inner.ledger.used() + len > self.inner.ledger.budget() {
                self.make_room(len);
            }
        }
        let started = Instant::now();
        let component = artifacts.load(&self.inner.runtime.engine, sha256)?;
        self.inner.compiler.mapped.fetch_add(1, Ordering::Relaxed);
        Some(self.adopt(component, sha256, true, started.elapsed()))
    }

    /// Maps an artifact just written by a compile.
    fn map_fresh(&self, path: &std::path::Path) -> Result<Component, Failure> {
        // SAFETY: written by a compile of this engine's fingerprint a moment
        // ago (checksummed as it was written), in a directory we own.
        unsafe { Component::deserialize_file(&self.inner.runtime.engine, path) }
            .map_err(|e| Failure::Transient(format!("cannot map the compiled artifact: {}", crate::loader::one_line(&e))))
    }

    fn adopt(&self, component: Component, sha256: &Arc<str>, from_cache: bool, took: Duration) -> Arc<Compiled> {
        let range = component.image_range();
        let code_bytes = (range.end as usize - range.start as usize) as u64;
        let ledger = self.inner.ledger.clone();
        ledger.add_compiled(sha256, code_bytes);
        Arc::new(Compiled { component, sha256: sha256.clone(), code_bytes, from_cache, took, ledger })
    }

    /// Whether memory is held by work that will end and give it back: other
    /// compiles, busy instances, plugins with calls in flight.
    pub(crate) fn memory_in_flight(&self) -> bool {
        let snap = self.inner.ledger.snapshot();
        if !snap.compiles.is_empty() {
            return true;
        }
        let plugins = self.inner.registry.list();
        let idle: std::collections::HashSet<u64> = plugins.iter().flat_map(|p| p.idle_view()).map(|v| v.id).collect();
        snap.instances.iter().any(|i| !idle.contains(&i.id))
            || plugins.iter().any(|p| p.loaded().is_some() && p.stats.busy.load(Ordering::Relaxed) > 0)
    }

    /// Reserves a compile's estimated peak. Room is made by evicting idle
    /// instances and idle compiled code; while memory is held by work in
    /// flight (other compiles, busy instances) it waits for it, up to the
    /// compile's timeout; otherwise it waits `admission_wait` and refuses.
    async fn reserve_compile(&self, job: &Job, bytes: u64) -> Result<Reservation, Failure> {
        let ledger = &self.inner.ledger;
        let refuse = |ledger: &Ledger| Failure::OverBudget { needed: bytes, used: ledger.used(), budget: ledger.budget() };
        if bytes > ledger.budget() {
            self.inner.compiler.refused.fetch_add(1, Ordering::Relaxed);
            return Err(refuse(ledger));
        }
        // Refused only after `admission_wait` with nothing in flight that
        // could give memory back (or at the compile's own timeout).
        let mut quiet_since = Instant::now();
        let hard_deadline = crate::invoke::deadline(job.timeout);
        loop {
            // Instances waiting for admission go first: they serve callers now.
            let waiting = self.inner.admitting.load(Ordering::Relaxed);
            if let Some(id) = ledger.reserve_compile(&job.plugin, bytes, waiting) {
                return Ok(Reservation { ledger: ledger.clone(), id });
            }
            self.make_room(bytes + waiting);
            if let Some(id) = ledger.reserve_compile(&job.plugin, bytes, waiting) {
                return Ok(Reservation { ledger: ledger.clone(), id });
            }
            let now = Instant::now();
            if self.memory_in_flight() {
                quiet_since = now;
            }
            if now >= hard_deadline || now.duration_since(quiet_since) >= self.inner.memory.admission_wait {
                self.inner.compiler.refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(plugin = %job.plugin, needed = bytes, used = ledger.used(), "compile refused: over budget");
                return Err(refuse(ledger));
            }
            ledger.wait_release(Duration::from_millis(100)).await;
        }
    }

    async fn compile_in_worker(&self, job: &Job, output: &std::path::Path, profile: &inspect::CodeProfile) -> Result<(), Failure> {
        let compiler = &self.inner.compiler;
        let Some(exe) = compiler.worker_exe.clone() else {
            return Err(Failure::Transient("no compile worker binary".into()));
        };
        let req = worker::Request {
            engine: compiler.settings.clone(),
            fingerprint: compiler.fingerprint.clone(),
            component: job.path.clone(),
            sha256: job.sha256.to_string(),
            output: output.to_path_buf(),
            format: self.inner.artifacts.as_ref().map(|a| a.format()).unwrap_or(crate::artifacts::Format::Raw),
        };
        let host = self.clone();
        let timeout = job.timeout;
        let ran = tokio::task::spawn_blocking(move || {
            let compiler = &host.inner.compiler;
            let mut pid = None;
            let result = worker::run(&exe, &req, timeout, |p| {
                pid = Some(p);
                compiler.workers.lock().unwrap().insert(p);
            });
            if let Some(p) = pid {
                compiler.workers.lock().unwrap().remove(&p);
                if result.is_err() {
                    remove_temp_files(&req.output, p);
                }
            }
            result
        })
        .await
        .map_err(|e| Failure::Transient(format!("compile task failed: {e}")))?;
        match ran {
            Ok(done) => {
                compiler.estimates.calibrate(profile, done.peak_rss);
                tracing::debug!(plugin = %job.plugin, peak_rss = done.peak_rss, ms = done.compile_time.as_millis() as u64, "compile worker finished");
                Ok(())
            }
            Err(e) => {
                let failure = match e {
                    worker::WorkerError::Invalid(m) => return Err(Failure::Invalid(m)),
                    worker::WorkerError::Failed(m) => Failure::Transient(m),
                    worker::WorkerError::TimedOut => Failure::TimedOut(job.timeout),
                };
                compiler.worker_failures.fetch_add(1, Ordering::Relaxed);
                Err(failure)
            }
        }
    }

    /// Cranelift on a blocking thread. The reservation moves into the thread:
    /// a compile that outlives its timeout keeps its memory charged until it
    /// really ends.
    async fn compile_in_process(&self, job: &Job, output: &std::path::Path, reservation: Reservation) -> Result<(), Failure> {
        let engine = self.inner.runtime.engine.clone();
        let (path, sha, output) = (job.path.clone(), job.sha256.clone(), output.to_path_buf());
        let format = self.inner.artifacts.as_ref().map(|a| a.format()).unwrap_or(crate::artifacts::Format::Raw);
        let work = tokio::task::spawn_blocking(move || {
            let _reservation = reservation;
            let result = (|| {
                let bytes = std::fs::read(&path).map_err(|e| Failure::Transient(format!("cannot read the component: {e}")))?;
                if hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)) != *sha {
                    return Err(Failure::Transient("the component changed while queued".into()));
                }
                let component = Component::new(&engine, &bytes)
                    .map_err(|e| Failure::Invalid(format!("not a valid WebAssembly component: {}", crate::loader::one_line(&e))))?;
                let artifact = component.serialize().map_err(|e| Failure::Transient(format!("cannot serialize: {e}")))?;
                drop(component);
                crate::artifacts::write_entry(&output, &artifact, format).map_err(|e| Failure::Transient(format!("cannot write the artifact: {e}")))
            })();
            trim();
            result
        });
        match tokio::time::timeout(job.timeout, work).await {
            Err(_) => Err(Failure::TimedOut(job.timeout)),
            Ok(Err(join)) => Err(Failure::Transient(format!("the compiler panicked: {join}"))),
            Ok(Ok(r)) => r,
        }
    }

    /// Counters of the compile service.
    pub fn compile_stats(&self) -> CompileStats {
        self.inner.compiler.stats()
    }
}

/// A compile's reservation in the ledger, released when dropped.
pub(crate) struct Reservation {
    ledger: Arc<Ledger>,
    id: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.ledger.release_compile(self.id);
    }
}

/// Threads one compile uses (Cranelift compiles functions in parallel).
fn compile_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Removes what a failed worker `pid` left half-written beside `output`.
fn remove_temp_files(output: &std::path::Path, pid: u32) {
    let Some(dir) = output.parent() else { return };
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mark = format!(".{pid}.");
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(".tmp") && name.contains(&mark) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Gives freed heap back to the OS (glibc keeps it otherwise).
fn trim() {
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
