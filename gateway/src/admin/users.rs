//! Management API: internal users (`/user/*`), with LiteLLM's routes, field names and shapes.
//!
//! A user's `teams` are not stored in the user's document: they are read from the team
//! memberships (`Kind::Member`) when answering, so they cannot drift.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::access::{forbidden, Role, Who};
use super::documents::{doc_field, new_id, touch};
use super::entity_ops::{
    all_exist, delete_key, keys_where, store_key, teams_of, user_by_email, user_defaults,
};
use super::error::AdminError;
use super::key_fields::prepare_key;
use super::membership_ops::{
    add_member, add_membership, orgs_of, remove_member, remove_membership,
};
use super::request::{amount, field, page_param, read_fields, Req};
use super::responses::{
    generate_response, key_object, newest_first, paginate, team_object, user_object,
};
use super::validate::{amount_value, check_budget_ref, text_value, Ty, LIMITS, TOKEN_LIMITS};
use crate::clock::now_ms_i64;
use crate::control::{Control, Entity, Kind};

/// The fields `/user/new` and `/user/update` read, with their types (the LiteLLM fields they
/// accept without reading are in `route_fields.rs`).
pub(super) const USER_FIELDS: &[&[(&str, Ty)]] = &[
    &[
        ("user_email", Ty::Text),
        ("user_alias", Ty::Text),
        ("user_role", Ty::Role),
        ("models", Ty::List),
    ],
    LIMITS,
    TOKEN_LIMITS,
    &[
        ("metadata", Ty::Object),
        ("budget_id", Ty::Text),
        ("organization_id", Ty::Text),
        ("sso_user_id", Ty::Text),
    ],
];

/// `POST /user/new`: creates the user (id generated if absent) and, unless
/// `auto_create_key: false`, a key for it, returned once as `key`.
pub async fn new(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let now = now_ms_i64();
    let user_id = match req.string("user_id")?.map(|s| s.trim().to_string()) {
        Some(id) if !id.is_empty() => id,
        _ => new_id(),
    };
    if c.get(Kind::User, &user_id).is_some() {
        return Err(AdminError::exists(
            "user_id",
            format!("User with id {user_id} already exists"),
        ));
    }
    let mut doc = user_defaults(&user_id, now);
    read_fields(req, USER_FIELDS, &mut doc)?;
    check_budget_ref(c, &doc)?;
    let teams = new_user_teams(c, req)?;
    let orgs = req.strings("organizations")?.unwrap_or_default();
    for o in &orgs {
        if c.get(Kind::Org, o).is_none() {
            return Err(AdminError::bad(
                "organizations",
                format!(
                    "organization_id={o} does not exist; create it with /organization/new first"
                ),
            ));
        }
    }
    let spend = amount(req, "spend")?;
    let auto_key = field(req, "auto_create_key", Ty::Flag)?
        .and_then(|v| v.as_bool())
        .unwrap_or(true);
    let key = if auto_key {
        let mut base = Map::new();
        base.insert("user_id".into(), Value::String(user_id.clone()));
        base.insert(
            "models".into(),
            doc.get("models").cloned().unwrap_or_else(|| json!([])),
        );
        Some(prepare_key(c, req, false, base)?)
    } else {
        None
    };

    let user = c.insert(Kind::User, &user_id, doc).await?.ok_or_else(|| {
        AdminError::exists("user_id", format!("User with id {user_id} already exists"))
    })?;
    if let Some(s) = spend.filter(|s| *s > 0.0) {
        c.set_spend(&user, s).await?;
    }
    let email = user.email().map(str::to_string);
    for t in &teams {
        let role = t.role.as_str();
        add_member(c, &t.team_id, &user_id, role, email.as_deref(), t.budget).await?;
    }
    for o in &orgs {
        add_membership(c, o, &user_id, "internal_user").await?;
    }
    let user = c.get(Kind::User, &user_id).unwrap_or(user);
    let mut out = user_object(c, &user);
    match key {
        Some(k) => {
            let (secret, e) = store_key(c, k, None).await?;
            let created = generate_response(c, &e, &secret, req);
            for f in ["key", "token", "key_name", "key_alias", "expires"] {
                out.insert(f.into(), doc_field(&created, f));
            }
        }
        None => {
            for f in ["key", "token", "key_name", "key_alias", "expires"] {
                out.insert(f.into(), Value::Null);
            }
        }
    }
    Ok(Value::Object(out))
}

