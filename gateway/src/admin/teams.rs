//! Management API: teams (`/team/*`), with LiteLLM's routes, field names and shapes. The
//! `/team/member_*` routes are in `team_members.rs`, the memberships in `membership_ops.rs`.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::access::{forbidden, Role, Who};
use super::documents::{into_map, iso_ms, new_id, touch};
use super::entity_ops::{
    all_exist, delete_key, ensure_user, keys_where, member_id, named_team, set_blocked,
    team_not_found,
};
use super::error::AdminError;
use super::membership_ops::{add_member, delete_team_memberships, member_spec, resolve, Resolved};
use super::request::{read_fields, Req};
use super::responses::{key_object, memberships, team_object};
use super::validate::{check_budget_ref, check_ref, unset_limits, Ty, LIMITS, TOKEN_LIMITS};
use crate::clock::now_ms_i64;
use crate::control::{Control, Entity, Kind};

/// The fields `/team/new` and `/team/update` read, with their types (the LiteLLM fields they
/// accept without reading are in `route_fields.rs`).
pub(super) const TEAM_FIELDS: &[&[(&str, Ty)]] = &[
    &[("team_alias", Ty::Text), ("models", Ty::List)],
    LIMITS,
    TOKEN_LIMITS,
    &[
        ("metadata", Ty::Object),
        ("tags", Ty::List),
        ("blocked", Ty::Flag),
        ("organization_id", Ty::Text),
        ("model_aliases", Ty::Aliases),
        ("budget_id", Ty::Text),
        ("team_member_permissions", Ty::List),
        // Guardrails (`guard/`): the team's list, kept in `metadata.guardrails` as on keys.
        ("guardrails", Ty::List),
    ],
];

/// LiteLLM's `guardrails` list goes to `metadata.guardrails`, where `guard/` reads it.
fn guardrails_into_metadata(doc: &mut Map<String, Value>) {
    let Some(g) = doc.remove("guardrails").filter(Value::is_array) else {
        return;
    };
    let meta = doc
        .entry("metadata")
        .and_modify(|m| {
            if !m.is_object() {
                *m = json!({});
            }
        })
        .or_insert_with(|| json!({}));
    if let Some(m) = meta.as_object_mut() {
        m.insert("guardrails".into(), g);
    }
}

/// A new team document with every field LiteLLM's team row has, at its default.
fn team_defaults(team_id: &str, now: i64) -> Map<String, Value> {
    let mut m = into_map(json!({
        "team_id": team_id,
        "team_alias": null,
        "organization_id": null,
        "admins": [],
        "members": [],
        "members_with_roles": [],
        "metadata": {},
        "tags": [],
        "models": [],
        "blocked": false,
        "model_aliases": {},
        "budget_id": null,
        "team_member_permissions": [],
        "max_token_budget": null,
        "created_at": iso_ms(now),
        "updated_at": iso_ms(now),
    }));
    unset_limits(&mut m);
    m
}

/// The references of a team document: its organization and budget exist.
fn check_team_refs(c: &Control, doc: &Map<String, Value>) -> Result<(), AdminError> {
    check_ref(c, doc, "organization_id", Kind::Org, "/organization/new")?;
    check_budget_ref(c, doc)
}

/// `POST /team/new`: creates the team (id generated if absent) with its `members_with_roles`
/// (unknown users are created). A caller with a user (a `proxy_admin` user's key) becomes an
/// admin of the team unless it lists itself, as in LiteLLM.
pub async fn new(c: &Control, who: &Who, req: &Req) -> Result<Value, AdminError> {
    let now = now_ms_i64();
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
    guardrails_into_metadata(&mut doc);
    check_team_refs(c, &doc)?;
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
    if let Some(me) = who.user_id.as_deref() {
        if !members.iter().any(|m| m.user_id == me) {
            let email = c
                .get(Kind::User, me)
                .and_then(|u| u.email().map(str::to_string));
            members.push(Resolved {
                user_id: me.to_string(),
                email,
                role: "admin".into(),
            });
        }
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

/// `POST /team/update`: a partial update. Answers `{"team_id", "data": team}`.
pub async fn update(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let team = named_team(c, req)?;
    let mut doc = team.doc();
    read_fields(req, TEAM_FIELDS, &mut doc)?;
    guardrails_into_metadata(&mut doc);
    check_team_refs(c, &doc)?;
    touch(&mut doc);
    let team = c.put(Kind::Team, &team.id, doc).await?;
    Ok(json!({"team_id": team.id, "data": team_object(c, &team)}))
}

/// The team `/team/info` answers about: the named one (without `team_id`, the caller's key's
/// team). A caller that is not a proxy admin (or viewer) may read its key's team and the teams
/// its user is a member of (403, LiteLLM's words).
fn info_team(c: &Control, who: &Who, req: &Req) -> Result<Arc<Entity>, AdminError> {
    let own_team = who.key().and_then(|k| k.team_id.clone());
    let id = match (req.string("team_id")?.filter(|s| !s.is_empty()), &own_team) {
        (Some(id), _) => id,
        (None, Some(own)) => own.clone(),
        (None, None) => return Err(AdminError::bad("team_id", "team_id is required")),
    };
    let allowed = who.is_admin()
        || who.role == Role::Viewer
        || own_team.as_deref() == Some(id.as_str())
        || who
            .user_id
            .as_deref()
            .is_some_and(|u| c.get(Kind::Member, &member_id(&id, u)).is_some());
    if !allowed {
        return Err(forbidden(format!(
            "key not allowed to access this team's info. team_id={id}, key's team_id={}",
            own_team.as_deref().unwrap_or("None")
        )));
    }
    c.get(Kind::Team, &id).ok_or_else(|| team_not_found(&id))
}

/// `GET /team/info?team_id=`: the team, its keys and its memberships.
pub async fn info(c: &Control, who: &Who, req: &Req) -> Result<Value, AdminError> {
    let team = info_team(c, who, req)?;
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
                    .is_none_or(|o| t.org_id.as_deref() == Some(o))
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
    let ids = req.required_strings("team_ids", "team_ids is required: a list of team ids")?;
    all_exist(c, Kind::Team, &ids, team_not_found)?;
    let mut deleted_keys = 0usize;
    for id in &ids {
        for k in keys_where(c, "team_id", id) {
            delete_key(c, &k.id).await?;
            deleted_keys += 1;
        }
        delete_team_memberships(c, id).await?;
        c.delete(Kind::Team, id).await?;
    }
    Ok(json!({"deleted_teams": ids, "deleted_keys": deleted_keys}))
}

/// `POST /team/block` and `/team/unblock`: `{"team_id"}`; answers the team.
pub async fn block(c: &Control, req: &Req, on: bool) -> Result<Value, AdminError> {
    let team = named_team(c, req)?;
    let team = set_blocked(c, &team, on).await?;
    Ok(Value::Object(team_object(c, &team)))
}
