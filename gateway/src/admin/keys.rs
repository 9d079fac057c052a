//! Management API: virtual keys (`/key/*`), with LiteLLM's routes, field names and shapes.
//!
//! A key is stored under the SHA-256 hex of its secret (LiteLLM's `token`); the secret itself
//! is returned once, by `/key/generate` or `/key/regenerate`, and never written anywhere. The
//! document holds LiteLLM's field names with the value types enforcement reads (see
//! `control::entity`). This file also holds what users and teams share with keys: the typed
//! field readers, timestamps, and the lock that serializes management writes.

use std::sync::{Arc, OnceLock};

use base64::Engine;
use rand::RngCore;
use serde_json::{json, Map, Value};

use super::{AdminError, Req};
use crate::control::enforce::{hash_key, Caller};
use crate::control::{now_ms, period, Control, Entity, Kind};

// ---------------------------------------------------------------------------------------------
// Shared with users.rs and teams.rs
// ---------------------------------------------------------------------------------------------

/// Management writes run one at a time on this replica, so that checks (alias taken, already a
/// member) and the writes they guard cannot interleave.
pub(super) async fn write_lock() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: OnceLock<tokio::sync::Mutex<()>> = OnceLock::new();
    LOCK.get_or_init(|| tokio::sync::Mutex::new(()))
        .lock()
        .await
}

/// Unix ms as RFC 3339 UTC with milliseconds (`2026-11-21T10:00:00.123Z`).
pub(super) fn iso_ms(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A fresh UUID-shaped id (users and teams created without one).
pub(super) fn new_id() -> String {
    crate::ctx::new_call_id()
}

/// The value type of a document field, and how a request value is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ty {
    /// A string.
    Text,
    /// A `budget_duration` (`30s`, `30m`, `30h`, `1d`, `1w`, `1mo`).
    Duration,
    /// A non-negative amount in USD.
    Money,
    /// A non-negative whole number (rpm, tpm, parallel requests).
    Count,
    /// A list of strings.
    List,
    /// `true` / `false`.
    Flag,
    /// Any JSON object.
    Object,
    /// An object of strings (`aliases`, `model_aliases`).
    Aliases,
    /// `model_max_budget`: `{"model": 1.0}` or `{"model": {"budget_limit": 1.0, "time_period": "1d"}}`.
    ModelBudget,
    /// `model_rpm_limit` / `model_tpm_limit`: `{"model": 10}`.
    ModelCount,
    /// `user_role`: one of [`ROLES`].
    Role,
}

/// The user roles LiteLLM knows.
pub(super) const ROLES: &[&str] = &[
    "proxy_admin",
    "proxy_admin_viewer",
    "internal_user",
    "internal_user_viewer",
];

/// What an explicit `null` sets a field to.
fn empty(ty: Ty) -> Value {
    match ty {
        Ty::List => json!([]),
        Ty::Object | Ty::Aliases | Ty::ModelBudget | Ty::ModelCount => json!({}),
        Ty::Flag => json!(false),
        _ => Value::Null,
    }
}

fn money(name: &str, v: &Value) -> Result<f64, AdminError> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n.is_finite() && n >= 0.0 => Ok(n),
        Some(_) => Err(AdminError::bad(
            name,
            format!("{name} must not be negative, got {v}"),
        )),
        None => Err(AdminError::bad(
            name,
            format!("{name} must be a number, got {v}"),
        )),
    }
}

fn count(name: &str, v: &Value) -> Result<u64, AdminError> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n.is_finite() && n >= 0.0 && n.fract() == 0.0 => Ok(n as u64),
        Some(_) => Err(AdminError::bad(
            name,
            format!("{name} must be a non-negative whole number, got {v}"),
        )),
        None => Err(AdminError::bad(
            name,
            format!("{name} must be a number, got {v}"),
        )),
    }
}

