//! The route table: which route a method + path is (`SERVED`, which `/routes` and
//! `/openapi.json` list too; the management routes have their own table, `admin::spec`).

use adapters::Endpoint;

use crate::batches::Op as FileOp;
use crate::media::ask::{Door, Op};

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Llm(Endpoint),
    /// Azure OpenAI's shape, `/openai/deployments/{model:path}/…`: the model group is the path's.
    Deployment(Endpoint),
    /// Audio transcriptions, translations and speech, image edits (`media`), also in Azure's
    /// shape.
    Media(Door),
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
    /// `/files…` and `/batches…` (OpenAI's, and Azure's under `/openai/`): `crate::batches`.
    Files(FileOp),
    /// A provider's own API under its pass-through prefix (`/anthropic/*`, `/gemini/*`, …;
    /// `adapters::passthrough::ROUTES`), any method.
    PassThrough(adapters::provider::Provider),
    /// The admin web UI's page and files: `/ui` and `/ui/...` (`routes::ui`).
    Ui,
    /// `/ui/login`, `/ui/logout`, `/ui/session`: the admin UI's login session.
    UiSession(crate::routes::ui_session::Op),
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

impl Served {
    /// The path as `/routes` and `/openapi.json` list it: under `/v1` for an OpenAI route, and
    /// a `{name:path}` segment written `{name}` (OpenAPI has no multi-segment parameter).
    pub fn listed_path(&self) -> String {
        let path = self.path.replace(":path}", "}");
        if self.openai {
            format!("/v1{path}")
        } else {
            path
        }
    }
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

/// A media route (`media`): under `/v1` too, unless it is the Azure-style door.
const fn media(path: &'static str, op: Op, azure: bool, summary: &'static str) -> Served {
    served(
        "POST",
        path,
        !azure,
        Route::Media(Door { op, azure }),
        summary,
        "openai",
        Auth::Key,
    )
}

/// A files or batches route (`batches`): under `/v1` too, unless it is Azure's `/openai/…`.
const fn files(
    method: &'static str,
    path: &'static str,
    op: FileOp,
    azure: bool,
    summary: &'static str,
) -> Served {
    served(
        method,
        path,
        !azure,
        Route::Files(op),
        summary,
        "openai",
        Auth::Key,
    )
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

/// Whether `path` fits `pattern`, whose `{…}` segments match any one non-empty segment, and
/// whose one `{…:path}` segment (LiteLLM's `{model:path}`) matches one or more.
fn fits(pattern: &str, path: &str) -> bool {
    if let Some(at) = pattern.find(":path}") {
        let open = pattern[..at].rfind('{').unwrap_or(0);
        let (head, tail) = (&pattern[..open], &pattern[at + ":path}".len()..]);
        let Some(middle) = path
            .strip_prefix(head)
            .and_then(|rest| rest.len().checked_sub(tail.len()).map(|n| &rest[..n]))
        else {
            return false;
        };
        let rest = &path[head.len() + middle.len()..];
        return !middle.is_empty()
            && middle.split('/').all(|s| !s.is_empty())
            && segments_fit(tail, rest);
    }
    segments_fit(pattern, path)
}

fn segments_fit(pattern: &str, path: &str) -> bool {
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
        "POST",
        "/openai/deployments/{model:path}/chat/completions",
        false,
        Route::Deployment(Endpoint::ChatCompletions),
        "Chat completions, Azure OpenAI style (`AzureOpenAI` clients): the model group is the deployment; `api-version` is accepted and ignored",
        "openai",
        Auth::Key,
    ),
    served(
        "POST",
        "/openai/deployments/{model:path}/completions",
        false,
        Route::Deployment(Endpoint::Completions),
        "Legacy completions, Azure OpenAI style (`AzureOpenAI` clients): the model group is the deployment; `api-version` is accepted and ignored",
        "openai",
        Auth::Key,
    ),
    served(
        "POST",
        "/openai/deployments/{model:path}/embeddings",
        false,
        Route::Deployment(Endpoint::Embeddings),
        "Embeddings, Azure OpenAI style (`AzureOpenAI` clients): the model group is the deployment; `api-version` is accepted and ignored",
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
        "POST",
        "/openai/deployments/{model:path}/images/generations",
        false,
        Route::Deployment(Endpoint::ImageGenerations),
        "Image generation, Azure OpenAI style (`AzureOpenAI` clients): the model group is the deployment; `api-version` is accepted and ignored",
        "openai",
        Auth::Key,
    ),
    // ── rerank and moderations ──
    served(
        "POST",
        "/rerank",
        true,
        Route::Llm(Endpoint::Rerank),
        "Rerank (Cohere's API): Cohere, Bedrock, Vertex AI and OpenAI-compatible rerank servers (vLLM, Jina, Infinity)",
        "openai",
        Auth::Key,
    ),
    served(
        "POST",
        "/v2/rerank",
        false,
        Route::Llm(Endpoint::Rerank),
        "Rerank under Cohere's v2 path (the same API as /v1/rerank)",
        "openai",
        Auth::Key,
    ),
    served(
        "POST",
        "/moderations",
        true,
        Route::Llm(Endpoint::Moderations),
        "Moderations (OpenAI; OpenAI-compatible and Azure OpenAI deployments); general_settings.moderation_model names the group",
        "openai",
        Auth::Key,
    ),
    // ── files and batches (docs/batches.md) ──
    files("POST", "/files", FileOp::FileUpload, false, "Upload a file (multipart; purpose=batch: one model per file, checked against the key's access, sent to one of its OpenAI/Azure deployments)"),
    files("GET", "/files", FileOp::FileList, false, "The key's files (purpose, limit, after)"),
    files("GET", "/files/{file_id}", FileOp::FileGet, false, "A file of the key's"),
    files("DELETE", "/files/{file_id}", FileOp::FileDelete, false, "Delete a file of the key's"),
    files("GET", "/files/{file_id}/content", FileOp::FileContent, false, "A file's content (a batch's output or error file included)"),
    files("POST", "/batches", FileOp::BatchCreate, false, "Create a batch from a file of the key's (budgets checked; spend recorded when it completes)"),
    files("GET", "/batches", FileOp::BatchList, false, "The key's batches, as last retrieved (limit, after)"),
    files("GET", "/batches/{batch_id}", FileOp::BatchGet, false, "A batch of the key's (records its spend once it is completed)"),
    files("POST", "/batches/{batch_id}/cancel", FileOp::BatchCancel, false, "Cancel a batch of the key's"),
    files("POST", "/openai/files", FileOp::FileUpload, true, "Upload a file (multipart; purpose=batch: one model per file, checked against the key's access, sent to one of its OpenAI/Azure deployments), Azure OpenAI style (`api-version` accepted)"),
    files("GET", "/openai/files", FileOp::FileList, true, "The key's files (purpose, limit, after), Azure OpenAI style (`api-version` accepted)"),
    files("GET", "/openai/files/{file_id}", FileOp::FileGet, true, "A file of the key's, Azure OpenAI style (`api-version` accepted)"),
    files("DELETE", "/openai/files/{file_id}", FileOp::FileDelete, true, "Delete a file of the key's, Azure OpenAI style (`api-version` accepted)"),
    files("GET", "/openai/files/{file_id}/content", FileOp::FileContent, true, "A file's content (a batch's output or error file included), Azure OpenAI style (`api-version` accepted)"),
    files("POST", "/openai/batches", FileOp::BatchCreate, true, "Create a batch from a file of the key's (budgets checked; spend recorded when it completes), Azure OpenAI style (`api-version` accepted)"),
    files("GET", "/openai/batches", FileOp::BatchList, true, "The key's batches, as last retrieved (limit, after), Azure OpenAI style (`api-version` accepted)"),
    files("GET", "/openai/batches/{batch_id}", FileOp::BatchGet, true, "A batch of the key's (records its spend once it is completed), Azure OpenAI style (`api-version` accepted)"),
    files("POST", "/openai/batches/{batch_id}/cancel", FileOp::BatchCancel, true, "Cancel a batch of the key's, Azure OpenAI style (`api-version` accepted)"),
    // ── media: audio and image edits (media::) ──
    media("/audio/transcriptions", Op::Transcriptions, false, "Audio transcription (OpenAI; multipart upload streamed to OpenAI-compatible and Azure OpenAI deployments)"),
    media("/openai/deployments/{model:path}/audio/transcriptions", Op::Transcriptions, true, "Audio transcription, Azure OpenAI style (`AzureOpenAI` clients): the model group is the deployment; `api-version` is accepted and ignored"),
    media("/audio/translations", Op::Translations, false, "Audio translation to English (OpenAI; multipart upload streamed to OpenAI-compatible and Azure OpenAI deployments)"),
    media("/openai/deployments/{model:path}/audio/translations", Op::Translations, true, "Audio translation to English, Azure OpenAI style (`AzureOpenAI` clients): the model group is the deployment; `api-version` is accepted and ignored"),
    media("/audio/speech", Op::Speech, false, "Text to speech (OpenAI; the audio streamed back as it arrives)"),
    media("/openai/deployments/{model:path}/audio/speech", Op::Speech, true, "Text to speech, Azure OpenAI style (`AzureOpenAI` clients): the model group is the deployment; `api-version` is accepted and ignored"),
    media("/images/edits", Op::ImageEdits, false, "Image edits (OpenAI; multipart upload streamed, priced as image generation)"),
    media("/openai/deployments/{model:path}/images/edits", Op::ImageEdits, true, "Image edits, Azure OpenAI style (`AzureOpenAI` clients): the model group is the deployment; `api-version` is accepted and ignored"),
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
        "POST",
        "/ui/login",
        false,
        Route::UiSession(crate::routes::ui_session::Op::Login),
        "Admin UI: log in with a key; sets the HttpOnly session cookie (docs/ui-api.md)",
        "admin UI",
        Auth::None,
    ),
    served(
        "POST",
        "/ui/logout",
        false,
        Route::UiSession(crate::routes::ui_session::Op::Logout),
        "Admin UI: end the session (x-csrf-token required)",
        "admin UI",
        Auth::None,
    ),
    served(
        "GET",
        "/ui/session",
        false,
        Route::UiSession(crate::routes::ui_session::Op::Current),
        "Admin UI: the session's role and CSRF token, or 401",
        "admin UI",
        Auth::None,
    ),
    served(
        "GET",
        "/ui",
        false,
        Route::Ui,
        "The admin web UI (every /ui/... path is one of its pages; docs/ui.md)",
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
        // The first character of the first segment rules out most routes before `fits`
        // (which splits both paths) runs; a pattern opening with a parameter is always tried.
        let (want, got) = (s.path.as_bytes().get(1), path.as_bytes().get(1));
        (want == got || want == Some(&b'{')) && (s.path == path || (s.params && fits(s.path, path)))
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
    } else if let Some((provider, _)) = adapters::passthrough::route_of(trimmed) {
        Route::PassThrough(provider)
    } else if crate::routes::ui::is_ui_path(trimmed) {
        // Below /ui (deep links, built files), after the exact routes: the UI's session
        // routes (/ui/login, …) are in SERVED and win.
        Route::Ui
    } else if crate::admin::is_admin_path(trimmed) {
        Route::Admin
    } else {
        Route::NotFound
    }
}
