//! Which provider dialect a request speaks: route parsing (path → [`Route`]), each dialect's
//! auth-header checks, and each dialect's error body. Everything that differs between OpenAI,
//! Azure OpenAI, Anthropic, Gemini (AI Studio and Vertex), Ollama, Cohere, Bedrock and Google's
//! OAuth token endpoint before a request is answered lives here.

use bytes::Bytes;
use hyper::header::HeaderMap;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use super::config::{MockToolCall, Plan};
use super::{anthropic, render};

/// The wire format of errors (and of everything else) on a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// OpenAI and Azure OpenAI: `{"error":{"message","type","param","code"}}`.
    OpenAi,
    /// `{"type":"error","error":{"type","message"},"request_id"}`.
    Anthropic,
    /// `{"error":{"code","message","status"}}`.
    Gemini,
    /// `{"error":"…"}`.
    Ollama,
    /// `{"message":"…"}`.
    Cohere,
    /// `{"message":"…"}` plus an `x-amzn-errortype` header.
    Bedrock,
    /// Google's OAuth 2.0 token endpoint: `{"error","error_description"}` (RFC 6749 §5.2).
    GoogleOAuth,
}

/// Cohere v2 endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CohereKind {
    Chat,
    Embed,
}

/// Bedrock runtime `model/{modelId}/…` operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BedrockOp {
    Converse,
    ConverseStream,
    Invoke,
}

/// The OpenAI-shaped endpoints (also served under Azure's deployment paths).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpenAiKind {
    Chat,
    Text,
    Embeddings,
    /// `/images/generations`.
    Images,
    /// `/moderations`.
    Moderations,
    /// `/audio/transcriptions` (multipart).
    Transcriptions,
    /// `/audio/translations` (multipart).
    Translations,
    /// `/audio/speech` (JSON in, audio out).
    Speech,
    /// `/images/edits` (multipart).
    ImageEdits,
}

impl OpenAiKind {
    /// The endpoint of `op` (the path below `/v1` or the Azure deployment).
    fn of(op: &str) -> Option<OpenAiKind> {
        Some(match op {
            "chat/completions" => OpenAiKind::Chat,
            "completions" => OpenAiKind::Text,
            "embeddings" => OpenAiKind::Embeddings,
            "images/generations" => OpenAiKind::Images,
            "moderations" => OpenAiKind::Moderations,
            "audio/transcriptions" => OpenAiKind::Transcriptions,
            "audio/translations" => OpenAiKind::Translations,
            "audio/speech" => OpenAiKind::Speech,
            "images/edits" => OpenAiKind::ImageEdits,
            _ => return None,
        })
    }

    /// Whether its body is `multipart/form-data`.
    pub(crate) fn multipart(self) -> bool {
        matches!(
            self,
            OpenAiKind::Transcriptions | OpenAiKind::Translations | OpenAiKind::ImageEdits
        )
    }
}

/// Rerank APIs (`rerank.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RerankKind {
    /// Cohere `/v1/rerank`.
    CohereV1,
    /// Cohere `/v2/rerank`.
    CohereV2,
    /// `/rerank`: vLLM, Jina, Infinity; Bedrock's Rerank API when the body has `queries`.
    Compat,
    /// Vertex AI `…/rankingConfigs/{config}:rank`.
    Vertex,
}

/// Gemini `models/{model}:{method}` methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GeminiMethod {
    Generate,
    StreamGenerate,
    BatchEmbed,
    Embed,
    CountTokens,
    /// `:predict` (Imagen; Vertex embeddings).
    Predict,
}

/// Ollama `/api/*` endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OllamaKind {
    Chat,
    Generate,
    Embed,
    Tags,
}

