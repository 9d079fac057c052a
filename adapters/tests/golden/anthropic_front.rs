//! The Anthropic `/v1/messages` front door (`adapters::anthropic::front`), loaded from
//! `tests/fixtures/anthropic_front/<case>/`:
//! - `anthropic_request.json` → `openai_request.json` (`to_canonical`),
//! - `openai_response.json` → `anthropic_response.json` (`response_from_canonical`),
//! - `openai_stream.txt` → `anthropic_stream.txt` (`StreamToAnthropic`, re-fed split at every
//!   byte boundary and one byte at a time),
//! - `count_tokens_request.json` → `count_tokens_response.json`,
//! - `with_model_request.json` → `with_model_expected.json` (byte-exact),
//! - `bad_requests/cases.json`: requests that must be refused with a 400 naming the field.
//!
//! JSON is compared parsed, so key order does not matter.

use adapters::anthropic::front::{
    error_body, parse_object, reasoning_effort, response_from_canonical, to_canonical, translate,
    StreamToAnthropic, Translation,
};
use adapters::anthropic::passthrough::{count_tokens, with_model};
use adapters::{ApiError, Endpoint};
use bytes::BytesMut;
use serde_json::{json, Value};

use crate::harness::{parse, same_at_every_split, Fixtures};

const STREAM_ID: &str = "msg_test01";
const DEFAULT_MODEL: &str = "claude-test";
const UPSTREAM_MODEL: &str = "claude-sonnet-4-5-20250929";

fn fx() -> Fixtures {
    Fixtures::new("anthropic_front")
}

fn read(case: &str, file: &str) -> Option<Vec<u8>> {
    fx().read(case, file)
}

/// The model the client asked for: the case's request `model`, else [`DEFAULT_MODEL`].
fn requested_model(case: &str) -> String {
    read(case, "anthropic_request.json")
        .map(|b| parse(&b, "request")["model"].as_str().unwrap().to_string())
        .unwrap_or_else(|| DEFAULT_MODEL.to_string())
}

/// Runs every case holding `input`, returning how many ran.
fn each_case(input: &str, mut check: impl FnMut(&str, Vec<u8>)) -> usize {
    let mut ran = 0;
    for case in fx().cases() {
        if let Some(bytes) = read(&case, input) {
            check(&case, bytes);
            ran += 1;
        }
    }
    ran
}

#[test]
fn every_fixture_directory_is_used() {
    let known = [
        "anthropic_request.json",
        "openai_response.json",
        "openai_stream.txt",
        "count_tokens_request.json",
        "with_model_request.json",
        "cases.json",
    ];
    for case in fx().cases() {
        assert!(
            known.iter().any(|f| read(&case, f).is_some()),
            "fixture case {case} has no input file this test reads"
        );
    }
    for required in [
        "simple_text",
        "system_multi_turn",
        "image",
        "tools_round_trip",
        "stream_text",
        "stream_tool_call",
        "stream_error",
        "count_tokens",
        "with_model",
        "bad_requests",
        "system_turns_and_thinking",
        "unknown_blocks",
    ] {
        assert!(
            fx().path(required, "").is_dir(),
            "missing fixture case {required}"
        );
    }
}

#[test]
fn requests_translate_to_the_canonical_chat_request() {
    let ran = each_case("anthropic_request.json", |case, body| {
        let req = to_canonical(&body).unwrap_or_else(|e| panic!("{case}: {e:?}"));
        let body = Value::Object(req.body.clone());
        fx().expect_json(case, "openai_request.json", &body);
        assert_eq!(req.endpoint, Endpoint::ChatCompletions, "{case}");
        assert_eq!(req.model, body["model"].as_str().unwrap(), "{case}");
        let stream = body["stream"] == true;
        assert_eq!(req.stream, stream, "{case}: stream");
        assert_eq!(req.include_usage, stream, "{case}: include_usage");
    });
    assert!(ran >= 7, "only {ran} request cases ran");
}

#[test]
fn responses_translate_to_anthropic_messages() {
    let ran = each_case("openai_response.json", |case, body| {
        let out = response_from_canonical(&body, &requested_model(case))
            .unwrap_or_else(|e| panic!("{case}: {e:?}"));
        fx().expect_json(case, "anthropic_response.json", &parse(&out, case));
    });
    assert!(ran >= 5, "only {ran} response cases ran");
}

/// Feeds `chunks` then `finish()`.
fn run_stream(model: &str, chunks: &[&[u8]]) -> Vec<u8> {
    let mut s = StreamToAnthropic::new(model, STREAM_ID);
    let mut out = BytesMut::new();
    for c in chunks {
        s.push(c, &mut out).expect("push");
    }
    s.finish(&mut out);
    out.to_vec()
}

