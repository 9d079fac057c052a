//! What every management handler shares: the parsed request (method, path, query, JSON body)
//! and its field readers, admin errors, the JSON reply, and the document helpers of every
//! resource (timestamps, ids, the write lock, spend and reset views, existence checks, paging).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use adapters::ApiError;
use bytes::Bytes;
use pingora::proxy::Session;
use serde_json::{json, Map, Value};

use super::fields::{flag_value, list_value, text_value};
use crate::control::{now_ms, period, Control, Entity, Kind};
use crate::error::{respond, GatewayError};
use crate::state::Runtime;

/// A management API error: a gateway error, or a 4xx/5xx with LiteLLM's wording.
#[derive(Debug)]
pub struct AdminError(pub ApiError);

impl AdminError {
    /// 400: a field is missing or has the wrong type/value.
    pub fn bad(param: &str, message: impl Into<String>) -> AdminError {
        AdminError(
            ApiError::new(400, "bad_request_error", message.into())
                .with_param(param.to_string())
                .with_code("400"),
        )
    }
    /// 404: the thing named does not exist.
    pub fn not_found(message: impl Into<String>) -> AdminError {
        AdminError(ApiError::new(404, "not_found_error", message.into()).with_code("404"))
    }
    /// 409-style conflicts (an id already taken) are 400 in LiteLLM.
    pub fn exists(param: &str, message: impl Into<String>) -> AdminError {
        AdminError::bad(param, message)
    }
    /// 500: the database failed.
    pub fn db(e: store::StoreError) -> AdminError {
        log::error!("management API: database error: {e}");
        AdminError(
            ApiError::new(500, "internal_server_error", format!("Database error: {e}"))
                .with_code("500"),
        )
    }
    pub fn to_api_error(&self) -> ApiError {
        self.0.clone()
    }
}

impl From<GatewayError> for AdminError {
    fn from(e: GatewayError) -> AdminError {
        AdminError(e.to_api_error())
    }
}

impl From<store::StoreError> for AdminError {
    fn from(e: store::StoreError) -> AdminError {
        AdminError::db(e)
    }
}

/// One management request.
#[derive(Debug, Default)]
pub struct Req {
    pub path: String,
    /// Query parameters, decoded; a repeated parameter keeps every value in `query_all`.
    pub query: HashMap<String, String>,
    pub query_all: Vec<(String, String)>,
    /// The JSON body (empty for GET or an empty body).
    pub body: Map<String, Value>,
}

impl Req {
    pub async fn read(session: &mut Session, runtime: &Runtime) -> Result<Req, AdminError> {
        let h = session.req_header();
        let path = h.uri.path().trim_end_matches('/').to_string();
        let query_all: Vec<(String, String)> = h
            .uri
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let query = query_all.iter().cloned().collect();
        let max = runtime.config.general.max_request_bytes();
        let raw = crate::lifecycle::admit::read_body(session, max).await?;
        let body = if raw.iter().all(u8::is_ascii_whitespace) {
            Map::new()
        } else {
            match serde_json::from_slice::<Value>(&raw) {
                Ok(Value::Object(m)) => m,
                Ok(_) => {
                    return Err(AdminError::bad(
                        "body",
                        "the request body must be a JSON object",
                    ))
                }
                Err(e) => {
                    return Err(AdminError::bad(
                        "body",
                        format!("the request body is not valid JSON: {e}"),
                    ))
                }
            }
        };
        Ok(Req {
            path,
            query,
            query_all,
            body,
        })
    }

    /// A field from the body, else the query string (`/key/info?key=…`).
    pub fn get(&self, name: &str) -> Option<Value> {
        self.body
            .get(name)
            .filter(|v| !v.is_null())
            .cloned()
            .or_else(|| self.query.get(name).map(|s| Value::String(s.clone())))
    }

    /// A string field (body or query), or a 400 naming it.
    pub fn string(&self, name: &str) -> Result<Option<String>, AdminError> {
        self.get(name).map(|v| text_value(name, &v)).transpose()
    }

    pub fn required_string(&self, name: &str) -> Result<String, AdminError> {
        self.string(name)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AdminError::bad(name, format!("{name} is required")))
    }

    /// The first of `names` (a field and its other name, e.g. `id` / `budget_id`) given
    /// non-empty, or a 400 naming the first with `message`.
    pub fn one_of(&self, names: &[&str], message: &str) -> Result<String, AdminError> {
        for name in names {
            if let Some(v) = self.string(name)?.filter(|s| !s.is_empty()) {
                return Ok(v);
            }
        }
        Err(AdminError::bad(names[0], message))
    }

    /// A list of strings (JSON array in the body; comma-separated or repeated in the query).
    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, AdminError> {
        if let Some(v) = self.body.get(name).filter(|v| !v.is_null()) {
            return list_value(name, v).map(Some);
        }
        let vals: Vec<String> = self
            .query_all
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_string()))
            .filter(|s| !s.is_empty())
            .collect();
        Ok((!vals.is_empty()).then_some(vals))
    }

    /// A required, non-empty list of strings (`team_ids`, `user_ids`); `message` says what to pass.
    pub fn required_strings(&self, name: &str, message: &str) -> Result<Vec<String>, AdminError> {
        self.strings(name)?
            .filter(|v| !v.is_empty())
            .ok_or_else(|| AdminError::bad(name, message))
    }

    /// A boolean field (`true`/`false`, also as query text).
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, AdminError> {
        self.get(name).map(|v| flag_value(name, &v)).transpose()
    }
}

