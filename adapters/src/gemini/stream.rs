//! Gemini `streamGenerateContent?alt=sse` → canonical OpenAI SSE: each event is one
//! `GenerateContentResponse` chunk, translated into `chat.completion.chunk` (or
//! `text_completion`) events by the shared `ChunkWriter`, one choice per candidate: the role in
//! its first delta, text deltas, whole function calls as one tool-call delta each, its finish
//! reason; usage from `usageMetadata`.

use bytes::BytesMut;
use serde_json::json;

use super::error::{detail, from_detail};
use super::response::{calls_of, finish_of, parse, text_of, tool_call};
use super::wire::GenerateContentResponse;
use crate::error::ApiError;
use crate::openai::response::Usage;
use crate::openai::wire::ResponseMeta;
use crate::request::CanonicalRequest;
use crate::sse::{event_data, SseSplitter};
use crate::target::Target;
use crate::translator::{tool_call_json, ChunkWriter, RoleStyle, ToOpenAiStream};

/// Translates one Gemini stream; owns everything it needs (no borrows of the request).
#[derive(Debug)]
pub struct Translator {
    /// One choice per candidate index; the role goes in each choice's first delta.
    w: ChunkWriter,
    splitter: SseSplitter,
}

impl Translator {
    pub fn new(req: &CanonicalRequest, t: &Target<'_>, meta: ResponseMeta<'_>) -> Translator {
        let _ = t;
        Translator {
            w: ChunkWriter::new(req, meta).with_role(RoleStyle::FirstDelta),
            splitter: SseSplitter::new(),
        }
    }

    fn on_event(&mut self, event: &[u8], out: &mut BytesMut) -> Result<(), ApiError> {
        let Some(data) = event_data(event) else {
            return Ok(());
        };
        let data = data.trim_ascii();
        if data.is_empty() || data == b"[DONE]" {
            return Ok(());
        }
        if memchr::memmem::find(data, b"\"error\"").is_some() {
            if let Some(d) = detail(data) {
                return Err(from_detail(500, &d));
            }
        }
        let chunk: GenerateContentResponse = parse(data)?;
        self.on_chunk(&chunk, out);
        Ok(())
    }

    fn on_chunk(&mut self, chunk: &GenerateContentResponse, out: &mut BytesMut) {
        if let Some(u) = chunk.usage_metadata {
            self.w.set_usage(u.to_usage());
        }
        let blocked = chunk
            .prompt_feedback
            .as_ref()
            .is_some_and(|f| f.block_reason.is_some());
        if chunk.candidates.is_empty() && blocked && !self.w.finished(0) {
            self.w
                .finish_with(0, json!({"content": null}), "content_filter", out);
        }
        for (pos, cand) in chunk.candidates.iter().enumerate() {
            let index = cand.index.map_or(pos, |i| i as usize);
            if self.w.finished(index) {
                continue;
            }
            let text = text_of(cand.content.as_ref());
            if !text.is_empty() {
                self.w.delta(index, json!({ "content": text }), None, out);
            }
            if !self.w.completions() {
                for call in calls_of(cand.content.as_ref()) {
                    let tc = tool_call(self.w.tool_calls(index), call);
                    let n = self.w.add_tool_call(index, None);
                    let (f, id) = (&tc.function, &tc.id);
                    let call = tool_call_json(n, id, &f.name, &f.arguments);
                    let delta = json!({"content": null, "tool_calls": [call]});
                    self.w.delta(index, delta, None, out);
                }
            }
            if let Some(reason) = cand.finish_reason.as_deref() {
                let called = self.w.tool_calls(index) > 0;
                self.w.finish(index, finish_of(Some(reason), called), out);
            }
        }
    }
}

impl ToOpenAiStream for Translator {
    fn push(&mut self, input: &[u8], out: &mut BytesMut) -> Result<(), ApiError> {
        self.splitter.push(input);
        while let Some(event) = self.splitter.next_event() {
            self.on_event(&event, out)?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut BytesMut) -> Result<(), ApiError> {
        if self.w.is_done() {
            return Ok(());
        }
        if let Some(rest) = self.splitter.take_remainder() {
            if let Err(e) = self.on_event(&rest, out) {
                self.w.abandon();
                return Err(e);
            }
        }
        // Every candidate without a finish reason gets one (`tool_calls` if it called tools).
        self.w.close(out);
        Ok(())
    }

    fn usage(&self) -> Option<Usage> {
        self.w.usage()
    }
}
