//! The media routes (docs/media.md): audio transcriptions and translations and image edits —
//! multipart uploads streamed to the provider, never held whole (`upload.rs`) — and speech,
//! JSON in and audio streamed back as it arrives (`answer.rs`). Each is admitted like any LLM
//! request (key, model access, limits, budgets with the worst case reserved: `Ask::worst`),
//! routed and retried by the lifecycle's plan where the body can be replayed (`attempt.rs`),
//! and priced from the price table (`Ask::cost`, `pricing::audio`; image edits as image
//! generation). Only OpenAI-compatible and Azure OpenAI deployments serve them
//! (`adapters::dialect::media_request`).

pub mod answer;
pub mod ask;
pub mod attempt;
pub mod multipart;
pub mod upload;
pub mod wav;

use std::sync::Arc;

use adapters::{ApiError, CanonicalRequest, Endpoint};
use pingora::proxy::Session;
use serde_json::{Map, Value};

use crate::ctx::RequestCtx;
use crate::error::GatewayError;
use crate::lifecycle::front::{self, Request};
use crate::lifecycle::{admit, auth, route};
use crate::reply::{self, Served};
use crate::runtime::Runtime;
use crate::state::AppState;
pub use ask::{Ask, Door, Op};
use upload::Upload;

/// The client's request as read: the canonical view admission and routing go by, and the
/// upload (multipart routes) or the JSON body (speech).
pub(crate) struct Read {
    pub request: Request,
    pub upload: Option<Upload>,
    /// How the upload's `model` field is set for each deployment.
    pub model_field: Option<upload::ModelEdit>,
}

/// A 400 `invalid_request_error`.
pub(crate) fn invalid(message: impl Into<String>, param: Option<&'static str>) -> GatewayError {
    let mut e = ApiError::new(400, "invalid_request_error", message);
    if let Some(p) = param {
        e = e.with_param(p);
    }
    GatewayError::Invalid(e)
}

/// Serves one media request end to end; every outcome is written to the client here.
pub async fn serve(state: &Arc<AppState>, session: &mut Session, ctx: &mut RequestCtx, door: Door) {
    ctx.call_type = door.op.call_type();
    let runtime = state.runtime();
    let mut upload_done = true;
    let result = run(state, &runtime, session, ctx, door, &mut upload_done).await;
    if result.is_ok() && !upload_done {
        // A provider that answered before taking the whole upload: the rest is unread.
        session.set_keepalive(None);
    }
    if let Err(e) = result {
        let unreadable = matches!(
            e,
            GatewayError::TooLarge { .. } | GatewayError::BodyTimeout | GatewayError::BodyRead(_)
        );
        if !upload_done
            && (unreadable
                || !upload::drain(session, runtime.config.general.max_request_bytes()).await)
        {
            // Part of the upload is still unread: the connection cannot carry another request.
            session.set_keepalive(None);
        }
        reply::fail(session, ctx, e, Served::Llm).await;
    }
}

async fn run(
    state: &Arc<AppState>,
    runtime: &Runtime,
    session: &mut Session,
    ctx: &mut RequestCtx,
    door: Door,
    upload_done: &mut bool,
) -> Result<(), GatewayError> {
    // 1. auth.
    let caller = auth::authenticate(&state.control, runtime, session.req_header())?;
    crate::observe::on_caller(ctx, &caller);
    // 2. the request read (a multipart upload up to its head), then admission.
    let path_model = if door.azure {
        let path = session.req_header().uri.path();
        Some(
            front::deployment_of(path, door.op.path()).ok_or_else(|| GatewayError::NotFound {
                method: "POST".into(),
                path: path.to_string(),
            })?,
        )
    } else {
        None
    };
    let max = runtime.config.general.max_request_bytes();
    let mut read = if door.op == Op::Speech {
        read_speech(session, ctx, path_model, max).await?
    } else {
        *upload_done = false;
        read_multipart(session, ctx, door.op, path_model, max).await?
    };
    *upload_done = read.upload.as_ref().is_none_or(Upload::done);
    let admitted = admit::control(
        state,
        runtime,
        session,
        ctx,
        caller,
        &mut read.request.view,
        None,
    )
    .await;
    if let Err(e) = admitted {
        crate::observe::on_refused(ctx, &read.request.view.model);
        return Err(e);
    }
    ctx.model_group = Some(read.request.view.model.clone());
    // 3. route: the group and the fallback chain; 4–5. attempts, the answer relayed.
    let plan = route::plan(runtime, session, ctx, &mut read.request)?;
    let r = attempt::run(state, runtime, session, ctx, &mut read, door.op, plan).await;
    *upload_done = read.upload.as_ref().is_none_or(Upload::done);
    r
}

