//! Memberships, the entity operations teams, users and organizations share. A team membership is
//! its own entity (`Kind::Member`, id `team_id/user_id`, document `{team_id, user_id, role,
//! max_budget}`): enforcement charges and checks it, and the team's `members_with_roles` roster
//! mirrors it for LiteLLM's clients. An organization membership is an entry of the organization
//! document's `memberships` list (`{user_id, user_role, created_at, updated_at}`).

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::documents::{entry_user, into_map, iso_ms, new_id, now_iso, org_entries, touch};
use super::entity_ops::{member_id, members_of, org_not_found, user_by_email};
use super::error::AdminError;
use super::responses::org_membership;
use crate::clock::now_ms_i64;
use crate::control::{Control, Entity, Kind};

/// Roles a team member can have.
pub(super) const MEMBER_ROLES: &[&str] = &["admin", "user"];

/// The `members_with_roles` entries of a team document.
fn roster_of(doc: &Map<String, Value>) -> Vec<Value> {
    match doc.get("members_with_roles") {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    }
}

/// The team's `members_with_roles` entries.
pub(super) fn roster(team: &Entity) -> Vec<Value> {
    roster_of(&team.doc())
}

/// The `user_email` stored on user `user_id`.
pub(super) fn stored_email(c: &Control, user_id: &str) -> Option<String> {
    c.get(Kind::User, user_id)
        .and_then(|u| u.email().map(str::to_string))
}

/// Rewrites the team's `members_with_roles` entry for `user_id` (`Some(entry)`) or drops it.
pub(super) async fn set_roster_entry(
    c: &Control,
    team_id: &str,
    user_id: &str,
    entry: Option<Value>,
) -> Result<(), AdminError> {
    let Some(team) = c.get(Kind::Team, team_id) else {
        return Ok(());
    };
    let mut doc = team.doc();
    let mut roster = roster_of(&doc);
    let pos = roster
        .iter()
        .position(|m| m.get("user_id").and_then(Value::as_str) == Some(user_id));
    match (pos, entry) {
        (Some(i), Some(e)) => roster[i] = e,
        (None, Some(e)) => roster.push(e),
        (Some(i), None) => {
            roster.remove(i);
        }
        (None, None) => return Ok(()),
    }
    doc.insert("members_with_roles".into(), Value::Array(roster));
    touch(&mut doc);
    c.put(Kind::Team, team_id, doc).await?;
    Ok(())
}

pub(super) fn roster_entry(user_id: &str, role: &str, email: Option<&str>) -> Value {
    json!({"user_id": user_id, "role": role, "user_email": email})
}

/// Makes `user_id` a member of `team_id` (membership entity and roster entry).
pub(super) async fn add_member(
    c: &Control,
    team_id: &str,
    user_id: &str,
    role: &str,
    email: Option<&str>,
    max_budget: Option<f64>,
) -> Result<Arc<Entity>, AdminError> {
    let id = member_id(team_id, user_id);
    let now = now_ms_i64();
    let mut doc = c
        .get(Kind::Member, &id)
        .map(|m| m.doc())
        .unwrap_or_else(|| {
            into_map(json!({
                "team_id": team_id,
                "user_id": user_id,
                "budget_id": null,
                "max_budget": null,
                "created_at": iso_ms(now),
            }))
        });
    doc.insert("role".into(), Value::String(role.to_string()));
    if let Some(b) = max_budget {
        doc.insert("max_budget".into(), json!(b));
    }
    doc.insert("updated_at".into(), Value::String(iso_ms(now)));
    let m = c.put(Kind::Member, &id, doc).await?;
    set_roster_entry(
        c,
        team_id,
        user_id,
        Some(roster_entry(user_id, role, email)),
    )
    .await?;
    Ok(m)
}

/// Ends `user_id`'s membership of `team_id`.
pub(super) async fn remove_member(
    c: &Control,
    team_id: &str,
    user_id: &str,
) -> Result<(), AdminError> {
    c.delete(Kind::Member, &member_id(team_id, user_id)).await?;
    set_roster_entry(c, team_id, user_id, None).await
}

/// Deletes every membership of `team_id` (the team itself is being deleted).
pub(super) async fn delete_team_memberships(c: &Control, team_id: &str) -> Result<(), AdminError> {
    for m in members_of(c, team_id) {
        c.delete(Kind::Member, &m.id).await?;
    }
    Ok(())
}

/// A member named in a request (`members_with_roles`, `member`), before it is resolved.
pub(super) struct MemberSpec {
    user_id: Option<String>,
    user_email: Option<String>,
    role: String,
}

pub(super) fn member_spec(param: &str, v: &Value) -> Result<MemberSpec, AdminError> {
    let Value::Object(o) = v else {
        return Err(AdminError::bad(
            param,
            format!("{param} entries must be objects like {{\"user_id\": \"...\", \"role\": \"user\"}}, got {v}"),
        ));
    };
    let text = |k: &str| -> Result<Option<String>, AdminError> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(other) => Err(AdminError::bad(
                param,
                format!("{param}: {k} must be a string, got {other}"),
            )),
        }
    };
    let user_id = text("user_id")?;
    let user_email = text("user_email")?;
    if user_id.is_none() && user_email.is_none() {
        return Err(AdminError::bad(
            param,
            format!("{param}: each member needs a user_id or a user_email"),
        ));
    }
    let role = text("role")?.unwrap_or_else(|| "user".to_string());
    if !MEMBER_ROLES.contains(&role.as_str()) {
        return Err(AdminError::bad(
            param,
            format!("{param}: role must be \"admin\" or \"user\", got {role:?}"),
        ));
    }
    Ok(MemberSpec {
        user_id,
        user_email,
        role,
    })
}

/// A member resolved to a user id (existing or to be created).
pub(super) struct Resolved {
    pub user_id: String,
    pub email: Option<String>,
    pub role: String,
}

pub(super) fn resolve(c: &Control, spec: MemberSpec) -> Resolved {
    let user_id = spec
        .user_id
        .clone()
        .or_else(|| {
            spec.user_email
                .as_deref()
                .and_then(|e| user_by_email(c, e))
                .map(|u| u.id.clone())
        })
        .unwrap_or_else(new_id);
    let email = spec
        .user_email
        .clone()
        .or_else(|| stored_email(c, &user_id));
    Resolved {
        user_id,
        email,
        role: spec.role,
    }
}

/// Adds (or re-roles) `user_id` as a member of organization `org`.
pub(super) async fn add_membership(
    c: &Control,
    org: &str,
    user_id: &str,
    role: &str,
) -> Result<Value, AdminError> {
    let e = c.get(Kind::Org, org).ok_or_else(|| org_not_found(org))?;
    let mut doc = e.doc();
    let mut list = org_entries(&doc);
    let now = iso_ms(now_ms_i64());
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
    Ok(org_membership(c, org, user_id, &entry))
}

/// Ends `user_id`'s membership of `org` (its entry, and the user's own `organization_id`).
pub(super) async fn remove_membership(
    c: &Control,
    org: &str,
    user_id: &str,
) -> Result<(), AdminError> {
    if let Some(e) = c.get(Kind::Org, org) {
        let mut doc = e.doc();
        let list = org_entries(&doc);
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
            org_entries(&o.doc())
                .iter()
                .any(|m| entry_user(m) == Some(user_id))
        })
        .map(|o| o.id.clone())
        .collect()
}
