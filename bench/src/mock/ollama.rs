//! Ollama's native API: `POST /api/chat` (`message`, `tool_calls` with object arguments),
//! `POST /api/generate` (`response`), both streamed as NDJSON unless `"stream": false` (the
//! default is to stream, as in Ollama), `POST /api/embed` and `GET /api/tags`. Shapes follow
//! Ollama's docs/api.md.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};

use super::body::{MockBody, Step};
use super::dialect::{self, Dialect, OllamaKind};
use super::handler::{error, full, stream_response, Ctx};
use super::openai::{inputs, push_content, tool_call_words};
use super::render::{self, embedding_vector};

/// Answers `/api/chat`, `/api/generate` or `/api/embed` (`/api/tags` is [`tags`]).
pub(crate) fn respond(ctx: &Ctx, kind: OllamaKind) -> Response<MockBody> {
    let Some(model) = ctx.req.model.as_deref() else {
        return error(
            Dialect::Ollama,
            StatusCode::BAD_REQUEST,
            "model is required",
        );
    };
    match kind {
        OllamaKind::Embed => embed(ctx, model),
        OllamaKind::Chat | OllamaKind::Generate | OllamaKind::Tags => {
            generate(ctx, model, kind == OllamaKind::Chat)
        }
    }
}

/// `GET /api/tags`: the configured models.
pub(crate) fn tags(models: &[String]) -> Bytes {
    #[derive(Serialize)]
    struct Tag<'a> {
        name: &'a str,
        model: &'a str,
        modified_at: &'a str,
        size: u64,
        digest: &'static str,
        details: Details,
    }
    #[derive(Serialize)]
    struct Details {
        format: &'static str,
        family: &'static str,
        parameter_size: &'static str,
        quantization_level: &'static str,
    }
    let now = rfc3339(SystemTime::now());
    let models: Vec<Tag> = models
        .iter()
        .map(|m| Tag {
            name: m,
            model: m,
            modified_at: &now,
            size: 0,
            digest: "0000000000000000000000000000000000000000000000000000000000000000",
            details: Details {
                format: "gguf",
                family: "mock",
                parameter_size: "0B",
                quantization_level: "F16",
            },
        })
        .collect();
    json_bytes(&json!({ "models": models }), false)
}

/// A ChatResponse or GenerateResponse (one NDJSON line or the whole body), fields in the order
/// Ollama's Go structs give them.
#[derive(Serialize)]
struct Line<'a> {
    model: &'a str,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a ChatMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<&'a str>,
    /// Chat puts `done_reason` before `done`, generate after.
    #[serde(rename = "done_reason", skip_serializing_if = "Option::is_none")]
    chat_done_reason: Option<&'static str>,
    done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    done_reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<[u32; 3]>,
    #[serde(flatten)]
    metrics: Option<Metrics>,
}

#[derive(Serialize)]
struct Metrics {
    total_duration: u64,
    load_duration: u64,
    prompt_eval_count: u64,
    prompt_eval_duration: u64,
    eval_count: u64,
    eval_duration: u64,
}

#[derive(Serialize)]
struct ChatMessage<'a> {
    role: &'static str,
    content: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCall<'a>; 1]>,
}

#[derive(Serialize)]
struct ToolCall<'a> {
    function: Function<'a>,
}

#[derive(Serialize)]
struct Function<'a> {
    name: &'a str,
    arguments: Value,
}

impl<'a> Line<'a> {
    fn new(
        model: &'a str,
        chat: bool,
        message: Option<&'a ChatMessage<'a>>,
        text: &'a str,
    ) -> Self {
        Line {
            model,
            created_at: rfc3339(SystemTime::now()),
            message,
            response: (!chat).then_some(text),
            chat_done_reason: None,
            done: false,
            done_reason: None,
            context: None,
            metrics: None,
        }
    }

    /// Marks this the last line: reason, (generate) context, timings and token counts.
    fn done(mut self, chat: bool, metrics: Metrics) -> Self {
        self.done = true;
        if chat {
            self.chat_done_reason = Some("stop");
        } else {
            self.done_reason = Some("stop");
            self.context = Some([1, 2, 3]);
        }
        self.metrics = Some(metrics);
        self
    }
}

