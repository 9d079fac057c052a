//! OpenAI-compatible SSE streams: events are relayed unchanged; this classifies each event
//! (data chunk, `[DONE]`, error, usage) for the gateway's bookkeeping.

use super::response::Usage;
use crate::sse::event_data;
use serde::Deserialize;

/// What one SSE event from an OpenAI-compatible stream carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// A `chat.completion.chunk` / `text_completion` chunk, with its usage if it has one.
    Chunk { usage: Option<Usage> },
    /// `data: [DONE]`.
    Done,
    /// `data: {"error": …}`: the provider failed inside the stream.
    Error,
    /// A comment, keep-alive or event without data.
    Other,
}

#[derive(Deserialize)]
struct ChunkProbe {
    #[serde(default)]
    usage: Option<super::response::UsageWire>,
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct ChoicesProbe {
    #[serde(default)]
    choices: Vec<serde::de::IgnoredAny>,
}

/// Whether a chunk carries nothing but usage (`"choices": []`) — the chunk
/// `stream_options.include_usage` adds, which the gateway drops when it asked for usage on the
/// client's behalf.
pub fn usage_only(event: &[u8]) -> bool {
    event_data(event)
        .and_then(|d| serde_json::from_slice::<ChoicesProbe>(d.trim_ascii()).ok())
        .is_some_and(|p| p.choices.is_empty())
}

/// Classifies one complete SSE event. Most chunks carry neither `usage` nor `error`; those are
/// recognised by a byte search without parsing the JSON.
pub fn classify(event: &[u8]) -> StreamEvent {
    let Some(data) = event_data(event) else {
        return StreamEvent::Other;
    };
    let data = data.trim_ascii();
    if data == b"[DONE]" {
        return StreamEvent::Done;
    }
    if !data.starts_with(b"{") {
        return StreamEvent::Other;
    }
    // With `include_usage`, every chunk carries `"usage":null`: that is no usage.
    let may_have_usage = memchr::memmem::find_iter(data, b"\"usage\"")
        .any(|at| !data[at + 7..].starts_with(b":null"));
    let may_have_error = memchr::memmem::find(data, b"\"error\"").is_some();
    if !may_have_usage && !may_have_error {
        return StreamEvent::Chunk { usage: None };
    }
    match serde_json::from_slice::<ChunkProbe>(data) {
        Ok(p) if p.error.is_some() => StreamEvent::Error,
        Ok(p) => StreamEvent::Chunk {
            usage: p.usage.map(Usage::from),
        },
        Err(_) => StreamEvent::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_events() {
        assert_eq!(classify(b"data: [DONE]\n\n"), StreamEvent::Done);
        assert_eq!(classify(b": ping\n\n"), StreamEvent::Other);
        assert_eq!(
            classify(b"data: {\"choices\":[]}\n\n"),
            StreamEvent::Chunk { usage: None }
        );
        assert_eq!(
            classify(b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}\n\n"),
            StreamEvent::Chunk { usage: Some(Usage { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3, ..Usage::default() }) }
        );
        assert_eq!(
            classify(b"data: {\"error\":{\"message\":\"overloaded\"}}\n\n"),
            StreamEvent::Error
        );
        assert_eq!(
            classify(b"data: {\"choices\":[{\"delta\":{}}],\"usage\":null}\n\n"),
            StreamEvent::Chunk { usage: None }
        );
        assert!(usage_only(b"data: {\"choices\":[],\"usage\":{}}\n\n"));
        assert!(!usage_only(
            b"data: {\"choices\":[{\"delta\":{}}],\"usage\":{}}\n\n"
        ));
    }
}