/// One routed request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    /// `GET /__mock/stats`.
    Stats,
    /// `GET /models`.
    Models,
    /// `/chat/completions`, `/completions`, `/embeddings`, `/images/generations` (with or
    /// without `/v1`).
    OpenAi(OpenAiKind),
    /// `/openai/deployments/{deployment}/…?api-version=…`.
    Azure {
        deployment: &'a str,
        kind: OpenAiKind,
    },
    /// `/responses` (with or without `/v1`; `azure: false`), or Azure's
    /// `/openai/responses?api-version=…` (`azure: true`, the model in the body).
    Responses { azure: bool },
    /// `/v1/messages` (`count_tokens: false`) or `/v1/messages/count_tokens`.
    Anthropic { count_tokens: bool },
    /// `/v1beta/models/{model}:{method}` (AI Studio) or
    /// `/v1/projects/{p}/locations/{l}/publishers/google/models/{model}:{method}` (Vertex).
    Gemini {
        model: &'a str,
        method: GeminiMethod,
        vertex: bool,
    },
    /// `/api/chat`, `/api/generate`, `/api/embed`, `/api/tags`.
    Ollama(OllamaKind),
    /// `/v2/chat`, `/v2/embed`.
    Cohere(CohereKind),
    /// `/model/{modelId}/converse` | `converse-stream` | `invoke` (`model` as sent: SDKs
    /// percent-encode the `:` of versioned ids).
    Bedrock { model: &'a str, op: BedrockOp },
    /// `POST /token`: Google's OAuth 2.0 token endpoint (JWT bearer grant).
    Token,
    /// A rerank API (`rerank.rs`).
    Rerank(RerankKind),
}