fn duration(name: &str, v: &Value) -> Result<String, AdminError> {
    let s = v.as_str().ok_or_else(|| {
        AdminError::bad(
            name,
            format!("{name} must be a string such as \"30d\", got {v}"),
        )
    })?;
    period::parse(s).map_err(|e| AdminError::bad(name, format!("{name}: {e}")))?;
    Ok(s.trim().to_string())
}

/// Checks one request value against its type and returns what is stored.
fn check(name: &str, ty: Ty, v: &Value) -> Result<Value, AdminError> {
    Ok(match ty {
        Ty::Text => match v {
            Value::String(s) => Value::String(s.clone()),
            _ => {
                return Err(AdminError::bad(
                    name,
                    format!("{name} must be a string, got {v}"),
                ))
            }
        },
        Ty::Duration => Value::String(duration(name, v)?),
        Ty::Money => json!(money(name, v)?),
        Ty::Count => json!(count(name, v)?),
        Ty::List => match v {
            Value::Array(items) if items.iter().all(Value::is_string) => v.clone(),
            _ => {
                return Err(AdminError::bad(
                    name,
                    format!("{name} must be a list of strings, got {v}"),
                ))
            }
        },
        Ty::Flag => match v {
            Value::Bool(_) => v.clone(),
            Value::String(s) if s == "true" || s == "false" => Value::Bool(s == "true"),
            _ => {
                return Err(AdminError::bad(
                    name,
                    format!("{name} must be true or false, got {v}"),
                ))
            }
        },
        Ty::Object => match v {
            Value::Object(_) => v.clone(),
            _ => {
                return Err(AdminError::bad(
                    name,
                    format!("{name} must be a JSON object, got {v}"),
                ))
            }
        },
        Ty::Aliases => match v {
            Value::Object(m) if m.values().all(Value::is_string) => v.clone(),
            _ => {
                return Err(AdminError::bad(
                    name,
                    format!("{name} must be an object mapping model names to model names, got {v}"),
                ))
            }
        },
        Ty::ModelBudget => {
            let Value::Object(m) = v else {
                return Err(AdminError::bad(
                    name,
                    format!("{name} must be an object keyed by model name, got {v}"),
                ));
            };
            let mut out = Map::new();
            for (model, b) in m {
                let field = format!("{name}.{model}");
                let stored = match b {
                    Value::Object(o) => {
                        let mut s = Map::new();
                        let limit = o
                            .get("budget_limit")
                            .or_else(|| o.get("max_budget"))
                            .filter(|x| !x.is_null())
                            .ok_or_else(|| {
                                AdminError::bad(&field, format!("{field}.budget_limit is required"))
                            })?;
                        s.insert("budget_limit".into(), json!(money(&field, limit)?));
                        if let Some(p) = o
                            .get("time_period")
                            .or_else(|| o.get("budget_duration"))
                            .filter(|x| !x.is_null())
                        {
                            s.insert("time_period".into(), Value::String(duration(&field, p)?));
                        }
                        Value::Object(s)
                    }
                    other => json!(money(&field, other)?),
                };
                out.insert(model.clone(), stored);
            }
            Value::Object(out)
        }
        Ty::ModelCount => {
            let Value::Object(m) = v else {
                return Err(AdminError::bad(
                    name,
                    format!("{name} must be an object keyed by model name, got {v}"),
                ));
            };
            let mut out = Map::new();
            for (model, n) in m {
                out.insert(model.clone(), json!(count(&format!("{name}.{model}"), n)?));
            }
            Value::Object(out)
        }
        Ty::Role => match v.as_str() {
            Some(r) if ROLES.contains(&r) => Value::String(r.to_string()),
            _ => {
                return Err(AdminError::bad(
                    name,
                    format!("{name} must be one of {}, got {v}", ROLES.join(", ")),
                ))
            }
        },
    })
}

