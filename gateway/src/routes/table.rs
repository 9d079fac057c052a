//! The route table: which route a method + path is (`SERVED`, which `/routes` and
//! `/openapi.json` list too; the management routes have their own table, `admin::spec`).

use adapters::Endpoint;

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Llm(Endpoint),
    /// Anthropic Messages front door.
    Messages,
    /// Anthropic `count_tokens`.
    CountTokens,
    /// OpenAI Responses: `POST /responses`.
    Responses,
    /// `GET /responses/{response_id}`.
    ResponseGet,
    /// `DELETE /responses/{response_id}`.
    ResponseDelete,
    /// `GET /responses/{response_id}/input_items`.
    ResponseInputItems,
    Models,
    Liveness,
    Readiness,
    /// Deployment health checks (`/health`).
    Health,
    /// Prometheus exposition (`/metrics`).
    Metrics,
    /// `GET /`: name, version and routes.
    Root,
    /// `GET /routes`.
    Listing,
    /// `GET /openapi.json`.
    OpenApi,
    /// `GET /docs`: the page rendering `/openapi.json`.
    Docs,
    /// The LiteLLM management API (`/key/*`, `/team/*`, `/spend/*`, …).
    Admin,
    /// `/cache/ping`, `/cache/delete`, `/cache/flushall`, `/cache/redis/info` (master key).
    Cache(crate::routes::cache::Op),
    /// A known path with the wrong method.
    WrongMethod,
    NotFound,
}

/// Who may call a route of [`SERVED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Nobody needs a key.
    None,
    /// Any key (the master key or a virtual key).
    Key,
}

/// One route of [`SERVED`].
#[derive(Debug, Clone, Copy)]
pub struct Served {
    pub method: &'static str,
    pub path: &'static str,
    /// An OpenAI route: also served under `/v1` (the path here is without it).
    pub openai: bool,
    /// The path has `{parameter}` segments, each matching one non-empty segment.
    pub params: bool,
    pub route: Route,
    pub summary: &'static str,
    /// The OpenAPI tag.
    pub tag: &'static str,
    pub auth: Auth,
}

const fn served(
    method: &'static str,
    path: &'static str,
    openai: bool,
    route: Route,
    summary: &'static str,
    tag: &'static str,
    auth: Auth,
) -> Served {
    Served {
        method,
        path,
        openai,
        params: has_params(path),
        route,
        summary,
        tag,
        auth,
    }
}

/// Whether `path` has a `{parameter}` segment.
const fn has_params(path: &str) -> bool {
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'{' {
            return true;
        }
        i += 1;
    }
    false
}