impl Route<'_> {
    /// Parses a request path (without the query); `None` for unknown paths.
    pub(crate) fn parse(path: &str) -> Option<Route<'_>> {
        if path == "/openai/responses" {
            return Some(Route::Responses { azure: true });
        }
        if let Some(rest) = path.strip_prefix("/openai/deployments/") {
            let (deployment, op) = rest.split_once('/')?;
            let kind = OpenAiKind::of(op)?;
            return (!deployment.is_empty()).then_some(Route::Azure { deployment, kind });
        }
        if let Some(op) = path.strip_prefix("/api/") {
            return Some(Route::Ollama(match op {
                "chat" => OllamaKind::Chat,
                "generate" => OllamaKind::Generate,
                "embed" => OllamaKind::Embed,
                "tags" => OllamaKind::Tags,
                _ => return None,
            }));
        }
        if let Some(rest) = path.strip_prefix("/model/") {
            let (model, op) = rest.rsplit_once('/')?;
            let op = match op {
                "converse" => BedrockOp::Converse,
                "converse-stream" => BedrockOp::ConverseStream,
                "invoke" => BedrockOp::Invoke,
                _ => return None,
            };
            return (!model.is_empty() && !model.contains('/'))
                .then_some(Route::Bedrock { model, op });
        }
        if path.starts_with("/v1/projects/")
            && path.contains("/rankingConfigs/")
            && path.ends_with(":rank")
        {
            return Some(Route::Rerank(RerankKind::Vertex));
        }
        match path {
            "/v1/rerank" => return Some(Route::Rerank(RerankKind::CohereV1)),
            "/v2/rerank" => return Some(Route::Rerank(RerankKind::CohereV2)),
            "/rerank" => return Some(Route::Rerank(RerankKind::Compat)),
            "/v2/chat" => return Some(Route::Cohere(CohereKind::Chat)),
            "/v2/embed" => return Some(Route::Cohere(CohereKind::Embed)),
            "/token" => return Some(Route::Token),
            _ => {}
        }
        for prefix in ["/v1beta/models/", "/v1/models/"] {
            if let Some(rest) = path.strip_prefix(prefix) {
                return gemini(rest, false);
            }
        }
        for prefix in ["/v1/projects/", "/v1beta1/projects/"] {
            if let Some(rest) = path.strip_prefix(prefix) {
                // {p}/locations/{l}/publishers/google/models/{model}:{method}
                let mut it = rest.splitn(7, '/');
                let fixed = [
                    None,
                    Some("locations"),
                    None,
                    Some("publishers"),
                    Some("google"),
                ];
                for want in fixed {
                    let seg = it.next()?;
                    if seg.is_empty() || want.is_some_and(|w| w != seg) {
                        return None;
                    }
                }
                if it.next()? != "models" {
                    return None;
                }
                return gemini(it.next()?, true);
            }
        }
        let route = match path.strip_prefix("/v1") {
            Some(rest) if rest.starts_with('/') => rest,
            _ => path,
        };
        if let Some(kind) = route.strip_prefix('/').and_then(OpenAiKind::of) {
            return Some(Route::OpenAi(kind));
        }
        Some(match route {
            "/__mock/stats" => Route::Stats,
            "/models" => Route::Models,
            "/responses" => Route::Responses { azure: false },
            "/messages" => Route::Anthropic {
                count_tokens: false,
            },
            "/messages/count_tokens" => Route::Anthropic { count_tokens: true },
            _ => return None,
        })
    }

    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Route::Stats
            | Route::Models
            | Route::OpenAi(_)
            | Route::Azure { .. }
            | Route::Responses { .. } => Dialect::OpenAi,
            Route::Anthropic { .. } => Dialect::Anthropic,
            Route::Gemini { .. } => Dialect::Gemini,
            Route::Ollama(_) => Dialect::Ollama,
            Route::Cohere(_) => Dialect::Cohere,
            Route::Bedrock { .. } => Dialect::Bedrock,
            Route::Token => Dialect::GoogleOAuth,
            Route::Rerank(RerankKind::CohereV1 | RerankKind::CohereV2) => Dialect::Cohere,
            Route::Rerank(RerankKind::Compat) => Dialect::OpenAi,
            Route::Rerank(RerankKind::Vertex) => Dialect::Gemini,
        }
    }

    /// The one method the route answers (`None`: any, for `/__mock/stats`).
    pub(crate) fn method(&self) -> Option<Method> {
        match self {
            Route::Stats => None,
            Route::Models | Route::Ollama(OllamaKind::Tags) => Some(Method::GET),
            _ => Some(Method::POST),
        }
    }

    /// The dialect's credential checks; `Err((status, message))` when they fail. OpenAI, Ollama
    /// and `/token` check nothing (the load harness sends whatever it likes). Bedrock checks the
    /// SigV4 header's shape only, never the signature.
    pub(crate) fn check_auth(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<(), (StatusCode, &'static str)> {
        let has = |name: &str| {
            headers
                .get(name)
                .is_some_and(|v| !v.as_bytes().trim_ascii().is_empty())
        };
        let bearer = || {
            headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split_once(' '))
                .is_some_and(|(scheme, token)| {
                    scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()
                })
        };
        match self {
            Route::Anthropic { .. } => {
                if !has("x-api-key") {
                    return Err((StatusCode::UNAUTHORIZED, "x-api-key header is required"));
                }
                if !has("anthropic-version") {
                    return Err((
                        StatusCode::BAD_REQUEST,
                        "anthropic-version: header is required",
                    ));
                }
            }
            Route::Gemini { vertex: false, .. }
                if !has("x-goog-api-key") && query_param(query, "key").is_none() =>
            {
                return Err((
                    StatusCode::FORBIDDEN,
                    "Method doesn't allow unregistered callers (callers without established \
                     identity). Please use API Key or other form of API consumer identity to \
                     call this API.",
                ));
            }
            Route::Gemini { vertex: true, .. } | Route::Rerank(RerankKind::Vertex) if !bearer() => {
                return Err((
                    StatusCode::UNAUTHORIZED,
                    "Request is missing required authentication credential. Expected OAuth 2 \
                     access token, login cookie or other valid authentication credential.",
                ));
            }
            Route::Azure { .. } | Route::Responses { azure: true } => {
                if query_param(query, "api-version").is_none() {
                    return Err((
                        StatusCode::BAD_REQUEST,
                        "Missing required query parameter: api-version",
                    ));
                }
                if !has("api-key") && !bearer() {
                    return Err((
                        StatusCode::UNAUTHORIZED,
                        "Access denied due to missing subscription key. Make sure to include \
                         subscription key when making requests to an API.",
                    ));
                }
            }
            Route::Cohere(_) | Route::Rerank(RerankKind::CohereV1 | RerankKind::CohereV2)
                if !bearer() =>
            {
                return Err((StatusCode::UNAUTHORIZED, "no api key supplied"));
            }
            Route::Bedrock { .. } => {
                let sigv4 = headers
                    .get("authorization")
                    .is_some_and(|v| v.as_bytes().starts_with(b"AWS4-HMAC-SHA256 Credential="));
                if !sigv4 || !has("x-amz-date") {
                    return Err((StatusCode::FORBIDDEN, "Missing Authentication Token"));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn gemini(model_method: &str, vertex: bool) -> Option<Route<'_>> {
    let (model, method) = model_method.rsplit_once(':')?;
    let method = match method {
        "generateContent" => GeminiMethod::Generate,
        "streamGenerateContent" => GeminiMethod::StreamGenerate,
        "batchEmbedContents" => GeminiMethod::BatchEmbed,
        "embedContent" => GeminiMethod::Embed,
        "countTokens" => GeminiMethod::CountTokens,
        "predict" => GeminiMethod::Predict,
        _ => return None,
    };
    (!model.is_empty() && !model.contains('/')).then_some(Route::Gemini {
        model,
        method,
        vertex,
    })
}

/// The value of query parameter `name`, when present and non-empty (not percent-decoded).
pub(crate) fn query_param<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v)
}

/// The error body of `dialect` for `status`. `kind` overrides the dialect's default error type
/// (OpenAI `type`, Anthropic `error.type`, Gemini `status`); `code` the OpenAI `code`.
pub(crate) fn error_body(
    dialect: Dialect,
    status: u16,
    message: &str,
    kind: Option<&str>,
    code: Option<&str>,
) -> Bytes {
    let v = match dialect {
        Dialect::OpenAi => {
            let (k, c) = render::error_kind(status);
            return render::error_body(message, kind.unwrap_or(k), code.or(c));
        }
        Dialect::Anthropic => {
            let kind = kind.unwrap_or(anthropic_error_type(status));
            return anthropic::error_body(kind, message);
        }
        Dialect::Gemini => json!({
            "error": {
                "code": status,
                "message": message,
                "status": kind.unwrap_or(gemini_status(status)),
            },
        }),
        Dialect::Ollama => json!({"error": message}),
        Dialect::Cohere | Dialect::Bedrock => json!({"message": message}),
        Dialect::GoogleOAuth => json!({
            "error": kind.unwrap_or(oauth_error(status)),
            "error_description": message,
        }),
    };
    Bytes::from(v.to_string())
}

/// Anthropic's documented `error.type` for an HTTP status.
pub(crate) fn anthropic_error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// The google.rpc.Code name Gemini puts in `error.status` for an HTTP status.
pub(crate) fn gemini_status(status: u16) -> &'static str {
    match status {
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        400..=499 => "INVALID_ARGUMENT",
        _ => "INTERNAL",
    }
}

