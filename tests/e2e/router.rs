//! The router under real faults: retries, fallbacks (generic and context-window), cooldowns
//! entering and expiring, all-cooling 429, weighted distribution, priority tiers and aliases —
//! each decision checked through LiteLLM's response headers and the mocks' call counts.

use std::time::Duration;

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::support::*;

fn failing(status: u16) -> MockConfig {
    MockConfig {
        status: Some(status),
        ..MockConfig::default()
    }
}

pub(crate) fn dep(group: &str, mock: &MockServer, extra: &str) -> String {
    format!(
        "  - model_name: {group}\n    litellm_params:\n      model: openai/{group}-up\n      api_base: {}\n      api_key: k\n{extra}",
        mock.url()
    )
}

pub(crate) fn config(deployments: &[String], router: &str) -> String {
    format!(
        "model_list:\n{}general_settings:\n  master_key: {MASTER_KEY}\nrouter_settings:\n{router}",
        deployments.concat()
    )
}

pub(crate) fn chat(group: &str) -> Value {
    json!({"model": group, "messages": [{"role": "user", "content": "hi"}]})
}

/// Posts and asserts a 200, showing the body when it is not.
pub(crate) async fn ok(gw: &Gateway, body: &Value) {
    let r = post(gw, "/v1/chat/completions", body).await;
    let status = r.status();
    assert_eq!(status, 200, "{}", r.text().await.unwrap_or_default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_then_success_reports_its_attempts() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(&[dep("g", &mock, "")], "  num_retries: 2\n")).await;
    mock.fail_next(2, 503);
    let r = post(&gw, "/v1/chat/completions", &chat("g")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-litellm-attempted-retries"), "2");
    assert_eq!(header(&r, "x-litellm-attempted-fallbacks"), "0");
    assert_eq!(header(&r, "x-litellm-model-group"), "g");
    assert_eq!(header(&r, "x-litellm-model-api-base"), mock.url());
    assert!(!header(&r, "x-litellm-model-id").is_empty());
    let total: f64 = header(&r, "x-litellm-response-duration-ms")
        .parse()
        .unwrap();
    let overhead: f64 = header(&r, "x-litellm-overhead-duration-ms")
        .parse()
        .unwrap();
    assert!(overhead <= total && total > 0.0);
    assert_eq!(mock.request_count(), 3);

    // Out of retries: the last provider error is the answer.
    mock.fail_next(3, 503);
    expect_error(post(&gw, "/v1/chat/completions", &chat("g")).await, 503).await;
    // A client error is not retried.
    mock.fail_next(1, 400);
    let before = mock.request_count();
    expect_error(post(&gw, "/v1/chat/completions", &chat("g")).await, 400).await;
    assert_eq!(mock.request_count(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_chain_is_tried_in_order() {
    let a = MockServer::start(failing(503)).await.unwrap();
    let b = MockServer::start(failing(429)).await.unwrap();
    let c = MockServer::start(MockConfig::default()).await.unwrap();
    let yaml = config(
        &[
            dep("primary", &a, ""),
            dep("second", &b, ""),
            dep("third", &c, ""),
        ],
        "  num_retries: 1\n  fallbacks: [{primary: [second, third]}]\n",
    );
    let gw = Gateway::start(&yaml).await;
    let r = post(&gw, "/v1/chat/completions", &chat("primary")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-litellm-attempted-fallbacks"), "2");
    assert_eq!(header(&r, "x-litellm-model-group"), "third");
    assert_eq!(a.request_count(), 2, "primary: first try + one retry");
    assert_eq!(b.request_count(), 2, "second: first try + one retry");
    assert_eq!(c.request_count(), 1);
    assert_eq!(c.requests()[0].json().unwrap()["model"], "third-up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_window_errors_go_to_context_window_fallbacks_without_retrying() {
    let small = MockServer::start(MockConfig {
        status: Some(400),
        error_code: Some("context_length_exceeded".into()),
        error_message: Some("This model's maximum context length is 8192 tokens".into()),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let big = MockServer::start(MockConfig::default()).await.unwrap();
    let other = MockServer::start(MockConfig::default()).await.unwrap();
    let yaml = config(
        &[dep("small", &small, ""), dep("big", &big, ""), dep("other", &other, "")],
        "  num_retries: 3\n  fallbacks: [{small: [other]}]\n  context_window_fallbacks: [{small: [big]}]\n",
    );
    let gw = Gateway::start(&yaml).await;
    let r = post(&gw, "/v1/chat/completions", &chat("small")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-litellm-model-group"), "big");
    assert_eq!(
        small.request_count(),
        1,
        "a context-length error is not retried"
    );
    assert_eq!(
        other.request_count(),
        0,
        "the specific list wins over the generic one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_deployment_cools_down_then_comes_back() {
    let bad = MockServer::start(failing(500)).await.unwrap();
    let good = MockServer::start(MockConfig::default()).await.unwrap();
    let yaml = config(
        &[dep("g", &bad, ""), dep("g", &good, "")],
        "  num_retries: 1\n  allowed_fails: 1\n  cooldown_time: 1\n",
    );
    let gw = Gateway::start(&yaml).await;
    for _ in 0..30 {
        assert_eq!(
            post(&gw, "/v1/chat/completions", &chat("g")).await.status(),
            200
        );
    }
    // Two failures (allowed_fails + 1) cool it down; after that it is skipped.
    assert_eq!(
        bad.request_count(),
        2,
        "the failing deployment kept being called"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    bad.set_config(MockConfig::default());
    for _ in 0..30 {
        assert_eq!(
            post(&gw, "/v1/chat/completions", &chat("g")).await.status(),
            200
        );
    }
    assert!(bad.request_count() > 2, "the cooldown never expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_deployments_cooling_is_a_429_with_retry_after() {
    let a = MockServer::start(failing(503)).await.unwrap();
    let b = MockServer::start(failing(503)).await.unwrap();
    let yaml = config(
        &[dep("g", &a, ""), dep("g", &b, "")],
        "  allowed_fails: 0\n  cooldown_time: 30\n",
    );
    let gw = Gateway::start(&yaml).await;
    // The first request fails on one deployment, moves to the other and fails there too; each
    // failure cools its deployment at once (allowed_fails: 0).
    expect_error(post(&gw, "/v1/chat/completions", &chat("g")).await, 503).await;
    let r = post(&gw, "/v1/chat/completions", &chat("g")).await;
    let retry_after: u64 = header(&r, "retry-after").parse().unwrap();
    assert!((25..=30).contains(&retry_after), "{retry_after}");
    let e = expect_error(r, 429).await;
    assert!(
        e["message"].as_str().unwrap().contains("cooling down"),
        "{e}"
    );
    assert_eq!(a.request_count() + b.request_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_split_traffic_within_five_percent_over_10k_requests() {
    let light = MockServer::start(MockConfig {
        record_requests: false,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let heavy = MockServer::start(MockConfig {
        record_requests: false,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let yaml = config(
        &[
            dep("g", &light, "      weight: 1\n"),
            dep("g", &heavy, "      weight: 3\n"),
        ],
        "  num_retries: 0\n",
    );
    let gw = Gateway::start(&yaml).await;
    let url = gw.url("/v1/chat/completions");
    let client = client();
    let body = serde_json::to_vec(&chat("g")).unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            tokio::spawn(async move {
                for _ in 0..625 {
                    let r = client
                        .post(&url)
                        .bearer_auth(MASTER_KEY)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let (l, h) = (light.request_count() as f64, heavy.request_count() as f64);
    assert_eq!(l + h, 10_000.0);
    let share = h / (l + h);
    assert!(
        (share - 0.75).abs() <= 0.05 * 0.75,
        "heavy share {share:.3} (light {l}, heavy {h})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_tiers_and_aliases() {
    let first = MockServer::start(MockConfig::default()).await.unwrap();
    let second = MockServer::start(MockConfig::default()).await.unwrap();
    let yaml = config(
        &[
            dep("g", &second, "      order: 2\n"),
            dep("g", &first, "      order: 1\n"),
        ],
        "  num_retries: 1\n  model_group_alias: {gpt-4o: g}\n",
    );
    let gw = Gateway::start(&yaml).await;
    for _ in 0..20 {
        assert_eq!(
            post(&gw, "/v1/chat/completions", &chat("gpt-4o"))
                .await
                .status(),
            200
        );
    }
    assert_eq!(
        (first.request_count(), second.request_count()),
        (20, 0),
        "order 1 serves while healthy"
    );
    first.fail_next(1, 503);
    let r = post(&gw, "/v1/chat/completions", &chat("g")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-litellm-attempted-retries"), "1");
    assert_eq!(second.request_count(), 1, "the retry went to the next tier");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_request_fallbacks_and_disable_fallbacks() {
    let a = MockServer::start(failing(503)).await.unwrap();
    let b = MockServer::start(MockConfig::default()).await.unwrap();
    let c = MockServer::start(MockConfig::default()).await.unwrap();
    let yaml = config(
        &[dep("a", &a, ""), dep("b", &b, ""), dep("c", &c, "")],
        "  fallbacks: [{a: [b]}]\n",
    );
    let gw = Gateway::start(&yaml).await;
    let mut body = chat("a");
    body["disable_fallbacks"] = json!(true);
    expect_error(post(&gw, "/v1/chat/completions", &body).await, 503).await;
    assert_eq!(b.request_count(), 0);
    let mut body = chat("a");
    body["fallbacks"] = json!(["c"]);
    let r = post(&gw, "/v1/chat/completions", &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-litellm-model-group"), "c");
    assert_eq!(
        b.request_count(),
        0,
        "the request's own list replaces the configured one"
    );
    let sent = c.requests()[0].json().unwrap();
    assert!(
        sent.get("fallbacks").is_none() && sent.get("disable_fallbacks").is_none(),
        "{sent}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_parallel_requests_caps_in_flight_calls() {
    let slow = MockServer::start(MockConfig {
        latency: Duration::from_millis(600),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = Gateway::start(&config(
        &[dep("g", &slow, "      max_parallel_requests: 1\n")],
        "  num_retries: 0\n",
    ))
    .await;
    let url = gw.url("/v1/chat/completions");
    let first = tokio::spawn(async move {
        client()
            .post(url)
            .bearer_auth(MASTER_KEY)
            .json(&chat("g"))
            .send()
            .await
            .unwrap()
            .status()
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let e = expect_error(post(&gw, "/v1/chat/completions", &chat("g")).await, 429).await;
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("max_parallel_requests"),
        "{e}"
    );
    assert_eq!(first.await.unwrap(), 200);
    assert_eq!(slow.request_count(), 1);
    // The slot is free again.
    assert_eq!(
        post(&gw, "/v1/chat/completions", &chat("g")).await.status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_before_any_content_is_retried_like_an_error_status() {
    // Anthropic-dialect provider that sends message_start, then an overloaded error event.
    let flaky = MockServer::start(MockConfig {
        stream_error_after_chunks: Some(0),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let good = MockServer::start(MockConfig {
        content: "from the second".into(),
        chunks: 2,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let yaml = format!(
        "model_list:\n  - model_name: g\n    litellm_params:\n      model: anthropic/claude-up\n      api_base: http://{}\n      api_key: k\n      order: 1\n{}general_settings:\n  master_key: {MASTER_KEY}\nrouter_settings:\n  num_retries: 1\n",
        flaky.addr,
        dep("g", &good, "      order: 2\n")
    );
    let gw = Gateway::start(&yaml).await;
    let r = post(
        &gw,
        "/v1/chat/completions",
        &json!({"model": "g", "messages": [{"role": "user", "content": "hi"}], "stream": true}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-litellm-attempted-retries"), "1");
    let text = r.text().await.unwrap();
    assert!(!text.contains("error"), "{text}");
    let content: String = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(content, "from the second");
    assert_eq!(flaky.request_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_filtering_routes_by_request_tags_with_a_default() {
    let paid = MockServer::start(MockConfig::default()).await.unwrap();
    let free = MockServer::start(MockConfig::default()).await.unwrap();
    let default = MockServer::start(MockConfig::default()).await.unwrap();
    let yaml = config(
        &[
            dep("g", &paid, "      tags: [paid]\n"),
            dep("g", &free, "      tags: [free]\n"),
            dep("g", &default, "      tags: [default]\n"),
        ],
        "  enable_tag_filtering: true\n",
    );
    let gw = Gateway::start(&yaml).await;
    let mut body = chat("g");
    body["tags"] = json!(["paid"]);
    for _ in 0..5 {
        assert_eq!(post(&gw, "/v1/chat/completions", &body).await.status(), 200);
    }
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .header("x-litellm-tags", "free")
        .json(&chat("g"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut body = chat("g");
    body["metadata"] = json!({"tags": ["nobody-has-this"]});
    assert_eq!(post(&gw, "/v1/chat/completions", &body).await.status(), 200);
    assert_eq!(
        post(&gw, "/v1/chat/completions", &chat("g")).await.status(),
        200
    );
    assert_eq!(
        (
            paid.request_count(),
            free.request_count(),
            default.request_count()
        ),
        (5, 1, 2)
    );
    assert!(
        paid.requests()[0].json().unwrap().get("tags").is_none(),
        "tags are not sent upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_call_checks_skip_deployments_whose_context_window_is_too_small() {
    let small = MockServer::start(MockConfig::default()).await.unwrap();
    let big = MockServer::start(MockConfig::default()).await.unwrap();
    let huge = MockServer::start(MockConfig::default()).await.unwrap();
    let deployments = [
        format!(
            "{}    model_info: {{max_input_tokens: 100}}\n",
            dep("g", &small, "")
        ),
        format!(
            "{}    model_info: {{max_input_tokens: 100000}}\n",
            dep("g", &big, "")
        ),
        format!(
            "{}    model_info: {{max_input_tokens: 100}}\n",
            dep("tiny", &small, "")
        ),
        format!(
            "{}    model_info: {{max_input_tokens: 1000000}}\n",
            dep("long", &huge, "")
        ),
    ];
    let yaml = config(
        &deployments,
        "  enable_pre_call_checks: true\n  context_window_fallbacks: [{tiny: [long]}]\n",
    );
    let gw = Gateway::start(&yaml).await;
    let long_prompt =
        json!({"model": "g", "messages": [{"role": "user", "content": "word ".repeat(2000)}]});
    for _ in 0..5 {
        assert_eq!(
            post(&gw, "/v1/chat/completions", &long_prompt)
                .await
                .status(),
            200
        );
    }
    assert_eq!((small.request_count(), big.request_count()), (0, 5));
    // A group none of whose deployments fits goes to its context-window fallback.
    let mut to_tiny = long_prompt.clone();
    to_tiny["model"] = json!("tiny");
    let r = post(&gw, "/v1/chat/completions", &to_tiny).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-litellm-model-group"), "long");
    assert_eq!(small.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_groups_take_any_model_with_their_prefix() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let exact = MockServer::start(MockConfig::default()).await.unwrap();
    let yaml = format!(
        "model_list:\n  - model_name: \"openai/*\"\n    litellm_params:\n      model: \"openai/*\"\n      api_base: {}\n      api_key: k\n{}general_settings:\n  master_key: {MASTER_KEY}\n",
        mock.url(),
        dep("openai/gpt-exact", &exact, "")
    );
    let gw = Gateway::start(&yaml).await;
    let r = post(&gw, "/v1/chat/completions", &chat("openai/gpt-4o-mini")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-litellm-model-group"), "openai/*");
    assert_eq!(mock.requests()[0].json().unwrap()["model"], "gpt-4o-mini");
    // An exact group wins over the wildcard.
    assert_eq!(
        post(&gw, "/v1/chat/completions", &chat("openai/gpt-exact"))
            .await
            .status(),
        200
    );
    assert_eq!(exact.request_count(), 1);
    // Other prefixes are still unknown.
    expect_error(
        post(&gw, "/v1/chat/completions", &chat("anthropic/claude")).await,
        400,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_policy_and_allowed_fails_policy_per_error_class() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let other = MockServer::start(MockConfig::default()).await.unwrap();
    let yaml = config(
        &[dep("g", &mock, "      order: 1\n"), dep("g", &other, "      order: 2\n")],
        "  num_retries: 5\n  allowed_fails: 0\n  retry_policy: {RateLimitErrorRetries: 2, InternalServerErrorRetries: 0, BadRequestErrorRetries: 1}\n  allowed_fails_policy: {RateLimitErrorAllowedFails: 100}\n",
    );
    let gw = Gateway::start(&yaml).await;
    let calls = || mock.request_count() + other.request_count();
    // 503: no retries by policy (num_retries would give 5), but the request still moves at
    // once to the deployment it has not tried.
    mock.fail_next(1, 503);
    let before = calls();
    let r = post(&gw, "/v1/chat/completions", &chat("g")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-litellm-attempted-retries"), "1");
    assert_eq!(calls() - before, 2);
    assert_eq!(other.request_count(), 1);
    // That 503 cooled its deployment (allowed_fails 0); the other one takes the next requests.
    // 429 three times: two retries by policy, and no cooldown (100 allowed).
    mock.fail_next(3, 429);
    other.fail_next(3, 429);
    let before = calls();
    let r = post(&gw, "/v1/chat/completions", &chat("g")).await;
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "x-litellm-attempted-retries"), "2");
    assert_eq!(calls() - before, 3);
    // A 400 is retried once because the policy says so.
    mock.reset();
    other.reset();
    mock.set_config(MockConfig {
        status: Some(400),
        ..MockConfig::default()
    });
    other.set_config(MockConfig {
        status: Some(400),
        ..MockConfig::default()
    });
    let r = post(&gw, "/v1/chat/completions", &chat("g")).await;
    assert_eq!(r.status(), 400);
    assert_eq!(header(&r, "x-litellm-attempted-retries"), "1");
}
