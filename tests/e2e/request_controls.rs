//! Per-request controls (LiteLLM's request fields and headers): `timeout` and
//! `x-litellm-timeout`, `num_retries` and `x-litellm-num-retries`, `drop_params`, the mock hooks
//! (`mock_response`, `mock_testing_*`, `mock_timeout`) that make the requested group fail so
//! the configured fallbacks fire, and `include_cost_in_streaming_usage`. None of them reaches
//! the provider.

use std::time::{Duration, Instant};

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::router::{chat, config, dep};
use crate::support::*;

/// The LiteLLM-only fields, none of which may reach a provider.
const CONTROLS: [&str; 12] = [
    "timeout",
    "stream_timeout",
    "num_retries",
    "drop_params",
    "fallbacks",
    "disable_fallbacks",
    "mock_response",
    "mock_testing_fallbacks",
    "mock_testing_context_fallbacks",
    "mock_testing_content_policy_fallbacks",
    "mock_timeout",
    "include_cost_in_streaming_usage",
];

fn with(mut body: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

/// Asserts the last request `mock` received carries none of [`CONTROLS`].
fn sent_clean(mock: &MockServer) {
    let sent = mock.requests().last().unwrap().json().unwrap();
    for field in CONTROLS {
        assert!(
            sent.get(field).is_none(),
            "{field} reached the provider: {sent}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_retries_from_the_request_are_honoured() {
    let slow = MockServer::start(MockConfig {
        latency: Duration::from_millis(1500),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let flaky = MockServer::start(MockConfig::default()).await.unwrap();
    let yaml = format!(
        "{}litellm_settings:\n  request_timeout: 4\n",
        config(
            &[dep("slow", &slow, ""), dep("flaky", &flaky, "")],
            "  num_retries: 0\n"
        )
    );
    let gw = Gateway::start(&yaml).await;

    // `timeout` (body) and `x-litellm-timeout` (header) bound each attempt.
    let t = Instant::now();
    let r = post(
        &gw,
        "/v1/chat/completions",
        &with(chat("slow"), json!({"timeout": 0.3})),
    )
    .await;
    expect_error(r, 504).await;
    assert!(
        t.elapsed() < Duration::from_millis(1200),
        "{:?}",
        t.elapsed()
    );
    let t = Instant::now();
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .header("x-litellm-timeout", "0.3")
        .json(&chat("slow"))
        .send()
        .await
        .unwrap();
    expect_error(r, 504).await;
    assert!(
        t.elapsed() < Duration::from_millis(1200),
        "{:?}",
        t.elapsed()
    );
    // A longer timeout than the provider needs lets it answer; the field is not sent on.
    let r = post(
        &gw,
        "/v1/chat/completions",
        &with(chat("slow"), json!({"timeout": 3})),
    )
    .await;
    assert_eq!(r.status(), 200);
    sent_clean(&slow);
    // A malformed value is the client's mistake.
    let e = expect_error(
        post(
            &gw,
            "/v1/chat/completions",
            &with(chat("slow"), json!({"timeout": "soon"})),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(e["param"], "timeout");

    // `num_retries` (body) and `x-litellm-num-retries` (header) replace the configured 0.
    flaky.fail_next(2, 503);
    let r = post(
        &gw,
        "/v1/chat/completions",
        &with(chat("flaky"), json!({"num_retries": 2})),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-litellm-attempted-retries"), "2");
    sent_clean(&flaky);
    flaky.fail_next(1, 503);
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .header("x-litellm-num-retries", "1")
        .json(&chat("flaky"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-litellm-attempted-retries"), "1");
    // Without them, the configured 0.
    flaky.fail_next(1, 503);
    expect_error(post(&gw, "/v1/chat/completions", &chat("flaky")).await, 503).await;
    assert_eq!(flaky.request_count(), 3 + 2 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_params_from_the_request_drops_what_the_provider_cannot_take() {
    let anthropic = MockServer::start(MockConfig::default()).await.unwrap();
    let yaml = format!(
        "model_list:\n  - model_name: claude\n    litellm_params:\n      model: anthropic/claude-up\n      api_base: http://{}\n      api_key: k\ngeneral_settings:\n  master_key: {MASTER_KEY}\n",
        anthropic.addr
    );
    let gw = Gateway::start(&yaml).await;
    let seeded = with(chat("claude"), json!({"seed": 7}));
    let e = expect_error(post(&gw, "/v1/chat/completions", &seeded).await, 400).await;
    assert!(
        e["message"].as_str().unwrap().contains("drop_params"),
        "{e}"
    );
    let r = post(
        &gw,
        "/v1/chat/completions",
        &with(seeded, json!({"drop_params": true})),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let sent = anthropic.requests()[0].json().unwrap();
    assert!(
        sent.get("seed").is_none() && sent.get("drop_params").is_none(),
        "{sent}"
    );

    // Through the `/v1/messages` door the client's body goes to an Anthropic deployment as it
    // is — less LiteLLM's fields, which are honoured.
    let r = post(
        &gw,
        "/v1/messages",
        &json!({"model": "claude", "max_tokens": 16, "timeout": 30, "num_retries": 1,
                "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    assert_eq!(anthropic.request_count(), 2);
    sent_clean(&anthropic);
    let r = post(
        &gw,
        "/v1/messages",
        &json!({"model": "claude", "max_tokens": 16, "mock_response": "from the door",
                "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["content"][0]["text"], "from the door", "{v}");
    assert_eq!(anthropic.request_count(), 2, "a mock calls nobody");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_hooks_make_the_requested_group_fail_so_fallbacks_fire() {
    let p1 = MockServer::start(MockConfig::default()).await.unwrap();
    let p2 = MockServer::start(MockConfig::default()).await.unwrap();
    let second = MockServer::start(MockConfig::default()).await.unwrap();
    let big = MockServer::start(MockConfig::default()).await.unwrap();
    let safe = MockServer::start(MockConfig::default()).await.unwrap();
    let yaml = config(
        &[
            dep("primary", &p1, ""),
            dep("primary", &p2, ""),
            dep("second", &second, ""),
            dep("big", &big, ""),
            dep("safe", &safe, ""),
        ],
        "  allowed_fails: 0\n  cooldown_time: 60\n  fallbacks: [{primary: [second]}]\n  context_window_fallbacks: [{primary: [big]}]\n  content_policy_fallbacks: [{primary: [safe]}]\n",
    );
    let gw = Gateway::start(&yaml).await;
    let primary_calls = || p1.request_count() + p2.request_count();
    for (hook, group, mock) in [
        ("mock_testing_fallbacks", "second", &second),
        ("mock_testing_context_fallbacks", "big", &big),
        ("mock_testing_content_policy_fallbacks", "safe", &safe),
    ] {
        let r = post(
            &gw,
            "/v1/chat/completions",
            &with(chat("primary"), json!({hook: true})),
        )
        .await;
        assert_eq!(r.status(), 200, "{hook}");
        assert_eq!(header(&r, "x-litellm-model-group"), group, "{hook}");
        assert_eq!(header(&r, "x-litellm-attempted-fallbacks"), "1", "{hook}");
        assert_eq!(mock.request_count(), 1, "{hook}");
        sent_clean(mock);
    }
    // `mock_timeout`: the group's attempts time out after `timeout`, then the fallback answers.
    let t = Instant::now();
    let r = post(
        &gw,
        "/v1/chat/completions",
        &with(
            chat("primary"),
            json!({"mock_timeout": true, "timeout": 0.2}),
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-litellm-model-group"), "second");
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(second.request_count(), 2);
    sent_clean(&second);
    assert_eq!(primary_calls(), 0, "the failing group was never called");

    // `mock_response`: the answer, streamed or not, from nobody, at no cost.
    let r = post(
        &gw,
        "/v1/chat/completions",
        &with(chat("primary"), json!({"mock_response": "mocked hello"})),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-litellm-response-cost"), "0");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "mocked hello");
    let r = post(
        &gw,
        "/v1/chat/completions",
        &with(
            chat("primary"),
            json!({"mock_response": "streamed mock", "stream": true}),
        ),
    )
    .await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let content: String = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(content, "streamed mock");
    // One of LiteLLM's error strings fails every attempt that way (fallbacks included) …
    let e = expect_error(
        post(
            &gw,
            "/v1/chat/completions",
            &with(
                chat("primary"),
                json!({"mock_response": "litellm.RateLimitError"}),
            ),
        )
        .await,
        429,
    )
    .await;
    assert!(
        e["message"].as_str().unwrap().contains("mock rate limit"),
        "{e}"
    );
    assert_eq!(primary_calls(), 0);
    assert_eq!(second.request_count(), 2);
    // … without cooling a deployment down (allowed_fails: 0 would cool both at once).
    for _ in 0..4 {
        let r = post(&gw, "/v1/chat/completions", &chat("primary")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "x-litellm-model-group"), "primary");
    }
    assert_eq!(primary_calls(), 4);
}

/// `usage.cost` of the usage chunk of an SSE body, if any.
fn streamed_cost(text: &str) -> Option<f64> {
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find_map(|c| c["usage"]["cost"].as_f64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn include_cost_in_streaming_usage_puts_the_cost_in_the_usage_chunk() {
    let mock = MockServer::start(MockConfig {
        prompt_tokens: Some(100),
        completion_tokens: Some(10),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let prices = "      input_cost_per_token: 0.001\n      output_cost_per_token: 0.002\n";
    let streamed = json!({"model": "priced", "stream": true,
                          "stream_options": {"include_usage": true},
                          "messages": [{"role": "user", "content": "hi"}]});
    // Per request, on a gateway without the setting.
    let gw = Gateway::start(&config(
        &[dep("priced", &mock, prices)],
        "  num_retries: 0\n",
    ))
    .await;
    let text = post(&gw, "/v1/chat/completions", &streamed)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(streamed_cost(&text), None, "off by default");
    let text = post(
        &gw,
        "/v1/chat/completions",
        &with(
            streamed.clone(),
            json!({"include_cost_in_streaming_usage": true}),
        ),
    )
    .await
    .text()
    .await
    .unwrap();
    let cost = streamed_cost(&text).unwrap_or_else(|| panic!("no cost in {text}"));
    assert!(
        (cost - (100.0 * 0.001 + 10.0 * 0.002)).abs() < 1e-9,
        "{cost}"
    );
    sent_clean(&mock);
    drop(gw);

    // `litellm_settings.include_cost_in_streaming_usage: true`.
    let yaml = format!(
        "{}litellm_settings:\n  include_cost_in_streaming_usage: true\n",
        config(&[dep("priced", &mock, prices)], "  num_retries: 0\n")
    );
    let gw = Gateway::start(&yaml).await;
    let text = post(&gw, "/v1/chat/completions", &streamed)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(streamed_cost(&text), Some(cost), "{text}");
    assert!(
        !gw.logs().contains("include_cost_in_streaming_usage"),
        "{}",
        gw.logs()
    );
}
