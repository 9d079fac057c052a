//! Management API: models, LiteLLM's model management — `POST /model/new`, `POST /model/update`,
//! `PATCH /model/{id}/update`, `POST /model/delete`, `GET /model/info` (also `/v1/model/info`)
//! and `GET /v2/model/info`. Models created here are stored in `tollgate_models` with every
//! string value of their `litellm_params` encrypted as LiteLLM encrypts them
//! (`models::params`) and are live on every replica within a second (`models::sync`); they
//! need `store_model_in_db` (or `STORE_MODEL_IN_DB=True`). Models from the configuration file
//! are listed but not changed here: the file is their source (edit it and reload). Credentials
//! are never returned: `litellm_params` is shown without them.

use std::sync::Arc;

use serde_json::{json, Map, Value};
use store::ModelRow;

use super::access::{visible, Who};
use super::documents::{iso_ms, new_id};
use super::error::AdminError;
use super::request::Req;
use crate::clock::now_ms_i64;
use crate::deployment::DeploymentRt;
use crate::models::compose::{check_entry, plain_entry, Base};
use crate::models::params::{decrypt_params, encrypt_params, redacted};
use crate::runtime::{scoped, team_of, Runtime};
use crate::state::AppState;

/// The base configuration, if models may be stored (LiteLLM's error otherwise).
fn stored_models_on() -> Result<std::sync::Arc<Base>, AdminError> {
    crate::models::base().filter(|b| b.enabled).ok_or_else(|| {
        AdminError::bad(
            "store_model_in_db",
            "Set `'STORE_MODEL_IN_DB='True'` in your env (or general_settings.store_model_in_db: true) to enable this feature.",
        )
    })
}

/// An object field of the body (`None` when absent or null).
fn object(req: &Req, name: &str) -> Result<Option<Map<String, Value>>, AdminError> {
    match req.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(AdminError::bad(name, format!("{name} must be an object"))),
    }
}

/// Checks the model as the config loader would and encrypts it into a row.
fn seal(
    base: &Base,
    id: &str,
    name: &str,
    params: &Map<String, Value>,
    info: &Map<String, Value>,
) -> Result<(String, String), AdminError> {
    if name.trim().is_empty() {
        return Err(AdminError::bad(
            "model_name",
            "model_name must not be empty",
        ));
    }
    let info_text = Value::Object(info.clone()).to_string();
    check_entry(&plain_entry(id, name, params.clone(), &info_text))
        .map_err(|e| AdminError::bad("litellm_params", format!("Invalid model: {e}")))?;
    let key = base.key.ok_or_else(|| {
        AdminError::bad(
            "litellm_params",
            "No LITELLM_SALT_KEY or master key is set to encrypt the model's credentials with.",
        )
    })?;
    Ok((encrypt_params(params, &key), info_text))
}

/// A stored model as the routes answer it: `litellm_params` without credentials.
fn row_view(row: &ModelRow, params: &Map<String, Value>) -> Value {
    let mut info = serde_json::from_str::<Map<String, Value>>(&row.model_info).unwrap_or_default();
    info.insert("id".into(), json!(row.model_id));
    info.insert("db_model".into(), json!(true));
    json!({
        "model_id": row.model_id,
        "model_name": row.model_name,
        "litellm_params": redacted(params),
        "model_info": info,
        "blocked": row.blocked,
        "created_at": iso_ms(row.created_at),
        "created_by": row.created_by,
        "updated_at": iso_ms(row.updated_at),
        "updated_by": row.updated_by,
    })
}

/// `POST /model/new`: `model_name`, `litellm_params` (required) and `model_info` (its `id`
/// is the model's id, generated if absent; `team_id` reserves the model to that team) → the
/// stored model.
pub async fn new(state: &Arc<AppState>, who: &Who, req: &Req) -> Result<Value, AdminError> {
    let base = stored_models_on()?;
    let name = req.required_string("model_name")?;
    let params = object(req, "litellm_params")?
        .ok_or_else(|| AdminError::bad("litellm_params", "litellm_params is required"))?;
    let mut info = object(req, "model_info")?.unwrap_or_default();
    let id = match info.remove("id") {
        None | Some(Value::Null) => new_id(),
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        Some(_) => {
            return Err(AdminError::bad(
                "model_info",
                "model_info.id must be a non-empty string",
            ))
        }
    };
    info.remove("db_model");
    if base.file_ids.contains(&id) {
        return Err(AdminError::exists(
            "model_info",
            format!("Model id '{id}' is taken by a config file entry."),
        ));
    }
    if get(state, &id).await?.is_some() {
        return Err(AdminError::exists(
            "model_info",
            format!("Model with id '{id}' already exists."),
        ));
    }
    let (sealed, info_text) = seal(&base, &id, &name, &params, &info)?;
    let now = now_ms_i64();
    let row = ModelRow {
        model_id: id,
        model_name: name,
        litellm_params: sealed,
        model_info: info_text,
        blocked: false,
        created_at: now,
        updated_at: now,
        created_by: who.user_id.clone(),
        updated_by: who.user_id.clone(),
    };
    put(state, &row).await?;
    crate::models::changed(state).await;
    Ok(row_view(&row, &params))
}

