//! The wasmtime engine and linker shared by every plugin: epoch interruption
//! for call deadlines, and one linker holding WASI, wasi:http and the host
//! services, so each component only needs an `InstancePre` of its own.

use crate::instance::InstanceState;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::Linker;
use wasmtime::{Config, Engine};

/// Engine plus the thread that advances its epoch every `tick`.
pub struct Runtime {
    pub engine: Engine,
    pub linker: Linker<InstanceState>,
    stop: Arc<AtomicBool>,
}

impl Runtime {
    pub fn new(tick: Duration) -> wasmtime::Result<Runtime> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let engine = Engine::new(&config)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        crate::services::add_to_linker(&mut linker, |state: &mut InstanceState| &mut state.services)?;

        let stop = Arc::new(AtomicBool::new(false));
        let (e, s) = (engine.clone(), stop.clone());
        std::thread::Builder::new()
            .name("hostel-epoch".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    e.increment_epoch();
                }
            })
            .map_err(|e| wasmtime::format_err!("cannot start the epoch thread: {e}"))?;
        Ok(Runtime { engine, linker, stop })
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
