//! Organization memberships (LiteLLM's `LiteLLM_OrganizationMembership`) and the
//! `/organization/member_add`, `/member_update` and `/member_delete` routes. A membership is an
//! entry of the organization document's `memberships` list (`{user_id, user_role, created_at,
//! updated_at}`); a user whose own `organization_id` names the organization counts as a member
//! too (`internal_user`), as before these routes existed. Memberships carry no budget:
//! `max_budget_in_organization` is refused (see `spec_table.rs`), since nothing would enforce it.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::users::{ensure_user, user_by_email, user_object};
use super::util::{iso_ms, new_id, now_iso};
use super::{AdminError, Req};
use crate::control::{now_ms, Control, Entity, Kind};

/// The roles a member may have in an organization (LiteLLM's `ROLES_WITHIN_ORG`).
const ORG_ROLES: &[&str] = &["org_admin", "internal_user", "internal_user_viewer"];

/// The `memberships` entries of an organization document.
fn entries(doc: &Map<String, Value>) -> Vec<Value> {
    doc.get("memberships")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn entry_user(e: &Value) -> Option<&str> {
    e.get("user_id").and_then(Value::as_str)
}

/// A membership as LiteLLM returns it.
fn membership(c: &Control, org: &str, user_id: &str, entry: &Value) -> Value {
    let user = c.get(Kind::User, user_id);
    json!({
        "user_id": user_id,
        "organization_id": org,
        "user_role": entry.get("user_role").cloned().unwrap_or(Value::Null),
        "spend": user.as_ref().map_or(0.0, |u| c.spend(u)),
        "budget_id": null,
        "litellm_budget_table": null,
        "created_at": entry.get("created_at").cloned().unwrap_or(Value::Null),
        "updated_at": entry.get("updated_at").cloned().unwrap_or(Value::Null),
        "user_email": user.as_ref().and_then(|u| u.email().map(str::to_string)),
    })
}

/// Every member of `org`: its memberships, then the users whose `organization_id` is `org`.
pub(super) fn members(c: &Control, org: &Entity) -> Vec<Value> {
    let listed = entries(&org.doc());
    let mut out: Vec<Value> = listed
        .iter()
        .filter_map(|e| Some(membership(c, &org.id, entry_user(e)?, e)))
        .collect();
    for u in c.list(Kind::User) {
        if u.org_id.as_deref() == Some(org.id.as_str())
            && !listed.iter().any(|e| entry_user(e) == Some(u.id.as_str()))
        {
            let entry = json!({"user_role": "internal_user", "created_at": u.created_at()});
            out.push(membership(c, &org.id, &u.id, &entry));
        }
    }
    out
}

/// Adds (or re-roles) `user_id` as a member of organization `org`.
pub(super) async fn add_membership(
    c: &Control,
    org: &str,
    user_id: &str,
    role: &str,
) -> Result<Value, AdminError> {
    let e = c.get(Kind::Org, org).ok_or_else(|| not_found(org))?;
    let mut doc = e.doc();
    let mut list = entries(&doc);
    let now = iso_ms(now_ms());
    let entry = match list.iter_mut().find(|m| entry_user(m) == Some(user_id)) {
        Some(m) => {
            m["user_role"] = json!(role);
            m["updated_at"] = json!(now);
            m.clone()
        }
        None => {
            let m = json!({"user_id": user_id, "user_role": role, "created_at": now, "updated_at": now});
            list.push(m.clone());
            m
        }
    };
    doc.insert("memberships".into(), Value::Array(list));
    doc.insert("updated_at".into(), json!(now_iso()));
    c.put(Kind::Org, org, doc).await?;
    Ok(membership(c, org, user_id, &entry))
}

fn not_found(id: &str) -> AdminError {
    AdminError::not_found(format!("Organization not found for organization_id={id}"))
}

fn named_org(c: &Control, req: &Req) -> Result<Arc<Entity>, AdminError> {
    let id = req.required_string("organization_id")?;
    c.get(Kind::Org, &id).ok_or_else(|| not_found(&id))
}

/// A `role` given for a member: one of [`ORG_ROLES`].
fn role_of(param: &str, v: Option<&Value>) -> Result<Option<String>, AdminError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(r)) if ORG_ROLES.contains(&r.as_str()) => Ok(Some(r.clone())),
        Some(other) => Err(AdminError::bad(
            param,
            format!(
                "{param}: role must be one of {}, got {other}",
                ORG_ROLES.join(", ")
            ),
        )),
    }
}

/// Whether `user_id` is a member of `org` (listed, or by its own `organization_id`).
fn is_member(c: &Control, org: &Entity, user_id: &str) -> bool {
    entries(&org.doc())
        .iter()
        .any(|m| entry_user(m) == Some(user_id))
        || c.get(Kind::User, user_id)
            .is_some_and(|u| u.org_id.as_deref() == Some(org.id.as_str()))
}

