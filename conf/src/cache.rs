//! Response caching settings: `litellm_settings.cache` / `cache_params` and the router-level
//! `router_settings.cache_responses` (with its `redis_url`), as LiteLLM takes them. Every key
//! that is read but not acted on is a loud warning, never silently dropped.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::diag::{boolean, count, seconds, show, string, Diag};

/// A Redis URL (it may hold a password): Debug never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(pub String);

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisUrl(***)")
    }
}

/// Where cached answers live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheKind {
    /// In this process only (`type: local`).
    Local,
    /// In Redis (`type: redis`), shared by every replica; `None`: the router's `redis_url`.
    Redis(Option<RedisUrl>),
}

/// Whose requests may share an entry (Tollgate's `cache_params.scope`; LiteLLM shares).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheScope {
    /// One entry for every key and team (LiteLLM's behaviour).
    #[default]
    Shared,
    /// Per team (keys without a team share among themselves only).
    Team,
    /// Per virtual key.
    Key,
}

/// The validated cache settings.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Caching is on (`cache: true` or `cache_responses: true`).
    pub enabled: bool,
    pub kind: CacheKind,
    /// `namespace`: prefix of every key (`namespace:hash`).
    pub namespace: Option<String>,
    /// TTL of entries kept in memory (`default_in_memory_ttl`, else `ttl`, else 600 s).
    pub in_memory_ttl: Duration,
    /// TTL of entries kept in Redis (`default_in_redis_ttl`, else `ttl`, else 600 s).
    pub redis_ttl: Duration,
    /// Call types cached, in LiteLLM's names mapped to Tollgate's: `acompletion`,
    /// `atext_completion`, `aembedding`, `anthropic_messages`.
    pub call_types: Vec<&'static str>,
    /// `mode: default_off`: only requests that say `use-cache: true` use the cache.
    pub default_off: bool,
    pub scope: CacheScope,
    /// Bounds of the in-process cache (`max_size_in_memory` entries, Tollgate's
    /// `max_bytes_in_memory`).
    pub max_entries: usize,
    pub max_bytes: usize,
    /// Semantic caching (`type: redis-semantic`, or Tollgate's in-process `local-semantic`).
    pub semantic: Option<SemanticConfig>,
}

/// The semantic cache's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticConfig {
    /// `similarity_threshold`: the least cosine similarity of a hit (default
    /// [`DEFAULT_SIMILARITY`], chosen from tests/embed/pairs.jsonl; see docs/caching.md).
    pub threshold: f32,
    /// `redis_semantic_cache_embedding_model`: a `model_name` from `model_list` (LiteLLM's
    /// default: `text-embedding-ada-002`).
    pub embedding_model: String,
}

/// The default `similarity_threshold` (all-MiniLM-L6-v2 on tests/embed/pairs.jsonl: the least
/// threshold with no non-paraphrase hit, with the lexical guards).
pub const DEFAULT_SIMILARITY: f32 = 0.96;

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: false,
            kind: CacheKind::Local,
            namespace: None,
            in_memory_ttl: Duration::from_secs(600),
            redis_ttl: Duration::from_secs(600),
            call_types: DEFAULT_CALL_TYPES.to_vec(),
            default_off: false,
            scope: CacheScope::Shared,
            max_entries: 10_000,
            max_bytes: 256 << 20,
            semantic: None,
        }
    }
}

const DEFAULT_CALL_TYPES: &[&str] = &[
    "acompletion",
    "atext_completion",
    "aembedding",
    "anthropic_messages",
];

/// `cache_params` keys LiteLLM has that Tollgate does not act on (yet): each one set is a
/// warning naming it.
const NOT_YET: &[&str] = &[
    "valkey_semantic_cache_index_name",
    "redis_startup_nodes",
    "service_name",
    "sentinel_nodes",
    "s3_bucket_name",
    "s3_region_name",
    "s3_path",
    "s3_endpoint_url",
    "s3_api_version",
    "s3_use_ssl",
    "s3_verify",
    "s3_aws_access_key_id",
    "s3_aws_secret_access_key",
    "s3_aws_session_token",
    "s3_config",
    "gcs_bucket_name",
    "gcs_path",
    "disk_cache_dir",
    "qdrant_api_base",
    "qdrant_api_key",
    "qdrant_collection_name",
    "qdrant_quantization_config",
    "qdrant_semantic_cache_embedding_model",
    "qdrant_semantic_cache_vector_size",
    "azure_account_url",
    "azure_blob_container",
    "host_semantic",
    "max_connections",
    "ssl",
    "username",
];

