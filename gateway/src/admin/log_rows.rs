//! How a spend-log row is answered: LiteLLM's `LiteLLM_SpendLogs` field names (`/spend/logs`,
//! `/tollgate/logs`) and the one-request detail (`/tollgate/logs/{call_id}`).

use serde_json::{json, Map, Value};
use store::SpendLog;

use super::documents::iso_ms;

/// One spend log row in LiteLLM's `LiteLLM_SpendLogs` field names.
pub(super) fn row(l: SpendLog) -> Value {
    let mut metadata = match l.metadata {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if let Some(alias) = l.key_alias {
        metadata
            .entry("user_api_key_alias")
            .or_insert(Value::String(alias));
    }
    json!({
        "request_id": l.response_id.as_deref().unwrap_or(&l.request_id),
        "call_id": l.request_id,
        "call_type": l.call_type,
        "api_key": l.api_key,
        "spend": l.spend,
        "total_tokens": l.total_tokens,
        "prompt_tokens": l.prompt_tokens,
        "completion_tokens": l.completion_tokens,
        "startTime": iso_ms(l.start_time),
        "endTime": iso_ms(l.end_time),
        "completionStartTime": Value::Null,
        "model": l.model,
        "model_id": l.model_id,
        "model_group": l.model_group,
        "custom_llm_provider": l.custom_llm_provider,
        "api_base": l.api_base,
        "user": l.user.unwrap_or_default(),
        "metadata": metadata,
        "cache_hit": if l.cache_hit { "True" } else { "False" },
        "cache_key": "",
        "request_tags": l.request_tags,
        "team_id": l.team_id,
        "organization_id": l.organization_id,
        "end_user": l.end_user.unwrap_or_default(),
        "requester_ip_address": Value::Null,
        "status": l.status,
    })
}

/// A `/tollgate/logs` row: [`row`] plus `latency_ms` and `key_alias`.
pub(super) fn list_row(l: SpendLog) -> Value {
    let latency = (l.end_time - l.start_time).max(0);
    let alias = l.key_alias.clone();
    let mut v = row(l);
    v["latency_ms"] = json!(latency);
    v["key_alias"] = json!(alias);
    v
}

/// One request in detail: deployment, attempts, tokens, cost, latency, cache hit.
pub(super) fn detail(l: SpendLog) -> Value {
    let meta = l.metadata.as_object().cloned().unwrap_or_default();
    let num = |k: &str| meta.get(k).and_then(Value::as_u64).unwrap_or(0);
    let (retries, fallbacks) = (num("attempted_retries"), num("attempted_fallbacks"));
    json!({
        "call_id": l.request_id,
        "request_id": l.response_id,
        "call_type": l.call_type,
        "status": l.status,
        "status_code": meta.get("status_code").cloned().unwrap_or(Value::Null),
        "startTime": iso_ms(l.start_time),
        "endTime": iso_ms(l.end_time),
        "latency_ms": (l.end_time - l.start_time).max(0),
        "api_key": l.api_key,
        "key_alias": l.key_alias,
        "team_id": l.team_id,
        "user": l.user.unwrap_or_default(),
        "end_user": l.end_user.unwrap_or_default(),
        "organization_id": l.organization_id,
        "model_group": l.model_group,
        "model": l.model,
        "deployment": {
            "model_id": l.model_id,
            "provider": l.custom_llm_provider,
            "api_base": l.api_base,
        },
        "attempts": {"retries": retries, "fallbacks": fallbacks, "total": 1 + retries + fallbacks},
        "tokens": {
            "prompt": l.prompt_tokens,
            "completion": l.completion_tokens,
            "total": l.total_tokens,
            "cached": l.cached_tokens,
        },
        "usage_estimated": meta.get("usage_estimated").and_then(Value::as_bool).unwrap_or(false),
        "spend": l.spend,
        "cache_hit": l.cache_hit,
        "request_tags": l.request_tags,
        "metadata": Value::Object(meta.into_iter().collect::<Map<String, Value>>()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_use_litellm_names() {
        let v = row(SpendLog {
            request_id: "r".into(),
            key_alias: Some("ci".into()),
            start_time: 1_700_000_000_123,
            cache_hit: true,
            end_user: None,
            ..SpendLog::default()
        });
        assert_eq!(v["startTime"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v["cache_hit"], "True");
        assert_eq!(v["end_user"], "");
        assert_eq!(v["user"], "");
        assert_eq!(v["metadata"]["user_api_key_alias"], "ci");
    }

    #[test]
    fn the_detail_counts_every_attempt() {
        let v = detail(SpendLog {
            request_id: "c".into(),
            start_time: 1_000,
            end_time: 1_250,
            metadata: json!({"attempted_retries": 2, "attempted_fallbacks": 1, "status_code": 200}),
            ..SpendLog::default()
        });
        assert_eq!(v["attempts"]["total"], 4);
        assert_eq!(v["latency_ms"], 250);
        assert_eq!(v["status_code"], 200);
    }
}
