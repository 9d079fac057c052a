//! Tests of the external post checks' hold (`stream_ext.rs`): streams reassembled and
//! rewritten in each shape, held until checked, resolved by `unreachable_fallback`, the cap.

use super::*;
use crate::guard::stream::StreamFilter;
use serde_json::json;

fn sse(vs: &[Value], named: bool) -> Vec<u8> {
    let mut out = String::new();
    for v in vs {
        if named {
            out.push_str(&format!("event: {}\n", v["type"].as_str().unwrap()));
        }
        out.push_str(&format!("data: {v}\n\n"));
    }
    out.into_bytes()
}

fn datas(b: &[u8]) -> Vec<Value> {
    parse(b).into_iter().filter_map(|e| e.data).collect()
}

#[test]
fn openai_chunks_reassembled_and_rewritten() {
    let mut vs = Vec::new();
    for (i, piece) in ["Mail ", "ann@x.io", " now"].iter().enumerate() {
        let mut delta = json!({"content": piece});
        if i == 0 {
            delta["reasoning_content"] = json!("think ann@x.io");
        }
        vs.push(
            json!({"id": "c", "choices": [{"index": 0, "delta": delta, "finish_reason": null}]}),
        );
    }
    vs.push(json!({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}));
    let held = sse(&vs, false);
    let mut events = parse(&held);
    let texts = assemble(&mut events);
    assert_eq!(
        texts,
        [
            (Key::Content(0), "Mail ann@x.io now".to_string()),
            (Key::Reasoning(0), "think ann@x.io".to_string())
        ]
    );
    let changed = vec![
        (
            Key::Content(0),
            "Mail ann@x.io now".to_string(),
            "Mail <EMAIL> now".to_string(),
        ),
        (
            Key::Reasoning(0),
            "think ann@x.io".into(),
            "think <EMAIL>".into(),
        ),
    ];
    let (out, _) = rewrite(events, &changed);
    let got = datas(&out);
    // The first chunk carries both whole texts; the two content-only chunks are gone.
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0]["choices"][0]["delta"]["content"], "Mail <EMAIL> now");
    assert_eq!(
        got[0]["choices"][0]["delta"]["reasoning_content"],
        "think <EMAIL>"
    );
    assert_eq!(got[1]["choices"][0]["finish_reason"], "stop");
}

#[test]
fn responses_events_renumbered_and_repeats_replaced() {
    let text = "to ann@x.io";
    let mut vs = Vec::new();
    for (n, piece) in ["to ", "ann@x.io"].iter().enumerate() {
        vs.push(
            json!({"type": "response.output_text.delta", "sequence_number": n,
            "item_id": "m", "output_index": 0, "content_index": 0, "delta": piece}),
        );
    }
    vs.push(
        json!({"type": "response.output_text.done", "sequence_number": 2,
        "item_id": "m", "output_index": 0, "content_index": 0, "text": text}),
    );
    vs.push(
        json!({"type": "response.completed", "sequence_number": 3, "response":
        {"output": [{"type": "message", "content": [{"type": "output_text", "text": text}]}]}}),
    );
    let held = sse(&vs, true);
    let mut events = parse(&held);
    let texts = assemble(&mut events);
    assert_eq!(texts[0].1, text);
    let changed = vec![(texts[0].0, text.to_string(), "to <EMAIL>".to_string())];
    let (out, fin) = rewrite(events, &changed);
    let s = String::from_utf8(out.to_vec()).unwrap();
    assert!(!s.contains("ann@x.io"), "{s}");
    let got = datas(&out);
    let seq: Vec<u64> = got
        .iter()
        .map(|v| v["sequence_number"].as_u64().unwrap())
        .collect();
    assert_eq!(seq, [0, 1, 2]);
    assert_eq!(got[0]["delta"], "to <EMAIL>");
    assert!(s.starts_with("event: response.output_text.delta\n"));
    assert_eq!(
        fin.unwrap()["output"][0]["content"][0]["text"],
        "to <EMAIL>"
    );
}

