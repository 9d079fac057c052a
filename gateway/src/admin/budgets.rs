//! Management API: reusable budgets (`/budget/*`, LiteLLM's `LiteLLM_BudgetTable`), plus the
//! field readers and the `litellm_budget_table` view that organizations and end users share.
//!
//! A budget is a template: keys, teams, organizations and end users name it with `budget_id`
//! and take the limits their own document leaves unset; each of them keeps its own spend.

use serde_json::{json, Map, Value};

use super::{AdminError, Req};
use crate::control::{now_ms, period, Control, Entity, Kind};

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

/// Now, as the management API writes timestamps.
pub(super) fn now_iso() -> String {
    period::iso(now_ms())
}

/// A non-negative whole number (`rpm_limit`, `tpm_limit`, `max_parallel_requests`).
pub(super) fn integer(req: &Req, name: &str) -> Result<Option<u64>, AdminError> {
    match req.number(name)? {
        None => Ok(None),
        Some(n) if n.fract() == 0.0 && n <= u64::MAX as f64 => Ok(Some(n as u64)),
        Some(n) => Err(AdminError::bad(
            name,
            format!("{name} must be a whole number, got {n}"),
        )),
    }
}

/// A JSON object field (`metadata`, `model_max_budget`).
pub(super) fn object(req: &Req, name: &str) -> Result<Option<Map<String, Value>>, AdminError> {
    match req.body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m.clone())),
        Some(other) => Err(AdminError::bad(
            name,
            format!("{name} must be a JSON object, got {other}"),
        )),
    }
}

/// A finite, non-negative amount (`max_budget`, `soft_budget`, `spend`).
pub(super) fn amount(req: &Req, name: &str) -> Result<Option<f64>, AdminError> {
    match req.number(name)? {
        Some(n) if !n.is_finite() => Err(AdminError::bad(
            name,
            format!("{name} must be a finite number"),
        )),
        other => Ok(other),
    }
}

/// Reads every budget field present in the request into `doc` (validated; nothing is written
/// anywhere until the caller stores the document). `budget_id`, when given, must name an
/// existing budget.
pub(super) fn read_limits(
    c: &Control,
    req: &Req,
    doc: &mut Map<String, Value>,
    with_budget_id: bool,
) -> Result<(), AdminError> {
    for f in ["max_budget", "soft_budget"] {
        if let Some(n) = amount(req, f)? {
            doc.insert(f.into(), json!(n));
        }
    }
    if let Some(d) = req.string("budget_duration")? {
        period::parse(&d).map_err(|e| {
            AdminError::bad(
                "budget_duration",
                format!("budget_duration: {e} (e.g. \"30s\", \"30m\", \"30h\", \"1d\", \"1w\", \"1mo\")"),
            )
        })?;
        doc.insert("budget_duration".into(), json!(d.trim()));
    }
    for f in ["rpm_limit", "tpm_limit", "max_parallel_requests"] {
        if let Some(n) = integer(req, f)? {
            doc.insert(f.into(), json!(n));
        }
    }
    if let Some(m) = object(req, "model_max_budget")? {
        validate_model_max_budget(&m)?;
        doc.insert("model_max_budget".into(), Value::Object(m));
    }
    if with_budget_id {
        if let Some(b) = req.string("budget_id")? {
            if b.is_empty() {
                return Err(AdminError::bad("budget_id", "budget_id must not be empty"));
            }
            if c.get(Kind::Budget, &b).is_none() {
                return Err(AdminError::bad(
                    "budget_id",
                    format!("budget_id={b} does not exist. Create it with /budget/new first."),
                ));
            }
            doc.insert("budget_id".into(), json!(b));
        }
    }
    Ok(())
}

/// `{"model": 1.5}` or `{"model": {"budget_limit"|"max_budget": 1.5, "time_period"|
/// "budget_duration": "1d", "tpm_limit": n, "rpm_limit": n}}`.
fn validate_model_max_budget(m: &Map<String, Value>) -> Result<(), AdminError> {
    let bad = |model: &str, why: &str| {
        AdminError::bad(
            "model_max_budget",
            format!("model_max_budget[{model:?}]: {why}"),
        )
    };
    for (model, v) in m {
        match v {
            Value::Number(n) if n.as_f64().is_some_and(|n| n >= 0.0) => {}
            Value::Object(b) => {
                for (k, v) in b {
                    match k.as_str() {
                        "budget_limit" | "max_budget" | "tpm_limit" | "rpm_limit"
                            if !v.is_null() && !v.as_f64().is_some_and(|n| n >= 0.0) =>
                        {
                            return Err(bad(model, &format!("{k} must be a non-negative number")));
                        }
                        "time_period" | "budget_duration" => match v {
                            Value::Null => {}
                            Value::String(s) => {
                                period::parse(s).map_err(|e| bad(model, &format!("{k}: {e}")))?;
                            }
                            _ => {
                                return Err(bad(
                                    model,
                                    &format!("{k} must be a string such as \"1d\""),
                                ))
                            }
                        },
                        _ => {}
                    }
                }
            }
            _ => return Err(bad(
                model,
                "expected a non-negative amount or {\"budget_limit\": n, \"time_period\": \"1d\"}",
            )),
        }
    }
    Ok(())
}

