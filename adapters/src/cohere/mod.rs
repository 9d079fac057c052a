//! The Cohere v2 dialect: `/v2/chat` (with SSE streaming) and `/v2/embed`.

pub mod error;
pub mod request;
pub mod rerank;
pub mod response;
pub mod stream;
pub mod wire;
