//! Answers an Anthropic deployment gave an Anthropic client as they were (pass-through), kept
//! in Anthropic's shape, marked so a hit is replayed as it is: a `Message` body, or the event
//! stream (`message_start`, content blocks, `message_delta` with usage, `message_stop`). A
//! kept body is replayed to a streaming client as a well-formed event stream, kept events to
//! a whole client as the `Message` they stand for.

use adapters::sse::{event_data, SseSplitter};
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{json, Map, Value};

/// The first byte of a kept pass-through answer (a canonical one starts with `{` or `d`).
const MARK: u8 = b'A';

/// `answer` (a `Message` body or its events) as kept.
pub fn mark(answer: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(answer.len() + 1);
    b.put_u8(MARK);
    b.extend_from_slice(answer);
    b.freeze()
}

/// A kept pass-through answer: (events?, the answer as the provider sent it).
pub fn unmark(entry: &Bytes) -> Option<(bool, Bytes)> {
    if entry.first() != Some(&MARK) {
        return None;
    }
    let answer = entry.slice(1..);
    let events = answer.first() != Some(&b'{');
    Some((events, answer))
}

/// Whether the stream ended properly: a whole `message_stop` event, and no `error` event.
pub fn complete(events: &[u8]) -> bool {
    let end = events.trim_ascii_end();
    let last = memchr::memmem::rfind(end, b"\n\n").map_or(end, |at| &end[at..]);
    (events.ends_with(b"\n\n") || events.ends_with(b"\r\n\r\n"))
        && memchr::memmem::find(last, b"\"message_stop\"").is_some()
        && memchr::memmem::find(events, b"event: error").is_none()
}

fn event(out: &mut BytesMut, name: &str, data: &Value) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(&serde_json::to_vec(data).unwrap_or_default());
    out.extend_from_slice(b"\n\n");
}

/// A `Message` body as Anthropic's event stream. `None`: not a message.
pub fn events_of(body: &[u8]) -> Option<Bytes> {
    let mut msg: Map<String, Value> = serde_json::from_slice(body).ok()?;
    if msg.get("type").and_then(Value::as_str) != Some("message") {
        return None;
    }
    let Some(Value::Array(content)) = msg.insert("content".into(), json!([])) else {
        return None;
    };
    let stop_reason = msg.insert("stop_reason".into(), Value::Null);
    let stop_sequence = msg.insert("stop_sequence".into(), Value::Null);
    let usage = msg.get("usage").cloned().unwrap_or(json!({}));
    let output_tokens = usage["output_tokens"].as_u64().unwrap_or(0);
    if let Some(Value::Object(u)) = msg.get_mut("usage") {
        u.insert("output_tokens".into(), json!(0));
    }
    let mut out = BytesMut::with_capacity(body.len() * 2 + 512);
    event(
        &mut out,
        "message_start",
        &json!({"type": "message_start", "message": msg}),
    );
    for (i, block) in content.into_iter().enumerate() {
        let kind = block["type"].as_str().unwrap_or("").to_string();
        let (start, deltas) = match kind.as_str() {
            "text" => (
                json!({"type": "text", "text": ""}),
                vec![json!({"type": "text_delta", "text": block["text"]})],
            ),
            "thinking" => {
                let mut d = vec![json!({"type": "thinking_delta", "thinking": block["thinking"]})];
                if let Some(sig) = block.get("signature") {
                    d.push(json!({"type": "signature_delta", "signature": sig}));
                }
                (json!({"type": "thinking", "thinking": ""}), d)
            }
            "tool_use" | "server_tool_use" => {
                let mut start = block.clone();
                let input = start
                    .as_object_mut()
                    .and_then(|o| o.insert("input".into(), json!({})))
                    .unwrap_or(json!({}));
                let partial = serde_json::to_string(&input).unwrap_or_default();
                (
                    start,
                    vec![json!({"type": "input_json_delta", "partial_json": partial})],
                )
            }
            // Blocks that carry no deltas (redacted thinking, tool results) start whole.
            _ => (block, Vec::new()),
        };
        event(
            &mut out,
            "content_block_start",
            &json!({"type": "content_block_start", "index": i, "content_block": start}),
        );
        for delta in deltas {
            event(
                &mut out,
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": i, "delta": delta}),
            );
        }
        event(
            &mut out,
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": i}),
        );
    }
    event(
        &mut out,
        "message_delta",
        &json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
            "usage": {"output_tokens": output_tokens},
        }),
    );
    event(&mut out, "message_stop", &json!({"type": "message_stop"}));
    Some(out.freeze())
}

