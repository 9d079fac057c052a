//! Stage 4: what the provider receives — its own model name, its own key, the right Host and
//! path, the client's unknown fields untouched, deployment defaults filled in.

use bench::mock::{MockConfig, MockServer};
use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_gets_its_model_key_host_path_and_untouched_fields() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let extra = "      temperature: 0.25\n      max_tokens: 77";
    let gw = Gateway::start(&config_for(&mock.url(), extra, "")).await;
    let body = json!({
        "model": "test-model",
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": 5,
        "vendor_extension": {"nested": [1, 2, {"k": "v"}]},
        "logit_bias": {"50256": -100}
    });
    let r = post(&gw, "/v1/chat/completions", &body).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-litellm-call-id").is_some());

    let got = &mock.requests()[0];
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/v1/chat/completions");
    let port = mock.addr.port();
    assert_eq!(
        got.header("host"),
        Some(format!("127.0.0.1:{port}").as_str())
    );
    assert_eq!(
        got.header("authorization"),
        Some("Bearer sk-upstream-secret")
    );
    let sent = got.json().unwrap();
    assert_eq!(sent["model"], "upstream-model");
    assert_eq!(sent["messages"], body["messages"]);
    assert_eq!(sent["vendor_extension"], body["vendor_extension"]);
    assert_eq!(sent["logit_bias"], body["logit_bias"]);
    assert_eq!(
        sent["max_tokens"], 5,
        "the client's value wins over the deployment default"
    );
    assert_eq!(
        sent["temperature"], 0.25,
        "deployment default fills what the client left out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_without_v1_and_all_three_endpoints_reach_the_provider() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config_for(&mock.url(), "", "")).await;
    let cases = [
        (
            "/chat/completions",
            json!({"model": "test-model", "messages": [{"role":"user","content":"x"}]}),
            "/v1/chat/completions",
            "chat.completion",
        ),
        (
            "/v1/completions",
            json!({"model": "test-model", "prompt": "Say hi"}),
            "/v1/completions",
            "text_completion",
        ),
        (
            "/completions",
            json!({"model": "test-model", "prompt": "Say hi"}),
            "/v1/completions",
            "text_completion",
        ),
        (
            "/v1/embeddings",
            json!({"model": "test-model", "input": ["a", "b"]}),
            "/v1/embeddings",
            "list",
        ),
        (
            "/embeddings",
            json!({"model": "test-model", "input": "a"}),
            "/v1/embeddings",
            "list",
        ),
    ];
    for (i, (path, body, upstream_path, object)) in cases.iter().enumerate() {
        let r = post(&gw, path, body).await;
        assert_eq!(r.status(), 200, "{path}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["object"], *object, "{path}: {v}");
        assert_eq!(mock.requests()[i].path, *upstream_path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_default_config_answers_without_any_provider() {
    let gw = Gateway::start_default().await;
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("sk-tollgate-dev")
        .json(&json!({"model": "tollgate-demo", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert!(
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("Tollgate"),
        "{v}"
    );
}
