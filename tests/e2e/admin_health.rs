//! E2E: `GET /health` checks deployments as LiteLLM does — a tiny real call to each, answered
//! as `healthy_endpoints` / `unhealthy_endpoints` with counts, never with a credential — on
//! demand, or from background runs (`background_health_checks`, `health_check_interval`) that
//! call no provider when `/health` is asked. `/health/readiness` keeps LiteLLM's fields.

use std::time::{Duration, Instant};

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::admin_support::*;
use crate::support::*;

/// Groups `good` and `bad` (one mock each), `mocked` (`mock_response`), and `wild` (an
/// `openai/*` wildcard checked as `health_check_model`).
fn config(good: &MockServer, bad: &MockServer, general: &str) -> String {
    format!(
        "model_list:
  - model_name: good
    litellm_params:
      model: openai/good-model
      api_base: {good}
      api_key: sk-upstream-secret
      rpm: 60
  - model_name: bad
    litellm_params:
      model: openai/bad-model
      api_base: {bad}
      api_key: sk-upstream-secret
  - model_name: mocked
    litellm_params:
      model: openai/gpt-4o
      mock_response: hi
  - model_name: wild
    litellm_params:
      model: openai/*
      api_base: {good}
      api_key: sk-upstream-secret
    model_info:
      health_check_model: openai/gpt-4o-mini
      health_check_max_tokens: 3
general_settings:
  master_key: {MASTER_KEY}
{general}",
        good = good.url(),
        bad = bad.url()
    )
}

async fn mocks() -> (MockServer, MockServer) {
    let good = MockServer::start(MockConfig::default()).await.unwrap();
    let bad = MockServer::start(MockConfig {
        status: Some(500),
        error_message: Some("upstream exploded".into()),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    (good, bad)
}

fn models(list: &Value) -> Vec<String> {
    let mut v = ids(list, "model");
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_every_deployment_and_shows_no_secret() {
    let (good, bad) = mocks().await;
    let gw = Gateway::start(&config(&good, &bad, "")).await;

    let r = get(&gw, "/health").await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        !text.contains("sk-upstream-secret") && !text.contains(MASTER_KEY),
        "{text}"
    );
    let h: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(h["healthy_count"], 3, "{h}");
    assert_eq!(h["unhealthy_count"], 1, "{h}");
    assert_eq!(
        models(&h["healthy_endpoints"]),
        ["openai/*", "openai/good-model", "openai/gpt-4o"]
    );
    let sick = &h["unhealthy_endpoints"][0];
    assert_eq!(sick["model"], "openai/bad-model");
    assert_eq!(sick["api_base"], bad.url());
    assert_eq!(sick["exception_status"], 500);
    assert!(
        sick["error"]
            .as_str()
            .unwrap()
            .contains("upstream exploded"),
        "{sick}"
    );
    assert!(sick["model_id"].is_string());
    let fine = h["healthy_endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["model"] == "openai/good-model")
        .unwrap();
    assert_eq!(fine["rpm"], 60);

    // Each check was a tiny real call: 16 tokens, or the deployment's own settings.
    let sent: Vec<Value> = good.requests().iter().filter_map(|r| r.json()).collect();
    let plain = sent.iter().find(|b| b["model"] == "good-model").unwrap();
    assert_eq!(plain["max_tokens"], 16);
    assert!(plain["messages"][0]["content"].is_string());
    let wild = sent.iter().find(|b| b["model"] == "gpt-4o-mini").unwrap();
    assert_eq!(wild["max_tokens"], 3);

    // One model: 503 when nothing of it is healthy (monitors rely on the status).
    assert_eq!(get(&gw, "/health?model=bad").await.status(), 503);
    let one = ok(get(&gw, "/health?model=good").await).await;
    assert_eq!(one["healthy_count"], 1);
    let id = sick["model_id"].as_str().unwrap();
    assert_eq!(
        get(&gw, &format!("/health?model_id={id}")).await.status(),
        503
    );

    // A virtual key sees its own models, without provider addresses; no key, no answer.
    let key = secret(&generate(&gw, json!({"models": ["good", "bad"]})).await);
    let r = client()
        .get(gw.url("/health"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&r, "litellm-health-field-notice"),
        "api_base and api_version are admin-only on this endpoint"
    );
    let mine: Value = r.json().await.unwrap();
    assert_eq!(mine["healthy_count"], 1);
    assert_eq!(mine["unhealthy_count"], 1);
    assert!(
        mine["unhealthy_endpoints"][0].get("api_base").is_none(),
        "{mine}"
    );
    expect_error(client().get(gw.url("/health")).send().await.unwrap(), 401).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_checks_answer_from_the_last_run_and_run_on_schedule() {
    let (good, bad) = mocks().await;
    let gw = Gateway::start(&config(
        &good,
        &bad,
        "  background_health_checks: true\n  health_check_interval: 1\n  health_check_details: false\n",
    ))
    .await;
    // The first run lands shortly after start.
    let deadline = Instant::now() + Duration::from_secs(10);
    let h = loop {
        let h = ok(get(&gw, "/health").await).await;
        if h["healthy_count"].as_u64().unwrap_or(0) + h["unhealthy_count"].as_u64().unwrap_or(0)
            == 4
        {
            break h;
        }
        assert!(Instant::now() < deadline, "no background run: {h}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(h["unhealthy_count"], 1);
    // health_check_details: false shows only which deployment and its status.
    let sick = h["unhealthy_endpoints"][0].as_object().unwrap();
    let mut fields: Vec<&str> = sick.keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(
        fields,
        ["exception_status", "model", "model_id"],
        "{sick:?}"
    );

    // The provider recovers: the next scheduled run sees it without anyone asking.
    bad.set_config(MockConfig::default());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let h = ok(get(&gw, "/health").await).await;
        if h["unhealthy_count"] == 0 && h["healthy_count"] == 4 {
            break;
        }
        assert!(Instant::now() < deadline, "recovery never seen: {h}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_interval_means_health_calls_no_provider() {
    let (good, bad) = mocks().await;
    let gw = Gateway::start(&config(
        &good,
        &bad,
        "  background_health_checks: true\n  health_check_interval: 3600\n",
    ))
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while bad.request_count() == 0 || good.request_count() < 2 {
        assert!(
            Instant::now() < deadline,
            "the first run never reached the mocks"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = (good.request_count(), bad.request_count());
    for _ in 0..5 {
        let h = ok(get(&gw, "/health").await).await;
        assert_eq!(h["healthy_count"], 3, "{h}");
    }
    assert_eq!(
        (good.request_count(), bad.request_count()),
        before,
        "/health called a provider"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_keeps_litellm_s_fields() {
    let gw = start_keys().await;
    let r = ok(client()
        .get(gw.url("/health/readiness"))
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(r["status"], "healthy");
    assert_eq!(r["db"], "connected");
    assert!(r.get("cache").is_some(), "{r}");
    assert_eq!(r["litellm_version"], env!("CARGO_PKG_VERSION"));
}
