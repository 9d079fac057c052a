//! Management API: end users (`/customer/*`, also under the old `/end_user/*` names), LiteLLM's
//! `LiteLLM_EndUserTable`. The id is the end user id a request names in `user` (or the
//! `x-litellm-end-user-id` header); the request path creates an empty end user for every id it
//! sees, so the list also shows end users nobody created, with their spend.
//!
//! Unlike LiteLLM, which moves `max_budget` & co. into a budget row of their own, the limits are
//! kept on the end user's document (enforcement reads them there); `litellm_budget_table` shows
//! them merged over those of the end user's `budget_id`.

use serde_json::{json, Map, Value};

use super::documents::{doc_field, now_iso};
use super::error::AdminError;
use super::request::{amount, object, read_limits, Req};
use super::responses::budget_table;
use crate::control::{Control, Entity, Kind};

/// An end user as LiteLLM returns it.
fn view(c: &Control, e: &Entity) -> Value {
    let doc = e.doc();
    let field = |name: &str| doc_field(&doc, name);
    let mut out = Map::new();
    out.insert("user_id".into(), json!(e.id));
    out.insert("alias".into(), field("alias"));
    out.insert("spend".into(), json!(c.spend(e)));
    out.insert("blocked".into(), json!(e.blocked));
    out.insert("allowed_model_region".into(), field("allowed_model_region"));
    out.insert("default_model".into(), field("default_model"));
    out.insert("budget_id".into(), json!(e.budget_id));
    out.insert("metadata".into(), field("metadata"));
    out.insert(
        "litellm_budget_table".into(),
        budget_table(c, e, &doc, false),
    );
    Value::Object(out)
}

/// Reads the end user fields present in the request into `doc`, validated.
fn read_fields(c: &Control, req: &Req, doc: &mut Map<String, Value>) -> Result<(), AdminError> {
    if let Some(a) = req.string("alias")? {
        doc.insert("alias".into(), json!(a));
    }
    if let Some(b) = req.boolean("blocked")? {
        doc.insert("blocked".into(), json!(b));
    }
    if let Some(r) = req.string("allowed_model_region")? {
        if r != "eu" && r != "us" {
            return Err(AdminError::bad(
                "allowed_model_region",
                format!("allowed_model_region must be \"eu\" or \"us\", got {r:?}"),
            ));
        }
        doc.insert("allowed_model_region".into(), json!(r));
    }
    if let Some(m) = req.string("default_model")? {
        doc.insert("default_model".into(), json!(m));
    }
    if let Some(m) = object(req, "metadata")? {
        doc.insert("metadata".into(), Value::Object(m));
    }
    read_limits(c, req, doc, true)
}

fn stamp(doc: &mut Map<String, Value>, id: &str, created: bool) {
    doc.insert("user_id".into(), json!(id));
    let now = now_iso();
    if created {
        doc.insert("created_at".into(), json!(now));
    }
    doc.insert("updated_at".into(), json!(now));
}

/// `POST /customer/new`: `user_id` (required), alias, blocked, max_budget / budget_id,
/// budget_duration, tpm_limit, rpm_limit, allowed_model_region, default_model, metadata, spend
/// → the end user.
pub async fn new(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let id = req.required_string("user_id")?;
    let mut doc = Map::new();
    read_fields(c, req, &mut doc)?;
    let spend = amount(req, "spend")?;
    stamp(&mut doc, &id, true);
    let exists = || {
        AdminError::exists(
            "user_id",
            format!("Customer already exists, passed user_id={id}. Please pass a new user_id."),
        )
    };
    // An end user the request path already met exists too (as in LiteLLM, where requests
    // upsert it): change it with /customer/update.
    if c.get(Kind::Customer, &id).is_some() {
        return Err(exists());
    }
    let Some(e) = c.insert(Kind::Customer, &id, doc).await? else {
        return Err(exists());
    };
    if let Some(s) = spend.filter(|s| *s > 0.0) {
        c.set_spend(&e, s).await?;
    }
    Ok(view(c, &e))
}

