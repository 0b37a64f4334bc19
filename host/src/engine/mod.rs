//! The wasmtime engine and linker shared by every plugin: epoch interruption
//! for call deadlines, and one linker holding WASI, wasi:http and the host
//! services, so each component only needs an `InstancePre` of its own.

use crate::instance::InstanceState;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Engine settings (`[engine]` in the host config).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    /// Pooling allocator: instance slots reserved up front, copy-on-write
    /// memory images, fast instantiation. Off: on-demand allocation.
    pub pooling: bool,
    /// Component instances alive at once, across all plugins (pooling only).
    pub max_instances: u32,
    /// Largest linear memory one slot can hold (pooling only; virtual reservation).
    pub max_memory: bytesize::ByteSize,
    /// Compiles that run at once; more wait in the compile queue (0: one per core).
    pub max_concurrent_compiles: usize,
    /// Where Cranelift runs: `process` (a short-lived worker process per
    /// compile: its memory is gone when it exits, a compiler crash stays
    /// there) or `in-process` (a blocking thread, memory trimmed afterwards).
    pub compile: crate::compile::Mode,
    /// Longest a first call waits in the compile queue before it is answered
    /// `compile_queue_timeout` (the compile itself goes on).
    #[serde(with = "humantime_serde")]
    pub compile_queue_timeout: std::time::Duration,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            pooling: true,
            max_instances: 1000,
            max_memory: bytesize::ByteSize::gib(4),
            max_concurrent_compiles: 0,
            compile: crate::compile::Mode::Process,
            compile_queue_timeout: std::time::Duration::from_secs(120),
        }
    }
}

impl EngineSettings {
    /// The compile concurrency in force.
    pub fn compile_slots(&self) -> usize {
        match self.max_concurrent_compiles {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            n => n,
        }
    }
}

/// The wasmtime `Config` for these settings. Compile workers build theirs
/// with `pooling = false`: the allocator is not part of what compiled code
/// depends on (the fingerprints are checked equal), and a worker reserves no
/// instance slots.
pub fn config(settings: &EngineSettings, pooling: bool) -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    config.memory_init_cow(true);
    if pooling {
        let n = settings.max_instances.max(1);
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(n)
            .total_core_instances(n * 8)
            .total_memories(n * 2)
            .total_tables(n * 4)
            .total_stacks(n)
            .max_core_instances_per_component(32)
            .max_memories_per_component(4)
            .max_tables_per_component(8)
            .max_memory_size(settings.max_memory.as_u64() as usize);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// Engine plus the thread that advances its epoch every `tick`.
pub(crate) struct Runtime {
    pub engine: Engine,
    pub linker: Linker<InstanceState>,
    stop: Arc<AtomicBool>,
}

impl Runtime {
    pub fn new(tick: Duration, settings: &EngineSettings) -> wasmtime::Result<Runtime> {
        let engine = Engine::new(&config(settings, settings.pooling))?;

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

#[cfg(test)]
mod tests {
    #[test]
    fn a_worker_engine_compiles_code_the_pooled_engine_accepts() {
        let settings = super::EngineSettings::default();
        let pooled = wasmtime::Engine::new(&super::config(&settings, true)).unwrap();
        let worker = wasmtime::Engine::new(&super::config(&settings, false)).unwrap();
        assert_eq!(crate::artifacts::engine_fingerprint(&pooled), crate::artifacts::engine_fingerprint(&worker));
        // The empty component, compiled by a worker's engine, loads in the host's.
        let empty = b"\0asm\x0d\0\x01\0";
        let artifact = wasmtime::component::Component::new(&worker, empty).unwrap().serialize().unwrap();
        // SAFETY: bytes just produced by `serialize` for a compatible engine.
        unsafe { wasmtime::component::Component::deserialize(&pooled, &artifact) }.unwrap();
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
