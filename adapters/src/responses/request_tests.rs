use super::*;

fn tr(v: Value) -> Translated {
    tr_with(v, &[])
}

fn tr_with(v: Value, history: &[Value]) -> Translated {
    let Value::Object(m) = v else { panic!() };
    translate(m, history).unwrap()
}

fn err(v: Value) -> ApiError {
    let Value::Object(m) = v else { panic!() };
    translate(m, &[]).unwrap_err()
}

#[test]
fn string_input_and_instructions() {
    let t = tr(json!({"model":"g","instructions":"be brief","input":"hi"}));
    assert_eq!(t.req.endpoint, Endpoint::ChatCompletions);
    assert_eq!(t.req.model, "g");
    assert!(!t.req.stream);
    assert_eq!(
        t.req.body["messages"],
        json!([{"role":"system","content":"be brief"},{"role":"user","content":"hi"}])
    );
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
}

#[test]
fn item_input_maps_roles_and_parts() {
    let t = tr(json!({"model":"g","input":[
        {"role":"developer","content":"rules"},
        {"type":"message","role":"system","content":[{"type":"input_text","text":"more"}]},
        {"type":"message","role":"user","content":[
            {"type":"input_text","text":"look"},
            {"type":"input_image","image_url":"data:image/png;base64,AAA","detail":"low"},
            {"type":"input_file","filename":"a.pdf","file_data":"data:application/pdf;base64,BBB"}]},
        {"type":"message","role":"assistant","content":[{"type":"output_text","text":"seen","annotations":[]},{"type":"refusal","refusal":"!"}]},
        {"role":"user","content":[{"type":"input_text","text":"ok"}]}
    ]}));
    assert_eq!(
        t.req.body["messages"],
        json!([
            {"role":"system","content":"rules"},
            {"role":"system","content":"more"},
            {"role":"user","content":[
                {"type":"text","text":"look"},
                {"type":"image_url","image_url":{"url":"data:image/png;base64,AAA","detail":"low"}},
                {"type":"file","file":{"filename":"a.pdf","file_data":"data:application/pdf;base64,BBB"}}]},
            {"role":"assistant","content":"seen!"},
            {"role":"user","content":"ok"}
        ])
    );
}

#[test]
fn tool_call_round_trip_and_parallel_calls() {
    // Earlier turn (history): the user asked, the model answered with text and two calls.
    let history = [
        json!({"id":"msg_1","type":"message","role":"user","content":[{"type":"input_text","text":"weather?"}]}),
        json!({"id":"rs_1","type":"reasoning","summary":[]}),
        json!({"id":"msg_2","type":"message","role":"assistant","status":"completed","content":[{"type":"output_text","text":"Checking.","annotations":[]}]}),
        json!({"id":"fc_1","type":"function_call","call_id":"call_a","name":"get","arguments":"{\"city\":\"Paris\"}","status":"completed"}),
        json!({"id":"fc_2","type":"function_call","call_id":"call_b","name":"get","arguments":"{\"city\":\"Rome\"}","status":"completed"}),
    ];
    let t = tr_with(
        json!({"model":"g","previous_response_id":"resp_1","input":[
            {"type":"function_call_output","call_id":"call_a","output":"sunny"},
            {"type":"function_call_output","call_id":"call_b","output":[{"type":"input_text","text":"rain"}]}
        ]}),
        &history,
    );
    assert_eq!(
        t.req.body["messages"],
        json!([
            {"role":"user","content":"weather?"},
            {"role":"assistant","content":"Checking.","tool_calls":[
                {"id":"call_a","type":"function","function":{"name":"get","arguments":"{\"city\":\"Paris\"}"}},
                {"id":"call_b","type":"function","function":{"name":"get","arguments":"{\"city\":\"Rome\"}"}}]},
            {"role":"tool","tool_call_id":"call_a","content":"sunny"},
            {"role":"tool","tool_call_id":"call_b","content":"rain"}
        ])
    );
    assert!(t.req.body.get("previous_response_id").is_none());
    assert_eq!(t.skipped.len(), 1);
    assert!(t.skipped[0].contains("1 reasoning item"), "{:?}", t.skipped);
}

