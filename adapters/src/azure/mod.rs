//! Azure OpenAI: the OpenAI wire format under `/openai/deployments/{deployment}/…?api-version=`,
//! with the `api-key` header (or an Entra ID bearer token).

pub mod error;
pub mod request;
