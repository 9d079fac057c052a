//! Ollama NDJSON stream → canonical OpenAI SSE: one JSON object per line (split anywhere across
//! pushes), each turned into `chat.completion.chunk` (or `text_completion`) events; the final
//! `done:true` line gives the finish reason and usage.

use bytes::BytesMut;
use serde_json::json;

use super::error::from_message;
use super::response::{tool_call, usage_of};
use super::wire::{error_text, Reply};
use crate::error::ApiError;
use crate::openai::response::Usage;
use crate::openai::wire::{chunk_event, sse, usage_event, usage_json, ResponseMeta, DONE_EVENT};
use crate::request::{CanonicalRequest, Endpoint};
use crate::target::Target;
use crate::translator::ToOpenAiStream;

/// Splits a byte stream into lines; a line split across pushes is joined.
#[derive(Debug, Default)]
struct LineSplitter {
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned without finding `\n`.
    scanned: usize,
}

impl LineSplitter {
    fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete line, without its `\n` (or `\r\n`).
    fn next_line(&mut self) -> Option<Vec<u8>> {
        match memchr::memchr(b'\n', &self.buf[self.scanned..]) {
            Some(i) => {
                let end = self.scanned + i;
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.scanned = 0;
                Some(line)
            }
            None => {
                self.scanned = self.buf.len();
                None
            }
        }
    }

    /// A last line the stream ended without terminating.
    fn take_remainder(&mut self) -> Option<Vec<u8>> {
        self.scanned = 0;
        let rest = std::mem::take(&mut self.buf);
        (!rest.is_empty()).then_some(rest)
    }
}

/// Translates one Ollama NDJSON stream (`/api/chat` or `/api/generate`).
pub struct Translator {
    id: String,
    created: u64,
    model: String,
    /// `/v1/completions`: emit `text_completion` chunks instead of chat chunks.
    completions: bool,
    include_usage: bool,
    lines: LineSplitter,
    role_sent: bool,
    tool_calls: usize,
    finished: bool,
    closed: bool,
    usage: Option<Usage>,
}

impl Translator {
    pub fn new(req: &CanonicalRequest, t: &Target<'_>, meta: ResponseMeta<'_>) -> Translator {
        let _ = t;
        Translator {
            id: meta.id.to_string(),
            created: meta.created,
            model: meta.model.to_string(),
            completions: req.endpoint == Endpoint::Completions,
            include_usage: req.include_usage,
            lines: LineSplitter::default(),
            role_sent: false,
            tool_calls: 0,
            finished: false,
            closed: false,
            usage: None,
        }
    }

    fn meta(&self) -> ResponseMeta<'_> {
        ResponseMeta {
            id: &self.id,
            created: self.created,
            model: &self.model,
        }
    }

    /// A `text_completion` stream chunk.
    fn text_event(&self, text: &str, finish_reason: Option<&str>) -> Vec<u8> {
        sse(&json!({
            "id": self.id, "object": "text_completion", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": finish_reason}],
        }))
    }

    fn line(&mut self, line: &[u8], out: &mut BytesMut) -> Result<(), ApiError> {
        if line.trim_ascii().is_empty() {
            return Ok(());
        }
        let reply: Reply = serde_json::from_slice(line).map_err(|e| {
            ApiError::new(
                502,
                "api_error",
                format!("ollama sent a stream line that could not be read: {e}"),
            )
        })?;
        if let Some(e) = &reply.error {
            return Err(from_message(500, &error_text(e)));
        }
        if self.finished {
            return Ok(());
        }
        if self.completions {
            self.completion_line(&reply, out);
        } else {
            self.chat_line(&reply, out);
        }
        Ok(())
    }

    fn chat_line(&mut self, reply: &Reply, out: &mut BytesMut) {
        if !self.role_sent {
            self.role_sent = true;
            out.extend_from_slice(&chunk_event(
                self.meta(),
                json!({"role": "assistant", "content": ""}),
                None,
            ));
        }
        if let Some(thinking) = reply.thinking() {
            out.extend_from_slice(&chunk_event(
                self.meta(),
                json!({"reasoning_content": thinking}),
                None,
            ));
        }
        if !reply.text().is_empty() {
            out.extend_from_slice(&chunk_event(
                self.meta(),
                json!({"content": reply.text()}),
                None,
            ));
        }
        for call in reply.tool_calls() {
            let n = self.tool_calls;
            self.tool_calls += 1;
            let c = tool_call(n, call);
            let delta = json!({"tool_calls": [{
                "index": n, "id": c.id, "type": "function",
                "function": {"name": c.function.name, "arguments": c.function.arguments},
            }]});
            out.extend_from_slice(&chunk_event(self.meta(), delta, None));
        }
        if reply.done {
            self.finished = true;
            self.usage = Some(usage_of(reply));
            let reason = reply.finish_reason(self.tool_calls > 0);
            out.extend_from_slice(&chunk_event(self.meta(), json!({}), Some(reason)));
        }
    }

    fn completion_line(&mut self, reply: &Reply, out: &mut BytesMut) {
        if !reply.text().is_empty() {
            out.extend_from_slice(&self.text_event(reply.text(), None));
        }
        if reply.done {
            self.finished = true;
            self.usage = Some(usage_of(reply));
            out.extend_from_slice(&self.text_event("", Some(reply.finish_reason(false))));
        }
    }
}

impl ToOpenAiStream for Translator {
    fn push(&mut self, input: &[u8], out: &mut BytesMut) -> Result<(), ApiError> {
        self.lines.push(input);
        while let Some(line) = self.lines.next_line() {
            self.line(&line, out)?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut BytesMut) -> Result<(), ApiError> {
        if self.closed {
            return Ok(());
        }
        if let Some(rest) = self.lines.take_remainder() {
            self.line(&rest, out)?;
        }
        self.closed = true;
        if !self.finished {
            // The stream ended without its `done` line: close the choice anyway.
            self.finished = true;
            if self.completions {
                out.extend_from_slice(&self.text_event("", Some("stop")));
            } else {
                if !self.role_sent {
                    self.role_sent = true;
                    out.extend_from_slice(&chunk_event(
                        self.meta(),
                        json!({"role": "assistant", "content": ""}),
                        None,
                    ));
                }
                let reason = if self.tool_calls > 0 {
                    "tool_calls"
                } else {
                    "stop"
                };
                out.extend_from_slice(&chunk_event(self.meta(), json!({}), Some(reason)));
            }
        }
        if self.include_usage {
            let usage = self.usage.unwrap_or_default();
            if self.completions {
                out.extend_from_slice(&sse(&json!({
                    "id": self.id, "object": "text_completion", "created": self.created,
                    "model": self.model, "choices": [], "usage": usage_json(usage),
                })));
            } else {
                out.extend_from_slice(&usage_event(self.meta(), usage));
            }
        }
        out.extend_from_slice(DONE_EVENT);
        Ok(())
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_joined_across_pushes_and_crlf_is_stripped() {
        let mut s = LineSplitter::default();
        s.push(b"{\"a\"");
        assert_eq!(s.next_line(), None);
        s.push(b":1}\r\n{\"b\":2}\n{\"c\"");
        assert_eq!(s.next_line().unwrap(), b"{\"a\":1}");
        assert_eq!(s.next_line().unwrap(), b"{\"b\":2}");
        assert_eq!(s.next_line(), None);
        assert_eq!(s.take_remainder().unwrap(), b"{\"c\"");
        assert_eq!(s.take_remainder(), None);
    }
}
