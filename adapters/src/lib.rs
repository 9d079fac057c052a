//! Pure provider translation: the canonical (OpenAI-shaped) request and response types, and one
//! module per provider dialect converting to and from its wire format. No I/O, no async.

pub mod provider;
