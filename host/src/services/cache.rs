//! The shared cache behind the `cache` import: one bounded store for the whole
//! host, keys namespaced by plugin so no plugin reads another's entries.

use quick_cache::sync::Cache;
use quick_cache::Weighter;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest single value; bigger values are not stored (and logged).
pub const MAX_VALUE: usize = 1024 * 1024;

#[derive(Clone)]
struct Entry {
    value: Arc<[u8]>,
    expires: Option<Instant>,
}

#[derive(Clone)]
struct ByBytes;
impl Weighter<(Arc<str>, String), Entry> for ByBytes {
    fn weight(&self, key: &(Arc<str>, String), val: &Entry) -> u64 {
        (key.1.len() + val.value.len() + 64) as u64
    }
}

/// Host-wide cache shared by all plugins, bounded in bytes.
#[derive(Clone)]
pub struct SharedCache {
    inner: Arc<Cache<(Arc<str>, String), Entry, ByBytes>>,
}

impl SharedCache {
    /// A cache holding at most `capacity_bytes` of keys and values.
    pub fn new(capacity_bytes: u64) -> Self {
        let items = (capacity_bytes / 1024).max(16) as usize;
        SharedCache { inner: Arc::new(Cache::with_weighter(items, capacity_bytes, ByBytes)) }
    }

    pub fn get(&self, plugin: &Arc<str>, key: &str) -> Option<Vec<u8>> {
        let k = (plugin.clone(), key.to_string());
        let entry = self.inner.get(&k)?;
        if entry.expires.is_some_and(|t| t <= Instant::now()) {
            self.inner.remove(&k);
            return None;
        }
        Some(entry.value.to_vec())
    }

    pub fn set(&self, plugin: &Arc<str>, key: String, value: Vec<u8>, ttl_ms: Option<u64>) {
        if value.len() > MAX_VALUE {
            tracing::warn!(plugin = &**plugin, key, bytes = value.len(), "cache value over {MAX_VALUE} bytes not stored");
            return;
        }
        let expires = ttl_ms.map(|ms| crate::invoke::deadline(Duration::from_millis(ms)));
        self.inner.insert((plugin.clone(), key), Entry { value: value.into(), expires });
    }

    pub fn delete(&self, plugin: &Arc<str>, key: &str) -> bool {
        self.inner.remove(&(plugin.clone(), key.to_string())).is_some()
    }

    /// Entries and bytes held.
    pub fn usage(&self) -> (usize, u64) {
        (self.inner.len(), self.inner.weight())
    }
}
