//! What the callbacks need from a request beyond its spend log row, captured while it runs and
//! only when some sink is on: the trace ids (an incoming W3C `traceparent` continues its
//! trace), the request's `metadata` names Langfuse reads (`generation_name`, `trace_id`,
//! `session_id`, `trace_name`, `tags`), and — only when a sink wants text — the prompt messages
//! and the completion text.

use serde_json::Value;

/// Per-request capture, in the context as `ctx.observe`.
#[derive(Debug, Default)]
pub struct Capture {
    pub trace_id: [u8; 16],
    /// The request's own span (the server span); the LLM call is `llm_span`.
    pub span_id: [u8; 8],
    pub llm_span_id: [u8; 8],
    /// The caller's span, from its `traceparent`.
    pub parent_span_id: Option<[u8; 8]>,
    pub generation_name: Option<String>,
    pub langfuse_trace_id: Option<String>,
    pub session_id: Option<String>,
    pub trace_name: Option<String>,
    pub trace_user_id: Option<String>,
    /// The prompt (`messages`, or `input` / `prompt`), when text is captured.
    pub messages: Option<Value>,
    /// The completion text, when text is captured.
    pub response: Option<String>,
    /// When the first bytes of the answer went out (Unix ms).
    pub first_byte_ms: Option<i64>,
    /// Whether prompt and completion text are captured.
    pub text: bool,
    /// The client's request parameters Langfuse shows (`temperature`, `max_tokens`, …).
    pub params: serde_json::Map<String, Value>,
}

impl Capture {
    /// The W3C `traceparent` of the LLM call, for the provider.
    pub fn upstream_traceparent(&self) -> String {
        format!("00-{}-{}-01", hex(&self.trace_id), hex(&self.llm_span_id))
    }
}

/// Builds the capture from the request's `traceparent` header and its body.
pub fn capture_from(
    traceparent: Option<&http::HeaderValue>,
    body: &serde_json::Map<String, Value>,
    text: bool,
) -> Capture {
    let (trace_id, parent) = traceparent
        .and_then(|v| v.to_str().ok())
        .and_then(parse_traceparent)
        .map(|(t, p)| (t, Some(p)))
        .unwrap_or_else(|| (rand::random::<[u8; 16]>(), None));
    let mut c = Capture {
        trace_id,
        span_id: rand::random(),
        llm_span_id: rand::random(),
        parent_span_id: parent,
        text,
        ..Capture::default()
    };
    if let Some(Value::Object(m)) = body.get("metadata") {
        let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        c.generation_name = s("generation_name");
        c.langfuse_trace_id = s("trace_id").or_else(|| s("existing_trace_id"));
        c.session_id = s("session_id");
        c.trace_name = s("trace_name");
        c.trace_user_id = s("trace_user_id");
    }
    for k in [
        "temperature",
        "max_tokens",
        "max_completion_tokens",
        "top_p",
        "stream",
        "n",
    ] {
        if let Some(v) = body.get(k) {
            c.params.insert(k.to_string(), v.clone());
        }
    }
    if text {
        c.messages = ["messages", "input", "prompt"]
            .iter()
            .find_map(|k| body.get(*k))
            .cloned();
    }
    c
}

/// `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`; all-zero ids are invalid.
pub fn parse_traceparent(v: &str) -> Option<([u8; 16], [u8; 8])> {
    let mut parts = v.trim().split('-');
    let version = parts.next()?;
    let trace = parts.next()?;
    let span = parts.next()?;
    let flags = parts.next()?;
    if version.len() != 2 || version == "ff" || flags.len() != 2 {
        return None;
    }
    let mut t = [0u8; 16];
    let mut s = [0u8; 8];
    unhex(trace, &mut t)?;
    unhex(span, &mut s)?;
    (t != [0; 16] && s != [0; 8]).then_some((t, s))
}

fn unhex(s: &str, out: &mut [u8]) -> Option<()> {
    if s.len() != out.len() * 2 {
        return None;
    }
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(())
}

pub fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

/// Only the text of a canonical answer: serde skips every other field without building it.
#[derive(serde::Deserialize)]
struct Answer {
    #[serde(default)]
    choices: Vec<Choice>,
}

#[derive(serde::Deserialize)]
struct Choice {
    message: Option<Message>,
    delta: Option<Message>,
    text: Option<String>,
}

