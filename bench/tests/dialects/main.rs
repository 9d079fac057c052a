//! The mock's non-OpenAI dialects (and OpenAI tool calls) over real HTTP: shapes, event order,
//! NDJSON framing, auth-header checks, dialect-shaped errors, tool calls, injected failures.

mod anthropic;
mod azure;
mod common;
mod gemini;
mod ollama;
mod openai_tools;
