//! Stage 1: which keys get in, from which headers, and what a refusal looks like.

use bench::mock::{MockConfig, MockServer};
use serde_json::json;

use crate::support::*;

fn chat() -> serde_json::Value {
    json!({"model": "test-model", "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_key_is_accepted_from_every_key_header() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config_for(&mock.url(), "", "")).await;
    let c = client();
    let url = gw.url("/v1/chat/completions");
    let ok = [
        c.post(&url).bearer_auth(MASTER_KEY),
        c.post(&url).header("x-api-key", MASTER_KEY),
        c.post(&url).header("api-key", MASTER_KEY),
        c.post(&url).header("x-goog-api-key", MASTER_KEY),
        c.post(&url).header("x-litellm-api-key", MASTER_KEY),
    ];
    for (i, rb) in ok.into_iter().enumerate() {
        let r = rb.json(&chat()).send().await.unwrap();
        assert_eq!(r.status(), 200, "header variant {i}");
    }
    // The client's key never reaches the provider: the deployment's own key does.
    for r in mock.requests() {
        assert_eq!(r.header("authorization"), Some("Bearer sk-upstream-secret"));
        assert_eq!(r.header("x-api-key"), None);
        assert_eq!(r.header("api-key"), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_wrong_key_is_401_and_never_reaches_the_provider() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config_for(&mock.url(), "", "")).await;
    let c = client();
    let url = gw.url("/v1/chat/completions");

    let e = expect_error(c.post(&url).json(&chat()).send().await.unwrap(), 401).await;
    assert!(e["message"].as_str().unwrap().contains("No api key"), "{e}");

    let e = expect_error(
        c.post(&url)
            .bearer_auth("sk-e2e-mastex")
            .json(&chat())
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("Invalid"), "{e}");

    // A prefix of the right key is still wrong.
    let prefix = &MASTER_KEY[..MASTER_KEY.len() - 1];
    expect_error(
        c.post(&url)
            .bearer_auth(prefix)
            .json(&chat())
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;

    // /v1/models is protected too.
    expect_error(c.get(gw.url("/v1/models")).send().await.unwrap(), 401).await;
    assert_eq!(mock.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_routes_need_no_key() {
    let gw = Gateway::start_default().await;
    let c = client();
    for path in ["/health/liveliness", "/health/liveness"] {
        let r = c.get(gw.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.text().await.unwrap(), "\"I'm alive!\"");
    }
    let r = c.get(gw.url("/health/readiness")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["status"], "healthy");
}
