//! Gateway errors: everything that ends a request early, and the client error (`ApiError`,
//! OpenAI-shaped) each one is. `reply.rs` writes it.

use adapters::ApiError;

/// Everything that ends a request early, each mapped to one OpenAI-shaped client error.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("Authentication Error, No api key passed in.")]
    MissingKey,
    #[error("Authentication Error, Invalid proxy server token passed.")]
    InvalidKey,
    #[error("{0}")]
    BadRequest(#[from] adapters::RequestError),
    #[error("Request size is too large. Request size is {size_mb:.2} MB. Max size is {max_mb} MB")]
    TooLarge { size_mb: f64, max_mb: f64 },
    #[error("Invalid model name passed in model={model}. Available model groups: {available}. Call `/v1/models` to view available models for your key.")]
    UnknownModel { model: String, available: String },
    #[error("Route not found: {method} {path}")]
    NotFound { method: String, path: String },
    #[error("Method {method} not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    #[error("Could not reach the upstream provider for model group {group}: {detail}")]
    UpstreamUnreachable { group: String, detail: String },
    #[error("The upstream provider for model group {group} did not answer within {secs:.1}s")]
    UpstreamTimeout { group: String, secs: f64 },
    #[error("The upstream provider for model group {group} sent an invalid response: {detail}")]
    UpstreamProtocol { group: String, detail: String },
    /// The provider answered with an error; relayed with its status and message.
    #[error("{}", .0.message)]
    Upstream(ApiError),
    #[error("Timed out reading the request body")]
    BodyTimeout,
    #[error("Could not read the request body: {0}")]
    BodyRead(String),
    #[error("No deployments available for model group {group}: all {deployments} are cooling down after failures; retry in {} s", retry_after.as_secs().max(1))]
    AllCooling {
        group: String,
        deployments: usize,
        retry_after: std::time::Duration,
    },
    #[error(
        "Deployment {deployment} of model group {group} is at its max_parallel_requests ({limit})"
    )]
    AtCapacity {
        group: String,
        deployment: String,
        limit: usize,
    },
    /// No deployment of the group can hold the prompt (pre-call check).
    #[error("{}", .0.message)]
    ContextTooSmall(ApiError),
    #[error("No deployment of model group {group} carries any of the request's tags ({tags})")]
    NoTaggedDeployment { group: String, tags: String },
    /// No deployment of the group is in the end user's `allowed_model_region`: LiteLLM's
    /// "No deployments available" 429.
    #[error("No deployments available for selected model, Try again in 0 seconds. Passed model={group}. No deployment of model group {group} is in region {region}, the end user's allowed_model_region")]
    NoRegionDeployment { group: String, region: &'static str },
    /// A request the adapters refused (bad field, parameter the provider cannot take).
    #[error("{}", .0.message)]
    Invalid(ApiError),
    /// The key may not make this request (blocked, expired, model not allowed): 401.
    #[error("{0}")]
    Denied(String),
    /// A key, team, user or organization `models` list does not allow the model: 401, type
    /// `key_model_access_denied` (`team_`, `user_`, `org_`), param `model`, as LiteLLM answers.
    #[error("{message}")]
    ModelAccessDenied {
        error_type: &'static str,
        message: String,
    },
    /// The caller is known but not allowed (blocked end user, admin-only route): 403.
    #[error("{0}")]
    Forbidden(String),
    /// A budget would be exceeded: 400 `budget_exceeded`, as LiteLLM answers.
    #[error("{0}")]
    BudgetExceeded(String),
    /// The budget is not used up, but this request's worst case does not fit what is left:
    /// 400 `invalid_request_error`, param `max_tokens`, code `budget_insufficient`.
    #[error("{0}")]
    BudgetInsufficient(String),
    /// A key, team, user or end user rate limit: 429 with `retry-after`.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_s: u64,
        limit_header: &'static str,
        limit: u64,
    },
    /// State needed to enforce limits is unavailable (Redis down, fail-closed): 503.
    #[error("{0}")]
    StateUnavailable(String),
    /// A guardrail refused the request or the response (400, LiteLLM's "Violated guardrail
    /// policy"), or could not check it and fails closed (503).
    #[error("Violated guardrail policy (guardrail {name}): {reason}")]
    Guardrail {
        status: u16,
        name: String,
        reason: String,
    },
    /// The client's address has `max_connections_per_ip` connections open: 429, then close.
    #[error("Too many open connections from your address (limit {limit}); reuse or close idle connections and retry")]
    TooManyConnections { limit: usize },
}

