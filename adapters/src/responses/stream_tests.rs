use super::*;
use crate::responses::response::response_from_chat;

fn req(v: Value) -> Map<String, Value> {
    let Value::Object(m) = v else { panic!() };
    m
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let c = json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"up",
        "choices":[{"index":0,"delta":delta,"finish_reason":finish}]});
    format!("data: {c}\n\n")
}

fn usage_chunk(u: Value) -> String {
    let c = json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"up","choices":[],"usage":u});
    format!("data: {c}\n\n")
}

/// Runs a whole chat stream through a fresh encoder in the given pieces, then `finish`.
fn run(r: &Map<String, Value>, pieces: &[&[u8]]) -> (Vec<u8>, Option<Value>) {
    let mut s = StreamToResponses::new(r, "resp_t", 5);
    let mut out = BytesMut::new();
    for p in pieces {
        s.push(p, &mut out).unwrap();
    }
    s.finish(&mut out);
    let before = out.len();
    s.finish(&mut out);
    assert_eq!(out.len(), before, "finish is idempotent");
    (out.to_vec(), s.response())
}

/// The events of a Responses stream: checks the framing (`event:` line = the data's `type`),
/// the sequence numbers (0, 1, 2, …) and that there is no `[DONE]`.
fn events(bytes: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(bytes).unwrap();
    assert!(text.ends_with("\n\n"));
    assert!(!text.contains("[DONE]"));
    let mut out = Vec::new();
    for (i, ev) in text.trim_end().split("\n\n").enumerate() {
        let (event_line, data_line) = ev.split_once('\n').unwrap();
        let kind = event_line.strip_prefix("event: ").unwrap();
        let v: Value = serde_json::from_str(data_line.strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(v["type"], kind);
        assert_eq!(v["sequence_number"], i as u64);
        out.push(v);
    }
    out
}

fn types(evs: &[Value]) -> Vec<&str> {
    evs.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

fn text_stream() -> String {
    [
        chunk(json!({"role":"assistant","content":""}), None),
        chunk(json!({"content":"Hel"}), None),
        chunk(json!({"content":"lo."}), None),
        chunk(json!({}), Some("stop")),
        usage_chunk(
            json!({"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,
            "prompt_tokens_details":{"cached_tokens":4}}),
        ),
        "data: [DONE]\n\n".into(),
    ]
    .concat()
}

#[test]
fn text_stream_events_in_openai_order() {
    let r = req(json!({"model":"g","input":"hi","stream":true}));
    let sse = text_stream();
    let (out, resp) = run(&r, &[sse.as_bytes()]);
    let evs = events(&out);
    assert_eq!(
        types(&evs),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(evs[0]["response"]["status"], "in_progress");
    assert_eq!(evs[0]["response"]["output"], json!([]));
    assert_eq!(evs[2]["item"]["status"], "in_progress");
    assert_eq!(evs[2]["output_index"], 0);
    for e in &evs[3..9] {
        assert_eq!(e["item_id"].as_str().unwrap_or("msg_t00"), "msg_t00");
    }
    assert_eq!(evs[4]["delta"], "Hel");
    assert_eq!(evs[4]["content_index"], 0);
    assert_eq!(evs[4]["logprobs"], json!([]));
    assert_eq!(evs[6]["text"], "Hello.");
    assert_eq!(evs[7]["part"]["text"], "Hello.");
    assert_eq!(evs[8]["item"]["status"], "completed");
    let done = &evs[9]["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["usage"]["input_tokens_details"]["cached_tokens"], 4);
    assert_eq!(Some(done), resp.as_ref());
    // The stream ends with the same object a whole answer gives.
    let chat = json!({"choices":[{"message":{"role":"assistant","content":"Hello."},"finish_reason":"stop"}],
        "usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":4}}});
    assert_eq!(done, &response_from_chat(&chat, &r, "resp_t", 5));
}

#[test]
fn same_output_at_every_split_and_byte_by_byte() {
    let r = req(json!({"model":"g"}));
    let sse = [
        chunk(json!({"reasoning_content":"think"}), None),
        chunk(json!({"content":"A"}), None),
        chunk(
            json!({"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\""}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]}),
            None,
        ),
        chunk(json!({}), Some("tool_calls")),
    ]
    .concat()
    .replace("\n\n", "\r\n\r\n");
    let sse = sse.as_bytes();
    let (whole, resp) = run(&r, &[sse]);
    assert!(resp.is_some());
    for i in 0..=sse.len() {
        assert_eq!(run(&r, &[&sse[..i], &sse[i..]]).0, whole, "split at {i}");
    }
    let bytes: Vec<&[u8]> = sse.chunks(1).collect();
    assert_eq!(run(&r, &bytes).0, whole);
}

