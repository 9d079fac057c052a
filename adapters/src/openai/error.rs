//! OpenAI-compatible provider errors → client errors: the reply is already OpenAI-shaped, so
//! its status, message, type, param and code are relayed.

pub use crate::error::from_openai_reply as from_reply;