/// Reads `litellm_settings.cache` / `cache_params` and `router_settings.cache_responses`.
pub(crate) fn cache(
    litellm: Option<&Map<String, Value>>,
    router: Option<&Map<String, Value>>,
    d: &mut Diag,
) -> CacheConfig {
    let mut out = CacheConfig::default();
    // The router's own cache (LiteLLM's `Router(cache_responses=True, redis_url=…)`): Redis
    // when the router has one, else in memory.
    if let Some(r) = router {
        if let Some(v) = r.get("cache_responses") {
            if boolean("router_settings.cache_responses", v, d) == Some(true) {
                out.enabled = true;
                let has_redis = r.contains_key("redis_url") || r.contains_key("redis_host");
                out.kind = if has_redis {
                    CacheKind::Redis(None)
                } else {
                    CacheKind::Local
                };
            }
        }
        if r.contains_key("cache_kwargs") {
            d.warn(
                "router_settings.cache_kwargs",
                "not supported yet, ignored: put cache settings in litellm_settings.cache_params",
            );
        }
    }
    let Some(m) = litellm else { return out };
    if let Some(v) = m.get("cache") {
        if let Some(on) = boolean("litellm_settings.cache", v, d) {
            out.enabled |= on;
        }
    }
    if let Some(v) = m.get("cache_params") {
        match v {
            Value::Object(p) => params(p, &mut out, d),
            Value::Null => {}
            other => d.error(
                "litellm_settings.cache_params",
                format_args!("expected a map, got {}", show("cache_params", other)),
            ),
        }
    }
    out
}

fn params(p: &Map<String, Value>, out: &mut CacheConfig, d: &mut Diag) {
    let path = |k: &str| format!("litellm_settings.cache_params.{k}");
    let mut unsupported = false;
    let mut semantic = false;
    if let Some(v) = p.get("type") {
        match string(&path("type"), v, d).as_deref() {
            Some("local") => out.kind = CacheKind::Local,
            Some("redis") => out.kind = CacheKind::Redis(None),
            Some("redis-semantic") => {
                out.kind = CacheKind::Redis(None);
                semantic = true;
            }
            Some("local-semantic") => {
                out.kind = CacheKind::Local;
                semantic = true;
            }
            Some(t @ ("qdrant-semantic" | "valkey-semantic")) => {
                unsupported = true;
                d.warn(
                    &path("type"),
                    format_args!(
                        "`{t}` is not supported: responses are NOT cached at all; use `redis-semantic` (plain Redis, no module needed) or `local-semantic`"
                    ),
                );
            }
            Some(t @ ("s3" | "gcs" | "disk" | "azure-blob")) => {
                unsupported = true;
                d.warn(
                    &path("type"),
                    format_args!(
                        "`{t}` is not supported: responses are NOT cached at all; use `local` or `redis`"
                    ),
                );
            }
            Some(t) => d.error(
                &path("type"),
                format_args!("unknown cache type {t:?}; expected local, redis, redis-semantic or local-semantic"),
            ),
            None => {}
        }
    }
    if unsupported {
        out.enabled = false;
    }
    if semantic {
        let threshold = match p.get("similarity_threshold") {
            None => DEFAULT_SIMILARITY,
            Some(v) => match v.as_f64() {
                Some(t) if (0.0..=1.0).contains(&t) => t as f32,
                _ => {
                    d.error(
                        &path("similarity_threshold"),
                        format_args!(
                            "expected a number from 0 to 1, got {}",
                            show("similarity_threshold", v)
                        ),
                    );
                    DEFAULT_SIMILARITY
                }
            },
        };
        let embedding_model = match p.get("redis_semantic_cache_embedding_model") {
            Some(v) => {
                string(&path("redis_semantic_cache_embedding_model"), v, d).unwrap_or_default()
            }
            None => "text-embedding-ada-002".to_string(),
        };
        out.semantic = Some(SemanticConfig {
            threshold,
            embedding_model,
        });
    } else {
        for k in [
            "similarity_threshold",
            "redis_semantic_cache_embedding_model",
        ] {
            if p.contains_key(k) {
                d.warn(
                    &path(k),
                    "ignored: only used by a semantic cache (type: redis-semantic or local-semantic)",
                );
            }
        }
    }
    // Redis: `redis_url`, or `host` (+ `port`, `password`), as LiteLLM's `Cache(...)` takes them.
    if let Some(v) = p.get("redis_url").or_else(|| p.get("url")) {
        if let Some(url) = string(&path("redis_url"), v, d) {
            out.kind = redis_if(out, Some(url));
        }
    } else if let Some(v) = p.get("host") {
        if let Some(host) = string(&path("host"), v, d) {
            let port = match p.get("port") {
                Some(Value::String(s)) => s.parse::<u64>().ok(),
                Some(v) => count(&path("port"), v, d),
                None => Some(6379),
            }
            .unwrap_or(6379);
            let auth = match p.get("password") {
                Some(v) => string(&path("password"), v, d)
                    .map(|pw| format!(":{pw}@"))
                    .unwrap_or_default(),
                None => String::new(),
            };
            out.kind = redis_if(out, Some(format!("redis://{auth}{host}:{port}")));
        }
    }
    if !unsupported
        && out.kind == CacheKind::Local
        && ["redis_url", "url", "host"]
            .iter()
            .any(|k| p.contains_key(*k))
    {
        d.warn(
            &path("type"),
            "a Redis address is given but type is local (LiteLLM's default): the cache stays in this process; set type: redis to use it",
        );
    }
    if let Some(v) = p.get("namespace") {
        out.namespace = string(&path("namespace"), v, d).filter(|s| !s.is_empty());
    }
    if let Some(v) = p.get("ttl") {
        if let Some(t) = seconds(&path("ttl"), v, false, d) {
            out.in_memory_ttl = t;
            out.redis_ttl = t;
        }
    }
    if let Some(v) = p.get("default_in_memory_ttl") {
        if let Some(t) = seconds(&path("default_in_memory_ttl"), v, false, d) {
            out.in_memory_ttl = t;
        }
    }
    if let Some(v) = p.get("default_in_redis_ttl") {
        if let Some(t) = seconds(&path("default_in_redis_ttl"), v, false, d) {
            out.redis_ttl = t;
        }
    }
    if let Some(v) = p.get("mode") {
        match string(&path("mode"), v, d).as_deref() {
            Some("default_off") => out.default_off = true,
            Some("default_on") => out.default_off = false,
            Some(other) => d.error(
                &path("mode"),
                format_args!("expected default_on or default_off, got {other:?}"),
            ),
            None => {}
        }
    }
    if let Some(v) = p.get("scope") {
        match string(&path("scope"), v, d).as_deref() {
            Some("shared") | Some("global") => out.scope = CacheScope::Shared,
            Some("team") => out.scope = CacheScope::Team,
            Some("key") => out.scope = CacheScope::Key,
            Some(other) => d.error(
                &path("scope"),
                format_args!("expected shared, team or key, got {other:?}"),
            ),
            None => {}
        }
    }
    if let Some(v) = p.get("max_size_in_memory") {
        if let Some(n) = count(&path("max_size_in_memory"), v, d) {
            out.max_entries = n.max(1) as usize;
        }
    }
    if let Some(v) = p.get("max_bytes_in_memory") {
        if let Some(n) = count(&path("max_bytes_in_memory"), v, d) {
            out.max_bytes = n.max(1) as usize;
        }
    }
    if let Some(v) = p.get("supported_call_types") {
        call_types(&path("supported_call_types"), v, out, d);
    }
    for k in p.keys() {
        match k.as_str() {
            "type"
            | "redis_url"
            | "url"
            | "host"
            | "port"
            | "password"
            | "namespace"
            | "ttl"
            | "default_in_memory_ttl"
            | "default_in_redis_ttl"
            | "mode"
            | "scope"
            | "max_size_in_memory"
            | "max_bytes_in_memory"
            | "supported_call_types"
            | "similarity_threshold"
            | "redis_semantic_cache_embedding_model" => {}
            "redis_semantic_cache_index_name" => d.warn(
                &path(k),
                "ignored: Tollgate keeps the semantic index in process (synced through a Redis stream under the namespace), not in a Redis search index",
            ),
            k if NOT_YET.contains(&k) => d.warn(&path(k), "not supported yet, ignored"),
            k => d.warn(&path(k), "unknown key, ignored"),
        }
    }
}