/// Reads the listed body fields into `doc`: an absent field leaves the document as it is, an
/// explicit `null` clears it, anything else is checked against its type (400 naming the field).
/// Nothing is written anywhere: callers store `doc` only once every check has passed.
pub(super) fn read_fields(
    req: &Req,
    fields: &[(&str, Ty)],
    doc: &mut Map<String, Value>,
) -> Result<(), AdminError> {
    for &(name, ty) in fields {
        let Some(v) = req.body.get(name) else {
            continue;
        };
        let stored = if v.is_null() {
            empty(ty)
        } else {
            check(name, ty, v)?
        };
        doc.insert(name.to_string(), stored);
    }
    Ok(())
}

/// One optional typed body field (`max_budget_in_team`, `auto_create_key`): `Ok(None)` when
/// absent or null.
pub(super) fn field(req: &Req, name: &str, ty: Ty) -> Result<Option<Value>, AdminError> {
    match req.body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => check(name, ty, v).map(Some),
    }
}

/// A page number or size from the query (or body): a whole number in `1..=max`.
pub(super) fn page_param(
    req: &Req,
    name: &str,
    default: usize,
    max: usize,
) -> Result<usize, AdminError> {
    let Some(v) = req.get(name) else {
        return Ok(default);
    };
    let n = count(name, &v)? as usize;
    if n < 1 || n > max {
        return Err(AdminError::bad(
            name,
            format!("{name} must be between 1 and {max}, got {n}"),
        ));
    }
    Ok(n)
}

/// A string field of a document (`None` when missing, null or empty).
pub(super) fn doc_str<'a>(doc: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    doc.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A `budget_id` given must name an existing budget.
pub(super) fn check_budget_ref(c: &Control, doc: &Map<String, Value>) -> Result<(), AdminError> {
    if let Some(b) = doc_str(doc, "budget_id") {
        if c.get(Kind::Budget, b).is_none() {
            return Err(AdminError::bad(
                "budget_id",
                format!("budget_id={b} does not exist; create it with /budget/new first"),
            ));
        }
    }
    Ok(())
}

/// The entity's document plus its live spend and next budget reset: the object every info and
/// list route answers with.
pub(super) fn with_spend(c: &Control, e: &Entity) -> Map<String, Value> {
    let mut m = e.doc.clone();
    m.insert("spend".into(), json!(c.spend(e)));
    m.insert(
        "budget_reset_at".into(),
        c.budget_reset_at(e)
            .map_or(Value::Null, |ms| Value::String(period::iso(ms))),
    );
    m
}

