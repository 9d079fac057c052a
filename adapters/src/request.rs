//! The canonical request: the client's OpenAI-shaped JSON body parsed once, with the few fields
//! the gateway needs pulled out and everything else kept untouched for pass-through.

use serde_json::{Map, Value};

/// Which OpenAI endpoint a request targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    ChatCompletions,
    Completions,
    Embeddings,
    /// `POST /images/generations`: served by the dialects that make images
    /// (`Dialect::makes_images`; checked in `dialect::build_request`): OpenAI-shaped APIs take the body
    /// with the deployment's model; Imagen and Bedrock's image models get it translated.
    ImageGenerations,
    /// `POST /rerank`: Cohere's rerank API (`crate::rerank`), served by Cohere, Bedrock,
    /// Vertex AI and OpenAI-compatible rerank servers (vLLM, Jina, Infinity).
    Rerank,
    /// `POST /moderations`: OpenAI-shaped APIs only; the body is passed through.
    Moderations,
}

impl Endpoint {
    /// Path below the provider's `api_base` (`/chat/completions`).
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "/chat/completions",
            Endpoint::Completions => "/completions",
            Endpoint::Embeddings => "/embeddings",
            Endpoint::ImageGenerations => "/images/generations",
            Endpoint::Rerank => "/rerank",
            Endpoint::Moderations => "/moderations",
        }
    }

    /// The body field that must be present besides `model`.
    fn required_field(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "messages",
            Endpoint::Completions => "prompt",
            Endpoint::Embeddings => "input",
            Endpoint::ImageGenerations => "prompt",
            Endpoint::Rerank => "query",
            Endpoint::Moderations => "input",
        }
    }

    /// Whether the endpoint can stream (`"stream": true`).
    pub fn can_stream(self) -> bool {
        !matches!(
            self,
            Endpoint::Embeddings
                | Endpoint::ImageGenerations
                | Endpoint::Rerank
                | Endpoint::Moderations
        )
    }

    /// Whether the endpoint generates tokens a budget bounds with `max_tokens` (chat and
    /// legacy completions; not embeddings, not images).
    pub fn bounds_tokens(self) -> bool {
        matches!(self, Endpoint::ChatCompletions | Endpoint::Completions)
    }
}

/// A client request, parsed once.
#[derive(Debug, Clone)]
pub struct CanonicalRequest {
    pub endpoint: Endpoint,
    /// The requested model group (`model`).
    pub model: String,
    /// `stream: true`.
    pub stream: bool,
    /// `stream_options.include_usage: true`.
    pub include_usage: bool,
    /// The whole body as received, `model` included; unknown fields are kept verbatim.
    pub body: Map<String, Value>,
}

/// A request the gateway cannot accept: answered 400 with OpenAI's `invalid_request_error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    pub message: String,
    /// The offending body field, if one.
    pub param: Option<&'static str>,
}

impl RequestError {
    fn new(message: impl Into<String>, param: Option<&'static str>) -> Self {
        RequestError {
            message: message.into(),
            param,
        }
    }
}

impl CanonicalRequest {
    /// Parses a request body for `endpoint`. Checks only what routing needs: a JSON object, a
    /// string `model`, the endpoint's required field, and the type of `stream`.
    pub fn parse(endpoint: Endpoint, body: &[u8]) -> Result<Self, RequestError> {
        Self::parse_for(endpoint, body, None)
    }

