//! OpenAI-compatible non-streaming responses: relayed unchanged; this reads the usage block
//! for accounting.

use serde::Deserialize;

/// Token counts from a response's `usage` block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    /// Prompt tokens served from the provider's prompt cache (OpenAI
    /// `prompt_tokens_details.cached_tokens`, Anthropic `cache_read_input_tokens`). Part of
    /// `prompt_tokens`.
    #[serde(skip)]
    pub cache_read_tokens: u64,
    /// Prompt tokens written to the provider's prompt cache (Anthropic
    /// `cache_creation_input_tokens`). Part of `prompt_tokens`.
    #[serde(skip)]
    pub cache_write_tokens: u64,
}

#[derive(Deserialize)]
struct WithUsage {
    #[serde(default)]
    usage: Option<UsageWire>,
}

/// OpenAI's `usage` as sent, cache fields included (`prompt_tokens_details.cached_tokens`;
/// `cache_creation_input_tokens` as the gateway's canonical output carries it).
#[derive(Deserialize)]
pub(crate) struct UsageWire {
    /// `input_tokens` in an image response (gpt-image-1).
    #[serde(default, alias = "input_tokens")]
    prompt_tokens: u64,
    #[serde(default, alias = "output_tokens")]
    completion_tokens: u64,
    #[serde(default)]
    total_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

impl From<UsageWire> for Usage {
    fn from(w: UsageWire) -> Usage {
        Usage {
            prompt_tokens: w.prompt_tokens,
            completion_tokens: w.completion_tokens,
            total_tokens: w.total_tokens,
            cache_read_tokens: w
                .prompt_tokens_details
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
            cache_write_tokens: w.cache_creation_input_tokens.unwrap_or(0),
        }
    }
}

/// The `usage` of a chat/completions/embeddings response body, if present. Ignores every other
/// field, so it is cheap relative to a full parse.
pub fn usage_of(body: &[u8]) -> Option<Usage> {
    serde_json::from_slice::<WithUsage>(body)
        .ok()?
        .usage
        .map(Usage::from)
}

#[derive(Deserialize)]
struct Images {
    #[serde(default)]
    data: Vec<serde::de::IgnoredAny>,
}

/// The images an image response (`/images/generations`, `/images/edits`) carries: the length
/// of its `data` (each item skipped, not kept); 0 when the body is not such a response.
pub fn images_of(body: &[u8]) -> u64 {
    serde_json::from_slice::<Images>(body).map_or(0, |r| r.data.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_images_and_reads_image_usage() {
        let body = br#"{"created":1,"data":[{"url":"u"},{"b64_json":"aGk="}],"usage":{"input_tokens":7,"output_tokens":272,"total_tokens":279}}"#;
        assert_eq!(images_of(body), 2);
        let u = usage_of(body).unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (7, 272));
        assert_eq!(images_of(b"{\"error\":{}}"), 0);
    }

    #[test]
    fn reads_usage_and_ignores_the_rest() {
        let body = br#"{"id":"x","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#;
        assert_eq!(
            usage_of(body),
            Some(Usage {
                prompt_tokens: 3,
                completion_tokens: 2,
                total_tokens: 5,
                ..Usage::default()
            })
        );
        assert_eq!(usage_of(br#"{"id":"x"}"#), None);
        let cached = usage_of(br#"{"usage":{"prompt_tokens":10,"completion_tokens":1,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":8}}}"#).unwrap();
        assert_eq!(cached.cache_read_tokens, 8);
        assert_eq!(usage_of(b"not json"), None);
    }
}
