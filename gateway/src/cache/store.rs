//! The response cache itself: this process's LRU in front of Redis when Redis is configured,
//! and its counters. Knows nothing of requests (the hooks in `mod.rs` do).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use conf::{CacheConfig, CacheKind};

use super::local::{self, Entry};
use super::redis::{self, REDIS_ERRORS};
use super::semantic::{Index, Item};

/// The cache of this process (`None` in `AppState` when caching is off).
pub struct Cache {
    pub cfg: CacheConfig,
    local: local::Local,
    pub redis: Option<redis::Redis>,
    /// The semantic index (`redis-semantic`, `local-semantic`).
    semantic: Option<Arc<Index>>,
}

/// Lookups that found an entry, lookups that did not, and Redis calls that failed (the
/// requests went on without the cache), for `/metrics`.
pub static HITS: AtomicU64 = AtomicU64::new(0);
pub static MISSES: AtomicU64 = AtomicU64::new(0);

/// The cache's counters in Prometheus text.
pub fn render(out: &mut String) {
    for (name, help, v) in [
        (
            "tollgate_cache_hits_total",
            "Requests answered from the response cache",
            &HITS,
        ),
        (
            "tollgate_cache_misses_total",
            "Cacheable requests not found in the response cache",
            &MISSES,
        ),
        (
            "tollgate_cache_redis_errors_total",
            "Response cache calls to Redis that failed (served without the cache)",
            &REDIS_ERRORS,
        ),
        (
            "tollgate_cache_embedding_calls_total",
            "Embedding calls the semantic cache made (not in spend logs)",
            &super::embed::CALLS,
        ),
        (
            "tollgate_cache_embedding_errors_total",
            "Semantic cache embedding calls that failed (served without the semantic cache)",
            &super::embed::ERRORS,
        ),
    ] {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
            v.load(Ordering::Relaxed)
        ));
    }
}

impl Cache {
    /// The cache `cfg` describes (`None` when off); a `redis-semantic` cache starts following
    /// the other replicas' embedded prompts on `rt`.
    pub fn new(cfg: &CacheConfig, rt: &tokio::runtime::Handle) -> Option<Arc<Cache>> {
        if !cfg.enabled {
            return None;
        }
        let redis = match &cfg.kind {
            CacheKind::Redis(Some(url)) => Some(redis::Redis::new(&url.0)),
            _ => None,
        };
        let cache = Arc::new(Cache {
            cfg: cfg.clone(),
            local: local::Local::new(cfg.max_entries, cfg.max_bytes),
            redis,
            semantic: cfg
                .semantic
                .as_ref()
                .map(|_| Arc::new(Index::new(cfg.max_entries))),
        });
        if let (Some(ix), CacheKind::Redis(Some(url))) = (&cache.semantic, &cfg.kind) {
            let _guard = rt.enter();
            let stream = super::vectors::stream_key(cfg.namespace.as_deref());
            super::vectors::follow(ix, url.0.clone(), stream);
        }
        Some(cache)
    }

    /// The semantic index, when the cache is semantic.
    pub fn semantic_index(&self) -> Option<&Index> {
        self.semantic.as_deref()
    }

    /// Adds an embedded prompt to this process's index and, with Redis, to the stream every
    /// replica follows (in the background).
    pub fn put_semantic(self: &Arc<Self>, partition: String, item: Item) {
        if self.redis.is_some() {
            let fields = super::vectors::fields(&partition, &item);
            let stream = super::vectors::stream_key(self.cfg.namespace.as_deref());
            let me = self.clone();
            tokio::spawn(async move {
                if let Some(r) = &me.redis {
                    r.xadd(stream, me.cfg.max_entries, fields).await;
                }
            });
        }
        if let Some(ix) = &self.semantic {
            ix.insert(partition, item);
        }
    }

    /// The entry under `key`: from memory, else from Redis (then kept in memory too).
    pub async fn get(&self, key: &str) -> Option<Entry> {
        let now = crate::clock::now_ms_i64();
        if let Some(e) = self.local.get(key, now) {
            return Some(e);
        }
        let r = self.redis.as_ref()?;
        let mut e = r.get(key).await?;
        e.expires_ms = now + self.cfg.in_memory_ttl.as_millis() as i64;
        self.local.put(key.to_string(), e.clone());
        Some(e)
    }

    /// Keeps `body` under `key` for `ttl` (in memory at most `default_in_memory_ttl`); the
    /// Redis write runs in the background.
    pub fn put(self: &Arc<Self>, key: String, body: Bytes, ttl: Option<Duration>) {
        let now = crate::clock::now_ms_i64();
        let mem_ttl = ttl.unwrap_or(self.cfg.in_memory_ttl);
        let entry = Entry {
            body,
            made_ms: now,
            expires_ms: now + mem_ttl.as_millis() as i64,
        };
        if self.redis.is_some() {
            let me = self.clone();
            let (k, e) = (key.clone(), entry.clone());
            let ttl = ttl.unwrap_or(self.cfg.redis_ttl);
            tokio::spawn(async move {
                if let Some(r) = &me.redis {
                    r.put(k, e, ttl).await;
                }
            });
        }
        self.local.put(key, entry);
    }

    /// Deletes `keys` here and in Redis; the number deleted (Redis's count when it has one).
    pub async fn delete(&self, keys: Vec<String>) -> Option<u64> {
        let mut n = 0;
        for k in &keys {
            n += u64::from(self.local.delete(k));
        }
        if let Some(ix) = &self.semantic {
            ix.remove(Some(&keys));
        }
        match &self.redis {
            Some(r) => r.delete(keys).await.map(|m| m.max(n)),
            None => Some(n),
        }
    }

    /// Empties this process's cache and, in Redis, every key under the namespace.
    pub async fn flush(&self) -> Option<u64> {
        self.local.clear();
        if let Some(ix) = &self.semantic {
            ix.remove(None);
        }
        match &self.redis {
            Some(r) => {
                let ns = self.cfg.namespace.as_deref();
                r.flush(ns, super::vectors::stream_key(ns)).await
            }
            None => Some(0),
        }
    }

    /// In memory: (entries, bytes).
    pub fn size(&self) -> (usize, usize) {
        self.local.size()
    }

    /// Redis calls that failed (the requests went on without the cache).
    pub fn redis_errors(&self) -> u64 {
        REDIS_ERRORS.load(Ordering::Relaxed)
    }
}
