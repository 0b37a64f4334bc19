//! Following an OCI catalogue: every `poll_interval` the host asks for the
//! digest its tag points at (one HEAD request) and, when it changed, reads
//! the catalogue and makes the registry agree with it — new plugins are
//! registered, changed ones swapped in the way an upload swaps (calls in
//! flight finish on the old version), dropped ones removed after their calls
//! drain. Nothing is pulled here: a plugin's first call pulls its component.
//!
//! The last catalogue applied is kept in `<data>/catalogue.json`, so a restart
//! serves the same plugins before (or without) the registry answering.

use crate::error::{Error, Result};
use crate::host::{millis, Host};
use crate::oci::{Catalogue, CatalogueConfig, Entry, OciError};
use crate::plugin::{Manifest, Plugin, Source};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Where following the catalogue stands (`GET /v1/admin/catalogue`).
#[derive(Debug, Clone, Serialize)]
pub struct Following {
    pub reference: String,
    pub poll_interval_ms: u64,
    /// The digest of the catalogue applied last.
    pub digest: Option<String>,
    /// Unix milliseconds of the last check and of the last change applied.
    pub checked_ms: Option<u64>,
    pub applied_ms: Option<u64>,
    /// Plugins it lists.
    pub plugins: Vec<String>,
    /// Why the last check failed, if it did.
    pub error: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    reference: String,
    digest: String,
    catalogue: Catalogue,
}

