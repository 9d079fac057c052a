//! Management API: a team's members (`/team/member_add`, `/team/member_delete`,
//! `/team/member_update`). The memberships themselves (entity, roster, members named in
//! requests) are kept by `membership_ops.rs`.

use serde_json::{json, Value};

use super::documents::{doc_field, doc_str, touch};
use super::entity_ops::{ensure_user, member_id, named_team, user_by_email};
use super::error::AdminError;
use super::membership_ops::{
    add_member, member_spec, remove_member, resolve, roster, roster_entry, set_roster_entry,
    stored_email, Resolved, MEMBER_ROLES,
};
use super::request::{field, Req};
use super::responses::{membership_object, team_object, user_object};
use super::validate::Ty;
use crate::control::{Control, Entity, Kind};

/// `POST /team/member_add`: `member` (one or a list of `{user_id | user_email, role}`) and
/// `max_budget_in_team`. Unknown users are created. Answers the team plus `updated_users` and
/// `updated_team_memberships`.
pub async fn member_add(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let team = named_team(c, req)?;
    let specs = match req.body.get("member") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|m| member_spec("member", m))
            .collect::<Result<Vec<_>, _>>()?,
        Some(v @ Value::Object(_)) => vec![member_spec("member", v)?],
        None | Some(Value::Null) => {
            return Err(AdminError::bad(
                "member",
                "member is required: {\"user_id\": \"...\", \"role\": \"user\"}",
            ))
        }
        Some(other) => {
            return Err(AdminError::bad(
                "member",
                format!("member must be an object or a non-empty list of objects, got {other}"),
            ))
        }
    };
    let budget = field(req, "max_budget_in_team", Ty::Money)?.and_then(|v| v.as_f64());
    let mut members: Vec<Resolved> = Vec::new();
    for s in specs {
        let r = resolve(c, s);
        if c.get(Kind::Member, &member_id(&team.id, &r.user_id))
            .is_some()
            || members.iter().any(|m| m.user_id == r.user_id)
        {
            return Err(AdminError::bad(
                "member",
                format!(
                    "User={} already in team. Use /team/member_update to change it.",
                    r.user_id
                ),
            ));
        }
        members.push(r);
    }
    let mut users = Vec::new();
    let mut memberships = Vec::new();
    for m in &members {
        let u = ensure_user(c, &m.user_id, m.email.as_deref()).await?;
        let mem = add_member(c, &team.id, &m.user_id, &m.role, m.email.as_deref(), budget).await?;
        memberships.push(membership_object(c, &mem));
        users.push(u);
    }
    let team = c.get(Kind::Team, &team.id).unwrap_or(team);
    let mut out = team_object(c, &team);
    out.insert(
        "updated_users".into(),
        Value::Array(
            users
                .iter()
                .map(|u| Value::Object(user_object(c, u)))
                .collect(),
        ),
    );
    out.insert("updated_team_memberships".into(), Value::Array(memberships));
    Ok(Value::Object(out))
}

/// The member a request names by `user_id` or `user_email`: its user id, or 400 if not in the
/// team (as LiteLLM answers).
fn named_member(c: &Control, req: &Req, team: &Entity) -> Result<String, AdminError> {
    let user_id = req.string("user_id")?.filter(|s| !s.is_empty());
    let email = req.string("user_email")?.filter(|s| !s.is_empty());
    let found = match (&user_id, &email) {
        (Some(u), _) => Some(u.clone()),
        (None, Some(e)) => roster(team)
            .iter()
            .find(|m| {
                m.get("user_email")
                    .and_then(Value::as_str)
                    .is_some_and(|x| x.eq_ignore_ascii_case(e))
            })
            .and_then(|m| m.get("user_id").and_then(Value::as_str).map(str::to_string))
            .or_else(|| user_by_email(c, e).map(|u| u.id.clone())),
        (None, None) => {
            return Err(AdminError::bad(
                "user_id",
                "Either user_id or user_email needs to be passed in",
            ))
        }
    };
    match found {
        Some(u) if c.get(Kind::Member, &member_id(&team.id, &u)).is_some() => Ok(u),
        _ => Err(AdminError::bad(
            if user_id.is_some() {
                "user_id"
            } else {
                "user_email"
            },
            format!(
                "User {} not found in team {}",
                user_id.or(email).unwrap_or_default(),
                team.id
            ),
        )),
    }
}

/// `POST /team/member_delete`: `{team_id, user_id | user_email}`. Answers the team.
pub async fn member_delete(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let team = named_team(c, req)?;
    let user_id = named_member(c, req, &team)?;
    remove_member(c, &team.id, &user_id).await?;
    let team = c.get(Kind::Team, &team.id).unwrap_or(team);
    Ok(Value::Object(team_object(c, &team)))
}

/// `POST /team/member_update`: `{team_id, user_id | user_email, role?, max_budget_in_team?,
/// rpm_limit?, tpm_limit?}` (`null` removes the member's budget or limit).
pub async fn member_update(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let team = named_team(c, req)?;
    let user_id = named_member(c, req, &team)?;
    let role = match field(req, "role", Ty::Text)? {
        Some(Value::String(r)) if MEMBER_ROLES.contains(&r.as_str()) => Some(r),
        Some(other) => {
            return Err(AdminError::bad(
                "role",
                format!("role must be \"admin\" or \"user\", got {other}"),
            ))
        }
        None => None,
    };
    let budget = field(req, "max_budget_in_team", Ty::Money)?;
    let mut limits = Vec::new();
    for f in ["rpm_limit", "tpm_limit"] {
        if req.body.contains_key(f) {
            limits.push((f, field(req, f, Ty::Count)?.unwrap_or(Value::Null)));
        }
    }
    let id = member_id(&team.id, &user_id);
    let existing = c.get(Kind::Member, &id).ok_or_else(|| {
        AdminError::bad(
            "user_id",
            format!("User {user_id} not found in team {}", team.id),
        )
    })?;
    let mut doc = existing.doc();
    if let Some(r) = &role {
        doc.insert("role".into(), Value::String(r.clone()));
    }
    match (&budget, req.body.get("max_budget_in_team")) {
        (Some(b), _) => {
            doc.insert("max_budget".into(), b.clone());
        }
        (None, Some(Value::Null)) => {
            doc.insert("max_budget".into(), Value::Null);
        }
        _ => {}
    }
    for (f, v) in limits {
        doc.insert(f.into(), v);
    }
    touch(&mut doc);
    let doc = c.put(Kind::Member, &id, doc).await?.doc();
    let email = roster(&team)
        .iter()
        .find(|e| e.get("user_id").and_then(Value::as_str) == Some(user_id.as_str()))
        .and_then(|e| {
            e.get("user_email")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .or_else(|| stored_email(c, &user_id));
    let role_now = doc_str(&doc, "role").unwrap_or("user").to_string();
    if role.is_some() {
        set_roster_entry(
            c,
            &team.id,
            &user_id,
            Some(roster_entry(&user_id, &role_now, email.as_deref())),
        )
        .await?;
    }
    Ok(json!({
        "team_id": team.id,
        "user_id": user_id,
        "user_email": email,
        "role": role_now,
        "max_budget_in_team": doc_field(&doc, "max_budget"),
        "rpm_limit": doc_field(&doc, "rpm_limit"),
        "tpm_limit": doc_field(&doc, "tpm_limit"),
    }))
}
