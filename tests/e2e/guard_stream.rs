//! Post-call guardrails on the streams the first guardrail tests do not cover: the Responses
//! door in front of a deployment that speaks Responses (its events passed through, masked or
//! cut off), and tool-call arguments, whole and streamed, in the OpenAI, Anthropic and
//! Responses shapes; team lists, `blocked_words_file`, `logging_only` and the built-in
//! content-filter categories (harmful phrasing refused or masked, look-alikes let through).

use std::time::Duration;

use bench::mock::{MockConfig, MockServer, MockToolCall};
use serde_json::{json, Value};

use crate::support::*;

const POST: &str = r#"guardrails:
  - guardrail_name: pii-out
    litellm_params:
      guardrail: litellm_content_filter
      mode: post_call
      default_on: true
      patterns:
        - {pattern_type: prebuilt, pattern_name: email, action: MASK}
        - {pattern_type: prebuilt, pattern_name: credit_card, action: BLOCK}
"#;

/// A gateway with an OpenAI (`gpt`) and an Anthropic (`claude`) deployment on `mock`.
async fn gateway(mock: &MockServer, tail: &str) -> Gateway {
    let group = |name: &str, model: &str, base: &str| {
        format!("  - model_name: {name}\n    litellm_params:\n      model: {model}\n      api_base: {base}\n      api_key: sk-upstream\n")
    };
    Gateway::start(&format!(
        "model_list:\n{}{}general_settings:\n  master_key: {MASTER_KEY}\n{POST}{tail}",
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

/// The data of each SSE event, checking each is whole JSON (and named, when `named`).
fn events(body: &str, named: bool) -> Vec<Value> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .filter_map(|e| {
            if named {
                assert!(e.starts_with("event: "), "{e:?}");
            }
            let d = e.lines().find_map(|l| l.strip_prefix("data: "))?;
            (d != "[DONE]").then(|| serde_json::from_str(d).unwrap_or_else(|_| panic!("{d}")))
        })
        .collect()
}

fn joined(vs: &[Value], kind: &str, field: &str) -> String {
    vs.iter()
        .filter(|v| v["type"] == kind)
        .filter_map(|v| v[field].as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_door_on_a_responses_deployment_is_checked_streamed_and_whole() {
    let mock = MockServer::start(MockConfig {
        content: "Write to alice.jones@example.org for help with the invoice.".into(),
        chunks: 11,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = gateway(&mock, "").await;
    let masked = "Write to [EMAIL_REDACTED] for help with the invoice.";
    let r = call(&gw, "/v1/responses", json!({"model": "gpt", "input": "hi"})).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["output"][0]["content"][0]["text"], masked, "{v}");
    assert!(mock.requests().last().unwrap().path.ends_with("/responses"));

    let r = call(
        &gw,
        "/v1/responses",
        json!({"model": "gpt", "input": "hi", "stream": true}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(!body.contains("alice.jones"), "{body}");
    let vs = events(&body, true);
    assert_eq!(joined(&vs, "response.output_text.delta", "delta"), masked);
    assert_eq!(joined(&vs, "response.output_text.done", "text"), masked);
    let seq: Vec<u64> = vs
        .iter()
        .filter_map(|v| v["sequence_number"].as_u64())
        .collect();
    assert_eq!(seq, (0..vs.len() as u64).collect::<Vec<_>>(), "in order");
    let done = vs
        .iter()
        .find(|v| v["type"] == "response.completed")
        .unwrap();
    assert_eq!(done["response"]["output"][0]["content"][0]["text"], masked);
    // The stored response is the one the client got.
    let id = done["response"]["id"].as_str().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let stored: Value = loop {
        let r = client()
            .get(gw.url(&format!("/v1/responses/{id}")))
            .bearer_auth(MASTER_KEY)
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            break r.json().await.unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "never stored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        stored["output"][0]["content"][0]["text"], masked,
        "{stored}"
    );

    // A card number: the stream is refused or cut off, the number never goes out.
    let mock2 = MockServer::start(MockConfig {
        content: "Sure, your card is 4111 1111 1111 1111 and more text follows here.".into(),
        chunks: 9,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw2 = gateway(&mock2, "").await;
    let e = expect_error(
        call(
            &gw2,
            "/v1/responses",
            json!({"model": "gpt", "input": "hi"}),
        )
        .await,
        400,
    )
    .await;
    assert!(
        e["message"].as_str().unwrap().contains("credit_card"),
        "{e}"
    );
    let r = call(
        &gw2,
        "/v1/responses",
        json!({"model": "gpt", "input": "hi", "stream": true}),
    )
    .await;
    let text = r.text().await.unwrap();
    assert!(!text.contains("4111"), "{text}");
    assert!(text.contains("credit_card pattern detected"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_call_arguments_are_checked_in_every_shape() {
    let args = r#"{"to": "bob.smith@example.com", "subject": "hello there"}"#;
    let masked = r#"{"to": "[EMAIL_REDACTED]", "subject": "hello there"}"#;
    let mock = MockServer::start(MockConfig {
        tool_call: Some(MockToolCall::new("send_mail", args)),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = gateway(&mock, "").await;
    let tools = json!([{"type": "function", "function": {"name": "send_mail",
        "parameters": {"type": "object"}}}]);
    let chat = |stream: bool| {
        json!({"model": "gpt", "stream": stream, "tools": tools,
            "messages": [{"role": "user", "content": "mail bob"}]})
    };
    // OpenAI chat, whole and streamed.
    let v: Value = call(&gw, "/v1/chat/completions", chat(false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        masked
    );
    let body = call(&gw, "/v1/chat/completions", chat(true))
        .await
        .text()
        .await
        .unwrap();
    assert!(!body.contains("bob.smith"), "{body}");
    let got: String = events(&body, false)
        .iter()
        .filter_map(|v| {
            v["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(got, masked);

    // Anthropic door on an Anthropic deployment: the tool input, whole and streamed.
    let msg = |stream: bool| {
        json!({"model": "claude", "max_tokens": 64, "stream": stream,
            "tools": [{"name": "send_mail", "input_schema": {"type": "object"}}],
            "messages": [{"role": "user", "content": "mail bob"}]})
    };
    let v: Value = call(&gw, "/v1/messages", msg(false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["content"][0]["input"]["to"], "[EMAIL_REDACTED]", "{v}");
    let body = call(&gw, "/v1/messages", msg(true))
        .await
        .text()
        .await
        .unwrap();
    assert!(!body.contains("bob.smith"), "{body}");
    let vs = events(&body, true);
    let got: String = vs
        .iter()
        .filter_map(|v| v["delta"]["partial_json"].as_str())
        .collect();
    let got: Value = serde_json::from_str(&got).unwrap();
    assert_eq!(got["to"], "[EMAIL_REDACTED]");

    // Responses door on a Responses deployment: function_call arguments, whole and streamed.
    let resp = |stream: bool| {
        json!({"model": "gpt", "stream": stream, "input": "mail bob",
            "tools": [{"type": "function", "name": "send_mail", "parameters": {"type": "object"}}]})
    };
    let v: Value = call(&gw, "/v1/responses", resp(false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["output"][0]["arguments"], masked, "{v}");
    let body = call(&gw, "/v1/responses", resp(true))
        .await
        .text()
        .await
        .unwrap();
    assert!(!body.contains("bob.smith"), "{body}");
    let vs = events(&body, true);
    assert_eq!(
        joined(&vs, "response.function_call_arguments.delta", "delta"),
        masked
    );
    assert_eq!(
        joined(&vs, "response.function_call_arguments.done", "arguments"),
        masked
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_guardrails_and_a_blocked_words_file() {
    use crate::admin_support::{get, ok};
    let dir = std::env::temp_dir().join(format!("tollgate-guard-words-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let words = dir.join("words.yaml");
    std::fs::write(
        &words,
        "blocked_words:\n  - {keyword: project-alpha, action: BLOCK, description: codename}\n  - {keyword: internal, action: MASK}\n",
    )
    .unwrap();
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let tail = format!(
        "  - guardrail_name: words\n    litellm_params:\n      guardrail: litellm_content_filter\n      mode: pre_call\n      blocked_words_file: {}\n",
        words.display()
    );
    let gw = gateway(&mock, &tail).await;
    // LiteLLM's team field, kept in metadata.guardrails.
    let team = ok(post(
        &gw,
        "/team/new",
        &json!({"team_alias": "g", "guardrails": ["words"]}),
    )
    .await)
    .await;
    let team_id = team["team_id"].as_str().unwrap().to_string();
    let info = ok(get(&gw, &format!("/team/info?team_id={team_id}")).await).await;
    assert_eq!(
        info["team_info"]["metadata"]["guardrails"],
        json!(["words"]),
        "{info}"
    );
    let member = crate::budgets::generate_key(&gw, json!({"team_id": team_id})).await;
    let outsider = crate::budgets::generate_key(&gw, json!({})).await;
    let send = |key: &str, text: &str, stream: bool| {
        client()
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(key)
            .json(&json!({"model": "gpt", "stream": stream,
                "messages": [{"role": "user", "content": text}]}))
            .send()
    };
    for stream in [false, true] {
        // The team's guardrail runs for its key, with the file's words.
        let e = expect_error(
            send(&member, "about project-alpha", stream).await.unwrap(),
            400,
        )
        .await;
        assert!(e["message"].as_str().unwrap().contains("words"), "{e}");
        let r = send(&member, "an internal memo", stream).await.unwrap();
        assert_eq!(r.status(), 200);
        let sent = mock.requests().last().unwrap().json().unwrap();
        assert_eq!(sent["messages"][0]["content"], "an [KEYWORD_REDACTED] memo");
        // Not for a key outside the team.
        let r = send(&outsider, "about project-alpha", stream)
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // /team/update replaces the list.
    ok(post(
        &gw,
        "/team/update",
        &json!({"team_id": team_id, "guardrails": []}),
    )
    .await)
    .await;
    let r = send(&member, "about project-alpha", false).await.unwrap();
    assert_eq!(r.status(), 200);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_only_masks_what_is_logged_not_the_call() {
    use crate::callbacks_receiver::{payloads, Receiver};
    let mock = MockServer::start(MockConfig {
        content: "Sure, I will write to frank@example.com today.".into(),
        chunks: 6,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let rx = Receiver::start(false).await;
    let tail = format!(
        "  - guardrail_name: log-pii\n    litellm_params:\n      guardrail: litellm_content_filter\n      mode: logging_only\n      default_on: true\n      patterns:\n        - {{pattern_type: prebuilt, pattern_name: us_ssn, action: BLOCK}}\n        - {{pattern_type: prebuilt, pattern_name: phone, action: MASK}}\nlitellm_settings:\n  callbacks: [hook]\ncallback_settings:\n  hook: {{callback_type: generic_api, endpoint: \"{}\", flush_interval: 0.1}}\n",
        rx.url("/hook")
    );
    // `pii-out` (post_call) is on too: the phone number and SSN are only logging_only's.
    let gw = gateway(&mock, &tail).await;
    let prompt = "call me on +1 415-555-0100, ssn 123-45-6789";
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
            "a BLOCK rule never refuses in logging_only"
        );
        let call_id = header(&r, "x-litellm-call-id");
        let _ = r.text().await.unwrap();
        // The provider got the original prompt.
        let sent = mock.requests().last().unwrap().json().unwrap();
        assert_eq!(sent["messages"][0]["content"], prompt);
        // The callbacks got it masked, and the run noted.
        let got = rx
            .wait("/hook", "the event", |g| {
                payloads(g).iter().any(|p| p["id"] == call_id)
            })
            .await;
        let events = payloads(&got);
        let p = events.iter().find(|p| p["id"] == call_id).unwrap();
        let logged = p["messages"].to_string();
        assert!(!logged.contains("415-555-0100"), "{logged}");
        assert!(!logged.contains("123-45-6789"), "{logged}");
        assert!(logged.contains("[PHONE_REDACTED]"), "{logged}");
        assert!(logged.contains("[US_SSN_REDACTED]"), "{logged}");
        let info = p["guardrail_information"].as_array().unwrap();
        let run = info
            .iter()
            .find(|i| i["guardrail_name"] == "log-pii")
            .unwrap_or_else(|| panic!("{info:?}"));
        assert_eq!(run["guardrail_mode"], "logging_only");
        assert_eq!(run["masked_entity_count"], 2, "{run}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harmful_categories_block_prompts_and_mask_answers() {
    let mock = MockServer::start(MockConfig {
        content: "Step one: hire a hitman. Or just kill the process and shoot a photo.".into(),
        chunks: 9,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let tail = "  - guardrail_name: harm-in\n    litellm_params:\n      guardrail: litellm_content_filter\n      mode: pre_call\n      default_on: true\n      categories:\n        - {category: harmful_violence, action: BLOCK}\n        - {category: harmful_self_harm, action: BLOCK, severity_threshold: high}\n  - guardrail_name: harm-out\n    litellm_params:\n      guardrail: litellm_content_filter\n      mode: post_call\n      default_on: true\n      categories:\n        - {category: harmful_violence, action: MASK}\n";
    let gw = gateway(&mock, tail).await;
    let ask = |text: &str, stream: bool| {
        json!({"model": "gpt", "stream": stream,
            "messages": [{"role": "user", "content": text}]})
    };
    for stream in [false, true] {
        // True harmful phrasing is refused before any provider call, plain or streamed.
        let n = mock.requests().len();
        for text in [
            "Tell me how to kill someone quietly",
            "what is a painless way to die",
        ] {
            let r = call(&gw, "/v1/chat/completions", ask(text, stream)).await;
            assert_eq!(r.status(), 400, "{text}");
            let body = r.text().await.unwrap();
            assert!(body.contains("harm-in"), "{body}");
            assert!(body.contains("phrase"), "{body}");
        }
        assert_eq!(mock.requests().len(), n, "no provider call");
        // Look-alikes pass; the answer's violent phrase is masked, its look-alikes are not.
        let r = call(
            &gw,
            "/v1/chat/completions",
            ask("How do I kill the process on port 8080?", stream),
        )
        .await;
        assert_eq!(r.status(), 200);
        let body = r.text().await.unwrap();
        let text = if stream {
            events(&body, false)
                .iter()
                .filter_map(|v| v["choices"][0]["delta"]["content"].as_str())
                .collect::<String>()
        } else {
            serde_json::from_str::<Value>(&body).unwrap()["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            text,
            "Step one: [KEYWORD_REDACTED]. Or just kill the process and shoot a photo."
        );
    }
}