/// When the entity's budget window ends, as RFC 3339 (null if it never resets).
fn reset_at(c: &Control, e: &Entity) -> Value {
    c.budget_reset_at(e)
        .map(|ms| json!(period::iso(ms)))
        .unwrap_or(Value::Null)
}

/// The `litellm_budget_table` of an organization or end user: its own limits over those of its
/// `budget_id`; null when it has neither.
pub(super) fn budget_table(c: &Control, e: &Entity) -> Value {
    let budget = e.budget_id.as_deref().and_then(|b| c.get(Kind::Budget, b));
    let own = LIMIT_FIELDS
        .iter()
        .any(|f| e.doc.get(*f).is_some_and(|v| !v.is_null()));
    if budget.is_none() && !own {
        return Value::Null;
    }
    let mut t = Map::new();
    t.insert("budget_id".into(), json!(e.budget_id));
    for f in LIMIT_FIELDS {
        let v = e
            .doc
            .get(f)
            .filter(|v| !v.is_null())
            .or_else(|| budget.as_ref().and_then(|b| b.doc.get(f)))
            .cloned()
            .unwrap_or(Value::Null);
        t.insert(f.into(), v);
    }
    t.insert("budget_reset_at".into(), reset_at(c, e));
    Value::Object(t)
}

/// A budget as LiteLLM returns a `LiteLLM_BudgetTable` row.
fn view(c: &Control, e: &Entity) -> Value {
    let mut out = Map::new();
    out.insert("budget_id".into(), json!(e.id));
    for f in LIMIT_FIELDS {
        out.insert(f.into(), e.doc.get(f).cloned().unwrap_or(Value::Null));
    }
    out.insert("budget_reset_at".into(), reset_at(c, e));
    for f in ["created_at", "created_by", "updated_at", "updated_by"] {
        out.insert(f.into(), e.doc.get(f).cloned().unwrap_or(Value::Null));
    }
    Value::Object(out)
}

/// `POST /budget/new`: `budget_id` (generated if absent) and the limit fields → the budget.
pub async fn new(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let id = match req.string("budget_id")? {
        Some(id) if !id.trim().is_empty() => id,
        Some(_) => return Err(AdminError::bad("budget_id", "budget_id must not be empty")),
        None => crate::ctx::new_call_id(),
    };
    let mut doc = Map::new();
    doc.insert("budget_id".into(), json!(id));
    read_limits(c, req, &mut doc, false)?;
    let now = now_iso();
    doc.insert("created_at".into(), json!(now));
    doc.insert("updated_at".into(), json!(now));
    doc.insert("created_by".into(), json!("litellm_proxy_admin"));
    doc.insert("updated_by".into(), json!("litellm_proxy_admin"));
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
    let mut doc = e.doc.clone();
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
    let id = match req.string("id")? {
        Some(id) if !id.is_empty() => id,
        _ => req
            .string("budget_id")?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AdminError::bad("id", "id is required: {\"id\": \"<budget_id>\"}"))?,
    };
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

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn model_max_budget_takes_litellm_forms_and_names_the_model_when_wrong() {
        assert!(validate_model_max_budget(&obj(json!({"gpt-4o": 1.5}))).is_ok());
        assert!(validate_model_max_budget(&obj(json!({
            "gpt-4o": {"budget_limit": 1, "time_period": "1d", "tpm_limit": 10},
            "mini": {"max_budget": 0.5, "budget_duration": "1mo"}
        })))
        .is_ok());
        for bad in [
            json!({"gpt-4o": -1}),
            json!({"gpt-4o": "1"}),
            json!({"gpt-4o": {"budget_limit": "x"}}),
            json!({"gpt-4o": {"time_period": "1y"}}),
            json!({"gpt-4o": {"time_period": 5}}),
        ] {
            let e = validate_model_max_budget(&obj(bad.clone())).unwrap_err().0;
            assert_eq!(e.param.as_deref(), Some("model_max_budget"), "{bad}");
            assert!(e.message.contains("gpt-4o"), "{}", e.message);
        }
    }
}
