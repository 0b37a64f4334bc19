//! One plugin instance: its `Store` data (WASI context, HTTP policy, host
//! services, limiter) and the typed exports of its world.

mod limiter;

pub use limiter::MemoryLimiter;

use crate::memory::{InstanceId, Ledger};
use std::sync::Arc;
use crate::plugin::Plugin;
use crate::services::{HttpPolicy, OutboundHost, PluginServices, SharedCache};
use std::time::Instant;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// How much of a plugin's stdout/stderr is kept (shown in trap messages).
const OUTPUT_CAPACITY: usize = 256 * 1024;

/// Everything a plugin's `Store` holds.
pub struct InstanceState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: HttpPolicy,
    pub(crate) services: PluginServices,
    pub(crate) limiter: MemoryLimiter,
    stderr: MemoryOutputPipe,
    /// When the current call must stop; checked on every epoch tick.
    pub(crate) deadline: Option<Instant>,
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

impl InstanceState {
    /// The last lines the plugin wrote to stderr/stdout (e.g. a panic message).
    pub fn output_tail(&self) -> String {
        let bytes = self.stderr.contents();
        let text = String::from_utf8_lossy(&bytes);
        // Rust's hint to set RUST_BACKTRACE means nothing inside a plugin.
        let lines: Vec<&str> =
            text.lines().filter(|l| !l.trim().is_empty() && !l.contains("RUST_BACKTRACE")).collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }
}

/// A live instance of a plugin.
pub struct Instance {
    /// The instance's id in the ledger.
    pub id: crate::memory::InstanceId,
    pub store: Store<InstanceState>,
    /// The untyped instance, for generic calls by export name.
    pub raw: wasmtime::component::Instance,
    /// Its world's typed exports (see [`crate::world::Binding`]).
    pub exports: crate::world::Exports,
    pub uses: u64,
    /// How long it took to instantiate, until its first call adds the rest
    /// of its cold cost (see [`crate::memory::Usage::cold`]).
    pub(crate) pending_cold: Option<std::time::Duration>,
    /// Made by prefetch and not used by a call yet.
    pub(crate) prefetched: bool,
}

/// Makes a store for `plugin` with a deny-by-default WASI context: no env, no
/// files, no sockets unless the manifest grants them. Outbound HTTP goes to
/// the plugin's pooled client, made from `outbound`.
pub fn new_store(
    engine: &Engine,
    plugin: &Plugin,
    cache: &SharedCache,
    outbound: &Arc<OutboundHost>,
    charge: Option<(Arc<Ledger>, InstanceId)>,
) -> Result<Store<InstanceState>, String> {
    let m = &plugin.manifest;
    let stderr = MemoryOutputPipe::new(OUTPUT_CAPACITY);
    let mut wasi = WasiCtxBuilder::new();
    wasi.stdout(stderr.clone()).stderr(stderr.clone());
    for (k, v) in &m.capabilities.env {
        wasi.env(k, v);
    }
    for grant in &m.capabilities.read_only_dirs {
        let host = plugin.dir.join(&grant.host);
        let guest = grant.guest.clone().unwrap_or_else(|| {
            format!("/{}", grant.host.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
        });
        wasi.preopened_dir(&host, &guest, FsPerms::ReadOnly)
            .map_err(|e| format!("cannot grant directory {}: {e}", host.display()))?;
    }
    let state = InstanceState {
        wasi: wasi.build(),
        table: ResourceTable::new(),
        http: WasiHttpCtx::new(),
        hooks: HttpPolicy::with_outbound(plugin.name.clone(), plugin.allowed_hosts.clone(), plugin.outbound.clone(), outbound.clone()),
        services: PluginServices::new(plugin.name.clone(), plugin.config.clone(), cache.clone()),
        limiter: MemoryLimiter::new(m.limits.memory.as_u64(), charge),
        stderr,
        deadline: None,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    // Yield to the async runtime on every tick so long calls do not starve
    // others; interrupt once the call's deadline has passed.
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|ctx| match ctx.data().deadline {
        Some(deadline) if Instant::now() >= deadline => Ok(UpdateDeadline::Interrupt),
        _ => Ok(UpdateDeadline::Yield(1)),
    });
    Ok(store)
}

/// Arms `store` for a call that must end by `deadline`. The first yield comes
/// a whole tick from now: a pooled store's epoch deadline has long passed, and
/// without this every call after a tick would yield at its first instruction —
/// the worker then starts other calls meanwhile, which find the pool empty and
/// instantiate (measured: one instance made per ~190 warm calls under load).
pub(crate) fn arm(store: &mut Store<InstanceState>, deadline: std::time::Instant) {
    store.data_mut().deadline = Some(deadline);
    store.set_epoch_deadline(1);
}