/// Anthropic's event stream put together into the `Message` it stands for. `None`: the stream
/// did not end properly (no `message_stop`, an error, a block out of order).
pub fn message_of(events: &[u8]) -> Option<Bytes> {
    let mut splitter = SseSplitter::new();
    splitter.push(events);
    let mut msg: Option<Map<String, Value>> = None;
    let mut blocks: Vec<Value> = Vec::new();
    let mut json_parts: Vec<String> = Vec::new();
    let mut stopped = false;
    while let Some(ev) = splitter.next_event() {
        let Some(data) = event_data(&ev) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<Value>(&data) else {
            continue;
        };
        let index = v["index"].as_u64().map(|i| i as usize);
        match v["type"].as_str()? {
            "message_start" => msg = Some(v.get("message")?.as_object()?.clone()),
            "content_block_start" => {
                let i = index?;
                if i != blocks.len() {
                    return None;
                }
                blocks.push(v.get("content_block")?.clone());
                json_parts.push(String::new());
            }
            "content_block_delta" => {
                let i = index?;
                let block = blocks.get_mut(i)?;
                let d = &v["delta"];
                let append = |block: &mut Value, field: &str, piece: &Value| {
                    let have = block[field].as_str().unwrap_or("").to_string();
                    block[field] = Value::String(have + piece.as_str().unwrap_or(""));
                };
                match d["type"].as_str()? {
                    "text_delta" => append(block, "text", &d["text"]),
                    "thinking_delta" => append(block, "thinking", &d["thinking"]),
                    "signature_delta" => block["signature"] = d["signature"].clone(),
                    "input_json_delta" => {
                        json_parts[i].push_str(d["partial_json"].as_str().unwrap_or(""))
                    }
                    "citations_delta" => {
                        if !block["citations"].is_array() {
                            block["citations"] = json!([]);
                        }
                        if let Some(c) = block["citations"].as_array_mut() {
                            c.push(d["citation"].clone());
                        }
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                let i = index?;
                if !json_parts.get(i)?.is_empty() {
                    blocks[i]["input"] = serde_json::from_str(&json_parts[i]).ok()?;
                }
            }
            "message_delta" => {
                let m = msg.as_mut()?;
                for k in ["stop_reason", "stop_sequence"] {
                    if let Some(x) = v["delta"].get(k) {
                        m.insert(k.into(), x.clone());
                    }
                }
                if let (Some(Value::Object(u)), Some(Value::Object(add))) =
                    (m.get_mut("usage"), v.get("usage"))
                {
                    for (k, x) in add {
                        if !x.is_null() {
                            u.insert(k.clone(), x.clone());
                        }
                    }
                }
            }
            "message_stop" => stopped = true,
            "error" => return None,
            _ => {}
        }
    }
    let mut msg = msg?;
    if !stopped {
        return None;
    }
    msg.insert("content".into(), Value::Array(blocks));
    serde_json::to_vec(&msg).ok().map(Bytes::from)
}

/// The usage an Anthropic event stream reports (`message_start`, then `message_delta`).
pub fn events_usage(events: &[u8]) -> Option<adapters::openai::response::Usage> {
    let mut s = adapters::anthropic::passthrough::NativeStream::new();
    let mut sink = BytesMut::new();
    s.push(events, &mut sink).ok()?;
    s.usage()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> Value {
        json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "text", "text": "Hello there"},
                {"type": "tool_use", "id": "tu_1", "name": "f", "input": {"a": 1}}
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 7, "output_tokens": 5}
        })
    }

    #[test]
    fn a_message_replays_as_events_and_back() {
        let body = serde_json::to_vec(&message()).unwrap();
        let sse = events_of(&body).unwrap();
        let text = std::str::from_utf8(&sse).unwrap();
        assert!(text.starts_with("event: message_start\n"));
        assert!(text.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
        for name in [
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
        ] {
            assert!(text.contains(&format!("event: {name}\n")), "{name}");
        }
        assert!(complete(&sse));
        let u = events_usage(&sse).unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (7, 5));
        let back: Value = serde_json::from_slice(&message_of(&sse).unwrap()).unwrap();
        assert_eq!(back, message());
        // Split anywhere: the splitter keeps partial events.
        let cut = &sse[..sse.len() - 10];
        assert!(message_of(cut).is_none(), "no message_stop: not a message");
        assert!(!complete(cut));
    }

    #[test]
    fn marks() {
        let m = mark(b"{\"type\":\"message\"}");
        assert_eq!(
            unmark(&m).unwrap(),
            (false, Bytes::from_static(b"{\"type\":\"message\"}"))
        );
        let e = mark(b"event: message_start\n");
        assert!(unmark(&e).unwrap().0);
        assert!(unmark(&Bytes::from_static(b"{}")).is_none());
        assert!(events_of(b"{\"object\":\"chat.completion\"}").is_none());
    }
}
