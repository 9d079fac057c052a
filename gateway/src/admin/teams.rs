//! Management API: teams and team members (`/team/*`), with LiteLLM's routes, field names and
//! shapes.
//!
//! A membership is its own entity (`Kind::Member`, id `team_id/user_id`, document
//! `{team_id, user_id, role, max_budget}`): enforcement charges and checks it. The team's
//! `members_with_roles` list mirrors the memberships for LiteLLM's clients.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::keys::{
    check_budget_ref, doc_str, field, iso_ms, key_object, keys_where, new_id, read_fields,
    with_spend, write_lock, Ty,
};
use super::users::{ensure_user, user_by_email, user_object};
use super::{AdminError, Req};
use crate::control::{now_ms, Control, Entity, Kind};

/// The fields `/team/new` and `/team/update` accept, with their types.
const TEAM_FIELDS: &[(&str, Ty)] = &[
    ("team_alias", Ty::Text),
    ("models", Ty::List),
    ("max_budget", Ty::Money),
    ("soft_budget", Ty::Money),
    ("budget_duration", Ty::Duration),
    ("rpm_limit", Ty::Count),
    ("tpm_limit", Ty::Count),
    ("max_parallel_requests", Ty::Count),
    ("metadata", Ty::Object),
    ("tags", Ty::List),
    ("blocked", Ty::Flag),
    ("organization_id", Ty::Text),
    ("model_aliases", Ty::Aliases),
    ("budget_id", Ty::Text),
    ("guardrails", Ty::List),
];

/// Roles a team member can have.
const MEMBER_ROLES: &[&str] = &["admin", "user"];

/// A new team document with every field LiteLLM's team row has, at its default.
fn team_defaults(team_id: &str, now: i64) -> Map<String, Value> {
    let Value::Object(m) = json!({
        "team_id": team_id,
        "team_alias": null,
        "organization_id": null,
        "admins": [],
        "members": [],
        "members_with_roles": [],
        "metadata": {},
        "tags": [],
        "models": [],
        "max_budget": null,
        "soft_budget": null,
        "budget_duration": null,
        "rpm_limit": null,
        "tpm_limit": null,
        "max_parallel_requests": null,
        "blocked": false,
        "model_aliases": {},
        "budget_id": null,
        "created_at": iso_ms(now),
        "updated_at": iso_ms(now),
    }) else {
        unreachable!("a JSON object literal")
    };
    m
}

/// A team as every route answers with it: the document, live `spend` and `budget_reset_at`.
pub(super) fn team_object(c: &Control, t: &Entity) -> Map<String, Value> {
    let mut m = with_spend(c, t);
    m.insert("team_id".into(), Value::String(t.id.clone()));
    m
}

/// A membership as `/team/info` answers with it (LiteLLM's `LiteLLM_TeamMembership`).
fn membership_object(c: &Control, m: &Entity) -> Value {
    let budget = m
        .doc
        .get("max_budget")
        .filter(|b| !b.is_null())
        .map_or(Value::Null, |b| {
            json!({
                "max_budget": b,
                "soft_budget": null,
                "budget_duration": null,
                "rpm_limit": null,
                "tpm_limit": null,
                "max_parallel_requests": null,
            })
        });
    json!({
        "team_id": doc_str(&m.doc, "team_id"),
        "user_id": doc_str(&m.doc, "user_id"),
        "role": doc_str(&m.doc, "role"),
        "budget_id": m.doc.get("budget_id").cloned().unwrap_or(Value::Null),
        "spend": c.spend(m),
        "litellm_budget_table": budget,
    })
}

fn members_of(c: &Control, team_id: &str) -> Vec<Arc<Entity>> {
    c.list(Kind::Member)
        .into_iter()
        .filter(|m| doc_str(&m.doc, "team_id") == Some(team_id))
        .collect()
}

fn member_id(team_id: &str, user_id: &str) -> String {
    format!("{team_id}/{user_id}")
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
    let mut doc = team.doc.clone();
    let mut roster: Vec<Value> = doc
        .get("members_with_roles")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
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
    doc.insert("updated_at".into(), Value::String(iso_ms(now_ms())));
    c.put(Kind::Team, team_id, doc).await?;
    Ok(())
}

