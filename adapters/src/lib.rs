//! Pure provider translation: the canonical (OpenAI-shaped) request and response types, and one
//! module per provider dialect converting to and from its wire format. No I/O, no async.

pub mod anthropic;
pub mod azure;
pub mod bedrock;
pub mod cohere;
pub mod dialect;
pub mod error;
pub mod files;
pub mod gemini;
pub mod images;
pub mod json_head;
pub mod mock;
pub mod ollama;
pub mod openai;
pub mod params;
pub mod passthrough;
pub mod provider;
pub mod request;
pub mod rerank;
pub mod responses;
pub mod sse;
pub mod target;
pub mod tokens;
pub mod translator;

pub use error::ApiError;
pub use request::{CanonicalRequest, Endpoint, RequestError};
