//! `litellm_settings.cache` / `cache_params` and `router_settings.cache_responses`: what is acted
//! on, and a loud warning for everything that is not.

use std::time::Duration;

use super::{errors, ok, ONE_MOCK};
use crate::{CacheKind, CacheScope, RedisUrl};

#[test]
fn cache_off_by_default_and_local_when_on() {
    assert!(!ok(ONE_MOCK).config.cache.enabled);
    let l = ok(&format!("{ONE_MOCK}litellm_settings:\n  cache: true\n"));
    let c = &l.config.cache;
    assert!(c.enabled);
    assert_eq!(c.kind, CacheKind::Local);
    assert_eq!(c.scope, CacheScope::Shared);
    assert_eq!(c.in_memory_ttl, Duration::from_secs(600));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn every_cache_param_is_read() {
    let l = ok(&format!(
        "{ONE_MOCK}litellm_settings:\n  cache: true\n  cache_params:\n    type: redis\n    host: r.internal\n    port: 6380\n    password: pw\n    namespace: prod\n    ttl: 60\n    default_in_memory_ttl: 5\n    mode: default_off\n    scope: team\n    max_size_in_memory: 10\n    supported_call_types: [acompletion, embedding]\n"
    ));
    let c = &l.config.cache;
    assert_eq!(
        c.kind,
        CacheKind::Redis(Some(RedisUrl("redis://:pw@r.internal:6380".into())))
    );
    assert!(
        !format!("{c:?}").contains("pw"),
        "the password is never shown"
    );
    assert_eq!(c.namespace.as_deref(), Some("prod"));
    assert_eq!(
        (c.in_memory_ttl, c.redis_ttl),
        (Duration::from_secs(5), Duration::from_secs(60))
    );
    assert!(c.default_off);
    assert_eq!(c.scope, CacheScope::Team);
    assert_eq!(c.max_entries, 10);
    assert_eq!(c.call_types, vec!["acompletion", "aembedding"]);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn router_cache_responses_uses_the_router_redis() {
    let l = ok(&format!(
        "{ONE_MOCK}router_settings:\n  cache_responses: true\n  redis_url: redis://h:1\n"
    ));
    let c = &l.config.cache;
    assert!(c.enabled);
    assert_eq!(
        c.kind,
        CacheKind::Redis(Some(RedisUrl("redis://h:1".into())))
    );
}

#[test]
fn what_is_not_acted_on_warns_loudly() {
    let l = ok(&format!(
        "{ONE_MOCK}litellm_settings:\n  cache: true\n  cache_params:\n    type: qdrant-semantic\n    similarity_threshold: 0.8\n    supported_call_types: [acompletion, atranscription]\n"
    ));
    assert!(
        !l.config.cache.enabled,
        "an unsupported cache is not a silent exact one"
    );
    let all = l.warnings.join("\n");
    assert!(
        all.contains("qdrant-semantic") && all.contains("NOT cached"),
        "{all}"
    );
    assert!(all.contains("atranscription"), "{all}");
    let l = ok(&format!(
        "{ONE_MOCK}litellm_settings:\n  cache: true\n  cache_params:\n    type: local\n    similarity_threshold: 0.8\n"
    ));
    let all = l.warnings.join("\n");
    assert!(
        all.contains("similarity_threshold: ignored: only used by a semantic cache"),
        "{all}"
    );
    let e = errors(&format!(
        "{ONE_MOCK}litellm_settings:\n  cache: true\n  cache_params:\n    type: redis\n"
    ));
    assert!(e.iter().any(|e| e.contains("redis_url")), "{e:?}");
}

#[test]
fn semantic_types_take_a_threshold_and_an_embedding_group_from_model_list() {
    let l = ok(&format!(
        "{ONE_MOCK}litellm_settings:\n  cache: true\n  cache_params:\n    type: local-semantic\n    similarity_threshold: 0.9\n    redis_semantic_cache_embedding_model: m\n"
    ));
    let c = &l.config.cache;
    assert!(c.enabled);
    assert_eq!(c.kind, CacheKind::Local);
    let s = c.semantic.as_ref().unwrap();
    assert_eq!((s.threshold, s.embedding_model.as_str()), (0.9, "m"));
    let l = ok(&format!(
        "{ONE_MOCK}litellm_settings:\n  cache: true\n  cache_params:\n    type: redis-semantic\n    redis_url: redis://h:1\n    redis_semantic_cache_embedding_model: m\n"
    ));
    let c = &l.config.cache;
    assert_eq!(
        c.kind,
        CacheKind::Redis(Some(RedisUrl("redis://h:1".into())))
    );
    assert_eq!(
        c.semantic.as_ref().unwrap().threshold,
        crate::DEFAULT_SIMILARITY
    );
    let e = errors(&format!(
        "{ONE_MOCK}litellm_settings:\n  cache: true\n  cache_params:\n    type: local-semantic\n"
    ));
    assert!(
        e.iter()
            .any(|e| e.contains("text-embedding-ada-002") && e.contains("model_list")),
        "{e:?}"
    );
    let e = errors(&format!(
        "{ONE_MOCK}litellm_settings:\n  cache: true\n  cache_params:\n    type: local-semantic\n    redis_semantic_cache_embedding_model: m\n    similarity_threshold: 2\n"
    ));
    assert!(
        e.iter().any(|e| e.contains("similarity_threshold")),
        "{e:?}"
    );
}
