//! Request parameters as the adapters read them: the client's value, else the deployment's
//! default (`null` counts as absent); and the `drop_params` rule for a parameter a provider
//! cannot take.

use serde_json::{Number, Value};

use crate::dialect::Target;
use crate::error::ApiError;
use crate::request::CanonicalRequest;

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
