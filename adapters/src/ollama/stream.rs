//! Ollama NDJSON stream → canonical OpenAI SSE: one JSON object per line (split anywhere across
//! pushes), each turned into `chat.completion.chunk` (or `text_completion`) events by the shared
//! `ChunkWriter`; the final `done:true` line gives the finish reason and usage.

use bytes::BytesMut;

use super::error::from_message;
use super::response::{tool_call, usage_of};
use super::wire::{error_text, Reply};
use crate::error::ApiError;
use crate::openai::response::Usage;
use crate::openai::wire::ResponseMeta;
use crate::request::CanonicalRequest;
use crate::target::Target;
use crate::translator::{ChunkWriter, ToOpenAiStream};

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
    w: ChunkWriter,
    lines: LineSplitter,
}

impl Translator {
    pub fn new(req: &CanonicalRequest, t: &Target<'_>, meta: ResponseMeta<'_>) -> Translator {
        let _ = t;
        Translator {
            w: ChunkWriter::new(req, meta),
            lines: LineSplitter::default(),
        }
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
        if self.w.finished(0) {
            return Ok(());
        }
        // The role first (chat), then reasoning, text and whole tool calls; `/api/generate`
        // for `/v1/completions` has text only.
        self.w.role(out);
        if let Some(thinking) = reply.thinking() {
            self.w.reasoning(thinking, out);
        }
        self.w.content(reply.text(), out);
        if !self.w.completions() {
            for call in reply.tool_calls() {
                let c = tool_call(self.w.tool_calls(0), call);
                let f = &c.function;
                self.w.tool_call(None, &c.id, &f.name, &f.arguments, out);
            }
        }
        if reply.done {
            self.w.set_usage(usage_of(&reply));
            let reason = reply.finish_reason(self.w.tool_calls(0) > 0);
            self.w.finish(0, reason, out);
        }
        Ok(())
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
        if self.w.is_done() {
            return Ok(());
        }
        if let Some(rest) = self.lines.take_remainder() {
            self.line(&rest, out)?;
        }
        // Without its `done` line the stream still ends with a finish chunk.
        self.w.close(out);
        Ok(())
    }

    fn usage(&self) -> Option<Usage> {
        self.w.usage()
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
