//! What management routes answer with: the key, user and team objects (each document with its
//! live spend, budget reset and tokens used), a new key's one-time answer, memberships as
//! LiteLLM lists them, the `litellm_budget_table` of organizations, end users and members, and
//! paged lists.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::documents::{doc_field, doc_str, entry_user, org_entries};
use super::entity_ops::{members_of, teams_of};
use super::request::Req;
use super::validate::LIMITS;
use crate::control::{period, Control, Entity, Kind};

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

/// Keys as every route answers with them: the document, `token`, live `spend` and
/// `budget_reset_at`. Never the secret: it is not stored.
pub(super) fn key_object(c: &Control, e: &Entity) -> Map<String, Value> {
    let mut m = with_spend(c, e);
    m.remove("key");
    m.insert("token".into(), Value::String(e.id.clone()));
    with_tokens(c, e, &mut m);
    m
}

pub(super) fn generate_response(
    c: &Control,
    e: &Entity,
    secret: &str,
    req: &Req,
) -> Map<String, Value> {
    let mut out = key_object(c, e);
    out.insert("key".into(), Value::String(secret.to_string()));
    out.insert("token_id".into(), Value::String(e.id.clone()));
    out.insert("duration".into(), doc_field(&req.body, "duration"));
    out
}

/// A user as every route answers with it: the document, `teams`, live `spend` and
/// `budget_reset_at`.
pub(super) fn user_object(c: &Control, u: &Entity) -> Map<String, Value> {
    let mut m = with_spend(c, u);
    m.insert("user_id".into(), Value::String(u.id.clone()));
    m.insert("teams".into(), json!(teams_of(c, &u.id)));
    with_tokens(c, u, &mut m);
    m
}

/// A team as every route answers with it: the document, live `spend` and `budget_reset_at`.
pub(super) fn team_object(c: &Control, t: &Entity) -> Map<String, Value> {
    let mut m = with_spend(c, t);
    m.insert("team_id".into(), Value::String(t.id.clone()));
    with_tokens(c, t, &mut m);
    m
}

/// The limit fields of a budget, in LiteLLM's names (enforcement reads the first six).
pub(super) const LIMIT_FIELDS: [&str; 7] = [
    "max_budget",
    "soft_budget",
    "budget_duration",
    "rpm_limit",
    "tpm_limit",
    "max_parallel_requests",
    "model_max_budget",
];

/// `fields` of `own`, each one unset there taken from `fallback` (the `budget_id`'s budget),
/// null when neither has it: the rows of every `litellm_budget_table`.
pub(super) fn limit_values(
    own: &Map<String, Value>,
    fallback: Option<&Map<String, Value>>,
    fields: &[&str],
) -> Map<String, Value> {
    fields
        .iter()
        .map(|f| {
            let v = own
                .get(*f)
                .filter(|v| !v.is_null())
                .or_else(|| fallback.and_then(|b| b.get(*f)))
                .cloned()
                .unwrap_or(Value::Null);
            (f.to_string(), v)
        })
        .collect()
}

/// The `litellm_budget_table` of an organization or end user (`doc`: its document): its own
/// limits over those of its `budget_id`. An end user with neither has none (null); an
/// organization always has one (`always`), as every LiteLLM organization has a budget row.
pub(super) fn budget_table(
    c: &Control,
    e: &Entity,
    doc: &Map<String, Value>,
    always: bool,
) -> Value {
    let budget = e.budget_id.as_deref().and_then(|b| c.get(Kind::Budget, b));
    let own = LIMIT_FIELDS
        .iter()
        .any(|f| doc.get(*f).is_some_and(|v| !v.is_null()));
    if budget.is_none() && !own && !always {
        return Value::Null;
    }
    let budget = budget.map(|b| b.doc());
    let mut t = limit_values(doc, budget.as_ref(), &LIMIT_FIELDS);
    t.insert("budget_id".into(), json!(e.budget_id));
    t.insert("budget_reset_at".into(), reset_at(c, e));
    Value::Object(t)
}

