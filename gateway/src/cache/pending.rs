//! What a cacheable request carries in `RequestCtx`: its key, whether it was a hit, what it may
//! store, and a streamed answer being put together.

use std::sync::Arc;
use std::time::Duration;

use super::store::Cache;

/// A cacheable request's cache state, in `RequestCtx` from admission on.
pub struct Pending {
    pub(super) cache: Arc<Cache>,
    pub key: String,
    /// Served from the cache.
    pub hit: bool,
    pub(super) store: bool,
    pub(super) ttl: Option<Duration>,
    /// A streamed answer's canonical events as they went out, stored when it completes.
    pub(super) stream: Option<bytes::BytesMut>,
    /// A semantic miss: the partition, prompt text and vector, indexed with the answer.
    pub(super) semantic: Option<(String, String, Box<[f32]>)>,
    /// A semantic hit: its similarity (the `x-tollgate-cache-similarity` header).
    pub similarity: Option<f32>,
    /// An embeddings request cached item by item.
    pub items: Option<Box<super::items::Items>>,
}

impl Pending {
    /// Keeps `body` under the key and, for a semantic miss, indexes its prompt.
    pub(super) fn put(&self, body: bytes::Bytes) {
        self.cache.put(self.key.clone(), body, self.ttl);
        if let Some((partition, text, vec)) = self.semantic.clone() {
            let ttl = self.ttl.unwrap_or(if self.cache.redis.is_some() {
                self.cache.cfg.redis_ttl
            } else {
                self.cache.cfg.in_memory_ttl
            });
            let item = super::semantic::Item {
                key: self.key.clone(),
                vec,
                text: text.into(),
                expires_ms: crate::clock::now_ms_i64() + ttl.as_millis() as i64,
            };
            self.cache.put_semantic(partition, item);
        }
    }
}
