//! The OpenAI dialect, spoken by OpenAI and every OpenAI-compatible server (vLLM, Groq, …).
//! The canonical shape *is* this dialect, so translation is a model rename plus defaults.

pub mod error;
pub mod request;
pub mod rerank;
pub mod response;
pub mod stream;
pub mod wire;