/// One stored model, read on the control runtime (where the database pool lives).
async fn get(state: &AppState, id: &str) -> Result<Option<ModelRow>, AdminError> {
    let (s, id) = (state.control.store().clone(), id.to_string());
    Ok(state
        .control
        .db(async move { s.get_model(&id).await })
        .await?)
}

async fn put(state: &AppState, row: &ModelRow) -> Result<(), AdminError> {
    let (s, row) = (state.control.store().clone(), row.clone());
    Ok(state
        .control
        .db(async move { s.put_models(std::slice::from_ref(&row)).await })
        .await?)
}

/// `POST /model/update` (the id in `model_info.id`) and `PATCH /model/{id}/update`: the given
/// `model_name` replaces the stored one; each given `litellm_params` / `model_info` value
/// replaces the stored one (`null` removes it), the others are kept → the stored model.
pub async fn update(
    state: &Arc<AppState>,
    who: &Who,
    req: &Req,
    path_id: Option<&str>,
) -> Result<Value, AdminError> {
    let base = stored_models_on()?;
    let mut info_given = object(req, "model_info")?.unwrap_or_default();
    let body_id = info_given
        .remove("id")
        .and_then(|v| v.as_str().map(str::to_string));
    let id = match (path_id, body_id) {
        (Some(p), _) => p.to_string(),
        (None, Some(b)) if !b.is_empty() => b,
        _ => return Err(AdminError::bad("model_info", "model_info.id is required")),
    };
    info_given.remove("db_model");
    let Some(old) = get(state, &id).await? else {
        return Err(not_stored(&base, &id));
    };
    let key = base.key.ok_or_else(|| {
        AdminError::bad(
            "litellm_params",
            "No LITELLM_SALT_KEY or master key is set to decrypt the stored model with.",
        )
    })?;
    let stored = serde_json::from_str::<Map<String, Value>>(&old.litellm_params)
        .map_err(|e| e.to_string())
        .and_then(|p| decrypt_params(&p, &key))
        .map_err(|e| {
            AdminError::bad(
                "litellm_params",
                format!("The stored model does not decrypt: {e}"),
            )
        })?;
    let mut params = stored.0;
    merge(
        &mut params,
        object(req, "litellm_params")?.unwrap_or_default(),
    );
    let mut info = serde_json::from_str::<Map<String, Value>>(&old.model_info).unwrap_or_default();
    merge(&mut info, info_given);
    let name = req.string("model_name")?.unwrap_or(old.model_name.clone());
    let (sealed, info_text) = seal(&base, &id, &name, &params, &info)?;
    let row = ModelRow {
        model_name: name,
        litellm_params: sealed,
        model_info: info_text,
        // Every write moves `updated_at` (replicas notice changes by it).
        updated_at: now_ms_i64().max(old.updated_at + 1),
        updated_by: who.user_id.clone(),
        ..old
    };
    put(state, &row).await?;
    crate::models::changed(state).await;
    Ok(row_view(&row, &params))
}

fn merge(into: &mut Map<String, Value>, given: Map<String, Value>) {
    for (k, v) in given {
        if v.is_null() {
            into.remove(&k);
        } else {
            into.insert(k, v);
        }
    }
}

/// The refusal for an id no stored model has: a config file entry's, or nothing's.
fn not_stored(base: &Base, id: &str) -> AdminError {
    if base.file_ids.contains(id) {
        AdminError::bad(
            "id",
            format!("Model '{id}' is defined in the config file; change it there and reload."),
        )
    } else {
        AdminError::not_found(format!("Model with id '{id}' not found."))
    }
}

/// `POST /model/delete` `{"id": …}`.
pub async fn delete(state: &Arc<AppState>, req: &Req) -> Result<Value, AdminError> {
    let base = stored_models_on()?;
    let id = req.required_string("id")?;
    let (s, gone) = (state.control.store().clone(), id.clone());
    if !state
        .control
        .db(async move { s.delete_model(&gone).await })
        .await?
    {
        return Err(not_stored(&base, &id));
    }
    crate::models::changed(state).await;
    Ok(json!({ "message": format!("Model: {id} deleted successfully") }))
}

/// The deployments the caller may see, with their group: groups its model lists allow, and in
/// each the deployments its team may use.
fn deployments<'r>(
    state: &AppState,
    rt: &'r Runtime,
    who: &Who,
) -> Vec<(&'r str, std::sync::Arc<DeploymentRt>)> {
    let key = if who.is_admin() {
        None
    } else {
        who.key().map(|k| &**k)
    };
    let team = key.and_then(|k| k.team_id.as_deref());
    let mut out = Vec::new();
    for g in visible(&state.control, rt, key) {
        let group = &rt.groups[g];
        for d in scoped(&group.deployments, team, key.is_none()).iter() {
            out.push((g.as_str(), d.clone()));
        }
    }
    out
}

