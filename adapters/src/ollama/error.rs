//! Ollama errors → client errors. Ollama answers `{"error":"<text>"}` (as the whole reply, or as
//! one NDJSON line mid-stream); the text is kept, and a missing model or an over-long prompt get
//! OpenAI's codes.

use serde_json::Value;

use super::wire::error_text;
use crate::error::{from_openai_reply, ApiError};

/// The client error for an Ollama error reply with HTTP `status`.
pub fn from_reply(status: u16, body: &[u8]) -> ApiError {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(obj)) => match obj.get("error") {
            Some(Value::Object(_)) | None => classify(from_openai_reply(status, body)),
            Some(e) => from_message(status, &error_text(e)),
        },
        _ => classify(from_openai_reply(status, body)),
    }
}

/// The client error for an Ollama error text (also used for errors inside a stream).
pub fn from_message(status: u16, message: &str) -> ApiError {
    let message = if message.trim().is_empty() {
        format!("upstream provider returned HTTP {status}")
    } else {
        message.to_string()
    };
    classify(ApiError::new(
        status,
        ApiError::kind_for_status(status),
        message,
    ))
}

/// Gives well-known Ollama failures OpenAI's status and code.
fn classify(mut e: ApiError) -> ApiError {
    let lower = e.message.to_ascii_lowercase();
    if lower.contains("model") && lower.contains("not found") {
        e.status = 404;
        e.kind = "invalid_request_error".to_string();
        e.code = Some("model_not_found".to_string());
        e.param.get_or_insert_with(|| "model".to_string());
    } else if is_context_length(&lower) {
        e.status = 400;
        e.kind = "invalid_request_error".to_string();
        e.code = Some("context_length_exceeded".to_string());
        e.param.get_or_insert_with(|| "messages".to_string());
    }
    e
}

fn is_context_length(lower: &str) -> bool {
    lower.contains("context length")
        || lower.contains("context window")
        || lower.contains("context_length")
        || (lower.contains("exceeds") && lower.contains("context"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_message_and_status_of_other_errors() {
        let e = from_reply(500, br#"{"error":"llama runner process has terminated"}"#);
        assert_eq!(
            (e.status, e.kind.as_str(), e.message.as_str(), e.code),
            (
                500,
                "api_error",
                "llama runner process has terminated",
                None
            )
        );
        let e = from_reply(400, br#"{"error":"invalid options: foo"}"#);
        assert_eq!((e.status, e.kind.as_str()), (400, "invalid_request_error"));
    }

    #[test]
    fn context_length_is_a_400_with_openai_code() {
        let e = from_reply(
            500,
            br#"{"error":"the input length exceeds the context length"}"#,
        );
        assert_eq!(e.status, 400);
        assert_eq!(e.code.as_deref(), Some("context_length_exceeded"));
    }

    #[test]
    fn plain_text_bodies_are_kept() {
        let e = from_reply(502, b"bad gateway");
        assert_eq!((e.status, e.message.as_str()), (502, "bad gateway"));
        let e = from_message(500, "");
        assert_eq!(e.message, "upstream provider returned HTTP 500");
    }
}
