//! Management API: organization members (LiteLLM's `LiteLLM_OrganizationMembership`), the
//! `/organization/member_add`, `/member_update` and `/member_delete` routes. A user whose own
//! `organization_id` names the organization counts as a member too (`internal_user`), as before
//! these routes existed. Memberships carry no budget: `max_budget_in_organization` is refused
//! (see `route_fields.rs`), since nothing would enforce it. The membership entries are kept by
//! `membership_ops.rs`.

use serde_json::{json, Value};

use super::documents::{entry_user, new_id, org_entries};
use super::entity_ops::{ensure_user, named_org, user_by_email};
use super::error::AdminError;
use super::membership_ops::{add_membership, remove_membership};
use super::request::Req;
use super::responses::{org_member_list, user_object};
use crate::control::{Control, Entity, Kind};

/// The roles a member may have in an organization (LiteLLM's `ROLES_WITHIN_ORG`).
const ORG_ROLES: &[&str] = &["org_admin", "internal_user", "internal_user_viewer"];

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
    org_entries(&org.doc())
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
        None => org_entries(&org.doc())
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
    let out = org_member_list(c, &org)
        .into_iter()
        .find(|m| m["user_id"] == json!(user_id))
        .unwrap_or(Value::Null);
    remove_membership(c, &org.id, &user_id).await?;
    Ok(out)
}
