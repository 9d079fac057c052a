//! What every management handler shares: the parsed request (method, path, query, JSON body),
//! typed field readers that answer bad input with a 400 naming the field, admin errors, and the
//! JSON reply.

use std::collections::HashMap;

use adapters::ApiError;
use bytes::Bytes;
use pingora::proxy::Session;
use serde_json::{Map, Value};

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
    pub method: String,
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
        let method = h.method.as_str().to_string();
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
            method,
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
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(AdminError::bad(
                name,
                format!("{name} must be a string, got {other}"),
            )),
        }
    }

    pub fn required_string(&self, name: &str) -> Result<String, AdminError> {
        self.string(name)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AdminError::bad(name, format!("{name} is required")))
    }

    /// A list of strings (JSON array in the body; comma-separated or repeated in the query).
    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, AdminError> {
        if let Some(v) = self.body.get(name).filter(|v| !v.is_null()) {
            return match v {
                Value::Array(items) => items
                    .iter()
                    .map(|i| {
                        i.as_str().map(str::to_string).ok_or_else(|| {
                            AdminError::bad(name, format!("{name} must be a list of strings"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some),
                _ => Err(AdminError::bad(
                    name,
                    format!("{name} must be a list of strings"),
                )),
            };
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

    /// A non-negative number (USD amounts, limits), or a 400 naming it.
    pub fn number(&self, name: &str) -> Result<Option<f64>, AdminError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .filter(|n| *n >= 0.0)
                .map(Some)
                .ok_or_else(|| AdminError::bad(name, format!("{name} must not be negative"))),
            Some(Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|n| *n >= 0.0)
                .map(Some)
                .ok_or_else(|| {
                    AdminError::bad(name, format!("{name} must be a non-negative number"))
                }),
            Some(other) => Err(AdminError::bad(
                name,
                format!("{name} must be a number, got {other}"),
            )),
        }
    }

    /// A boolean field (`true`/`false`, also as query text).
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, AdminError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(Value::String(s)) if s == "true" => Ok(Some(true)),
            Some(Value::String(s)) if s == "false" => Ok(Some(false)),
            Some(other) => Err(AdminError::bad(
                name,
                format!("{name} must be true or false, got {other}"),
            )),
        }
    }
}

/// Writes a JSON reply.
pub async fn reply(session: &mut Session, status: u16, body: &Value) -> pingora::Result<()> {
    let bytes = Bytes::from(serde_json::to_vec(body).expect("serializing JSON values cannot fail"));
    respond(session, status, "application/json", bytes, "", &[]).await
}
