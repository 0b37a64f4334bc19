//! The compiled-artifact cache: compiled components kept in the data dir, so a
//! plugin's first call after a restart deserializes instead of compiling.
//!
//! Key: the component's sha256 + an engine fingerprint (wasmtime version and
//! every compilation setting, from `Engine::precompile_compatibility_hash`).
//! File: magic, format byte, sha256 of the artifact, then the artifact (raw or
//! zstd). A file that fails any check is deleted and recompiled, never loaded.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::component::Component;
use wasmtime::Engine;

const MAGIC: &[u8; 8] = b"HSTLART1";
const HEADER: usize = 8 + 1 + 32;

/// How artifacts are stored on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// As wasmtime serialized it: biggest, fastest to load.
    Raw = 0,
    /// zstd level 3: about a third of the size, a few ms more to load.
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
    pub fn new(dir: &Path, engine: &Engine, format: Format) -> std::io::Result<ArtifactCache> {
        std::fs::create_dir_all(dir)?;
        Ok(ArtifactCache {
            dir: dir.to_path_buf(),
            fingerprint: engine_fingerprint(engine),
            format,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            corrupt: AtomicU64::new(0),
        })
    }

    /// The file holding the artifact of a component with this sha256.
    pub fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.fingerprint))
    }

    /// The cached component, if present and intact.
    pub fn load(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.path(sha256);
        let Ok(file) = std::fs::read(&path) else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        match decode(&file).and_then(|artifact| {
            // SAFETY: the bytes are exactly what `Component::serialize` wrote for
            // this engine fingerprint (checked by sha256 above), from our own data dir.
            unsafe { Component::deserialize(engine, &artifact) }.map_err(|e| e.to_string())
        }) {
            Ok(component) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(component)
            }
            Err(why) => {
                tracing::warn!(path = %path.display(), "damaged artifact ({why}): deleting it and recompiling");
                self.corrupt.fetch_add(1, Ordering::Relaxed);
                self.misses.fetch_add(1, Ordering::Relaxed);
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores a freshly compiled component (atomically: temp file, then rename).
    pub fn store(&self, component: &Component, sha256: &str) {
        let result = (|| -> Result<(), String> {
            let artifact = component.serialize().map_err(|e| e.to_string())?;
            let bytes = encode(&artifact, self.format).map_err(|e| e.to_string())?;
            let path = self.path(sha256);
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            let mut f = std::fs::File::create(&tmp).map_err(|e| e.to_string())?;
            f.write_all(&bytes).and_then(|_| f.sync_all()).map_err(|e| e.to_string())?;
            std::fs::rename(&tmp, &path).map_err(|e| e.to_string())
        })();
        if let Err(e) = result {
            tracing::warn!("cannot store artifact for {sha256}: {e}");
        }
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

    /// Deletes every artifact; returns (entries, bytes) removed.
    pub fn clear(&self) -> (u64, u64) {
        let mut removed = (0, 0);
        for (path, len) in self.entries() {
            if std::fs::remove_file(&path).is_ok() {
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

/// Header + (compressed) artifact.
pub fn encode(artifact: &[u8], format: Format) -> std::io::Result<Vec<u8>> {
    let body = match format {
        Format::Raw => artifact.to_vec(),
        Format::Zstd => zstd::encode_all(artifact, 3)?,
    };
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(MAGIC);
    out.push(format as u8);
    out.extend_from_slice(&Sha256::digest(artifact));
    out.extend_from_slice(&body);
    Ok(out)
}

/// Checks the header and checksum; returns the artifact.
pub fn decode(file: &[u8]) -> Result<Vec<u8>, String> {
    if file.len() < HEADER || &file[..8] != MAGIC {
        return Err("bad header".into());
    }
    let body = &file[HEADER..];
    let artifact = match file[8] {
        0 => body.to_vec(),
        1 => zstd::decode_all(body).map_err(|e| format!("zstd: {e}"))?,
        other => return Err(format!("unknown format {other}")),
    };
    if Sha256::digest(&artifact)[..] != file[9..HEADER] {
        return Err("checksum mismatch".into());
    }
    Ok(artifact)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_detects_damage() {
        let artifact: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for format in [Format::Raw, Format::Zstd] {
            let mut file = encode(&artifact, format).unwrap();
            assert_eq!(decode(&file).unwrap(), artifact);
            let mid = file.len() / 2;
            file[mid] ^= 0x40;
            assert!(decode(&file).is_err(), "{format:?}");
        }
        assert!(decode(b"HSTLART1").is_err());
    }
}
