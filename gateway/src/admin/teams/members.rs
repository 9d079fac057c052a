//! Team memberships: the membership entity (`Kind::Member`, id `team_id/user_id`), the team's
//! `members_with_roles` roster that mirrors it, members named in requests, and the
//! `/team/member_add`, `/team/member_delete` and `/team/member_update` routes.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::{named_team, team_object};
use crate::admin::budgets::{limit_values, LIMIT_FIELDS};
use crate::admin::fields::{field, Ty, LIMITS};
use crate::admin::users::{ensure_user, user_by_email, user_object};
use crate::admin::util::{doc_field, doc_str, into_map, iso_ms, new_id, touch};
use crate::admin::{AdminError, Req};
use crate::control::{now_ms, Control, Entity, Kind};

/// Roles a team member can have.
const MEMBER_ROLES: &[&str] = &["admin", "user"];

/// A membership as `/team/info` answers with it (LiteLLM's `LiteLLM_TeamMembership`).
fn membership_object(c: &Control, m: &Entity) -> Value {
    let doc = m.doc();
    let budget = if ["max_budget", "rpm_limit", "tpm_limit"]
        .iter()
        .any(|f| doc.get(*f).is_some_and(|b| !b.is_null()))
    {
        Value::Object(limit_values(&doc, None, &LIMIT_FIELDS[..LIMITS.len()]))
    } else {
        Value::Null
    };
    json!({
        "team_id": m.team_id,
        "user_id": m.user_id,
        "role": doc_str(&doc, "role"),
        "budget_id": doc_field(&doc, "budget_id"),
        "spend": c.spend(m),
        "litellm_budget_table": budget,
    })
}

/// The memberships of `team_id`.
pub(super) fn members_of(c: &Control, team_id: &str) -> Vec<Arc<Entity>> {
    c.list(Kind::Member)
        .into_iter()
        .filter(|m| m.team_id.as_deref() == Some(team_id))
        .collect()
}

pub(super) fn member_id(team_id: &str, user_id: &str) -> String {
    format!("{team_id}/{user_id}")
}

/// The `members_with_roles` entries of a team document.
fn roster_of(doc: &Map<String, Value>) -> Vec<Value> {
    match doc.get("members_with_roles") {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    }
}

/// The team's `members_with_roles` entries.
fn roster(team: &Entity) -> Vec<Value> {
    roster_of(&team.doc())
}

/// The `user_email` stored on user `user_id`.
fn stored_email(c: &Control, user_id: &str) -> Option<String> {
    c.get(Kind::User, user_id)
        .and_then(|u| u.email().map(str::to_string))
}

/// Rewrites the team's `members_with_roles` entry for `user_id` (`Some(entry)`) or drops it.
async fn set_roster_entry(
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

fn roster_entry(user_id: &str, role: &str, email: Option<&str>) -> Value {
    json!({"user_id": user_id, "role": role, "user_email": email})
}

/// Makes `user_id` a member of `team_id` (membership entity and roster entry).
pub(in crate::admin) async fn add_member(
    c: &Control,
    team_id: &str,
    user_id: &str,
    role: &str,
    email: Option<&str>,
    max_budget: Option<f64>,
) -> Result<Arc<Entity>, AdminError> {
    let id = member_id(team_id, user_id);
    let now = now_ms();
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
pub(in crate::admin) async fn remove_member(
    c: &Control,
    team_id: &str,
    user_id: &str,
) -> Result<(), AdminError> {
    c.delete(Kind::Member, &member_id(team_id, user_id)).await?;
    set_roster_entry(c, team_id, user_id, None).await
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

/// The memberships of `team_id` as `/team/info` and `/team/list` answer with them.
pub(super) fn memberships(c: &Control, team_id: &str) -> Vec<Value> {
    members_of(c, team_id)
        .iter()
        .map(|m| membership_object(c, m))
        .collect()
}

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
