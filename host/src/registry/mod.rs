//! The registry: every plugin the host knows, by name. Scanning a plugins
//! directory registers each `*/hostel.toml` without compiling anything; a bad
//! manifest is recorded as rejected (with its reason) and the scan goes on.

mod catalogue;
pub mod componentize;
mod upload;
mod watch;

pub use watch::Rescan;
pub(crate) use watch::Watcher;

pub use catalogue::Following;
pub use upload::{Deleted, Registered};

use crate::plugin::{Manifest, Plugin};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// A manifest the scan could not register.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    pub path: PathBuf,
    pub error: String,
}

#[derive(Default)]
pub struct Registry {
    plugins: RwLock<BTreeMap<String, Arc<Plugin>>>,
    rejected: RwLock<Vec<Rejected>>,
}

impl Registry {
    pub fn get(&self, name: &str) -> Option<Arc<Plugin>> {
        self.plugins.read().unwrap().get(name).cloned()
    }

    pub fn list(&self) -> Vec<Arc<Plugin>> {
        self.plugins.read().unwrap().values().cloned().collect()
    }

    pub fn rejected(&self) -> Vec<Rejected> {
        self.rejected.read().unwrap().clone()
    }

    /// Registers (or replaces) a plugin; returns the one it replaced.
    pub fn insert(&self, plugin: Plugin) -> Option<Arc<Plugin>> {
        self.put(Arc::new(plugin))
    }

    /// Registers (or replaces) a plugin; returns the one it replaced.
    pub fn put(&self, plugin: Arc<Plugin>) -> Option<Arc<Plugin>> {
        let name = plugin.name.to_string();
        self.plugins.write().unwrap().insert(name, plugin)
    }

    /// Takes a plugin out of the registry; returns it.
    pub fn remove(&self, name: &str) -> Option<Arc<Plugin>> {
        self.plugins.write().unwrap().remove(name)
    }

    /// Forgets what was rejected at `path` (it was fixed, or is gone).
    pub fn clear_rejected(&self, path: &Path) {
        self.rejected.write().unwrap().retain(|r| r.path != path);
    }

    /// Records a plugin that could not be registered.
    pub fn reject(&self, path: PathBuf, error: String) {
        tracing::error!(path = %path.display(), "{error}");
        self.rejected.write().unwrap().push(Rejected { path, error });
    }

    /// Registers every `<dir>/*/hostel.toml` of a kind in `worlds`; a core
    /// module is made a component now, kept under `data` (or the temp dir).
    /// Returns how many were registered.
    pub fn scan(&self, dir: &Path, worlds: &crate::world::Worlds, data: Option<&Path>) -> std::io::Result<usize> {
        let componentized = match data {
            Some(d) => d.join("componentized"),
            None => std::env::temp_dir().join(format!("hostel-componentized-{}", std::process::id())),
        };
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("hostel.toml"))
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        let mut count = 0;
        for path in entries {
            let plugin_dir = path.parent().unwrap_or(dir).to_path_buf();
            match Manifest::load(&path) {
                Ok(manifest) if self.get(&manifest.name).is_some() => {
                    let error = format!("a plugin named {:?} is already registered", manifest.name);
                    tracing::error!(path = %path.display(), "{error}");
                    self.rejected.write().unwrap().push(Rejected { path, error });
                }
                Ok(mut manifest) => {
                    let source = plugin_dir.join(&manifest.component);
                    // A panic in wit-component on a hostile module rejects this plugin only.
                    // A component in a registry is pulled by its first call, not now.
                    let component = if manifest.source.is_some() {
                        Ok(source)
                    } else {
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            componentize::component_file(&source, &componentized, &mut manifest)
                        }))
                        .unwrap_or_else(|_| Err("making a component of this core module failed (a bug: it was logged)".into()))
                    };
                    match worlds.check(manifest.kind.as_str()).and(component) {
                        Ok(component) => {
                            tracing::info!(plugin = %manifest.name, kind = manifest.kind.as_str(), "registered");
                            self.insert(Plugin::with_component(manifest, plugin_dir, component, crate::plugin::Source::Dir));
                            count += 1;
                        }
                        Err(error) => {
                            let error = format!("{}: {error}", path.display());
                            tracing::error!("{error}");
                            self.rejected.write().unwrap().push(Rejected { path, error });
                        }
                    }
                }
                Err(e) => {
                    tracing::error!("{e}");
                    self.rejected.write().unwrap().push(Rejected { path, error: e.to_string() });
                }
            }
        }
        Ok(count)
    }
}
