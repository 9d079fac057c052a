//! Response caching (LiteLLM's `cache: true`): exact-match answers kept in process (`local`)
//! or in Redis (`redis`, with this process's LRU in front), looked up in stage 2 after access
//! checks and before budgets are reserved, stored in stage 5 only for complete 2xx answers. A
//! hit costs nothing and calls no provider. See docs/caching.md.

pub mod assemble;
pub mod key;
pub mod local;
pub mod redis;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use conf::{CacheConfig, CacheKind, CacheScope};
use http::HeaderValue;
use serde_json::{Map, Value};

use crate::control::enforce::Admission;
use crate::ctx::{Front, RequestCtx};
pub use local::Entry;

/// The cache of this process (`None` in `AppState` when caching is off).
pub struct Cache {
    pub cfg: CacheConfig,
    local: local::Local,
    pub redis: Option<redis::Redis>,
}

/// Lookups that found an entry, lookups that did not, and Redis calls that failed (the
/// requests went on without the cache), for `/metrics`.
pub static HITS: AtomicU64 = AtomicU64::new(0);
pub static MISSES: AtomicU64 = AtomicU64::new(0);
pub static REDIS_ERRORS: AtomicU64 = AtomicU64::new(0);

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
    ] {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
            v.load(Ordering::Relaxed)
        ));
    }
}

impl Cache {
    pub fn new(cfg: &CacheConfig) -> Option<Arc<Cache>> {
        if !cfg.enabled {
            return None;
        }
        let redis = match &cfg.kind {
            CacheKind::Redis(Some(url)) => Some(redis::Redis::new(url.expose())),
            _ => None,
        };
        Some(Arc::new(Cache {
            cfg: cfg.clone(),
            local: local::Local::new(cfg.max_entries, cfg.max_bytes),
            redis,
        }))
    }

    /// The entry under `key`: from memory, else from Redis (then kept in memory too).
    pub async fn get(&self, key: &str) -> Option<Entry> {
        let now = crate::control::now_ms();
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
        let now = crate::control::now_ms();
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
        match &self.redis {
            Some(r) => r.delete(keys).await.map(|m| m.max(n)),
            None => Some(n),
        }
    }

    /// Empties this process's cache and, in Redis, every key under the namespace.
    pub async fn flush(&self) -> Option<u64> {
        self.local.clear();
        match &self.redis {
            Some(r) => r.flush(self.cfg.namespace.as_deref().unwrap_or("")).await,
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

/// A cacheable request's cache state, in `RequestCtx` from admission on.
pub struct Pending {
    cache: Arc<Cache>,
    pub key: String,
    /// Served from the cache.
    pub hit: bool,
    store: bool,
    ttl: Option<Duration>,
    /// A streamed answer being put together, stored when it completes.
    stream: Option<Box<assemble::Assembler>>,
}

/// Stage 2: when the request's call type is cached (and the request did not opt out), its key
/// and, if there is a live entry, the entry. `body`: the request's body (the OpenAI door's
/// canonical body, its `cache` object taken out; `None` for a door's own request, read from
/// `raw`).
pub async fn lookup(
    cache: Option<&Arc<Cache>>,
    ctx: &mut RequestCtx,
    adm: &Admission,
    group: &str,
    body: Option<&mut Map<String, Value>>,
    raw: Option<&Bytes>,
    header: Option<&HeaderValue>,
) -> Option<Entry> {
    let cache = cache?;
    if !cache.cfg.call_types.contains(&ctx.call_type) {
        return None;
    }
    let mut parsed;
    let body = match (body, raw) {
        (Some(b), _) => b,
        (None, Some(raw)) => {
            parsed = serde_json::from_slice::<Map<String, Value>>(raw).ok()?;
            &mut parsed
        }
        (None, None) => return None,
    };
    let c = key::Controls::read(body, header.map(HeaderValue::as_bytes));
    if cache.cfg.default_off && !c.use_cache {
        return None;
    }
    let scope = match cache.cfg.scope {
        CacheScope::Shared => String::new(),
        CacheScope::Team => format!("team:{}", adm.team_id.as_deref().unwrap_or("")),
        CacheScope::Key => format!(
            "key:{}",
            adm.key.as_ref().map(|k| k.id.as_str()).unwrap_or("")
        ),
    };
    let ns = c.namespace.as_deref().or(cache.cfg.namespace.as_deref());
    let key = key::key(ns, ctx.call_type, &scope, group, body);
    let found = if c.no_cache {
        None
    } else {
        let now = crate::control::now_ms();
        cache.get(&key).await.filter(|e| {
            c.max_age
                .is_none_or(|age| now - e.made_ms <= age.as_millis() as i64)
        })
    };
    if found.is_some() {
        HITS.fetch_add(1, Ordering::Relaxed);
    } else {
        MISSES.fetch_add(1, Ordering::Relaxed);
    }
    ctx.cache = Some(Box::new(Pending {
        cache: cache.clone(),
        key,
        hit: found.is_some(),
        store: !c.no_store,
        ttl: c.ttl,
        stream: None,
    }));
    found
}

/// Stage 5, a whole answer: kept when it is a 2xx in the canonical API (not a mock, not a
/// passed-through Anthropic or Responses body).
pub fn keep(ctx: &RequestCtx, status: u16, body: &Bytes) {
    let Some(p) = ctx.cache.as_deref() else {
        return;
    };
    if p.hit || !p.store || status >= 300 || ctx.mocked || !canonical(&ctx.front) {
        return;
    }
    p.cache.put(p.key.clone(), body.clone(), p.ttl);
}

/// Stage 5, a stream: canonical SSE bytes on their way out; at the end (`done`, nothing
/// failed) the answer put together is kept.
pub fn collect(ctx: &mut RequestCtx, canonical_sse: &[u8], done: bool) {
    let Some(p) = ctx.cache.as_deref_mut() else {
        return;
    };
    if p.hit || !p.store || ctx.mocked || !canonical(&ctx.front) {
        return;
    }
    p.stream
        .get_or_insert_with(Default::default)
        .push(canonical_sse);
    if done {
        let usage = (ctx.prompt_tokens, ctx.completion_tokens);
        if let Some(body) = p.stream.take().and_then(|a| a.finish(usage)) {
            p.cache.put(p.key.clone(), body, p.ttl);
        }
    }
}

fn canonical(front: &Front) -> bool {
    matches!(front, Front::OpenAi | Front::Anthropic { .. })
}

/// LiteLLM's cache headers: the key on every cacheable response, and on a hit that it was one.
pub fn headers(ctx: &RequestCtx, h: &mut Vec<(&'static str, HeaderValue)>) {
    if let Some(p) = ctx.cache.as_deref() {
        if let Ok(v) = HeaderValue::from_str(&p.key) {
            h.push(("x-litellm-cache-key", v));
        }
        if p.hit {
            h.push(("x-litellm-cache-hit", HeaderValue::from_static("True")));
        }
    }
}

/// Whether the request was served from the cache.
pub fn hit(ctx: &RequestCtx) -> bool {
    ctx.cache.as_deref().is_some_and(|p| p.hit)
}
