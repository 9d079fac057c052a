//! Management API: virtual keys (`/key/*`), with LiteLLM's routes, field names and shapes.
//!
//! A key is stored under the SHA-256 hex of its secret (LiteLLM's `token`); the secret itself
//! is returned once, by `/key/generate` or `/key/regenerate`, and never written anywhere. The
//! document holds LiteLLM's field names with the value types enforcement reads (see
//! `control::entity`). This file holds the route handlers; `key_fields.rs` reads and checks a
//! key document, `key_secrets.rs` makes and finds secrets, `key_scope.rs` limits what an
//! internal user may do with keys, `key_list.rs` answers `/key/list`, `responses.rs` holds
//! the key object they answer with.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::access::{forbidden, may_manage_key, may_read_key, Role, Who};
use super::documents::{doc_str, iso_ms};
use super::entity_ops::{delete_key, ensure_user, keys_where, set_blocked, store_key};
use super::error::AdminError;
use super::key_fields::{check_key_refs, prepare_key, read_key_fields};
use super::key_scope as scope;
use super::key_secrets::{find_key, key_name, key_not_found, new_secret, supplied_secret};
use super::request::{amount, Req};
use super::responses::{generate_response, key_object};
use crate::clock::now_ms_i64;
use crate::control::enforce::hash_key;
use crate::control::{Control, Entity, Kind};
use crate::runtime::Runtime;

/// `POST /key/generate`. An internal user's key is its own (`user_id` defaults to the caller's)
/// and stays within its team's limits (`key_scope.rs`).
pub async fn generate(
    c: &Control,
    rt: &Runtime,
    who: &Who,
    req: &Req,
) -> Result<Value, AdminError> {
    scope::admin_only_fields(who, req)?;
    let mut base = Map::new();
    if let Some(by) = who.user_id.clone() {
        base.insert("created_by".into(), Value::String(by.clone()));
        base.insert("updated_by".into(), Value::String(by.clone()));
        if !who.is_admin() {
            base.insert("user_id".into(), Value::String(by));
        }
    }
    let k = prepare_key(c, req, true, base)?;
    scope::check(c, rt, who, req, None, &k.doc, "/key/generate")?;
    let spend = amount(req, "spend")?;
    let (secret, e) = store_key(c, k, spend).await?;
    Ok(Value::Object(generate_response(c, &e, &secret, req)))
}

/// 403 unless the caller may manage `key` (LiteLLM's words).
fn must_manage(c: &Control, who: &Who, key: &Entity) -> Result<(), AdminError> {
    if may_manage_key(c, who, key) {
        return Ok(());
    }
    Err(forbidden(format!(
        "User can only create keys for themselves. Got user_id={}, Your ID={}",
        key.user_id.as_deref().unwrap_or("None"),
        who.user_id.as_deref().unwrap_or("None")
    )))
}

/// The key a write route names in `key` (secret or token), or 404.
fn named_key(c: &Control, req: &Req) -> Result<(String, Arc<Entity>), AdminError> {
    let given = req.required_string("key")?;
    let e = find_key(c, &given).ok_or_else(|| key_not_found(&given))?;
    Ok((given, e))
}

/// Checks a changed key document's references, and creates its user if unknown (as LiteLLM
/// does).
async fn check_changed(
    c: &Control,
    doc: &Map<String, Value>,
    this: &str,
) -> Result<(), AdminError> {
    check_key_refs(c, doc, Some(this))?;
    if let Some(u) = doc_str(doc, "user_id") {
        ensure_user(c, u, None).await?;
    }
    Ok(())
}

/// `POST /key/update`: a partial update; `duration` recomputes `expires`, `spend` sets the
/// spend of the current budget window. Answers `{"key": <as given>, ...key}` as LiteLLM does.
pub async fn update(c: &Control, rt: &Runtime, who: &Who, req: &Req) -> Result<Value, AdminError> {
    let (given, e) = named_key(c, req)?;
    must_manage(c, who, &e)?;
    scope::admin_only_fields(who, req)?;
    let now = now_ms_i64();
    let mut doc = e.doc();
    read_key_fields(req, &mut doc, now)?;
    scope::check(c, rt, who, req, Some(&e), &doc, "/key/update")?;
    let spend = amount(req, "spend")?;
    doc.insert("updated_at".into(), Value::String(iso_ms(now)));
    check_changed(c, &doc, &e.id).await?;
    let e = c.put(Kind::Key, &e.id, doc).await?;
    if let Some(s) = spend {
        c.set_spend(&e, s).await?;
    }
    let mut out = Map::new();
    out.insert("key".into(), Value::String(given));
    out.extend(key_object(c, &e));
    Ok(Value::Object(out))
}