/// A membership as `/team/info` answers with it (LiteLLM's `LiteLLM_TeamMembership`).
pub(super) fn membership_object(c: &Control, m: &Entity) -> Value {
    let doc = m.doc();
    let budget = if ["max_budget", "rpm_limit", "tpm_limit"]
        .iter()
        .any(|f| doc.get(*f).is_some_and(|b| !b.is_null()))
    {
        Value::Object(limit_values(&doc, None, &LIMIT_FIELDS[..LIMITS.len()]))
    } else {
        Value::Null
    };
    json!({
        "team_id": m.team_id,
        "user_id": m.user_id,
        "role": doc_str(&doc, "role"),
        "budget_id": doc_field(&doc, "budget_id"),
        "spend": c.spend(m),
        "litellm_budget_table": budget,
    })
}

/// The memberships of `team_id` as `/team/info` and `/team/list` answer with them.
pub(super) fn memberships(c: &Control, team_id: &str) -> Vec<Value> {
    members_of(c, team_id)
        .iter()
        .map(|m| membership_object(c, m))
        .collect()
}

/// A membership as LiteLLM returns it.
pub(super) fn org_membership(c: &Control, org: &str, user_id: &str, entry: &Value) -> Value {
    let user = c.get(Kind::User, user_id);
    json!({
        "user_id": user_id,
        "organization_id": org,
        "user_role": entry.get("user_role").cloned().unwrap_or(Value::Null),
        "spend": user.as_ref().map_or(0.0, |u| c.spend(u)),
        "budget_id": null,
        "litellm_budget_table": null,
        "created_at": entry.get("created_at").cloned().unwrap_or(Value::Null),
        "updated_at": entry.get("updated_at").cloned().unwrap_or(Value::Null),
        "user_email": user.as_ref().and_then(|u| u.email().map(str::to_string)),
    })
}

/// Every member of `org`: its memberships, then the users whose `organization_id` is `org`.
pub(super) fn org_member_list(c: &Control, org: &Entity) -> Vec<Value> {
    let listed = org_entries(&org.doc());
    let mut out: Vec<Value> = listed
        .iter()
        .filter_map(|e| Some(org_membership(c, &org.id, entry_user(e)?, e)))
        .collect();
    for u in c.list(Kind::User) {
        if u.org_id.as_deref() == Some(org.id.as_str())
            && !listed.iter().any(|e| entry_user(e) == Some(u.id.as_str()))
        {
            let entry = json!({"user_role": "internal_user", "created_at": u.created_at()});
            out.push(org_membership(c, &org.id, &u.id, &entry));
        }
    }
    out
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
    use crate::admin::documents::into_map;

    #[test]
    fn pages_split_the_list() {
        let items: Vec<u32> = (0..25).collect();
        assert_eq!(paginate(&items, 1, 10), ((0..10).collect(), 3));
        assert_eq!(paginate(&items, 3, 10), ((20..25).collect(), 3));
        assert_eq!(paginate(&items, 4, 10), (vec![], 3));
    }

    #[test]
    fn the_budget_table_shows_every_limit_field_read() {
        let read: Vec<&str> = LIMITS.iter().map(|(f, _)| *f).collect();
        assert_eq!(read, LIMIT_FIELDS[..LIMITS.len()]);
    }

    #[test]
    fn own_limits_win_over_the_budget_s() {
        let own = into_map(json!({"max_budget": 1, "rpm_limit": null}));
        let budget = into_map(json!({"max_budget": 5, "rpm_limit": 7}));
        let t = limit_values(&own, Some(&budget), &LIMIT_FIELDS);
        assert_eq!(t["max_budget"], 1);
        assert_eq!(t["rpm_limit"], 7);
        assert_eq!(t["tpm_limit"], Value::Null);
        assert_eq!(t.len(), LIMIT_FIELDS.len());
    }
}
