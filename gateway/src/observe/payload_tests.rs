//! The direct serializer against the `Value` tree it replaced: the same bytes.

use serde_json::{json, Map, Value};

use super::super::capture::capture_from;
use super::super::event::{error_class, Event};
use super::StandardPayload;

fn opt(v: Option<String>) -> Value {
    v.map(Value::String).unwrap_or(Value::Null)
}

/// The payload as it was built before (a `Value` tree, sorted keys): the reference.
fn reference(e: &Event) -> Value {
    let l = &e.log;
    let response = match e.response_text() {
        Some(t) => {
            json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": t}}]})
        }
        None if !e.ok => Value::Null,
        None => json!({}),
    };
    let mut metadata = Map::new();
    metadata.insert(
        "user_api_key_hash".into(),
        opt(Some(&l.api_key).filter(|k| !k.is_empty()).cloned()),
    );
    metadata.insert("user_api_key_alias".into(), opt(e.key_alias.clone()));
    metadata.insert("user_api_key_team_id".into(), opt(l.team_id.clone()));
    metadata.insert("user_api_key_team_alias".into(), opt(e.team_alias.clone()));
    metadata.insert("user_api_key_user_id".into(), opt(l.user.clone()));
    metadata.insert("user_api_key_org_id".into(), opt(l.organization_id.clone()));
    metadata.insert("user_api_key_end_user_id".into(), opt(l.end_user.clone()));
    metadata.insert("spend_logs_metadata".into(), Value::Null);
    metadata.insert("requester_ip_address".into(), Value::Null);
    metadata.insert(
        "requester_metadata".into(),
        json!({
            "generation_name": e.capture.generation_name,
            "trace_id": e.capture.langfuse_trace_id,
            "session_id": e.capture.session_id,
        }),
    );
    let error_information = if e.ok {
        Value::Null
    } else {
        json!({
            "error_code": e.upstream_status.unwrap_or(e.status).to_string(),
            "error_class": error_class(e.status),
            "llm_provider": l.custom_llm_provider,
            "error_message": e.error.clone().unwrap_or_default(),
        })
    };
    let completion_start = e
        .capture
        .first_byte_ms
        .map(Event::secs)
        .unwrap_or(Event::secs(l.end_time));
    let mut payload = json!({
        "id": l.request_id,
        "trace_id": e.trace_id_hex(),
        "call_type": l.call_type,
        "stream": e.stream,
        "response_cost": l.spend,
        "status": if e.ok { "success" } else { "failure" },
        "status_fields": {
            "llm_api_status": if e.ok { "success" } else { "failure" },
        },
        "total_tokens": l.total_tokens,
        "prompt_tokens": l.prompt_tokens,
        "completion_tokens": l.completion_tokens,
        "startTime": Event::secs(l.start_time),
        "endTime": Event::secs(l.end_time),
        "completionStartTime": completion_start,
        "response_time": (l.end_time - l.start_time) as f64 / 1000.0,
        "model_map_information": {"model_map_key": l.model, "model_map_value": null},
        "model": l.model,
        "model_id": opt(Some(l.model_id.clone()).filter(|s| !s.is_empty())),
        "model_group": l.model_group,
        "custom_llm_provider": l.custom_llm_provider,
        "api_base": crate::logging::redact::text(&l.api_base),
        "metadata": metadata,
        "cache_hit": l.cache_hit,
        "cache_key": null,
        "saved_cache_cost": 0.0,
        "request_tags": l.request_tags,
        "end_user": l.end_user.clone().unwrap_or_default(),
        "requester_ip_address": null,
        "messages": e.messages(),
        "response": response,
        "error_str": e.error.clone().filter(|_| !e.ok),
        "error_information": error_information,
        "model_parameters": e.params(),
        "hidden_params": {
            "model_id": l.model_id,
            "cache_key": null,
            "api_base": crate::logging::redact::text(&l.api_base),
            "response_cost": l.spend,
            "litellm_call_id": l.request_id,
            "response_id": l.response_id,
            "attempted_retries": l.metadata.get("attempted_retries"),
            "attempted_fallbacks": l.metadata.get("attempted_fallbacks"),
        },
    });
    // Which guardrails ran and what they did (LiteLLM's `guardrail_information`).
    payload["guardrail_information"] = l
        .metadata
        .get("guardrail_information")
        .cloned()
        .unwrap_or(Value::Null);
    payload
}

fn event(ok: bool, text: bool) -> Event {
    let mut body = Map::new();
    body.insert(
        "metadata".into(),
        json!({"generation_name": "gen \"1\"", "trace_id": "t-1", "session_id": "s-1"}),
    );
    body.insert("temperature".into(), json!(0.5));
    body.insert("max_tokens".into(), json!(16));
    let mut capture = capture_from(None, &body, text);
    capture.messages = Some(json!([{"role": "user", "content": "Say hello. é \u{1F600}"}]));
    capture.response = Some("Hello \"there\"\n".into());
    capture.first_byte_ms = ok.then_some(1_700_000_000_123);
    let log = store::SpendLog {
        request_id: "chatcmpl-call-1".into(),
        call_type: "acompletion".into(),
        api_key: if ok { "ab12".into() } else { String::new() },
        key_alias: Some("alias".into()),
        spend: 0.000_123_4,
        prompt_tokens: 12,
        completion_tokens: 3,
        total_tokens: 15,
        cached_tokens: 0,
        start_time: 1_700_000_000_000,
        end_time: 1_700_000_000_456,
        model: "gpt-4o".into(),
        model_group: "bench-model".into(),
        model_id: if ok { "dep-1".into() } else { String::new() },
        custom_llm_provider: "provider-x".into(),
        api_base: "http://127.0.0.1:9/v1?key=sk-secret-value-123456".into(),
        user: Some("u1".into()),
        team_id: ok.then(|| "team-1".into()),
        organization_id: None,
        end_user: ok.then(|| "eu".into()),
        status: if ok { "success" } else { "failure" }.into(),
        cache_hit: !ok,
        request_tags: vec!["a".into(), "b".into()],
        metadata: if ok {
            json!({"status_code": 200, "attempted_retries": 1, "attempted_fallbacks": 0,
                   "guardrail_information": [{"guardrail_name": "g", "status": "success"}]})
        } else {
            Value::Null
        },
        response_id: ok.then(|| "chatcmpl-x".into()),
    };
    Event {
        key_alias: log.key_alias.clone(),
        log: std::sync::Arc::new(log),
        ok,
        stream: ok,
        status: if ok { 200 } else { 429 },
        upstream_status: (!ok).then_some(503),
        error: (!ok).then(|| "rate limited \"x\"".into()),
        team_alias: ok.then(|| "team alias".into()),
        text,
        capture,
        only: None,
        size: 0,
    }
}

#[test]
fn direct_serialization_is_byte_identical_to_the_value_tree() {
    for ok in [true, false] {
        for text in [true, false] {
            let e = event(ok, text);
            let direct = serde_json::to_string(&StandardPayload(&e)).unwrap();
            let tree = serde_json::to_string(&reference(&e)).unwrap();
            assert_eq!(direct, tree, "ok={ok} text={text}");
        }
    }
    // Not finite: `null`, as the tree had it.
    let mut e = event(true, true);
    std::sync::Arc::get_mut(&mut e.log).unwrap().spend = f64::NAN;
    let direct = serde_json::to_string(&StandardPayload(&e)).unwrap();
    assert_eq!(direct, serde_json::to_string(&reference(&e)).unwrap());
    assert!(direct.contains("\"response_cost\":null"));
}
