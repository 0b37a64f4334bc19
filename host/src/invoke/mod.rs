//! Invoking plugins: take a warm instance (or instantiate one from the
//! `InstancePre`), call under the plugin's deadline, then return the instance
//! for reuse — or drop it if it trapped, timed out or hit its memory limit.
//! Typed entry points per world live in the submodules.

mod generic;
pub mod json;
mod memo;

pub use generic::{BatchItem, ExportInfo, ParamInfo};
pub use memo::{ResultCache, ResultCacheStats};

use crate::bindings::PluginError;
use crate::error::{Error, Result};
use crate::host::Host;
use crate::instance::{new_store, Instance};
use crate::loader::one_line;
use crate::plugin::{Loaded, Plugin};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use crate::memory::InstanceId;
use crate::observe::{Call, InstanceAction};
use std::time::{Duration, Instant, SystemTime};
use wasmtime::Trap;

/// An instance checked out for one call.
pub(crate) struct Lease {
    pub plugin: Arc<Plugin>,
    pub generation: u64,
    pub instance: Instance,
    call: CallStart,
    /// When the instance was handed out (the call itself starts here).
    leased: Instant,
    _busy: Busy,
    _permit: tokio::sync::OwnedSemaphorePermit,
    /// The call's span (`hostel::call`), and its `guest` child open while the lease is out.
    spans: Spans,
}

/// A call's span and its open `guest` child; both close when dropped.
pub(crate) struct Spans {
    call: tracing::Span,
    guest: tracing::Span,
}

impl Spans {
    /// Records what the call came to, then closes the guest span.
    fn close(self, outcome: &str, warm: bool, memory: u64) {
        drop(self.guest);
        self.call.record("outcome", outcome);
        self.call.record("warm", warm);
        self.call.record("memory", memory as i64); // OTLP has no unsigned integers
        if outcome != "ok" {
            self.call.record("otel.status_code", "ERROR");
        }
        // A span ends at its last exit: entering it now makes it cover the guest call.
        self.call.in_scope(|| ());
    }
}

/// A span under the current call span (nothing when no layer wants call spans).
macro_rules! step {
    ($name:literal) => {
        tracing::debug_span!(target: "hostel::call", $name)
    };
}

/// When and what a call started, for its history record.
#[derive(Clone)]
struct CallStart {
    export: std::borrow::Cow<'static, str>,
    at: SystemTime,
    clock: Instant,
    reused: bool,
}

impl CallStart {
    fn record(&self, plugin: &str, error: Option<&Error>) -> Call {
        Call::new(plugin, &self.export, self.at, self.clock.elapsed(), self.reused, error)
    }
}

/// Counts a call in flight for its plugin while alive (the evictor never
/// unloads a plugin with calls in flight).
struct Busy(Arc<Plugin>);