#[test]
fn calls_without_text_start_an_assistant_message() {
    let t = tr(json!({"model":"g","input":[
        {"role":"user","content":"go"},
        {"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},
        {"type":"function_call_output","call_id":"c1","output":"1"},
        {"type":"function_call","call_id":"c2","name":"f","arguments":"{}"},
        {"type":"function_call_output","call_id":"c2","output":[{"type":"input_image","image_url":"https://x/y.png"}]}
    ]}));
    let m = t.req.body["messages"].as_array().unwrap();
    assert_eq!(m.len(), 6);
    assert_eq!(m[1]["content"], Value::Null);
    assert_eq!(m[1]["tool_calls"][0]["id"], "c1");
    assert_eq!(m[2]["role"], "tool");
    assert_eq!(m[3]["tool_calls"][0]["id"], "c2");
    assert_eq!(m[3]["tool_calls"].as_array().unwrap().len(), 1);
    assert_eq!(m[4]["role"], "tool");
    assert!(m[4]["content"].as_str().unwrap().contains("attached"));
    assert_eq!(
        m[5],
        json!({"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]})
    );
}

#[test]
fn item_reference_resolves_from_history_or_is_refused() {
    let history = [json!({"id":"msg_9","type":"message","role":"user","content":"earlier"})];
    let t = tr_with(
        json!({"model":"g","input":[{"type":"item_reference","id":"msg_9"},{"role":"user","content":"now"}]}),
        &history,
    );
    let m = t.req.body["messages"].as_array().unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(m[1], json!({"role":"user","content":"earlier"}));
    let e = err(json!({"model":"g","input":[{"type":"item_reference","id":"msg_x"}]}));
    assert_eq!(e.param.as_deref(), Some("input"));
    assert!(
        e.message.contains("item_reference 'msg_x'"),
        "{}",
        e.message
    );
}

#[test]
fn function_tools_map_and_builtin_tools_are_refused_by_name() {
    let t = tr(json!({"model":"g","input":"x","tools":[
        {"type":"function","name":"get","description":"d","parameters":{"type":"object"},"strict":true},
        {"type":"function","name":"bare","parameters":null}
    ],"tool_choice":{"type":"function","name":"get"},"parallel_tool_calls":false}));
    assert_eq!(
        t.req.body["tools"],
        json!([
            {"type":"function","function":{"name":"get","description":"d","parameters":{"type":"object"},"strict":true}},
            {"type":"function","function":{"name":"bare"}}
        ])
    );
    assert_eq!(
        t.req.body["tool_choice"],
        json!({"type":"function","function":{"name":"get"}})
    );
    assert_eq!(t.req.body["parallel_tool_calls"], false);
    for kind in [
        "web_search",
        "web_search_preview",
        "file_search",
        "code_interpreter",
        "computer_use_preview",
        "image_generation",
        "mcp",
        "local_shell",
        "custom",
    ] {
        let e = err(
            json!({"model":"g","input":"x","tools":[{"type":"function","name":"f"},{"type":kind}]}),
        );
        assert_eq!(e.status, 400);
        assert_eq!(e.param.as_deref(), Some("tools"));
        assert!(
            e.message.starts_with(&format!(
                "tool type '{kind}' is not supported for this model"
            )),
            "{}",
            e.message
        );
    }
}

#[test]
fn tool_choice_strings_and_allowed_tools() {
    for c in ["auto", "none", "required"] {
        let t = tr(
            json!({"model":"g","input":"x","tools":[{"type":"function","name":"f"}],"tool_choice":c}),
        );
        assert_eq!(t.req.body["tool_choice"], c);
    }
    let t = tr(
        json!({"model":"g","input":"x","tools":[{"type":"function","name":"a"},{"type":"function","name":"b"}],
        "tool_choice":{"type":"allowed_tools","mode":"required","tools":[{"type":"function","name":"b"}]}}),
    );
    assert_eq!(t.req.body["tool_choice"], "required");
    assert_eq!(t.req.body["tools"].as_array().unwrap().len(), 1);
    assert_eq!(t.req.body["tools"][0]["function"]["name"], "b");
    let e = err(json!({"model":"g","input":"x","tool_choice":{"type":"web_search_preview"}}));
    assert_eq!(e.param.as_deref(), Some("tool_choice"));
    assert!(e.message.contains("web_search_preview"));
}

#[test]
fn parameters_map_to_chat() {
    let t = tr(
        json!({"model":"g","input":"x","max_output_tokens":300,"temperature":0.5,"top_p":0.9,
        "user":"u1","metadata":{"tags":["a"]},"stream":true,"store":false,"previous_response_id":null,
        "reasoning":{"effort":"high","summary":"auto"},
        "text":{"format":{"type":"json_schema","name":"out","schema":{"type":"object"},"strict":true},"verbosity":"low"},
        "include":["reasoning.encrypted_content"],"truncation":"disabled","prompt_cache_key":"k","tags":["t"],"num_retries":2}),
    );
    let b = &t.req.body;
    assert_eq!(b["max_tokens"], 300);
    assert_eq!(b["temperature"], 0.5);
    assert_eq!(b["top_p"], 0.9);
    assert_eq!(b["user"], "u1");
    assert_eq!(b["metadata"], json!({"tags":["a"]}));
    assert_eq!(b["tags"], json!(["t"]));
    assert_eq!(b["num_retries"], 2);
    assert!(t.req.stream && t.req.include_usage);
    assert_eq!(b["stream_options"], json!({"include_usage": true}));
    assert_eq!(b["reasoning_effort"], "high");
    assert_eq!(
        b["response_format"],
        json!({"type":"json_schema","json_schema":{"name":"out","schema":{"type":"object"},"strict":true}})
    );
    for absent in [
        "store",
        "previous_response_id",
        "include",
        "truncation",
        "input",
        "prompt_cache_key",
        "max_output_tokens",
        "text",
        "reasoning",
    ] {
        assert!(b.get(absent).is_none(), "{absent}");
    }
    let skipped = t.skipped.join("\n");
    for word in [
        "reasoning.summary",
        "text.verbosity",
        "include \"reasoning.encrypted_content\"",
        "prompt_cache_key",
    ] {
        assert!(skipped.contains(word), "{word} in {skipped}");
    }
    let t = tr(
        json!({"model":"g","input":"x","text":{"format":{"type":"json_object"}},"reasoning":{"effort":"xhigh"}}),
    );
    assert_eq!(t.req.body["response_format"], json!({"type":"json_object"}));
    assert_eq!(t.req.body["reasoning_effort"], "high");
    let t = tr(json!({"model":"g","input":"x","text":{"format":{"type":"text"}}}));
    assert!(t.req.body.get("response_format").is_none());
}

#[test]
fn refusals_name_their_field() {
    let cases = [
        (json!({"input":"x"}), "model"),
        (
            json!({"model":"g","input":"x","background":true}),
            "background",
        ),
        (json!({"model":"g"}), "input"),
        (json!({"model":"g","input":5}), "input"),
        (
            json!({"model":"g","input":[{"role":"robot","content":"x"}]}),
            "input",
        ),
        (json!({"model":"g","input":[{"content":"x"}]}), "input"),
        (
            json!({"model":"g","input":[{"type":"function_call_output","output":"x"}]}),
            "input",
        ),
        (
            json!({"model":"g","input":"x","tools":[{"type":"function"}]}),
            "tools",
        ),
        (
            json!({"model":"g","input":"x","tool_choice":"sometimes"}),
            "tool_choice",
        ),
        (
            json!({"model":"g","input":"x","reasoning":{"effort":"max"}}),
            "reasoning.effort",
        ),
        (
            json!({"model":"g","input":"x","text":{"format":{"type":"xml"}}}),
            "text.format.type",
        ),
        (
            json!({"model":"g","input":"x","text":{"format":{"type":"json_schema"}}}),
            "text.format.schema",
        ),
        (
            json!({"model":"g","input":"x","max_output_tokens":-5}),
            "max_output_tokens",
        ),
        (
            json!({"model":"g","input":"x","temperature":"hot"}),
            "temperature",
        ),
    ];
    for (body, param) in cases {
        let e = err(body.clone());
        assert_eq!(e.status, 400, "{body}");
        assert_eq!(e.param.as_deref(), Some(param), "{body}: {}", e.message);
    }
    let e = err(
        json!({"model":"g","input":[{"role":"user","content":[{"type":"input_image","file_id":"file-1"}]}]}),
    );
    assert!(
        e.message.contains("input_image with file_id"),
        "{}",
        e.message
    );
    let e = err(
        json!({"model":"g","input":[{"role":"user","content":[{"type":"input_file","file_id":"file-1"}]}]}),
    );
    assert!(
        e.message.contains("input_file with file_id"),
        "{}",
        e.message
    );
    let e = err(
        json!({"model":"g","input":[{"role":"assistant","content":[{"type":"input_image","image_url":"u"}]}]}),
    );
    assert!(e.message.contains("only allowed in user messages"));
}

#[test]
fn unknown_items_parts_and_fields_are_skipped_not_fatal() {
    let t = tr(json!({"model":"g","input":[
        {"role":"user","content":[{"type":"input_text","text":"a"},{"type":"brand_new_part"}]},
        {"type":"web_search_call","id":"ws_1","status":"completed"},
        {"type":"brand_new_item"}
    ],"brand_new_field":{"x":1},"service_tier":"auto"}));
    assert_eq!(
        t.req.body["messages"],
        json!([{"role":"user","content":"a"}])
    );
    assert!(t.req.body.get("brand_new_field").is_none());
    let skipped = t.skipped.join("\n");
    for word in [
        "brand_new_part",
        "web_search_call",
        "brand_new_item",
        "brand_new_field",
        "service_tier",
    ] {
        assert!(skipped.contains(word), "{word} in {skipped}");
    }
}