#[test]
fn anthropic_blocks_and_thinking() {
    let vs = vec![
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "a@b.io"}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "x "}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "y"}}),
        json!({"type": "content_block_stop", "index": 1}),
    ];
    let held = sse(&vs, true);
    let mut events = parse(&held);
    let texts = assemble(&mut events);
    assert_eq!(
        texts,
        [
            (Key::Block(0), "a@b.io".to_string()),
            (Key::Block(1), "x y".to_string())
        ]
    );
    let changed = vec![(Key::Block(1), "x y".to_string(), "x [Y]".to_string())];
    let (out, _) = rewrite(events, &changed);
    let got = datas(&out);
    assert_eq!(got.len(), 3);
    assert_eq!(got[1]["delta"]["text"], "x [Y]");
    assert_eq!(got[2]["type"], "content_block_stop");
}

/// A filter whose one external post check is a webhook nobody listens on.
fn unreachable(open: bool) -> StreamFilter {
    use conf::guard::{External as Ext, GuardMode, Guardrail, Webhook};
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = Guardrail {
        name: "hook".into(),
        provider: "generic_guardrail_api".into(),
        modes: vec![GuardMode::PostCall],
        default_on: true,
        kind: GuardKind::Webhook(Box::new(Webhook {
            url: format!("http://127.0.0.1:{port}/beta/litellm_basic_guardrail_api"),
            api_key: None,
            params: Default::default(),
            ext: Ext {
                timeout: std::time::Duration::from_millis(500),
                unreachable: if open {
                    Unreachable::FailOpen
                } else {
                    Unreachable::FailClosed
                },
            },
        })),
    };
    let state = GuardState {
        post_external: vec![0],
        guards: Some(Arc::new(Guards::new(&[conf]))),
        ..GuardState::default()
    };
    StreamFilter::new(&state)
}

fn chunk(text: &str) -> String {
    format!(
        "data: {}\n\n",
        json!({"id": "c", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
    )
}

#[tokio::test]
async fn held_until_checked_and_resolved_by_unreachable_fallback() {
    let sse = format!("{}{}data: [DONE]\n\n", chunk("a "), chunk("b"));
    for open in [false, true] {
        let mut f = unreachable(open);
        let mut ctx = RequestCtx::default();
        let first = f.filter(&sse.as_bytes()[..10], false).unwrap();
        assert!(first.is_empty(), "held");
        assert!(!f.external_due(false));
        let rest = f.filter(&sse.as_bytes()[10..], true).unwrap();
        assert!(rest.is_empty(), "held");
        assert!(f.external_due(true));
        let r = f.check_external(&mut ctx).await;
        let notes = &ctx.guard.as_ref().unwrap().notes;
        assert_eq!(notes[0].status, "guardrail_failed_to_respond");
        match r {
            Ok(out) => {
                assert!(open);
                assert_eq!(out.as_ref(), sse.as_bytes(), "released unchanged");
            }
            Err(e) => {
                assert!(!open);
                assert_eq!(e.status, 503);
                assert!(e.message.contains("hook"), "{}", e.message);
            }
        }
    }
}

#[tokio::test]
async fn an_answer_over_the_cap_is_one_that_could_not_be_checked() {
    let big = chunk(&"x".repeat(64 << 10));
    for open in [false, true] {
        let mut f = unreachable(open);
        let mut ctx = RequestCtx::default();
        let mut n = 0;
        while !f.external_due(false) {
            assert!(f.filter(big.as_bytes(), false).unwrap().is_empty());
            n += 1;
        }
        assert!(n * big.len() > HOLD_CAP);
        let r = f.check_external(&mut ctx).await;
        assert_eq!(r.is_ok(), open);
        if open {
            assert_eq!(r.unwrap().len(), n * big.len());
            // Checked (or given up on): the rest passes through.
            assert_eq!(f.filter(big.as_bytes(), false).unwrap().len(), big.len());
        }
    }
}
