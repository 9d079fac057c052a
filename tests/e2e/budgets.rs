//! E2E: budgets (reservation, races, windows, restart), rate limits and spend accounting on
//! the request path, through virtual keys made with the management API.

use std::time::Duration;

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::support::{client, post, Gateway, MASTER_KEY};

/// Every mock answer reports 10 prompt + 5 completion tokens; at 0.001 / 0.002 USD per token
/// a request costs exactly 0.02.
pub const COST: f64 = 0.02;

pub fn priced_mock(latency_ms: u64) -> MockConfig {
    MockConfig {
        latency: Duration::from_millis(latency_ms),
        prompt_tokens: Some(10),
        completion_tokens: Some(5),
        ..MockConfig::default()
    }
}

pub fn config(api_base: &str, tail: &str) -> String {
    format!(
        "model_list:
  - model_name: priced
    litellm_params:
      model: openai/upstream-model
      api_base: {api_base}
      api_key: sk-upstream
      input_cost_per_token: 0.001
      output_cost_per_token: 0.002
general_settings:
  master_key: {MASTER_KEY}
  proxy_batch_write_at: 1
{tail}"
    )
}

pub async fn generate_key(gw: &Gateway, body: Value) -> String {
    let r = post(gw, "/key/generate", &body).await;
    assert_eq!(r.status(), 200, "key/generate");
    let v: Value = r.json().await.unwrap();
    v["key"].as_str().expect("key in response").to_string()
}

pub async fn key_spend(gw: &Gateway, key: &str) -> f64 {
    let r = client()
        .get(gw.url(&format!("/key/info?key={key}")))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["info"]["spend"]
        .as_f64()
        .unwrap_or_else(|| panic!("no spend in {v}"))
}