/// `POST /organization/member_add`: `organization_id`, `member` (one or a list of
/// `{user_id | user_email, role}`; role `org_admin`, `internal_user` or `internal_user_viewer`).
/// Unknown users are created. Answers `{organization_id, updated_users,
/// updated_organization_memberships}`.
pub async fn add(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let org = named_org(c, req)?;
    let items: Vec<Value> = match req.body.get("member") {
        Some(Value::Array(items)) if !items.is_empty() => items.clone(),
        Some(v @ Value::Object(_)) => vec![v.clone()],
        _ => {
            return Err(AdminError::bad(
                "member",
                "member is required: {\"user_id\": \"...\", \"role\": \"internal_user\"} or a list of them",
            ))
        }
    };
    let mut planned: Vec<(String, Option<String>, String)> = Vec::new();
    for m in &items {
        let Value::Object(o) = m else {
            return Err(AdminError::bad(
                "member",
                format!("member entries must be objects, got {m}"),
            ));
        };
        if let Some(k) = o
            .keys()
            .find(|k| !["user_id", "user_email", "role"].contains(&k.as_str()))
        {
            return Err(AdminError::bad(
                "member",
                format!("member: unknown field `{k}` (known: user_id, user_email, role)"),
            ));
        }
        let text = |k: &str| {
            o.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let role = role_of("member", o.get("role"))?.ok_or_else(|| {
            AdminError::bad(
                "member",
                "member: role is required (org_admin, internal_user or internal_user_viewer)",
            )
        })?;
        let email = text("user_email").map(str::to_string);
        let user_id = match (text("user_id"), &email) {
            (Some(id), _) => id.to_string(),
            (None, Some(e)) => user_by_email(c, e)
                .map(|u| u.id.clone())
                .unwrap_or_else(new_id),
            (None, None) => {
                return Err(AdminError::bad(
                    "member",
                    "member: each member needs a user_id or a user_email",
                ))
            }
        };
        if is_member(c, &org, &user_id) || planned.iter().any(|(u, ..)| *u == user_id) {
            return Err(AdminError::bad(
                "member",
                format!("User={user_id} is already a member of organization={}. Use /organization/member_update to change it.", org.id),
            ));
        }
        planned.push((user_id, email, role));
    }
    let mut users = Vec::new();
    let mut memberships = Vec::new();
    for (user_id, email, role) in planned {
        let u = ensure_user(c, &user_id, email.as_deref()).await?;
        memberships.push(add_membership(c, &org.id, &user_id, &role).await?);
        users.push(Value::Object(user_object(c, &u)));
    }
    Ok(json!({
        "organization_id": org.id,
        "updated_users": users,
        "updated_organization_memberships": memberships,
    }))
}

/// The member a request names by `user_id` or `user_email`: its id, or 400 if not a member.
fn named_member(c: &Control, req: &Req, org: &Entity) -> Result<String, AdminError> {
    let id = match (
        req.string("user_id")?.filter(|s| !s.is_empty()),
        req.string("user_email")?.filter(|s| !s.is_empty()),
    ) {
        (Some(id), _) => id,
        (None, Some(e)) => user_by_email(c, &e).map(|u| u.id.clone()).unwrap_or(e),
        (None, None) => {
            return Err(AdminError::bad(
                "user_id",
                "Either user_id or user_email needs to be passed in",
            ))
        }
    };
    if !is_member(c, org, &id) {
        return Err(AdminError::bad(
            "user_id",
            format!("User {id} is not a member of organization {}", org.id),
        ));
    }
    Ok(id)
}

/// `PATCH /organization/member_update`: `organization_id`, `user_id | user_email`, `role` → the
/// membership.
pub async fn update(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let org = named_org(c, req)?;
    let user_id = named_member(c, req, &org)?;
    let role = match role_of("role", req.body.get("role"))? {
        Some(r) => r,
        None => entries(&org.doc())
            .iter()
            .find(|m| entry_user(m) == Some(user_id.as_str()))
            .and_then(|m| {
                m.get("user_role")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "internal_user".into()),
    };
    add_membership(c, &org.id, &user_id, &role).await
}

/// `DELETE /organization/member_delete`: `organization_id`, `user_id | user_email` → the
/// membership that was removed.
pub async fn delete(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let org = named_org(c, req)?;
    let user_id = named_member(c, req, &org)?;
    let out = members(c, &org)
        .into_iter()
        .find(|m| m["user_id"] == json!(user_id))
        .unwrap_or(Value::Null);
    remove_membership(c, &org.id, &user_id).await?;
    Ok(out)
}

/// Ends `user_id`'s membership of `org` (its entry, and the user's own `organization_id`).
pub(super) async fn remove_membership(
    c: &Control,
    org: &str,
    user_id: &str,
) -> Result<(), AdminError> {
    if let Some(e) = c.get(Kind::Org, org) {
        let mut doc = e.doc();
        let list = entries(&doc);
        if list.iter().any(|m| entry_user(m) == Some(user_id)) {
            let kept: Vec<Value> = list
                .into_iter()
                .filter(|m| entry_user(m) != Some(user_id))
                .collect();
            doc.insert("memberships".into(), Value::Array(kept));
            doc.insert("updated_at".into(), json!(now_iso()));
            c.put(Kind::Org, org, doc).await?;
        }
    }
    if let Some(u) = c
        .get(Kind::User, user_id)
        .filter(|u| u.org_id.as_deref() == Some(org))
    {
        let mut doc = u.doc();
        doc.insert("organization_id".into(), Value::Null);
        c.put(Kind::User, user_id, doc).await?;
    }
    Ok(())
}

/// The organizations `user_id` is a listed member of.
pub(super) fn orgs_of(c: &Control, user_id: &str) -> Vec<String> {
    c.list(Kind::Org)
        .iter()
        .filter(|o| {
            entries(&o.doc())
                .iter()
                .any(|m| entry_user(m) == Some(user_id))
        })
        .map(|o| o.id.clone())
        .collect()
}