#[derive(serde::Deserialize)]
struct Message {
    content: Option<String>,
}

impl Answer {
    fn text(self) -> Option<String> {
        let c = self.choices.into_iter().next()?;
        c.message.or(c.delta).and_then(|m| m.content).or(c.text)
    }
}

/// Adds a whole canonical (OpenAI) answer's text: `choices[0].message.content`.
pub fn note_whole(c: &mut Capture, body: &[u8]) {
    if !c.text {
        return;
    }
    if let Some(t) = serde_json::from_slice::<Answer>(body)
        .ok()
        .and_then(Answer::text)
    {
        c.response = Some(t);
    }
}

/// Adds the content deltas of canonical SSE events (`data: {…}` lines).
pub fn note_stream(c: &mut Capture, events: &[u8]) {
    if c.first_byte_ms.is_none() && !events.is_empty() {
        c.first_byte_ms = Some(crate::clock::now_ms_i64());
    }
    if !c.text {
        return;
    }
    for line in events.split(|b| *b == b'\n') {
        let Some(data) = line
            .strip_prefix(b"data: ")
            .or_else(|| line.strip_prefix(b"data:"))
        else {
            continue;
        };
        if let Some(t) = delta_content(data) {
            c.response.get_or_insert_with(String::new).push_str(&t);
        }
    }
}

/// The `"content"` string of a canonical chunk, read where it stands: the first `"content":`
/// key of a chunk is its delta's (a key inside a string would have escaped quotes, and
/// `reasoning_content` does not match), and only that string is decoded — not the whole event.
fn delta_content(data: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"content\":";
    let at = memchr::memmem::find(data, KEY)? + KEY.len();
    let rest = data[at..].trim_ascii_start();
    if !rest.starts_with(b"\"") {
        return None;
    }
    serde_json::Deserializer::from_slice(rest)
        .into_iter::<String>()
        .next()?
        .ok()
}

/// What a request refused before admission completed is known by (the caller's key, the model
/// asked for), kept while a failure callback is on (`callbacks::request_refused`).
#[derive(Default)]
pub struct Refusable {
    pub key: Option<std::sync::Arc<crate::control::Entity>>,
    pub group: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trip() {
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let (t, s) = parse_traceparent(tp).unwrap();
        assert_eq!(hex(&t), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(hex(&s), "b7ad6b7169203331");
        assert!(
            parse_traceparent("00-00000000000000000000000000000000-b7ad6b7169203331-01").is_none()
        );
        assert!(parse_traceparent("00-xyz-b7ad6b7169203331-01").is_none());
        let hv = http::HeaderValue::from_static(tp);
        let c = capture_from(Some(&hv), &serde_json::Map::new(), false);
        assert_eq!(c.trace_id, t);
        assert_eq!(c.parent_span_id, Some(s));
        assert!(c
            .upstream_traceparent()
            .starts_with("00-0af7651916cd43dd8448eb211c80319c-"));
    }

    #[test]
    fn whole_answer_text() {
        let mut c = Capture {
            text: true,
            ..Capture::default()
        };
        note_whole(
            &mut c,
            br#"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"hi there","tool_calls":null}}],"usage":{"prompt_tokens":1}}"#,
        );
        assert_eq!(c.response.as_deref(), Some("hi there"));
    }

    #[test]
    fn delta_content_is_read_where_it_stands() {
        let ev = br#"{"id":"c","choices":[{"index":0,"delta":{"reasoning_content":"x","content":"a \"q\" \u00e9"}}]}"#;
        assert_eq!(delta_content(ev).as_deref(), Some("a \"q\" é"));
        assert_eq!(
            delta_content(br#"{"choices":[{"delta":{"content":null}}]}"#),
            None
        );
        assert_eq!(
            delta_content(br#"{"choices":[{"delta":{"role":"assistant"}}]}"#),
            None
        );
    }

    #[test]
    fn stream_text_is_joined() {
        let mut c = Capture {
            text: true,
            ..Capture::default()
        };
        note_stream(
            &mut c,
            b"data: {\"choices\":[{\"delta\":{\"content\":\"he\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"llo\"}}]}\n\ndata: [DONE]\n\n",
        );
        assert_eq!(c.response.as_deref(), Some("hello"));
    }
}