/// A team `/user/new` adds the user to: `"team-id"`, or LiteLLM's
/// `{"team_id", "max_budget_in_team", "user_role": "user"|"admin"}`.
struct NewUserTeam {
    team_id: String,
    budget: Option<f64>,
    role: String,
}

/// The `teams` of a `/user/new` request, each an existing team.
fn new_user_teams(c: &Control, req: &Req) -> Result<Vec<NewUserTeam>, AdminError> {
    let items = match req.body.get("teams") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => {
            return Err(AdminError::bad(
                "teams",
                format!("teams must be a list of team ids (or {{\"team_id\", \"max_budget_in_team\", \"user_role\"}} objects), got {other}"),
            ))
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        let t = match item {
            Value::String(id) => NewUserTeam {
                team_id: id.clone(),
                budget: None,
                role: "user".into(),
            },
            Value::Object(o) => {
                let team_id = text_value("teams", o.get("team_id").unwrap_or(&Value::Null))?;
                let budget = match o.get("max_budget_in_team") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(amount_value("teams", v)?),
                };
                let role = match o.get("user_role").and_then(Value::as_str) {
                    None => "user".to_string(),
                    Some(r @ ("user" | "admin")) => r.to_string(),
                    Some(r) => {
                        return Err(AdminError::bad(
                            "teams",
                            format!("teams: user_role must be \"user\" or \"admin\", got {r:?}"),
                        ))
                    }
                };
                if let Some(k) = o
                    .keys()
                    .find(|k| !["team_id", "max_budget_in_team", "user_role"].contains(&k.as_str()))
                {
                    return Err(AdminError::bad(
                        "teams",
                        format!("teams: unknown field `{k}` (known: team_id, max_budget_in_team, user_role)"),
                    ));
                }
                NewUserTeam {
                    team_id,
                    budget,
                    role,
                }
            }
            other => {
                return Err(AdminError::bad(
                    "teams",
                    format!("teams entries must be team ids or objects, got {other}"),
                ))
            }
        };
        if c.get(Kind::Team, &t.team_id).is_none() {
            return Err(AdminError::bad(
                "teams",
                format!("team_id={} does not exist", t.team_id),
            ));
        }
        out.push(t);
    }
    Ok(out)
}

fn user_not_found(id: &str) -> AdminError {
    AdminError::not_found(format!("User {id} not found"))
}

/// The user a request names by `user_id` (or `user_email`), or 404.
fn named_user(c: &Control, req: &Req) -> Result<Arc<Entity>, AdminError> {
    if let Some(id) = req.string("user_id")?.filter(|s| !s.is_empty()) {
        return c.get(Kind::User, &id).ok_or_else(|| user_not_found(&id));
    }
    if let Some(email) = req.string("user_email")?.filter(|s| !s.is_empty()) {
        return user_by_email(c, &email)
            .ok_or_else(|| AdminError::not_found(format!("User with email {email} not found")));
    }
    Err(AdminError::bad(
        "user_id",
        "user_id (or user_email) is required",
    ))
}

/// The user `/user/info` answers about: the named one, or the caller's own. A caller that is
/// not a proxy admin (or viewer) may name only its own user (403, LiteLLM's words).
fn info_user(c: &Control, who: &Who, req: &Req) -> Result<Arc<Entity>, AdminError> {
    let named = req.string("user_id")?.is_some_and(|s| !s.is_empty())
        || req.string("user_email")?.is_some_and(|s| !s.is_empty());
    if !named {
        if let Some(me) = who.user_id.as_deref() {
            return c.get(Kind::User, me).ok_or_else(|| user_not_found(me));
        }
    }
    if who.is_admin() || who.role == Role::Viewer {
        return named_user(c, req);
    }
    let me = who.own_user()?;
    let asked = match req.string("user_id")?.filter(|s| !s.is_empty()) {
        Some(id) => id,
        None => named_user(c, req)?.id.clone(),
    };
    if asked != me {
        return Err(forbidden(format!(
            "key not allowed to access this user's info. user_id={asked}, key's user_id={me}"
        )));
    }
    c.get(Kind::User, me).ok_or_else(|| user_not_found(me))
}