/// `GET /key/info?key=`: the named key, or without `key` the caller's own. A caller that is
/// not a proxy admin sees its own key, its user's keys and the keys of teams it administers.
pub async fn info(c: &Control, who: &Who, req: &Req) -> Result<Value, AdminError> {
    let (given, e) = match req.string("key")?.filter(|k| !k.trim().is_empty()) {
        Some(k) => {
            let e = find_key(c, &k).ok_or_else(|| key_not_found(&k))?;
            if !(who.is_admin() || who.role == Role::Viewer || may_read_key(c, who, &e)) {
                return Err(forbidden(format!(
                    "You are not allowed to access this key's info. Your role={}",
                    role_name(c, who)
                )));
            }
            (k, e)
        }
        None => {
            let own = who
                .key()
                .and_then(|k| c.get(Kind::Key, &k.id))
                .ok_or_else(|| {
                    AdminError::bad("key", "key is required (the master key has no key info)")
                })?;
            (own.id.clone(), own)
        }
    };
    Ok(json!({"key": given, "info": key_object(c, &e)}))
}

/// `POST /key/delete`: `keys` (secrets or tokens) and/or `key_aliases`. Every one must exist
/// (404 otherwise, and nothing is deleted) and be the caller's to manage (403 otherwise).
pub async fn delete(c: &Control, who: &Who, req: &Req) -> Result<Value, AdminError> {
    let keys = req.strings("keys")?.unwrap_or_default();
    let aliases = req.strings("key_aliases")?.unwrap_or_default();
    if keys.is_empty() && aliases.is_empty() {
        return Err(AdminError::bad(
            "keys",
            "keys (or key_aliases) is required: a list of keys to delete",
        ));
    }
    let mut targets: Vec<Arc<Entity>> = Vec::new();
    for k in &keys {
        targets.push(find_key(c, k).ok_or_else(|| key_not_found(k))?);
    }
    for a in &aliases {
        let found = keys_where(c, "key_alias", a);
        if found.is_empty() {
            return Err(AdminError::not_found(format!(
                "Key not found: key_alias={a}"
            )));
        }
        targets.extend(found);
    }
    for e in &targets {
        must_manage(c, who, e)?;
    }
    for e in &targets {
        delete_key(c, &e.id).await?;
    }
    let mut deleted: Vec<Value> = keys.into_iter().map(Value::String).collect();
    deleted.extend(aliases.into_iter().map(Value::String));
    Ok(json!({ "deleted_keys": deleted }))
}

/// `POST /key/block` and `/key/unblock`: `{"key": ...}`; answers the key object.
pub async fn block(c: &Control, req: &Req, on: bool) -> Result<Value, AdminError> {
    let (_, e) = named_key(c, req)?;
    let e = set_blocked(c, &e, on).await?;
    Ok(Value::Object(key_object(c, &e)))
}

/// `POST /key/regenerate` (`key` in the body) and `/key/{key}/regenerate`: a new secret
/// (`new_key` if given) with the same settings and spend; other body fields update settings.
/// The old secret stops working at once.
pub async fn regenerate(
    c: &Control,
    rt: &Runtime,
    who: &Who,
    req: &Req,
    old: Option<&str>,
) -> Result<Value, AdminError> {
    let given = match old.filter(|o| !o.trim().is_empty()) {
        Some(o) => o.to_string(),
        None => req.required_string("key")?,
    };
    let e = find_key(c, &given).ok_or_else(|| key_not_found(&given))?;
    must_manage(c, who, &e)?;
    scope::admin_only_fields(who, req)?;
    let now = now_ms_i64();
    let secret = supplied_secret(req, "new_key")?.unwrap_or_else(new_secret);
    let token = hash_key(&secret);
    if token == e.id || c.get(Kind::Key, &token).is_some() {
        return Err(AdminError::exists("new_key", "new_key is already in use"));
    }
    let mut doc = e.doc();
    read_key_fields(req, &mut doc, now)?;
    scope::check(c, rt, who, req, Some(&e), &doc, "/key/regenerate")?;
    doc.insert("key_name".into(), Value::String(key_name(&secret)));
    doc.insert("updated_at".into(), Value::String(iso_ms(now)));
    check_changed(c, &doc, &e.id).await?;
    let spent = amount(req, "spend")?.unwrap_or_else(|| c.spend(&e));
    let tokens = c.tokens_used(&e).unwrap_or(0);
    let new = c
        .insert(Kind::Key, &token, doc)
        .await?
        .ok_or_else(|| AdminError::exists("new_key", "new_key is already in use"))?;
    if spent > 0.0 {
        c.set_spend(&new, spent).await?;
    }
    if tokens > 0 {
        // The token budget's count goes with the key too.
        c.set_spend(&c.tokens_counter(&new), tokens as f64).await?;
    }
    delete_key(c, &e.id).await?;
    let new = c.get(Kind::Key, &token).unwrap_or(new);
    Ok(Value::Object(generate_response(c, &new, &secret, req)))
}

/// `user_role` of the caller's user, as LiteLLM prints it.
fn role_name(c: &Control, who: &Who) -> String {
    who.user_id
        .as_deref()
        .and_then(|u| c.get(Kind::User, u))
        .and_then(|u| u.role.clone())
        .unwrap_or_else(|| "None".into())
}
