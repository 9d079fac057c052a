//! The OpenAI-shaped error every client sees: `{"error":{"message","type","param","code"}}`.
//! Built here from gateway decisions and provider replies; serialized in exactly one place
//! ([`ApiError::to_json`]).

use serde_json::{json, Value};

/// A client-visible error with its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    /// OpenAI's `type` (`invalid_request_error`, `authentication_error`, `rate_limit_error`, …).
    pub kind: String,
    pub param: Option<String>,
    pub code: Option<String>,
}

impl ApiError {
    pub fn new(status: u16, kind: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            kind: kind.to_string(),
            param: None,
            code: None,
        }
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// The OpenAI error `type` conventionally used for an HTTP status.
    pub fn kind_for_status(status: u16) -> &'static str {
        match status {
            400 | 404 | 405 | 409 | 413 | 415 | 422 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            408 | 504 => "timeout",
            429 => "rate_limit_error",
            _ => "api_error",
        }
    }

    /// The response body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        }))
        .expect("serializing a JSON value cannot fail")
    }

    /// The body as one SSE event, for errors after a stream has started.
    pub fn to_sse_event(&self) -> Vec<u8> {
        let mut out = b"data: ".to_vec();
        out.extend_from_slice(&self.to_json());
        out.extend_from_slice(b"\n\n");
        out
    }
}

/// Builds the client error for an upstream error reply: the provider's own message, type, param
/// and code when the body is OpenAI-shaped JSON, else its text; the status is kept.
pub fn from_openai_reply(status: u16, body: &[u8]) -> ApiError {
    let mut err = ApiError::new(status, ApiError::kind_for_status(status), "");
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(obj)) => match obj.get("error") {
            Some(Value::Object(e)) => {
                err.message = string_of(e.get("message")).unwrap_or_default();
                if let Some(kind) = string_of(e.get("type")) {
                    err.kind = kind;
                }
                err.param = string_of(e.get("param"));
                err.code = string_of(e.get("code"));
            }
            Some(Value::String(m)) => err.message = m.clone(),
            _ => err.message = string_of(obj.get("message")).unwrap_or_default(),
        },
        _ => err.message = truncated_text(body),
    }
    if err.message.is_empty() {
        err.message = format!("upstream provider returned HTTP {status}");
    }
    err
}

fn string_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn truncated_text(body: &[u8]) -> String {
    const MAX: usize = 1000;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX)]);
    text.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_provider_fields() {
        let e = from_openai_reply(
            429,
            br#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
        );
        assert_eq!(e.status, 429);
        assert_eq!(e.message, "Rate limit reached");
        assert_eq!(e.kind, "requests");
        assert_eq!(e.code.as_deref(), Some("rate_limit_exceeded"));
        assert_eq!(e.param, None);
    }

    #[test]
    fn wraps_non_json_and_empty_bodies() {
        let e = from_openai_reply(502, b"<html>bad gateway</html>");
        assert_eq!(e.message, "<html>bad gateway</html>");
        assert_eq!(e.kind, "api_error");
        let e = from_openai_reply(503, b"");
        assert_eq!(e.message, "upstream provider returned HTTP 503");
    }

    #[test]
    fn serializes_all_four_fields() {
        let v: Value =
            serde_json::from_slice(&ApiError::new(400, "invalid_request_error", "bad").to_json())
                .unwrap();
        let e = &v["error"];
        assert_eq!(e["message"], "bad");
        assert_eq!(e["type"], "invalid_request_error");
        assert!(e["param"].is_null() && e["code"].is_null());
    }
}
