use super::*;

fn parsed(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

#[test]
fn read_takes_the_view_and_keeps_everything() {
    let body = br#"{"model":"g","input":"hi","stream":true,"max_output_tokens":64,"store":false,"previous_response_id":"resp_1","user":"u","metadata":{"k":"v"},"brand_new":{"x":[1]}}"#;
    let (view, raw) = read(body).unwrap();
    assert_eq!(
        view,
        View {
            model: "g".into(),
            stream: true,
            max_output_tokens: Some(64),
            store: false,
            previous_response_id: Some("resp_1".into()),
            user: Some("u".into()),
            metadata: Some(json!({"k": "v"})),
        }
    );
    assert_eq!(raw["brand_new"], json!({"x": [1]}));
}

#[test]
fn read_defaults_store_to_true_and_null_to_absent() {
    let (view, _) = read(br#"{"model":"g","stream":null,"store":null,"user":null}"#).unwrap();
    assert!(view.store && !view.stream);
    assert_eq!(view.user, None);
    assert_eq!(view.max_output_tokens, None);
    // Unknown tools, items and parameters are not read here, so not refused.
    read(br#"{"model":"g","tools":[{"type":"web_search"}],"input":[{"type":"x"}]}"#).unwrap();
}

#[test]
fn read_names_the_bad_field() {
    let cases: [(&[u8], &str); 9] = [
        (br#"{"input":"x"}"#, "model"),
        (br#"{"model":"","input":"x"}"#, "model"),
        (br#"{"model":3}"#, "model"),
        (br#"{"model":"g","stream":"yes"}"#, "stream"),
        (br#"{"model":"g","store":1}"#, "store"),
        (
            br#"{"model":"g","max_output_tokens":-1}"#,
            "max_output_tokens",
        ),
        (
            br#"{"model":"g","max_output_tokens":1.5}"#,
            "max_output_tokens",
        ),
        (
            br#"{"model":"g","previous_response_id":7}"#,
            "previous_response_id",
        ),
        (br#"{"model":"g","metadata":"m"}"#, "metadata"),
    ];
    for (body, param) in cases {
        let e = read(body).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.kind, "invalid_request_error");
        assert_eq!(e.param.as_deref(), Some(param), "{}", e.message);
        assert!(e.message.contains(param), "{}", e.message);
    }
    let e = read(br#"{"model":"g","stream":"yes"}"#).unwrap_err();
    assert_eq!(
        e.message,
        "Invalid type for 'stream': expected a boolean, but got a string instead."
    );
    let e = read(br#"{"model":"g","user":["u"]}"#).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("user"));
    assert!(read(b"[1]").is_err());
    assert!(read(b"{\"model\":")
        .unwrap_err()
        .message
        .starts_with("Invalid JSON"));
}

#[test]
fn passthrough_replaces_only_model_without_history() {
    let raw = parsed(
        json!({"model":"g","input":"hi","previous_response_id":"resp_1","tools":[{"type":"web_search"}],"x":1.5}),
    );
    let out: Value = serde_json::from_slice(&passthrough_body(&raw, "gpt-4.1", &[], None)).unwrap();
    let mut expected = raw.clone();
    expected.insert("model".into(), json!("gpt-4.1"));
    assert_eq!(out, Value::Object(expected));
}

#[test]
fn passthrough_puts_history_before_the_input() {
    let history = [
        json!({"type":"message","role":"user","id":"msg_a","content":[{"type":"input_text","text":"first"}]}),
        json!({"type":"message","role":"assistant","id":"msg_b","status":"completed","content":[{"type":"output_text","text":"answer","annotations":[]}]}),
    ];
    let raw =
        parsed(json!({"model":"g","input":"second","previous_response_id":"resp_1","stream":true}));
    let out: Value =
        serde_json::from_slice(&passthrough_body(&raw, "up", &history, Some(100))).unwrap();
    assert_eq!(out["model"], "up");
    assert!(out.get("previous_response_id").is_none());
    assert_eq!(out["max_output_tokens"], 100);
    assert_eq!(out["stream"], true);
    let input = out["input"].as_array().unwrap();
    assert_eq!(input.len(), 3);
    assert_eq!(input[..2], history);
    assert_eq!(
        input[2],
        json!({"type":"message","role":"user","content":[{"type":"input_text","text":"second"}]})
    );
    // Item input is appended as sent.
    let raw = parsed(
        json!({"model":"g","input":[{"type":"function_call_output","call_id":"c","output":"42"}]}),
    );
    let out: Value = serde_json::from_slice(&passthrough_body(&raw, "up", &history, None)).unwrap();
    assert_eq!(out["input"][2], raw["input"][0]);
    assert!(out.get("max_output_tokens").is_none());
}

#[test]
fn input_items_normalize_and_give_ids() {
    let raw = parsed(json!({"model":"g","input":"hi"}));
    let items = input_items(&raw);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["type"], "message");
    assert_eq!(items[0]["role"], "user");
    assert_eq!(
        items[0]["content"],
        json!([{"type":"input_text","text":"hi"}])
    );
    assert!(items[0]["id"].as_str().unwrap().starts_with("msg_"));

    let raw = parsed(json!({"model":"g","input":[
        {"role":"developer","content":"be brief"},
        {"role":"assistant","content":"ok"},
        {"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},
        {"type":"function_call_output","call_id":"c1","output":"42","id":"fco_keep"},
        {"type":"message","role":"user","content":[{"type":"input_text","text":"q"}]}
    ]}));
    let items = input_items(&raw);
    assert_eq!(items[0]["type"], "message");
    assert_eq!(
        items[0]["content"],
        json!([{"type":"input_text","text":"be brief"}])
    );
    assert_eq!(
        items[1]["content"],
        json!([{"type":"output_text","text":"ok","annotations":[]}])
    );
    assert!(items[2]["id"].as_str().unwrap().starts_with("fc_"));
    assert_eq!(items[2]["call_id"], "c1");
    assert_eq!(items[3]["id"], "fco_keep");
    assert!(items[4]["id"].as_str().unwrap().starts_with("msg_"));
    assert!(input_items(&parsed(json!({"model":"g"}))).is_empty());
}

#[test]
fn output_and_usage_of_a_response() {
    let resp = json!({"id":"resp_1","object":"response","output":[{"type":"message","id":"msg_1"}],
        "usage":{"input_tokens":30,"input_tokens_details":{"cached_tokens":10},"output_tokens":5,
                 "output_tokens_details":{"reasoning_tokens":0},"total_tokens":35}});
    assert_eq!(
        output_items(&resp),
        vec![json!({"type":"message","id":"msg_1"})]
    );
    assert_eq!(usage(&resp), Some((30, 5, 10)));
    assert_eq!(usage(&json!({"usage":null})), None);
    assert_eq!(usage(&json!({"usage":{"input_tokens":3}})), Some((3, 0, 0)));
    assert!(output_items(&json!({})).is_empty());
}

const NATIVE: &[u8] = b"event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\",\"output\":[]}}\n\n\
event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"delta\":\"says response.completed\"}\n\n\
: keep-alive\n\n\
event: response.completed\r\ndata: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":{\"id\":\"resp_1\",\"status\":\"completed\",\"usage\":{\"input_tokens\":7,\"output_tokens\":2,\"input_tokens_details\":{\"cached_tokens\":4}}}}\r\n\r\n";

#[test]
fn native_stream_finds_the_final_response_at_every_split() {
    for i in 0..=NATIVE.len() {
        let mut s = NativeStream::new();
        s.push(&NATIVE[..i]);
        s.push(&NATIVE[i..]);
        s.finish();
        let r = s.final_response().expect("final response");
        assert_eq!(r["status"], "completed", "split at {i}");
        assert_eq!(usage(r), Some((7, 2, 4)));
    }
    let mut s = NativeStream::new();
    for b in NATIVE {
        s.push(std::slice::from_ref(b));
    }
    assert_eq!(s.final_response().unwrap()["id"], "resp_1");
    assert!(s.error().is_none());
}

#[test]
fn native_stream_keeps_incomplete_failed_and_errors() {
    let mut s = NativeStream::new();
    s.push(b"data: {\"type\":\"response.incomplete\",\"response\":{\"status\":\"incomplete\"}}");
    assert!(s.final_response().is_none());
    s.finish();
    assert_eq!(s.final_response().unwrap()["status"], "incomplete");

    let mut s = NativeStream::new();
    s.push(b"event: error\ndata: {\"type\":\"error\",\"code\":\"server_error\",\"message\":\"boom\"}\n\n");
    s.push(b"event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"status\":\"failed\"}}\n\n");
    assert_eq!(s.error().unwrap()["message"], "boom");
    assert_eq!(s.final_response().unwrap()["status"], "failed");
}

#[test]
fn native_stream_finds_an_error_event_without_an_event_line_and_skips_null_errors() {
    let mut s = NativeStream::new();
    // Every response object carries `"error":null`: not an error event.
    s.push(b"data: {\"type\":\"response.created\",\"response\":{\"status\":\"in_progress\",\"error\":null}}\n\n");
    assert!(s.error().is_none());
    s.push(b"data: {\"type\": \"error\", \"message\": \"boom\"}\n\n");
    assert_eq!(s.error().unwrap()["message"], "boom");
}
