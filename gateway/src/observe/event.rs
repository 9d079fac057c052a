//! The callback event of one finished request: its spend log row (the account stage's, shared
//! as it is), what the capture saw, and how it ended; and the event as LiteLLM's
//! `StandardLoggingPayload`, the body the generic webhook sends. Never a key (the key's
//! SHA-256 only) and, when message logging is off, never prompt or completion text.

use serde_json::{json, Map, Value};

use super::capture::{hex, Capture};

/// One finished request.
#[derive(Debug)]
pub struct Event {
    /// The spend log row, shared with the spend writer's queue.
    pub log: std::sync::Arc<store::SpendLog>,
    pub ok: bool,
    pub stream: bool,
    pub status: u16,
    pub upstream_status: Option<u16>,
    /// Why it failed (the client-visible message).
    pub error: Option<String>,
    pub key_alias: Option<String>,
    pub team_alias: Option<String>,
    pub capture: Capture,
    /// Prompt and completion text may be exported (sinks that want it still decide).
    pub text: bool,
    /// Callbacks this request's key or team limits delivery to (`metadata.logging`); `None`:
    /// every configured one.
    pub only: Option<Vec<(String, bool, bool)>>,
    /// What the event holds in queues, roughly: reckoned once ([`Event::reckon`]).
    pub size: usize,
}

impl Event {
    /// What the event holds in queues, roughly (queue byte bound): a fixed part, plus — with
    /// text — the request body's size (the prompt is part of it) and the completion's.
    pub fn reckon(&self, body_bytes: usize) -> usize {
        let text = if self.text {
            body_bytes + self.capture.response.as_ref().map_or(0, String::len)
        } else {
            0
        };
        1024 + text
    }

    pub fn approx_bytes(&self) -> usize {
        self.size
    }

    /// Whether `sink` gets this event.
    pub fn for_sink(&self, name: &str, on_success: bool, on_failure: bool) -> bool {
        allowed(&self.only, name, on_success, on_failure, self.ok)
    }

    pub fn trace_id_hex(&self) -> String {
        hex(&self.capture.trace_id)
    }

    /// Seconds since the epoch, as LiteLLM's `startTime` / `endTime`.
    pub fn secs(ms: i64) -> f64 {
        ms as f64 / 1000.0
    }

    /// The prompt, when it may be exported.
    pub fn messages(&self) -> Value {
        match (&self.capture.messages, self.text) {
            (Some(m), true) => m.clone(),
            _ => Value::Null,
        }
    }

    /// The completion text, when it may be exported.
    pub fn response_text(&self) -> Option<&str> {
        self.capture.response.as_deref().filter(|_| self.text)
    }

    /// `model_parameters` as LiteLLM logs them.
    pub fn params(&self) -> Value {
        Value::Object(self.capture.params.clone())
    }

    /// LiteLLM's `StandardLoggingPayload` (field names as LiteLLM's
    /// `litellm/types/utils.py`), for the generic webhook.
    pub fn standard_payload(&self) -> Value {
        let l = &self.log;
        let response = match self.response_text() {
            Some(t) => {
                json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": t}}]})
            }
            None if !self.ok => Value::Null,
            None => json!({}),
        };
        let mut metadata = Map::new();
        metadata.insert(
            "user_api_key_hash".into(),
            opt(Some(&l.api_key).filter(|k| !k.is_empty()).cloned()),
        );
        metadata.insert("user_api_key_alias".into(), opt(self.key_alias.clone()));
        metadata.insert("user_api_key_team_id".into(), opt(l.team_id.clone()));
        metadata.insert(
            "user_api_key_team_alias".into(),
            opt(self.team_alias.clone()),
        );
        metadata.insert("user_api_key_user_id".into(), opt(l.user.clone()));
        metadata.insert("user_api_key_org_id".into(), opt(l.organization_id.clone()));
        metadata.insert("user_api_key_end_user_id".into(), opt(l.end_user.clone()));
        metadata.insert("spend_logs_metadata".into(), Value::Null);
        metadata.insert("requester_ip_address".into(), Value::Null);
        metadata.insert(
            "requester_metadata".into(),
            json!({
                "generation_name": self.capture.generation_name,
                "trace_id": self.capture.langfuse_trace_id,
                "session_id": self.capture.session_id,
            }),
        );
        let error_information = if self.ok {
            Value::Null
        } else {
            json!({
                "error_code": self.upstream_status.unwrap_or(self.status).to_string(),
                "error_class": error_class(self.status),
                "llm_provider": l.custom_llm_provider,
                "error_message": self.error.clone().unwrap_or_default(),
            })
        };
        let completion_start = self
            .capture
            .first_byte_ms
            .map(Event::secs)
            .unwrap_or(Event::secs(l.end_time));
        let mut payload = json!({
            "id": l.request_id,
            "trace_id": self.trace_id_hex(),
            "call_type": l.call_type,
            "stream": self.stream,
            "response_cost": l.spend,
            "status": if self.ok { "success" } else { "failure" },
            "status_fields": {
                "llm_api_status": if self.ok { "success" } else { "failure" },
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
            "messages": self.messages(),
            "response": response,
            "error_str": self.error.clone().filter(|_| !self.ok),
            "error_information": error_information,
            "model_parameters": self.params(),
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
}

fn opt(v: Option<String>) -> Value {
    v.map(Value::String).unwrap_or(Value::Null)
}

/// LiteLLM's exception class names by status (`litellm.exceptions`).
pub fn error_class(status: u16) -> &'static str {
    match status {
        400 => "BadRequestError",
        401 => "AuthenticationError",
        403 => "PermissionDeniedError",
        404 => "NotFoundError",
        408 | 504 => "Timeout",
        422 => "UnprocessableEntityError",
        429 => "RateLimitError",
        499 => "ClientDisconnected",
        503 => "ServiceUnavailableError",
        _ if status >= 500 => "InternalServerError",
        _ => "APIError",
    }
}

/// Whether a sink gets an event: its own success/failure switches, narrowed by the key's or
/// team's `logging` list (`only`) when one is set.
pub(crate) fn allowed(
    only: &Option<Vec<(String, bool, bool)>>,
    name: &str,
    on_success: bool,
    on_failure: bool,
    ok: bool,
) -> bool {
    let (s, f) = match only {
        None => (on_success, on_failure),
        Some(list) => match list.iter().find(|(n, ..)| n == name) {
            Some((_, s, f)) => (on_success && *s, on_failure && *f),
            None => (false, false),
        },
    };
    if ok {
        s
    } else {
        f
    }
}
