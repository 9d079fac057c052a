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
}