/// Writes a JSON reply.
pub async fn reply(session: &mut Session, status: u16, body: &Value) -> pingora::Result<()> {
    let bytes = Bytes::from(serde_json::to_vec(body).expect("serializing JSON values cannot fail"));
    respond(session, status, "application/json", bytes, "", &[]).await
}

/// Management writes run one at a time on this replica, so that checks (alias taken, already a
/// member) and the writes they guard cannot interleave.
pub(super) async fn write_lock() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: OnceLock<tokio::sync::Mutex<()>> = OnceLock::new();
    LOCK.get_or_init(|| tokio::sync::Mutex::new(()))
        .lock()
        .await
}

/// A fresh UUID-shaped id (entities created without one).
pub(super) fn new_id() -> String {
    crate::ctx::new_call_id()
}

/// The id a create route was given in `name` (kept as given), a fresh one when absent; blank is
/// a 400 (budgets, organizations).
pub(super) fn given_or_new_id(req: &Req, name: &str) -> Result<String, AdminError> {
    match req.string(name)? {
        Some(id) if !id.trim().is_empty() => Ok(id),
        Some(_) => Err(AdminError::bad(name, format!("{name} must not be empty"))),
        None => Ok(new_id()),
    }
}

/// Unix ms as RFC 3339 UTC with milliseconds (`2026-11-21T10:00:00.123Z`): keys, users, teams
/// and spend log rows.
pub(super) fn iso_ms(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Now, in whole seconds (`2026-11-21T10:00:00Z`): budgets, organizations and end users.
pub(super) fn now_iso() -> String {
    period::iso(now_ms())
}

/// Sets `updated_at` to now (keys, users, teams, memberships).
pub(super) fn touch(doc: &mut Map<String, Value>) {
    doc.insert("updated_at".into(), Value::String(iso_ms(now_ms())));
}

/// `created_at`/`updated_at` now and `created_by`/`updated_by` the proxy admin, as LiteLLM
/// stamps a new budget or organization.
pub(super) fn stamp_new(doc: &mut Map<String, Value>) {
    let now = now_iso();
    doc.insert("created_at".into(), json!(now));
    doc.insert("updated_at".into(), json!(now));
    doc.insert("created_by".into(), json!("litellm_proxy_admin"));
    doc.insert("updated_by".into(), json!("litellm_proxy_admin"));
}

/// A JSON object literal as a document map.
pub(super) fn into_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("a JSON object literal"),
    }
}

/// A string field of a document (`None` when missing, null or empty).
pub(super) fn doc_str<'a>(doc: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    doc.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A field of a document as it is stored, null when missing.
pub(super) fn doc_field(doc: &Map<String, Value>, k: &str) -> Value {
    doc.get(k).cloned().unwrap_or(Value::Null)
}

/// When the entity's budget window ends, as RFC 3339 (null if it never resets).
pub(super) fn reset_at(c: &Control, e: &Entity) -> Value {
    c.budget_reset_at(e)
        .map_or(Value::Null, |ms| Value::String(period::iso(ms)))
}

/// The entity's document plus its live spend and next budget reset: the object every key, user
/// and team route answers with.
pub(super) fn with_spend(c: &Control, e: &Entity) -> Map<String, Value> {
    let mut m = e.doc();
    m.insert("spend".into(), json!(c.spend(e)));
    m.insert("budget_reset_at".into(), reset_at(c, e));
    m
}

/// Adds `tokens_used`: the tokens a key, team or user used in its current budget window,
/// counted against its `max_token_budget` (null without one: nothing is counted then).
pub(super) fn with_tokens(c: &Control, e: &Entity, m: &mut Map<String, Value>) {
    m.insert("tokens_used".into(), json!(c.tokens_used(e)));
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

/// Newest first by `created_at`, ties by id: the order of the paged lists.
pub(super) fn newest_first(items: &mut [Arc<Entity>]) {
    items.sort_by(|a, b| {
        fn created(e: &Entity) -> &str {
            e.created_at().unwrap_or("")
        }
        created(b).cmp(created(a)).then_with(|| a.id.cmp(&b.id))
    });
}

/// `page` of `items` (1-based) and the number of pages.
pub(super) fn paginate<T: Clone>(items: &[T], page: usize, size: usize) -> (Vec<T>, usize) {
    let total_pages = items.len().div_ceil(size);
    let start = (page - 1).saturating_mul(size).min(items.len());
    let end = (start + size).min(items.len());
    (items[start..end].to_vec(), total_pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_split_the_list() {
        let items: Vec<u32> = (0..25).collect();
        assert_eq!(paginate(&items, 1, 10), ((0..10).collect(), 3));
        assert_eq!(paginate(&items, 3, 10), ((20..25).collect(), 3));
        assert_eq!(paginate(&items, 4, 10), (vec![], 3));
    }

    #[test]
    fn timestamps_keep_their_two_formats() {
        assert_eq!(iso_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(period::iso(1_700_000_000_123), "2023-11-14T22:13:20Z");
    }
}
