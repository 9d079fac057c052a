//! What one management resource needs of another's entities, in one place: finding users, keys,
//! teams and organizations (by id, email, owner, or as a request names them, with their 404s),
//! creating a user on first mention, storing and deleting keys, blocking. Resource files call
//! these instead of each other.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::documents::{doc_str, into_map, iso_ms, touch};
use super::error::AdminError;
use super::key_fields::NewKey;
use super::request::Req;
use super::validate::unset_limits;
use crate::clock::now_ms_i64;
use crate::control::key_index::Field;
use crate::control::{Control, Entity, Kind};

/// A new user document with every field LiteLLM's user row has, at its default.
pub(super) fn user_defaults(user_id: &str, now: i64) -> Map<String, Value> {
    let mut m = into_map(json!({
        "user_id": user_id,
        "user_email": null,
        "user_alias": null,
        "user_role": "internal_user",
        "models": [],
        "model_max_budget": {},
        "metadata": {},
        "budget_id": null,
        "organization_id": null,
        "max_token_budget": null,
        "created_at": iso_ms(now),
        "updated_at": iso_ms(now),
    }));
    unset_limits(&mut m);
    m
}

/// The user, created with defaults (`internal_user`) if unknown: keys and team members may
/// name users that do not exist yet, as in LiteLLM.
pub(super) async fn ensure_user(
    c: &Control,
    user_id: &str,
    email: Option<&str>,
) -> Result<Arc<Entity>, AdminError> {
    if let Some(u) = c.get(Kind::User, user_id) {
        return Ok(u);
    }
    let mut doc = user_defaults(user_id, now_ms_i64());
    if let Some(e) = email {
        doc.insert("user_email".into(), Value::String(e.to_string()));
    }
    if let Some(u) = c.insert(Kind::User, user_id, doc).await? {
        return Ok(u);
    }
    // Another replica created it a moment ago.
    c.reload(Kind::User, user_id).await?;
    c.get(Kind::User, user_id)
        .ok_or_else(|| AdminError::not_found(format!("User {user_id} could not be created")))
}

/// The user whose `user_email` is `email`.
pub(super) fn user_by_email(c: &Control, email: &str) -> Option<Arc<Entity>> {
    c.list(Kind::User)
        .into_iter()
        .find(|u| u.email().is_some_and(|e| e.eq_ignore_ascii_case(email)))
}

/// The ids of the teams the user is a member of.
pub(super) fn teams_of(c: &Control, user_id: &str) -> Vec<String> {
    c.list(Kind::Member)
        .into_iter()
        .filter(|m| m.user_id.as_deref() == Some(user_id))
        .filter_map(|m| m.team_id.clone())
        .collect()
}

/// The key index field named `field` (`key_alias`, `team_id`, `user_id`, `organization_id`).
fn index_field(field: &str) -> Field {
    match field {
        "key_alias" => Field::Alias,
        "team_id" => Field::Team,
        "user_id" => Field::User,
        "organization_id" => Field::Org,
        _ => unreachable!("{field} is not an indexed key field"),
    }
}

/// Every key whose field `field` equals `value` (`key_alias`, `team_id`, `user_id`,
/// `organization_id`), newest first, from the key index (no scan of every key).
pub(super) fn keys_where(c: &Control, field: &str, value: &str) -> Vec<Arc<Entity>> {
    let f = index_field(field);
    c.with_key_index(|ix| {
        ix.with(f, value)
            .map(|set| set.iter().map(|n| n.0.clone()).collect())
            .unwrap_or_default()
    })
}

/// Deletes a key and its per-model counters.
pub(super) async fn delete_key(c: &Control, token: &str) -> Result<bool, AdminError> {
    let deleted = c.delete(Kind::Key, token).await?;
    let prefix = format!("{token}/");
    for km in c.list(Kind::KeyModel) {
        if km.id.starts_with(&prefix) {
            c.delete(Kind::KeyModel, &km.id).await?;
        }
    }
    Ok(deleted)
}

/// Stores a prepared key (creating its user if unknown, as LiteLLM does) and returns its secret
/// and the key as stored, for the generate response (`responses::generate_response`: the key
/// object plus the secret, shown this once). `spend` is the key's initial spend
/// (`/key/generate`'s `spend`).
pub(super) async fn store_key(
    c: &Control,
    k: NewKey,
    spend: Option<f64>,
) -> Result<(String, Arc<Entity>), AdminError> {
    if let Some(u) = doc_str(&k.doc, "user_id") {
        ensure_user(c, u, None).await?;
    }
    let e = c
        .insert(Kind::Key, &k.token, k.doc)
        .await?
        .ok_or_else(|| AdminError::exists("key", "This key already exists"))?;
    if let Some(s) = spend.filter(|s| *s > 0.0) {
        c.set_spend(&e, s).await?;
    }
    let e = c.get(Kind::Key, &e.id).unwrap_or(e);
    Ok((k.secret, e))
}

/// Every one of `ids` as an entity of `kind`; the first unknown one is `not_found`.
pub(super) fn all_exist(
    c: &Control,
    kind: Kind,
    ids: &[String],
    not_found: impl Fn(&str) -> AdminError,
) -> Result<Vec<Arc<Entity>>, AdminError> {
    ids.iter()
        .map(|id| c.get(kind, id).ok_or_else(|| not_found(id)))
        .collect()
}

/// Blocks or unblocks an entity (`blocked` in its document) and returns it as stored.
pub(super) async fn set_blocked(
    c: &Control,
    e: &Entity,
    on: bool,
) -> Result<Arc<Entity>, AdminError> {
    let mut doc = e.doc();
    doc.insert("blocked".into(), Value::Bool(on));
    touch(&mut doc);
    Ok(c.put(e.kind, &e.id, doc).await?)
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

pub(super) fn team_not_found(id: &str) -> AdminError {
    AdminError::not_found(format!("Team not found, passed team_id={id}"))
}

/// The team a request names by `team_id`, or 404.
pub(super) fn named_team(c: &Control, req: &Req) -> Result<Arc<Entity>, AdminError> {
    let id = req.required_string("team_id")?;
    c.get(Kind::Team, &id).ok_or_else(|| team_not_found(&id))
}

pub(super) fn org_not_found(id: &str) -> AdminError {
    AdminError::not_found(format!("Organization not found for organization_id={id}"))
}

pub(super) fn named_org(c: &Control, req: &Req) -> Result<Arc<Entity>, AdminError> {
    let id = req.required_string("organization_id")?;
    c.get(Kind::Org, &id).ok_or_else(|| org_not_found(&id))
}
