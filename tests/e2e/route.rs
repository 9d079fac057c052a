//! Stage 3: model groups, the model list, unknown models and unknown routes.

use bench::mock::{MockConfig, MockServer};
use serde_json::json;

use crate::admin_support::ids;
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
        assert_eq!(ids(&v["data"], "id"), ["alpha", "beta"], "{path}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_star_sends_each_model_to_the_provider_it_belongs_to() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let exact = MockServer::start(MockConfig::default()).await.unwrap();
    // One `*` entry; its api_base serves every provider's dialect (the mock speaks them all).
    let yaml = format!(
        "model_list:\n  - model_name: \"*\"\n    litellm_params:\n      model: \"*\"\n      api_base: http://{addr}\n      api_key: sk-star\n  - model_name: gpt-4o\n    litellm_params: {{model: openai/gpt-4o-2024-08-06, api_base: \"{exact}\", api_key: k}}\ngeneral_settings:\n  master_key: {MASTER_KEY}\n",
        addr = mock.addr,
        exact = exact.url()
    );
    let gw = Gateway::start(&yaml).await;
    let chat = |m: &str| json!({"model": m, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 20});
    for (model, path, upstream, auth) in [
        (
            "openai/some-model",
            "/chat/completions",
            "some-model",
            ("authorization", "Bearer sk-star"),
        ),
        // No prefix: the price table says whose model it is.
        (
            "gpt-4o-mini",
            "/chat/completions",
            "gpt-4o-mini",
            ("authorization", "Bearer sk-star"),
        ),
        (
            "anthropic/claude-3-5-sonnet-latest",
            "/v1/messages",
            "claude-3-5-sonnet-latest",
            ("x-api-key", "sk-star"),
        ),
        (
            "claude-3-haiku-20240307",
            "/v1/messages",
            "claude-3-haiku-20240307",
            ("x-api-key", "sk-star"),
        ),
    ] {
        let r = post(&gw, "/v1/chat/completions", &chat(model)).await;
        assert_eq!(r.status(), 200, "{model}");
        assert_eq!(header(&r, "x-litellm-model-group"), "*", "{model}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["object"], "chat.completion", "{model}: {body}");
        let seen = mock.requests().pop().unwrap();
        assert!(seen.path.ends_with(path), "{model}: {}", seen.path);
        assert_eq!(seen.json().unwrap()["model"], upstream, "{model}");
        assert_eq!(seen.header(auth.0), Some(auth.1), "{model}");
    }
    assert_eq!(mock.request_count(), 4);

    // An explicit group wins over `*`.
    let r = post(&gw, "/v1/chat/completions", &chat("gpt-4o")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-litellm-model-group"), "gpt-4o");
    assert_eq!(exact.request_count(), 1);

    // A bare name whose provider nothing names is the unknown-model 400, naming it.
    let e = expect_error(
        post(&gw, "/v1/chat/completions", &chat("mystery-model-7b")).await,
        400,
    )
    .await;
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("model=mystery-model-7b"), "{msg}");
    assert_eq!(
        (e["param"].as_str(), e["code"].as_str()),
        (Some("model"), Some("model_not_found"))
    );
    assert_eq!(mock.request_count(), 4);

    // `/v1/models` lists `*` as LiteLLM does, not one entry per provider.
    let v: serde_json::Value = client()
        .get(gw.url("/v1/models"))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&v["data"], "id"), ["*", "gpt-4o"]);
}
