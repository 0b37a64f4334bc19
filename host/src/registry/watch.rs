//! The plugins directory, watched (`notify`): a new, changed or removed
//! `hostel.toml` or component takes effect without a restart, through the
//! same swap as an upload's hot reload (calls in flight finish on the old
//! version, new calls get the new one). A changed plugin is compiled and
//! linked before it replaces the old one, so a broken change leaves the old
//! version serving and is listed as rejected with the reason.

use crate::host::{Host, Inner};
use crate::plugin::{Manifest, Plugin, Source};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

/// Events closer together than this are one change (editors write in steps).
const SETTLE: Duration = Duration::from_millis(250);

/// What identifies one plugin folder's contents: its manifest text and its
/// component file's size and modification time.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Fingerprint {
    manifest: String,
    component: Option<(u64, SystemTime)>,
}

fn fingerprint(manifest_path: &Path) -> Option<Fingerprint> {
    let manifest = std::fs::read_to_string(manifest_path).ok()?;
    let dir = manifest_path.parent()?;
    let component = Manifest::parse(&manifest, manifest_path)
        .ok()
        .and_then(|m| std::fs::metadata(dir.join(&m.component)).ok())
        .map(|meta| (meta.len(), meta.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
    Some(Fingerprint { manifest, component })
}

/// Every `<dir>/*/hostel.toml` with its fingerprint.
fn survey(dir: &Path) -> BTreeMap<PathBuf, Fingerprint> {
    let Ok(entries) = std::fs::read_dir(dir) else { return BTreeMap::new() };
    entries
        .flatten()
        .map(|e| e.path().join("hostel.toml"))
        .filter_map(|p| fingerprint(&p).map(|f| (p, f)))
        .collect()
}

/// What one rescan did, by plugin folder.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Rescan {
    pub added: Vec<String>,
    pub reloaded: Vec<String>,
    pub removed: Vec<String>,
    /// Manifest path and why it was not taken (the old version, if any, serves on).
    pub rejected: Vec<(PathBuf, String)>,
}

/// Watches `dir` until the host is dropped.
pub(crate) struct Watcher {
    _watcher: notify::RecommendedWatcher,
}

impl Watcher {
    pub(crate) fn start(host: &Host, dir: PathBuf) -> notify::Result<Watcher> {
        use notify::Watcher as _;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok_and(|e| !matches!(e.kind, notify::EventKind::Access(_))) {
                let _ = tx.send(());
            }
        })?;
        watcher.watch(&dir, notify::RecursiveMode::Recursive)?;
        let weak: Weak<Inner> = Arc::downgrade(&host.inner);
        let mut known = survey(&dir);
        tracing::info!(dir = %dir.display(), "watching the plugins directory");
        tokio::spawn(async move {
            while rx.recv().await.is_some() {
                // Let the burst of events of one save settle.
                while let Ok(Some(())) = tokio::time::timeout(SETTLE, rx.recv()).await {}
                let Some(inner) = weak.upgrade() else { break };
                let host = Host { inner };
                let outcome = host.rescan_dir(&dir, &mut known).await;
                if !(outcome.added.is_empty() && outcome.reloaded.is_empty() && outcome.removed.is_empty() && outcome.rejected.is_empty()) {
                    tracing::info!(added = ?outcome.added, reloaded = ?outcome.reloaded, removed = ?outcome.removed, rejected = outcome.rejected.len(), "plugins directory changed");
                }
            }
        });
        Ok(Watcher { _watcher: watcher })
    }
}

impl Host {
    /// Applies what changed in the plugins directory since `known` (which
    /// it updates). Uploads and deletes wait meanwhile.
    async fn rescan_dir(&self, dir: &Path, known: &mut BTreeMap<PathBuf, Fingerprint>) -> Rescan {
        let _one_at_a_time = self.inner.uploads.lock().await;
        let now = survey(dir);
        let mut outcome = Rescan::default();
        for (path, print) in &now {
            if known.get(path) == Some(print) {
                continue;
            }
            match self.take_folder(path).await {
                Ok((name, replaced)) => {
                    self.inner.registry.clear_rejected(path);
                    if replaced { outcome.reloaded.push(name) } else { outcome.added.push(name) }
                    known.insert(path.clone(), print.clone());
                }
                Err(reason) => {
                    tracing::error!(path = %path.display(), "plugin change not taken: {reason}");
                    self.inner.registry.clear_rejected(path);
                    self.inner.registry.reject(path.clone(), reason.clone());
                    outcome.rejected.push((path.clone(), reason));
                    // Tried once per content: the next save tries again.
                    known.insert(path.clone(), print.clone());
                }
            }
        }
        let gone: Vec<PathBuf> = known.keys().filter(|p| !now.contains_key(*p)).cloned().collect();
        for path in gone {
            known.remove(&path);
            self.inner.registry.clear_rejected(&path);
            let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
            if let Some(plugin) = self.dir_plugin(&folder) {
                self.inner.registry.remove(&plugin.name);
                plugin.retire();
                plugin.unload();
                tracing::info!(plugin = &*plugin.name, "plugin removed from the plugins directory");
                outcome.removed.push(plugin.name.to_string());
            }
        }
        outcome
    }

    /// The plugins-dir plugin registered from `folder`.
    fn dir_plugin(&self, folder: &Path) -> Option<Arc<Plugin>> {
        self.inner.registry.list().into_iter().find(|p| p.source == Source::Dir && p.dir == folder)
    }

    /// Registers the plugin in the folder of `manifest_path`, replacing the
    /// one it held, once it compiles and links. Returns its name and whether
    /// it replaced one.
    async fn take_folder(&self, manifest_path: &Path) -> Result<(String, bool), String> {
        let folder = manifest_path.parent().map(Path::to_path_buf).unwrap_or_default();
        let manifest = Manifest::load(manifest_path).map_err(|e| e.to_string())?;
        self.inner.worlds.check(manifest.kind.as_str())?;
        let previous = self.dir_plugin(&folder);
        if let Some(other) = self.inner.registry.get(&manifest.name) {
            if !previous.as_ref().is_some_and(|p| Arc::ptr_eq(p, &other)) {
                return Err(format!("a plugin named {:?} is already registered", manifest.name));
            }
        }
        let componentized = match &self.inner.data_dir {
            Some(d) => d.join("componentized"),
            None => std::env::temp_dir().join(format!("hostel-componentized-{}", std::process::id())),
        };
        let source = folder.join(&manifest.component);
        let component = tokio::task::spawn_blocking(move || super::componentize::component_file(&source, &componentized))
            .await
            .map_err(|e| e.to_string())??;
        let plugin = Arc::new(Plugin::with_component(manifest, folder, component, Source::Dir));
        // Checked the way an upload is: compiled (cached) and linked before it serves.
        self.ensure_loaded(&plugin, true).await.map_err(|e| e.to_string())?;
        if !previous.as_ref().is_some_and(|p| p.loaded().is_some()) {
            plugin.unload(); // stays lazy, its artifact cached
        }
        let name = plugin.name.to_string();
        let renamed = previous.as_ref().filter(|p| *p.name != *name);
        if let Some(old) = renamed {
            self.inner.registry.remove(&old.name);
        }
        let old = self.inner.registry.put(plugin);
        for old in old.iter().chain(renamed) {
            old.retire();
        }
        tracing::info!(plugin = %name, replaced = previous.is_some(), "plugin taken from the plugins directory");
        Ok((name, previous.is_some()))
    }
}
