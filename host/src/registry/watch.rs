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
    // A component in a registry has no file here to watch.
    let component = Manifest::parse(&manifest, manifest_path)
        .ok()
        .filter(|m| m.source.is_none())
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

/// Watches `dir` until the host is dropped: the directory itself (folders
/// added or removed) and each plugin folder in it, not recursively (a
/// plugin's build output, e.g. a cargo `target/`, is not watched).
pub(crate) struct Watcher {
    _watcher: Arc<std::sync::Mutex<notify::RecommendedWatcher>>,
}

/// Watches every plugin folder of `dir` not yet in `watched`.
fn watch_folders(watcher: &std::sync::Mutex<notify::RecommendedWatcher>, dir: &Path, watched: &mut std::collections::BTreeSet<PathBuf>) {
    use notify::Watcher as _;
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut watcher = watcher.lock().unwrap();
    for folder in entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
        if !watched.contains(&folder) {
            match watcher.watch(&folder, notify::RecursiveMode::NonRecursive) {
                Ok(()) => {
                    watched.insert(folder);
                }
                Err(e) => tracing::warn!(folder = %folder.display(), "cannot watch this plugin folder: {e}"),
            }
        }
    }
    watched.retain(|f| f.is_dir());
}

impl Watcher {
    pub(crate) fn start(host: &Host, dir: PathBuf) -> notify::Result<Watcher> {
        use notify::Watcher as _;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok_and(|e| !matches!(e.kind, notify::EventKind::Access(notify::event::AccessKind::Read | notify::event::AccessKind::Open(_) | notify::event::AccessKind::Any))) {
                let _ = tx.send(());
            }
        })?;
        watcher.watch(&dir, notify::RecursiveMode::NonRecursive)?;
        let watcher = Arc::new(std::sync::Mutex::new(watcher));
        let mut watched = std::collections::BTreeSet::new();
        watch_folders(&watcher, &dir, &mut watched);
        let weak: Weak<Inner> = Arc::downgrade(&host.inner);
        let mut known = survey(&dir);
        tracing::info!(dir = %dir.display(), "watching the plugins directory");
        let handle = watcher.clone();
        tokio::spawn(async move {
            while rx.recv().await.is_some() {
                // Let the burst of events of one save settle.
                while let Ok(Some(())) = tokio::time::timeout(SETTLE, rx.recv()).await {}
                let Some(inner) = weak.upgrade() else { break };
                let host = Host { inner };
                watch_folders(&handle, &dir, &mut watched);
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
        // Removals first, so a folder renamed (`mv a b`) frees its plugin's name for the new one.
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
                self.emit_plugin(&plugin.name, crate::observe::PluginAction::Removed, Some("its folder left the plugins directory".into()), None);
            }
        }
        for (path, print) in &now {
            if known.get(path) == Some(print) {
                continue;
            }
            match self.take_folder(path).await {
                Ok((name, replaced)) => {
                    self.inner.registry.clear_rejected(path);
                    let action = if replaced { crate::observe::PluginAction::Reloaded } else { crate::observe::PluginAction::Registered };
                    self.emit_plugin(&name, action, Some("from the plugins directory".into()), None);
                    if replaced { outcome.reloaded.push(name) } else { outcome.added.push(name) }
                    known.insert(path.clone(), print.clone());
                }
                Err((reason, retry)) => {
                    tracing::error!(path = %path.display(), "plugin change not taken: {reason}");
                    self.inner.registry.clear_rejected(path);
                    self.inner.registry.reject(path.clone(), reason.clone());
                    outcome.rejected.push((path.clone(), reason));
                    // A broken content is tried once (the next save tries
                    // again); a name taken or a busy host, at the next rescan.
                    if !retry {
                        known.insert(path.clone(), print.clone());
                    }
                }
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
    /// it replaced one; or why not, and whether a later rescan should retry.
    async fn take_folder(&self, manifest_path: &Path) -> Result<(String, bool), (String, bool)> {
        let folder = manifest_path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut manifest = Manifest::load(manifest_path).map_err(|e| (e.to_string(), false))?;
        self.inner.worlds.check(manifest.kind.as_str()).map_err(|e| (e, false))?;
        let previous = self.dir_plugin(&folder);
        if let Some(other) = self.inner.registry.get(&manifest.name) {
            if !previous.as_ref().is_some_and(|p| Arc::ptr_eq(p, &other)) {
                return Err((format!("a plugin named {:?} is already registered", manifest.name), true));
            }
        }
        let store = match &self.inner.data_dir {
            Some(d) => d.to_path_buf(),
            None => std::env::temp_dir().join(format!("hostel-{}", std::process::id())),
        };
        // A component in a registry is pulled by its first call, not now.
        let remote = manifest.source.is_some();
        let source = folder.join(&manifest.component);
        // The checked bytes are kept apart from the folder (content-addressed):
        // a later broken save cannot change the version that serves.
        let made = tokio::task::spawn_blocking(move || {
            if remote {
                return Ok::<_, String>((manifest, source));
            }
            let component = super::componentize::component_file(&source, &store.join("componentized"), &mut manifest)?;
            let kept = super::componentize::snapshot(&component, &store.join("dir-components"))?;
            Ok::<_, String>((manifest, kept))
        })
        .await;
        let (manifest, component) = match made {
            Ok(r) => r.map_err(|e| (e, false))?,
            Err(e) => return Err((format!("making its component failed: {e}"), false)),
        };
        let plugin = Arc::new(Plugin::with_component(manifest, folder, component, Source::Dir));
        // Checked the way an upload is: compiled (cached) and linked before it serves.
        let checked = if remote { Ok(()) } else { self.ensure_loaded(&plugin, true).await.map(|_| ()) };
        if let Err(e) = checked {
            let retry = matches!(e, crate::Error::OverBudget { .. } | crate::Error::CompileQueueTimeout { .. } | crate::Error::LoadTimeout { .. });
            return Err((e.to_string(), retry));
        }
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
