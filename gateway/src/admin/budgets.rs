//! Management API: reusable budgets (`/budget/*`, LiteLLM's `LiteLLM_BudgetTable`), plus the
//! `litellm_budget_table` view that organizations, end users and team memberships share.
//!
//! A budget is a template: keys, teams, organizations and end users name it with `budget_id`
//! and take the limits their own document leaves unset; each of them keeps its own spend.

use serde_json::{json, Map, Value};

use super::fields::read_limits;
use super::util::{doc_field, given_or_new_id, now_iso, reset_at, stamp_new};
use super::{AdminError, Req};
use crate::control::{Control, Entity, Kind};

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

/// A budget as LiteLLM returns a `LiteLLM_BudgetTable` row.
fn view(c: &Control, e: &Entity) -> Value {
    let doc = e.doc();
    let mut out = limit_values(&doc, None, &LIMIT_FIELDS);
    out.insert("budget_id".into(), json!(e.id));
    out.insert("budget_reset_at".into(), reset_at(c, e));
    for f in ["created_at", "created_by", "updated_at", "updated_by"] {
        out.insert(f.into(), doc_field(&doc, f));
    }
    Value::Object(out)
}

/// `POST /budget/new`: `budget_id` (generated if absent) and the limit fields → the budget.
pub async fn new(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let id = given_or_new_id(req, "budget_id")?;
    let mut doc = Map::new();
    doc.insert("budget_id".into(), json!(id));
    read_limits(c, req, &mut doc, false)?;
    stamp_new(&mut doc);
    let Some(e) = c.insert(Kind::Budget, &id, doc).await? else {
        return Err(AdminError::exists(
            "budget_id",
            format!("Budget with id '{id}' already exists."),
        ));
    };
    Ok(view(c, &e))
}

/// `POST /budget/update`: `budget_id` (required) and the fields to change → the budget.
pub async fn update(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let id = req.required_string("budget_id")?;
    let e = c
        .get(Kind::Budget, &id)
        .ok_or_else(|| AdminError::not_found(format!("Budget with id '{id}' not found.")))?;
    let mut doc = e.doc();
    read_limits(c, req, &mut doc, false)?;
    doc.insert("budget_id".into(), json!(id));
    doc.insert("updated_at".into(), json!(now_iso()));
    let e = c.put(Kind::Budget, &id, doc).await?;
    Ok(view(c, &e))
}

/// `POST /budget/info` `{"budgets": [ids]}` (also `GET ?budgets=a,b` or `?budget_id=`) → the
/// budgets that exist, as a list.
pub async fn info(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let ids = match req.strings("budgets")? {
        Some(ids) => ids,
        None => match req.string("budget_id")? {
            Some(id) => vec![id],
            None => Vec::new(),
        },
    };
    if ids.is_empty() {
        return Err(AdminError::bad(
            "budgets",
            "Specify list of budget id's to query: {\"budgets\": [\"<budget_id>\"]}",
        ));
    }
    let out: Vec<Value> = ids
        .iter()
        .filter_map(|id| c.get(Kind::Budget, id))
        .map(|e| view(c, &e))
        .collect();
    Ok(Value::Array(out))
}

/// `POST /budget/delete` `{"id"}` → the deleted budget. Refused (400) while anything still
/// names it in `budget_id`.
pub async fn delete(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let id = req.one_of(
        &["id", "budget_id"],
        "id is required: {\"id\": \"<budget_id>\"}",
    )?;
    let e = c
        .get(Kind::Budget, &id)
        .ok_or_else(|| AdminError::not_found(format!("Budget with id '{id}' not found.")))?;
    let users: Vec<String> = Kind::ALL
        .iter()
        .filter(|k| **k != Kind::Budget)
        .flat_map(|k| c.list(*k))
        .filter(|u| u.budget_id.as_deref() == Some(id.as_str()))
        .take(10)
        .map(|u| format!("{}={}", u.kind.label(), shown_id(&u)))
        .collect();
    if !users.is_empty() {
        return Err(AdminError::bad(
            "id",
            format!(
                "Budget '{id}' is still used by {}. Remove their budget_id first.",
                users.join(", ")
            ),
        ));
    }
    let out = view(c, &e);
    c.delete(Kind::Budget, &id).await?;
    Ok(out)
}

fn shown_id(e: &Entity) -> String {
    match e.kind {
        Kind::Key => e.id.get(..12).unwrap_or(&e.id).to_string() + "…",
        _ => e.id.clone(),
    }
}

/// `GET /budget/list` → every budget.
pub async fn list(c: &Control, _req: &Req) -> Result<Value, AdminError> {
    Ok(Value::Array(
        c.list(Kind::Budget).iter().map(|e| view(c, e)).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::fields::LIMITS;

    #[test]
    fn the_budget_table_shows_every_limit_field_read() {
        let read: Vec<&str> = LIMITS.iter().map(|(f, _)| *f).collect();
        assert_eq!(read, LIMIT_FIELDS[..LIMITS.len()]);
    }

    #[test]
    fn own_limits_win_over_the_budget_s() {
        let own = crate::admin::util::into_map(json!({"max_budget": 1, "rpm_limit": null}));
        let budget = crate::admin::util::into_map(json!({"max_budget": 5, "rpm_limit": 7}));
        let t = limit_values(&own, Some(&budget), &LIMIT_FIELDS);
        assert_eq!(t["max_budget"], 1);
        assert_eq!(t["rpm_limit"], 7);
        assert_eq!(t["tpm_limit"], Value::Null);
        assert_eq!(t.len(), LIMIT_FIELDS.len());
    }
}
