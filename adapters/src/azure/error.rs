//! Azure OpenAI errors → client errors: OpenAI-shaped replies are relayed as OpenAI's are, and
//! Azure's content filter (`content_filter` / `ResponsibleAIPolicyViolation`) becomes a 400 with
//! OpenAI's `content_policy_violation` code.

use serde_json::Value;

use crate::error::{from_openai_reply, ApiError};

/// The client error for an Azure OpenAI error reply with HTTP `status`.
pub fn from_reply(status: u16, body: &[u8]) -> ApiError {
    let mut e = from_openai_reply(status, body);
    if is_content_filter(body) {
        e.status = 400;
        e.kind = "invalid_request_error".to_string();
        e.code = Some("content_policy_violation".to_string());
    } else if e.code.as_deref() == Some("DeploymentNotFound") {
        e.status = 404;
        e.kind = "invalid_request_error".to_string();
        e.code = Some("model_not_found".to_string());
    }
    e
}

fn is_content_filter(body: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    let err = &v["error"];
    err["code"].as_str() == Some("content_filter")
        || err["innererror"]["code"].as_str() == Some("ResponsibleAIPolicyViolation")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_not_found_is_model_not_found() {
        let e = from_reply(
            404,
            br#"{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}"#,
        );
        assert_eq!(e.status, 404);
        assert_eq!(e.code.as_deref(), Some("model_not_found"));
        assert_eq!(
            e.message,
            "The API deployment for this resource does not exist."
        );
    }

    #[test]
    fn other_errors_are_relayed() {
        let e = from_reply(
            429,
            br#"{"error":{"code":"429","message":"Requests have exceeded the rate limit."}}"#,
        );
        assert_eq!((e.status, e.kind.as_str()), (429, "rate_limit_error"));
        assert_eq!(e.code.as_deref(), Some("429"));
    }
}
