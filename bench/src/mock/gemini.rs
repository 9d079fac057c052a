//! Gemini (AI Studio `v1beta/models/{model}:…` and Vertex `…/publishers/google/models/{model}:…`):
//! `generateContent` (a GenerateContentResponse), `streamGenerateContent` (with `alt=sse`, SSE
//! `data: {chunk}\r\n\r\n` events; without it, a streamed JSON array, as Google does),
//! `batchEmbedContents`, `embedContent`, `countTokens`, and Imagen's `predict` (`images.rs`). Shapes follow the Gemini API
//! reference (GenerateContentResponse, Candidate, UsageMetadata, ContentEmbedding).

use std::time::Duration;

use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::body::{MockBody, Step};
use super::dialect::{self, query_param, Dialect, GeminiMethod};
use super::handler::{error, full, stream_response, Ctx};
use super::openai::tool_call_words;
use super::render::{self, embedding_vector};

/// Answers `models/{model}:{method}`.
pub(crate) fn respond(ctx: &Ctx, model: &str, method: GeminiMethod) -> Response<MockBody> {
    match method {
        GeminiMethod::Generate | GeminiMethod::StreamGenerate => {
            generate(ctx, model, method == GeminiMethod::StreamGenerate)
        }
        GeminiMethod::CountTokens => {
            let body = json!({"totalTokens": ctx.prompt_tokens});
            full(StatusCode::OK, Bytes::from(body.to_string()))
        }
        GeminiMethod::BatchEmbed | GeminiMethod::Embed => embed(ctx, method),
        GeminiMethod::Predict => super::images::imagen(ctx)
            .unwrap_or_else(|| invalid("Only Imagen instances ({\"prompt\"}) are served")),
    }
}

fn invalid(message: &str) -> Response<MockBody> {
    error(Dialect::Gemini, StatusCode::BAD_REQUEST, message)
}

/// GenerateContentResponse, fields in Google's order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GenerateResponse<'a> {
    candidates: [Candidate; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage_metadata: Option<UsageMetadata>,
    model_version: &'a str,
    response_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    content: Content,
    #[serde(skip_serializing_if = "Option::is_none")]
    finish_reason: Option<&'static str>,
    index: u32,
}

#[derive(Serialize)]
struct Content {
    parts: Value,
    role: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    prompt_token_count: u64,
    candidates_token_count: u64,
    total_token_count: u64,
}

/// One GenerateContentResponse: the candidate's `parts`, and on the last one `finishReason`
/// and `usageMetadata`.
fn response(parts: Value, last: Option<(u64, u64)>, model: &str, id: &str) -> String {
    let v = GenerateResponse {
        candidates: [Candidate {
            content: Content {
                parts,
                role: "model",
            },
            finish_reason: last.map(|_| "STOP"),
            index: 0,
        }],
        usage_metadata: last.map(|(prompt, completion)| UsageMetadata {
            prompt_token_count: prompt,
            candidates_token_count: completion,
            total_token_count: prompt + completion,
        }),
        model_version: model,
        response_id: id,
    };
    serde_json::to_string(&v).unwrap_or_default()
}

