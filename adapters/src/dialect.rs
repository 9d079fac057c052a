//! The one place provider calls are matched on `Dialect`: build the provider request, translate
//! its response, its errors and its stream back to the canonical OpenAI shape. It imports every
//! provider; no provider imports it.

use std::time::SystemTime;

use crate::error::ApiError;
use crate::openai::wire::ResponseMeta;
use crate::provider::{Dialect, Provider};
use crate::request::{CanonicalRequest, Endpoint};

// The types every call below takes or gives, defined in leaf modules the providers import (so
// no provider imports this dispatch); re-exported here, where the gateway names them.
pub use crate::target::{ProviderRequest, Target};
pub use crate::translator::ToOpenAiStream;

/// Builds the provider request for `req`.
pub fn build_request(req: &CanonicalRequest, t: &Target<'_>) -> Result<ProviderRequest, ApiError> {
    let dialect = t.provider.dialect();
    if req.endpoint == Endpoint::Rerank {
        return build_rerank(req, t);
    }
    let who = match req.endpoint {
        Endpoint::ImageGenerations if !dialect.makes_images() => {
            Some("OpenAI-compatible, Azure OpenAI, Gemini, Vertex AI and Bedrock deployments do")
        }
        Endpoint::Moderations if !matches!(dialect, Dialect::OpenAi | Dialect::Azure) => {
            Some("only OpenAI-compatible and Azure OpenAI deployments do")
        }
        _ => None,
    };
    if let Some(who) = who {
        return Err(ApiError::new(
            400,
            "invalid_request_error",
            format!(
                "model {} ({}/) does not serve {}: {who}",
                t.model,
                t.provider.prefix(),
                req.endpoint.path()
            ),
        ));
    }
    match dialect {
        // LiteLLM turns chat messages into a prompt for `text-completion-openai/`; Tollgate
        // does not, so a chat request to such a deployment is refused, never sent to a
        // chat endpoint the model does not have.
        Dialect::OpenAi
            if t.provider == Provider::TextCompletionOpenAi
                && req.endpoint == Endpoint::ChatCompletions =>
        {
            Err(ApiError::new(
                400,
                "invalid_request_error",
                format!(
                    "model {} is a text-completion-openai/ deployment: it serves /v1/completions; \
                     chat requests to it are not supported yet",
                    t.model
                ),
            ))
        }
        Dialect::OpenAi => Ok(crate::openai::request::build(req, t)),
        Dialect::Anthropic => crate::anthropic::request::build(req, t),
        Dialect::Gemini | Dialect::VertexAi => crate::gemini::request::build(req, t),
        Dialect::Ollama | Dialect::OllamaChat => crate::ollama::request::build(req, t),
        Dialect::Azure => crate::azure::request::build(req, t),
        Dialect::Bedrock => crate::bedrock::request::build(req, t),
        Dialect::Cohere => crate::cohere::request::build(req, t),
    }
}

/// A rerank request (`crate::rerank`) in the provider's API: Cohere, Bedrock, Vertex AI and
/// OpenAI-compatible rerank servers serve it; the other dialects refuse it with a 400.
fn build_rerank(req: &CanonicalRequest, t: &Target<'_>) -> Result<ProviderRequest, ApiError> {
    match t.provider.dialect() {
        Dialect::OpenAi => Ok(crate::openai::rerank::build(req, t)),
        Dialect::Cohere => crate::cohere::rerank::build(&req.body, t),
        Dialect::Bedrock => crate::bedrock::rerank::build(&req.body, t),
        Dialect::VertexAi => crate::gemini::rank::build(&req.body, t),
        Dialect::Azure
        | Dialect::Anthropic
        | Dialect::Gemini
        | Dialect::OllamaChat
        | Dialect::Ollama => Err(ApiError::new(
            400,
            "invalid_request_error",
            format!(
                "model {} ({}/) does not serve /rerank: Cohere, Bedrock, Vertex AI and \
                 OpenAI-compatible rerank servers (hosted_vllm/, jina_ai/, infinity/) do",
                t.model,
                t.provider.prefix(),
            ),
        )
        .with_code("unsupported_endpoint")),
    }
}

