//! The Anthropic Messages dialect: as a provider (canonical → Anthropic → canonical) and as the
//! `/v1/messages` front door (Anthropic → canonical → Anthropic).

pub mod error;
pub mod front;
pub mod front_response;
pub mod front_stream;
pub mod request;
pub mod response;
pub mod stream;
pub mod wire;
