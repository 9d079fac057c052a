//! `post_call` guardrails on a streamed response: the text deltas of each choice (OpenAI
//! `choices[i].delta.content`) or content block (Anthropic `content_block_delta`) are held
//! back only as far as a pattern can span, checked, masked and released; the events keep
//! their framing (each rewritten event is one whole SSE event), and what is still held when a
//! choice or block ends goes out in its last event (or one made before its stop event). A
//! blocking match ends the stream: the caller writes an error event in the client's API.

use adapters::sse::{event_data, SseSplitter};
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{json, Value};

use super::state::{cut, hits, release, Blocked, GuardState, PostCheck};

/// The filter of one streamed response.
pub struct StreamFilter {
    post: Vec<PostCheck>,
    unmask: Vec<(String, String)>,
    hold: usize,
    splitter: SseSplitter,
    /// Held text per choice / content block index.
    held: Vec<String>,
    /// Masks made, per post check.
    pub counts: Vec<usize>,
    /// The last OpenAI chunk seen: the template of a chunk made to release held text.
    last: Option<Value>,
}

impl StreamFilter {
    pub fn new(state: &GuardState) -> StreamFilter {
        StreamFilter {
            post: state.post.clone(),
            unmask: state.unmask.clone(),
            hold: state.hold(),
            splitter: SseSplitter::new(),
            held: Vec::new(),
            counts: vec![0; state.post.len()],
            last: None,
        }
    }

    fn slot(&mut self, i: usize) -> &mut String {
        if self.held.len() <= i {
            self.held.resize(i + 1, String::new());
        }
        &mut self.held[i]
    }

    /// Adds `delta` to slot `i` and returns what may go out now (everything when `last`).
    fn pass(&mut self, i: usize, delta: &str, last: bool) -> Result<String, Blocked> {
        let mut text = std::mem::take(self.slot(i));
        text.push_str(delta);
        let found = hits(&self.post, &text);
        let upto = if last {
            text.len()
        } else {
            cut(&text, self.hold, &found, &self.unmask)
        };
        let out = release(
            &self.post,
            &self.unmask,
            &text,
            &found,
            upto,
            &mut self.counts,
        )?;
        *self.slot(i) = text[upto..].to_string();
        Ok(out)
    }

    /// Filters canonical (OpenAI) or Anthropic SSE bytes; `done`: the stream ended.
    pub fn filter(&mut self, input: &[u8], done: bool) -> Result<BytesMut, Blocked> {
        self.splitter.push(input);
        let mut out = BytesMut::with_capacity(input.len() + 64);
        while let Some(event) = self.splitter.next_event() {
            self.event(event, &mut out)?;
        }
        if done {
            if let Some(rest) = self.splitter.take_remainder() {
                self.event(rest, &mut out)?;
            }
            self.flush_all(&mut out)?;
        }
        Ok(out)
    }

    fn event(&mut self, event: Bytes, out: &mut BytesMut) -> Result<(), Blocked> {
        let Some(data) = event_data(&event) else {
            out.extend_from_slice(&event);
            return Ok(());
        };
        if data.as_ref() == b"[DONE]" {
            self.flush_all(out)?;
            out.extend_from_slice(&event);
            return Ok(());
        }
        let Ok(mut v) = serde_json::from_slice::<Value>(&data) else {
            out.extend_from_slice(&event);
            return Ok(());
        };
        match v.get("type").and_then(Value::as_str) {
            Some("content_block_delta") => {
                let i = v["index"].as_u64().unwrap_or(0) as usize;
                if let Some(t) = v["delta"]["text"].as_str().map(str::to_string) {
                    let now = self.pass(i, &t, false)?;
                    v["delta"]["text"] = Value::String(now);
                    write_anthropic(out, "content_block_delta", &v);
                    return Ok(());
                }
            }
            Some("content_block_stop") => {
                let i = v["index"].as_u64().unwrap_or(0) as usize;
                let rest = self.pass(i, "", true)?;
                if !rest.is_empty() {
                    let d = json!({"type": "content_block_delta", "index": i,
                        "delta": {"type": "text_delta", "text": rest}});
                    write_anthropic(out, "content_block_delta", &d);
                }
            }
            _ => {}
        }
        let Some(choices) = v.get_mut("choices").and_then(Value::as_array_mut) else {
            out.extend_from_slice(&event);
            return Ok(());
        };
        let mut changed = false;
        for c in choices.iter_mut() {
            let i = c["index"].as_u64().unwrap_or(0) as usize;
            let finished = !c["finish_reason"].is_null();
            let delta = c["delta"]["content"].as_str().map(str::to_string);
            if delta.is_none() && !finished {
                continue;
            }
            let now = self.pass(i, delta.as_deref().unwrap_or(""), finished)?;
            if delta.is_some() || !now.is_empty() {
                if !c["delta"].is_object() {
                    c["delta"] = json!({});
                }
                c["delta"]["content"] = Value::String(now);
                changed = true;
            }
        }
        if changed {
            write_data(out, &v);
        } else {
            out.extend_from_slice(&event);
        }
        if v.get("choices").is_some() {
            self.last = Some(v);
        }
        Ok(())
    }

