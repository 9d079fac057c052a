//! The Azure-style front door, `/openai/deployments/{deployment}/…?api-version=…`: served from
//! the model group the deployment names (whatever the body's `model` says), with the key in
//! Azure's `api-key` header, the key's model access, and spend on the key.

use bench::mock::MockServer;
use serde_json::{json, Value};

use crate::budgets::{generate_key, priced_mock, settled_spend, COST};
use crate::support::*;

async fn azure(gw: &Gateway, key: &str, path: &str, body: Value) -> reqwest::Response {
    client()
        .post(gw.url(&format!("{path}?api-version=2024-10-21")))
        .header("api-key", key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_paths_serve_the_deployments_model_group_with_keys_and_spend() {
    let mock = MockServer::start(priced_mock(0)).await.unwrap();
    let base = mock.url();
    let gw = Gateway::start(&format!(
        "model_list:
  - model_name: priced
    litellm_params:
      model: openai/upstream-model
      api_base: {base}
      api_key: sk-upstream
      input_cost_per_token: 0.001
      output_cost_per_token: 0.002
  - model_name: team/other
    litellm_params: {{model: openai/other-up, api_base: {base}, api_key: sk-upstream}}
general_settings:
  master_key: {MASTER_KEY}
"
    ))
    .await;
    let key = generate_key(&gw, json!({"models": ["priced"]})).await;

    // No `model` in the body: the path names the group.
    let chat = json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5});
    let r = azure(
        &gw,
        &key,
        "/openai/deployments/priced/chat/completions",
        chat.clone(),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion", "{v}");
    let sent = mock.requests()[0].json().unwrap();
    assert_eq!(sent["model"], "upstream-model");
    assert_eq!(settled_spend(&gw, &key, COST).await, COST);

    // The path wins over the body's `model`, as in LiteLLM: the key may not use `team/other`.
    let mut other = chat.clone();
    other["model"] = json!("priced");
    let r = azure(
        &gw,
        &key,
        "/openai/deployments/team%2Fother/chat/completions",
        other.clone(),
    )
    .await;
    let e = expect_error(r, 401).await;
    assert!(e.to_string().contains("team/other"), "{e}");
    // A group name with a slash also arrives unencoded (LiteLLM's `{model:path}`).
    let r = client()
        .post(gw.url("/openai/deployments/team/other/chat/completions?api-version=2024-10-21"))
        .header("api-key", MASTER_KEY)
        .json(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        mock.requests().last().unwrap().json().unwrap()["model"],
        "other-up"
    );

    // Streams, and the other two endpoints.
    let mut stream = chat.clone();
    stream["stream"] = json!(true);
    let r = azure(
        &gw,
        &key,
        "/openai/deployments/priced/chat/completions",
        stream,
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").starts_with("text/event-stream"));
    let text = r.text().await.unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert_eq!(settled_spend(&gw, &key, 2.0 * COST).await, 2.0 * COST);

    let r = azure(
        &gw,
        &key,
        "/openai/deployments/priced/embeddings",
        json!({"input": "hi"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["object"], "list");
    let r = azure(
        &gw,
        &key,
        "/openai/deployments/priced/completions",
        json!({"prompt": "hi", "max_tokens": 5}),
    )
    .await;
    assert_eq!(r.status(), 200);

    // Azure's key header is checked like any other.
    let r = azure(
        &gw,
        "sk-wrong",
        "/openai/deployments/priced/chat/completions",
        chat,
    )
    .await;
    expect_error(r, 401).await;
    let r = client()
        .get(gw.url("/openai/deployments/priced/chat/completions"))
        .header("api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
}
