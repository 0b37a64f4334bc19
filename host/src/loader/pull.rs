//! A plugin whose component is in an OCI registry: pulled during its first
//! load (loads are single-flight, so one pull per plugin), kept under
//! `<data>/oci` named by sha256 and shared by every plugin naming the same
//! bytes. Later loads (after an unload or eviction) use the stored file.

use super::LoadFailure;
use crate::host::Host;
use crate::plugin::Plugin;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

impl Host {
    /// The local file of `plugin`'s component, pulling it from `source` if needed.
    pub(super) async fn pull(&self, plugin: &Arc<Plugin>, source: &str) -> Result<PathBuf, LoadFailure> {
        if let Some(path) = plugin.pulled().map(|p| p.path).filter(|p| p.is_file()) {
            return self.as_component(plugin, path).await;
        }
        let reference = crate::oci::parse_reference(source).map_err(|e| LoadFailure::Failed(e.to_string()))?;
        let store = self.data_path("oci");
        let started = Instant::now();
        // The whole pull is bounded by the plugin's load_timeout (reads are bounded one by one).
        let limit = plugin.manifest.limits.load_timeout;
        let pulled = match tokio::time::timeout(limit, self.inner.oci.pull_component(&reference, &store)).await {
            Err(_) => return Err(LoadFailure::Registry(format!("pulling {source} took longer than its load_timeout of {limit:?}"))),
            Ok(Err(e)) if e.is_transient() => return Err(LoadFailure::Registry(e.to_string())),
            // The host's own disk: may succeed later, after a backoff.
            Ok(Err(e @ crate::oci::OciError::Io(_))) => return Err(LoadFailure::Transient(e.to_string())),
            Ok(Err(e)) => return Err(LoadFailure::Failed(e.to_string())),
            Ok(Ok(p)) => p,
        };
        if let Some(pin) = &plugin.manifest.sha256 {
            if !pin.eq_ignore_ascii_case(&pulled.sha256) {
                return Err(LoadFailure::Failed(format!("the pulled component's sha256 {} does not match the manifest's pin {pin}", pulled.sha256)));
            }
        }
        tracing::info!(
            plugin = &*plugin.name,
            reference = %crate::oci::display(&reference),
            digest = %pulled.manifest_digest,
            cached = pulled.cached,
            ms = started.elapsed().as_millis() as u64,
            "pulled"
        );
        let path = pulled.path.clone();
        plugin.set_pulled(pulled);
        self.as_component(plugin, path).await
    }

    /// A wasip1 core module is made a component, as in the plugins directory.
    async fn as_component(&self, plugin: &Arc<Plugin>, path: PathBuf) -> Result<PathBuf, LoadFailure> {
        let dir = self.data_path("componentized");
        let mut manifest = plugin.manifest.clone();
        manifest.sha256 = None;
        tokio::task::spawn_blocking(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                crate::registry::componentize::component_file(&path, &dir, &mut manifest)
            }))
            .unwrap_or_else(|_| Err("making a component of this core module failed (a bug: it was logged)".into()))
        })
        .await
        .map_err(|e| LoadFailure::Transient(e.to_string()))?
        .map_err(LoadFailure::Failed)
    }

    /// `<data>/<name>`, or a directory of this process under the temp dir.
    pub(crate) fn data_path(&self, name: &str) -> PathBuf {
        match &self.inner.data_dir {
            Some(d) => d.join(name),
            None => std::env::temp_dir().join(format!("hostel-{name}-{}", std::process::id())),
        }
    }
}