/// Bedrock's exception name (the `x-amzn-errortype` header) for an HTTP status.
pub(crate) fn bedrock_error_type(status: u16) -> &'static str {
    match status {
        403 => "AccessDeniedException",
        404 => "ResourceNotFoundException",
        408 => "ModelTimeoutException",
        424 => "ModelErrorException",
        429 => "ThrottlingException",
        503 => "ServiceUnavailableException",
        400..=499 => "ValidationException",
        _ => "InternalServerException",
    }
}

/// The OAuth 2.0 `error` code for an HTTP status of the token endpoint.
pub(crate) fn oauth_error(status: u16) -> &'static str {
    match status {
        401 => "invalid_client",
        403 => "access_denied",
        429 => "rate_limit_exceeded",
        400..=499 => "invalid_request",
        503 => "temporarily_unavailable",
        _ => "server_error",
    }
}

/// The error kind of a failed [`Route::check_auth`] where the dialect names it apart from the
/// status (Bedrock's `x-amzn-errortype`).
pub(crate) fn auth_error_kind(dialect: Dialect) -> Option<&'static str> {
    (dialect == Dialect::Bedrock).then_some("MissingAuthenticationTokenException")
}

/// The error body of a forced failure (`status`, `fail_next`), with the plan's overrides.
pub(crate) fn forced_error_body(dialect: Dialect, plan: &Plan, status: u16) -> Bytes {
    let message = plan.error_message.map_or_else(
        || format!("mock provider: forced HTTP {status}"),
        str::to_owned,
    );
    error_body(dialect, status, &message, plan.error_type, plan.error_code)
}

/// A tool call's arguments as the JSON object Anthropic, Gemini and Ollama carry.
pub(crate) fn tool_args_object(tc: &MockToolCall) -> Result<Value, String> {
    match serde_json::from_str::<Value>(&tc.arguments) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(format!(
            "mock provider: tool_call.arguments must be a JSON object, got {:?}",
            tc.arguments
        )),
    }
}

#[cfg(test)]
#[path = "dialect_tests.rs"]
mod tests;