impl Busy {
    fn new(plugin: &Arc<Plugin>) -> Busy {
        plugin.stats.busy.fetch_add(1, Ordering::Relaxed);
        Busy(plugin.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.stats.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Lease {
    /// The instance's typed exports (of the type its world's binding gives)
    /// and its store. The kind was checked at checkout, so a mismatch is a bug.
    pub(crate) fn typed<E: 'static>(&mut self) -> Result<(&E, &mut wasmtime::Store<crate::instance::InstanceState>)> {
        let Instance { exports, store, .. } = &mut self.instance;
        match exports.downcast_ref::<E>() {
            Some(e) => Ok((e, store)),
            None => Err(Error::Internal(format!("{}: its world gave exports of another type", self.plugin.name))),
        }
    }
}

impl Host {
    /// Checks out an instance of `name`, which must be of `kind` (any kind
    /// when `None`), to call `export`, loading the plugin on first use. The call deadline starts now.
    /// A refused call (breaker, queue, budget, load failure) is recorded here;
    /// a call that ran is recorded by [`Host::finish`].
    pub(crate) async fn acquire(&self, name: &str, kind: Option<&str>, export: impl Into<std::borrow::Cow<'static, str>>) -> Result<Lease> {
        use tracing::Instrument as _;
        let mut call = CallStart { export: export.into(), at: SystemTime::now(), clock: Instant::now(), reused: false };
        let span = tracing::debug_span!(target: "hostel::call", "call", plugin = name, export = &*call.export,
            outcome = tracing::field::Empty, warm = tracing::field::Empty, memory = tracing::field::Empty,
            "otel.name" = format!("call {name}/{}", call.export), "otel.status_code" = tracing::field::Empty);
        let lease = self.checkout(name, kind, &mut call).instrument(span.clone()).await;
        if let Err(e) = &lease {
            Spans { call: span, guest: tracing::Span::none() }.close(e.code(), false, 0);
            if !matches!(e, Error::UnknownPlugin(_)) {
                self.record_call(call.record(name, Some(e)));
            }
        }
        lease
    }

    async fn checkout(&self, name: &str, kind: Option<&str>, call: &mut CallStart) -> Result<Lease> {
        // A version replaced or deleted while this call waited for an
        // instance is looked up again: the call goes to what is registered now.
        loop {
            let plugin = self.plugin(name)?;
            if let Some(lease) = self.checkout_of(plugin, name, kind, call).await? {
                return Ok(lease);
            }
        }
    }

    /// `None` when `plugin` was retired before the call got going.
    async fn checkout_of(&self, plugin: Arc<Plugin>, name: &str, kind: Option<&str>, call: &mut CallStart) -> Result<Option<Lease>> {
        if let Some(kind) = kind.filter(|k| plugin.kind() != k) {
            return Err(Error::WrongKind { plugin: name.to_string(), expected: kind.to_string(), actual: plugin.kind().as_str().to_string() });
        }
        plugin.stats.calls.fetch_add(1, Ordering::Relaxed);
        plugin.usage.lock().unwrap().call(self.secs());
        if let Err(retry_after) = plugin.breaker.check() {
            plugin.stats.errors.fetch_add(1, Ordering::Relaxed);
            return Err(Error::CircuitOpen { plugin: name.to_string(), retry_after });
        }
        use tracing::Instrument as _;
        let permit = match plugin.gate.enter(name).instrument(step!("queue")).await {
            Ok(p) => p,
            Err(e) => {
                plugin.stats.errors.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        };
        if plugin.is_retired() {
            return Ok(None);
        }
        let busy = Busy::new(&plugin);
        // Only looked at when call spans are wanted: no lock on the warm path otherwise.
        let traced = tracing::enabled!(target: "hostel::call", tracing::Level::DEBUG);
        let load = if traced && plugin.loaded().is_none() { step!("load") } else { tracing::Span::none() };
        let loaded = match self.ensure_loaded(&plugin, false).instrument(load).await {
            Ok(l) => l,
            Err(_) if plugin.is_retired() => return Ok(None),
            Err(e) => {
                plugin.stats.errors.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        };
        let deadline = deadline(plugin.manifest.limits.call_timeout);
        if let Some(mut instance) = plugin.take_idle(loaded.generation) {
            plugin.stats.instances_reused.fetch_add(1, Ordering::Relaxed);
            self.emit_instance(&plugin, InstanceAction::Reused, instance.id, instance.store.data().limiter.used(), None);
            crate::instance::arm(&mut instance.store, deadline);
            instance.store.data_mut().limiter.new_call();
            instance.uses += 1;
            call.reused = true;
            let spans = Spans { call: tracing::Span::current(), guest: step!("guest") };
            return Ok(Some(Lease { plugin, generation: loaded.generation, instance, call: call.clone(), leased: Instant::now(), _busy: busy, _permit: permit, spans }));
        }
        match self.instantiate(&plugin, &loaded, deadline).await {
            Ok(instance) => {
                let spans = Spans { call: tracing::Span::current(), guest: step!("guest") };
                Ok(Some(Lease { plugin, generation: loaded.generation, instance, call: call.clone(), leased: Instant::now(), _busy: busy, _permit: permit, spans }))
            }
            Err(e) => {
                plugin.stats.errors.fetch_add(1, Ordering::Relaxed);
                if matches!(e, Error::Trap { .. } | Error::Timeout { .. } | Error::MemoryLimitExceeded { .. } | Error::TableLimitExceeded { .. }) {
                    plugin.breaker.failure();
                }
                Err(e)
            }
        }
    }

    /// Reserves the plugin's memory estimate in the ledger: evicts idle
    /// instances to make room, then waits a bounded time for busy ones to
    /// finish, then refuses with `over_budget`.
    async fn admit(&self, plugin: &Arc<Plugin>, call_deadline: Instant) -> Result<InstanceId> {
        let ledger = &self.inner.ledger;
        let needed = plugin.manifest.limits.memory_estimate.as_u64();
        // An instance that would take pressure to `high` first evicts just
        // enough idle ones, in the policy's order, to stay below it, rather
        // than relief evicting a batch after the crossing.
        self.keep_below_high(needed);
        if let Some(id) = ledger.admit(&plugin.name, needed) {
            return Ok(id);
        }
        // While waiting, compiles leave this much free for us.
        let _waiting = Waiting::new(&self.inner.admitting, needed);
        let deadline = Instant::now() + self.inner.memory.admission_wait;
        loop {
            if let Some(id) = ledger.admit(&plugin.name, needed) {
                return Ok(id);
            }
            self.make_room(needed);
            if let Some(id) = ledger.admit(&plugin.name, needed) {
                return Ok(id);
            }
            let now = Instant::now();
            // Compiles in flight end within their timeouts and give their
            // reservations back: worth waiting for, up to the call's deadline.
            let compiling = !ledger.snapshot().compiles.is_empty();
            if now >= deadline && (!compiling || now >= call_deadline) {
                tracing::warn!(plugin = &*plugin.name, needed, used = ledger.used(), "admission refused: over budget");
                return Err(Error::OverBudget {
                    plugin: plugin.name.to_string(),
                    needed,
                    used: ledger.used(),
                    budget: ledger.budget(),
                    holders: self.budget_holders(),
                });
            }
            ledger.wait_release(Duration::from_millis(100)).await;
        }
    }

    pub(crate) async fn instantiate(&self, plugin: &Arc<Plugin>, loaded: &Loaded, deadline: Instant) -> Result<Instance> {
        let started = Instant::now();
        use tracing::Instrument as _;
        let id = self.admit(plugin, deadline).instrument(step!("admission")).await?;
        self.instantiate_admitted(plugin, loaded, deadline, id, started).instrument(step!("instantiate")).await
    }

    /// Instantiates into ledger entry `id` (already admitted); `started` is
    /// when making it began, for its cold cost.
    pub(crate) async fn instantiate_admitted(&self, plugin: &Arc<Plugin>, loaded: &Loaded, deadline: Instant, id: InstanceId, started: Instant) -> Result<Instance> {
        let engine = &self.inner.runtime.engine;
        let ledger = self.inner.ledger.clone();
        let mut store = new_store(engine, plugin, &self.inner.cache, &self.inner.outbound, Some((ledger.clone(), id))).map_err(|message| {
            ledger.release(id);
            // What calls get is what the plugin's state says (retried after a backoff).
            plugin.set_failed(message.clone(), true);
            Error::PluginFailed { plugin: plugin.name.to_string(), message }
        })?;
        store.data_mut().deadline = Some(deadline);
        // Instantiate untyped, then take the world's typed exports from it:
        // typed calls use those, generic (JSON) calls the raw instance.
        let raw = loaded.pre.instantiate_async(&mut store).await;
        let exports = raw.and_then(|raw| loaded.binding.exports(&mut store, &raw).map(|e| (raw, e)));
        let (raw, exports) = match exports {
            Ok(e) => e,
            Err(e) => return Err(classify(self, plugin, &store, e)),
        };
        plugin.stats.instances_created.fetch_add(1, Ordering::Relaxed);
        self.emit_instance(plugin, InstanceAction::Created, id, store.data().limiter.used(), None);
        plugin.lost.store(false, Ordering::Relaxed);
        let took = started.elapsed();
        tracing::debug!(plugin = &*plugin.name, us = took.as_micros() as u64, "instantiated");
        Ok(Instance { id, store, raw, exports, uses: 1, pending_cold: Some(took), prefetched: false })
    }

    /// Prefetch's instance of `plugin`: made only with a free pool permit and
    /// memory that fits without evicting, warmed by the manifest's
    /// `pool.warm_up` call if it has one, then pooled. `Ok(false)`: nothing
    /// made (no room, no permit, not loaded, or its warm-up pushed the ledger
    /// to `medium` and it was dropped).
    pub(crate) async fn prefetch_instance(&self, plugin: &Arc<Plugin>) -> Result<bool> {
        let Some(loaded) = plugin.loaded() else { return Ok(false) };
        let Some(_permit) = plugin.gate.try_enter() else { return Ok(false) };
        let _busy = Busy::new(plugin);
        let ledger = self.inner.ledger.clone();
        let started = Instant::now();
        let Some(id) = ledger.admit(&plugin.name, plugin.manifest.limits.memory_estimate.as_u64()) else { return Ok(false) };
        let deadline = deadline(plugin.manifest.limits.call_timeout);
        let mut instance = self.instantiate_admitted(plugin, &loaded, deadline, id, started).await?;
        if let Some(warm) = &plugin.manifest.pool.warm_up {
            let made = instance.pending_cold.take().unwrap_or_default();
            let call = Instant::now();
            self.warm_call(&loaded, &mut instance, &plugin.name, &warm.export, &warm.args).await?;
            plugin.usage.lock().unwrap().cold(made.as_secs_f64(), call.elapsed().as_secs_f64());
        }
        instance.store.data_mut().deadline = None;
        ledger.true_up(instance.id);
        if ledger.level() >= crate::memory::Level::Medium {
            return Ok(false);
        }
        instance.prefetched = true;
        plugin.put_idle(loaded.generation, instance);
        Ok(true)
    }

    /// Ends a call: maps the outcome to the library's errors and decides the
    /// instance's fate (back to the pool, or dropped).
    pub(crate) fn finish<T: serde::Serialize>(&self, lease: Lease, outcome: wasmtime::Result<Result<T, PluginError>>) -> Result<T> {
        let Lease { plugin, generation, mut instance, call, leased, _busy, _permit, spans } = lease;
        let memory = instance.store.data().limiter.used();
        instance.store.data_mut().deadline = None;
        // After a call the instance's real size is known: drop its reservation.
        self.inner.ledger.true_up(instance.id);
        if outcome.as_ref().is_ok_and(|r| r.is_ok()) {
            self.learn(&plugin, &mut instance, leased.elapsed());
        }
        let limit = plugin.manifest.limits.max_output.as_u64();
        let outcome = match outcome {
            Ok(Ok(value)) if !fits(&value, limit) => Err(wasmtime::Error::new(OutputLimit)),
            other => other,
        };
        let result = self.settle(&plugin, generation, instance, outcome);
        let record = call.record(&plugin.name, result.as_ref().err());
        spans.close(&record.outcome, record.reused, memory);
        self.record_call(record);
        result
    }

    /// What a successful call says about the plugin's cold cost and warm
    /// calls.
    pub(crate) fn learn(&self, plugin: &Plugin, instance: &mut Instance, call: Duration) {
        let mut usage = plugin.usage.lock().unwrap();
        match instance.pending_cold.take() {
            Some(made) => usage.cold(made.as_secs_f64(), call.as_secs_f64()),
            None => usage.warm(call.as_secs_f64()),
        }
        usage.instance_bytes = instance.store.data().limiter.used();
        instance.prefetched = false;
    }

    /// The instance's fate after a call, and the caller's result.
    fn settle<T>(&self, plugin: &Arc<Plugin>, generation: u64, instance: Instance, outcome: wasmtime::Result<Result<T, PluginError>>) -> Result<T> {
        match outcome {
            Ok(Ok(value)) => {
                plugin.breaker.success();
                plugin.put_idle(generation, instance);
                Ok(value)
            }
            Ok(Err(e)) => {
                // A plugin-error is a normal return: the instance stays healthy.
                plugin.breaker.success();
                plugin.stats.errors.fetch_add(1, Ordering::Relaxed);
                plugin.put_idle(generation, instance);
                Err(Error::Plugin { plugin: plugin.name.to_string(), code: e.code.into(), message: bounded(e.message) })
            }
            Err(e) => {
                plugin.stats.errors.fetch_add(1, Ordering::Relaxed);
                plugin.stats.discarded.fetch_add(1, Ordering::Relaxed);
                let error = classify(self, plugin, &instance.store, e);
                tracing::warn!(plugin = &*plugin.name, code = error.code(), "instance discarded: {error}");
                self.emit_instance(plugin, InstanceAction::Discarded, instance.id, instance.store.data().limiter.used(), Some(error.code().to_string()));
                if !matches!(error, Error::OverBudget { .. }) && plugin.breaker.failure() {
                    tracing::warn!(plugin = &*plugin.name, "circuit opened after repeated failures");
                }
                Err(error)
            }
        }
    }

    /// Finishes a call whose export cannot return a `plugin-error`.
    pub(crate) fn finish_infallible<T: serde::Serialize>(&self, lease: Lease, outcome: wasmtime::Result<T>) -> Result<T> {
        self.finish(lease, outcome.map(Ok))
    }
}

impl Host {
    pub(crate) fn emit_instance(&self, plugin: &Plugin, action: InstanceAction, instance: u64, bytes: u64, reason: Option<String>) {
        self.emit(|| crate::observe::Event::Instance { plugin: plugin.name.to_string(), action, instance, bytes, reason });
    }
}

/// Runs `call`; a panic inside it becomes this call's `internal` error
/// (a batch item or a job stage fails alone, the host serves on).
pub(crate) async fn unpanicked<T>(call: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(call).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let what = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
            tracing::error!("a call panicked: {}", what.as_deref().unwrap_or("?"));
            Err(Error::Internal("the host failed while handling this call (a bug: it was logged); the host serves on".into()))
        }
    }
}

/// Counts bytes of instances waiting for admission while alive.
struct Waiting<'a>(&'a std::sync::atomic::AtomicU64, u64);

impl<'a> Waiting<'a> {
    fn new(counter: &'a std::sync::atomic::AtomicU64, bytes: u64) -> Self {
        counter.fetch_add(bytes, Ordering::Relaxed);
        Waiting(counter, bytes)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(self.1, Ordering::Relaxed);
    }
}

/// When a call started now with `timeout` must end (never overflows: an
/// absurd timeout means no deadline in practice).
pub(crate) fn deadline(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout).unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
}

