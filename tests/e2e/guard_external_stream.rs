//! The external guardrails (the recording Presidio and webhook services of
//! `guard_external.rs`) on streamed answers (`post_call`: the stream is held, checked whole,
//! then released masked in well-formed SSE, or refused) and in `logging_only` (what the
//! callbacks export is masked; the provider and the client get the originals), plain and
//! streamed, through the OpenAI, Anthropic and Responses doors.

use std::sync::Arc;

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::guard_external::{presidio, webhook, Service};
use crate::support::*;

/// A gateway with an OpenAI (`gpt`) and an Anthropic (`claude`) deployment on `mock`.
async fn gateway(mock: &MockServer, tail: &str) -> Gateway {
    let group = |name: &str, model: &str, base: &str| {
        format!("  - model_name: {name}\n    litellm_params:\n      model: {model}\n      api_base: {base}\n      api_key: sk-upstream\n")
    };
    Gateway::start(&format!(
        "model_list:\n{}{}general_settings:\n  master_key: {MASTER_KEY}\n{tail}",
        group("gpt", "openai/gpt-upstream", &mock.url()),
        group(
            "claude",
            "anthropic/claude-upstream",
            &format!("http://{}", mock.addr)
        ),
    ))
    .await
}

async fn call(gw: &Gateway, path: &str, body: Value) -> reqwest::Response {
    client()
        .post(gw.url(path))
        .bearer_auth(MASTER_KEY)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The data of each SSE event, each checked to be whole JSON.
fn events(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .filter_map(|e| {
            let d = e.lines().find_map(|l| l.strip_prefix("data: "))?;
            (d != "[DONE]").then(|| serde_json::from_str(d).unwrap_or_else(|_| panic!("{d}")))
        })
        .collect()
}

/// The text a stream carried, in any of the three shapes.
fn streamed_text(body: &str) -> String {
    events(body)
        .iter()
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .or_else(|| v["delta"]["text"].as_str())
                .or_else(|| {
                    (v["type"] == "response.output_text.delta")
                        .then(|| v["delta"].as_str())
                        .flatten()
                })
                .map(str::to_string)
        })
        .collect()
}

