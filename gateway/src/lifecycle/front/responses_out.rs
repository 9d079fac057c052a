//! What one `/v1/responses` attempt writes back (`ctx.front` holds it): a passed-through
//! answer as the provider sent it, its usage read from the Responses object; a bridged answer
//! made from the canonical chat body or stream (`adapters::responses`). Either way the final
//! response is kept for storage.

use std::sync::Arc;

use adapters::openai::response::Usage;
use adapters::responses::front::{usage, NativeStream};
use adapters::responses::response::response_from_chat;
use adapters::responses::stream::StreamToResponses;
use adapters::ApiError;
use bytes::{Bytes, BytesMut};
use serde_json::{Map, Value};

use crate::stored::{Pending, ResponseBody, StoredResponses};

/// See the module doc.
#[derive(Default)]
pub struct Shape {
    /// The deployment speaks Responses: its bytes go to the client unchanged.
    pub native: bool,
    /// A bridged response's `resp_…` id and creation time (Unix s).
    pub id: String,
    pub created_at: u64,
    /// The request's settings a bridged response echoes.
    pub echo: Arc<Map<String, Value>>,
    /// The bridge's stream encoder, made with the first streamed bytes.
    pub encoder: Option<Box<StreamToResponses>>,
    /// Where and as whose the response is stored; `None` with `store: false`.
    pub keep: Option<Arc<Keep>>,
}

/// What storing a request's response takes besides the response (see `crate::stored`).
pub struct Keep {
    pub store: Arc<StoredResponses>,
    pub owner: String,
    pub created_at_ms: i64,
    /// The client's body.
    pub request: Bytes,
    /// The conversation it continued.
    pub history: Arc<Vec<Value>>,
}

/// The canonical usage of a Responses `usage` (input tokens include the cached ones).
pub fn usage_of(response: &Value) -> Option<Usage> {
    let (input, output, cached) = usage(response)?;
    Some(Usage {
        prompt_tokens: input,
        completion_tokens: output,
        total_tokens: input + output,
        cache_read_tokens: cached,
        ..Usage::default()
    })
}

/// A Responses object's `usage`, read without parsing the rest.
#[derive(serde::Deserialize)]
struct WithUsage {
    #[serde(default)]
    usage: Option<ResponsesUsage>,
}

#[derive(serde::Deserialize)]
struct ResponsesUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    input_tokens_details: Option<InputDetails>,
}

#[derive(serde::Deserialize)]
struct InputDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

impl From<ResponsesUsage> for Usage {
    fn from(u: ResponsesUsage) -> Usage {
        Usage {
            prompt_tokens: u.input_tokens,
            completion_tokens: u.output_tokens,
            total_tokens: u.input_tokens + u.output_tokens,
            cache_read_tokens: u
                .input_tokens_details
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
            ..Usage::default()
        }
    }
}

/// The canonical usage of a parsed `chat.completion`'s `usage` (cache reads and writes
/// included), without parsing the body again.
fn chat_usage(u: &Value) -> Option<Usage> {
    if !u.is_object() {
        return None;
    }
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    Some(Usage {
        prompt_tokens: n(&u["prompt_tokens"]),
        completion_tokens: n(&u["completion_tokens"]),
        total_tokens: n(&u["total_tokens"]),
        cache_read_tokens: n(&u["prompt_tokens_details"]["cached_tokens"]),
        cache_write_tokens: n(&u["cache_creation_input_tokens"]),
    })
}

impl Shape {
    /// A whole 2xx answer: the provider's Responses object (kept as it is, its usage read), or
    /// a canonical `chat.completion` made into a Responses object. Returns the client's body and
    /// the usage.
    pub fn whole(&mut self, body: Bytes) -> Result<(Bytes, Option<Usage>), ApiError> {
        let not_json = |e: serde_json::Error| {
            ApiError::new(
                502,
                "api_error",
                format!("The provider's response is not JSON: {e}"),
            )
            .with_code("502")
        };
        if self.native {
            // Only the usage is read (the rest is skipped unparsed); the body goes on as sent.
            let u = serde_json::from_slice::<WithUsage>(&body)
                .map_err(not_json)?
                .usage
                .map(Usage::from);
            return Ok((body, u));
        }
        let parsed: Value = serde_json::from_slice(&body).map_err(not_json)?;
        let u = chat_usage(&parsed["usage"]);
        let response = response_from_chat(&parsed, &self.echo, &self.id, self.created_at);
        let out = Bytes::from(serde_json::to_vec(&response).expect("JSON values serialize"));
        Ok((out, u))
    }

