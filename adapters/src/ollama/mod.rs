//! The Ollama dialect: `ollama_chat/` (`/api/chat`) and `ollama/` (`/api/generate`), NDJSON
//! streaming.

pub mod error;
pub mod request;
pub mod response;
pub mod stream;
pub mod wire;
