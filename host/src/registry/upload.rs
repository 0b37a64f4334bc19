//! Uploads: a manifest and a component sent over the API become a plugin.
//! The component is stored content-addressed in `<data>/components`, checked
//! by compiling and linking it (a broken upload is refused, never
//! registered), recorded in SQLite (acknowledged only once committed), then
//! swapped into the registry: new calls go to the new version while calls in
//! flight finish on the old one, whose instances are then dropped.

use crate::db::{Db, PluginRow};
use crate::error::{Error, Result};
use crate::host::{info, millis, Host, PluginInfo};
use crate::plugin::{Manifest, Plugin, Source};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// What an upload did.
#[derive(Debug, Clone, Serialize)]
pub struct Registered {
    pub plugin: PluginInfo,
    /// The version it replaced, if the name was taken by an earlier upload.
    pub replaced: Option<String>,
}

/// What a delete did.
#[derive(Debug, Clone, Serialize)]
pub struct Deleted {
    pub name: String,
    /// Whether every call in flight finished before the plugin was unloaded.
    pub drained: bool,
}

impl Host {
    /// Registers an uploaded plugin, or a new version of an uploaded one.
    /// `sha256`, when given, must match the component's bytes.
    pub async fn register(&self, manifest_text: &str, component: Vec<u8>, sha256: Option<&str>) -> Result<Registered> {
        let (db, data) = self.upload_store()?;
        let _one_at_a_time = self.inner.uploads.lock().await;
        let mut manifest = Manifest::parse_upload(manifest_text).map_err(|e| Error::InvalidManifest(e.to_string()))?;
        let name = manifest.name.clone();
        self.world(&manifest.kind)?;
        // Uploads that could never run are refused now, with what they need.
        let budget = self.inner.ledger.budget();
        let estimate = manifest.limits.memory_estimate.as_u64();
        if estimate > budget {
            return Err(Error::InvalidManifest(format!(
                "limits.memory_estimate: {} is above the host's memory budget of {}",
                crate::error::size(estimate),
                crate::error::size(budget)
            )));
        }
        if manifest.source.is_some() {
            if !component.is_empty() || sha256.is_some() {
                return Err(Error::InvalidManifest(
                    "the manifest names an oci:// `source`: send no component with it, and pin its bytes with `sha256` in the manifest".into(),
                ));
            }
            return self.register_remote(manifest, manifest_text, db, data).await;
        }
        let sent = hex::encode(Sha256::digest(&component));
        for expected in [sha256, manifest.sha256.as_deref()].into_iter().flatten() {
            if !expected.eq_ignore_ascii_case(&sent) {
                return Err(Error::Sha256Mismatch { expected: expected.to_string(), actual: sent });
            }
        }
        // A wasip1 core module is made a component now; that is what is kept.
        let component = if super::componentize::is_core_module(&component) {
            let started = Instant::now();
            let made = tokio::task::spawn_blocking(move || super::componentize::componentize(&component))
                .await
                .map_err(|e| Error::Internal(e.to_string()))?
                .map_err(|message| Error::InvalidComponent { plugin: name.clone(), message })?;
            tracing::info!(plugin = %name, module_sha256 = %sent, ms = started.elapsed().as_millis() as u64, "core module made a component");
            made
        } else {
            component
        };
        let actual = hex::encode(Sha256::digest(&component));
        let initial = crate::compile::initial_memory(&component)
            .map_err(|message| Error::InvalidComponent { plugin: name.clone(), message })?;
        let limit = manifest.limits.memory.as_u64();
        if initial > limit {
            return Err(Error::InvalidComponent {
                plugin: name,
                message: format!(
                    "its memories start at {} together, above its limits.memory of {}; raise limits.memory to at least {}",
                    crate::error::size(initial),
                    crate::error::size(limit),
                    crate::error::size(initial)
                ),
            });
        }
        let previous = self.inner.registry.get(&name);
        if previous.as_ref().is_some_and(|p| p.source != Source::Upload) {
            return Err(Error::Conflict(format!(
                "plugin {name:?} comes from the plugins directory or the catalogue; pick another name or remove it there"
            )));
        }
        let relative = component_file(&actual);
        let path = data.join(&relative);
        let write = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || write_atomically(&path, &component))
        };
        write.await.map_err(|e| Error::Internal(e.to_string()))?.map_err(|e| {
            Error::Internal(format!("cannot store the component in {}: {e}", path.display()))
        })?;
        // The pin makes a later load refuse a component file changed on disk.
        manifest.sha256 = Some(actual.clone());
        let plugin = Arc::new(uploaded(manifest.clone(), data, &relative));
        if let Err(e) = self.ensure_loaded(&plugin, true).await {
            self.forget_component(db, data, &actual);
            return Err(match e {
                Error::PluginFailed { message, .. } => Error::InvalidComponent { plugin: name, message },
                // Not the component's fault (memory, queue, time): the caller may retry.
                other => other,
            });
        }
        let row = row(&manifest, manifest_text, &actual, &relative.to_string_lossy());
        self.commit_registry(move |db| db.save_plugin(row)).await?;
        // A fresh upload stays lazy (its artifact is cached, so the first call
        // is quick); a new version of a loaded plugin swaps in loaded.
        if !previous.as_ref().is_some_and(|p| p.loaded().is_some()) {
            plugin.unload();
        }
        let old = self.inner.registry.put(plugin.clone());
        if let Some(old) = &old {
            old.retire();
            if old.manifest.sha256.as_deref() != Some(actual.as_str()) {
                self.forget_component(db, data, old.manifest.sha256.as_deref().unwrap_or_default());
            }
        }
        tracing::info!(plugin = %name, version = %manifest.version, sha256 = %actual, replaced = old.is_some(), "plugin uploaded");
        let action = if old.is_some() { crate::observe::PluginAction::Reloaded } else { crate::observe::PluginAction::Registered };
        self.emit_plugin(&name, action, Some(format!("version {}", manifest.version)), None);
        Ok(Registered { plugin: info(&plugin), replaced: old.map(|o| o.manifest.version.clone()) })
    }

    /// Registers an uploaded manifest whose component is in an OCI registry:
    /// recorded now, pulled by its first call (so nothing is checked but the manifest).
    async fn register_remote(&self, manifest: Manifest, manifest_text: &str, db: &Db, data: &Path) -> Result<Registered> {
        let name = manifest.name.clone();
        let previous = self.inner.registry.get(&name);
        if previous.as_ref().is_some_and(|p| p.source != Source::Upload) {
            return Err(Error::Conflict(format!(
                "plugin {name:?} comes from the plugins directory or the catalogue; pick another name"
            )));
        }
        // No component of its own: no sha256 and no path until a pull.
        let row = row(&manifest, manifest_text, "", "");
        self.commit_registry(move |db| db.save_plugin(row)).await?;
        let plugin = Arc::new(uploaded(manifest.clone(), data, Path::new("")));
        let old = self.inner.registry.put(plugin.clone());
        if let Some(old) = &old {
            old.retire();
            self.forget_component(db, data, old.manifest.sha256.as_deref().unwrap_or_default());
        }
        tracing::info!(plugin = %name, version = %manifest.version, source = manifest.source.as_deref().unwrap_or_default(), "plugin registered (pulled on first use)");
        let action = if old.is_some() { crate::observe::PluginAction::Reloaded } else { crate::observe::PluginAction::Registered };
        self.emit_plugin(&name, action, Some(format!("version {}", manifest.version)), None);
        Ok(Registered { plugin: info(&plugin), replaced: old.map(|o| o.manifest.version.clone()) })
    }

    /// Removes an uploaded plugin: new calls get `unknown_plugin` at once,
    /// calls in flight may finish (up to the call timeout), then it is unloaded
    /// and its component file deleted if nothing else uses it.
    pub async fn delete(&self, name: &str) -> Result<Deleted> {
        let _one_at_a_time = self.inner.uploads.lock().await;
        let plugin = self.plugin(name)?;
        match plugin.source {
            Source::Dir => {
                return Err(Error::Conflict(format!(
                    "plugin {name:?} comes from the plugins directory; remove its folder there (or unload it)"
                )))
            }
            Source::Catalogue => {
                return Err(Error::Conflict(format!("plugin {name:?} comes from the catalogue; remove it there")));
            }
            Source::Upload => {}
        }
        self.upload_store()?;
        let owned = name.to_string();
        self.commit_registry(move |db| db.delete_plugin(&owned)).await?;
        self.inner.registry.remove(name);
        plugin.retire();
        // The rest runs on its own task, so a client that hangs up does not
        // leave the plugin loaded or its file behind.
        let host = self.clone();
        let tail = tokio::spawn(async move {
            let deadline = crate::invoke::deadline(plugin.manifest.limits.call_timeout.saturating_add(Duration::from_secs(1)));
            while plugin.stats.busy.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let drained = plugin.stats.busy.load(Ordering::SeqCst) == 0;
            plugin.unload();
            if let Ok((db, data)) = host.upload_store() {
                host.forget_component(db, data, plugin.manifest.sha256.as_deref().unwrap_or_default());
            }
            drained
        });
        let drained = tail.await.unwrap_or(false);
        tracing::info!(plugin = name, drained, "plugin deleted");
        self.emit_plugin(name, crate::observe::PluginAction::Removed, None, None);
        Ok(Deleted { name: name.to_string(), drained })
    }

    /// Registers the uploads recorded in SQLite (at start, after the scan).
    pub(crate) fn restore_uploads(&self) {
        let Ok((db, data)) = self.upload_store() else { return };
        let rows = match db.plugins() {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!("cannot read uploaded plugins: {e}");
                return;
            }
        };
        // A new schema with components already on disk: the rows that named
        // them were lost (a damaged or truncated file, a recovery cut short).
        // They are all that is left of those uploads, so they are moved aside
        // for the operator (beside the damaged file, if any), never swept.
        let components = data.join("components");
        let stored = std::fs::read_dir(&components).map(|mut d| d.next().is_some()).unwrap_or(false);
        if db.is_fresh() && rows.is_empty() && stored {
            let kept = match db.recovery() {
                Some(r) => PathBuf::from(format!("{}.components", r.damaged.display())),
                None => data.join(format!("components.lost-{}", millis(SystemTime::now()))),
            };
            if let Err(e) = std::fs::rename(&components, &kept) {
                tracing::error!("cannot move the components of lost uploads to {}: {e}; left in place, not swept", kept.display());
                return;
            }
            tracing::warn!(dir = %kept.display(), "uploaded plugins' rows were lost; their components are kept here for re-upload");
        }
        // Components no row refers to (an upload cut off before its commit) go.
        if let Ok(files) = std::fs::read_dir(data.join("components")) {
            for file in files.flatten() {
                let path = file.path();
                let used = rows.iter().any(|r| data.join(&r.component_path) == path);
                if !used {
                    tracing::info!(path = %path.display(), "removing a component no plugin uses");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        for row in rows {
            let source = data.join(&row.component_path);
            // Its component is in an OCI registry: pulled by its first call.
            if row.component_path.is_empty() {
                match Manifest::parse_upload(&row.manifest) {
                    Ok(m) if m.source.is_some() && self.inner.registry.get(&row.name).is_none() => {
                        self.inner.registry.put(Arc::new(uploaded(m, data, Path::new(""))));
                    }
                    Ok(_) => self.inner.registry.reject(source, format!("uploaded plugin {:?} is shadowed or has no component", row.name)),
                    Err(e) => self.inner.registry.reject(source, e.to_string()),
                }
                continue;
            }
            if row.component_path != component_file(&row.sha256) || !source.is_file() {
                let reason = format!("uploaded plugin {:?}: its component {} is missing; upload it again", row.name, row.component_path);
                self.inner.registry.reject(source, reason);
                continue;
            }
            match Manifest::parse_upload(&row.manifest) {
                Ok(_) if self.inner.registry.get(&row.name).is_some() => self.inner.registry.reject(
                    source,
                    format!("uploaded plugin {:?} is shadowed by a plugins-dir plugin of the same name", row.name),
                ),
                Ok(manifest) if self.inner.worlds.check(manifest.kind.as_str()).is_err() => {
                    let why = self.inner.worlds.check(manifest.kind.as_str()).unwrap_err();
                    self.inner.registry.reject(source, format!("uploaded plugin {:?}: {why}", row.name))
                }
                Ok(mut manifest) => {
                    manifest.sha256 = Some(row.sha256.clone());
                    self.inner.registry.put(Arc::new(uploaded(manifest, data, Path::new(&row.component_path))));
                }
                Err(e) => self.inner.registry.reject(source, e.to_string()),
            }
        }
    }

    /// Waits for a registry write's commit on a blocking thread, not an async worker.
    async fn commit_registry(&self, write: impl FnOnce(&Db) -> std::result::Result<(), crate::db::DbError> + Send + 'static) -> Result<()> {
        let host = self.clone();
        let done = tokio::task::spawn_blocking(move || {
            let (db, _) = host.upload_store()?;
            write(db).map_err(|e| Error::Internal(e.to_string()))
        });
        done.await.map_err(|e| Error::Internal(format!("registry write task failed: {e}")))?
    }

    fn upload_store(&self) -> Result<(&Db, &Path)> {
        match (&self.inner.db, &self.inner.data_dir) {
            (Some(db), Some(dir)) => Ok((db, dir)),
            _ => Err(Error::InvalidRequest("uploads need a host with a data dir".into())),
        }
    }

    /// Deletes a stored component unless an uploaded plugin still uses it.
    fn forget_component(&self, db: &Db, data: &Path, sha256: &str) {
        if sha256.is_empty() || db.component_in_use(sha256).unwrap_or(true) {
            return;
        }
        let path = data.join(component_file(sha256));
        if let Err(e) = std::fs::remove_file(&path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %path.display(), "cannot delete unused component: {e}");
            }
        }
    }
}

