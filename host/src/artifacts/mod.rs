//! The compiled-artifact cache: compiled components kept in the data dir, so a
//! plugin's first call after a restart maps a file instead of compiling.
//!
//! Key: the component's sha256 + an engine fingerprint (wasmtime version and
//! every compilation setting, from `Engine::precompile_compatibility_hash`).
//! `<key>.cwasm` is exactly what wasmtime serialized (raw, loaded with
//! `Component::deserialize_file`: a read-only mapping, pages shared and never
//! copied) or its zstd compression (smaller on disk, copied into memory).
//!
//! Integrity without a full hash on every load: `<key>.meta` records the
//! artifact's sha256, checked when the entry is written, and the file's
//! identity (length, mtime, inode). A file whose identity still matches is
//! trusted; any other is hashed again and, if it no longer matches, deleted
//! and recompiled — never loaded. Entries are written temp-file-then-rename,
//! meta first, so a crash leaves a whole entry or none.

mod source;

pub use source::{Hashed, SourceIndex};

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::component::Component;
use wasmtime::Engine;

/// How artifacts are stored on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// As wasmtime serialized it: mapped, not copied; fastest to load.
    Raw = 0,
    /// zstd level 3: about a third of the size, decompressed into memory.
    Zstd = 1,
}

/// Cache counters and contents.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ArtifactStats {
    pub dir: PathBuf,
    pub format: Format,
    pub fingerprint: String,
    pub entries: u64,
    pub bytes: u64,
    pub hits: u64,
    pub misses: u64,
    /// Entries found damaged (deleted, then recompiled).
    pub corrupt: u64,
}

/// What `<key>.meta` holds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Meta {
    pub format: Format,
    /// sha256 of the file's bytes as written.
    pub sha256: String,
    #[serde(flatten)]
    pub identity: Identity,
}

/// What identifies a file's contents without reading them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    pub len: u64,
    pub mtime_ns: i64,
    pub ino: u64,
}

impl Identity {
    pub fn of(meta: &std::fs::Metadata) -> Identity {
        Identity { len: meta.len(), mtime_ns: meta.mtime().saturating_mul(1_000_000_000).saturating_add(meta.mtime_nsec()), ino: meta.ino() }
    }
}

pub struct ArtifactCache {
    dir: PathBuf,
    fingerprint: String,
    format: Format,
    hits: AtomicU64,
    misses: AtomicU64,
    corrupt: AtomicU64,
}

/// Feeds `Hash` output into sha256, for a fingerprint stable across runs.
struct ShaHasher(Sha256);
impl Hasher for ShaHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        0
    }
}

/// A short, stable id of everything that makes compiled code incompatible.
pub fn engine_fingerprint(engine: &Engine) -> String {
    let mut h = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    hex::encode(&h.0.finalize()[..8])
}

impl ArtifactCache {
    /// Opens (creates) the cache; temp files of writes cut short are removed.
    pub fn new(dir: &Path, engine: &Engine, format: Format) -> std::io::Result<ArtifactCache> {
        std::fs::create_dir_all(dir)?;
        for entry in std::fs::read_dir(dir)?.flatten() {
            if entry.file_name().to_string_lossy().contains(".tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(ArtifactCache {
            dir: dir.to_path_buf(),
            fingerprint: engine_fingerprint(engine),
            format,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            corrupt: AtomicU64::new(0),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The file holding the artifact of a component with this sha256.
    pub fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.fingerprint))
    }

    /// Size of the entry on disk, if there is one (an estimate of its code).
    pub fn entry_len(&self, sha256: &str) -> Option<u64> {
        std::fs::metadata(self.path(sha256)).ok().map(|m| m.len())
    }

