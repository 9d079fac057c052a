//! The one place provider calls are matched on `Dialect`: build the provider request, translate
//! its response, its errors and its stream back to the canonical OpenAI shape.

use bytes::BytesMut;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::openai::response::Usage;
use crate::openai::wire::ResponseMeta;
use crate::provider::{Dialect, Provider};
use crate::request::CanonicalRequest;

/// What translation needs to know about the deployment being called.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub provider: Provider,
    /// The upstream model name (`litellm_params.model` without the prefix).
    pub model: &'a str,
    /// Path prefix of `api_base` without a trailing slash (`/v1`, or empty).
    pub base_path: &'a str,
    /// The credential to send (API key, or an OAuth access token for Vertex).
    pub api_key: Option<&'a str>,
    /// `api_version` (Azure) where the provider has one.
    pub api_version: Option<&'a str>,
    /// Deployment defaults from `litellm_params`; client values win.
    pub defaults: &'a Map<String, Value>,
    /// `drop_params`: silently drop parameters the provider cannot take (else a 400 names them).
    pub drop_params: bool,
    /// LiteLLM-internal `litellm_params` never sent as body fields (`vertex_project`,
    /// `vertex_location`, `aws_region_name`, `azure_ad_token`, …).
    pub internal: &'a Map<String, Value>,
}

/// The HTTP request to send to the provider (the gateway adds `Host` and `Content-Length`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRequest {
    /// Path and query below the host, e.g. `/v1/messages`.
    pub path: String,
    /// Headers besides `Host`/`Content-Length` (credentials included; never logged).
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// Translates a provider's SSE/NDJSON/event-stream bytes into canonical OpenAI SSE events.
pub trait ToOpenAiStream: Send {
    /// Feeds provider bytes split anywhere; appends every complete canonical event to `out`.
    /// An error the provider reports inside the stream is returned as `Err`.
    fn push(&mut self, input: &[u8], out: &mut BytesMut) -> Result<(), ApiError>;
    /// The provider's stream ended: appends the closing events (the finish chunk if not sent,
    /// the usage chunk when `include_usage` was asked, `data: [DONE]`).
    fn finish(&mut self, out: &mut BytesMut) -> Result<(), ApiError>;
    /// Usage seen so far.
    fn usage(&self) -> Option<Usage>;
}

/// Builds the provider request for `req`.
pub fn build_request(req: &CanonicalRequest, t: &Target<'_>) -> Result<ProviderRequest, ApiError> {
    match t.provider.dialect() {
        // LiteLLM turns chat messages into a prompt for `text-completion-openai/`; Tollgate
        // does not, so a chat request to such a deployment is refused, never sent to a
        // chat endpoint the model does not have.
        Dialect::OpenAi
            if t.provider == Provider::TextCompletionOpenAi
                && req.endpoint == crate::request::Endpoint::ChatCompletions =>
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

/// Translates a 2xx response body to the canonical body; `None` means it already is canonical
/// and is relayed unchanged.
pub fn translate_response(
    req: &CanonicalRequest,
    t: &Target<'_>,
    meta: ResponseMeta<'_>,
    body: &[u8],
) -> Result<Option<Vec<u8>>, ApiError> {
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