/// The SQLite row of an upload, made now.
fn row(manifest: &Manifest, text: &str, sha256: &str, component_path: &str) -> PluginRow {
    let now = millis(SystemTime::now());
    PluginRow {
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        kind: manifest.kind.as_str().to_string(),
        manifest: text.to_string(),
        sha256: sha256.to_string(),
        component_path: component_path.to_string(),
        created_ms: now,
        updated_ms: now,
    }
}

fn component_file(sha256: &str) -> PathBuf {
    Path::new("components").join(format!("{sha256}.wasm"))
}

/// An uploaded plugin: its component in the content-addressed store, and a
/// directory of its own under the data dir that relative grants resolve in.
fn uploaded(manifest: Manifest, data: &Path, component: &Path) -> Plugin {
    let dir = data.join("plugins").join(&manifest.name);
    Plugin::with_component(manifest, dir, data.join(component), Source::Upload)
}

/// Writes `bytes` to `path` so that a crash leaves either no file or the whole file.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("component paths have a parent");
    std::fs::create_dir_all(dir)?;
    if std::fs::metadata(path).is_ok_and(|m| m.len() == bytes.len() as u64) {
        return Ok(()); // content-addressed: same name, same bytes
    }
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let tmp = dir.join(format!(".upload.{}.{}.tmp", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}
