//! OpenAI-shaped response bodies and SSE events (shapes from the published OpenAPI schema:
//! CreateChatCompletionResponse, CreateChatCompletionStreamResponse, CreateCompletionResponse,
//! CreateEmbeddingResponse, ListModelsResponse, ErrorResponse).

use bytes::Bytes;
use serde::Serialize;
use serde_json::{json, Value};

/// The final SSE event of every successful stream.
pub(crate) const DONE: &[u8] = b"data: [DONE]\n\n";

/// Identity of one response, shared by all of its chunks.
pub(crate) struct Meta<'a> {
    pub id: String,
    pub created: u64,
    pub model: &'a str,
}

fn to_bytes(v: &impl Serialize) -> Bytes {
    let mut out = Vec::with_capacity(512);
    // Serializing plain structs into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, v);
    Bytes::from(out)
}

/// `data: <json>\n\n`.
fn sse(v: &impl Serialize) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"data: ");
    let _ = serde_json::to_writer(&mut out, v);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

// Typed shapes: serializing these costs a fraction of building `serde_json::Value` maps, and the
// mock shares its core with wrk, so its cost caps what the harness can measure.

/// CompletionUsage.
#[derive(Clone, Copy, Serialize)]
pub(crate) struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
}

/// CompletionUsage for these counts.
pub(crate) fn usage(prompt: u64, completion: u64) -> Usage {
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
    }
}

#[derive(Serialize)]
struct Completion<'a, C> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: &'a [C],
    /// Absent (`None`), `null` (`Some(None)`, the `include_usage` convention for all chunks but
    /// the last) or filled.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Usage>>,
}

impl<'a, C> Completion<'a, C> {
    fn new(
        m: &'a Meta,
        object: &'static str,
        choices: &'a [C],
        usage: Option<Option<Usage>>,
    ) -> Self {
        Completion {
            id: &m.id,
            object,
            created: m.created,
            model: m.model,
            choices,
            usage,
        }
    }
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
    refusal: Option<&'a str>,
}

#[derive(Serialize)]
struct ChatChoice<M> {
    index: u32,
    message: M,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

/// ChatCompletionStreamResponseDelta: `{}`, `{"content": ..}` or `{"role": .., "content": ..}`.
#[derive(Serialize, Default)]
pub(crate) struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<&'a str>,
}

#[derive(Serialize)]
struct ChunkChoice<D> {
    index: u32,
    delta: D,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize)]
struct TextChoice<'a> {
    text: &'a str,
    index: u32,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

/// `None` when not asked for, `null` when asked for (all chunks but the usage chunk).
fn null_usage(with_usage: bool) -> Option<Option<Usage>> {
    with_usage.then_some(None)
}

/// CreateChatCompletionResponse with `choices` identical choices (OpenAI's `n`).
pub(crate) fn chat_completion(m: &Meta, content: &str, usage: Usage, choices: u32) -> Bytes {
    let choice = |index| ChatChoice {
        index,
        message: Message {
            role: "assistant",
            content,
            refusal: None,
        },
        logprobs: None,
        finish_reason: "stop",
    };
    if choices <= 1 {
        let one = [choice(0)];
        return to_bytes(&Completion::new(
            m,
            "chat.completion",
            &one,
            Some(Some(usage)),
        ));
    }
    let all: Vec<_> = (0..choices).map(choice).collect();
    to_bytes(&Completion::new(
        m,
        "chat.completion",
        &all,
        Some(Some(usage)),
    ))
}

/// One CreateChatCompletionStreamResponse event of choice `index` (a stream with `n` > 1 has one
/// per choice). `with_usage` adds `"usage": null`, as OpenAI does on every chunk but the last
/// when `stream_options.include_usage` is set.
pub(crate) fn chat_chunk(
    m: &Meta,
    index: u32,
    delta: Delta,
    finish: Option<&'static str>,
    with_usage: bool,
) -> Bytes {
    let choices = [ChunkChoice {
        index,
        delta,
        logprobs: None,
        finish_reason: finish,
    }];
    sse(&Completion::new(
        m,
        "chat.completion.chunk",
        &choices,
        null_usage(with_usage),
    ))
}

/// The trailing `include_usage` chunk: empty `choices`, filled `usage`.
pub(crate) fn chat_usage_chunk(m: &Meta, usage: Usage) -> Bytes {
    let choices: [ChunkChoice<Delta>; 0] = [];
    sse(&Completion::new(
        m,
        "chat.completion.chunk",
        &choices,
        Some(Some(usage)),
    ))
}

/// ChatCompletionMessageToolCall (and its streamed chunk form, with `index` and without `id`,
/// `type` and `name` after the first).
#[derive(Serialize)]
struct ToolCall<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: Function<'a>,
}

