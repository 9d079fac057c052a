//! LiteLLM rows (as `row_to_json` gives them) → Tollgate entity documents, one pure function
//! per table. Field names stay LiteLLM's (Tollgate's documents use them); what Tollgate does
//! not carry over is named in the report as a note on the row, never dropped silently.

use serde_json::{json, Map, Value};

use super::report::Report;
use crate::control::enforce::hash_key;
use crate::control::Kind;

pub type Row = Map<String, Value>;

/// An entity read from LiteLLM, before its spend window is worked out.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    pub kind: Kind,
    pub id: String,
    pub doc: Map<String, Value>,
    /// Spend in LiteLLM's current budget window (or ever, without one).
    pub spend: f64,
    /// When LiteLLM would reset that spend (`budget_reset_at`), Unix ms.
    pub litellm_reset_at: Option<i64>,
}

pub fn str_of(row: &Row, k: &str) -> Option<String> {
    row.get(k)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn num(row: &Row, k: &str) -> Value {
    match row.get(k) {
        Some(Value::Number(n)) => Value::Number(n.clone()),
        _ => Value::Null,
    }
}

pub fn f64_of(row: &Row, k: &str) -> f64 {
    row.get(k).and_then(Value::as_f64).unwrap_or(0.0)
}

fn list(row: &Row, k: &str) -> Value {
    match row.get(k) {
        Some(Value::Array(a)) => Value::Array(a.clone()),
        _ => json!([]),
    }
}

fn obj(row: &Row, k: &str) -> Value {
    match row.get(k) {
        Some(Value::Object(o)) => Value::Object(o.clone()),
        _ => json!({}),
    }
}

fn text(row: &Row, k: &str) -> Value {
    str_of(row, k).map_or(Value::Null, Value::String)
}

/// A LiteLLM `timestamp(3)` (UTC, without zone: `2026-01-01T10:00:00.123`) as Unix ms.
pub fn time_of(row: &Row, k: &str) -> Option<i64> {
    row.get(k)
        .and_then(Value::as_str)
        .and_then(crate::control::period::parse_instant)
}

/// Unix ms as RFC 3339 UTC with milliseconds, the form Tollgate's documents hold.
pub fn iso(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn time(row: &Row, k: &str) -> Value {
    time_of(row, k).map_or(Value::Null, |ms| Value::String(iso(ms)))
}

/// Whether a field holds something other than its LiteLLM default (null, false, 0-length).
fn is_set(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        _ => true,
    }
}

/// Notes each field of `fields` the row sets: Tollgate keeps no such setting.
fn unsupported(rep: &mut Report, table: &str, id: &str, row: &Row, fields: &[&str]) {
    for f in fields {
        if is_set(row.get(*f)) {
            let v = row[*f].to_string();
            let shown: String = v.chars().take(80).collect();
            rep.note(
                table,
                id,
                format!("{f} is not carried over (Tollgate has no such setting)"),
                format!("{f} = {shown}"),
            );
        }
    }
}

fn copy(doc: &mut Map<String, Value>, row: &Row, fields: &[&str], f: fn(&Row, &str) -> Value) {
    for k in fields {
        doc.insert((*k).to_string(), f(row, k));
    }
}

const LIMITS: &[&str] = &[
    "max_budget",
    "rpm_limit",
    "tpm_limit",
    "max_parallel_requests",
];

/// `LiteLLM_BudgetTable` → a reusable budget.
pub fn budget(row: &Row, rep: &mut Report) -> Option<Mapped> {
    const T: &str = "LiteLLM_BudgetTable";
    let Some(id) = str_of(row, "budget_id") else {
        rep.skip(T, "?", "no budget_id");
        return None;
    };
    let mut doc = Map::new();
    doc.insert("budget_id".into(), json!(id));
    copy(&mut doc, row, LIMITS, num);
    copy(&mut doc, row, &["soft_budget"], num);
    copy(
        &mut doc,
        row,
        &["budget_duration", "created_by", "updated_by"],
        text,
    );
    copy(&mut doc, row, &["created_at", "updated_at"], time);
    doc.insert(
        "model_max_budget".into(),
        row.get("model_max_budget").cloned().unwrap_or(Value::Null),
    );
    unsupported(
        rep,
        T,
        &id,
        row,
        &[
            "allowed_models",
            "tpd_limit",
            "temp_budget_increase",
            "temp_budget_expiry",
        ],
    );
    Some(Mapped {
        kind: Kind::Budget,
        id,
        doc,
        spend: 0.0,
        litellm_reset_at: time_of(row, "budget_reset_at"),
    })
}

/// `LiteLLM_OrganizationTable` (+ its `LiteLLM_OrganizationMembership` rows) → an organization.
pub fn org(row: &Row, memberships: Vec<Value>, rep: &mut Report) -> Option<Mapped> {
    const T: &str = "LiteLLM_OrganizationTable";
    let Some(id) = str_of(row, "organization_id") else {
        rep.skip(T, "?", "no organization_id");
        return None;
    };
    let mut doc = Map::new();
    doc.insert("organization_id".into(), json!(id));
    copy(
        &mut doc,
        row,
        &[
            "organization_alias",
            "budget_id",
            "created_by",
            "updated_by",
        ],
        text,
    );
    copy(&mut doc, row, &["models"], list);
    copy(&mut doc, row, &["metadata"], obj);
    copy(&mut doc, row, &["created_at", "updated_at"], time);
    doc.insert("memberships".into(), Value::Array(memberships));
    unsupported(rep, T, &id, row, &["object_permission_id"]);
    Some(Mapped {
        kind: Kind::Org,
        id,
        doc,
        spend: f64_of(row, "spend"),
        litellm_reset_at: None,
    })
}

/// A `LiteLLM_OrganizationMembership` row → an entry of its organization's `memberships`.
pub fn org_membership(row: &Row, rep: &mut Report) -> Option<(String, Value)> {
    const T: &str = "LiteLLM_OrganizationMembership";
    let (Some(user), Some(org)) = (str_of(row, "user_id"), str_of(row, "organization_id")) else {
        rep.skip(T, "?", "no user_id or organization_id");
        return None;
    };
    let id = format!("{org}/{user}");
    unsupported(rep, T, &id, row, &["budget_id"]);
    Some((
        org,
        json!({
            "user_id": user,
            "user_role": text(row, "user_role"),
            "created_at": time(row, "created_at"),
            "updated_at": time(row, "updated_at"),
        }),
    ))
}

/// `LiteLLM_TeamTable` → a team; `aliases` are the team's `LiteLLM_ModelTable.model_aliases`.
pub fn team(row: &Row, aliases: Option<Value>, rep: &mut Report) -> Option<Mapped> {
    const T: &str = "LiteLLM_TeamTable";
    let Some(id) = str_of(row, "team_id") else {
        rep.skip(T, "?", "no team_id");
        return None;
    };
    let mut doc = Map::new();
    doc.insert("team_id".into(), json!(id));
    copy(
        &mut doc,
        row,
        &["team_alias", "organization_id", "budget_duration"],
        text,
    );
    copy(
        &mut doc,
        row,
        &["admins", "members", "models", "team_member_permissions"],
        list,
    );
    copy(&mut doc, row, LIMITS, num);
    copy(&mut doc, row, &["soft_budget"], num);
    copy(&mut doc, row, &["metadata", "model_max_budget"], obj);
    copy(&mut doc, row, &["created_at", "updated_at"], time);
    let roster = match row.get("members_with_roles") {
        Some(Value::Array(a)) => Value::Array(a.clone()),
        _ => json!([]),
    };
    doc.insert("members_with_roles".into(), roster);
    doc.insert(
        "blocked".into(),
        json!(row.get("blocked").and_then(Value::as_bool).unwrap_or(false)),
    );
    doc.insert("model_aliases".into(), aliases.unwrap_or_else(|| json!({})));
    doc.insert("tags".into(), json!([]));
    doc.insert("budget_id".into(), Value::Null);
    doc.insert("max_token_budget".into(), Value::Null);
    unsupported(
        rep,
        T,
        &id,
        row,
        &[
            "tpd_limit",
            "budget_limits",
            "router_settings",
            "policies",
            "access_group_ids",
            "object_permission_id",
            "default_team_member_models",
            "allow_team_guardrail_config",
            "model_max_budget",
        ],
    );
    Some(Mapped {
        kind: Kind::Team,
        id,
        doc,
        spend: f64_of(row, "spend"),
        litellm_reset_at: time_of(row, "budget_reset_at"),
    })
}

/// `LiteLLM_UserTable` → a user.
pub fn user(row: &Row, rep: &mut Report) -> Option<Mapped> {
    const T: &str = "LiteLLM_UserTable";
    let Some(id) = str_of(row, "user_id") else {
        rep.skip(T, "?", "no user_id");
        return None;
    };
    let mut doc = Map::new();
    doc.insert("user_id".into(), json!(id));
    copy(
        &mut doc,
        row,
        &[
            "user_email",
            "user_alias",
            "user_role",
            "organization_id",
            "team_id",
            "sso_user_id",
            "budget_duration",
        ],
        text,
    );
    copy(
        &mut doc,
        row,
        &["models", "teams", "allowed_cache_controls"],
        list,
    );
    copy(&mut doc, row, LIMITS, num);
    copy(&mut doc, row, &["metadata", "model_max_budget"], obj);
    copy(&mut doc, row, &["created_at", "updated_at"], time);
    doc.insert("budget_id".into(), Value::Null);
    doc.insert("max_token_budget".into(), Value::Null);
    if is_set(row.get("password")) {
        rep.note(
            T,
            &id,
            "UI password is not carried over",
            "the user signs in again after an admin sets a new password",
        );
    }
    unsupported(
        rep,
        T,
        &id,
        row,
        &["policies", "object_permission_id", "model_max_budget"],
    );
    Some(Mapped {
        kind: Kind::User,
        id,
        doc,
        spend: f64_of(row, "spend"),
        litellm_reset_at: time_of(row, "budget_reset_at"),
    })
}

/// `LiteLLM_TeamMembership` → a membership (`team_id/user_id`); `role` from the team roster.
pub fn member(row: &Row, role: Option<String>, rep: &mut Report) -> Option<Mapped> {
    const T: &str = "LiteLLM_TeamMembership";
    let (Some(team), Some(user)) = (str_of(row, "team_id"), str_of(row, "user_id")) else {
        rep.skip(T, "?", "no team_id or user_id");
        return None;
    };
    let id = format!("{team}/{user}");
    let doc = json!({
        "team_id": team,
        "user_id": user,
        "budget_id": text(row, "budget_id"),
        "max_budget": null,
        "role": role.unwrap_or_else(|| "user".into()),
    });
    let Value::Object(doc) = doc else {
        unreachable!()
    };
    Some(Mapped {
        kind: Kind::Member,
        id,
        doc,
        spend: f64_of(row, "spend"),
        litellm_reset_at: None,
    })
}

/// `LiteLLM_EndUserTable` → an end user.
pub fn end_user(row: &Row, rep: &mut Report) -> Option<Mapped> {
    const T: &str = "LiteLLM_EndUserTable";
    let Some(id) = str_of(row, "user_id") else {
        rep.skip(T, "?", "no user_id");
        return None;
    };
    let mut doc = Map::new();
    doc.insert("user_id".into(), json!(id));
    copy(
        &mut doc,
        row,
        &[
            "alias",
            "allowed_model_region",
            "default_model",
            "budget_id",
        ],
        text,
    );
    copy(&mut doc, row, &["models"], list);
    doc.insert(
        "blocked".into(),
        json!(row.get("blocked").and_then(Value::as_bool).unwrap_or(false)),
    );
    doc.insert("metadata".into(), json!({}));
    if let Some(r) = str_of(row, "allowed_model_region").filter(|r| r != "eu" && r != "us") {
        rep.note(T, &id, "allowed_model_region not eu/us is ignored", r);
    }
    unsupported(rep, T, &id, row, &["object_permission_id"]);
    Some(Mapped {
        kind: Kind::Customer,
        id,
        doc,
        spend: f64_of(row, "spend"),
        litellm_reset_at: None,
    })
}

/// Whether `s` is a key hash as LiteLLM stores it: 64 lowercase-able hex digits.
fn is_token(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `LiteLLM_VerificationToken` → a virtual key, under the same hash (`token` is SHA-256 hex of
/// the `sk-…` key, which is exactly how Tollgate finds keys), so every key keeps working.
pub fn key(row: &Row, rep: &mut Report) -> Option<Mapped> {
    const T: &str = "LiteLLM_VerificationToken";
    let Some(token) = str_of(row, "token") else {
        rep.skip(T, "?", "no token");
        return None;
    };
    let id = if is_token(&token) {
        token.to_ascii_lowercase()
    } else if token.starts_with("sk-") {
        // Very old LiteLLM versions stored the key itself.
        let h = hash_key(&token);
        rep.note(
            T,
            &h,
            "stored unhashed in LiteLLM; imported under its hash",
            "token was a raw key",
        );
        h
    } else {
        let shown: String = token.chars().take(12).collect();
        rep.skip(
            T,
            &shown,
            "token is neither a SHA-256 hex key hash nor an sk- key",
        );
        return None;
    };
    let metadata = obj(row, "metadata");
    let mut doc = Map::new();
    copy(
        &mut doc,
        row,
        &[
            "key_name",
            "key_alias",
            "team_id",
            "user_id",
            "organization_id",
            "budget_id",
            "budget_duration",
            "created_by",
            "updated_by",
        ],
        text,
    );
    copy(
        &mut doc,
        row,
        &["models", "allowed_cache_controls", "allowed_routes"],
        list,
    );
    copy(
        &mut doc,
        row,
        &["aliases", "config", "permissions", "model_max_budget"],
        obj,
    );
    copy(&mut doc, row, LIMITS, num);
    copy(
        &mut doc,
        row,
        &["expires", "created_at", "updated_at"],
        time,
    );
    // LiteLLM keeps per-model rate limits in the key's metadata; Tollgate reads them top level.
    for f in ["model_rpm_limit", "model_tpm_limit"] {
        doc.insert(
            f.into(),
            metadata
                .get(f)
                .cloned()
                .filter(Value::is_object)
                .unwrap_or(json!({})),
        );
    }
    doc.insert("metadata".into(), metadata);
    doc.insert("tags".into(), json!([]));
    doc.insert(
        "blocked".into(),
        json!(row.get("blocked").and_then(Value::as_bool).unwrap_or(false)),
    );
    doc.insert("max_token_budget".into(), Value::Null);
    if is_set(row.get("model_max_budget")) {
        rep.note(
            T,
            &id,
            "per-model budget spend starts at 0",
            "LiteLLM counts model_max_budget spend in its cache, not its database",
        );
    }
    unsupported(
        rep,
        T,
        &id,
        row,
        &[
            "tpd_limit",
            "budget_limits",
            "budget_fallbacks",
            "router_settings",
            "policies",
            "access_group_ids",
            "object_permission_id",
            "auto_rotate",
            "rotation_interval",
            "agent_id",
            "project_id",
        ],
    );
    Some(Mapped {
        kind: Kind::Key,
        id,
        doc,
        spend: f64_of(row, "spend"),
        litellm_reset_at: time_of(row, "budget_reset_at"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: Value) -> Row {
        let Value::Object(m) = v else { panic!() };
        m
    }

    #[test]
    fn a_key_keeps_its_hash_limits_and_litellm_metadata_limits() {
        let mut rep = Report::default();
        let token = hash_key("sk-test-1");
        let r = row(json!({
            "token": token, "key_alias": "app", "spend": 1.5, "max_budget": 2.0,
            "budget_duration": "30d", "budget_reset_at": "2030-01-01T00:00:00",
            "expires": "2031-02-03T04:05:06.789", "models": ["gpt-4o"], "aliases": {"a": "b"},
            "rpm_limit": 10, "tpm_limit": null, "max_parallel_requests": 2, "blocked": null,
            "metadata": {"model_rpm_limit": {"gpt-4o": 3}, "tags": ["t"]},
            "tpd_limit": 1000, "model_max_budget": {}, "soft_budget_cooldown": false
        }));
        let m = key(&r, &mut rep).unwrap();
        assert_eq!(m.id, token);
        assert_eq!(m.kind, Kind::Key);
        assert_eq!(m.spend, 1.5);
        assert_eq!(m.doc["expires"], "2031-02-03T04:05:06.789Z");
        assert_eq!(m.doc["model_rpm_limit"]["gpt-4o"], 3);
        assert_eq!(m.doc["blocked"], false);
        assert_eq!(m.doc["rpm_limit"], 10);
        assert_eq!(m.doc["tpm_limit"], Value::Null);
        assert_eq!(
            m.litellm_reset_at,
            crate::control::period::parse_instant("2030-01-01T00:00:00Z")
        );
        let e = crate::control::Entity::new(Kind::Key, &m.id, m.doc.clone(), None);
        assert_eq!(e.limits.max_budget, Some(2.0));
        assert_eq!(e.model_limits["gpt-4o"].rpm, Some(3));
        assert_eq!(e.tags, ["t"]);
        assert!(e.expires_ms.is_some());
        // tpd_limit is reported, not silently dropped.
        assert!(rep.render(false).contains("tpd_limit is not carried over"));
    }

    #[test]
    fn rows_that_cannot_be_mapped_are_reported() {
        let mut rep = Report::default();
        assert!(key(&row(json!({"token": "not-a-hash"})), &mut rep).is_none());
        assert!(team(&row(json!({"team_alias": "x"})), None, &mut rep).is_none());
        assert_eq!(rep.skipped(), 2);
        let raw = key(&row(json!({"token": "sk-old-raw"})), &mut rep).unwrap();
        assert_eq!(raw.id, hash_key("sk-old-raw"));
    }
}