impl Host {
    /// Starts following the catalogue `config` names (no-op without one).
    pub async fn follow_catalogue(&self, config: &CatalogueConfig) -> Result<()> {
        let Some(text) = &config.reference else { return Ok(()) };
        let reference = crate::oci::parse_reference(text).map_err(|e| Error::InvalidRequest(format!("catalogue.reference: {e}")))?;
        let shown = crate::oci::display(&reference);
        *self.inner.following.lock().unwrap() = Some(Following {
            reference: shown.clone(),
            poll_interval_ms: config.poll_interval.as_millis() as u64,
            digest: None,
            checked_ms: None,
            applied_ms: None,
            plugins: Vec::new(),
            error: None,
        });
        let saved = self.data_path("catalogue.json");
        if let Some(s) = std::fs::read(&saved).ok().and_then(|b| serde_json::from_slice::<Saved>(&b).ok()).filter(|s| s.reference == shown) {
            tracing::info!(reference = %shown, digest = %s.digest, plugins = s.catalogue.plugins.len(), "catalogue restored from the last run");
            self.apply_catalogue(&s.catalogue, &s.digest).await;
        }
        let weak = Arc::downgrade(&self.inner);
        let interval = config.poll_interval.max(Duration::from_millis(50));
        tokio::spawn(async move {
            let mut last_error = String::new();
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let host = Host { inner };
                let outcome = host.check_catalogue(&reference, &saved).await;
                let error = outcome.as_ref().err().map(|e| e.to_string());
                if let Some(e) = &error {
                    // Once per distinct failure, not once per poll.
                    if *e != last_error {
                        tracing::warn!(reference = %shown, "catalogue check failed: {e}");
                    }
                }
                last_error = error.clone().unwrap_or_default();
                if let Some(f) = host.inner.following.lock().unwrap().as_mut() {
                    f.checked_ms = Some(millis(SystemTime::now()));
                    f.error = error;
                }
                drop(host);
                tokio::time::sleep(interval).await;
            }
        });
        Ok(())
    }

    /// Where following the catalogue stands, if the host follows one.
    pub fn catalogue(&self) -> Option<Following> {
        self.inner.following.lock().unwrap().clone()
    }

    /// One poll: HEAD the tag; on a new digest read and apply the catalogue.
    async fn check_catalogue(&self, reference: &oci_client::Reference, saved: &PathBuf) -> std::result::Result<(), OciError> {
        let current = self.catalogue().and_then(|f| f.digest);
        let digest = match self.inner.oci.head(reference).await {
            Ok(d) => d,
            Err(OciError::NotFound(_)) => return Ok(()), // nothing published yet
            Err(e) => return Err(e),
        };
        if current.as_deref() == Some(digest.as_str()) {
            return Ok(());
        }
        let Some((catalogue, digest)) = self.inner.oci.pull_catalogue(reference).await? else { return Ok(()) };
        let started = Instant::now();
        self.apply_catalogue(&catalogue, &digest).await;
        tracing::info!(reference = %crate::oci::display(reference), %digest, plugins = catalogue.plugins.len(), ms = started.elapsed().as_millis() as u64, "catalogue applied");
        let state = Saved { reference: crate::oci::display(reference), digest, catalogue };
        let text = serde_json::to_vec_pretty(&state).expect("JSON");
        let tmp = saved.with_extension("json.tmp");
        if let Err(e) = std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, saved)) {
            tracing::warn!(path = %saved.display(), "cannot keep the catalogue for the next start: {e}");
        }
        Ok(())
    }

    /// Makes the registry's catalogue plugins what `catalogue` lists.
    async fn apply_catalogue(&self, catalogue: &Catalogue, digest: &str) {
        let _one_at_a_time = self.inner.uploads.lock().await;
        let place = |name: &str| PathBuf::from(format!("catalogue entry {name:?}"));
        let mut listed = BTreeSet::new();
        for entry in &catalogue.plugins {
            listed.insert(entry.name.clone());
            self.inner.registry.clear_rejected(&place(&entry.name));
            let manifest = match self.catalogue_manifest(entry) {
                Ok(m) => m,
                Err(why) => {
                    self.inner.registry.reject(place(&entry.name), why);
                    continue;
                }
            };
            let previous = self.inner.registry.get(&manifest.name);
            if let Some(p) = &previous {
                if p.source != Source::Catalogue {
                    let why = format!("plugin {:?} is already registered from the {:?}; the catalogue's is not served", p.name, p.source);
                    self.inner.registry.reject(place(&entry.name), why);
                    continue;
                }
                if same(&p.manifest, &manifest) {
                    continue;
                }
            }
            let dir = self.data_path("plugins").join(&manifest.name);
            let version = manifest.version.clone();
            let plugin = Arc::new(Plugin::with_component(manifest, dir, PathBuf::new(), Source::Catalogue));
            let name = plugin.name.to_string();
            let old = self.inner.registry.put(plugin);
            if let Some(old) = &old {
                old.retire();
            }
            let action = if old.is_some() { crate::observe::PluginAction::Reloaded } else { crate::observe::PluginAction::Registered };
            tracing::info!(plugin = %name, %version, replaced = old.is_some(), "plugin taken from the catalogue");
            self.emit_plugin(&name, action, Some(format!("version {version} from the catalogue")), None);
        }
        for plugin in self.inner.registry.list() {
            if plugin.source == Source::Catalogue && !listed.contains(&*plugin.name) {
                self.inner.registry.remove(&plugin.name);
                plugin.retire();
                tracing::info!(plugin = &*plugin.name, "plugin left the catalogue");
                self.emit_plugin(&plugin.name, crate::observe::PluginAction::Removed, None, None);
                tokio::spawn(async move {
                    let deadline = Instant::now() + plugin.manifest.limits.call_timeout + Duration::from_secs(1);
                    while plugin.stats.busy.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    plugin.unload();
                });
            }
        }
        if let Some(f) = self.inner.following.lock().unwrap().as_mut() {
            f.digest = Some(digest.to_string());
            f.applied_ms = Some(millis(SystemTime::now()));
            f.plugins = catalogue.plugins.iter().map(|e| e.name.clone()).collect();
        }
    }

    /// The manifest an entry describes: its own, with `source` the entry's pinned reference.
    fn catalogue_manifest(&self, entry: &Entry) -> std::result::Result<Manifest, String> {
        let reference = crate::oci::parse_reference(&entry.source).map_err(|e| e.to_string())?;
        if reference.digest().is_none() {
            return Err(format!("its source {} is not pinned by digest", entry.source));
        }
        let mut table: toml::Table = toml::from_str(&entry.manifest).map_err(|e| format!("its manifest is not TOML: {e}"))?;
        table.remove("component");
        table.insert("source".into(), toml::Value::String(entry.source.clone()));
        let text = toml::to_string(&table).map_err(|e| e.to_string())?;
        let manifest = Manifest::parse_upload(&text).map_err(|e| e.to_string().replace("uploaded manifest", "catalogue manifest"))?;
        if manifest.name != entry.name {
            return Err(format!("its manifest names {:?}", manifest.name));
        }
        self.inner.worlds.check(manifest.kind.as_str())?;
        Ok(manifest)
    }
}

/// Whether two manifests describe the same plugin version.
fn same(a: &Manifest, b: &Manifest) -> bool {
    match (toml::to_string(a), toml::to_string(b)) {
        (Ok(x), Ok(y)) => a.source == b.source && x == y,
        _ => false,
    }
}
