//! Named caches over moka: every cache in wavekeep has a name, a TTL chosen
//! for what it holds, and hit / miss / eviction counters that the admin
//! dashboard reads. Writes that change what a cache holds invalidate it
//! (see `tracks::cache`), so nobody sees stale data after their own change.

use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use serde::{Deserialize, Serialize};

/// Counters of one cache, as the admin dashboard shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheStats {
    pub name: String,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub entries: u64,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

/// A moka cache with a name and counters.
pub struct NamedCache<K, V> {
    name: &'static str,
    cache: Cache<K, V>,
    counters: Arc<Counters>,
}

impl<K, V> Clone for NamedCache<K, V> {
    fn clone(&self) -> Self {
        NamedCache {
            name: self.name,
            cache: self.cache.clone(),
            counters: self.counters.clone(),
        }
    }
}

impl<K, V> NamedCache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub fn new(name: &'static str, capacity: u64, ttl: Duration) -> Self {
        let counters = Arc::new(Counters::default());
        let on_evict = counters.clone();
        let cache = Cache::builder()
            .max_capacity(capacity)
            .time_to_live(ttl)
            .eviction_listener(move |_k, _v, cause| {
                if cause.was_evicted() {
                    on_evict.evictions.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        NamedCache {
            name,
            cache,
            counters,
        }
    }

    pub async fn get(&self, key: &K) -> Option<V> {
        let found = self.cache.get(key).await;
        let counter = if found.is_some() {
            &self.counters.hits
        } else {
            &self.counters.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    pub async fn insert(&self, key: K, value: V) {
        self.cache.insert(key, value).await;
    }

    pub async fn invalidate(&self, key: &K) {
        self.cache.invalidate(key).await;
    }

    pub fn invalidate_all(&self) {
        self.cache.invalidate_all();
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            name: self.name.to_string(),
            hits: self.counters.hits.load(Ordering::Relaxed),
            misses: self.counters.misses.load(Ordering::Relaxed),
            evictions: self.counters.evictions.load(Ordering::Relaxed),
            entries: self.cache.entry_count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_hits_misses_and_evictions() {
        let c: NamedCache<u32, u32> = NamedCache::new("test", 2, Duration::from_secs(60));
        assert_eq!(c.get(&1).await, None);
        c.insert(1, 10).await;
        assert_eq!(c.get(&1).await, Some(10));
        for k in 2..20 {
            c.insert(k, k).await;
        }
        c.cache.run_pending_tasks().await;
        let s = c.stats();
        assert_eq!((s.hits, s.misses), (1, 1));
        assert!(s.evictions > 0, "{s:?}");
        assert!(s.entries <= 2, "{s:?}");
    }
}