/// The key's spend once it reaches `expected` (within 3 s): a request is settled just after its
/// last byte reaches the client, so a read right after a response may not include it yet.
pub async fn settled_spend(gw: &Gateway, key: &str, expected: f64) -> f64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        let spend = key_spend(gw, key).await;
        if (spend - expected).abs() < 1e-9 || std::time::Instant::now() > deadline {
            return spend;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn chat(gw: &Gateway, key: &str, extra: Value) -> reqwest::Response {
    let mut body = json!({"model": "priced", "max_tokens": 5,
                          "messages": [{"role": "user", "content": "hello"}]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Sends `n` chat requests with `key` at once (models taken in turn from `models`) and returns
/// the responses.
async fn race(gw: &Gateway, key: &str, models: &[&str], n: usize) -> Vec<reqwest::Response> {
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (url, key) = (gw.url("/v1/chat/completions"), key.to_string());
            let model = models[i % models.len()].to_string();
            tokio::spawn(async move {
                client()
                    .post(url)
                    .bearer_auth(key)
                    .json(&json!({"model": model, "max_tokens": 5,
                                  "messages": [{"role": "user", "content": "hello"}]}))
                    .send()
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn spend_is_charged_from_usage_and_reported_in_headers() {
    let mock = MockServer::start(priced_mock(0)).await.unwrap();
    let gw = Gateway::start(&config(&mock.url(), "")).await;
    let key = generate_key(&gw, json!({"max_budget": 10})).await;
    let r = chat(&gw, &key, json!({})).await;
    assert_eq!(r.status(), 200);
    let h = |n: &str| r.headers()[n].to_str().unwrap().parse::<f64>().unwrap();
    assert!((h("x-litellm-response-cost") - COST).abs() < 1e-9);
    assert!((h("x-litellm-key-spend") - COST).abs() < 1e-9);
    let r = chat(&gw, &key, json!({})).await;
    let spend: f64 = r.headers()["x-litellm-key-spend"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((spend - 2.0 * COST).abs() < 1e-9, "{spend}");
    assert!((settled_spend(&gw, &key, 2.0 * COST).await - 2.0 * COST).abs() < 1e-9);
}

#[tokio::test]
async fn racing_requests_never_push_spend_past_the_budget() {
    let mock = MockServer::start(priced_mock(40)).await.unwrap();
    let gw = Gateway::start(&config(&mock.url(), "")).await;
    let key = generate_key(&gw, json!({"max_budget": 1.0})).await;
    // Nearly spend it: 45 × 0.02 = 0.90 of 1.00.
    for _ in 0..45 {
        assert_eq!(chat(&gw, &key, json!({})).await.status(), 200);
    }
    // 200 requests race for the last 0.10.
    let (mut ok, mut refused) = (0, 0);
    for r in race(&gw, &key, &["priced"], 200).await {
        match r.status().as_u16() {
            200 => ok += 1,
            400 => {
                let v: Value = r.json().await.unwrap();
                assert!(crate::support::is_budget_refusal(&v), "{v}");
                refused += 1;
            }
            s => panic!("unexpected status {s}"),
        }
    }
    assert!(ok >= 1, "some of the remaining budget is usable");
    assert_eq!(ok + refused, 200);
    let spend = settled_spend(&gw, &key, (45 + ok) as f64 * COST).await;
    assert!(spend <= 1.0 + 1e-9, "spend {spend} exceeded max_budget 1.0");
    assert!(
        (spend - (45 + ok) as f64 * COST).abs() < 1e-9,
        "spend {spend} matches {ok} admitted requests"
    );
}

#[tokio::test]
async fn key_rate_limits_answer_429_with_headers() {
    crate::support::away_from_minute_boundary().await;
    let mock = MockServer::start(priced_mock(0)).await.unwrap();
    let gw = Gateway::start(&config(&mock.url(), "")).await;
    let key = generate_key(&gw, json!({"rpm_limit": 3})).await;
    for i in 0..3 {
        let r = chat(&gw, &key, json!({})).await;
        assert_eq!(r.status(), 200, "request {i}");
        assert_eq!(r.headers()["x-ratelimit-limit-requests"], "3");
        assert_eq!(
            r.headers()["x-ratelimit-remaining-requests"],
            (2 - i).to_string().as_str()
        );
    }
    let r = chat(&gw, &key, json!({})).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(r.headers()["x-ratelimit-remaining-requests"], "0");
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Limit type: requests"));

    // 15 tokens per request: with tpm 20 the third request of the minute is refused.
    let key = generate_key(&gw, json!({"tpm_limit": 20})).await;
    assert_eq!(chat(&gw, &key, json!({})).await.status(), 200);
    assert_eq!(chat(&gw, &key, json!({})).await.status(), 200);
    let r = chat(&gw, &key, json!({})).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["x-ratelimit-limit-tokens"], "20");
}

#[tokio::test]
async fn parallel_limit_counts_requests_in_flight() {
    let mock = MockServer::start(priced_mock(400)).await.unwrap();
    let gw = Gateway::start(&config(&mock.url(), "")).await;
    let key = generate_key(&gw, json!({"max_parallel_requests": 1})).await;
    let (a, b) = tokio::join!(chat(&gw, &key, json!({})), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        chat(&gw, &key, json!({})).await
    });
    assert_eq!(a.status(), 200);
    assert_eq!(b.status(), 429);
    // The slot is free again once the first finished.
    assert_eq!(chat(&gw, &key, json!({})).await.status(), 200);
}

#[tokio::test]
async fn per_model_key_limits_and_budgets_apply_to_that_model_only() {
    let mock = MockServer::start(priced_mock(0)).await.unwrap();
    let yaml = config(&mock.url(), "").replacen(
        "model_list:\n",
        &format!("model_list:\n  - model_name: other\n    litellm_params:\n      model: openai/x\n      api_base: {}\n      api_key: k\n", mock.url()),
        1,
    );
    let gw = Gateway::start(&yaml).await;
    let key = generate_key(
        &gw,
        json!({"model_max_budget": {"priced": {"budget_limit": 0.045}}}),
    )
    .await;
    assert_eq!(chat(&gw, &key, json!({})).await.status(), 200);
    assert_eq!(
        chat(&gw, &key, json!({})).await.status(),
        400,
        "0.02 spent of 0.045; the worst case (~0.032) does not fit"
    );
    assert_eq!(
        chat(&gw, &key, json!({"model": "other"})).await.status(),
        200
    );
}

#[tokio::test]
async fn budget_windows_reset_and_the_proxy_budget_holds() {
    let mock = MockServer::start(priced_mock(0)).await.unwrap();
    let gw = Gateway::start(&config(&mock.url(), "")).await;
    let key = generate_key(&gw, json!({"max_budget": 0.045, "budget_duration": "2s"})).await;
    // Start just after a 2 s window boundary so the two requests share a window.
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    tokio::time::sleep(Duration::from_millis(2_000 - ms % 2_000 + 50)).await;
    assert_eq!(chat(&gw, &key, json!({})).await.status(), 200);
    assert_eq!(chat(&gw, &key, json!({})).await.status(), 400);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(
        chat(&gw, &key, json!({})).await.status(),
        200,
        "a new window"
    );

    let mock = MockServer::start(priced_mock(0)).await.unwrap();
    let gw = Gateway::start(&config(
        &mock.url(),
        "litellm_settings:\n  max_budget: 0.045\n",
    ))
    .await;
    assert_eq!(chat(&gw, MASTER_KEY, json!({})).await.status(), 200);
    let r = chat(&gw, MASTER_KEY, json!({})).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("Proxy"),
        "{v}"
    );
}

#[tokio::test]
async fn streams_are_charged_and_usage_is_hidden_unless_asked() {
    let mock = MockServer::start(MockConfig {
        chunks: 40,
        chunk_interval: Duration::from_millis(10),
        ..priced_mock(0)
    })
    .await
    .unwrap();
    let gw = Gateway::start(&config(&mock.url(), "")).await;
    let key = generate_key(&gw, json!({})).await;
    // The client did not ask for usage: the gateway did, and strips it.
    let r = chat(&gw, &key, json!({"stream": true})).await;
    let text = r.text().await.unwrap();
    assert!(
        !text.contains("\"usage\""),
        "usage leaked to the client: {text}"
    );
    assert!(text.trim_end().ends_with("data: [DONE]"));
    let asked = chat(
        &gw,
        &key,
        json!({"stream": true, "stream_options": {"include_usage": true}}),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(asked.contains("\"usage\""));
    let spend = settled_spend(&gw, &key, 2.0 * COST).await;
    assert!((spend - 2.0 * COST).abs() < 1e-9, "spend {spend}");

    // A client that leaves mid-stream is charged for what was generated.
    let key2 = generate_key(&gw, json!({})).await;
    let mut r = chat(&gw, &key2, json!({"stream": true})).await;
    let _ = r.chunk().await.unwrap();
    drop(r);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let spend = key_spend(&gw, &key2).await;
    assert!(spend > 0.0, "a dropped stream is still charged");
}

#[tokio::test]
async fn spend_survives_a_restart_and_a_kill() {
    let mock = MockServer::start(priced_mock(0)).await.unwrap();
    let dir = crate::support::scratch_dir();
    let db = dir.join("spend.db");
    let tail = format!("tollgate_settings:\n  database_path: {}\n", db.display());
    let yaml = config(&mock.url(), &tail);
    let mut gw = Gateway::start(&yaml).await;
    let key = generate_key(&gw, json!({"max_budget": 5})).await;
    for _ in 0..3 {
        assert_eq!(chat(&gw, &key, json!({})).await.status(), 200);
    }
    gw.signal(libc::SIGTERM);
    assert!(gw.wait_exit(Duration::from_secs(10)).await.is_some());

    let mut gw = Gateway::start(&yaml).await;
    assert!(
        (settled_spend(&gw, &key, 3.0 * COST).await - 3.0 * COST).abs() < 1e-9,
        "graceful stop flushes"
    );
    assert_eq!(chat(&gw, &key, json!({})).await.status(), 200);
    // kill -9 after the 1 s flush interval: nothing lost.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    gw.signal(libc::SIGKILL);
    gw.wait_exit(Duration::from_secs(5)).await;

    let gw = Gateway::start(&yaml).await;
    assert!(
        (settled_spend(&gw, &key, 4.0 * COST).await - 4.0 * COST).abs() < 1e-9,
        "flushed before the kill"
    );
}

#[tokio::test]
async fn a_key_limited_to_some_models_lists_only_those() {
    let mock = MockServer::start(priced_mock(0)).await.unwrap();
    let yaml = config(&mock.url(), "").replacen(
        "model_list:\n",
        &format!("model_list:\n  - model_name: other\n    litellm_params:\n      model: openai/x\n      api_base: {}\n      api_key: k\n", mock.url()),
        1,
    );
    let gw = Gateway::start(&yaml).await;
    let ids = |v: Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    let list = |key: String| {
        let url = gw.url("/v1/models");
        async move {
            let r = client().get(url).bearer_auth(key).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let limited = generate_key(&gw, json!({"models": ["priced"]})).await;
    assert_eq!(ids(list(limited).await), ["priced"]);
    let open = generate_key(&gw, json!({})).await;
    let mut all = ids(list(open).await);
    all.sort();
    assert_eq!(all, ["other", "priced"]);
}

#[tokio::test]
async fn wildcard_requests_are_priced_by_the_model_named_and_reserved_for() {
    let mock = MockServer::start(priced_mock(40)).await.unwrap();
    let yaml = format!(
        "model_list:
  - model_name: openai/*
    litellm_params:
      model: openai/*
      api_base: {}
      api_key: sk-upstream
router_settings:
  model_group_alias: {{mini: openai/gpt-4o-mini}}
general_settings:
  master_key: {MASTER_KEY}
  proxy_batch_write_at: 1
",
        mock.url()
    );
    let gw = Gateway::start(&yaml).await;
    // gpt-4o-mini in the bundled table: 1.5e-7 in, 6e-7 out; 10 + 5 tokens.
    let one = 10.0 * 1.5e-7 + 5.0 * 6e-7;
    let key = generate_key(&gw, json!({"max_budget": one * 3.5})).await;
    let r = chat(&gw, &key, json!({"model": "openai/gpt-4o-mini"})).await;
    assert_eq!(r.status(), 200);
    let cost: f64 = r.headers()["x-litellm-response-cost"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((cost - one).abs() < 1e-12, "cost {cost}, expected {one}");
    // 50 requests race (through the alias too) for the rest: reservations at the named
    // model's price keep the spend within the budget.
    let mut ok = 0;
    for r in race(&gw, &key, &["mini", "openai/gpt-4o-mini"], 50).await {
        match r.status().as_u16() {
            200 => ok += 1,
            400 => {}
            s => panic!("unexpected status {s}"),
        }
    }
    assert!(ok >= 1, "some of the remaining budget is usable");
    let spend = settled_spend(&gw, &key, (1 + ok) as f64 * one).await;
    assert!(
        spend <= one * 3.5 + 1e-12,
        "spend {spend} exceeded max_budget {}",
        one * 3.5
    );
    assert!(
        (spend - (1 + ok) as f64 * one).abs() < 1e-12,
        "{spend} vs {ok} admitted"
    );
}

#[tokio::test]
async fn a_fallback_to_a_pricier_group_is_reserved_for_too() {
    let down = MockServer::start(MockConfig {
        status: Some(503),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let pricey = MockServer::start(priced_mock(40)).await.unwrap();
    let yaml = format!(
        "model_list:
  - model_name: cheap
    litellm_params:
      model: openai/cheap
      api_base: {}
      api_key: k
      input_cost_per_token: 0.000001
      output_cost_per_token: 0.000002
  - model_name: pricey
    litellm_params:
      model: openai/pricey
      api_base: {}
      api_key: k
      input_cost_per_token: 0.001
      output_cost_per_token: 0.002
router_settings:
  num_retries: 0
  fallbacks: [{{cheap: [pricey]}}]
general_settings:
  master_key: {MASTER_KEY}
  proxy_batch_write_at: 1
",
        down.url(),
        pricey.url()
    );
    let gw = Gateway::start(&yaml).await;
    let cheap = json!({"model": "cheap"});
    // Room for a cheap request's worst case, not for the pricey group's (~0.03 with the
    // prompt estimate and max_tokens 5): no fallback, the primary's error, nothing spent.
    let tight = generate_key(&gw, json!({"max_budget": 0.025})).await;
    assert_ne!(chat(&gw, &tight, cheap.clone()).await.status(), 200);
    assert_eq!(pricey.request_count(), 0, "{}", gw.logs());
    // With room, the fallback serves it and the pricier cost is charged.
    let roomy = generate_key(&gw, json!({"max_budget": 1.0})).await;
    let r = chat(&gw, &roomy, cheap.clone()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-litellm-model-group"], "pricey");
    // Racing requests that all fall back stay within the budget.
    let key = generate_key(&gw, json!({"max_budget": 0.1})).await;
    let ok = race(&gw, &key, &["cheap"], 20)
        .await
        .iter()
        .filter(|r| r.status() == 200)
        .count();
    assert!(ok >= 1);
    let spend = settled_spend(&gw, &key, ok as f64 * COST).await;
    assert!(spend <= 0.1 + 1e-9, "spend {spend} exceeded max_budget 0.1");
    assert!(
        (spend - ok as f64 * COST).abs() < 1e-9,
        "{spend} vs {ok} served"
    );
}