    /// [`parse`](Self::parse), with the model group named outside the body (the Azure-style
    /// door's `/openai/deployments/{deployment}/…` path): it replaces the body's `model`, as
    /// LiteLLM does, and the body may then leave `model` out.
    pub fn parse_for(
        endpoint: Endpoint,
        body: &[u8],
        model: Option<&str>,
    ) -> Result<Self, RequestError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| RequestError::new(format!("Invalid JSON in request body: {e}"), None))?;
        let Value::Object(mut body) = value else {
            return Err(RequestError::new(
                "Request body must be a JSON object",
                None,
            ));
        };
        if let Some(m) = model {
            body.insert("model".into(), Value::String(m.to_string()));
        }
        let model = match body.get("model") {
            Some(Value::String(m)) if !m.is_empty() => m.clone(),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err(RequestError::new(
                    "Missing required parameter: 'model'",
                    Some("model"),
                ))
            }
            Some(_) => {
                return Err(RequestError::new(
                    "Invalid type for 'model': expected a string",
                    Some("model"),
                ))
            }
        };
        let required = endpoint.required_field();
        if matches!(body.get(required), None | Some(Value::Null)) {
            return Err(RequestError::new(
                format!("Missing required parameter: '{required}'"),
                Some(required_param(endpoint)),
            ));
        }
        if endpoint == Endpoint::Rerank {
            crate::rerank::check(&body).map_err(|r| RequestError::new(r.message, Some(r.param)))?;
        }
        if endpoint == Endpoint::ChatCompletions && !body["messages"].is_array() {
            return Err(RequestError::new(
                "Invalid type for 'messages': expected an array of message objects",
                Some("messages"),
            ));
        }
        let stream = match body.get("stream") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(RequestError::new(
                    "Invalid type for 'stream': expected a boolean",
                    Some("stream"),
                ))
            }
        };
        if stream && !endpoint.can_stream() {
            return Err(RequestError::new(
                "Streaming is not supported on this endpoint",
                Some("stream"),
            ));
        }
        let include_usage = stream
            && body
                .get("stream_options")
                .and_then(|o| o.get("include_usage"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
        Ok(CanonicalRequest {
            endpoint,
            model,
            stream,
            include_usage,
            body,
        })
    }
}

/// The error of a dialect asked for an endpoint it does not serve (`dialect::build_request`
/// refuses those before any dialect is called; this keeps each dialect's match total).
pub(crate) fn not_served(endpoint: Endpoint) -> crate::error::ApiError {
    crate::error::ApiError::new(
        400,
        "invalid_request_error",
        format!("this deployment does not serve {}", endpoint.path()),
    )
    .with_code("unsupported_endpoint")
}

fn required_param(endpoint: Endpoint) -> &'static str {
    endpoint.required_field()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_unknown_fields_and_reads_stream_flags() {
        let body = br#"{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true},"x_custom":{"a":1}}"#;
        let r = CanonicalRequest::parse(Endpoint::ChatCompletions, body).unwrap();
        assert_eq!(r.model, "m");
        assert!(r.stream && r.include_usage);
        assert_eq!(r.body["x_custom"]["a"], 1);
    }

    #[test]
    fn names_the_missing_or_mistyped_field() {
        let e =
            CanonicalRequest::parse(Endpoint::ChatCompletions, br#"{"messages":[]}"#).unwrap_err();
        assert_eq!(e.param, Some("model"));
        let e =
            CanonicalRequest::parse(Endpoint::ChatCompletions, br#"{"model":"m"}"#).unwrap_err();
        assert_eq!(e.param, Some("messages"));
        assert!(e.message.contains("'messages'"));
        let e = CanonicalRequest::parse(Endpoint::Embeddings, br#"{"model":"m"}"#).unwrap_err();
        assert_eq!(e.param, Some("input"));
        let e = CanonicalRequest::parse(
            Endpoint::Completions,
            br#"{"model":"m","prompt":"x","stream":"yes"}"#,
        )
        .unwrap_err();
        assert_eq!(e.param, Some("stream"));
        let e = CanonicalRequest::parse(Endpoint::ChatCompletions, br#"{"model":1,"messages":[]}"#)
            .unwrap_err();
        assert_eq!(e.param, Some("model"));
    }

    #[test]
    fn rejects_non_objects_and_bad_json() {
        assert!(CanonicalRequest::parse(Endpoint::ChatCompletions, b"[1]").is_err());
        let e = CanonicalRequest::parse(Endpoint::ChatCompletions, b"{\"model\":").unwrap_err();
        assert!(e.message.starts_with("Invalid JSON"));
    }
}