/// `page` of `items` (1-based) and the number of pages.
pub(super) fn paginate<T: Clone>(items: &[T], page: usize, size: usize) -> (Vec<T>, usize) {
    let total_pages = items.len().div_ceil(size);
    let start = (page - 1).saturating_mul(size).min(items.len());
    let end = (start + size).min(items.len());
    (items[start..end].to_vec(), total_pages)
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/// The fields `/key/generate`, `/key/update` and `/key/regenerate` accept, with their types.
const KEY_FIELDS: &[(&str, Ty)] = &[
    ("key_alias", Ty::Text),
    ("models", Ty::List),
    ("aliases", Ty::Aliases),
    ("max_budget", Ty::Money),
    ("soft_budget", Ty::Money),
    ("budget_duration", Ty::Duration),
    ("rpm_limit", Ty::Count),
    ("tpm_limit", Ty::Count),
    ("max_parallel_requests", Ty::Count),
    ("model_max_budget", Ty::ModelBudget),
    ("model_rpm_limit", Ty::ModelCount),
    ("model_tpm_limit", Ty::ModelCount),
    ("metadata", Ty::Object),
    ("tags", Ty::List),
    ("team_id", Ty::Text),
    ("user_id", Ty::Text),
    ("blocked", Ty::Flag),
    ("budget_id", Ty::Text),
    ("organization_id", Ty::Text),
    ("config", Ty::Object),
    ("permissions", Ty::Object),
    ("allowed_cache_controls", Ty::List),
    ("allowed_routes", Ty::List),
    ("guardrails", Ty::List),
    ("enforced_params", Ty::List),
];

/// A new key document with every field LiteLLM's key row has, at its default.
fn key_defaults(now: i64) -> Map<String, Value> {
    let Value::Object(m) = json!({
        "key_name": null,
        "key_alias": null,
        "models": [],
        "aliases": {},
        "expires": null,
        "max_budget": null,
        "soft_budget": null,
        "budget_duration": null,
        "rpm_limit": null,
        "tpm_limit": null,
        "max_parallel_requests": null,
        "model_max_budget": {},
        "model_rpm_limit": {},
        "model_tpm_limit": {},
        "metadata": {},
        "tags": [],
        "team_id": null,
        "user_id": null,
        "organization_id": null,
        "budget_id": null,
        "blocked": false,
        "config": {},
        "permissions": {},
        "allowed_cache_controls": [],
        "allowed_routes": [],
        "created_at": iso_ms(now),
        "updated_at": iso_ms(now),
        "created_by": null,
        "updated_by": null,
    }) else {
        unreachable!("a JSON object literal")
    };
    m
}

/// A new secret: `sk-` and 24 random bytes (192 bits), base64url without padding.
pub(super) fn new_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "sk-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// LiteLLM's `key_name`: `sk-...` and the secret's last four characters.
pub(super) fn key_name(secret: &str) -> String {
    let tail: String = {
        let chars: Vec<char> = secret.chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    };
    format!("sk-...{tail}")
}

/// A caller-supplied secret (`key`, `new_key`): LiteLLM requires the `sk-` prefix.
fn supplied_secret(req: &Req, name: &str) -> Result<Option<String>, AdminError> {
    match req.body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            if !s.starts_with("sk-") || s.len() < 4 {
                return Err(AdminError::bad(
                    name,
                    format!("{name} must start with \"sk-\" (LiteLLM's key format)"),
                ));
            }
            if s.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
                return Err(AdminError::bad(
                    name,
                    format!("{name} must not contain whitespace"),
                ));
            }
            Ok(Some(s.to_string()))
        }
        Some(other) => Err(AdminError::bad(
            name,
            format!("{name} must be a string, got {other}"),
        )),
    }
}

/// `now + duration` as Unix ms; `duration` as in `budget_duration` (`30s`, `1h`, `30d`, `1mo`).
fn expiry(name: &str, d: &str, now: i64) -> Result<i64, AdminError> {
    period::parse(d).map_err(|e| AdminError::bad(name, format!("{name}: {e}")))?;
    let d = d.trim();
    let split = d.find(|ch: char| !ch.is_ascii_digit()).unwrap_or(d.len());
    let n: i64 = d[..split]
        .parse()
        .map_err(|_| AdminError::bad(name, format!("{name}: {d:?} is too large")))?;
    let ms = |unit: i64| {
        n.checked_mul(unit)
            .and_then(|x| x.checked_add(now))
            .ok_or_else(|| AdminError::bad(name, format!("{name}: {d:?} is too large")))
    };
    match &d[split..] {
        "s" => ms(1_000),
        "m" => ms(60_000),
        "h" => ms(3_600_000),
        "d" => ms(86_400_000),
        "w" => ms(7 * 86_400_000),
        "mo" => chrono::DateTime::<chrono::Utc>::from_timestamp_millis(now)
            .and_then(|t| t.checked_add_months(chrono::Months::new(u32::try_from(n).ok()?)))
            .map(|t| t.timestamp_millis())
            .ok_or_else(|| AdminError::bad(name, format!("{name}: {d:?} is too large"))),
        unit => Err(AdminError::bad(
            name,
            format!("{name}: unknown unit {unit:?}"),
        )),
    }
}

