//! Request parameters as the adapters read them: the client's value, else the deployment's
//! default (`null` counts as absent); and the `drop_params` rule for a parameter a provider
//! cannot take.

use serde_json::{Map, Number, Value};

use crate::error::ApiError;
use crate::request::CanonicalRequest;
use crate::target::Target;

/// The request and the deployment, for reading parameters.
#[derive(Clone, Copy)]
pub struct Params<'a> {
    pub req: &'a CanonicalRequest,
    pub t: &'a Target<'a>,
}

impl<'a> Params<'a> {
    pub fn new(req: &'a CanonicalRequest, t: &'a Target<'a>) -> Self {
        Params { req, t }
    }

    /// Client value, else the deployment default; `null` counts as absent.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        let present = |v: &&Value| !v.is_null();
        self.req
            .body
            .get(key)
            .filter(present)
            .or_else(|| self.t.defaults.get(key).filter(present))
    }

    /// A numeric parameter, or a 400 naming it.
    pub fn number(&self, key: &'static str) -> Result<Option<Number>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(Some(n.clone())),
            Some(_) => Err(invalid(key, format!("Invalid '{key}': expected a number"))),
        }
    }

    /// The drop_params rule for `what` (the parameter `key`): nothing when the deployment drops
    /// parameters, else a 400 naming the parameter and the provider.
    pub fn unsupported(&self, key: &str, what: &str) -> Result<(), ApiError> {
        if self.t.drop_params {
            return Ok(());
        }
        Err(ApiError::new(
            400,
            "invalid_request_error",
            format!(
                "{} does not support {what}. Set drop_params: true on the deployment to drop it.",
                self.t.provider.prefix()
            ),
        )
        .with_param(key)
        .with_code("unsupported_parameter"))
    }
}

/// A 400 `invalid_request_error` naming `param`.
pub fn invalid(param: &str, message: String) -> ApiError {
    ApiError::new(400, "invalid_request_error", message).with_param(param)
}

/// The client's body with the deployment's defaults under it (client values win; nulls count
/// as unset), for adapters that walk every parameter.
pub struct Merged<'a> {
    entries: Vec<(&'a str, &'a Value)>,
}

impl<'a> Merged<'a> {
    pub fn new(body: &'a Map<String, Value>, defaults: &'a Map<String, Value>) -> Self {
        let mut entries: Vec<(&str, &Value)> = body
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        for (k, v) in defaults {
            if !v.is_null() && !entries.iter().any(|(bk, _)| *bk == k) {
                entries.push((k.as_str(), v));
            }
        }
        Merged { entries }
    }

    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    /// Every (name, value), client values first.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a Value)> + '_ {
        self.entries.iter().copied()
    }
}

/// A 400 `invalid_request_error` naming `param` (message first).
pub fn bad_request(message: impl Into<String>, param: &str) -> ApiError {
    ApiError::new(400, "invalid_request_error", message).with_param(param)
}

/// The drop_params rule for the parameter `param`: nothing when the deployment drops
/// parameters, else a 400 naming it and the provider.
pub fn unsupported(t: &Target<'_>, param: &str) -> Result<(), ApiError> {
    if t.drop_params {
        return Ok(());
    }
    Err(bad_request(
        format!(
            "{} does not support the '{param}' parameter; remove it or set drop_params: true to drop it",
            t.provider.prefix()
        ),
        param,
    )
    .with_code("unsupported_parameter"))
}

/// A value a client sends to mean "off" (`logprobs: false`, `logit_bias: {}`).
pub fn is_off(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::Object(o) => o.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}