/// A result over `max_output`: handled like a fault, so the instance (which
/// holds the oversized buffer) is discarded and the breaker counts it.
#[derive(Debug, thiserror::Error)]
#[error("output over its limit")]
pub(crate) struct OutputLimit;

/// A plugin's error message, cut to a size fit for a log line and an HTTP answer.
fn bounded(message: String) -> String {
    crate::observe::cut(message, 4096)
}

/// Whether `value` serialises to at most `limit` bytes of JSON. Stops
/// counting as soon as the limit is passed.
pub(crate) fn fits<T: serde::Serialize>(value: &T, limit: u64) -> bool {
    struct Counter {
        left: u64,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.left = self.left.checked_sub(buf.len() as u64).ok_or(std::io::ErrorKind::FileTooLarge)?;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(Counter { left: limit }, value).is_ok()
}

/// Turns a wasmtime failure into the error a caller can act on.
fn classify(host: &Host, plugin: &Plugin, store: &wasmtime::Store<crate::instance::InstanceState>, e: wasmtime::Error) -> Error {
    let name = plugin.name.to_string();
    if e.is::<OutputLimit>() {
        return Error::OutputTooLarge { plugin: name, limit: plugin.manifest.limits.max_output.as_u64() };
    }
    let state = store.data();
    if state.limiter.hit_limit {
        return Error::MemoryLimitExceeded { plugin: name, limit: state.limiter.limit() };
    }
    if let Some(maximum) = state.limiter.table_max {
        return Error::TableLimitExceeded { plugin: name, maximum };
    }
    if state.limiter.hit_budget {
        let (used, budget) = state.limiter.ledger().map(|l| (l.used(), l.budget())).unwrap_or((0, 0));
        return Error::OverBudget { plugin: name, needed: state.limiter.refused, used, budget, holders: host.budget_holders() };
    }
    let mut message = match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => {
            return Error::Timeout { plugin: name, after: plugin.manifest.limits.call_timeout };
        }
        // The trap itself, without wasmtime's multi-line wasm backtrace.
        Some(trap) => trap.to_string(),
        None => one_line(&e),
    };
    let output = state.output_tail();
    if !output.is_empty() {
        message = format!("{message}; plugin output: {output}");
    }
    Error::Trap { plugin: name, message }
}

