//! Key documents: the fields `/key/generate`, `/key/update` and `/key/regenerate` accept, a new
//! key's defaults, `duration` → `expires`, `tags` mirrored into `metadata`, the cross-entity
//! checks (alias free, team and budget exist), and a new key read from a request.

use serde_json::{json, Map, Value};

use super::documents::{doc_str, into_map, iso_ms};
use super::error::AdminError;
use super::key_secrets::{key_name, new_secret, supplied_secret};
use super::request::{read_fields, Req};
use super::validate::{check_budget_ref, check_ref, unset_limits, Ty, LIMITS, TOKEN_LIMITS};
use crate::clock::now_ms_i64;
use crate::control::enforce::hash_key;
use crate::control::{period, Control, Kind};

/// The fields `/key/generate`, `/key/update` and `/key/regenerate` read, with their types (the
/// LiteLLM fields they accept without reading are in `route_fields.rs`).
pub(super) const KEY_FIELDS: &[&[(&str, Ty)]] = &[
    &[
        ("key_alias", Ty::Text),
        ("models", Ty::List),
        ("aliases", Ty::Aliases),
    ],
    LIMITS,
    TOKEN_LIMITS,
    &[
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
        ("allowed_cache_controls", Ty::List),
        // Guardrails (`guard/`): the key's list, kept in `metadata.guardrails` as LiteLLM
        // does, and `permissions.modify_guardrails`.
        ("guardrails", Ty::List),
        ("permissions", Ty::Object),
    ],
];

/// A new key document with every field LiteLLM's key row has, at its default.
fn key_defaults(now: i64) -> Map<String, Value> {
    let mut m = into_map(json!({
        "key_name": null,
        "key_alias": null,
        "models": [],
        "aliases": {},
        "expires": null,
        "max_token_budget": null,
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
    }));
    unset_limits(&mut m);
    m
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

/// `tags` are also kept in `metadata.tags`, where LiteLLM's spend tracking and tag routing
/// read them; tags given only in `metadata.tags` (as LiteLLM documents keys' tags) are kept
/// and mirrored into `tags`.
fn mirror_tags(doc: &mut Map<String, Value>) {
    let Some(tags) = doc.get("tags").filter(|t| t.is_array()).cloned() else {
        return;
    };
    let meta_tags = doc
        .get("metadata")
        .and_then(|m| m.get("tags"))
        .filter(|t| t.as_array().is_some_and(|t| !t.is_empty()))
        .cloned();
    if let (Some(meta_tags), true) = (meta_tags, tags.as_array().is_some_and(Vec::is_empty)) {
        doc.insert("tags".into(), meta_tags);
        return;
    }
    if let Some(Value::Object(meta)) = doc.get_mut("metadata") {
        if tags.as_array().is_some_and(|t| !t.is_empty()) || meta.contains_key("tags") {
            meta.insert("tags".into(), tags);
        }
    }
}

/// Reads the key fields and `duration` of the request into `doc` (without storing anything):
/// what `/key/update` and `/key/regenerate` share with `/key/generate`.
pub(super) fn read_key_fields(
    req: &Req,
    doc: &mut Map<String, Value>,
    now: i64,
) -> Result<(), AdminError> {
    read_into(req, KEY_FIELDS, doc, now)
}

fn read_into(
    req: &Req,
    fields: &[&[(&str, Ty)]],
    doc: &mut Map<String, Value>,
    now: i64,
) -> Result<(), AdminError> {
    read_fields(req, fields, doc)?;
    apply_duration(req, doc, now)?;
    mirror_tags(doc);
    if let Some(Value::Object(p)) = doc.get("permissions") {
        if let Some(other) = p.keys().find(|k| *k != "modify_guardrails") {
            return Err(AdminError::bad(
                "permissions",
                format!("permissions.{other} is not supported yet (Tollgate acts on permissions.modify_guardrails only)"),
            ));
        }
    }
    if let Some(g) = doc.remove("guardrails").filter(Value::is_array) {
        if let Some(Value::Object(meta)) = doc.get_mut("metadata") {
            meta.insert("guardrails".into(), g);
        }
    }
    Ok(())
}

/// Cross-entity checks on a key document: the alias is not another key's, the team and budget
/// exist.
pub(super) fn check_key_refs(
    c: &Control,
    doc: &Map<String, Value>,
    this: Option<&str>,
) -> Result<(), AdminError> {
    if let Some(alias) = doc_str(doc, "key_alias") {
        check_alias_free(c, alias, this)?;
    }
    check_ref(c, doc, "team_id", Kind::Team, "/team/new")?;
    check_budget_ref(c, doc)
}

/// LiteLLM refuses a `key_alias` another key already has.
fn check_alias_free(c: &Control, alias: &str, this: Option<&str>) -> Result<(), AdminError> {
    let taken = c
        .list(Kind::Key)
        .iter()
        .any(|k| Some(k.id.as_str()) != this && k.alias().filter(|a| !a.is_empty()) == Some(alias));
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
    let now = now_ms_i64();
    let secret = match supplied_secret(req, "key")? {
        Some(s) if fields_from_request => s,
        _ => new_secret(),
    };
    let token = hash_key(&secret);
    let mut doc = key_defaults(now);
    doc.extend(base);
    // `/user/new`: only the key's own settings come from the request.
    let own: &[&[(&str, Ty)]] = &[&[
        ("key_alias", Ty::Text),
        ("tags", Ty::List),
        ("allowed_cache_controls", Ty::List),
    ]];
    read_into(
        req,
        if fields_from_request { KEY_FIELDS } else { own },
        &mut doc,
        now,
    )?;
    doc.insert("key_name".into(), Value::String(key_name(&secret)));
    check_key_refs(c, &doc, None)?;
    if c.get(Kind::Key, &token).is_some() {
        return Err(AdminError::exists("key", "This key already exists"));
    }
    Ok(NewKey { secret, token, doc })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn key_defaults_leave_every_limit_unset() {
        let d = key_defaults(0);
        for &(f, _) in LIMITS {
            assert_eq!(d.get(f), Some(&Value::Null), "{f}");
        }
        assert_eq!(d["blocked"], false);
    }
}