/// One deployment as LiteLLM's `/model/info` lists it.
fn info_view(group: &str, d: &DeploymentRt) -> Value {
    let c = &d.conf;
    let mut params = Map::new();
    params.insert("model".into(), json!(c.litellm_model()));
    if let Some(b) = &c.api_base {
        params.insert("api_base".into(), json!(b.url));
    }
    for (k, v) in [
        ("api_version", c.api_version.clone().map(Value::from)),
        ("timeout", c.timeout.map(|t| json!(t.as_secs_f64()))),
        (
            "stream_timeout",
            c.stream_timeout.map(|t| json!(t.as_secs_f64())),
        ),
        ("rpm", c.rpm.map(Value::from)),
        ("tpm", c.tpm.map(Value::from)),
        ("mock_response", c.mock_response.clone().map(Value::from)),
    ] {
        if let Some(v) = v {
            params.insert(k.into(), v);
        }
    }
    for (k, v) in c.extra_params.iter().chain(&c.internal_params) {
        params.insert(k.clone(), v.clone());
    }
    let mut info = c.model_info.clone();
    info.insert("id".into(), json!(c.id));
    let db = info
        .get("db_model")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    info.insert("db_model".into(), json!(db));
    info.insert("key".into(), json!(c.model));
    info.insert("litellm_provider".into(), json!(c.provider.prefix()));
    info.insert("team_id".into(), json!(team_of(d)));
    let p = d.price.as_ref();
    info.entry("input_cost_per_token")
        .or_insert(json!(p.map(|p| p.input_cost_per_token)));
    info.entry("output_cost_per_token")
        .or_insert(json!(p.map(|p| p.output_cost_per_token)));
    info.entry("max_input_tokens")
        .or_insert(json!(d.max_input_tokens));
    info.entry("max_output_tokens")
        .or_insert(json!(p.and_then(|p| p.max_output_tokens.or(p.max_tokens))));
    info.entry("mode").or_insert(json!(p
        .and_then(|p| p.mode.clone())
        .unwrap_or_else(|| "chat".into())));
    json!({"model_name": group, "litellm_params": redacted(&params), "model_info": info})
}

/// `GET /model/info[?litellm_model_id=]` (also `/v1/model/info`): `{"data": [...]}`, every
/// deployment the caller may use (all for admins), credentials left out.
pub fn info(state: &AppState, rt: &Runtime, who: &Who, req: &Req) -> Result<Value, AdminError> {
    let id = req.string("litellm_model_id")?.filter(|s| !s.is_empty());
    let data: Vec<Value> = deployments(state, rt, who)
        .into_iter()
        .filter(|(_, d)| id.as_deref().is_none_or(|id| d.conf.id == id))
        .map(|(g, d)| info_view(g, &d))
        .collect();
    Ok(json!({ "data": data }))
}

/// `GET /v2/model/info`: `/model/info`'s entries filtered (`model`: the group, `modelId`,
/// `teamId`, `search`: part of the group name) and paged (`page` from 1, `size`, default 50) →
/// `{"data", "total_count", "current_page", "total_pages", "size"}`.
pub fn info_v2(state: &AppState, rt: &Runtime, who: &Who, req: &Req) -> Result<Value, AdminError> {
    let model = req.string("model")?.filter(|s| !s.is_empty());
    let model_id = req.string("modelId")?.filter(|s| !s.is_empty());
    let team = req.string("teamId")?.filter(|s| !s.is_empty());
    let search = req
        .string("search")?
        .map(|s| s.to_lowercase())
        .filter(|s| !s.is_empty());
    let count =
        |name: &str, default: usize| -> Result<usize, AdminError> {
            match req.string(name)? {
                None => Ok(default),
                Some(s) => s.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    AdminError::bad(name, format!("{name} must be a positive integer"))
                }),
            }
        };
    let (page, size) = (count("page", 1)?, count("size", 50)?.min(1000));
    let all: Vec<Value> = deployments(state, rt, who)
        .into_iter()
        .filter(|(g, d)| {
            model.as_deref().is_none_or(|m| m == *g)
                && model_id.as_deref().is_none_or(|id| d.conf.id == id)
                && team.as_deref().is_none_or(|t| team_of(d) == Some(t))
                && search
                    .as_deref()
                    .is_none_or(|s| g.to_lowercase().contains(s))
        })
        .map(|(g, d)| info_view(g, &d))
        .collect();
    let total = all.len();
    let data: Vec<Value> = all.into_iter().skip((page - 1) * size).take(size).collect();
    Ok(json!({
        "data": data,
        "total_count": total,
        "current_page": page,
        "total_pages": total.div_ceil(size),
        "size": size,
    }))
}
