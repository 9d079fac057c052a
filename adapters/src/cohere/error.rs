//! Cohere errors → client errors. Cohere answers `{"id"?, "message": "..."}`; the message is
//! kept, 429 is a `rate_limit_error`, an over-long prompt gets OpenAI's
//! `context_length_exceeded`, a missing model `model_not_found`, and Cohere's 498 (invalid
//! token) an `authentication_error`.

use serde_json::Value;

use crate::error::{from_openai_reply, ApiError};

/// The client error for a Cohere error reply with HTTP `status`.
pub fn from_reply(status: u16, body: &[u8]) -> ApiError {
    let message = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(obj)) if obj.get("error").is_none() => match obj.get("message") {
            Some(Value::String(m)) => Some(m.clone()),
            _ => None,
        },
        _ => None,
    };
    match message {
        Some(m) => from_message(status, &m),
        None => classify(from_openai_reply(status, body)),
    }
}

/// The client error for a Cohere error text (also used for errors inside a stream).
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

/// Gives well-known Cohere failures OpenAI's status, type and code.
fn classify(mut e: ApiError) -> ApiError {
    let lower = e.message.to_ascii_lowercase();
    match e.status {
        429 => {
            e.kind = "rate_limit_error".to_string();
            e.code
                .get_or_insert_with(|| "rate_limit_exceeded".to_string());
        }
        498 => {
            e.status = 401;
            e.kind = "authentication_error".to_string();
            e.code.get_or_insert_with(|| "invalid_api_key".to_string());
        }
        // Also for errors reported inside a stream, which carry no HTTP status of their own.
        _ if is_context_length(&lower) => {
            e.status = 400;
            e.kind = "invalid_request_error".to_string();
            e.code = Some("context_length_exceeded".to_string());
            e.param.get_or_insert_with(|| "messages".to_string());
        }
        404 if lower.contains("model") => {
            e.kind = "invalid_request_error".to_string();
            e.code = Some("model_not_found".to_string());
            e.param.get_or_insert_with(|| "model".to_string());
        }
        _ => {}
    }
    e
}

fn is_context_length(lower: &str) -> bool {
    lower.contains("too many tokens")
        || lower.contains("context length")
        || lower.contains("context window")
        || lower.contains("context_length")
        || (lower.contains("exceeds") && lower.contains("context"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_message_and_status_of_other_errors() {
        let e = from_reply(
            500,
            br#"{"id":"c2a1","message":"internal server error, this has been reported to our developers"}"#,
        );
        assert_eq!(
            (e.status, e.kind.as_str(), e.code),
            (500, "api_error", None)
        );
        assert!(e.message.starts_with("internal server error"));
        let e = from_reply(401, br#"{"message":"invalid api token"}"#);
        assert_eq!((e.status, e.kind.as_str()), (401, "authentication_error"));
    }

    #[test]
    fn invalid_token_and_missing_model_get_openai_codes() {
        let e = from_reply(498, br#"{"message":"invalid api token"}"#);
        assert_eq!((e.status, e.kind.as_str()), (401, "authentication_error"));
        let e = from_reply(
            404,
            br#"{"id":"x","message":"model 'command-z' not found, make sure the correct model ID was used and that you have access to the model."}"#,
        );
        assert_eq!(e.code.as_deref(), Some("model_not_found"));
        assert_eq!(e.param.as_deref(), Some("model"));
    }

    #[test]
    fn plain_text_and_empty_bodies_are_kept() {
        let e = from_reply(502, b"bad gateway");
        assert_eq!((e.status, e.message.as_str()), (502, "bad gateway"));
        let e = from_message(500, " ");
        assert_eq!(e.message, "upstream provider returned HTTP 500");
        // The OpenAI-compatible endpoint's shape is read too.
        let e = from_reply(
            400,
            br#"{"error":{"message":"bad","type":"invalid_request_error"}}"#,
        );
        assert_eq!(e.message, "bad");
    }
}