impl GatewayError {
    /// The client-visible error.
    pub fn to_api_error(&self) -> ApiError {
        let msg = self.to_string();
        match self {
            GatewayError::MissingKey | GatewayError::InvalidKey => {
                ApiError::new(401, "auth_error", msg).with_code("401")
            }
            GatewayError::BadRequest(e) => {
                let err = ApiError::new(400, "invalid_request_error", msg).with_code("400");
                match e.param {
                    Some(p) => err.with_param(p),
                    None => err,
                }
            }
            GatewayError::TooLarge { .. } => {
                ApiError::new(413, "invalid_request_error", msg).with_code("413")
            }
            GatewayError::UnknownModel { .. } => ApiError::new(400, "invalid_request_error", msg)
                .with_param("model")
                .with_code("model_not_found"),
            GatewayError::NotFound { .. } => {
                ApiError::new(404, "invalid_request_error", msg).with_code("404")
            }
            GatewayError::MethodNotAllowed { .. } => {
                ApiError::new(405, "invalid_request_error", msg).with_code("405")
            }
            GatewayError::UpstreamUnreachable { .. } | GatewayError::UpstreamProtocol { .. } => {
                ApiError::new(502, "api_error", msg).with_code("502")
            }
            GatewayError::UpstreamTimeout { .. } => {
                ApiError::new(504, "timeout", msg).with_code("504")
            }
            GatewayError::Upstream(e)
            | GatewayError::Invalid(e)
            | GatewayError::ContextTooSmall(e) => e.clone(),
            GatewayError::NoTaggedDeployment { .. } => {
                ApiError::new(400, "invalid_request_error", msg)
                    .with_param("tags")
                    .with_code("400")
            }
            GatewayError::AllCooling { .. }
            | GatewayError::AtCapacity { .. }
            | GatewayError::NoRegionDeployment { .. } => {
                ApiError::new(429, "rate_limit_error", msg).with_code("429")
            }
            GatewayError::BodyTimeout => {
                ApiError::new(408, "invalid_request_error", msg).with_code("408")
            }
            GatewayError::BodyRead(_) => {
                ApiError::new(400, "invalid_request_error", msg).with_code("400")
            }
            GatewayError::Denied(_) => ApiError::new(401, "auth_error", msg).with_code("401"),
            GatewayError::ModelAccessDenied { error_type, .. } => {
                ApiError::new(401, error_type, msg)
                    .with_param("model")
                    .with_code("401")
            }
            GatewayError::Forbidden(_) => {
                ApiError::new(403, "permission_error", msg).with_code("403")
            }
            GatewayError::BudgetExceeded(_) => {
                ApiError::new(400, "budget_exceeded", msg).with_code("400")
            }
            GatewayError::BudgetInsufficient(_) => ApiError::new(400, "invalid_request_error", msg)
                .with_param("max_tokens")
                .with_code("budget_insufficient"),
            GatewayError::RateLimited { .. } => {
                ApiError::new(429, "rate_limit_error", msg).with_code("429")
            }
            GatewayError::StateUnavailable(_) => {
                ApiError::new(503, "service_unavailable", msg).with_code("503")
            }
            GatewayError::TooManyConnections { .. } => {
                ApiError::new(429, "rate_limit_error", msg).with_code("429")
            }
            GatewayError::Guardrail { status: 400, .. } => {
                ApiError::new(400, "invalid_request_error", msg).with_code("400")
            }
            GatewayError::Guardrail { status, .. } => {
                ApiError::new(*status, "service_unavailable", msg).with_code(status.to_string())
            }
        }
    }
}

/// A complete HTTP/1.1 response refusing a connection before any request was read (so there
/// is no session to write through), closing it: `e`'s OpenAI-shaped error.
pub fn connection_refusal(e: &GatewayError) -> Vec<u8> {
    let err = e.to_api_error();
    let body = err.to_json();
    let reason = http::StatusCode::from_u16(err.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let mut out = format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
        err.status,
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_ref());
    out
}