fn redis_if(out: &CacheConfig, url: Option<String>) -> CacheKind {
    match out.kind {
        CacheKind::Local => CacheKind::Local,
        CacheKind::Redis(_) => CacheKind::Redis(url.map(RedisUrl)),
    }
}

fn call_types(path: &str, v: &Value, out: &mut CacheConfig, d: &mut Diag) {
    let Value::Array(items) = v else {
        d.error(
            path,
            format_args!("expected a list of call types, got {}", show(path, v)),
        );
        return;
    };
    let mut types = Vec::new();
    for item in items {
        let Some(name) = item.as_str() else {
            d.error(path, format_args!("expected a call type, got {item}"));
            continue;
        };
        let ours = match name {
            "completion" | "acompletion" => "acompletion",
            "text_completion" | "atext_completion" => "atext_completion",
            "embedding" | "aembedding" => "aembedding",
            "anthropic_messages" | "aanthropic_messages" => "anthropic_messages",
            "transcription" | "atranscription" | "rerank" | "arerank" | "responses"
            | "aresponses" | "speech" | "aspeech" | "image_generation" | "aimage_generation"
            | "moderation" | "amoderation" => {
                d.warn(
                    path,
                    format_args!("{name:?} is not cached by Tollgate (not supported yet), ignored"),
                );
                continue;
            }
            other => {
                d.warn(path, format_args!("unknown call type {other:?}, ignored"));
                continue;
            }
        };
        if !types.contains(&ours) {
            types.push(ours);
        }
    }
    out.call_types = types;
}