fn roster_entry(user_id: &str, role: &str, email: Option<&str>) -> Value {
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
    let now = now_ms();
    let mut doc = c
        .get(Kind::Member, &id)
        .map(|m| m.doc.clone())
        .unwrap_or_else(|| {
            let Value::Object(m) = json!({
                "team_id": team_id,
                "user_id": user_id,
                "budget_id": null,
                "max_budget": null,
                "created_at": iso_ms(now),
            }) else {
                unreachable!("a JSON object literal")
            };
            m
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

/// A member named in a request (`members_with_roles`, `member`), before it is resolved.
struct MemberSpec {
    user_id: Option<String>,
    user_email: Option<String>,
    role: String,
}

fn member_spec(param: &str, v: &Value) -> Result<MemberSpec, AdminError> {
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
struct Resolved {
    user_id: String,
    email: Option<String>,
    role: String,
}

fn resolve(c: &Control, spec: MemberSpec) -> Resolved {
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
    let email = spec.user_email.clone().or_else(|| {
        c.get(Kind::User, &user_id)
            .and_then(|u| doc_str(&u.doc, "user_email").map(str::to_string))
    });
    Resolved {
        user_id,
        email,
        role: spec.role,
    }
}

/// An `organization_id` given must name an existing organization.
fn check_org_ref(c: &Control, doc: &Map<String, Value>) -> Result<(), AdminError> {
    if let Some(o) = doc_str(doc, "organization_id") {
        if c.get(Kind::Org, o).is_none() {
            return Err(AdminError::bad(
                "organization_id",
                format!(
                    "organization_id={o} does not exist; create it with /organization/new first"
                ),
            ));
        }
    }
    Ok(())
}

/// `POST /team/new`: creates the team (id generated if absent) with its `members_with_roles`
/// (unknown users are created).
pub async fn new(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let _w = write_lock().await;
    let now = now_ms();
    let team_id = match req.string("team_id")?.map(|s| s.trim().to_string()) {
        Some(id) if !id.is_empty() => id,
        _ => new_id(),
    };
    if team_id.contains('/') {
        return Err(AdminError::bad("team_id", "team_id must not contain '/'"));
    }
    if c.get(Kind::Team, &team_id).is_some() {
        return Err(AdminError::exists(
            "team_id",
            format!("Team id = {team_id} already exists. Please use a different team id."),
        ));
    }
    let mut doc = team_defaults(&team_id, now);
    read_fields(req, TEAM_FIELDS, &mut doc)?;
    check_org_ref(c, &doc)?;
    check_budget_ref(c, &doc)?;
    let specs = match req.body.get("members_with_roles") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|m| member_spec("members_with_roles", m))
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => {
            return Err(AdminError::bad(
                "members_with_roles",
                format!("members_with_roles must be a list of members, got {other}"),
            ))
        }
    };
    let mut members: Vec<Resolved> = Vec::new();
    for s in specs {
        let r = resolve(c, s);
        if members.iter().any(|m| m.user_id == r.user_id) {
            return Err(AdminError::bad(
                "members_with_roles",
                format!("user {} is listed twice", r.user_id),
            ));
        }
        members.push(r);
    }
    let team = c.insert(Kind::Team, &team_id, doc).await?.ok_or_else(|| {
        AdminError::exists("team_id", format!("Team id = {team_id} already exists."))
    })?;
    for m in &members {
        ensure_user(c, &m.user_id, m.email.as_deref()).await?;
        add_member(c, &team.id, &m.user_id, &m.role, m.email.as_deref(), None).await?;
    }
    let team = c.get(Kind::Team, &team_id).unwrap_or(team);
    Ok(Value::Object(team_object(c, &team)))
}

/// The team a request names by `team_id`, or 404.
fn named_team(c: &Control, req: &Req) -> Result<Arc<Entity>, AdminError> {
    let id = req.required_string("team_id")?;
    c.get(Kind::Team, &id)
        .ok_or_else(|| AdminError::not_found(format!("Team not found, passed team_id={id}")))
}

/// `POST /team/update`: a partial update. Answers `{"team_id", "data": team}`.
pub async fn update(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let _w = write_lock().await;
    let team = named_team(c, req)?;
    let mut doc = team.doc.clone();
    read_fields(req, TEAM_FIELDS, &mut doc)?;
    check_org_ref(c, &doc)?;
    check_budget_ref(c, &doc)?;
    doc.insert("updated_at".into(), Value::String(iso_ms(now_ms())));
    let team = c.put(Kind::Team, &team.id, doc).await?;
    Ok(json!({"team_id": team.id, "data": team_object(c, &team)}))
}

/// `GET /team/info?team_id=`: the team, its keys and its memberships.
pub async fn info(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let team = named_team(c, req)?;
    Ok(json!({
        "team_id": team.id,
        "team_info": team_object(c, &team),
        "keys": team_keys(c, &team.id),
        "team_memberships": memberships(c, &team.id),
    }))
}

fn team_keys(c: &Control, team_id: &str) -> Vec<Value> {
    keys_where(c, "team_id", team_id)
        .iter()
        .map(|k| Value::Object(key_object(c, k)))
        .collect()
}

fn memberships(c: &Control, team_id: &str) -> Vec<Value> {
    members_of(c, team_id)
        .iter()
        .map(|m| membership_object(c, m))
        .collect()
}

/// `GET /team/list`: every team (filters `user_id`: teams the user is in; `organization_id`),
/// each with its keys and memberships.
pub async fn list(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let user = req.string("user_id")?.filter(|s| !s.is_empty());
    let org = req.string("organization_id")?.filter(|s| !s.is_empty());
    let teams: Vec<Value> = c
        .list(Kind::Team)
        .into_iter()
        .filter(|t| {
            user.as_deref()
                .is_none_or(|u| c.get(Kind::Member, &member_id(&t.id, u)).is_some())
                && org
                    .as_deref()
                    .is_none_or(|o| doc_str(&t.doc, "organization_id") == Some(o))
        })
        .map(|t| {
            let mut o = team_object(c, &t);
            let keys = team_keys(c, &t.id);
            o.insert("keys_count".into(), json!(keys.len()));
            o.insert("keys".into(), Value::Array(keys));
            o.insert(
                "team_memberships".into(),
                Value::Array(memberships(c, &t.id)),
            );
            Value::Object(o)
        })
        .collect();
    Ok(Value::Array(teams))
}

/// `POST /team/delete`: `{"team_ids": [...]}`. Deletes the teams, their keys and memberships;
/// every id must exist (404 otherwise, and nothing is deleted).
pub async fn delete(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let _w = write_lock().await;
    let ids = req.strings("team_ids")?.unwrap_or_default();
    if ids.is_empty() {
        return Err(AdminError::bad(
            "team_ids",
            "team_ids is required: a list of team ids",
        ));
    }
    for id in &ids {
        if c.get(Kind::Team, id).is_none() {
            return Err(AdminError::not_found(format!(
                "Team not found, passed team_id={id}"
            )));
        }
    }
    let mut deleted_keys = 0usize;
    for id in &ids {
        for k in keys_where(c, "team_id", id) {
            super::keys::delete_key(c, &k.id).await?;
            deleted_keys += 1;
        }
        for m in members_of(c, id) {
            c.delete(Kind::Member, &m.id).await?;
        }
        c.delete(Kind::Team, id).await?;
    }
    Ok(json!({"deleted_teams": ids, "deleted_keys": deleted_keys}))
}

/// `POST /team/member_add`: `member` (one or a list of `{user_id | user_email, role}`) and
/// `max_budget_in_team`. Unknown users are created. Answers the team plus `updated_users` and
/// `updated_team_memberships`.
pub async fn member_add(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let _w = write_lock().await;
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
        (None, Some(e)) => team
            .doc
            .get("members_with_roles")
            .and_then(Value::as_array)
            .and_then(|r| {
                r.iter().find(|m| {
                    m.get("user_email")
                        .and_then(Value::as_str)
                        .is_some_and(|x| x.eq_ignore_ascii_case(e))
                })
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
    let _w = write_lock().await;
    let team = named_team(c, req)?;
    let user_id = named_member(c, req, &team)?;
    remove_member(c, &team.id, &user_id).await?;
    let team = c.get(Kind::Team, &team.id).unwrap_or(team);
    Ok(Value::Object(team_object(c, &team)))
}

/// `POST /team/member_update`: `{team_id, user_id | user_email, role?, max_budget_in_team?}`
/// (`max_budget_in_team: null` removes the member's budget).
pub async fn member_update(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let _w = write_lock().await;
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
    let id = member_id(&team.id, &user_id);
    let existing = c.get(Kind::Member, &id).ok_or_else(|| {
        AdminError::bad(
            "user_id",
            format!("User {user_id} not found in team {}", team.id),
        )
    })?;
    let mut doc = existing.doc.clone();
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
    doc.insert("updated_at".into(), Value::String(iso_ms(now_ms())));
    let m = c.put(Kind::Member, &id, doc).await?;
    let email = team
        .doc
        .get("members_with_roles")
        .and_then(Value::as_array)
        .and_then(|r| {
            r.iter()
                .find(|e| e.get("user_id").and_then(Value::as_str) == Some(user_id.as_str()))
        })
        .and_then(|e| {
            e.get("user_email")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .or_else(|| {
            c.get(Kind::User, &user_id)
                .and_then(|u| doc_str(&u.doc, "user_email").map(str::to_string))
        });
    let role_now = doc_str(&m.doc, "role").unwrap_or("user").to_string();
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
        "max_budget_in_team": m.doc.get("max_budget").cloned().unwrap_or(Value::Null),
    }))
}

/// `POST /team/block` and `/team/unblock`: `{"team_id"}`; answers the team.
pub async fn block(c: &Control, req: &Req, on: bool) -> Result<Value, AdminError> {
    let _w = write_lock().await;
    let team = named_team(c, req)?;
    let mut doc = team.doc.clone();
    doc.insert("blocked".into(), Value::Bool(on));
    doc.insert("updated_at".into(), Value::String(iso_ms(now_ms())));
    let team = c.put(Kind::Team, &team.id, doc).await?;
    Ok(Value::Object(team_object(c, &team)))
}