/// Applies `duration` (if the body has it) to the document's `expires`: a duration sets
/// `now + duration`; `null` or `"-1"` means the key never expires.
fn apply_duration(req: &Req, doc: &mut Map<String, Value>, now: i64) -> Result<(), AdminError> {
    match req.body.get("duration") {
        None => {}
        Some(Value::Null) => {
            doc.insert("expires".into(), Value::Null);
        }
        Some(Value::String(s)) if s.trim() == "-1" || s.trim().is_empty() => {
            doc.insert("expires".into(), Value::Null);
        }
        Some(Value::String(s)) => {
            let at = expiry("duration", s, now)?;
            doc.insert("expires".into(), Value::String(iso_ms(at)));
        }
        Some(other) => {
            return Err(AdminError::bad(
                "duration",
                format!("duration must be a string such as \"30d\", got {other}"),
            ))
        }
    }
    Ok(())
}

/// `tags` are also kept in `metadata.tags`, where LiteLLM's spend tracking reads them.
fn mirror_tags(doc: &mut Map<String, Value>) {
    let Some(tags) = doc.get("tags").filter(|t| t.is_array()).cloned() else {
        return;
    };
    if let Some(Value::Object(meta)) = doc.get_mut("metadata") {
        if tags.as_array().is_some_and(|t| !t.is_empty()) || meta.contains_key("tags") {
            meta.insert("tags".into(), tags);
        }
    }
}

