//! The management API's error: a gateway error, or a 4xx/5xx in LiteLLM's wording (a field named
//! in `param`), answered OpenAI-shaped like every other error.

use adapters::ApiError;

use crate::error::GatewayError;

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
