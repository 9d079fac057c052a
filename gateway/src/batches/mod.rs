//! `/v1/files` and `/v1/batches` (also without `/v1`, and Azure's `/openai/files`,
//! `/openai/batches`) for OpenAI and Azure OpenAI deployments (docs/batches.md). A file or batch
//! lives at one deployment's provider; the store (`tollgate_files`, `tollgate_batches`) knows
//! which, and which key owns it: a key sees only its own (another key's id, or an unknown one,
//! is a 404 alike); the master key sees every one. Uploads are `upload.rs`'s, the spend of a
//! completed batch `settle.rs`'s; this file routes, checks ownership and talks to the provider.

mod call;
mod settle;
mod upload;

use call::Call;

use std::sync::Arc;

use adapters::{ApiError, CanonicalRequest, Endpoint};
use bytes::Bytes;
use pingora::proxy::Session;
use serde_json::{json, Map, Value};
use store::{BatchFile, BatchJob, Page, Store};

use crate::control::enforce::Caller;
use crate::ctx::RequestCtx;
use crate::deployment::DeploymentRt;
use crate::error::GatewayError;
use crate::lifecycle::auth;
use crate::reply::{self, respond, Served};
use crate::runtime::Runtime;
use crate::state::AppState;

/// A provider's JSON answer (a file or batch object, an error) is read up to this size.
const ANSWER_CAP: usize = 4 << 20;
/// A batch create body (JSON) is read up to this size.
const CREATE_CAP: usize = 1 << 20;

/// Which files or batches call a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    FileUpload,
    FileList,
    FileGet,
    FileDelete,
    FileContent,
    BatchCreate,
    BatchList,
    BatchGet,
    BatchCancel,
}

impl Op {
    /// LiteLLM's `call_type` of the call.
    fn call_type(self) -> &'static str {
        match self {
            Op::FileUpload => "acreate_file",
            Op::FileList => "afile_list",
            Op::FileGet => "afile_retrieve",
            Op::FileDelete => "afile_delete",
            Op::FileContent => "afile_content",
            Op::BatchCreate => "acreate_batch",
            Op::BatchList => "alist_batches",
            Op::BatchGet => "aretrieve_batch",
            Op::BatchCancel => "acancel_batch",
        }
    }
}

