//! Management API: organizations (`/organization/*`), LiteLLM's `LiteLLM_OrganizationTable`.
//! An organization owns teams (a team's `organization_id`) and caps them together: its budget,
//! rate limits and model list apply to every request of its teams' keys.
//!
//! Unlike LiteLLM, which creates a budget row for every organization without a `budget_id`,
//! the limits are kept on the organization's document; `litellm_budget_table` (always an
//! object, as in LiteLLM) shows them merged over those of its `budget_id`. The
//! `/organization/member_*` routes are in `org_members.rs`.

use serde_json::{json, Map, Value};

use super::documents::{doc_field, now_iso, stamp_new};
use super::entity_ops::{all_exist, org_not_found};
use super::error::AdminError;
use super::request::{amount, given_or_new_id, object, read_limits, Req};
use super::responses::{budget_table, org_member_list};
use crate::control::{Control, Entity, Kind};

/// An organization as LiteLLM returns it, with its teams and members.
fn view(c: &Control, e: &Entity) -> Value {
    let doc = e.doc();
    let field = |name: &str| doc_field(&doc, name);
    let mut out = Map::new();
    out.insert("organization_id".into(), json!(e.id));
    out.insert("organization_alias".into(), field("organization_alias"));
    out.insert("budget_id".into(), json!(e.budget_id));
    out.insert(
        "metadata".into(),
        doc.get("metadata").cloned().unwrap_or(json!({})),
    );
    out.insert("models".into(), json!(e.models));
    out.insert("spend".into(), json!(c.spend(e)));
    out.insert("model_spend".into(), json!({}));
    out.insert("blocked".into(), json!(e.blocked));
    out.insert("tags".into(), field("tags"));
    for f in ["created_at", "created_by", "updated_at", "updated_by"] {
        out.insert(f.into(), field(f));
    }
    out.insert(
        "litellm_budget_table".into(),
        budget_table(c, e, &doc, true),
    );
    out.insert("teams".into(), Value::Array(teams(c, &e.id)));
    out.insert("members".into(), Value::Array(org_member_list(c, e)));
    Value::Object(out)
}

/// The teams whose `organization_id` is `org`: their stored document plus id and spend.
fn teams(c: &Control, org: &str) -> Vec<Value> {
    c.list(Kind::Team)
        .iter()
        .filter(|t| t.org_id.as_deref() == Some(org))
        .map(|t| {
            let mut d = t.doc();
            d.insert("team_id".into(), json!(t.id));
            d.insert("spend".into(), json!(c.spend(t)));
            Value::Object(d)
        })
        .collect()
}

/// Reads the organization fields present in the request into `doc`, validated.
fn read_fields(c: &Control, req: &Req, doc: &mut Map<String, Value>) -> Result<(), AdminError> {
    if let Some(a) = req.string("organization_alias")? {
        if a.trim().is_empty() {
            return Err(AdminError::bad(
                "organization_alias",
                "organization_alias must not be empty",
            ));
        }
        doc.insert("organization_alias".into(), json!(a));
    }
    if let Some(m) = req.strings("models")? {
        doc.insert("models".into(), json!(m));
    }
    if let Some(t) = req.strings("tags")? {
        doc.insert("tags".into(), json!(t));
    }
    if let Some(b) = req.boolean("blocked")? {
        doc.insert("blocked".into(), json!(b));
    }
    if let Some(m) = object(req, "metadata")? {
        doc.insert("metadata".into(), Value::Object(m));
    }
    read_limits(c, req, doc, true)
}

/// `POST /organization/new`: `organization_alias` (required), organization_id (generated if
/// absent), models, max_budget / budget_id, budget_duration, tpm_limit, rpm_limit, metadata,
/// blocked → the organization.
pub async fn new(c: &Control, req: &Req) -> Result<Value, AdminError> {
    req.required_string("organization_alias")?;
    let id = given_or_new_id(req, "organization_id")?;
    let mut doc = Map::new();
    read_fields(c, req, &mut doc)?;
    doc.insert("organization_id".into(), json!(id));
    doc.entry("models").or_insert(json!([]));
    doc.entry("metadata").or_insert(json!({}));
    stamp_new(&mut doc);
    let Some(e) = c.insert(Kind::Org, &id, doc).await? else {
        return Err(AdminError::exists(
            "organization_id",
            format!("Organization with id={id} already exists. Pass a new organization_id."),
        ));
    };
    Ok(view(c, &e))
}

/// `GET /organization/info?organization_id=` (or POST `{"organization_id"}`) → the
/// organization with its spend, teams and budget. POST `{"organizations": [ids]}` (LiteLLM's
/// older form) → a list of them.
pub async fn info(c: &Control, req: &Req) -> Result<Value, AdminError> {
    if let Some(ids) = req.strings("organizations")? {
        let out = ids
            .iter()
            .filter_map(|id| c.get(Kind::Org, id))
            .map(|e| view(c, &e))
            .collect();
        return Ok(Value::Array(out));
    }
    let id = req.required_string("organization_id")?;
    let e = c.get(Kind::Org, &id).ok_or_else(|| org_not_found(&id))?;
    Ok(view(c, &e))
}

/// `PATCH /organization/update`: `organization_id` (required) and the fields to change → the
/// organization.
pub async fn update(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let id = req.required_string("organization_id")?;
    let e = c.get(Kind::Org, &id).ok_or_else(|| org_not_found(&id))?;
    let mut doc = e.doc();
    read_fields(c, req, &mut doc)?;
    let spend = amount(req, "spend")?;
    doc.insert("organization_id".into(), json!(id));
    doc.insert("updated_at".into(), json!(now_iso()));
    doc.insert("updated_by".into(), json!("litellm_proxy_admin"));
    let e = c.put(Kind::Org, &id, doc).await?;
    if let Some(s) = spend {
        c.set_spend(&e, s).await?;
    }
    let e = c.get(Kind::Org, &id).unwrap_or(e);
    Ok(view(c, &e))
}

/// `DELETE /organization/delete` `{"organization_ids": [...]}` → the deleted organizations.
/// Nothing is deleted if any id is unknown (404 naming it). Their teams stay, without the
/// organization's limits.
pub async fn delete(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let ids = req.strings("organization_ids")?.unwrap_or_default();
    if ids.is_empty() || ids.iter().any(String::is_empty) {
        return Err(AdminError::bad(
            "organization_ids",
            "organization_ids is required: {\"organization_ids\": [\"<organization_id>\", ...]}",
        ));
    }
    let found = all_exist(c, Kind::Org, &ids, org_not_found)?;
    let mut out = Vec::with_capacity(found.len());
    for e in found {
        out.push(view(c, &e));
        c.delete(Kind::Org, &e.id).await?;
    }
    Ok(Value::Array(out))
}

/// `GET /organization/list` (optional `org_id`, `org_alias` substring filters) → every
/// organization with its teams and members.
pub async fn list(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let org_id = req.string("org_id")?.filter(|s| !s.is_empty());
    let alias = req
        .string("org_alias")?
        .filter(|s| !s.is_empty())
        .map(|s| s.to_lowercase());
    let out = c
        .list(Kind::Org)
        .iter()
        .filter(|e| org_id.as_deref().is_none_or(|id| e.id == id))
        .filter(|e| {
            alias
                .as_deref()
                .is_none_or(|a| e.alias().is_some_and(|s| s.to_lowercase().contains(a)))
        })
        .map(|e| view(c, e))
        .collect();
    Ok(Value::Array(out))
}