fn generate(ctx: &Ctx, model: &str, stream: bool) -> Response<MockBody> {
    if ctx.req.contents.is_none() {
        return invalid("* GenerateContentRequest.contents: contents is not specified");
    }
    let plan = ctx.plan;
    let id = format!("mock{}", ctx.seq());
    // Each streamed chunk's parts; a function call arrives whole, in one chunk.
    let (chunks, words): (Vec<Value>, u64) = match plan.tool_call {
        Some(tc) => match dialect::tool_args_object(tc) {
            Ok(args) => (
                vec![json!([{"functionCall": {"name": tc.name, "args": args}}])],
                tool_call_words(tc),
            ),
            Err(msg) => return invalid(&msg),
        },
        None => {
            let mut pieces = render::split_content(plan.content, plan.chunks);
            if pieces.is_empty() {
                pieces.push("");
            }
            let words = pieces
                .iter()
                .map(|p| p.split_whitespace().count() as u64)
                .sum();
            (pieces.iter().map(|p| json!([{"text": p}])).collect(), words)
        }
    };
    let usage = (ctx.prompt_tokens, ctx.completion_tokens(words));
    if !stream {
        let parts = match plan.tool_call {
            Some(_) => chunks[0].clone(),
            None => json!([{"text": plan.content}]),
        };
        let body = response(parts, Some(usage), model, &id);
        return full(StatusCode::OK, Bytes::from(body));
    }

    let sse = query_param(ctx.query, "alt") == Some("sse");
    let n = chunks.len();
    let mut steps: Vec<(Duration, Step)> = Vec::with_capacity(n + 2);
    for (i, parts) in chunks.into_iter().enumerate() {
        if plan.fail_after_chunks == Some(i) {
            steps.push((plan.chunk_interval, Step::Fail));
            return reply(steps, ctx, sse);
        }
        // With fail_after_chunks >= n the last chunk goes out without its finish, then the cut.
        let last = (i + 1 == n && plan.fail_after_chunks.is_none()).then_some(usage);
        let v = response(parts, last, model, &id);
        let framed = if sse {
            format!("data: {v}\r\n\r\n")
        } else if i == 0 {
            format!("[{v}")
        } else {
            format!(",\r\n{v}")
        };
        steps.push((plan.chunk_interval, Step::Data(Bytes::from(framed))));
    }
    if plan.fail_after_chunks.is_some() {
        steps.push((Duration::ZERO, Step::Fail));
    } else if !sse {
        steps.push((Duration::ZERO, Step::Data(Bytes::from_static(b"]"))));
    }
    reply(steps, ctx, sse)
}

fn reply(steps: Vec<(Duration, Step)>, ctx: &Ctx, sse: bool) -> Response<MockBody> {
    let content_type = if sse {
        "text/event-stream"
    } else {
        "application/json; charset=UTF-8"
    };
    stream_response(steps, ctx.shared, content_type)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmbedRequest {
    content: Option<EmbedContent>,
    output_dimensionality: Option<usize>,
}

#[derive(Deserialize)]
struct BatchEmbedRequest {
    requests: Option<Vec<EmbedRequest>>,
}

#[derive(Deserialize)]
struct EmbedContent {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
struct Part {
    text: Option<String>,
}

impl EmbedRequest {
    /// `{"values": [...]}` for this request's text (its parts' text, concatenated).
    fn embedding(&self, default_dims: usize) -> Option<Value> {
        let text: String = self
            .content
            .as_ref()?
            .parts
            .iter()
            .filter_map(|p| p.text.as_deref())
            .collect();
        let dims = self.output_dimensionality.unwrap_or(default_dims);
        Some(json!({"values": embedding_vector(&text, dims)}))
    }
}

fn embed(ctx: &Ctx, method: GeminiMethod) -> Response<MockBody> {
    let body = if method == GeminiMethod::BatchEmbed {
        let req: BatchEmbedRequest = match serde_json::from_slice(ctx.body) {
            Ok(r) => r,
            Err(e) => return invalid(&format!("Invalid JSON payload received. {e}")),
        };
        let requests = req.requests.unwrap_or_default();
        if requests.is_empty() {
            return invalid("* BatchEmbedContentsRequest.requests: requests is not specified");
        }
        let mut embeddings = Vec::with_capacity(requests.len());
        for (i, r) in requests.iter().enumerate() {
            match r.embedding(ctx.embedding_dims) {
                Some(e) => embeddings.push(e),
                None => {
                    return invalid(&format!(
                    "* BatchEmbedContentsRequest.requests[{i}].content: contents is not specified"
                ))
                }
            }
        }
        json!({"embeddings": embeddings})
    } else {
        let req: EmbedRequest = match serde_json::from_slice(ctx.body) {
            Ok(r) => r,
            Err(e) => return invalid(&format!("Invalid JSON payload received. {e}")),
        };
        match req.embedding(ctx.embedding_dims) {
            Some(e) => json!({"embedding": e}),
            None => return invalid("* EmbedContentRequest.content: content is not specified"),
        }
    };
    full(StatusCode::OK, Bytes::from(body.to_string()))
}
