//! The Gemini dialect (Google AI Studio `gemini/` and Vertex AI `vertex_ai/`): `contents`/`parts`,
//! `generateContent` and `streamGenerateContent?alt=sse`.

pub mod error;
pub mod rank;
pub mod request;
pub mod response;
pub mod stream;
pub mod wire;