    /// Canonical SSE bytes → the bridged Responses events (the encoder made with the first
    /// bytes); `end` closes the stream. A broken canonical stream ends it as failed.
    #[inline(never)]
    pub fn encode(&mut self, canonical: &[u8], end: bool) -> Bytes {
        let (echo, id, created_at) = (&self.echo, &self.id, self.created_at);
        let enc = self
            .encoder
            .get_or_insert_with(|| Box::new(StreamToResponses::new(echo, id, created_at)));
        let mut out = BytesMut::with_capacity(canonical.len() * 3);
        if let Err(e) = enc.push(canonical, &mut out) {
            enc.fail(&e, &mut out);
        }
        if end {
            enc.finish(&mut out);
        }
        out.freeze()
    }

    /// Queues the complete response `id` for storage (once; nothing with `store: false`).
    /// Called before its last bytes go to the client, so that a client continuing the
    /// conversation at once finds it.
    pub fn store(&mut self, id: Option<&str>, response: ResponseBody) {
        let (Some(keep), Some(id)) = (self.keep.take(), id) else {
            return;
        };
        keep.store.put(Pending {
            id: id.to_string(),
            owner: keep.owner.clone(),
            created_at_ms: keep.created_at_ms,
            request: keep.request.clone(),
            history: keep.history.clone(),
            response,
        });
    }
}

/// A passed-through Responses stream: relayed unchanged, scanned for its final response (usage,
/// storage) and for an error the provider sends before anything else.
pub struct Passed {
    scan: NativeStream,
    noted: bool,
    errored: bool,
}

impl Passed {
    pub fn new() -> Passed {
        Passed {
            scan: NativeStream::new(),
            noted: false,
            errored: false,
        }
    }

    /// Feeds provider bytes (appended to `out` as they are). Returns the usage once the final
    /// response went by, and the provider's error event as an error (once). Never inlined into
    /// the relay's pipeline, whose chat arms it would otherwise slow down.
    #[inline(never)]
    pub fn push(&mut self, input: &[u8], out: &mut BytesMut) -> Result<Option<Usage>, ApiError> {
        out.extend_from_slice(input);
        self.scan.push(input);
        self.check()
    }

    /// The stream ended.
    #[inline(never)]
    pub fn finish(&mut self) -> Result<Option<Usage>, ApiError> {
        self.scan.finish();
        self.check()
    }

    fn check(&mut self) -> Result<Option<Usage>, ApiError> {
        if !self.errored {
            if let Some(e) = self.scan.error() {
                self.errored = true;
                let msg = e["message"]
                    .as_str()
                    .or_else(|| e["error"]["message"].as_str())
                    .unwrap_or("The provider's stream reported an error");
                let code = e["code"]
                    .as_str()
                    .or_else(|| e["error"]["code"].as_str())
                    .unwrap_or("");
                let status = if code.contains("rate_limit") {
                    429
                } else if code.contains("context_length") {
                    400
                } else {
                    503
                };
                return Err(ApiError::new(status, "api_error", msg).with_code(code));
            }
        }
        if self.noted {
            return Ok(None);
        }
        match self.scan.final_response() {
            Some(r) => {
                self.noted = true;
                Ok(usage_of(r))
            }
            None => Ok(None),
        }
    }

    /// The final response, once the stream carried it.
    pub fn take_final(&mut self) -> Option<Value> {
        self.scan.final_response().cloned()
    }

    /// Whether the bytes held before the stream starts hold more than the preamble
    /// (`response.created`, `response.in_progress`): an output item, the end, or an error.
    pub fn substance(held: &[u8]) -> bool {
        [
            &b"response.output_item"[..],
            b"response.completed",
            b"response.incomplete",
            b"response.failed",
            b"event: error",
        ]
        .iter()
        .any(|m| memchr::memmem::find(held, m).is_some())
    }
}
