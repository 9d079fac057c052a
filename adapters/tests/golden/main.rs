//! Every adapter's golden fixtures (`tests/fixtures/<suite>/<case>/`) in one test binary,
//! `cargo test -p adapters --test golden` (one suite: `… --test golden -- gemini::`), over one
//! harness (`harness.rs`: read a case, run it, compare with the expected files, re-feed streams
//! split at every byte boundary). `TOLLGATE_BLESS=1` rewrites the expected files whose content
//! the current code no longer produces; review the diff.
//!
//! The provider adapters share one runner and one fixture format (`provider.rs`); the front
//! doors (`anthropic_front`, `responses`) and the Claude Code captures have their own files.

mod harness;
mod provider;

mod anthropic;
mod anthropic_front;
mod azure;
mod bedrock;
mod claude_code;
mod cohere;
mod gemini;
mod ollama;
mod responses;