/// Whether `path` fits `pattern`, whose `{…}` segments match any one non-empty segment.
fn fits(pattern: &str, path: &str) -> bool {
    let mut want = pattern.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') && !g.is_empty() => {}
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

/// Every route outside the management API.
pub const SERVED: &[Served] = &[
    served(
        "POST",
        "/chat/completions",
        true,
        Route::Llm(Endpoint::ChatCompletions),
        "Chat completions (OpenAI)",
        "openai",
        Auth::Key,
    ),
    served(
        "POST",
        "/completions",
        true,
        Route::Llm(Endpoint::Completions),
        "Legacy completions (OpenAI)",
        "openai",
        Auth::Key,
    ),
    served(
        "POST",
        "/embeddings",
        true,
        Route::Llm(Endpoint::Embeddings),
        "Embeddings (OpenAI)",
        "openai",
        Auth::Key,
    ),
    served(
        "GET",
        "/models",
        true,
        Route::Models,
        "The model groups the key may use (include_model_access_groups, only_model_access_groups)",
        "openai",
        Auth::Key,
    ),
    served(
        "POST",
        "/messages",
        true,
        Route::Messages,
        "Messages (Anthropic)",
        "anthropic",
        Auth::Key,
    ),
    served(
        "POST",
        "/messages/count_tokens",
        true,
        Route::CountTokens,
        "Token count (Anthropic)",
        "anthropic",
        Auth::Key,
    ),
    served(
        "POST",
        "/responses",
        true,
        Route::Responses,
        "Responses (OpenAI): passed through to OpenAI and Azure deployments, bridged to chat completions for the others",
        "openai",
        Auth::Key,
    ),
    served(
        "GET",
        "/responses/{response_id}",
        true,
        Route::ResponseGet,
        "A stored response (the key that created it, or the master key)",
        "openai",
        Auth::Key,
    ),
    served(
        "DELETE",
        "/responses/{response_id}",
        true,
        Route::ResponseDelete,
        "Delete a stored response",
        "openai",
        Auth::Key,
    ),
    served(
        "GET",
        "/responses/{response_id}/input_items",
        true,
        Route::ResponseInputItems,
        "The input items of a stored response, history included (order, limit, after)",
        "openai",
        Auth::Key,
    ),
    // ── media: images (the media rows stay together here) ──
    served(
        "POST",
        "/images/generations",
        true,
        Route::Llm(Endpoint::ImageGenerations),
        "Image generation (OpenAI; OpenAI-compatible and Azure OpenAI deployments)",
        "openai",
        Auth::Key,
    ),
    served(
        "GET",
        "/health",
        false,
        Route::Health,
        "Deployment health checks (healthy_endpoints / unhealthy_endpoints)",
        "health",
        Auth::Key,
    ),
    served(
        "GET",
        "/health/liveliness",
        false,
        Route::Liveness,
        "The process serves",
        "health",
        Auth::None,
    ),
    served(
        "GET",
        "/health/liveness",
        false,
        Route::Liveness,
        "The process serves",
        "health",
        Auth::None,
    ),
    served(
        "GET",
        "/health/readiness",
        false,
        Route::Readiness,
        "Ready for traffic (503 while draining)",
        "health",
        Auth::None,
    ),
    served(
        "GET",
        "/cache/ping",
        false,
        Route::Cache(crate::routes::cache::Op::Ping),
        "Whether the response cache answers (master key)",
        "cache",
        Auth::Key,
    ),
    served(
        "POST",
        "/cache/delete",
        false,
        Route::Cache(crate::routes::cache::Op::Delete),
        "Delete response cache entries: {\"keys\": [...]} (master key)",
        "cache",
        Auth::Key,
    ),
    served(
        "POST",
        "/cache/flushall",
        false,
        Route::Cache(crate::routes::cache::Op::Flush),
        "Empty the response cache (its namespace in Redis; master key)",
        "cache",
        Auth::Key,
    ),
    served(
        "GET",
        "/cache/redis/info",
        false,
        Route::Cache(crate::routes::cache::Op::RedisInfo),
        "Redis INFO of the response cache (master key)",
        "cache",
        Auth::Key,
    ),
    served(
        "GET",
        "/metrics",
        false,
        Route::Metrics,
        "Prometheus metrics",
        "health",
        Auth::None,
    ),
    served(
        "GET",
        "/",
        false,
        Route::Root,
        "Name, version and routes",
        "about",
        Auth::None,
    ),
    served(
        "GET",
        "/routes",
        false,
        Route::Listing,
        "Every route",
        "about",
        Auth::None,
    ),
    served(
        "GET",
        "/openapi.json",
        false,
        Route::OpenApi,
        "This OpenAPI document",
        "about",
        Auth::None,
    ),
    served(
        "GET",
        "/docs",
        false,
        Route::Docs,
        "A page rendering the OpenAPI document",
        "about",
        Auth::None,
    ),
];

/// Classifies a request by method and path; `/v1` is optional on every OpenAI route.
pub fn classify(method: &str, path: &str) -> Route {
    let trimmed = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let openai = trimmed
        .strip_prefix("/v1")
        .filter(|p| p.starts_with('/'))
        .unwrap_or(trimmed);
    let matching = |s: &&Served| {
        let path = if s.openai { openai } else { trimmed };
        s.path == path || (s.params && fits(s.path, path))
    };
    let mut known = false;
    for s in SERVED.iter().filter(matching) {
        if s.method == method {
            return s.route;
        }
        known = true;
    }
    if known {
        Route::WrongMethod
    } else if crate::admin::is_admin_path(trimmed) {
        Route::Admin
    } else {
        Route::NotFound
    }
}
