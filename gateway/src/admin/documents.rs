//! Entity documents: fresh ids, the two timestamp formats and the stamps of new and changed
//! documents, reading a document's fields, and the `memberships` entries of an organization.

use serde_json::{json, Map, Value};

use crate::clock::now_ms_i64;
use crate::control::period;

/// A fresh UUID-shaped id (entities created without one).
pub(super) fn new_id() -> String {
    crate::ctx::new_call_id()
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
    period::iso(now_ms_i64())
}

/// Sets `updated_at` to now (keys, users, teams, memberships).
pub(super) fn touch(doc: &mut Map<String, Value>) {
    doc.insert("updated_at".into(), Value::String(iso_ms(now_ms_i64())));
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

/// The `memberships` entries of an organization document.
pub(super) fn org_entries(doc: &Map<String, Value>) -> Vec<Value> {
    doc.get("memberships")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

pub(super) fn entry_user(e: &Value) -> Option<&str> {
    e.get("user_id").and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_keep_their_two_formats() {
        assert_eq!(iso_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(period::iso(1_700_000_000_123), "2023-11-14T22:13:20Z");
    }
}