/// Whether `s` looks like a key's token (SHA-256 hex).
fn is_token(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The key a request names: by token (hash) or by its secret.
pub(super) fn find_key(c: &Control, given: &str) -> Option<Arc<Entity>> {
    let given = given.trim();
    if given.is_empty() {
        return None;
    }
    if is_token(given) {
        if let Some(e) = c.get(Kind::Key, &given.to_ascii_lowercase()) {
            return Some(e);
        }
    }
    c.get(Kind::Key, &hash_key(given))
}

fn key_not_found(given: &str) -> AdminError {
    // Never echo what may be a secret in full.
    AdminError::not_found(format!("Key not found: {}", redact(given)))
}

fn redact(given: &str) -> String {
    if is_token(given) {
        given.to_string()
    } else {
        key_name(given)
    }
}

/// Keys as every route answers with them: the document, `token`, live `spend` and
/// `budget_reset_at`. Never the secret: it is not stored.
pub(super) fn key_object(c: &Control, e: &Entity) -> Map<String, Value> {
    let mut m = with_spend(c, e);
    m.remove("key");
    m.insert("token".into(), Value::String(e.id.clone()));
    m
}

/// Every key whose document field `field` equals `value` (`team_id`, `user_id`).
pub(super) fn keys_where(c: &Control, field: &str, value: &str) -> Vec<Arc<Entity>> {
    c.list(Kind::Key)
        .into_iter()
        .filter(|k| doc_str(&k.doc, field) == Some(value))
        .collect()
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

/// Cross-entity checks on a key document: the alias is not another key's, the team and budget
/// exist.
fn check_key_refs(
    c: &Control,
    doc: &Map<String, Value>,
    this: Option<&str>,
) -> Result<(), AdminError> {
    if let Some(alias) = doc_str(doc, "key_alias") {
        check_alias_free(c, alias, this)?;
    }
    if let Some(t) = doc_str(doc, "team_id") {
        if c.get(Kind::Team, t).is_none() {
            return Err(AdminError::bad(
                "team_id",
                format!("team_id={t} does not exist; create it with /team/new first"),
            ));
        }
    }
    check_budget_ref(c, doc)
}

/// LiteLLM refuses a `key_alias` another key already has.
pub(super) fn check_alias_free(
    c: &Control,
    alias: &str,
    this: Option<&str>,
) -> Result<(), AdminError> {
    let taken = c
        .list(Kind::Key)
        .iter()
        .any(|k| Some(k.id.as_str()) != this && doc_str(&k.doc, "key_alias") == Some(alias));
    if taken {
        return Err(AdminError::exists(
            "key_alias",
            format!("Key with alias '{alias}' already exists. Unique key aliases across all keys are required."),
        ));
    }
    Ok(())
}

/// A key ready to be stored: its secret, token and document.
pub(super) struct NewKey {
    pub secret: String,
    pub token: String,
    pub doc: Map<String, Value>,
}

/// Reads and checks a new key from the request (without storing anything). `base` fields
/// (set by `/user/new`) go in before the request's own.
pub(super) fn prepare_key(
    c: &Control,
    req: &Req,
    fields_from_request: bool,
    base: Map<String, Value>,
) -> Result<NewKey, AdminError> {
    let now = now_ms();
    let secret = match supplied_secret(req, "key")? {
        Some(s) if fields_from_request => s,
        _ => new_secret(),
    };
    let token = hash_key(&secret);
    let mut doc = key_defaults(now);
    doc.extend(base);
    if fields_from_request {
        read_fields(req, KEY_FIELDS, &mut doc)?;
    } else {
        // `/user/new`: only the key's own settings come from the request.
        read_fields(
            req,
            &[("key_alias", Ty::Text), ("tags", Ty::List)],
            &mut doc,
        )?;
    }
    apply_duration(req, &mut doc, now)?;
    mirror_tags(&mut doc);
    doc.insert("key_name".into(), Value::String(key_name(&secret)));
    check_key_refs(c, &doc, None)?;
    if c.get(Kind::Key, &token).is_some() {
        return Err(AdminError::exists("key", "This key already exists"));
    }
    Ok(NewKey { secret, token, doc })
}

/// Stores a prepared key (creating its user if unknown, as LiteLLM does) and returns the
/// generate response: the key object plus the secret, shown this once.
pub(super) async fn store_key(
    c: &Control,
    req: &Req,
    k: NewKey,
) -> Result<Map<String, Value>, AdminError> {
    if let Some(u) = doc_str(&k.doc, "user_id") {
        super::users::ensure_user(c, u, None).await?;
    }
    let e = c
        .insert(Kind::Key, &k.token, k.doc)
        .await?
        .ok_or_else(|| AdminError::exists("key", "This key already exists"))?;
    Ok(generate_response(c, &e, &k.secret, req))
}

fn generate_response(c: &Control, e: &Entity, secret: &str, req: &Req) -> Map<String, Value> {
    let mut out = key_object(c, e);
    out.insert("key".into(), Value::String(secret.to_string()));
    out.insert("token_id".into(), Value::String(e.id.clone()));
    out.insert(
        "duration".into(),
        req.body.get("duration").cloned().unwrap_or(Value::Null),
    );
    out
}

/// `POST /key/generate`.
pub async fn generate(c: &Control, caller: &Caller, req: &Req) -> Result<Value, AdminError> {
    let _w = write_lock().await;
    let mut base = Map::new();
    if let Some(by) = caller.key().and_then(|k| k.user_id.clone()) {
        base.insert("created_by".into(), Value::String(by.clone()));
        base.insert("updated_by".into(), Value::String(by));
    }
    let k = prepare_key(c, req, true, base)?;
    Ok(Value::Object(store_key(c, req, k).await?))
}

/// The key a write route names in `key` (secret or token), or 404.
fn named_key(c: &Control, req: &Req) -> Result<(String, Arc<Entity>), AdminError> {
    let given = req.required_string("key")?;
    let e = find_key(c, &given).ok_or_else(|| key_not_found(&given))?;
    Ok((given, e))
}

/// `POST /key/update`: a partial update; `duration` recomputes `expires`. Answers
/// `{"key": <as given>, ...key}` as LiteLLM does.
pub async fn update(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let _w = write_lock().await;
    let (given, e) = named_key(c, req)?;
    let now = now_ms();
    let mut doc = e.doc.clone();
    read_fields(req, KEY_FIELDS, &mut doc)?;
    apply_duration(req, &mut doc, now)?;
    mirror_tags(&mut doc);
    doc.insert("updated_at".into(), Value::String(iso_ms(now)));
    check_key_refs(c, &doc, Some(&e.id))?;
    if let Some(u) = doc_str(&doc, "user_id") {
        super::users::ensure_user(c, u, None).await?;
    }
    let e = c.put(Kind::Key, &e.id, doc).await?;
    let mut out = Map::new();
    out.insert("key".into(), Value::String(given));
    out.extend(key_object(c, &e));
    Ok(Value::Object(out))
}

/// `GET /key/info?key=`: the named key, or without `key` the caller's own.
pub async fn info(c: &Control, caller: &Caller, req: &Req) -> Result<Value, AdminError> {
    let (given, e) = match req.string("key")?.filter(|k| !k.trim().is_empty()) {
        Some(k) => {
            let e = find_key(c, &k).ok_or_else(|| key_not_found(&k))?;
            (k, e)
        }
        None => {
            let own = caller
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

/// `GET /key/list`: `page`, `size` (default 10, at most 100), filters `key_alias`, `team_id`,
/// `user_id`, `organization_id`, `key_hash`; `return_full_object=true` gives key objects,
/// otherwise tokens. Newest first.
pub async fn list(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let page = page_param(req, "page", 1, usize::MAX)?;
    let size = page_param(req, "size", 10, 100)?;
    let full = req.boolean("return_full_object")?.unwrap_or(false);
    let mut filters = Vec::new();
    for f in ["key_alias", "team_id", "user_id", "organization_id"] {
        if let Some(v) = req.string(f)?.filter(|v| !v.is_empty()) {
            filters.push((f, v));
        }
    }
    let key_hash = req.string("key_hash")?.filter(|v| !v.is_empty());
    let mut keys: Vec<Arc<Entity>> = c
        .list(Kind::Key)
        .into_iter()
        .filter(|k| {
            filters
                .iter()
                .all(|(f, v)| doc_str(&k.doc, f) == Some(v.as_str()))
                && key_hash.as_deref().is_none_or(|h| {
                    k.id == h.to_ascii_lowercase() || (!is_token(h) && k.id == hash_key(h))
                })
        })
        .collect();
    keys.sort_by(|a, b| {
        let created = |k: &Entity| doc_str(&k.doc, "created_at").unwrap_or("").to_string();
        created(b).cmp(&created(a)).then_with(|| a.id.cmp(&b.id))
    });
    let total = keys.len();
    let (slice, total_pages) = paginate(&keys, page, size);
    let items: Vec<Value> = slice
        .iter()
        .map(|k| {
            if full {
                Value::Object(key_object(c, k))
            } else {
                Value::String(k.id.clone())
            }
        })
        .collect();
    Ok(json!({
        "keys": items,
        "total_count": total,
        "current_page": page,
        "total_pages": total_pages,
    }))
}

/// `POST /key/delete`: `keys` (secrets or tokens) and/or `key_aliases`. Every one must exist
/// (404 otherwise, and nothing is deleted).
pub async fn delete(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let _w = write_lock().await;
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
        let found: Vec<_> = c
            .list(Kind::Key)
            .into_iter()
            .filter(|k| doc_str(&k.doc, "key_alias") == Some(a.as_str()))
            .collect();
        if found.is_empty() {
            return Err(AdminError::not_found(format!(
                "Key not found: key_alias={a}"
            )));
        }
        targets.extend(found);
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
    let _w = write_lock().await;
    let (_, e) = named_key(c, req)?;
    let mut doc = e.doc.clone();
    doc.insert("blocked".into(), Value::Bool(on));
    doc.insert("updated_at".into(), Value::String(iso_ms(now_ms())));
    let e = c.put(Kind::Key, &e.id, doc).await?;
    Ok(Value::Object(key_object(c, &e)))
}

/// `POST /key/regenerate` (`key` in the body) and `/key/{key}/regenerate`: a new secret
/// (`new_key` if given) with the same settings and spend; other body fields update settings.
/// The old secret stops working at once.
pub async fn regenerate(c: &Control, req: &Req, old: Option<&str>) -> Result<Value, AdminError> {
    let _w = write_lock().await;
    let given = match old.filter(|o| !o.trim().is_empty()) {
        Some(o) => o.to_string(),
        None => req.required_string("key")?,
    };
    let e = find_key(c, &given).ok_or_else(|| key_not_found(&given))?;
    let now = now_ms();
    let secret = supplied_secret(req, "new_key")?.unwrap_or_else(new_secret);
    let token = hash_key(&secret);
    if token == e.id || c.get(Kind::Key, &token).is_some() {
        return Err(AdminError::exists("new_key", "new_key is already in use"));
    }
    let mut doc = e.doc.clone();
    read_fields(req, KEY_FIELDS, &mut doc)?;
    apply_duration(req, &mut doc, now)?;
    mirror_tags(&mut doc);
    doc.insert("key_name".into(), Value::String(key_name(&secret)));
    doc.insert("updated_at".into(), Value::String(iso_ms(now)));
    check_key_refs(c, &doc, Some(&e.id))?;
    if let Some(u) = doc_str(&doc, "user_id") {
        super::users::ensure_user(c, u, None).await?;
    }
    let spent = c.spend(&e);
    let new = c
        .insert(Kind::Key, &token, doc)
        .await?
        .ok_or_else(|| AdminError::exists("new_key", "new_key is already in use"))?;
    if spent > 0.0 {
        c.set_spend(&new, spent).await?;
    }
    delete_key(c, &e.id).await?;
    let new = c.get(Kind::Key, &token).unwrap_or(new);
    Ok(Value::Object(generate_response(c, &new, &secret, req)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_named_by_their_tail() {
        let a = new_secret();
        let b = new_secret();
        assert!(a.starts_with("sk-") && a.len() == 3 + 32, "{a}");
        assert_ne!(a, b);
        assert_eq!(key_name("sk-abcdef1234"), "sk-...1234");
    }

    #[test]
    fn field_types_are_checked_with_the_field_named() {
        let e = check("max_budget", Ty::Money, &json!(-1)).unwrap_err();
        assert_eq!(e.0.param.as_deref(), Some("max_budget"));
        assert!(check("rpm_limit", Ty::Count, &json!(1.5)).is_err());
        assert_eq!(
            check("rpm_limit", Ty::Count, &json!("7")).unwrap(),
            json!(7)
        );
        assert!(check("models", Ty::List, &json!("gpt-4o")).is_err());
        assert!(check("budget_duration", Ty::Duration, &json!("5y")).is_err());
        assert!(check("user_role", Ty::Role, &json!("king")).is_err());
        let mb = check(
            "model_max_budget",
            Ty::ModelBudget,
            &json!({"a": 1, "b": {"budget_limit": 2, "time_period": "1d"}}),
        )
        .unwrap();
        assert_eq!(mb["b"]["time_period"], "1d");
        assert!(check(
            "model_max_budget",
            Ty::ModelBudget,
            &json!({"a": {"time_period": "1d"}})
        )
        .is_err());
    }

    #[test]
    fn durations_set_expiry_from_now() {
        assert_eq!(expiry("duration", "30s", 1_000).unwrap(), 31_000);
        assert_eq!(expiry("duration", "2d", 0).unwrap(), 2 * 86_400_000);
        let jan31 = period::parse_instant("2026-01-31T00:00:00Z").unwrap();
        let feb = expiry("duration", "1mo", jan31).unwrap();
        assert_eq!(iso_ms(feb), "2026-02-28T00:00:00.000Z");
        assert!(expiry("duration", "3x", 0).is_err());
    }

    #[test]
    fn pages_split_the_list() {
        let items: Vec<u32> = (0..25).collect();
        assert_eq!(paginate(&items, 1, 10), ((0..10).collect(), 3));
        assert_eq!(paginate(&items, 3, 10), ((20..25).collect(), 3));
        assert_eq!(paginate(&items, 4, 10), (vec![], 3));
    }
}