/// Serves one files or batches request end to end.
pub async fn serve(state: &Arc<AppState>, session: &mut Session, ctx: &mut RequestCtx, op: Op) {
    ctx.call_type = op.call_type();
    let runtime = state.runtime();
    let result = match auth::authenticate(&state.control, &runtime, session.req_header()) {
        Ok(caller) => {
            crate::observe::on_caller(ctx, &caller);
            run(state, &runtime, session, ctx, op, caller).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(Some((status, body))) => {
            ctx.status = status;
            if let Err(e) =
                respond(session, status, "application/json", body, &ctx.call_id, &[]).await
            {
                ctx.failure = Some(format!("client went away: {e}"));
            }
        }
        Ok(None) => {}
        Err(e) => reply::fail(session, ctx, e, Served::Llm).await,
    }
}

/// The answer (status, JSON body), or `None` when the response was streamed already.
type Answer = Result<Option<(u16, Bytes)>, GatewayError>;

async fn run(
    state: &Arc<AppState>,
    runtime: &Runtime,
    session: &mut Session,
    ctx: &mut RequestCtx,
    op: Op,
    caller: Caller,
) -> Answer {
    let id = id_in(session.req_header().uri.path()).map(str::to_string);
    let query = session.req_header().uri.query().unwrap_or("").to_string();
    let db = Db(state.clone());
    match op {
        Op::FileUpload => upload::serve(state, runtime, session, ctx, caller).await,
        Op::FileList => {
            let purpose = param(&query, "purpose");
            let (limit, after) = paging(&query, 10_000)?;
            let page = Page {
                owner: owner_filter(&caller),
                after: after.as_deref(),
                limit: limit + 1,
            };
            let store = db.store();
            let (page, purpose) = (owned_page(page), purpose);
            let rows = db
                .run(async move { store.list_batch_files(page.get(), purpose.as_deref()).await })
                .await?;
            Ok(Some(list(rows.iter().map(|f| f.object.as_str()), limit)))
        }
        Op::BatchList => {
            let (limit, after) = paging(&query, 100)?;
            let page = owned_page(Page {
                owner: owner_filter(&caller),
                after: after.as_deref(),
                limit: limit + 1,
            });
            let store = db.store();
            let rows = db
                .run(async move { store.list_batch_jobs(page.get()).await })
                .await?;
            Ok(Some(list(rows.iter().map(|b| b.object.as_str()), limit)))
        }
        Op::FileGet | Op::FileDelete | Op::FileContent => {
            let id = id.unwrap_or_default();
            let file = db.file(&caller, &id).await?;
            let dep = deployment(runtime, &file.model_group, &file.deployment_id)?;
            ctx.model_group = Some(file.model_group.clone());
            ctx.served_by = Some(dep.clone());
            let rest = match op {
                Op::FileContent => format!("files/{id}/content"),
                _ => format!("files/{id}"),
            };
            let method = if op == Op::FileDelete {
                "DELETE"
            } else {
                "GET"
            };
            let up = Call::new(runtime, &dep, method, &rest, &query);
            if op == Op::FileContent {
                up.relay(state, session, ctx).await?;
                return Ok(None);
            }
            let (status, body) = up.send(state, None, Bytes::new()).await?;
            if op == Op::FileDelete && status < 300 {
                let store = db.store();
                db.run(async move { store.delete_batch_file(&id).await })
                    .await?;
            }
            Ok(Some((status, body)))
        }
        Op::BatchCreate => {
            let body = crate::lifecycle::admit::read_body(session, CREATE_CAP)
                .await?
                .freeze();
            let parsed: Map<String, Value> = serde_json::from_slice(&body).map_err(|e| {
                invalid(400, format!("the batch request is not a JSON object: {e}"))
            })?;
            let Some(file_id) = parsed.get("input_file_id").and_then(Value::as_str) else {
                return Err(invalid(400, "input_file_id is required".into()));
            };
            let file = db.file(&caller, file_id).await?;
            if file.purpose != "batch" {
                return Err(invalid(
                    400,
                    format!("file {file_id} was not uploaded with purpose \"batch\""),
                ));
            }
            // Access to the file's model and budgets, again: either may have changed since the
            // upload.
            admit(
                state,
                runtime,
                session,
                ctx,
                caller.clone(),
                &file.model_group,
            )
            .await?;
            let dep = deployment(runtime, &file.model_group, &file.deployment_id)?;
            ctx.served_by = Some(dep.clone());
            ctx.cost = Some(0.0);
            let up = Call::new(runtime, &dep, "POST", "batches", &query);
            let (status, answer) = up
                .send(state, Some("application/json"), body.clone())
                .await?;
            if status < 300 {
                let v: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
                let Some(batch_id) = v.get("id").and_then(Value::as_str) else {
                    return Err(GatewayError::UpstreamProtocol {
                        group: file.model_group.clone(),
                        detail: "the provider's batch object has no id".into(),
                    });
                };
                let job = BatchJob {
                    id: batch_id.to_string(),
                    owner: file.owner.clone(),
                    team_id: file.team_id.clone(),
                    deployment_id: file.deployment_id.clone(),
                    model_group: file.model_group.clone(),
                    input_file_id: file.id.clone(),
                    created_at: crate::clock::now_ms_i64(),
                    object: String::from_utf8_lossy(&answer).into_owned(),
                    settled_at: None,
                    spend: None,
                };
                let store = db.store();
                db.run(async move { store.put_batch_job(&job).await })
                    .await?;
            }
            Ok(Some((status, answer)))
        }
        Op::BatchGet | Op::BatchCancel => {
            let id = id.unwrap_or_default();
            let job = db.batch(&caller, &id).await?;
            let dep = deployment(runtime, &job.model_group, &job.deployment_id)?;
            ctx.model_group = Some(job.model_group.clone());
            ctx.served_by = Some(dep.clone());
            let (method, rest) = match op {
                Op::BatchCancel => ("POST", format!("batches/{id}/cancel")),
                _ => ("GET", format!("batches/{id}")),
            };
            let (status, answer) = Call::new(runtime, &dep, method, &rest, &query)
                .send(state, None, Bytes::new())
                .await?;
            if status < 300 {
                settle::seen(state, &job, &dep, &answer).await?;
            }
            Ok(Some((status, answer)))
        }
    }
}

/// The `{id}` of `/…/files/{id}[/content]` or `/…/batches/{id}[/cancel]`.
pub fn id_in(path: &str) -> Option<&str> {
    let p = path.strip_suffix('/').unwrap_or(path);
    let rest = ["/files/", "/batches/"]
        .iter()
        .find_map(|k| p.find(k).map(|at| &p[at + k.len()..]))?;
    let id = rest
        .strip_suffix("/content")
        .or_else(|| rest.strip_suffix("/cancel"))
        .unwrap_or(rest);
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

fn invalid(status: u16, msg: String) -> GatewayError {
    GatewayError::Invalid(ApiError::new(status, "invalid_request_error", msg))
}

/// The owner a list is filtered by: the caller's key; every owner for the master key.
fn owner_filter(caller: &Caller) -> Option<&str> {
    caller.key().map(|k| k.id.as_str())
}

/// A query parameter, decoded.
fn param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `limit` (1 to `max`, default 20) and `after` of a list request.
fn paging(query: &str, max: i64) -> Result<(i64, Option<String>), GatewayError> {
    let limit = match param(query, "limit") {
        None => 20,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                return Err(GatewayError::Invalid(
                    ApiError::new(
                        400,
                        "invalid_request_error",
                        format!("limit must be an integer from 1 to {max}"),
                    )
                    .with_param("limit"),
                ))
            }
        },
    };
    Ok((limit, param(query, "after")))
}

