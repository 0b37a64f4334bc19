//! Lazy loading. The first call to a plugin compiles its component and makes
//! its typed `InstancePre`; concurrent first calls wait on one compile
//! (single-flight). Compiling runs on a blocking thread under the manifest's
//! load timeout. Dependencies load first. A failure leaves the plugin `failed`
//! with the reason, and the host keeps serving every other plugin.

use crate::artifacts::ArtifactCache;
use crate::bindings::{caption::CaptionModelPre, connector::ConnectorPluginPre, pdf::PdfProcessorPre};
use crate::error::{Error, Result};
use crate::host::Host;
use crate::plugin::{Kind, Loaded, Plugin, Pre, State};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use wasmtime::component::{Component, Linker};
use wasmtime::Engine;

impl Host {
    /// The loaded component of `plugin`, compiling it if needed. A `failed`
    /// plugin is only retried when `retry` is set (an explicit load).
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
            if let Some(loaded) = ready(plugin, retry)? {
                return Ok(loaded);
            }
            let _guard = plugin.load_lock.lock().await;
            // Somebody else may have finished the load while we waited.
            if let Some(loaded) = ready(plugin, retry)? {
                return Ok(loaded);
            }
            let name = plugin.name.to_string();
            let mut chain = chain;
            if chain.contains(&name) {
                chain.push(name.clone());
                return Err(Error::PluginFailed {
                    plugin: name,
                    message: format!("dependency cycle: {}", chain.join(" -> ")),
                });
            }
            chain.push(name.clone());
            for dep in &plugin.manifest.dependencies {
                let dependency = self.inner.registry.get(dep).ok_or_else(|| {
                    let message = format!("dependency {dep:?} is not registered");
                    plugin.set_failed(message.clone());
                    Error::PluginFailed { plugin: name.clone(), message }
                })?;
                if let Err(e) = self.ensure_loaded_chain(&dependency, retry, chain.clone()).await {
                    let message = format!("dependency {dep:?} failed: {e}");
                    plugin.set_failed(message.clone());
                    return Err(Error::PluginFailed { plugin: name, message });
                }
            }
            self.compile(plugin).await
        })
    }

    async fn compile(&self, plugin: &Arc<Plugin>) -> Result<Arc<Loaded>> {
        let name = plugin.name.to_string();
        let timeout = plugin.manifest.limits.load_timeout;
        plugin.set_loading();
        plugin.stats.loads.fetch_add(1, Ordering::Relaxed);
        tracing::info!(plugin = %name, path = %plugin.component_path.display(), "loading component (first use)");
        let engine = self.inner.runtime.engine.clone();
        let linker = self.inner.runtime.linker.clone();
        let artifacts = self.inner.artifacts.clone();
        let job = {
            let plugin = plugin.clone();
            tokio::task::spawn_blocking(move || prepare(&engine, &linker, &plugin, artifacts.as_deref()))
        };
        let outcome = match tokio::time::timeout(timeout, job).await {
            Err(_) => Err(Error::LoadTimeout { plugin: name.clone(), after: timeout }),
            Ok(Err(join)) => Err(Error::PluginFailed { plugin: name.clone(), message: format!("compile task failed: {join}") }),
            Ok(Ok(Err(message))) => Err(Error::PluginFailed { plugin: name.clone(), message }),
            Ok(Ok(Ok(mut loaded))) => {
                loaded.generation = plugin.next_generation();
                let range = loaded.component.image_range();
                loaded.code_bytes = (range.end as usize - range.start as usize) as u64;
                self.inner.ledger.add_compiled(&plugin.name, loaded.code_bytes);
                loaded.charge = Some((self.inner.ledger.clone(), plugin.name.clone()));
                Ok(Arc::new(loaded))
            }
        };
        match outcome {
            Ok(loaded) => {
                tracing::info!(plugin = %name, ms = loaded.compile_time.as_millis() as u64, from_cache = loaded.from_cache, "loaded");
                plugin.set_loaded(loaded.clone());
                self.warm_up(plugin, &loaded).await;
                Ok(loaded)
            }
            Err(e) => {
                let message = match &e {
                    Error::PluginFailed { message, .. } => message.clone(),
                    other => other.to_string(),
                };
                tracing::error!(plugin = %name, "load failed: {message}");
                plugin.set_failed(message);
                Err(e)
            }
        }
    }
}

impl Host {
    /// Makes the manifest's `min_warm` instances right after a load.
    async fn warm_up(&self, plugin: &Arc<Plugin>, loaded: &Arc<Loaded>) {
        let warm = plugin.manifest.pool.min_warm.min(plugin.manifest.pool.max_idle);
        for _ in 0..warm {
            let deadline = Instant::now() + plugin.manifest.limits.call_timeout;
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

/// `Some` when loaded; an error when failed and not retrying; `None` to load.
fn ready(plugin: &Plugin, retry: bool) -> Result<Option<Arc<Loaded>>> {
    match plugin.status() {
        (State::Loaded, Some(loaded), _) => Ok(Some(loaded)),
        (State::Failed, _, Some(message)) if !retry => {
            Err(Error::PluginFailed { plugin: plugin.name.to_string(), message })
        }
        _ => Ok(None),
    }
}

/// Reads, verifies, compiles (or takes from the artifact cache) and links one
/// component (blocking).
fn prepare(
    engine: &Engine,
    linker: &Linker<crate::instance::InstanceState>,
    plugin: &Plugin,
    artifacts: Option<&ArtifactCache>,
) -> Result<Loaded, String> {
    let started = Instant::now();
    let path = &plugin.component_path;
    let bytes = std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!("component file {} not found (build the plugins with scripts/build-plugins.sh)", path.display())
        } else {
            format!("cannot read component {}: {e}", path.display())
        }
    })?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    if let Some(pin) = &plugin.manifest.sha256 {
        if !pin.eq_ignore_ascii_case(&sha256) {
            return Err(format!("component sha256 {sha256} does not match the manifest's pin {pin}"));
        }
    }
    let cached = artifacts.and_then(|a| a.load(engine, &sha256));
    let from_cache = cached.is_some();
    let component = match cached {
        Some(component) => component,
        None => {
            plugin.stats.compiles.fetch_add(1, Ordering::Relaxed);
            let component = Component::new(engine, &bytes)
                .map_err(|e| format!("{} is not a valid WebAssembly component: {}", path.display(), one_line(&e)))?;
            if let Some(a) = artifacts {
                a.store(&component, &sha256);
            }
            component
        }
    };
    let instance_pre = linker
        .instantiate_pre(&component)
        .map_err(|e| format!("cannot link the component: {}", one_line(&e)))?;
    let world = |e: wasmtime::Error| {
        format!("the component does not implement the {} world: {}", plugin.kind().as_str(), one_line(&e))
    };
    let pre = match plugin.kind() {
        Kind::Connector => Pre::Connector(ConnectorPluginPre::new(instance_pre).map_err(world)?),
        Kind::PdfProcessor => Pre::Pdf(PdfProcessorPre::new(instance_pre).map_err(world)?),
        Kind::CaptionModel => Pre::Caption(CaptionModelPre::new(instance_pre).map_err(world)?),
    };
    Ok(Loaded {
        component,
        pre,
        loaded_at: SystemTime::now(),
        compile_time: started.elapsed(),
        generation: 0,
        sha256,
        code_bytes: 0,
        charge: None,
        from_cache,
    })
}

/// An error chain on one line, outermost first.
pub(crate) fn one_line(e: &wasmtime::Error) -> String {
    let parts: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    parts.join(": ")
}