    /// The cached component, if present and intact.
    pub fn load(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.path(sha256);
        let meta_path = path.with_extension("meta");
        if !path.exists() {
            self.misses.fetch_add(1, Ordering::Relaxed);
            let _ = std::fs::remove_file(&meta_path);
            return None;
        }
        match self.open(engine, &path, &meta_path) {
            Ok(component) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(component)
            }
            Err(why) => {
                tracing::warn!(path = %path.display(), "damaged artifact ({why}): deleting it and recompiling");
                self.corrupt.fetch_add(1, Ordering::Relaxed);
                self.misses.fetch_add(1, Ordering::Relaxed);
                let _ = std::fs::remove_file(&path);
                let _ = std::fs::remove_file(&meta_path);
                None
            }
        }
    }

    /// The entry a compile just wrote, in this cache's format (not counted as a hit).
    pub fn open_fresh(&self, engine: &Engine, sha256: &str) -> Result<Component, String> {
        let path = self.path(sha256);
        self.open(engine, &path, &path.with_extension("meta"))
    }

    fn open(&self, engine: &Engine, path: &Path, meta_path: &Path) -> Result<Component, String> {
        let text = std::fs::read(meta_path).map_err(|_| "no record of its checksum".to_string())?;
        let mut meta: Meta = serde_json::from_slice(&text).map_err(|e| format!("unreadable record: {e}"))?;
        let identity = Identity::of(&std::fs::metadata(path).map_err(|e| e.to_string())?);
        let mut bytes = None;
        if identity != meta.identity {
            // Touched since it was checked (copied, restored, rewritten): check again.
            let file = std::fs::read(path).map_err(|e| e.to_string())?;
            if hex::encode(Sha256::digest(&file)) != meta.sha256 {
                return Err("checksum mismatch".into());
            }
            meta.identity = identity;
            let _ = write_entry_file(meta_path, &serde_json::to_vec(&meta).unwrap_or_default());
            bytes = Some(file);
        }
        // SAFETY: the file is what `Component::serialize` wrote for this
        // engine fingerprint (its checksum was verified when it was written or
        // just now), in our own data dir, and is replaced only by rename.
        let component = match meta.format {
            Format::Raw => unsafe { Component::deserialize_file(engine, path) },
            Format::Zstd => {
                let file = match bytes {
                    Some(b) => b,
                    None => std::fs::read(path).map_err(|e| e.to_string())?,
                };
                let artifact = zstd::decode_all(&file[..]).map_err(|e| format!("zstd: {e}"))?;
                unsafe { Component::deserialize(engine, &artifact) }
            }
        };
        component.map_err(|e| crate::loader::one_line(&e))
    }

    /// Stores a compiled artifact as this cache's entry for `sha256`.
    pub fn store(&self, artifact: &[u8], sha256: &str) -> std::io::Result<()> {
        write_entry(&self.path(sha256), artifact, self.format)
    }

    pub fn stats(&self) -> ArtifactStats {
        let (entries, bytes) = self.entries().iter().fold((0, 0), |(n, b), (_, len)| (n + 1, b + len));
        ArtifactStats {
            dir: self.dir.clone(),
            format: self.format,
            fingerprint: self.fingerprint.clone(),
            entries,
            bytes,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            corrupt: self.corrupt.load(Ordering::Relaxed),
        }
    }

    /// Deletes every artifact; returns (entries, bytes) removed. Components
    /// loaded from them stay mapped until they are unloaded.
    pub fn clear(&self) -> (u64, u64) {
        let mut removed = (0, 0);
        for (path, len) in self.entries() {
            if std::fs::remove_file(&path).is_ok() {
                let _ = std::fs::remove_file(path.with_extension("meta"));
                removed = (removed.0 + 1, removed.1 + len);
            }
        }
        removed
    }

    fn entries(&self) -> Vec<(PathBuf, u64)> {
        let Ok(dir) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        dir.filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
            .map(|e| (e.path(), e.metadata().map(|m| m.len()).unwrap_or(0)))
            .collect()
    }
}

/// Writes one entry at `path` (and its `.meta`): the artifact in `format`,
/// its checksum and identity. Used by the host and by compile workers.
pub fn write_entry(path: &Path, artifact: &[u8], format: Format) -> std::io::Result<()> {
    let body = match format {
        Format::Raw => std::borrow::Cow::Borrowed(artifact),
        Format::Zstd => std::borrow::Cow::Owned(zstd::encode_all(artifact, 3)?),
    };
    let tmp = temp_name(path);
    let mut f = std::fs::File::create(&tmp)?;
    let written = f.write_all(&body).and_then(|_| f.sync_all()).and_then(|_| f.metadata());
    let identity = match written {
        Ok(m) => Identity::of(&m),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let meta = Meta { format, sha256: hex::encode(Sha256::digest(&body)), identity };
    let result = write_entry_file(&path.with_extension("meta"), &serde_json::to_vec(&meta)?).and_then(|_| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `path` + a temp suffix unique to this process and call.
pub(crate) fn temp_name(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.{}.tmp", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)))
}

/// Temp file, fsync, rename.
pub(crate) fn write_entry_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temp_name(path);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_written_whole_and_damage_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.cwasm");
        let artifact: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for format in [Format::Raw, Format::Zstd] {
            write_entry(&path, &artifact, format).unwrap();
            let meta: Meta = serde_json::from_slice(&std::fs::read(path.with_extension("meta")).unwrap()).unwrap();
            assert_eq!(meta.format, format);
            assert_eq!(meta.identity, Identity::of(&std::fs::metadata(&path).unwrap()), "identity taken before the rename");
            let file = std::fs::read(&path).unwrap();
            assert_eq!(hex::encode(Sha256::digest(&file)), meta.sha256);
        }
        let names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
    }
}