/// A [`Page`] whose strings it owns (to move into a database task).
struct OwnedPage(Option<String>, Option<String>, i64);

impl OwnedPage {
    fn get(&self) -> Page<'_> {
        Page {
            owner: self.0.as_deref(),
            after: self.1.as_deref(),
            limit: self.2,
        }
    }
}

fn owned_page(p: Page<'_>) -> OwnedPage {
    OwnedPage(
        p.owner.map(str::to_string),
        p.after.map(str::to_string),
        p.limit,
    )
}

/// OpenAI's list object over stored objects (fetched `limit + 1` to know `has_more`).
fn list<'a>(objects: impl Iterator<Item = &'a str>, limit: i64) -> (u16, Bytes) {
    let mut data: Vec<Value> = objects
        .map(|o| serde_json::from_str(o).unwrap_or(Value::Null))
        .collect();
    let has_more = data.len() as i64 > limit;
    data.truncate(limit as usize);
    let id = |v: Option<&Value>| v.and_then(|v| v.get("id")).cloned();
    let body = json!({
        "object": "list",
        "first_id": id(data.first()),
        "last_id": id(data.last()),
        "has_more": has_more,
        "data": data,
    });
    (200, Bytes::from(body.to_string()))
}

/// The store, through the control plane's runtime.
struct Db(Arc<AppState>);

impl Db {
    fn store(&self) -> Store {
        self.0.control.store().clone()
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl std::future::Future<Output = store::Result<T>> + Send + 'static,
    ) -> Result<T, GatewayError> {
        self.0
            .control
            .db(f)
            .await
            .map_err(|e| GatewayError::StateUnavailable(format!("files and batches: {e}")))
    }

    /// The file `id` if `caller` may see it; else OpenAI's 404.
    async fn file(&self, caller: &Caller, id: &str) -> Result<BatchFile, GatewayError> {
        let (store, key) = (self.store(), id.to_string());
        let row = self
            .run(async move { store.get_batch_file(&key).await })
            .await?;
        row.filter(|f| crate::stored::visible(caller, &f.owner))
            .ok_or_else(|| invalid(404, format!("No such File object: {id}")))
    }

