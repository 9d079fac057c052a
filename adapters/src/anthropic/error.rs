//! Anthropic error replies and in-stream `error` events → the OpenAI-shaped client error:
//! message and type kept, status normalised (overloaded → 503), context overflows tagged
//! `context_length_exceeded`.

use super::wire::{ErrorBody, ErrorResponse};
use crate::error::{from_openai_reply, ApiError};

/// The client error for an Anthropic reply with HTTP `status` ≥ 400.
pub fn from_reply(status: u16, body: &[u8]) -> ApiError {
    match serde_json::from_slice::<ErrorResponse>(body) {
        Ok(reply) => from_body(Some(status), reply.error),
        Err(_) => {
            // Not Anthropic-shaped (a proxy's HTML page, an empty body, …).
            let mut e = from_openai_reply(status, body);
            if status == 529 {
                e.status = 503;
                e.kind = "overloaded_error".into();
                e.code = Some("overloaded".into());
            }
            e
        }
    }
}

/// The client error for a stream's `event: error` data
/// (`{"type":"error","error":{"type":…,"message":…}}`).
pub fn from_event(data: &[u8]) -> ApiError {
    match serde_json::from_slice::<ErrorResponse>(data) {
        Ok(reply) => from_body(None, reply.error),
        Err(_) => ApiError::new(
            502,
            "api_error",
            format!(
                "anthropic stream error: {}",
                String::from_utf8_lossy(&data[..data.len().min(500)]).trim()
            ),
        ),
    }
}

/// `status` is the HTTP status when there is one; stream errors take it from the error type.
fn from_body(status: Option<u16>, err: ErrorBody) -> ApiError {
    let by_kind = match err.kind.as_str() {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "api_error" => 500,
        "overloaded_error" => 529,
        _ => 500,
    };
    let status = status.filter(|s| *s >= 400).unwrap_or(by_kind);
    let message = if err.message.is_empty() {
        format!("anthropic returned HTTP {status} ({})", err.kind)
    } else {
        err.message
    };
    let kind = if err.kind.is_empty() {
        ApiError::kind_for_status(status).to_string()
    } else {
        err.kind
    };
    let mut e = ApiError::new(status, &kind, message);
    if status == 529 || kind == "overloaded_error" {
        e.status = 503;
        e.code = Some("overloaded".into());
    } else if e.status == 400 && is_context_overflow(&e.message) {
        e.code = Some("context_length_exceeded".into());
    }
    e
}

/// Whether an `invalid_request_error` message says the prompt does not fit the context window.
fn is_context_overflow(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "prompt is too long",
        "exceed context limit",
        "exceeds the context",
        "context window",
        "context length",
        "too many tokens",
        "input length and `max_tokens` exceed",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, kind: &str, message: &str) -> ApiError {
        let body =
            format!(r#"{{"type":"error","error":{{"type":"{kind}","message":"{message}"}}}}"#);
        from_reply(status, body.as_bytes())
    }

    #[test]
    fn keeps_status_type_and_message() {
        for (status, kind) in [
            (401, "authentication_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (413, "request_too_large"),
            (429, "rate_limit_error"),
            (500, "api_error"),
        ] {
            let e = reply(status, kind, "m");
            assert_eq!(
                (e.status, e.kind.as_str(), e.message.as_str()),
                (status, kind, "m")
            );
            assert_eq!(e.code, None);
        }
    }

    #[test]
    fn context_overflow_messages_get_the_openai_code() {
        for m in [
            "prompt is too long: 201000 tokens > 200000 maximum",
            "input length and `max_tokens` exceed context limit: 199000 + 4096 > 200000",
            "Too many tokens in request",
        ] {
            let e = reply(400, "invalid_request_error", m);
            assert_eq!(e.code.as_deref(), Some("context_length_exceeded"), "{m}");
            assert_eq!(e.status, 400);
        }
        let e = reply(
            400,
            "invalid_request_error",
            "messages: roles must alternate",
        );
        assert_eq!(e.code, None);
    }

    #[test]
    fn stream_errors_take_the_status_from_the_type() {
        let e = from_event(
            br#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
        );
        assert_eq!((e.status, e.message.as_str()), (429, "slow down"));
        let e = from_event(
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        assert_eq!((e.status, e.code.as_deref()), (503, Some("overloaded")));
        let e = from_event(b"garbage");
        assert_eq!(e.status, 502);
        assert!(e.message.contains("garbage"));
        let e = from_reply(500, b"");
        assert_eq!(e.message, "upstream provider returned HTTP 500");
    }
}