/// Why [`sign`] could not sign a request.
#[derive(Debug)]
pub enum SignError {
    /// The deployment lacks the credentials or the region the signature needs (the config
    /// loader requires them, so this is a deployment built some other way).
    NoCredentials,
    /// The signature could not be computed.
    Failed(ApiError),
}

/// Signs a built request for a provider whose [`Auth`](crate::provider::Auth) is a signature
/// over the request (`AwsSigV4`): the `host` it is sent to and the time `now` are what only the
/// caller knows. Requests to every other provider are left as they are.
pub fn sign(
    pr: &mut ProviderRequest,
    t: &Target<'_>,
    host: &str,
    now: SystemTime,
) -> Result<(), SignError> {
    match t.provider.dialect() {
        Dialect::Bedrock => {
            let (creds, region) = crate::bedrock::sign::credentials_from(t.internal)
                .ok_or(SignError::NoCredentials)?;
            crate::bedrock::sign::sign(pr, host, &region, &creds, now).map_err(SignError::Failed)
        }
        Dialect::OpenAi
        | Dialect::Azure
        | Dialect::Anthropic
        | Dialect::Gemini
        | Dialect::VertexAi
        | Dialect::OllamaChat
        | Dialect::Ollama
        | Dialect::Cohere => Ok(()),
    }
}

/// The request passing a client's Responses API `body` through to a provider that serves the
/// Responses API itself ([`Provider::speaks_openai_responses`]): its path below the
/// deployment's base and its credential headers.
pub fn responses_request(t: &Target<'_>, body: Vec<u8>, stream: bool) -> ProviderRequest {
    match t.provider.dialect() {
        Dialect::Azure => crate::azure::request::responses(t, body, stream),
        _ => crate::openai::request::responses(t, body, stream),
    }
}

/// The head (path and credential headers; no body) of a media request — `path` is
/// `/audio/transcriptions`, `/audio/translations`, `/audio/speech` or `/images/edits` — whose
/// body the gateway streams as the client sent it (the model field rewritten). Only
/// OpenAI-compatible and Azure OpenAI deployments serve these; any other answers a 400 naming
/// the deployment.
pub fn media_request(path: &str, t: &Target<'_>) -> Result<ProviderRequest, ApiError> {
    match t.provider.dialect() {
        Dialect::OpenAi => Ok(crate::openai::request::media(path, t)),
        Dialect::Azure => Ok(crate::azure::request::media(path, t)),
        _ => Err(ApiError::new(
            400,
            "invalid_request_error",
            format!(
                "model {} ({}/) does not serve {path}: only OpenAI-compatible and Azure OpenAI \
                 deployments do",
                t.model,
                t.provider.prefix(),
            ),
        )),
    }
}

/// Translates a 2xx response body to the canonical body; `None` means it already is canonical
/// and is relayed unchanged.
pub fn translate_response(
    req: &CanonicalRequest,
    t: &Target<'_>,
    meta: ResponseMeta<'_>,
    body: &[u8],
) -> Result<Option<Vec<u8>>, ApiError> {
    if req.endpoint == Endpoint::Rerank {
        let b = &req.body;
        return match t.provider.dialect() {
            Dialect::OpenAi => crate::openai::rerank::to_canonical(b, t, meta.id, body),
            Dialect::Cohere => crate::cohere::rerank::to_canonical(b, t, meta.id, body),
            Dialect::Bedrock => crate::bedrock::rerank::to_canonical(b, t, meta.id, body),
            Dialect::VertexAi => crate::gemini::rank::to_canonical(b, t, meta.id, body),
            _ => Err(crate::request::not_served(req.endpoint)),
        }
        .map(Some);
    }
    match t.provider.dialect() {
        Dialect::OpenAi | Dialect::Azure => Ok(None),
        Dialect::Anthropic => crate::anthropic::response::to_openai(req, t, meta, body).map(Some),
        Dialect::Gemini | Dialect::VertexAi => {
            crate::gemini::response::to_openai(req, t, meta, body).map(Some)
        }
        Dialect::Ollama | Dialect::OllamaChat => {
            crate::ollama::response::to_openai(req, t, meta, body).map(Some)
        }
        Dialect::Bedrock => crate::bedrock::response::to_openai(req, t, meta, body).map(Some),
        Dialect::Cohere => crate::cohere::response::to_openai(req, t, meta, body).map(Some),
    }
}

