//! Gemini / Vertex error replies → client errors: the Google `{"error":{"code","message",
//! "status"}}` body (bare, or wrapped in a one-element array as `streamGenerateContent` sends
//! it), its gRPC status mapped to an HTTP status and OpenAI error type.

use serde_json::Value;

use super::wire::{ErrorBody, ErrorDetail};
use crate::error::{from_openai_reply, ApiError};

/// The client error for a Gemini reply with HTTP `status` and `body`.
pub fn from_reply(status: u16, body: &[u8]) -> ApiError {
    match detail(body) {
        Some(d) => from_detail(status, &d),
        None => from_openai_reply(status, body),
    }
}

/// The error object of a Google error body, bare or in an array.
pub(crate) fn detail(body: &[u8]) -> Option<ErrorDetail> {
    match serde_json::from_slice::<Value>(body).ok()? {
        Value::Array(mut items) if !items.is_empty() => {
            serde_json::from_value::<ErrorBody>(items.swap_remove(0))
                .ok()
                .map(|b| b.error)
        }
        v @ Value::Object(_) => serde_json::from_value::<ErrorBody>(v).ok().map(|b| b.error),
        _ => None,
    }
}

/// The client error for a Google error object; `http_status` is used when its `status` is not
/// one we map.
pub(crate) fn from_detail(http_status: u16, d: &ErrorDetail) -> ApiError {
    let grpc = d.status.as_deref().unwrap_or_default();
    let status = match grpc {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => 400,
        "UNAUTHENTICATED" => 401,
        "PERMISSION_DENIED" => 403,
        "NOT_FOUND" => 404,
        "RESOURCE_EXHAUSTED" => 429,
        "INTERNAL" | "UNKNOWN" => 500,
        "UNAVAILABLE" => 503,
        "DEADLINE_EXCEEDED" => 504,
        _ if http_status >= 400 => http_status,
        _ => d.code.filter(|c| *c >= 400).unwrap_or(502),
    };
    let message = if d.message.is_empty() {
        format!("gemini returned HTTP {status} {grpc}")
            .trim_end()
            .to_string()
    } else {
        d.message.clone()
    };
    let err = ApiError::new(status, ApiError::kind_for_status(status), message);
    if status == 400 && is_context_overflow(&d.message) {
        return err.with_code("context_length_exceeded");
    }
    err
}

/// Whether an INVALID_ARGUMENT message says the prompt is over the model's token limit.
fn is_context_overflow(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("exceeds the maximum number of tokens")
        || m.contains("token limit")
        || (m.contains("token count") && m.contains("exceeds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_grpc_statuses() {
        let e = from_reply(
            503,
            br#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#,
        );
        assert_eq!((e.status, e.kind.as_str()), (503, "api_error"));
        assert_eq!(e.message, "The model is overloaded.");
        let e = from_reply(
            400,
            br#"[{"error":{"code":400,"message":"API key not valid.","status":"PERMISSION_DENIED"}}]"#,
        );
        assert_eq!((e.status, e.kind.as_str()), (403, "permission_error"));
        let e = from_reply(
            504,
            br#"{"error":{"code":504,"message":"Deadline expired","status":"DEADLINE_EXCEEDED"}}"#,
        );
        assert_eq!((e.status, e.kind.as_str()), (504, "timeout"));
        let e = from_reply(
            401,
            br#"{"error":{"code":401,"message":"no","status":"UNAUTHENTICATED"}}"#,
        );
        assert_eq!((e.status, e.kind.as_str()), (401, "authentication_error"));
        let e = from_reply(
            404,
            br#"{"error":{"code":404,"message":"models/x is not found","status":"NOT_FOUND"}}"#,
        );
        assert_eq!(e.status, 404);
    }

    #[test]
    fn non_json_bodies_keep_the_status_and_text() {
        let e = from_reply(502, b"<html>Bad Gateway</html>");
        assert_eq!(e.status, 502);
        assert_eq!(e.message, "<html>Bad Gateway</html>");
    }
}
