//! Management API: reusable budgets (`/budget/*`, LiteLLM's `LiteLLM_BudgetTable`).
//!
//! A budget is a template: keys, teams, organizations and end users name it with `budget_id`
//! and take the limits their own document leaves unset; each of them keeps its own spend.

use serde_json::{json, Map, Value};

use super::documents::{doc_field, now_iso, stamp_new};
use super::error::AdminError;
use super::request::{given_or_new_id, read_limits, Req};
use super::responses::{limit_values, reset_at, LIMIT_FIELDS};
use crate::control::{Control, Entity, Kind};

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