#[derive(Serialize)]
struct Function<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

/// An assistant message or delta carrying a tool call. `Some(None)` fields serialize as
/// `null`, `None` ones are left out.
#[derive(Serialize)]
struct ToolMessage<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<Option<&'a str>>,
    tool_calls: [ToolCall<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<Option<&'a str>>,
}

/// CreateChatCompletionResponse answering with one function tool call: `content: null`,
/// `tool_calls`, `finish_reason: "tool_calls"`.
pub(crate) fn chat_tool_completion(
    m: &Meta,
    call_id: &str,
    name: &str,
    arguments: &str,
    usage: Usage,
) -> Bytes {
    let choices = [ChatChoice {
        index: 0,
        message: ToolMessage {
            role: Some("assistant"),
            content: Some(None),
            tool_calls: [ToolCall {
                index: None,
                id: Some(call_id),
                kind: Some("function"),
                function: Function {
                    name: Some(name),
                    arguments,
                },
            }],
            refusal: Some(None),
        },
        logprobs: None,
        finish_reason: "tool_calls",
    }];
    to_bytes(&Completion::new(
        m,
        "chat.completion",
        &choices,
        Some(Some(usage)),
    ))
}

/// The first event of a streamed tool call, as OpenAI sends it: the role, `content: null` and
/// the call's index, id, type and name with empty `arguments`.
pub(crate) fn chat_tool_start_chunk(
    m: &Meta,
    call_id: &str,
    name: &str,
    with_usage: bool,
) -> Bytes {
    let delta = ToolMessage {
        role: Some("assistant"),
        content: Some(None),
        tool_calls: [ToolCall {
            index: Some(0),
            id: Some(call_id),
            kind: Some("function"),
            function: Function {
                name: Some(name),
                arguments: "",
            },
        }],
        refusal: Some(None),
    };
    chat_value_chunk(m, delta, None, with_usage)
}

/// One fragment of a streamed tool call's `arguments` (index only, no id or name).
pub(crate) fn chat_tool_args_chunk(m: &Meta, fragment: &str, with_usage: bool) -> Bytes {
    let delta = ToolMessage {
        role: None,
        content: None,
        tool_calls: [ToolCall {
            index: Some(0),
            id: None,
            kind: None,
            function: Function {
                name: None,
                arguments: fragment,
            },
        }],
        refusal: None,
    };
    chat_value_chunk(m, delta, None, with_usage)
}

/// A chat chunk with any delta (`{}` with `finish` for the last one).
pub(crate) fn chat_value_chunk(
    m: &Meta,
    delta: impl Serialize,
    finish: Option<&'static str>,
    with_usage: bool,
) -> Bytes {
    let choices = [ChunkChoice {
        index: 0,
        delta,
        logprobs: None,
        finish_reason: finish,
    }];
    sse(&Completion::new(
        m,
        "chat.completion.chunk",
        &choices,
        null_usage(with_usage),
    ))
}

/// CreateCompletionResponse (legacy `/completions`) with `choices` identical choices.
pub(crate) fn text_completion(m: &Meta, text: &str, usage: Usage, choices: u32) -> Bytes {
    let choice = |index| TextChoice {
        text,
        index,
        logprobs: None,
        finish_reason: Some("stop"),
    };
    if choices <= 1 {
        let one = [choice(0)];
        return to_bytes(&Completion::new(
            m,
            "text_completion",
            &one,
            Some(Some(usage)),
        ));
    }
    let all: Vec<_> = (0..choices).map(choice).collect();
    to_bytes(&Completion::new(
        m,
        "text_completion",
        &all,
        Some(Some(usage)),
    ))
}

/// One streamed legacy completion event of choice `index` (same object shape as the
/// non-streamed response).
pub(crate) fn text_chunk(
    m: &Meta,
    index: u32,
    text: &str,
    finish: Option<&'static str>,
    with_usage: bool,
) -> Bytes {
    let choices = [TextChoice {
        text,
        index,
        logprobs: None,
        finish_reason: finish,
    }];
    sse(&Completion::new(
        m,
        "text_completion",
        &choices,
        null_usage(with_usage),
    ))
}

/// The trailing `include_usage` event of a legacy completion stream.
pub(crate) fn text_usage_chunk(m: &Meta, usage: Usage) -> Bytes {
    let choices: [TextChoice; 0] = [];
    sse(&Completion::new(
        m,
        "text_completion",
        &choices,
        Some(Some(usage)),
    ))
}