#[test]
fn parallel_tool_calls_stream_as_function_call_items() {
    let r = req(json!({"model":"g","tools":[{"type":"function","name":"get"}]}));
    let sse = [
        chunk(json!({"role":"assistant","content":null}), None),
        chunk(
            json!({"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get","arguments":""}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls":[{"index":0,"function":{"arguments":"{\"c\":\"P\"}"}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"get","arguments":"{\"c\":\"R\"}"}}]}),
            None,
        ),
        chunk(json!({}), Some("tool_calls")),
        usage_chunk(json!({"prompt_tokens":3,"completion_tokens":4})),
    ]
    .concat();
    let (out, resp) = run(&r, &[sse.as_bytes()]);
    let evs = events(&out);
    assert_eq!(
        types(&evs),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(
        evs[2]["item"],
        json!({"id":"fc_t00","type":"function_call","status":"in_progress","arguments":"","call_id":"call_a","name":"get"})
    );
    assert_eq!(evs[3]["item_id"], "fc_t00");
    assert_eq!(evs[4]["arguments"], "{\"c\":\"P\"}");
    assert_eq!(evs[5]["item"]["status"], "completed");
    assert_eq!(evs[6]["output_index"], 1);
    assert_eq!(evs[9]["item"]["call_id"], "call_b");
    assert_eq!(evs[9]["output_index"], 1);
    let resp = resp.unwrap();
    let calls: Vec<&str> = resp["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["call_id"].as_str().unwrap())
        .collect();
    assert_eq!(calls, ["call_a", "call_b"]);
    assert_eq!(resp["usage"]["total_tokens"], 7);
}

#[test]
fn reasoning_then_text_then_tool_call() {
    let r = req(json!({"model":"g","reasoning":{"effort":"low","summary":"auto"}}));
    let sse = [
        chunk(json!({"reasoning_content":"Let me "}), None),
        chunk(json!({"reasoning_content":"see."}), None),
        chunk(json!({"content":"Checking."}), None),
        chunk(
            json!({"tool_calls":[{"index":0,"id":"c9","function":{"name":"f","arguments":"{}"}}]}),
            None,
        ),
        chunk(json!({}), Some("tool_calls")),
    ]
    .concat();
    let (out, resp) = run(&r, &[sse.as_bytes()]);
    let evs = events(&out);
    assert_eq!(
        types(&evs)[2..],
        [
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(evs[6]["text"], "Let me see.");
    assert_eq!(evs[8]["item"]["summary"][0]["text"], "Let me see.");
    assert_eq!(evs[9]["output_index"], 1);
    assert_eq!(evs[15]["output_index"], 2);
    let resp = resp.unwrap();
    let kinds: Vec<&str> = resp["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["reasoning", "message", "function_call"]);
    assert!(resp.get("usage").is_none());
}

#[test]
fn length_finish_ends_incomplete() {
    let r = req(json!({"model":"g","max_output_tokens":2}));
    let sse = [
        chunk(json!({"content":"Once upon"}), None),
        chunk(json!({}), Some("length")),
        usage_chunk(json!({"prompt_tokens":3,"completion_tokens":2,"total_tokens":5})),
    ]
    .concat();
    let (out, resp) = run(&r, &[sse.as_bytes()]);
    let evs = events(&out);
    let last = evs.last().unwrap();
    assert_eq!(last["type"], "response.incomplete");
    assert_eq!(last["response"]["status"], "incomplete");
    assert_eq!(
        last["response"]["incomplete_details"],
        json!({"reason":"max_output_tokens"})
    );
    assert_eq!(evs[evs.len() - 2]["item"]["status"], "incomplete");
    assert_eq!(resp.unwrap()["output"][0]["status"], "incomplete");
}

#[test]
fn usage_in_the_finish_chunk_ends_at_once() {
    let r = req(json!({"model":"g"}));
    let c = json!({"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}],
        "usage":{"prompt_tokens":1,"completion_tokens":1}});
    let mut s = StreamToResponses::new(&r, "resp_t", 5);
    let mut out = BytesMut::new();
    s.push(format!("data: {c}\n\n").as_bytes(), &mut out)
        .unwrap();
    assert_eq!(s.response().unwrap()["status"], "completed");
    let n = out.len();
    s.push(b"data: [DONE]\n\n", &mut out).unwrap();
    s.finish(&mut out);
    assert_eq!(out.len(), n);
}

#[test]
fn a_stream_cut_short_still_completes() {
    let r = req(json!({"model":"g"}));
    let sse = chunk(json!({"content":"partial"}), None);
    let (out, resp) = run(&r, &[sse.as_bytes(), b"data: {\"trunc"]);
    let evs = events(&out);
    assert_eq!(evs.last().unwrap()["type"], "response.completed");
    assert_eq!(resp.unwrap()["output"][0]["content"][0]["text"], "partial");
    // Nothing at all: created, in_progress, completed with no output.
    let (out, _) = run(&r, &[]);
    assert_eq!(
        types(&events(&out)),
        [
            "response.created",
            "response.in_progress",
            "response.completed"
        ]
    );
}

#[test]
fn upstream_error_fails_the_response() {
    let r = req(json!({"model":"g"}));
    let sse = [
        chunk(json!({"content":"Hi"}), None),
        "data: {\"error\":{\"message\":\"overloaded\",\"type\":\"rate_limit_error\",\"code\":\"429\"}}\n\n"
            .into(),
        chunk(json!({"content":"ignored"}), None),
    ]
    .concat();
    let (out, resp) = run(&r, &[sse.as_bytes()]);
    let evs = events(&out);
    assert_eq!(
        types(&evs)[2..],
        [
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "error",
            "response.failed",
        ]
    );
    assert_eq!(evs[5]["message"], "overloaded");
    assert_eq!(evs[5]["code"], "429");
    let failed = &evs[6]["response"];
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        failed["error"],
        json!({"code":"rate_limit_exceeded","message":"overloaded"})
    );
    assert_eq!(failed["output"][0]["status"], "incomplete");
    assert_eq!(resp.as_ref(), Some(failed));
}

#[test]
fn gateway_failure_and_error_event() {
    let r = req(json!({"model":"g"}));
    let mut s = StreamToResponses::new(&r, "resp_t", 5);
    let mut out = BytesMut::new();
    s.push(chunk(json!({"content":"x"}), None).as_bytes(), &mut out)
        .unwrap();
    let e = ApiError::new(504, "timeout", "upstream timed out");
    s.fail(&e, &mut out);
    s.finish(&mut out);
    let evs = events(&out);
    assert_eq!(evs.last().unwrap()["type"], "response.failed");
    assert_eq!(
        evs.last().unwrap()["response"]["error"]["code"],
        "server_error"
    );
    let one = StreamToResponses::error_event(&e.with_param("model"));
    let evs = events(&one);
    assert_eq!(
        evs[0],
        json!({"type":"error","sequence_number":0,"code":"timeout","message":"upstream timed out","param":"model"})
    );
}

#[test]
fn broken_chunk_is_an_error() {
    let mut s = StreamToResponses::new(&req(json!({"model":"g"})), "resp_t", 5);
    let mut out = BytesMut::new();
    let e = s.push(b"data: {not json}\n\n", &mut out).unwrap_err();
    assert_eq!(e.status, 502);
}

#[test]
fn refusal_deltas_are_a_refusal_part() {
    let sse = [
        chunk(json!({"refusal":"I can"}), None),
        chunk(json!({"refusal":"not."}), None),
        chunk(json!({}), Some("stop")),
    ]
    .concat();
    let (out, resp) = run(&req(json!({"model":"g"})), &[sse.as_bytes()]);
    let evs = events(&out);
    assert!(types(&evs).contains(&"response.refusal.delta"));
    let done = evs
        .iter()
        .find(|e| e["type"] == "response.refusal.done")
        .unwrap();
    assert_eq!(done["refusal"], "I cannot.");
    assert_eq!(
        resp.unwrap()["output"][0]["content"],
        json!([{"type":"refusal","refusal":"I cannot."}])
    );
}

#[test]
fn a_late_fragment_for_a_closed_call_reaches_the_final_response() {
    let sse = [
        chunk(
            json!({"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{\"x\":"}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls":[{"index":1,"id":"b","function":{"name":"g","arguments":"{}"}}]}),
            None,
        ),
        chunk(json!({"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}), None),
        chunk(json!({}), Some("tool_calls")),
    ]
    .concat();
    let (out, resp) = run(&req(json!({"model":"g"})), &[sse.as_bytes()]);
    let evs = events(&out);
    let deltas = types(&evs)
        .iter()
        .filter(|t| **t == "response.function_call_arguments.delta")
        .count();
    assert_eq!(deltas, 2);
    let resp = resp.unwrap();
    assert_eq!(resp["output"][0]["arguments"], "{\"x\":1}");
    assert_eq!(resp["output"][1]["arguments"], "{}");
}
