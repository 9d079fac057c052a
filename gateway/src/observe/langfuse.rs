//! The Langfuse sink: each event becomes a `trace-create` and a `generation-create` in one
//! batch to Langfuse's public ingestion API (`POST {host}/api/public/ingestion`, basic auth
//! with the public and secret keys), with model, usage, cost, latency, status, key alias,
//! team, user, end user and the request's `generation_name` / `trace_id` / `session_id` /
//! tags; prompt and completion unless message logging is off.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{json, Value};

use super::event::Event;
use super::queue::Format;

pub struct Langfuse;

/// RFC 3339 with milliseconds, UTC, as Langfuse's timestamps.
pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

impl Langfuse {
    fn items(e: &Event, out: &mut Vec<Value>) {
        let l = &e.log;
        let trace_id = e
            .capture
            .langfuse_trace_id
            .clone()
            .unwrap_or_else(|| e.trace_id_hex());
        let name = format!("litellm-{}", l.call_type);
        let output = e
            .response_text()
            .map(|t| json!({"role": "assistant", "content": t}))
            .unwrap_or(Value::Null);
        let metadata = json!({
            "user_api_key_hash": Some(&l.api_key).filter(|k| !k.is_empty()),
            "user_api_key_alias": e.key_alias,
            "user_api_key_team_id": l.team_id,
            "user_api_key_team_alias": e.team_alias,
            "user_api_key_user_id": l.user,
            "user_api_key_org_id": l.organization_id,
            "user_api_key_end_user_id": l.end_user,
            "model_group": l.model_group,
            "model_id": l.model_id,
            "custom_llm_provider": l.custom_llm_provider,
            "litellm_call_id": l.request_id,
            "stream": e.stream,
            "status_code": e.status,
            "attempted_retries": l.metadata.get("attempted_retries"),
            "attempted_fallbacks": l.metadata.get("attempted_fallbacks"),
            "cache_hit": l.cache_hit,
        });
        let mut tags = l.request_tags.clone();
        for t in [
            Some(&l.model_group),
            e.key_alias.as_ref(),
            e.team_alias.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            if !t.is_empty() && !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        out.push(json!({
            "id": uuid(),
            "timestamp": iso(l.end_time),
            "type": "trace-create",
            "body": {
                "id": trace_id,
                "timestamp": iso(l.start_time),
                "name": e.capture.trace_name.clone().unwrap_or_else(|| name.clone()),
                "userId": e.capture.trace_user_id.clone().or_else(|| l.end_user.clone()).or_else(|| l.user.clone()),
                "sessionId": e.capture.session_id,
                "input": e.messages(),
                "output": output,
                "tags": tags,
                "metadata": metadata,
            },
        }));
        let usage = json!({
            "input": l.prompt_tokens,
            "output": l.completion_tokens,
            "total": l.total_tokens,
            "unit": "TOKENS",
        });
        out.push(json!({
            "id": uuid(),
            "timestamp": iso(l.end_time),
            "type": "generation-create",
            "body": {
                "id": format!("time-{}", l.request_id),
                "traceId": trace_id,
                "name": e.capture.generation_name.clone().unwrap_or(name),
                "startTime": iso(l.start_time),
                "endTime": iso(l.end_time),
                "completionStartTime": iso(e.capture.first_byte_ms.unwrap_or(l.end_time)),
                "model": l.model,
                "modelParameters": e.params(),
                "input": e.messages(),
                "output": output,
                "usage": usage,
                "usageDetails": {
                    "input": l.prompt_tokens,
                    "output": l.completion_tokens,
                    "total": l.total_tokens,
                    "cache_read_input_tokens": l.cached_tokens,
                },
                "costDetails": {"total": l.spend},
                "level": if e.ok { "DEFAULT" } else { "ERROR" },
                "statusMessage": e.error.clone().filter(|_| !e.ok),
                "metadata": metadata,
            },
        }));
    }
}

impl Format for Langfuse {
    fn bodies(&self, batch: &[Arc<Event>]) -> Vec<(usize, Bytes)> {
        let mut items = Vec::with_capacity(batch.len() * 2);
        for e in batch {
            Langfuse::items(e, &mut items);
        }
        let body = json!({
            "batch": items,
            "metadata": {"sdk_integration": "litellm", "sdk_name": "tollgate", "sdk_version": env!("CARGO_PKG_VERSION")},
        });
        vec![(batch.len(), Bytes::from(body.to_string()))]
    }

    fn content_type(&self) -> &'static str {
        "application/json"
    }
}

/// A random UUID v4 (ingestion event ids; Langfuse de-duplicates on them).
fn uuid() -> String {
    let b: [u8; 16] = rand::random();
    let h = super::capture::hex(&b);
    format!(
        "{}-{}-4{}-{:x}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        8 | (b[8] & 0x3),
        &h[17..20],
        &h[20..32]
    )
}
