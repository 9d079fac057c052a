//! The callback event of one finished request: its spend log row (the account stage's, shared
//! as it is), what the capture saw, and how it ended (as LiteLLM's `StandardLoggingPayload`,
//! the generic webhook's body: `payload.rs`). Never a key (the key's SHA-256 only) and, when
//! message logging is off, never prompt or completion text.

use serde_json::Value;

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