/// Anthropic SSE → (event name, data); checks the framing (`event:` + `data:` + blank line)
/// and that each event's name equals its data `type`.
fn events(sse: &[u8], what: &str) -> Vec<(String, Value)> {
    let text = std::str::from_utf8(sse).expect("UTF-8 SSE");
    assert!(
        text.is_empty() || text.ends_with("\n\n"),
        "{what}: unterminated event"
    );
    text.split_terminator("\n\n")
        .map(|ev| {
            let lines: Vec<&str> = ev.lines().collect();
            assert_eq!(lines.len(), 2, "{what}: event {ev:?} is not event+data");
            let name = lines[0].strip_prefix("event: ").expect("event line");
            let data = parse(
                lines[1]
                    .strip_prefix("data: ")
                    .expect("data line")
                    .as_bytes(),
                what,
            );
            assert_eq!(data["type"], name, "{what}: event name vs data type");
            (name.to_string(), data)
        })
        .collect()
}

#[test]
fn streams_translate_identically_at_every_split() {
    let ran = each_case("openai_stream.txt", |case, input| {
        let model = requested_model(case);
        let whole = same_at_every_split(case, &input, |chunks| run_stream(&model, chunks));
        fx().expect_parsed(case, "anthropic_stream.txt", &whole, events);
    });
    assert!(ran >= 6, "only {ran} stream cases ran");
}

#[test]
fn content_block_indexes_count_from_zero_and_every_block_closes() {
    each_case("openai_stream.txt", |case, input| {
        let out = run_stream(&requested_model(case), &[&input]);
        let evs = events(&out, case);
        let mut open: Option<u64> = None;
        let mut next = 0;
        for (name, data) in &evs {
            match name.as_str() {
                "content_block_start" => {
                    assert_eq!(open, None, "{case}: block opened while another is open");
                    assert_eq!(data["index"], next, "{case}: index");
                    open = Some(next);
                    next += 1;
                }
                "content_block_delta" => assert_eq!(Some(data["index"].as_u64().unwrap()), open),
                "content_block_stop" => {
                    assert_eq!(Some(data["index"].as_u64().unwrap()), open, "{case}");
                    open = None;
                }
                "message_delta" => assert_eq!(open, None, "{case}: message_delta with open block"),
                _ => {}
            }
        }
        let last = &evs.last().unwrap().0;
        assert!(
            last == "message_stop" || last == "error",
            "{case}: ends with {last}"
        );
    });
}

