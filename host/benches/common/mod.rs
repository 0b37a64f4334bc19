//! What the benchmarks share: a plain wasmtime store and linker for the raw
//! baselines, built the way any embedder would, with Hostel's host services.
#![allow(dead_code)]

use hostel::bindings::pdf::PdfProcessorPre;
use hostel::instance::MemoryLimiter;
use hostel::services::{HttpPolicy, PluginServices, SharedCache};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Store data of a raw baseline: WASI, wasi:http, host services, optional limiter.
pub struct RawState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: HttpPolicy,
    services: PluginServices,
    pub limiter: Option<MemoryLimiter>,
}

impl WasiView for RawState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for RawState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// A store with no deadline pressure; with `limiter` installed when given.
pub fn raw_store(engine: &Engine, limiter: Option<MemoryLimiter>) -> Store<RawState> {
    let name: Arc<str> = "raw".into();
    let has_limiter = limiter.is_some();
    let mut store = Store::new(engine, RawState {
        wasi: WasiCtx::builder().build(),
        table: ResourceTable::new(),
        http: WasiHttpCtx::new(),
        hooks: HttpPolicy::new(name.clone(), Arc::new(vec![])),
        services: PluginServices::new(name, Arc::new(Default::default()), SharedCache::new(1 << 20)),
        limiter,
    });
    if has_limiter {
        store.limiter(|s| s.limiter.as_mut().unwrap());
    }
    store.set_epoch_deadline(u64::MAX / 2);
    store
}

/// Links WASI, wasi:http and the host services, and pre-instantiates a pdf-processor.
pub fn raw_pre(engine: &Engine, wasm: &Path) -> PdfProcessorPre<RawState> {
    let mut linker: Linker<RawState> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).unwrap();
    hostel::services::add_to_linker(&mut linker, |s: &mut RawState| &mut s.services).unwrap();
    let component = Component::from_file(engine, wasm).unwrap();
    PdfProcessorPre::new(linker.instantiate_pre(&component).unwrap()).unwrap()
}

/// [`raw_pre`] for a component of contract 0.2.0 (pdf-text).
pub fn raw_pre_v2(engine: &Engine, wasm: &Path) -> hostel::bindings::v0_2::pdf::PdfProcessorPre<RawState> {
    let mut linker: Linker<RawState> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).unwrap();
    hostel::services::add_to_linker(&mut linker, |s: &mut RawState| &mut s.services).unwrap();
    let component = Component::from_file(engine, wasm).unwrap();
    hostel::bindings::v0_2::pdf::PdfProcessorPre::new(linker.instantiate_pre(&component).unwrap()).unwrap()
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}