/// `GET /customer/info?end_user_id=` → the end user, with its spend and budget.
pub async fn info(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let id = req.one_of(&["end_user_id", "user_id"], "end_user_id is required")?;
    let e = c.get(Kind::Customer, &id).ok_or_else(|| missing(&id))?;
    Ok(view(c, &e))
}

fn missing(id: &str) -> AdminError {
    AdminError::not_found(format!("End User Id={id} does not exist in db"))
}

/// `POST /customer/update`: `user_id` (required) and the fields to change → the end user.
pub async fn update(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let id = req.required_string("user_id")?;
    let e = c.get(Kind::Customer, &id).ok_or_else(|| missing(&id))?;
    let mut doc = e.doc();
    let created = !doc.contains_key("created_at");
    read_fields(c, req, &mut doc)?;
    stamp(&mut doc, &id, created);
    let e = c.put(Kind::Customer, &id, doc).await?;
    Ok(view(c, &e))
}

/// The `user_ids` list (required, non-empty).
fn user_ids(req: &Req) -> Result<Vec<String>, AdminError> {
    let ids = req.strings("user_ids")?.unwrap_or_default();
    if ids.is_empty() || ids.iter().any(String::is_empty) {
        return Err(AdminError::bad(
            "user_ids",
            "user_ids is required: {\"user_ids\": [\"<end user id>\", ...]}",
        ));
    }
    Ok(ids)
}

/// Every one of `ids` is a known end user, or a 404 naming all those that are not.
fn all_known(c: &Control, ids: &[String]) -> Result<(), AdminError> {
    let unknown: Vec<&str> = ids
        .iter()
        .filter(|id| c.get(Kind::Customer, id).is_none())
        .map(String::as_str)
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(AdminError::not_found(format!(
        "End User Id(s)={} do not exist in db",
        unknown.join(", ")
    )))
}

/// `POST /customer/delete` `{"user_ids": [...]}` → `{deleted_customers: n, message}`. Nothing is
/// deleted if any id is unknown (404 naming them).
pub async fn delete(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let ids = user_ids(req)?;
    all_known(c, &ids)?;
    let mut n = 0;
    for id in &ids {
        if c.delete(Kind::Customer, id).await? {
            n += 1;
        }
    }
    Ok(json!({
        "deleted_customers": n,
        "message": format!("Successfully deleted customers with ids: {}", py_list(&ids)),
    }))
}

/// `['a', 'b']`, as LiteLLM's messages print lists.
fn py_list(ids: &[String]) -> String {
    let items: Vec<String> = ids.iter().map(|i| format!("'{i}'")).collect();
    format!("[{}]", items.join(", "))
}

/// `GET /customer/list` → every end user (created or only seen in requests).
pub async fn list(c: &Control, _req: &Req) -> Result<Value, AdminError> {
    Ok(Value::Array(
        c.list(Kind::Customer).iter().map(|e| view(c, e)).collect(),
    ))
}

/// `POST /customer/block` / `/customer/unblock` `{"user_ids": [...]}`. Blocking creates end
/// users not seen yet (as LiteLLM's upsert does) → `{"blocked_users": [end users]}`;
/// unblocking needs them to exist → `{"unblocked_users": [end users], "blocked_users": [ids
/// still blocked]}`.
pub async fn block(c: &Control, req: &Req, on: bool) -> Result<Value, AdminError> {
    let ids = user_ids(req)?;
    if !on {
        all_known(c, &ids)?;
    }
    let mut changed = Vec::with_capacity(ids.len());
    for id in &ids {
        let prev = c.get(Kind::Customer, id);
        let mut doc = prev.as_ref().map(|e| e.doc()).unwrap_or_default();
        let created = !doc.contains_key("created_at");
        doc.insert("blocked".into(), json!(on));
        stamp(&mut doc, id, created);
        let e = c.put(Kind::Customer, id, doc).await?;
        changed.push(view(c, &e));
    }
    if on {
        return Ok(json!({ "blocked_users": changed }));
    }
    let still: Vec<String> = c
        .list(Kind::Customer)
        .iter()
        .filter(|e| e.blocked)
        .map(|e| e.id.clone())
        .collect();
    Ok(json!({ "unblocked_users": changed, "blocked_users": still }))
}