#[test]
fn count_tokens_estimates_from_content_bytes() {
    let ran = each_case("count_tokens_request.json", |case, body| {
        let out = count_tokens(&body).unwrap_or_else(|e| panic!("{case}: {e:?}"));
        fx().expect_json(case, "count_tokens_response.json", &parse(&out, case));
    });
    assert_eq!(ran, 1);
    let tiny = count_tokens(br#"{"model":"m","messages":[{"role":"user","content":""}]}"#);
    assert_eq!(parse(&tiny.unwrap(), "tiny"), json!({"input_tokens": 1}));
    let e = count_tokens(br#"{"model":"m"}"#).unwrap_err();
    assert_eq!((e.status, e.param.as_deref()), (400, Some("messages")));
}

#[test]
fn with_model_replaces_only_the_top_level_model() {
    let ran = each_case("with_model_request.json", |case, body| {
        let out = with_model(&body, UPSTREAM_MODEL);
        fx().expect_text(case, "with_model_expected.json", &out);
        let (mut before, after) = (parse(&body, case), parse(&out, case));
        before["model"] = json!(UPSTREAM_MODEL);
        assert_eq!(after, before, "{case}: only model changed");
    });
    assert_eq!(ran, 1);
    let escaped = with_model(br#"{"mod\u0065l":"a","x":{"model":"b"}}"#, "c\"d");
    assert_eq!(escaped, br#"{"mod\u0065l":"c\"d","x":{"model":"b"}}"#);
    let no_model = br#"{"messages":[{"model":"m"}]}"#;
    assert_eq!(
        with_model(no_model, "x"),
        no_model,
        "nothing else is touched"
    );
}

#[test]
fn bad_requests_are_a_400_naming_the_field() {
    let cases = parse(&read("bad_requests", "cases.json").unwrap(), "cases");
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 10);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let body = serde_json::to_vec(&c["body"]).unwrap();
        let e = to_canonical(&body).expect_err(name);
        assert_eq!(e.status, 400, "{name}");
        assert_eq!(e.kind, "invalid_request_error", "{name}");
        assert_eq!(e.param.as_deref(), c["param"].as_str(), "{name}: {e:?}");
        let needle = c["message_contains"].as_str().unwrap();
        assert!(
            e.message.contains(needle),
            "{name}: {:?} lacks {needle:?}",
            e.message
        );
    }
    let e = to_canonical(b"{\"model\":").unwrap_err();
    assert_eq!(e.status, 400);
    assert!(e.message.starts_with("Invalid JSON"));
}

#[test]
fn error_bodies_use_anthropic_error_types() {
    for (status, kind) in [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
        (529, "overloaded_error"),
    ] {
        let err = ApiError::new(status, "whatever", format!("boom {status}"));
        assert_eq!(
            parse(&error_body(&err), "error body"),
            json!({"type": "error", "error": {"type": kind, "message": format!("boom {status}")}}),
            "status {status}"
        );
    }
}

#[test]
fn bad_provider_output_is_a_502() {
    let e = response_from_canonical(br#"{"id":"x","choices":[]}"#, "m").unwrap_err();
    assert_eq!(e.status, 502);
    let args = br#"{"id":"x","choices":[{"message":{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{\"a\":"}}]},"finish_reason":"tool_calls"}]}"#;
    let e = response_from_canonical(args, "m").unwrap_err();
    assert_eq!(e.status, 502);
    assert!(e.message.contains("\"f\""), "{}", e.message);
    let mut s = StreamToAnthropic::new("m", STREAM_ID);
    let mut out = BytesMut::new();
    assert_eq!(
        s.push(b"data: {not json\n\n", &mut out).unwrap_err().status,
        502
    );
}

#[test]
fn a_stream_closes_exactly_once() {
    let mut s = StreamToAnthropic::new("m", STREAM_ID);
    let mut out = BytesMut::new();
    s.push(b"data: [DONE]\n\n", &mut out).unwrap();
    s.finish(&mut out);
    s.finish(&mut out);
    s.push(
        b"data: {\"choices\":[{\"delta\":{\"content\":\"late\"}}]}\n\n",
        &mut out,
    )
    .unwrap();
    let names: Vec<String> = events(&out, "empty").into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["message_start", "message_delta", "message_stop"]);
}

#[test]
fn unknown_blocks_are_skipped_and_reported() {
    let body = read("unknown_blocks", "anthropic_request.json").unwrap();
    let t = translate(parse_object(&body).unwrap(), Translation::default()).unwrap();
    assert_eq!(
        t.skipped,
        [
            r#"messages[0].content[1]: content block type "search_result" skipped"#,
            r#"messages[1].content[0]: content block type "server_tool_use" skipped"#,
            r#"messages[1].content[1]: content block type "web_search_tool_result" skipped"#,
            r#"messages[2].content[0].content[1]: content block type "tool_reference" skipped"#,
            r#"messages[2].content[1]: content block type "brand_new_block" skipped"#,
        ]
    );
}

#[test]
fn cache_markers_are_kept_only_for_targets_that_take_them() {
    let body = read("system_turns_and_thinking", "anthropic_request.json").unwrap();
    let dropped = translate(parse_object(&body).unwrap(), Translation::default()).unwrap();
    assert!(
        !serde_json::to_string(&dropped.req.body)
            .unwrap()
            .contains("cache_control"),
        "no markers for a target without prompt caching"
    );
    let kept = translate(
        parse_object(&body).unwrap(),
        Translation {
            cache_control: true,
        },
    )
    .unwrap();
    let msgs = &kept.req.body["messages"];
    let marker = json!({"type": "ephemeral"});
    assert_eq!(msgs[1]["content"][1]["cache_control"], marker, "{msgs}");
    assert_eq!(msgs[4]["content"][1]["cache_control"], marker, "{msgs}");
    assert!(msgs[4]["content"][0].get("cache_control").is_none());
    let mut without = kept.req.body.clone();
    let strip = |v: &mut Value| {
        for m in v.as_array_mut().unwrap() {
            if let Some(parts) = m["content"].as_array_mut() {
                parts.iter_mut().for_each(|p| {
                    p.as_object_mut().unwrap().remove("cache_control");
                });
            }
        }
    };
    strip(without.get_mut("messages").unwrap());
    assert_eq!(without, dropped.req.body, "markers are the only difference");
}

#[test]
fn thinking_and_effort_become_reasoning_effort_only_when_thinking_is_asked() {
    let effort = |thinking: Value, config: Value| {
        let mut skipped = Vec::new();
        let t = (!thinking.is_null()).then_some(&thinking);
        let c = (!config.is_null()).then_some(&config);
        (reasoning_effort(t, c, &mut skipped), skipped.len())
    };
    let adaptive = json!({"type": "adaptive"});
    for (config, want) in [
        (json!({"effort": "low"}), Some("low")),
        (json!({"effort": "medium"}), Some("medium")),
        (json!({"effort": "high"}), Some("high")),
        (json!({"effort": "xhigh"}), Some("high")),
        (json!({"effort": "max"}), Some("high")),
        (Value::Null, None),
    ] {
        assert_eq!(
            effort(adaptive.clone(), config.clone()),
            (want, 0),
            "{config}"
        );
    }
    assert_eq!(effort(adaptive, json!({"effort": "turbo"})), (None, 1));
    for (budget, want) in [
        (1024, "low"),
        (2048, "medium"),
        (4095, "medium"),
        (31999, "high"),
    ] {
        let t = json!({"type": "enabled", "budget_tokens": budget});
        assert_eq!(effort(t, Value::Null), (Some(want), 0), "{budget}");
    }
    let high = json!({"effort": "high"});
    assert_eq!(
        effort(Value::Null, high.clone()),
        (None, 0),
        "no thinking asked"
    );
    assert_eq!(effort(json!({"type": "disabled"}), high.clone()), (None, 0));
    assert_eq!(effort(json!({"type": "someday"}), high), (None, 1));
}