/// CreateEmbeddingResponse: one deterministic unit vector per input, as floats or base64 of
/// little-endian f32 (`encoding_format: "base64"`, the default of the official Python SDK).
pub(crate) fn embeddings(
    model: &str,
    inputs: &[String],
    dims: usize,
    base64: bool,
    prompt_tokens: u64,
) -> Bytes {
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let v = embedding_vector(input, dims);
            let embedding = if base64 {
                let raw: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
                Value::String(base64_encode(&raw))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    to_bytes(&json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }))
}

/// ListModelsResponse.
pub(crate) fn models(ids: &[String], created: u64) -> Bytes {
    let data: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": created, "owned_by": "mock"}))
        .collect();
    to_bytes(&json!({"object": "list", "data": data}))
}

/// ErrorResponse: `{"error":{"message","type","param","code"}}`.
pub(crate) fn error_body(message: &str, kind: &str, code: Option<&str>) -> Bytes {
    to_bytes(&json!({
        "error": {"message": message, "type": kind, "param": null, "code": code},
    }))
}

/// Default `error.type` and `error.code` for a status, following what OpenAI returns.
pub(crate) fn error_kind(status: u16) -> (&'static str, Option<&'static str>) {
    match status {
        401 => ("invalid_request_error", Some("invalid_api_key")),
        403 => ("permission_error", Some("permission_denied")),
        404 => ("invalid_request_error", Some("model_not_found")),
        408 => ("timeout", Some("timeout")),
        413 => ("invalid_request_error", Some("request_too_large")),
        429 => ("requests", Some("rate_limit_exceeded")),
        400..=499 => ("invalid_request_error", None),
        _ => ("server_error", None),
    }
}

/// Deterministic unit vector for `input` (FNV-1a seed, xorshift stream).
pub fn embedding_vector(input: &str, dims: usize) -> Vec<f32> {
    let mut state = input.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    let mut v: Vec<f32> = (0..dims)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Top 24 bits → [-1, 1).
            ((state >> 40) as f32 / (1u64 << 23) as f32) - 1.0
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// Standard base64 with padding.
fn base64_encode(raw: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(raw.len().div_ceil(3) * 4);
    for chunk in raw.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Splits `content` into `n` pieces whose concatenation is `content`: by words (each keeps its
/// trailing whitespace) when there are at least `n` words, else by characters (pieces may be
/// empty when `content` has fewer than `n` characters). `n == 0` gives no pieces.
pub fn split_content(content: &str, n: usize) -> Vec<&str> {
    if n == 0 {
        return Vec::new();
    }
    // Unit start offsets: word starts (a non-space after a space), or char boundaries.
    let mut starts: Vec<usize> = Vec::new();
    let mut prev_space = true;
    for (i, c) in content.char_indices() {
        if !c.is_whitespace() && prev_space {
            starts.push(i);
        }
        prev_space = c.is_whitespace();
    }
    if starts.len() < n {
        starts = content.char_indices().map(|(i, _)| i).collect();
    }
    if starts.first().is_some_and(|&s| s != 0) {
        starts[0] = 0; // leading whitespace belongs to the first piece
    }
    let units = starts.len();
    let cut = |k: usize| -> usize {
        let u = k * units / n;
        if u >= units {
            content.len()
        } else {
            starts[u]
        }
    };
    (0..n).map(|k| &content[cut(k)..cut(k + 1)]).collect()
}

/// How many fragments a streamed tool call's arguments are split into (fewer when the text is
/// shorter; empty fragments are dropped).
pub(crate) const TOOL_ARG_FRAGMENTS: usize = 3;

/// The streamed fragments of a tool call's `arguments`: [`TOOL_ARG_FRAGMENTS`] non-empty pieces
/// whose concatenation is `arguments`.
pub(crate) fn tool_fragments(arguments: &str) -> Vec<&str> {
    split_content(arguments, TOOL_ARG_FRAGMENTS)
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_content_concatenates_back() {
        let text = "  Hello from the mock provider.  ";
        for n in 1..40 {
            let pieces = split_content(text, n);
            assert_eq!(pieces.len(), n);
            assert_eq!(pieces.concat(), text, "n={n}");
        }
        assert_eq!(
            split_content("a bb ccc", 3),
            vec!["a ", "bb ", "ccc"],
            "one word per piece"
        );
        assert_eq!(split_content("ab", 3).concat(), "ab");
        assert_eq!(split_content("héllo wörld", 7).concat(), "héllo wörld");
        assert!(split_content("x", 0).is_empty());
    }

    #[test]
    fn base64_matches_reference() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn embedding_is_deterministic_unit_vector() {
        let a = embedding_vector("hello", 16);
        assert_eq!(a, embedding_vector("hello", 16));
        assert_ne!(a, embedding_vector("world", 16));
        let norm: f32 = a.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    }
}
