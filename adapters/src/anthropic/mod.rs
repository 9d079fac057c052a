//! The Anthropic Messages dialect: as a provider (canonical → Anthropic → canonical) and as the
//! `/v1/messages` front door (Anthropic → canonical → Anthropic, or passed through as sent).

pub mod error;
pub mod front;
pub mod front_response;
pub mod front_stream;
pub mod passthrough;
pub mod request;
pub mod response;
pub mod stream;
pub mod wire;