/// `GET /user/info?user_id=`: the user, its keys and its teams.
pub async fn info(c: &Control, who: &Who, req: &Req) -> Result<Value, AdminError> {
    let user = info_user(c, who, req)?;
    let keys: Vec<Value> = keys_where(c, "user_id", &user.id)
        .iter()
        .map(|k| Value::Object(key_object(c, k)))
        .collect();
    let teams: Vec<Value> = teams_of(c, &user.id)
        .iter()
        .filter_map(|t| c.get(Kind::Team, t))
        .map(|t| Value::Object(team_object(c, &t)))
        .collect();
    Ok(json!({
        "user_id": user.id,
        "user_info": user_object(c, &user),
        "keys": keys,
        "teams": teams,
    }))
}

/// `POST /user/update`: a partial update of the user named by `user_id` (or `user_email`); a
/// `user_id` nobody has yet creates that user (LiteLLM upserts). Answers
/// `{"user_id", "data": user}`.
pub async fn update(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let given_id = req
        .string("user_id")?
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let existing = match &given_id {
        Some(id) => c.get(Kind::User, id),
        None => Some(named_user(c, req)?),
    };
    let id = existing
        .as_ref()
        .map(|u| u.id.clone())
        .or(given_id)
        .expect("either found or named");
    let mut doc = existing
        .as_ref()
        .map(|u| u.doc())
        .unwrap_or_else(|| user_defaults(&id, now_ms_i64()));
    // Looked up by id, the email may change too.
    let fields: Vec<(&str, Ty)> = USER_FIELDS
        .iter()
        .flat_map(|g| g.iter())
        .copied()
        .filter(|(f, _)| *f != "user_email" || req.body.contains_key("user_id"))
        .collect();
    read_fields(req, &[&fields], &mut doc)?;
    check_budget_ref(c, &doc)?;
    let spend = amount(req, "spend")?;
    touch(&mut doc);
    let user = c.put(Kind::User, &id, doc).await?;
    if let Some(s) = spend {
        c.set_spend(&user, s).await?;
    }
    let user = c.get(Kind::User, &id).unwrap_or(user);
    Ok(json!({"user_id": user.id, "data": user_object(c, &user)}))
}

/// `POST /user/delete`: `{"user_ids": [...]}`. Deletes the users, their keys and their team
/// memberships; every id must exist (404 otherwise, and nothing is deleted).
pub async fn delete(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let ids = req.required_strings("user_ids", "user_ids is required: a list of user ids")?;
    all_exist(c, Kind::User, &ids, user_not_found)?;
    let mut deleted_keys = 0usize;
    for id in &ids {
        for t in teams_of(c, id) {
            remove_member(c, &t, id).await?;
        }
        for o in orgs_of(c, id) {
            remove_membership(c, &o, id).await?;
        }
        for k in keys_where(c, "user_id", id) {
            delete_key(c, &k.id).await?;
            deleted_keys += 1;
        }
        c.delete(Kind::User, id).await?;
    }
    Ok(json!({"deleted_users": ids, "deleted_keys": deleted_keys}))
}

/// `GET /user/list`: `page` (default 1), `page_size` (default 25, at most 100), filters `role`,
/// `user_ids` (comma-separated), `user_email`, `team_id`. Newest first.
pub async fn list(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let page = page_param(req, "page", usize::MAX)?.unwrap_or(1);
    let size = page_param(req, "page_size", 100)?.unwrap_or(25);
    let role = req.string("role")?.filter(|s| !s.is_empty());
    let ids = req.strings("user_ids")?;
    let email = req.string("user_email")?.filter(|s| !s.is_empty());
    let team = req.string("team_id")?.filter(|s| !s.is_empty());
    let mut users: Vec<Arc<Entity>> = c
        .list(Kind::User)
        .into_iter()
        .filter(|u| {
            role.as_deref().is_none_or(|r| u.role.as_deref() == Some(r))
                && ids.as_ref().is_none_or(|ids| ids.contains(&u.id))
                && email
                    .as_deref()
                    .is_none_or(|e| u.email().is_some_and(|x| x.eq_ignore_ascii_case(e)))
                && team
                    .as_deref()
                    .is_none_or(|t| c.get(Kind::Member, &format!("{t}/{}", u.id)).is_some())
        })
        .collect();
    newest_first(&mut users);
    let total = users.len();
    let (slice, total_pages) = paginate(&users, page, size);
    let items: Vec<Value> = slice
        .iter()
        .map(|u| {
            let mut o = user_object(c, u);
            o.insert(
                "key_count".into(),
                json!(keys_where(c, "user_id", &u.id).len()),
            );
            Value::Object(o)
        })
        .collect();
    Ok(json!({
        "users": items,
        "total": total,
        "page": page,
        "page_size": size,
        "total_pages": total_pages,
    }))
}
