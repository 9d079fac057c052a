//! Tests of the streamed post-call filter (`stream.rs`): masks across any split of the bytes,
//! in OpenAI chunks and tool calls, Anthropic tool input, and Responses events.

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

/// Feeds `sse` in two pieces split at every 7th byte; the outputs.
fn split_runs(sse: &str) -> Vec<(StreamFilter, String)> {
    (0..sse.len())
        .step_by(23)
        .map(|at| {
            let mut f = StreamFilter::new(&state());
            let mut out = f.filter(&sse.as_bytes()[..at], false).unwrap();
            out.extend_from_slice(&f.filter(&sse.as_bytes()[at..], true).unwrap());
            (f, String::from_utf8(out.to_vec()).unwrap())
        })
        .collect()
}

fn datas(out: &str) -> Vec<Value> {
    out.split("\n\n")
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

const ARGS: &str = r#"{"to": "john.smith@example.com", "cc": "a@b.io"}"#;
const MASKED: &str = r#"{"to": "[EMAIL_REDACTED]", "cc": "[EMAIL_REDACTED]"}"#;

#[test]
fn masks_openai_tool_call_arguments() {
    let mut sse = String::new();
    for c in ARGS.chars() {
        let e = json!({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": c.to_string()}}]}, "finish_reason": null}]});
        sse.push_str(&format!("data: {e}\n\n"));
    }
    sse.push_str(&format!(
        "data: {}\n\ndata: [DONE]\n\n",
        json!({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    ));
    for (f, out) in split_runs(&sse) {
        let args: String = datas(&out)
            .iter()
            .filter_map(|v| {
                v["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        assert_eq!(args, MASKED);
        assert_eq!(f.counts, [2]);
        assert!(out.ends_with("data: [DONE]\n\n"));
    }
}

#[test]
fn masks_anthropic_tool_input_json() {
    let mut sse = String::from("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"mail\",\"input\":{}}}\n\n");
    for c in ARGS.chars() {
        let e = json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": c.to_string()}});
        sse.push_str(&format!("event: content_block_delta\ndata: {e}\n\n"));
    }
    sse.push_str(
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    );
    for (_, out) in split_runs(&sse) {
        let vs = datas(&out);
        let args: String = vs
            .iter()
            .filter_map(|v| v["delta"]["partial_json"].as_str().map(str::to_string))
            .collect();
        assert_eq!(args, MASKED);
        assert!(vs.iter().all(|v| v["delta"]["type"] != "text_delta"));
        assert_eq!(vs.last().unwrap()["type"], "content_block_stop");
    }
}

#[test]
fn masks_responses_events_and_renumbers_them() {
    let text = "write to john.smith@example.com today";
    let mut sse = String::new();
    let mut n = 0;
    let mut ev = |sse: &mut String, v: Value| {
        let mut v = v;
        v["sequence_number"] = n.into();
        n += 1;
        sse.push_str(&format!(
            "event: {}\ndata: {v}\n\n",
            v["type"].as_str().unwrap()
        ));
    };
    for c in text.chars() {
        ev(
            &mut sse,
            json!({"type": "response.output_text.delta", "item_id": "m1",
            "output_index": 0, "content_index": 0, "delta": c.to_string()}),
        );
    }
    ev(
        &mut sse,
        json!({"type": "response.output_text.done", "item_id": "m1",
        "output_index": 0, "content_index": 0, "text": text}),
    );
    for c in ARGS.chars() {
        ev(
            &mut sse,
            json!({"type": "response.function_call_arguments.delta",
            "item_id": "fc1", "output_index": 1, "delta": c.to_string()}),
        );
    }
    ev(
        &mut sse,
        json!({"type": "response.function_call_arguments.done", "item_id": "fc1",
        "output_index": 1, "arguments": ARGS}),
    );
    ev(
        &mut sse,
        json!({"type": "response.completed", "response": {"id": "r", "output": [
        {"type": "message", "id": "m1", "content": [{"type": "output_text", "text": text}]},
        {"type": "function_call", "id": "fc1", "name": "mail", "arguments": ARGS}]}}),
    );
    for (mut f, out) in split_runs(&sse) {
        let vs = datas(&out);
        let seq: Vec<u64> = vs
            .iter()
            .map(|v| v["sequence_number"].as_u64().unwrap())
            .collect();
        assert_eq!(seq, (0..vs.len() as u64).collect::<Vec<_>>());
        let of = |kind: &str| -> String {
            vs.iter()
                .filter(|v| v["type"] == kind)
                .filter_map(|v| v["delta"].as_str().map(str::to_string))
                .collect()
        };
        assert_eq!(
            of("response.output_text.delta"),
            "write to [EMAIL_REDACTED] today"
        );
        assert_eq!(of("response.function_call_arguments.delta"), MASKED);
        assert!(vs
            .iter()
            .any(|v| v["text"] == "write to [EMAIL_REDACTED] today"));
        assert!(vs.iter().any(|v| v["arguments"] == MASKED));
        assert!(!out.contains("john.smith"), "{out}");
        let fin = f.final_response.take().unwrap();
        assert_eq!(fin["output"][1]["arguments"], MASKED);
        assert_eq!(f.counts, [3]);
        for line in out.split("\n\n").filter(|e| !e.is_empty()) {
            assert!(line.starts_with("event: response."), "{line:?}");
        }
    }
}

#[test]
fn masks_reasoning_in_every_shape() {
    // OpenAI `reasoning_content`: what is held of it goes out when the answer starts.
    let mut sse = String::new();
    for c in "think of john.smith@example.com first".chars() {
        let e = json!({"id": "c", "choices": [{"index": 0, "delta":
            {"reasoning_content": c.to_string()}, "finish_reason": null}]});
        sse.push_str(&format!("data: {e}\n\n"));
    }
    sse.push_str(&chunk("ok"));
    sse.push_str("data: [DONE]\n\n");
    for (_, out) in split_runs(&sse) {
        let vs = datas(&out);
        let r: String = vs
            .iter()
            .filter_map(|v| v["choices"][0]["delta"]["reasoning_content"].as_str())
            .collect();
        assert_eq!(r, "think of [EMAIL_REDACTED] first");
        // All of the reasoning is out before (or with) the first content.
        let first_content = vs
            .iter()
            .position(|v| v["choices"][0]["delta"]["content"].is_string())
            .unwrap();
        assert!(vs[first_content + 1..]
            .iter()
            .all(|v| v["choices"][0]["delta"]["reasoning_content"].is_null()));
    }
    // Anthropic `thinking_delta`, released as thinking at the block's end.
    let mut sse = String::new();
    for c in "mail a@b.io".chars() {
        let e = json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "thinking_delta", "thinking": c.to_string()}});
        sse.push_str(&format!("event: content_block_delta\ndata: {e}\n\n"));
    }
    sse.push_str(
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    );
    for (_, out) in split_runs(&sse) {
        let vs = datas(&out);
        let t: String = vs
            .iter()
            .filter_map(|v| v["delta"]["thinking"].as_str())
            .collect();
        assert_eq!(t, "mail [EMAIL_REDACTED]");
        assert!(vs.iter().all(|v| v["delta"]["type"] != "text_delta"));
    }
    // Responses reasoning summary text.
    let mut sse = String::new();
    let text = "see a@b.io";
    for (n, c) in text.chars().enumerate() {
        let e = json!({"type": "response.reasoning_summary_text.delta", "sequence_number": n,
            "item_id": "rs", "output_index": 0, "summary_index": 0, "delta": c.to_string()});
        sse.push_str(&format!(
            "event: {}\ndata: {e}\n\n",
            e["type"].as_str().unwrap()
        ));
    }
    let e = json!({"type": "response.reasoning_summary_text.done", "sequence_number": text.len(),
        "item_id": "rs", "output_index": 0, "summary_index": 0, "text": text});
    sse.push_str(&format!(
        "event: {}\ndata: {e}\n\n",
        e["type"].as_str().unwrap()
    ));
    for (_, out) in split_runs(&sse) {
        let vs = datas(&out);
        let d: String = vs
            .iter()
            .filter(|v| v["type"] == "response.reasoning_summary_text.delta")
            .filter_map(|v| v["delta"].as_str())
            .collect();
        assert_eq!(d, "see [EMAIL_REDACTED]");
        assert!(vs.iter().any(|v| v["text"] == "see [EMAIL_REDACTED]"));
        assert!(!out.contains("a@b.io"), "{out}");
    }
}
