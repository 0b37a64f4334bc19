//! Which sha256 a component file has, without reading it every time: the
//! answer is remembered with the file's identity (length, mtime, inode), in
//! memory and in `<artifacts>/sources/`, and the file is hashed again only
//! when its identity changes. A warm first call then costs a `stat`, not a
//! read and a hash of the whole component.

use super::{write_entry_file, Identity};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(serde::Serialize, serde::Deserialize)]
struct Record {
    sha256: String,
    #[serde(flatten)]
    identity: Identity,
}

/// Component path → (identity, sha256).
pub struct SourceIndex {
    dir: Option<PathBuf>,
    known: Mutex<HashMap<PathBuf, (Identity, String)>>,
}

/// A component file's sha256.
pub struct Hashed {
    pub sha256: String,
    pub len: u64,
    /// Whether the file had to be read and hashed (its identity was new).
    pub hashed_now: bool,
}

impl SourceIndex {
    /// `dir`: where records persist across restarts (none: memory only).
    pub fn new(dir: Option<PathBuf>) -> SourceIndex {
        if let Some(d) = &dir {
            let _ = std::fs::create_dir_all(d);
        }
        SourceIndex { dir, known: Mutex::new(HashMap::new()) }
    }

    /// The sha256 of the file at `path`.
    pub fn sha256(&self, path: &Path) -> std::io::Result<Hashed> {
        let identity = Identity::of(&std::fs::metadata(path)?);
        if let Some((known, sha)) = self.known.lock().unwrap().get(path) {
            if *known == identity {
                return Ok(Hashed { sha256: sha.clone(), len: identity.len, hashed_now: false });
            }
        }
        let record = self.record_path(path);
        if let Some(rec) = record.as_ref().and_then(|r| std::fs::read(r).ok()).and_then(|t| serde_json::from_slice::<Record>(&t).ok()) {
            if rec.identity == identity {
                self.known.lock().unwrap().insert(path.to_path_buf(), (identity, rec.sha256.clone()));
                return Ok(Hashed { sha256: rec.sha256, len: identity.len, hashed_now: false });
            }
        }
        let bytes = std::fs::read(path)?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        // The identity read before the bytes: a write in between shows up as
        // a mismatch next time, never as a wrong hash trusted.
        self.known.lock().unwrap().insert(path.to_path_buf(), (identity, sha256.clone()));
        if let Some(r) = record {
            let text = serde_json::to_vec(&Record { sha256: sha256.clone(), identity }).unwrap_or_default();
            if let Err(e) = write_entry_file(&r, &text) {
                tracing::debug!(path = %r.display(), "cannot remember a component's sha256: {e}");
            }
        }
        Ok(Hashed { sha256, len: identity.len, hashed_now: true })
    }

    fn record_path(&self, path: &Path) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let key = hex::encode(&Sha256::digest(path.as_os_str().as_encoded_bytes())[..16]);
        Some(dir.join(format!("{key}.json")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_once_then_trusts_identity_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.wasm");
        std::fs::write(&file, b"one").unwrap();
        let index = SourceIndex::new(Some(dir.path().join("sources")));
        let first = index.sha256(&file).unwrap();
        assert!(first.hashed_now);
        assert_eq!(first.sha256, hex::encode(Sha256::digest(b"one")));
        assert!(!index.sha256(&file).unwrap().hashed_now, "second time from memory");
        let restarted = SourceIndex::new(Some(dir.path().join("sources")));
        assert!(!restarted.sha256(&file).unwrap().hashed_now, "after a restart from the record");
        std::thread::sleep(std::time::Duration::from_millis(5));
        std::fs::write(&file, b"two").unwrap();
        let changed = restarted.sha256(&file).unwrap();
        assert_eq!(changed.sha256, hex::encode(Sha256::digest(b"two")));
    }
}
