//! `POST /v1/files`: the multipart upload, held under `max_request_size_mb`. A `purpose=batch`
//! file is checked line by line (`adapters::files::jsonl`: one model, lines under
//! [`MAX_LINE`]), the key's access to that model admitted (403 naming it), a deployment of its
//! group that serves files picked, every line's `body.model` rewritten to that deployment's
//! model, and the form sent on to the deployment with its credential. A file of another purpose
//! names its model group in `target_model_names` (LiteLLM's field). The provider's file object
//! is answered, and recorded with its owner and deployment.

use std::sync::Arc;

use adapters::files::{jsonl, multipart};
use bytes::Bytes;
use pingora::proxy::Session;
use serde_json::Value;
use store::BatchFile;

use super::{invalid, Answer, Call, Db};
use crate::control::enforce::Caller;
use crate::ctx::RequestCtx;
use crate::deployment::DeploymentRt;
use crate::error::GatewayError;
use crate::runtime::Runtime;
use crate::state::AppState;

/// The longest line of a batch input file (OpenAI's own limit per request is far below it).
pub const MAX_LINE: usize = 4 << 20;
/// Parts a form may have.
const MAX_PARTS: usize = 16;

pub(super) async fn serve(
    state: &Arc<AppState>,
    runtime: &Runtime,
    session: &mut Session,
    ctx: &mut RequestCtx,
    caller: Caller,
) -> Answer {
    let content_type = session
        .req_header()
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(boundary) = multipart::boundary(content_type) else {
        return Err(invalid(
            400,
            "a file upload is multipart/form-data (with a boundary)".into(),
        ));
    };
    let body =
        crate::lifecycle::admit::read_body(session, runtime.config.general.max_request_bytes())
            .await?
            .freeze();
    ctx.body_bytes = body.len();
    let parts = multipart::parse(&body, &boundary, MAX_PARTS)
        .map_err(|e| invalid(400, format!("the upload is not a valid form: {e}")))?;
    let field = |name: &str| {
        parts
            .iter()
            .find(|p| p.name == name && p.filename.is_none())
    };
    let Some(purpose) = field("purpose").map(multipart::Part::text) else {
        return Err(invalid(400, "purpose is required".into()));
    };
    let Some(file) = parts.iter().position(|p| p.name == "file") else {
        return Err(invalid(400, "file is required".into()));
    };
    let target = field("target_model_names").map(|p| p.text().trim().to_string());
    let (model, rewrite) = if purpose == "batch" {
        let input = jsonl::inspect(parts[file].data, MAX_LINE).map_err(GatewayError::Invalid)?;
        if let Some(t) = target.as_deref().filter(|t| *t != input.model) {
            return Err(invalid(
                400,
                format!(
                    "target_model_names is {t:?} but the batch file's requests name model {:?}",
                    input.model
                ),
            ));
        }
        (input.model, true)
    } else {
        match target.filter(|t| !t.is_empty() && !t.contains(',')) {
            Some(t) => (t, false),
            None => {
                return Err(invalid(
                    400,
                    format!(
                        "a file with purpose {purpose:?} names the one model it is for in \
                         target_model_names (a batch file's model is read from its lines)"
                    ),
                ))
            }
        }
    };
    let (group, wildcard) =
        super::admit(state, runtime, session, ctx, caller.clone(), &model).await?;
    let dep = pick(runtime, &group)?;
    ctx.served_by = Some(dep.clone());
    ctx.cost = Some(0.0);
    // The form as sent on: the file's lines name the deployment's model; our own field stays
    // here.
    let upstream_model =
        crate::deployment::upstream_model(&dep.conf.model, wildcard.as_deref()).into_owned();
    let rewritten = rewrite.then(|| jsonl::rewrite_model(parts[file].data, &upstream_model));
    let mut out: Vec<multipart::Part<'_>> = Vec::with_capacity(parts.len());
    for (i, p) in parts.iter().enumerate() {
        if p.name == "target_model_names" {
            continue;
        }
        let mut p = p.clone();
        if i == file {
            if let Some(r) = &rewritten {
                p.data = r;
            }
        }
        out.push(p);
    }
    let up_boundary = format!("tollgate-{}", ctx.call_id.replace('-', ""));
    let form = Bytes::from(multipart::write(&up_boundary, &out));
    let content_type = format!("multipart/form-data; boundary={up_boundary}");
    let (status, answer) = Call::new(runtime, &dep, "POST", "files", "")
        .send(state, Some(&content_type), form)
        .await?;
    if status < 300 {
        let v: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        let Some(id) = v.get("id").and_then(Value::as_str) else {
            return Err(GatewayError::UpstreamProtocol {
                group,
                detail: "the provider's file object has no id".into(),
            });
        };
        let key = caller.key();
        let row = BatchFile {
            id: id.to_string(),
            owner: key.map(|k| k.id.clone()).unwrap_or_default(),
            team_id: key.and_then(|k| k.team_id.clone()),
            deployment_id: dep.conf.id.clone(),
            model_group: group,
            purpose,
            created_at: crate::clock::now_ms_i64(),
            object: String::from_utf8_lossy(&answer).into_owned(),
        };
        let db = Db(state.clone());
        let store = db.store();
        db.run(async move { store.put_batch_file(&row).await })
            .await?;
    }
    Ok(Some((status, answer)))
}

/// A deployment of `group` that serves files (OpenAI, Azure OpenAI), spread over them by the
/// clock.
fn pick(runtime: &Runtime, group: &str) -> Result<Arc<DeploymentRt>, GatewayError> {
    let serving: Vec<&Arc<DeploymentRt>> = runtime
        .groups
        .get(group)
        .map(|g| {
            g.deployments
                .iter()
                .filter(|d| d.upstream.is_some() && adapters::files::served_by(d.conf.provider))
                .collect()
        })
        .unwrap_or_default();
    if serving.is_empty() {
        return Err(invalid(
            400,
            format!(
                "model {group} has no OpenAI or Azure OpenAI deployment: files and batches are \
                 served by those only"
            ),
        ));
    }
    let i = crate::clock::now_ms() as usize % serving.len();
    Ok(serving[i].clone())
}
