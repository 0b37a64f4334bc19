//! Result memoization (opt-in per plugin): exports the manifest marks `pure`
//! are answered from a bounded cache for `ttl`, keyed by plugin, loaded
//! generation (a reload never serves old results), export and a sha256 of the
//! arguments.

use crate::error::Result;
use crate::host::Host;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::any::Any;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

type Key = (Arc<str>, u64, &'static str, [u8; 32]);

#[derive(Clone)]
struct Entry {
    value: Arc<dyn Any + Send + Sync>,
    expires: Instant,
}

/// The host-wide result cache.
pub struct ResultCache {
    cache: quick_cache::sync::Cache<Key, Entry>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Result cache counters.
#[derive(Debug, Clone, Serialize)]
pub struct ResultCacheStats {
    pub entries: usize,
    pub hits: u64,
    pub misses: u64,
}

impl ResultCache {
    pub fn new(entries: usize) -> ResultCache {
        ResultCache { cache: quick_cache::sync::Cache::new(entries), hits: AtomicU64::new(0), misses: AtomicU64::new(0) }
    }

    pub fn stats(&self) -> ResultCacheStats {
        ResultCacheStats {
            entries: self.cache.len(),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    pub fn clear(&self) {
        self.cache.clear();
    }
}

impl Host {
    /// Runs `call` unless a fresh memoized result of the same pure export with
    /// the same arguments exists.
    pub(crate) async fn memo<T, F>(&self, plugin: &str, export: &'static str, args: &[&[u8]], call: F) -> Result<T>
    where
        T: Clone + Send + Sync + 'static,
        F: Future<Output = Result<T>>,
    {
        let Some(p) = self.inner.registry.get(plugin) else { return call.await };
        let settings = &p.manifest.cache;
        let ttl = match settings.ttl {
            Some(ttl) if !ttl.is_zero() && settings.pure.iter().any(|e| e == export) => ttl,
            _ => return call.await,
        };
        let mut h = Sha256::new();
        for a in args {
            h.update((a.len() as u64).to_le_bytes());
            h.update(a);
        }
        let digest: [u8; 32] = h.finalize().into();
        let results = &self.inner.results;
        if let Some(loaded) = p.loaded() {
            let key: Key = (p.name.clone(), loaded.generation, export, digest);
            if let Some(entry) = results.cache.get(&key) {
                if entry.expires > Instant::now() {
                    if let Some(v) = entry.value.downcast_ref::<T>() {
                        results.hits.fetch_add(1, Ordering::Relaxed);
                        p.stats.calls.fetch_add(1, Ordering::Relaxed);
                        return Ok(v.clone());
                    }
                }
                results.cache.remove(&key);
            }
        }
        results.misses.fetch_add(1, Ordering::Relaxed);
        let value = call.await?;
        if let Some(loaded) = p.loaded() {
            let key: Key = (p.name.clone(), loaded.generation, export, digest);
            results.cache.insert(key, Entry { value: Arc::new(value.clone()), expires: crate::invoke::deadline(ttl) });
        }
        Ok(value)
    }
}
