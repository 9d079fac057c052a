use super::*;

fn req(v: Value) -> Map<String, Value> {
    let Value::Object(m) = v else { panic!() };
    m
}

fn chat(message: Value, finish: &str, usage: Value) -> Value {
    json!({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"up",
        "choices":[{"index":0,"message":message,"finish_reason":finish}],"usage":usage})
}

const USAGE: &str = r#"{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,
    "prompt_tokens_details":{"cached_tokens":60},"completion_tokens_details":{"reasoning_tokens":5}}"#;

#[test]
fn text_answer_with_echoed_defaults() {
    let c = chat(
        json!({"role":"assistant","content":"Hello."}),
        "stop",
        serde_json::from_str(USAGE).unwrap(),
    );
    let r = response_from_chat(&c, &req(json!({"model":"g","input":"hi"})), "resp_ab", 7);
    assert_eq!(
        r,
        json!({
            "id": "resp_ab", "object": "response", "created_at": 7, "status": "completed",
            "background": false, "error": null, "incomplete_details": null, "instructions": null,
            "max_output_tokens": null, "model": "g",
            "output": [{"id": "msg_ab00", "type": "message", "status": "completed", "role": "assistant",
                        "content": [{"type": "output_text", "text": "Hello.", "annotations": [], "logprobs": []}]}],
            "parallel_tool_calls": true, "previous_response_id": null,
            "reasoning": {"effort": null, "summary": null}, "store": true, "temperature": 1.0,
            "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [], "top_p": 1.0,
            "truncation": "disabled",
            "usage": {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 0},
                      "output_tokens": 20, "output_tokens_details": {"reasoning_tokens": 5}, "total_tokens": 120},
            "metadata": {}
        })
    );
}

#[test]
fn request_settings_are_echoed() {
    let tools = json!([{"type":"function","name":"f","parameters":{"type":"object"}}]);
    let r = response_from_chat(
        &chat(
            json!({"role":"assistant","content":"x"}),
            "stop",
            json!(null),
        ),
        &req(
            json!({"model":"g","instructions":"be brief","tools":tools,"tool_choice":"required",
            "temperature":0.2,"top_p":0.5,"max_output_tokens":99,"previous_response_id":"resp_0",
            "reasoning":{"effort":"low"},"text":{"verbosity":"low"},"parallel_tool_calls":false,
            "store":false,"metadata":{"k":"v"},"user":"u"}),
        ),
        "resp_1",
        1,
    );
    assert_eq!(r["instructions"], "be brief");
    assert_eq!(r["tools"], tools);
    assert_eq!(r["tool_choice"], "required");
    assert_eq!(r["temperature"], 0.2);
    assert_eq!(r["top_p"], 0.5);
    assert_eq!(r["max_output_tokens"], 99);
    assert_eq!(r["previous_response_id"], "resp_0");
    assert_eq!(r["reasoning"], json!({"effort":"low","summary":null}));
    assert_eq!(
        r["text"],
        json!({"format":{"type":"text"},"verbosity":"low"})
    );
    assert_eq!(r["parallel_tool_calls"], false);
    assert_eq!(r["store"], false);
    assert_eq!(r["metadata"], json!({"k":"v"}));
    assert_eq!(r["user"], "u");
    assert!(r.get("usage").is_none());
}

#[test]
fn text_and_parallel_tool_calls_in_one_response() {
    let c = chat(
        json!({"role":"assistant","content":"Let me check.","tool_calls":[
            {"id":"call_a","type":"function","function":{"name":"get","arguments":"{\"city\":\"Paris\"}"}},
            {"id":"call_b","type":"function","function":{"name":"get","arguments":"{\"city\":\"Rome\"}"}}]}),
        "tool_calls",
        json!({"prompt_tokens":5,"completion_tokens":9}),
    );
    let r = response_from_chat(&c, &req(json!({"model":"g"})), "resp_x", 1);
    assert_eq!(r["status"], "completed");
    let out = r["output"].as_array().unwrap();
    assert_eq!(out.len(), 3);
    assert_eq!(out[0]["type"], "message");
    assert_eq!(out[0]["content"][0]["text"], "Let me check.");
    assert_eq!(
        out[1],
        json!({"id":"fc_x01","type":"function_call","status":"completed",
            "arguments":"{\"city\":\"Paris\"}","call_id":"call_a","name":"get"})
    );
    assert_eq!(out[2]["call_id"], "call_b");
    assert_eq!(out[2]["id"], "fc_x02");
    assert_eq!(r["usage"]["total_tokens"], 14);
    assert_eq!(r["usage"]["input_tokens_details"]["cached_tokens"], 0);
}

#[test]
fn tool_call_only_gets_a_call_id_when_missing() {
    let c = chat(
        json!({"role":"assistant","content":null,"tool_calls":[
            {"type":"function","function":{"name":"f","arguments":""}}]}),
        "tool_calls",
        json!(null),
    );
    let r = response_from_chat(&c, &req(json!({"model":"g"})), "resp_x", 1);
    let out = r["output"].as_array().unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["call_id"], "call_x00");
    assert_eq!(out[0]["arguments"], "");
}

#[test]
fn length_finish_is_incomplete() {
    let c = chat(
        json!({"role":"assistant","content":"Once upon"}),
        "length",
        json!({"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}),
    );
    let r = response_from_chat(
        &c,
        &req(json!({"model":"g","max_output_tokens":2})),
        "resp_x",
        1,
    );
    assert_eq!(r["status"], "incomplete");
    assert_eq!(
        r["incomplete_details"],
        json!({"reason":"max_output_tokens"})
    );
    assert_eq!(r["output"][0]["status"], "incomplete");
    let c = chat(
        json!({"role":"assistant","content":""}),
        "content_filter",
        json!(null),
    );
    let r = response_from_chat(&c, &req(json!({"model":"g"})), "resp_x", 1);
    assert_eq!(r["incomplete_details"]["reason"], "content_filter");
    assert_eq!(r["output"], json!([]));
}

#[test]
fn reasoning_refusal_and_cache_writes() {
    let c = chat(
        json!({"role":"assistant","content":[{"type":"text","text":"4"}],"reasoning_content":"2+2","refusal":"no"}),
        "stop",
        json!({"prompt_tokens":10,"completion_tokens":3,"cache_creation_input_tokens":8}),
    );
    let r = response_from_chat(&c, &req(json!({"model":"g"})), "resp_x", 1);
    let out = r["output"].as_array().unwrap();
    assert_eq!(
        out[0],
        json!({"id":"rs_x00","type":"reasoning","summary":[{"type":"summary_text","text":"2+2"}]})
    );
    assert_eq!(out[1]["id"], "msg_x01");
    assert_eq!(
        out[1]["content"],
        json!([{"type":"output_text","text":"4","annotations":[],"logprobs":[]},{"type":"refusal","refusal":"no"}])
    );
    assert_eq!(r["usage"]["input_tokens_details"]["cache_write_tokens"], 8);
}

#[test]
fn error_body_is_openai_shaped() {
    let e = ApiError::new(400, "invalid_request_error", "bad").with_param("tools");
    let v: Value = serde_json::from_slice(&error_body(&e)).unwrap();
    assert_eq!(
        v,
        json!({"error":{"message":"bad","type":"invalid_request_error","param":"tools","code":null}})
    );
}
