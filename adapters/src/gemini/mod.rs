//! The Gemini dialect (Google AI Studio `gemini/` and Vertex AI `vertex_ai/`): `contents`/`parts`,
//! `generateContent` and `streamGenerateContent?alt=sse`; Imagen's `:predict` for images.

pub mod error;
pub mod images;
pub mod rank;
pub mod request;
pub mod response;
pub mod stream;
pub mod wire;