#[cfg(test)]
mod tests {
    use super::{bounded, fits};

    #[test]
    fn long_plugin_messages_are_cut_on_a_character_boundary() {
        assert_eq!(bounded("short".into()), "short");
        let long = "é".repeat(5000); // 10,000 bytes, 2 per character
        let cut = bounded(long);
        assert!(cut.starts_with(&"é".repeat(2048)) && cut.ends_with("… (10000 bytes, cut)"), "{}", &cut[cut.len() - 40..]);
    }

    #[tokio::test]
    async fn a_panic_in_a_call_is_that_calls_internal_error() {
        let ok = super::unpanicked(async { Ok::<_, crate::Error>(7) }).await;
        assert_eq!(ok.unwrap(), 7);
        let boom = super::unpanicked(async {
            if true {
                panic!("overflow when adding duration to instant");
            }
            Ok::<u32, crate::Error>(0)
        })
        .await;
        let e = boom.unwrap_err();
        assert_eq!(e.code(), "internal", "{e}");
    }

    #[test]
    fn output_size_is_measured_as_json_and_stops_at_the_limit() {
        assert!(fits(&"x".repeat(10), 12));
        assert!(!fits(&"x".repeat(11), 12)); // 11 characters + 2 quotes
        assert!(!fits(&vec![0u8; 1 << 20], 1024));
    }
}
