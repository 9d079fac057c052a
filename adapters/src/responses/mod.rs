//! The OpenAI Responses API (`/v1/responses`) front door, pure: reading a request and passing it
//! through to a deployment that speaks Responses natively (`front`), and bridging it to chat
//! completions for every other deployment (`request` on the way in; `response` and `stream` on
//! the way out).

pub mod front;
mod ids;
pub mod request;
mod request_params;
pub mod response;
pub mod stream;

pub use ids::new_id;
