//! Field value validation, one set of checks for every management route: the value validators
//! (text, amounts, whole numbers, durations, lists, flags, objects) that answer bad input with a
//! 400 naming the field, the typed field tables' types (`Ty`) and the limit fields every limited
//! entity takes, and references to other entities (a `team_id`, `budget_id` … that must exist).

use serde_json::{json, Map, Value};

use super::documents::doc_str;
use super::error::AdminError;
use crate::control::{period, Control, Kind};

/// The value type of a document field, and how a request value is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
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
pub(crate) const ROLES: &[&str] = &[
    "proxy_admin",
    "proxy_admin_viewer",
    "internal_user",
    "internal_user_viewer",
];

/// The budget and rate limit fields every limited entity (key, user, team, organization, end
/// user, budget) takes, in LiteLLM's names; enforcement reads them.
pub(super) const LIMITS: &[(&str, Ty)] = &[
    ("max_budget", Ty::Money),
    ("soft_budget", Ty::Money),
    ("budget_duration", Ty::Duration),
    ("rpm_limit", Ty::Count),
    ("tpm_limit", Ty::Count),
    ("max_parallel_requests", Ty::Count),
];

/// Keys, teams and users also take a token budget: prompt + completion tokens per
/// `budget_duration` (Tollgate's; LiteLLM has none).
pub(super) const TOKEN_LIMITS: &[(&str, Ty)] = &[("max_token_budget", Ty::Count)];

/// Sets every [`LIMITS`] field of a new document to null (no limit).
pub(super) fn unset_limits(doc: &mut Map<String, Value>) {
    for &(name, _) in LIMITS {
        doc.insert(name.into(), Value::Null);
    }
}

/// A string.
pub(super) fn text_value(name: &str, v: &Value) -> Result<String, AdminError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        _ => Err(AdminError::bad(
            name,
            format!("{name} must be a string, got {v}"),
        )),
    }
}

/// A number, or a string holding one.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
}

/// A finite, non-negative amount (`max_budget`, `soft_budget`, `spend`).
pub(super) fn amount_value(name: &str, v: &Value) -> Result<f64, AdminError> {
    match number(v) {
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

/// A non-negative whole number (`rpm_limit`, `tpm_limit`, `max_parallel_requests`, pages).
pub(super) fn count_value(name: &str, v: &Value) -> Result<u64, AdminError> {
    match number(v) {
        Some(n) if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= u64::MAX as f64 => {
            Ok(n as u64)
        }
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

/// A `budget_duration`, trimmed.
pub(super) fn duration_value(name: &str, v: &Value) -> Result<String, AdminError> {
    let s = v.as_str().ok_or_else(|| {
        AdminError::bad(
            name,
            format!("{name} must be a string such as \"30d\", got {v}"),
        )
    })?;
    period::parse(s).map_err(|e| AdminError::bad(name, format!("{name}: {e}")))?;
    Ok(s.trim().to_string())
}

/// A JSON array of strings.
pub(super) fn list_value(name: &str, v: &Value) -> Result<Vec<String>, AdminError> {
    match v {
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect()),
        _ => Err(AdminError::bad(
            name,
            format!("{name} must be a list of strings, got {v}"),
        )),
    }
}

/// `true` / `false` (also as text, from a query string).
pub(super) fn flag_value(name: &str, v: &Value) -> Result<bool, AdminError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
        _ => Err(AdminError::bad(
            name,
            format!("{name} must be true or false, got {v}"),
        )),
    }
}

/// Any JSON object.
pub(super) fn object_value(name: &str, v: &Value) -> Result<Map<String, Value>, AdminError> {
    match v {
        Value::Object(m) => Ok(m.clone()),
        _ => Err(AdminError::bad(
            name,
            format!("{name} must be a JSON object, got {v}"),
        )),
    }
}

/// What an explicit `null` sets a field to.
pub(super) fn empty(ty: Ty) -> Value {
    match ty {
        Ty::List => json!([]),
        Ty::Object | Ty::Aliases | Ty::ModelBudget | Ty::ModelCount => json!({}),
        Ty::Flag => json!(false),
        _ => Value::Null,
    }
}

/// An object keyed by model name (`model_max_budget`, `model_rpm_limit`).
fn by_model<'a>(name: &str, v: &'a Value) -> Result<&'a Map<String, Value>, AdminError> {
    v.as_object().ok_or_else(|| {
        AdminError::bad(
            name,
            format!("{name} must be an object keyed by model name, got {v}"),
        )
    })
}

/// Checks one request value against its type and returns what is stored.
pub(super) fn check(name: &str, ty: Ty, v: &Value) -> Result<Value, AdminError> {
    Ok(match ty {
        Ty::Text => Value::String(text_value(name, v)?),
        Ty::Duration => Value::String(duration_value(name, v)?),
        Ty::Money => json!(amount_value(name, v)?),
        Ty::Count => json!(count_value(name, v)?),
        Ty::List => json!(list_value(name, v)?),
        Ty::Flag => Value::Bool(flag_value(name, v)?),
        Ty::Object => Value::Object(object_value(name, v)?),
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
            let mut out = Map::new();
            for (model, b) in by_model(name, v)? {
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
                        s.insert("budget_limit".into(), json!(amount_value(&field, limit)?));
                        if let Some(p) = o
                            .get("time_period")
                            .or_else(|| o.get("budget_duration"))
                            .filter(|x| !x.is_null())
                        {
                            let p = duration_value(&field, p)?;
                            s.insert("time_period".into(), Value::String(p));
                        }
                        Value::Object(s)
                    }
                    other => json!(amount_value(&field, other)?),
                };
                out.insert(model.clone(), stored);
            }
            Value::Object(out)
        }
        Ty::ModelCount => {
            let mut out = Map::new();
            for (model, n) in by_model(name, v)? {
                out.insert(
                    model.clone(),
                    json!(count_value(&format!("{name}.{model}"), n)?),
                );
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

/// A reference field of `doc` (`team_id`, `organization_id`, `budget_id`), when set, must name
/// an existing entity of `kind`, created with `route`.
pub(super) fn check_ref(
    c: &Control,
    doc: &Map<String, Value>,
    param: &str,
    kind: Kind,
    route: &str,
) -> Result<(), AdminError> {
    if let Some(id) = doc_str(doc, param) {
        if c.get(kind, id).is_none() {
            return Err(AdminError::bad(
                param,
                format!("{param}={id} does not exist; create it with {route} first"),
            ));
        }
    }
    Ok(())
}

/// A `budget_id` given must name an existing budget.
pub(super) fn check_budget_ref(c: &Control, doc: &Map<String, Value>) -> Result<(), AdminError> {
    check_ref(c, doc, "budget_id", Kind::Budget, "/budget/new")
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn amounts_and_counts_refuse_what_is_not_finite_or_whole() {
        assert_eq!(amount_value("spend", &json!("2.5")).unwrap(), 2.5);
        assert!(amount_value("spend", &json!("inf")).is_err());
        assert!(amount_value("spend", &json!(true)).is_err());
        assert!(count_value("rpm_limit", &json!(-1)).is_err());
        assert!(count_value("rpm_limit", &json!(1e30)).is_err());
    }
}
