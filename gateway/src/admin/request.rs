//! One management request as its handler reads it — the path, the query (decoded; a repeated
//! parameter keeps every value) and the JSON body — and the typed readers of its fields, each
//! answering a missing or malformed field with a 400 naming it. Reading writes nothing: a
//! handler stores its documents only once every field has been read and checked.

use std::collections::HashMap;

use pingora::proxy::Session;
use serde_json::{json, Map, Value};

use super::documents::new_id;
use super::error::AdminError;
use super::validate::{
    amount_value, check, check_budget_ref, count_value, empty, flag_value, list_value,
    object_value, text_value, Ty, LIMITS,
};
use crate::control::Control;
use crate::runtime::Runtime;

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

/// The id a create route was given in `name` (kept as given), a fresh one when absent; blank is
/// a 400 (budgets, organizations).
pub(super) fn given_or_new_id(req: &Req, name: &str) -> Result<String, AdminError> {
    match req.string(name)? {
        Some(id) if !id.trim().is_empty() => Ok(id),
        Some(_) => Err(AdminError::bad(name, format!("{name} must not be empty"))),
        None => Ok(new_id()),
    }
}

/// Reads the listed body fields (in groups, e.g. an entity's own fields and [`LIMITS`]) into
/// `doc`: an absent field leaves the document as it is, an explicit `null` clears it, anything
/// else is checked against its type (400 naming the field). Nothing is written anywhere:
/// callers store `doc` only once every check has passed.
pub(super) fn read_fields(
    req: &Req,
    groups: &[&[(&str, Ty)]],
    doc: &mut Map<String, Value>,
) -> Result<(), AdminError> {
    for &(name, ty) in groups.iter().flat_map(|g| g.iter()) {
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

/// A non-negative whole number from the body or query.
pub(super) fn integer(req: &Req, name: &str) -> Result<Option<u64>, AdminError> {
    req.get(name).map(|v| count_value(name, &v)).transpose()
}

/// A finite, non-negative amount from the body or query (`spend`).
pub(super) fn amount(req: &Req, name: &str) -> Result<Option<f64>, AdminError> {
    req.get(name).map(|v| amount_value(name, &v)).transpose()
}

/// A JSON object field of the body (`metadata`, `model_max_budget`).
pub(super) fn object(req: &Req, name: &str) -> Result<Option<Map<String, Value>>, AdminError> {
    match req.body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => object_value(name, v).map(Some),
    }
}

/// Reads every budget field present in the request (body or query; `null` counts as absent)
/// into `doc`, validated; nothing is written anywhere until the caller stores the document.
/// (`model_max_budget` is enforced on keys only: these routes accept it only empty, see
/// `route_fields.rs`.)
/// `budget_id`, when given, must name an existing budget.
pub(super) fn read_limits(
    c: &Control,
    req: &Req,
    doc: &mut Map<String, Value>,
    with_budget_id: bool,
) -> Result<(), AdminError> {
    for &(name, ty) in LIMITS {
        if let Some(v) = req.get(name) {
            doc.insert(name.into(), check(name, ty, &v)?);
        }
    }
    if with_budget_id {
        if let Some(b) = req.string("budget_id")? {
            if b.is_empty() {
                return Err(AdminError::bad("budget_id", "budget_id must not be empty"));
            }
            doc.insert("budget_id".into(), json!(b));
            check_budget_ref(c, doc)?;
        }
    }
    Ok(())
}

/// A page number or size from the query (or body): a whole number in `1..=max`, `None` when
/// not given.
pub(super) fn page_param(req: &Req, name: &str, max: usize) -> Result<Option<usize>, AdminError> {
    let Some(n) = integer(req, name)? else {
        return Ok(None);
    };
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    if n >= 1 && n <= max {
        return Ok(Some(n));
    }
    Err(AdminError::bad(
        name,
        if max == usize::MAX {
            format!("{name} must be at least 1")
        } else {
            format!("{name} must be between 1 and {max}, got {n}")
        },
    ))
}

/// A date parameter as Unix ms: `YYYY-MM-DD` (UTC midnight) or RFC 3339. An `end` bound
/// includes the whole day of a bare date (and the instant itself of a timestamp), so the result
/// is the exclusive end.
pub(super) fn date_param(req: &Req, name: &str, end: bool) -> Result<Option<i64>, AdminError> {
    const DAY_MS: i64 = 86_400_000;
    let Some(s) = req.string(name)?.filter(|s| !s.trim().is_empty()) else {
        return Ok(None);
    };
    let ms = crate::control::period::parse_instant(&s).ok_or_else(|| {
        AdminError::bad(
            name,
            format!("{name} must be a date (YYYY-MM-DD) or an RFC 3339 time, got {s:?}"),
        )
    })?;
    let bare = s.trim().len() == 10;
    Ok(Some(match (end, bare) {
        (false, _) => ms,
        (true, true) => ms + DAY_MS,
        (true, false) => ms + 1,
    }))
}