fn json_bytes(v: &impl Serialize, newline: bool) -> Bytes {
    let mut out = serde_json::to_vec(v).unwrap_or_default();
    if newline {
        out.push(b'\n');
    }
    Bytes::from(out)
}

fn generate(ctx: &Ctx, model: &str, chat: bool) -> Response<MockBody> {
    let plan = ctx.plan;
    // A tool call arrives whole, in one line; /api/generate has no tools.
    let tool = match plan.tool_call.filter(|_| chat) {
        Some(tc) => match dialect::tool_args_object(tc) {
            Ok(arguments) => Some((tc, arguments)),
            Err(msg) => return error(Dialect::Ollama, StatusCode::BAD_REQUEST, &msg),
        },
        None => None,
    };
    let is_tool = tool.is_some();
    let message = |content, tool_calls| ChatMessage {
        role: "assistant",
        content,
        tool_calls,
    };
    // What each streamed line carries, and the whole answer.
    let (pieces, whole, words): (Vec<&str>, Option<ChatMessage>, u64) = match tool {
        Some((tc, arguments)) => {
            let call = ToolCall {
                function: Function {
                    name: &tc.name,
                    arguments,
                },
            };
            (
                vec![""],
                Some(message("", Some([call]))),
                tool_call_words(tc),
            )
        }
        None => {
            let pieces = render::split_content(plan.content, plan.chunks);
            let words = pieces
                .iter()
                .map(|p| p.split_whitespace().count() as u64)
                .sum();
            (pieces, chat.then(|| message(plan.content, None)), words)
        }
    };
    let elapsed = plan.chunk_interval * u32::try_from(pieces.len()).unwrap_or(u32::MAX);
    let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
    let metrics = Metrics {
        total_duration: ns + 2_000,
        load_duration: 1_000,
        prompt_eval_count: ctx.prompt_tokens,
        prompt_eval_duration: 1_000,
        eval_count: ctx.completion_tokens(words),
        eval_duration: ns,
    };

    if ctx.req.stream == Some(false) {
        let v = Line::new(model, chat, whole.as_ref(), plan.content).done(chat, metrics);
        return full(StatusCode::OK, json_bytes(&v, false));
    }

    let mut steps: Vec<(Duration, Step)> = Vec::with_capacity(pieces.len() + 1);
    let events = pieces.iter().map(|p| {
        let piece;
        let msg = if is_tool {
            whole.as_ref()
        } else if chat {
            piece = message(p, None);
            Some(&piece)
        } else {
            None
        };
        json_bytes(&Line::new(model, chat, msg, p), true)
    });
    if push_content(&mut steps, ctx, events) {
        return stream_response(steps, ctx.shared, "application/x-ndjson");
    }
    let empty = message("", None);
    let last = Line::new(model, chat, chat.then_some(&empty), "").done(chat, metrics);
    steps.push((Duration::ZERO, Step::Data(json_bytes(&last, true))));
    stream_response(steps, ctx.shared, "application/x-ndjson")
}

fn embed(ctx: &Ctx, model: &str) -> Response<MockBody> {
    let inputs = match inputs(ctx.req.input.as_ref()) {
        Ok(i) => i,
        Err(msg) => return error(Dialect::Ollama, StatusCode::BAD_REQUEST, msg),
    };
    let dims = ctx.req.dimensions.unwrap_or(ctx.embedding_dims);
    let embeddings: Vec<Vec<f32>> = inputs.iter().map(|i| embedding_vector(i, dims)).collect();
    #[derive(Serialize)]
    struct EmbedResponse<'a> {
        model: &'a str,
        embeddings: Vec<Vec<f32>>,
        total_duration: u64,
        load_duration: u64,
        prompt_eval_count: u64,
    }
    let body = EmbedResponse {
        model,
        embeddings,
        total_duration: 2_000,
        load_duration: 1_000,
        prompt_eval_count: ctx.prompt_tokens,
    };
    full(StatusCode::OK, json_bytes(&body, false))
}

/// `2024-05-01T12:34:56.123456789Z` (UTC), as Ollama writes `created_at`.
fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil from days (Howard Hinnant's algorithm), days since 1970-01-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3_600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_nanos()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(1_709_251_199, 5); // leap year, end of February
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59.000000005Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.000000000Z");
    }
}
