//! The mock's non-OpenAI dialects (and OpenAI tool calls) over real HTTP: shapes, event order,
//! NDJSON and AWS event-stream framing, auth-header checks, dialect-shaped errors, tool calls,
//! injected failures, the Google OAuth token endpoint.

mod anthropic;
mod azure;
mod bedrock;
mod cohere;
mod common;
mod gemini;
mod google_oauth;
mod ollama;
mod openai_tools;
mod responses;