/// Speech: the JSON body (under the size cap), its `model` (or the Azure path's) and `input`.
async fn read_speech(
    session: &mut Session,
    ctx: &mut RequestCtx,
    path_model: Option<String>,
    max: usize,
) -> Result<Read, GatewayError> {
    let body = admit::read_body(session, max).await?;
    ctx.body_bytes = body.len();
    // Read as an embeddings body: `model` and a required `input`, nothing streamed.
    let view = CanonicalRequest::parse_for(Endpoint::Embeddings, &body, path_model.as_deref())?;
    let characters = match view.body.get("input") {
        Some(Value::String(s)) => s.chars().count() as u64,
        _ => return Err(invalid("'input' must be a string", Some("input"))),
    };
    let mut ask = Ask::new(Op::Speech);
    ask.characters = characters;
    ctx.media = Some(Box::new(ask));
    Ok(Read {
        request: Request { view, door: None },
        upload: None,
        model_field: None,
    })
}

/// A multipart route: the upload's head, its fields before the file, the model group (the
/// `model` field, or the Azure path's), and the canonical view of the fields admission reads.
async fn read_multipart(
    session: &mut Session,
    ctx: &mut RequestCtx,
    op: Op,
    path_model: Option<String>,
    max: usize,
) -> Result<Read, GatewayError> {
    let content_type = session
        .req_header()
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(boundary) = multipart::boundary(content_type) else {
        return Err(invalid(
            format!(
                "{} takes a multipart/form-data body (with a boundary); got content-type {content_type:?}",
                op.path()
            ),
            None,
        ));
    };
    let upload = Upload::read_head(session, &boundary, max).await?;
    let s = &upload.scanner;
    let head = &upload.head[..];
    let model_field = match (s.field("model"), s.first) {
        (Some(r), _) => Some(upload::ModelEdit::Replace(r)),
        (None, Some(at)) => Some(upload::ModelEdit::Insert {
            at,
            boundary: boundary.clone(),
        }),
        (None, None) => None,
    };
    let model = match (&path_model, s.text(head, "model")) {
        (Some(m), _) => m.clone(),
        (None, Some(m)) if !m.trim().is_empty() => m.trim().to_string(),
        (None, _) if upload.whole || s.closed() => {
            return Err(invalid(
                "Missing required parameter: 'model'",
                Some("model"),
            ))
        }
        (None, _) => {
            return Err(invalid(
                format!(
                    "the 'model' field must come within the first {} MiB of the multipart body \
                     (send it before the file, as the OpenAI SDKs do)",
                    upload::HEAD_BYTES >> 20
                ),
                Some("model"),
            ))
        }
    };
    let file_name = if op == Op::ImageEdits {
        "image"
    } else {
        "file"
    };
    let has_file = s
        .parts
        .iter()
        .any(|p| p.filename.is_some() || p.name == file_name || p.name == "image[]");
    if !has_file && (upload.whole || s.closed()) {
        return Err(invalid(
            format!("Missing required parameter: '{file_name}'"),
            Some(if op == Op::ImageEdits {
                "image"
            } else {
                "file"
            }),
        ));
    }
    // The text fields admission reads; the token estimate is theirs (a prompt), not the file's.
    let mut body = Map::new();
    body.insert("model".into(), Value::String(model.clone()));
    let keep: &[&str] = match op {
        Op::ImageEdits => &["prompt", "n", "size", "quality", "user"],
        _ => &["user"],
    };
    for name in keep {
        if let Some(v) = s.text(head, name) {
            let v = match *name {
                "n" => v
                    .trim()
                    .parse::<u64>()
                    .map(Value::from)
                    .map_err(|_| invalid("'n' must be a whole number", Some("n")))?,
                _ => Value::String(v.to_string()),
            };
            body.insert((*name).into(), v);
        }
    }
    ctx.body_bytes = s.text_bytes();
    let endpoint = if op == Op::ImageEdits {
        let text = |k: &str| s.text(head, k).map(str::to_string);
        ctx.images = Some(Box::new(crate::ctx::ImageAsk {
            size: text("size"),
            quality: text("quality"),
            made: 0,
        }));
        // Priced and reserved as image generation (size, quality, n).
        Endpoint::ImageGenerations
    } else {
        let mut ask = Ask::new(op);
        ask.upload_bytes = upload.size_bound() as u64;
        ask.header_secs = s
            .file()
            .filter(|_| op.audio_in())
            .and_then(|f| wav::duration(&head[f.start..]));
        ctx.media = Some(Box::new(ask));
        Endpoint::Embeddings
    };
    let view = CanonicalRequest {
        endpoint,
        model,
        stream: false,
        include_usage: false,
        body,
    };
    Ok(Read {
        request: Request { view, door: None },
        upload: Some(upload),
        model_field,
    })
}