/// Translates a provider error reply (status ≥ 400).
pub fn translate_error(t: &Target<'_>, status: u16, body: &[u8]) -> ApiError {
    match t.provider.dialect() {
        Dialect::OpenAi => crate::openai::error::from_reply(status, body),
        Dialect::Anthropic => crate::anthropic::error::from_reply(status, body),
        Dialect::Gemini | Dialect::VertexAi => crate::gemini::error::from_reply(status, body),
        Dialect::Ollama | Dialect::OllamaChat => crate::ollama::error::from_reply(status, body),
        Dialect::Azure => crate::azure::error::from_reply(status, body),
        Dialect::Bedrock => crate::bedrock::error::from_reply(status, body),
        Dialect::Cohere => crate::cohere::error::from_reply(status, body),
    }
}

/// A translator for the provider's stream; `None` means the stream already is canonical SSE and
/// is relayed event by event.
pub fn stream_translator(
    req: &CanonicalRequest,
    t: &Target<'_>,
    meta: ResponseMeta<'_>,
) -> Result<Option<Box<dyn ToOpenAiStream>>, ApiError> {
    match t.provider.dialect() {
        Dialect::OpenAi | Dialect::Azure => Ok(None),
        Dialect::Anthropic => Ok(Some(Box::new(crate::anthropic::stream::Translator::new(
            req, t, meta,
        )))),
        Dialect::Gemini | Dialect::VertexAi => Ok(Some(Box::new(
            crate::gemini::stream::Translator::new(req, t, meta),
        ))),
        Dialect::Ollama | Dialect::OllamaChat => Ok(Some(Box::new(
            crate::ollama::stream::Translator::new(req, t, meta),
        ))),
        Dialect::Bedrock => Ok(Some(Box::new(crate::bedrock::stream::Translator::new(
            req, t, meta,
        )))),
        Dialect::Cohere => Ok(Some(Box::new(crate::cohere::stream::Translator::new(
            req, t, meta,
        )))),
    }
}

#[cfg(test)]
mod media_tests {
    use serde_json::Map;

    use super::*;

    fn target<'a>(
        provider: Provider,
        base: &'a str,
        empty: &'a Map<String, serde_json::Value>,
    ) -> Target<'a> {
        Target {
            provider,
            model: "whisper-1",
            base_path: base,
            api_key: Some("sk-1"),
            api_version: Some("2024-10-21"),
            defaults: empty,
            drop_params: false,
            internal: empty,
        }
    }

    #[test]
    fn media_request_heads_by_dialect() {
        let empty = Map::new();
        let r = media_request(
            "/audio/transcriptions",
            &target(Provider::OpenAi, "/v1", &empty),
        )
        .unwrap();
        assert_eq!(r.path, "/v1/audio/transcriptions");
        assert_eq!(
            r.headers,
            vec![("authorization", "Bearer sk-1".to_string())]
        );
        assert!(r.body.is_empty());
        let r = media_request(
            "/audio/speech",
            &target(Provider::Groq, "/openai/v1", &empty),
        )
        .unwrap();
        assert_eq!(r.path, "/openai/v1/audio/speech");
        let r = media_request("/images/edits", &target(Provider::Azure, "", &empty)).unwrap();
        assert_eq!(
            r.path,
            "/openai/deployments/whisper-1/images/edits?api-version=2024-10-21"
        );
        assert_eq!(r.headers, vec![("api-key", "sk-1".to_string())]);
        let e = media_request(
            "/audio/transcriptions",
            &target(Provider::Anthropic, "", &empty),
        )
        .unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("/audio/transcriptions"), "{}", e.message);
    }
}
