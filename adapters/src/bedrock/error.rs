//! Bedrock error replies and ConverseStream exception events → the OpenAI-shaped client error:
//! message kept, the AWS exception name as `code`, statuses normalised by exception type in
//! streams, context overflows tagged `context_length_exceeded`.

use super::wire::ErrorBody;
use crate::error::{from_openai_reply, ApiError};

/// The client error for a Bedrock reply with HTTP `status` ≥ 400 (`{"message": …}`, the
/// exception name in `__type` when present). The status is kept.
pub fn from_reply(status: u16, body: &[u8]) -> ApiError {
    let Ok(reply) = serde_json::from_slice::<ErrorBody>(body) else {
        return from_openai_reply(status, body);
    };
    let name = reply.kind.as_deref().map(short_name).unwrap_or("");
    build(status, name, reply.message.unwrap_or_default())
}

/// The client error for an in-stream exception (`:message-type: exception`) whose
/// `:exception-type` is `exception_type` and payload `payload`.
pub fn from_exception(exception_type: &str, payload: &[u8]) -> ApiError {
    let name = short_name(exception_type);
    let message = match serde_json::from_slice::<ErrorBody>(payload) {
        Ok(ErrorBody {
            message: Some(m), ..
        }) => m,
        _ => String::from_utf8_lossy(&payload[..payload.len().min(500)])
            .trim()
            .to_string(),
    };
    build(status_for(name), name, message)
}

/// The exception name without a namespace (`com.amazon.coral.validate#`) or a
/// `x-amzn-errortype` suffix (`:http://internal.amazon.com/…`).
fn short_name(kind: &str) -> &str {
    let kind = kind.rsplit('#').next().unwrap_or(kind);
    kind.split(':').next().unwrap_or(kind).trim()
}

/// HTTP status for a Bedrock exception name (either capitalisation).
fn status_for(name: &str) -> u16 {
    match name.to_ascii_lowercase().as_str() {
        "validationexception" => 400,
        "accessdeniedexception" => 403,
        "resourcenotfoundexception" => 404,
        "modeltimeoutexception" => 408,
        "throttlingexception" | "servicequotaexceededexception" | "modelnotreadyexception" => 429,
        "internalserverexception" => 500,
        "modelstreamerrorexception" | "modelerrorexception" => 502,
        "serviceunavailableexception" => 503,
        _ => 500,
    }
}

fn build(status: u16, name: &str, message: String) -> ApiError {
    let message = if message.is_empty() {
        if name.is_empty() {
            format!("upstream provider returned HTTP {status}")
        } else {
            format!("bedrock returned {name} (HTTP {status})")
        }
    } else {
        message
    };
    let mut e = ApiError::new(status, ApiError::kind_for_status(status), message);
    if status == 400 && is_context_overflow(&e.message) {
        e.code = Some("context_length_exceeded".into());
    } else if !name.is_empty() {
        e.code = Some(name.to_string());
    }
    e
}

/// Whether a validation message says the prompt does not fit the model's context window.
fn is_context_overflow(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "too long",
        "max tokens",
        "maximum tokens",
        "max_tokens",
        "context length",
        "context window",
        "too many input tokens",
        "too many tokens",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_keep_status_and_name_the_exception() {
        let e = from_reply(
            403,
            br#"{"message":"You don't have access to the model with the specified model ID."}"#,
        );
        assert_eq!(
            (e.status, e.kind.as_str(), e.code),
            (403, "permission_error", None)
        );
        let e = from_reply(
            429,
            br#"{"__type":"com.amazon.coral.availability#ThrottlingException","message":"Too many requests, please wait before trying again."}"#,
        );
        assert_eq!(e.status, 429);
        assert_eq!(e.kind, "rate_limit_error");
        assert_eq!(e.code.as_deref(), Some("ThrottlingException"));
        let e = from_reply(500, b"");
        assert_eq!(e.message, "upstream provider returned HTTP 500");
    }

    #[test]
    fn context_overflow_is_tagged() {
        for m in [
            "Input is too long for requested model.",
            "The model returned the following errors: prompt is too long: 210000 tokens > 200000 maximum",
            "max tokens exceeds the model limit",
        ] {
            let body = serde_json::json!({"message": m}).to_string();
            let e = from_reply(400, body.as_bytes());
            assert_eq!(e.code.as_deref(), Some("context_length_exceeded"), "{m}");
        }
        let e = from_reply(400, br#"{"message":"Malformed input request"}"#);
        assert_eq!(e.code, None);
    }

    #[test]
    fn stream_exceptions_take_the_status_from_the_type() {
        for (kind, status) in [
            ("throttlingException", 429),
            ("serviceUnavailableException", 503),
            ("validationException", 400),
            ("modelStreamErrorException", 502),
            ("internalServerException", 500),
        ] {
            let e = from_exception(kind, br#"{"message":"m"}"#);
            assert_eq!((e.status, e.message.as_str()), (status, "m"), "{kind}");
        }
        let e = from_exception("validationException", br#"{"message":"Input is too long"}"#);
        assert_eq!(e.code.as_deref(), Some("context_length_exceeded"));
        let e = from_exception("modelStreamErrorException", b"not json");
        assert_eq!(e.message, "not json");
    }
}
