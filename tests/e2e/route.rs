//! Stage 3: model groups, the model list, unknown models and unknown routes.

use bench::mock::{MockConfig, MockServer};
use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_lists_groups_with_and_without_v1() {
    let a = MockServer::start(MockConfig::default()).await.unwrap();
    let yaml = format!(
        "model_list:\n  - model_name: alpha\n    litellm_params: {{model: openai/a1, api_base: \"{u}\", api_key: k}}\n  - model_name: beta\n    litellm_params: {{model: openai/b1, api_base: \"{u}\", api_key: k}}\n  - model_name: alpha\n    litellm_params: {{model: openai/a2, api_base: \"{u}\", api_key: k}}\ngeneral_settings: {{master_key: {MASTER_KEY}}}\n",
        u = a.url()
    );
    let gw = Gateway::start(&yaml).await;
    for path in ["/v1/models", "/models"] {
        let r = client()
            .get(gw.url(path))
            .bearer_auth(MASTER_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["object"], "list");
        let ids: Vec<&str> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["alpha", "beta"], "{path}");
        assert!(v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["object"] == "model"));
    }

    // Both deployments of a group serve it.
    for _ in 0..40 {
        let r = post(
            &gw,
            "/v1/chat/completions",
            &json!({"model": "alpha", "messages": [{"role":"user","content":"x"}]}),
        )
        .await;
        assert_eq!(r.status(), 200);
    }
    let models: Vec<String> = a
        .requests()
        .iter()
        .map(|r| r.json().unwrap()["model"].as_str().unwrap().to_string())
        .collect();
    assert!(
        models.contains(&"a1".to_string()) && models.contains(&"a2".to_string()),
        "{models:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_model_is_400_listing_the_groups() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config_for(&mock.url(), "", "")).await;
    let e = expect_error(
        post(
            &gw,
            "/v1/chat/completions",
            &json!({"model": "gpt-9", "messages": []}),
        )
        .await,
        400,
    )
    .await;
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("gpt-9") && msg.contains("test-model"), "{msg}");
    assert_eq!(e["param"], "model");
    assert_eq!(mock.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let gw = Gateway::start_default().await;
    let c = client();
    expect_error(
        c.post(gw.url("/v1/nope"))
            .bearer_auth("sk-tollgate-dev")
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    expect_error(
        c.get(gw.url("/v1/chat/completions")).send().await.unwrap(),
        405,
    )
    .await;
}