    /// The batch `id` if `caller` may see it; else a 404.
    async fn batch(&self, caller: &Caller, id: &str) -> Result<BatchJob, GatewayError> {
        let (store, key) = (self.store(), id.to_string());
        let row = self
            .run(async move { store.get_batch_job(&key).await })
            .await?;
        row.filter(|b| crate::stored::visible(caller, &b.owner))
            .ok_or_else(|| invalid(404, format!("No such Batch object: {id}")))
    }
}

/// Admission for a call on `model`'s files or batches: the caller's model access (a 403 naming
/// the model), rate limits, and budgets — refused when one is used up; nothing is reserved (a
/// batch's cost is known only when it completes, see docs/batches.md). The group's name, and
/// what a wildcard group's `*` stands for.
pub(super) async fn admit(
    state: &AppState,
    runtime: &Runtime,
    session: &Session,
    ctx: &mut RequestCtx,
    caller: Caller,
    model: &str,
) -> Result<(String, Option<String>), GatewayError> {
    let mut body = Map::with_capacity(1);
    body.insert("model".into(), Value::String(model.to_string()));
    let mut view = CanonicalRequest {
        endpoint: Endpoint::ChatCompletions,
        model: model.to_string(),
        stream: false,
        include_usage: false,
        body,
    };
    let who = crate::control::enforce::aliased(&state.control, &caller, &mut view);
    let resolved = crate::routing::resolve::group(runtime, &view.model)?;
    let name = resolved.group.to_string();
    let wildcard = resolved.wildcard.clone();
    let group = runtime.groups.get(&name);
    let mut adm = crate::control::enforce::admit(
        &state.control,
        runtime,
        who,
        group,
        &view,
        session.req_header(),
    )?;
    let nothing = crate::control::output::Output {
        max_tokens: Some(0),
        completions: 1,
        extra: 0,
    };
    let cost = crate::control::cost::Cost::new(None, None, None, Endpoint::Embeddings, 0, nothing);
    state.control.reserve(&mut adm, &cost).await?;
    ctx.caller = Some(caller);
    ctx.admission = Some(adm);
    ctx.model_group = Some(name.clone());
    Ok((name, wildcard))
}

/// The deployment `id` of `group` that holds a file or batch.
fn deployment(runtime: &Runtime, group: &str, id: &str) -> Result<Arc<DeploymentRt>, GatewayError> {
    runtime
        .groups
        .get(group)
        .and_then(|g| g.deployments.iter().find(|d| d.conf.id == id))
        .filter(|d| d.upstream.is_some())
        .cloned()
        .ok_or_else(|| {
            invalid(
                404,
                format!(
                    "the deployment of model {group} that holds this object (id {id}) is no \
                     longer in the config"
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_from_every_route_form() {
        assert_eq!(id_in("/v1/files/file-1"), Some("file-1"));
        assert_eq!(id_in("/files/file-1/content"), Some("file-1"));
        assert_eq!(id_in("/openai/files/file-1"), Some("file-1"));
        assert_eq!(id_in("/v1/batches/batch_1/cancel/"), Some("batch_1"));
        assert_eq!(id_in("/openai/batches/batch_1"), Some("batch_1"));
        assert_eq!(id_in("/v1/files"), None);
        assert_eq!(id_in("/v1/files/a/b"), None);
    }

    #[test]
    fn paging_is_bounded() {
        assert_eq!(paging("", 100).unwrap(), (20, None));
        assert_eq!(
            paging("limit=5&after=batch_9", 100).unwrap(),
            (5, Some("batch_9".into()))
        );
        assert!(paging("limit=0", 100).is_err());
        assert!(paging("limit=101", 100).is_err());
    }

    #[test]
    fn lists_say_whether_there_is_more() {
        let objs = [r#"{"id":"a"}"#, r#"{"id":"b"}"#, r#"{"id":"c"}"#];
        let (_, body) = list(objs.iter().copied(), 2);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["has_more"], true);
        assert_eq!(v["first_id"], "a");
        assert_eq!(v["last_id"], "b");
        assert_eq!(v["data"].as_array().unwrap().len(), 2);
    }
}