fn req(model: &str, stream: bool, guardrails: &[&str]) -> Value {
    json!({"model": model, "stream": stream, "max_tokens": 50, "guardrails": guardrails,
        "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presidio_and_webhook_post_call_hold_and_check_streams() {
    let mock = MockServer::start(MockConfig {
        content: "Noted, write to frank@example.com about the colour.".into(),
        chunks: 7,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let p = Service::start(Arc::new(presidio)).await;
    let w = Service::start(Arc::new(webhook)).await;
    // Blocks any answer that names frank.
    let strict = Service::start(Arc::new(|_: &str, b: &Value| {
        let hit = b["texts"].to_string().contains("frank");
        Some(if hit {
            json!({"action": "BLOCKED", "blocked_reason": "names a person"})
        } else {
            json!({"action": "NONE"})
        })
    }))
    .await;
    let dead = Service::start(Arc::new(|_: &str, _: &Value| None)).await;
    let tail = format!(
        r#"guardrails:
  - guardrail_name: p-out
    litellm_params: {{guardrail: presidio, mode: post_call, presidio_analyzer_api_base: {p}, presidio_anonymizer_api_base: {p}}}
  - guardrail_name: w-out
    litellm_params: {{guardrail: generic_guardrail_api, mode: post_call, api_base: {w}}}
  - guardrail_name: strict-out
    litellm_params: {{guardrail: generic_guardrail_api, mode: post_call, api_base: {s}}}
  - guardrail_name: dead-closed
    litellm_params: {{guardrail: generic_guardrail_api, mode: post_call, api_base: {d}, timeout: 0.3}}
  - guardrail_name: dead-open
    litellm_params: {{guardrail: generic_guardrail_api, mode: post_call, api_base: {d}, timeout: 0.3, unreachable_fallback: fail_open}}
"#,
        p = p.url(),
        w = w.url(),
        s = strict.url(),
        d = dead.url()
    );
    let gw = gateway(&mock, &tail).await;
    let original = "Noted, write to frank@example.com about the colour.";
    let masked = "Noted, write to <EMAIL_ADDRESS> about the colour.";

    // Presidio masks the streamed answer in each door's shape; it saw the whole text once.
    for (path, model) in [
        ("/v1/chat/completions", "gpt"),
        ("/v1/messages", "gpt"),
        ("/v1/messages", "claude"),
    ] {
        let before = p.got().len();
        let r = call(&gw, path, req(model, true, &["p-out"])).await;
        assert_eq!(r.status(), 200, "{path} {model}");
        let body = r.text().await.unwrap();
        assert!(!body.contains("frank@"), "{path} {model}: {body}");
        assert_eq!(streamed_text(&body), masked, "{path} {model}: {body}");
        let analyzed: Vec<String> = p.got()[before..]
            .iter()
            .filter(|(path, _)| path == "/analyze")
            .map(|(_, b)| b["text"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(analyzed, [original], "{path} {model}");
        if path == "/v1/chat/completions" {
            assert!(body.ends_with("data: [DONE]\n\n"), "{body}");
        } else {
            assert!(body.contains("event: message_stop"), "{body}");
        }
    }
    // Responses door (a deployment that speaks Responses): deltas, .done and completed.
    let r = call(
        &gw,
        "/v1/responses",
        json!({"model": "gpt", "input": "hi", "stream": true, "guardrails": ["p-out"]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(!body.contains("frank@"), "{body}");
    let vs = events(&body);
    assert_eq!(streamed_text(&body), masked, "{body}");
    let seq: Vec<u64> = vs
        .iter()
        .filter_map(|v| v["sequence_number"].as_u64())
        .collect();
    assert_eq!(seq, (0..vs.len() as u64).collect::<Vec<_>>(), "in order");
    let done = vs
        .iter()
        .find(|v| v["type"] == "response.completed")
        .unwrap();
    assert_eq!(
        done["response"]["output"][0]["content"][0]["text"], masked,
        "{done}"
    );

    // The webhook rewrites the streamed answer (colour → color), plain and streamed.
    let r = call(&gw, "/v1/chat/completions", req("gpt", true, &["w-out"])).await;
    let body = r.text().await.unwrap();
    assert_eq!(
        streamed_text(&body),
        "Noted, write to frank@example.com about the color."
    );
    let (_, sent) = w.got().last().unwrap().clone();
    assert_eq!(sent["input_type"], "response");
    assert_eq!(sent["texts"], json!([original]));
    let r = call(&gw, "/v1/chat/completions", req("gpt", false, &["w-out"])).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Noted, write to frank@example.com about the color."
    );

    // A block: nothing of the answer went out, so the client gets the guardrail's error.
    for (path, stream) in [
        ("/v1/chat/completions", true),
        ("/v1/chat/completions", false),
        ("/v1/messages", true),
    ] {
        let r = call(&gw, path, req("gpt", stream, &["strict-out"])).await;
        assert_eq!(r.status(), 400, "{path} {stream}");
        let body = r.text().await.unwrap();
        assert!(body.contains("names a person"), "{body}");
        assert!(body.contains("strict-out"), "{body}");
        assert!(!body.contains("frank@"), "{body}");
    }

    // A service that never answers: fail closed refuses (503), fail open releases the stream.
    let r = call(
        &gw,
        "/v1/chat/completions",
        req("gpt", true, &["dead-closed"]),
    )
    .await;
    assert_eq!(r.status(), 503);
    let body = r.text().await.unwrap();
    assert!(!body.contains("frank@"), "{body}");
    let r = call(
        &gw,
        "/v1/chat/completions",
        req("gpt", true, &["dead-open"]),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(streamed_text(&r.text().await.unwrap()), original);
    assert!(gw.logs().contains("fail_open"), "the fail-open is logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presidio_and_webhook_logging_only_mask_what_the_callbacks_export() {
    use crate::callbacks_receiver::{payloads, Receiver};
    let mock = MockServer::start(MockConfig {
        content: "Sure, I will write to frank@example.com about the colour.".into(),
        chunks: 6,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let p = Service::start(Arc::new(presidio)).await;
    let w = Service::start(Arc::new(webhook)).await;
    let rx = Receiver::start(false).await;
    let tail = format!(
        r#"guardrails:
  - guardrail_name: p-log
    litellm_params: {{guardrail: presidio, mode: logging_only, default_on: true, presidio_analyzer_api_base: {p}, presidio_anonymizer_api_base: {p}, pii_entities_config: {{EMAIL_ADDRESS: BLOCK, US_SSN: MASK}}}}
  - guardrail_name: w-log
    litellm_params: {{guardrail: generic_guardrail_api, mode: logging_only, default_on: true, api_base: {w}}}
litellm_settings:
  callbacks: [hook]
callback_settings:
  hook: {{callback_type: generic_api, endpoint: "{rx}", flush_interval: 0.1}}
"#,
        p = p.url(),
        w = w.url(),
        rx = rx.url("/hook")
    );
    let gw = gateway(&mock, &tail).await;
    let prompt = "mail gina@example.com the colour chart";
    for stream in [false, true] {
        let r = call(
            &gw,
            "/v1/chat/completions",
            json!({"model": "gpt", "stream": stream,
                "messages": [{"role": "user", "content": prompt}]}),
        )
        .await;
        assert_eq!(
            r.status(),
            200,
            "a BLOCK entity never refuses in logging_only"
        );
        let call_id = header(&r, "x-litellm-call-id");
        let body = r.text().await.unwrap();
        // The client and the provider got the originals.
        assert!(body.contains("frank@example.com"), "{body}");
        let sent = mock.requests().last().unwrap().json().unwrap();
        assert_eq!(sent["messages"][0]["content"], prompt);
        // The callbacks got the prompt and completion masked by both, and both runs noted.
        let got = rx
            .wait("/hook", "the event", |g| {
                payloads(g).iter().any(|ev| ev["id"] == call_id)
            })
            .await;
        let evs = payloads(&got);
        let ev = evs.iter().find(|ev| ev["id"] == call_id).unwrap();
        let logged = format!("{} {}", ev["messages"], ev["response"]);
        assert!(!logged.contains("gina@"), "{logged}");
        assert!(!logged.contains("frank@"), "{logged}");
        assert!(!logged.contains("colour"), "{logged}");
        assert!(logged.contains("<EMAIL_ADDRESS>"), "{logged}");
        assert!(logged.contains("color chart"), "{logged}");
        let info = ev["guardrail_information"].as_array().unwrap();
        for name in ["p-log", "w-log"] {
            let run = info
                .iter()
                .find(|i| i["guardrail_name"] == name)
                .unwrap_or_else(|| panic!("{name}: {info:?}"));
            assert_eq!(run["guardrail_mode"], "logging_only");
            assert_eq!(run["guardrail_status"], "guardrail_intervened", "{run}");
        }
    }
    // Both services were asked about the request and the response.
    let kinds: Vec<Value> = w
        .got()
        .iter()
        .map(|(_, b)| b["input_type"].clone())
        .collect();
    assert!(kinds.contains(&json!("request")) && kinds.contains(&json!("response")));
}

/// A provider whose answers carry reasoning (`reasoning_content`), whole and streamed.
fn reasoning_provider(_path: &str, body: &Value) -> Option<Value> {
    let reasoning = ["The user is ", "frank@example.com, ", "so greet."];
    if body["stream"] != true {
        return Some(
            json!({"id": "r1", "object": "chat.completion", "created": 1, "model": "x",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant",
                "content": "Hello.", "reasoning_content": reasoning.concat()}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}}),
        );
    }
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "r1", "object": "chat.completion.chunk", "created": 1, "model": "x",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    };
    let mut sse = String::new();
    for r in reasoning {
        sse.push_str(&chunk(json!({"reasoning_content": r}), Value::Null));
    }
    sse.push_str(&chunk(json!({"content": "Hello."}), Value::Null));
    sse.push_str(&chunk(json!({}), json!("stop")));
    sse.push_str("data: [DONE]\n\n");
    Some(Value::String(sse))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_is_checked_post_call_whole_and_streamed() {
    let provider = Service::start(Arc::new(reasoning_provider)).await;
    let p = Service::start(Arc::new(presidio)).await;
    let tail = format!(
        r#"guardrails:
  - guardrail_name: filter-out
    litellm_params:
      guardrail: litellm_content_filter
      mode: post_call
      patterns: [{{pattern_type: prebuilt, pattern_name: email, action: MASK}}]
  - guardrail_name: p-out
    litellm_params: {{guardrail: presidio, mode: post_call, presidio_analyzer_api_base: {p}, presidio_anonymizer_api_base: {p}}}
"#,
        p = p.url()
    );
    let gw = Gateway::start(&format!(
        "model_list:\n  - model_name: thinker\n    litellm_params:\n      model: openai/thinker\n      api_base: {}\n      api_key: sk-upstream\ngeneral_settings:\n  master_key: {MASTER_KEY}\n{tail}",
        provider.url()
    ))
    .await;
    for (guard, tag) in [
        ("filter-out", "[EMAIL_REDACTED]"),
        ("p-out", "<EMAIL_ADDRESS>"),
    ] {
        let want = format!("The user is {tag}, so greet.");
        let r = call(&gw, "/v1/chat/completions", req("thinker", false, &[guard])).await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            v["choices"][0]["message"]["reasoning_content"],
            want.as_str(),
            "{v}"
        );
        let r = call(&gw, "/v1/chat/completions", req("thinker", true, &[guard])).await;
        assert_eq!(r.status(), 200);
        let body = r.text().await.unwrap();
        assert!(!body.contains("frank@"), "{guard}: {body}");
        let vs = events(&body);
        let reasoning: String = vs
            .iter()
            .filter_map(|v| v["choices"][0]["delta"]["reasoning_content"].as_str())
            .collect();
        assert_eq!(reasoning, want, "{guard}: {body}");
        assert_eq!(streamed_text(&body), "Hello.");
    }
}
