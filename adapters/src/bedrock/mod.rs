//! Amazon Bedrock: the Converse and ConverseStream APIs (AWS event-stream framing), and SigV4
//! request signing; `invoke` for Titan embeddings and the image models (`images.rs`).

pub mod error;
pub mod images;
pub mod request;
pub mod rerank;
pub mod response;
pub mod sign;
pub mod stream;
pub mod wire;