    /// Releases every held text (the stream ended without a finish event for it).
    fn flush_all(&mut self, out: &mut BytesMut) -> Result<(), Blocked> {
        for i in 0..self.held.len() {
            if self.held[i].is_empty() {
                continue;
            }
            let rest = self.pass(i, "", true)?;
            if rest.is_empty() {
                continue;
            }
            match self.last.clone() {
                Some(mut t) => {
                    t["choices"] =
                        json!([{"index": i, "delta": {"content": rest}, "finish_reason": null}]);
                    if let Some(o) = t.as_object_mut() {
                        o.remove("usage");
                    }
                    write_data(out, &t);
                }
                None => {
                    let d = json!({"type": "content_block_delta", "index": i,
                        "delta": {"type": "text_delta", "text": rest}});
                    write_anthropic(out, "content_block_delta", &d);
                }
            }
        }
        Ok(())
    }
}

fn write_data(out: &mut BytesMut, v: &Value) {
    out.put_slice(b"data: ");
    out.put_slice(&serde_json::to_vec(v).expect("JSON values serialize"));
    out.put_slice(b"\n\n");
}

fn write_anthropic(out: &mut BytesMut, name: &str, v: &Value) {
    out.put_slice(b"event: ");
    out.put_slice(name.as_bytes());
    out.put_slice(b"\n");
    write_data(out, v);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::detect::Detector;
    use conf::guard::{Action, LocalRules, PatternRule};
    use std::sync::Arc;

    fn state() -> GuardState {
        let b = conf::guard_patterns::prebuilt("email").unwrap();
        let rules = LocalRules {
            patterns: vec![PatternRule {
                name: "email".into(),
                regex: b.regex.into(),
                check: b.check,
                action: Action::Mask,
                tag: "[EMAIL_REDACTED]".into(),
            }],
            words: vec![],
            unmask: false,
        };
        GuardState {
            post: vec![PostCheck {
                name: "pii".into(),
                detector: Arc::new(Detector::new(&rules).unwrap()),
            }],
            ..GuardState::default()
        }
    }

    fn chunk(text: &str) -> String {
        format!(
            "data: {}\n\n",
            json!({"id": "c", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
        )
    }

    fn content(sse: &[u8]) -> String {
        let mut s = SseSplitter::new();
        s.push(sse);
        let mut out = String::new();
        while let Some(e) = s.next_event() {
            let d = event_data(&e).unwrap();
            if d.as_ref() == b"[DONE]" {
                continue;
            }
            let v: Value = serde_json::from_slice(&d).unwrap();
            out.push_str(v["choices"][0]["delta"]["content"].as_str().unwrap_or(""));
        }
        out
    }

    #[test]
    fn masks_across_chunks_split_anywhere() {
        let text = "write to john.smith@example.com today, or jane@corp.io.";
        let whole: String = format!(
            "{}data: [DONE]\n\n",
            text.chars()
                .map(|c| chunk(&c.to_string()))
                .collect::<String>()
        );
        // Every byte split of the event stream gives the same, masked, text.
        for at in (0..whole.len()).step_by(13) {
            let mut f = StreamFilter::new(&state());
            let mut out = f.filter(&whole.as_bytes()[..at], false).unwrap();
            out.extend_from_slice(&f.filter(&whole.as_bytes()[at..], true).unwrap());
            assert_eq!(
                content(&out),
                "write to [EMAIL_REDACTED] today, or [EMAIL_REDACTED].",
                "split at {at}"
            );
            assert!(out.ends_with(b"data: [DONE]\n\n"));
        }
    }
}
