//! E2E: the media routes (`/v1/images/generations`) through the mock provider: the request the
//! provider gets (OpenAI and Azure OpenAI), virtual-key access and budgets, the price per image
//! by size and quality from the bundled table, the spend log row, retries, and the 400 for a
//! deployment whose API has no such endpoint.

use std::time::Duration;

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::budgets::{generate_key, settled_spend};
use crate::support::{client, expect_error, Gateway, MASTER_KEY};

fn config(mock: &MockServer, tail: &str) -> String {
    format!(
        "model_list:
  - model_name: dalle
    litellm_params:
      model: openai/dall-e-3
      api_base: {base}/v1
      api_key: sk-upstream-openai
  - model_name: azure-dalle
    litellm_params:
      model: azure/my-dalle
      api_base: {base}
      api_key: sk-upstream-azure
      api_version: 2024-10-21
    model_info:
      base_model: dall-e-3
  - model_name: flat
    litellm_params:
      model: openai/some-image-model
      api_base: {base}/v1
      api_key: sk-upstream-openai
      output_cost_per_image: 0.25
  - model_name: claude
    litellm_params:
      model: anthropic/claude-3-5-haiku-20241022
      api_base: {base}
      api_key: sk-upstream-anthropic
general_settings:
  master_key: {MASTER_KEY}
  proxy_batch_write_at: 1
{tail}",
        base = format!("http://{}", mock.addr)
    )
}

async fn generate(gw: &Gateway, key: &str, body: Value) -> reqwest::Response {
    client()
        .post(gw.url("/v1/images/generations"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn spend_row(gw: &Gateway, key: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = client()
            .get(gw.url(&format!("/spend/logs?api_key={key}&summarize=false")))
            .bearer_auth(MASTER_KEY)
            .send()
            .await
            .unwrap();
        let rows: Value = r.json().await.unwrap();
        if let Some(row) = rows.as_array().and_then(|a| a.first()) {
            return row.clone();
        }
        assert!(std::time::Instant::now() < deadline, "no spend log row");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_generation_openai_priced_per_image_by_size_and_quality() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(&mock, "")).await;
    let key = generate_key(&gw, json!({"max_budget": 10})).await;
    let r = generate(
        &gw,
        &key,
        json!({"model": "dalle", "prompt": "a cat", "n": 2, "size": "1024x1792", "quality": "hd"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{v}");
    assert!(data[0]["url"].as_str().unwrap().starts_with("https://"));
    // The provider got the deployment's model, its key, and the client's fields untouched.
    let sent = mock.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/v1/images/generations");
    let auth = sent[0].headers.iter().find(|(k, _)| k == "authorization");
    assert_eq!(auth.unwrap().1, "Bearer sk-upstream-openai");
    let body: Value = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(body["model"], "dall-e-3");
    assert_eq!(
        (body["size"].as_str(), body["quality"].as_str()),
        (Some("1024x1792"), Some("hd"))
    );
    assert!(body.get("max_tokens").is_none(), "{body}");
    // LiteLLM's `hd/1024-x-1792/dall-e-3`: input_cost_per_pixel 6.539e-08, two images.
    let want = 2.0 * 6.539e-08 * 1024.0 * 1792.0;
    assert!(close(settled_spend(&gw, &key, want).await, want));
    let row = spend_row(&gw, &key).await;
    assert_eq!(row["call_type"], "aimage_generation", "{row}");
    assert_eq!(row["model_group"], "dalle", "{row}");
    assert!(close(row["spend"].as_f64().unwrap(), want), "{row}");

    // No size or quality: 1024x1024 standard, as OpenAI defaults them.
    let key2 = generate_key(&gw, json!({"max_budget": 10})).await;
    let r = generate(&gw, &key2, json!({"model": "dalle", "prompt": "a dog"})).await;
    assert_eq!(r.status(), 200);
    let want = 3.81469e-08 * 1024.0 * 1024.0;
    assert!(close(settled_spend(&gw, &key2, want).await, want));

    // A per-image price from the config (`output_cost_per_image`).
    let key3 = generate_key(&gw, json!({"max_budget": 10})).await;
    let r = generate(&gw, &key3, json!({"model": "flat", "prompt": "x", "n": 3})).await;
    assert_eq!(r.status(), 200);
    assert!(close(settled_spend(&gw, &key3, 0.75).await, 0.75));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_generation_azure_deployment() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(&mock, "")).await;
    let key = generate_key(&gw, json!({"max_budget": 10})).await;
    let r = generate(
        &gw,
        &key,
        json!({"model": "azure-dalle", "prompt": "a cat", "response_format": "b64_json"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v["data"][0]["b64_json"].is_string(), "{v}");
    let sent = mock.requests();
    assert_eq!(
        sent[0].path,
        "/openai/deployments/my-dalle/images/generations?api-version=2024-10-21"
    );
    assert!(sent[0]
        .headers
        .iter()
        .any(|(k, v)| k == "api-key" && v == "sk-upstream-azure"));
    // `azure/standard/1024-x-1024/dall-e-3` through `model_info.base_model`.
    let want = 3.81469e-08 * 1024.0 * 1024.0;
    assert!(close(settled_spend(&gw, &key, want).await, want));

    // An `AzureOpenAI` client's path: the group is the path's deployment, the key in `api-key`.
    let key2 = generate_key(&gw, json!({"max_budget": 10})).await;
    let r = client()
        .post(gw.url("/openai/deployments/azure-dalle/images/generations?api-version=2024-10-21"))
        .header("api-key", &key2)
        .json(&json!({"prompt": "a cat"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v["data"][0]["url"].is_string(), "{v}");
    assert_eq!(
        mock.requests()[1].path,
        "/openai/deployments/my-dalle/images/generations?api-version=2024-10-21"
    );
    assert!(close(settled_spend(&gw, &key2, want).await, want));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_generation_access_budget_errors_and_retries() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(&mock, "router_settings:\n  num_retries: 1\n")).await;

    // Model access: a key for another group is refused before the provider is called.
    let other = generate_key(&gw, json!({"models": ["claude"]})).await;
    let e = expect_error(
        generate(&gw, &other, json!({"model": "dalle", "prompt": "x"})).await,
        401,
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("dalle"), "{e}");

    // The budget reserves `n` images of the size and quality asked: hd 1792x1024 (≈ 0.12)
    // does not fit in 0.1, 1024x1024 standard (≈ 0.04) does; 3 of them (≈ 0.12) do not.
    let poor = generate_key(&gw, json!({"max_budget": 0.1})).await;
    let hd = json!({"model": "dalle", "prompt": "x", "size": "1792x1024", "quality": "hd"});
    let r = generate(&gw, &poor, hd).await;
    assert!(r.status().is_client_error());
    let v: Value = r.json().await.unwrap();
    assert!(crate::support::is_budget_refusal(&v), "{v}");
    let three = generate(&gw, &poor, json!({"model": "dalle", "prompt": "x", "n": 3})).await;
    assert!(three.status().is_client_error());
    assert_eq!(
        generate(&gw, &poor, json!({"model": "dalle", "prompt": "x"}))
            .await
            .status(),
        200
    );

    // A missing prompt is the client's 400, in OpenAI's shape; so is streaming.
    let e = expect_error(
        generate(&gw, MASTER_KEY, json!({"model": "dalle"})).await,
        400,
    )
    .await;
    assert_eq!(e["param"], "prompt");
    expect_error(
        generate(
            &gw,
            MASTER_KEY,
            json!({"model": "dalle", "prompt": "x", "stream": true}),
        )
        .await,
        400,
    )
    .await;

    // A deployment whose API has no image endpoint: 400 naming it, nothing sent.
    let before = mock.request_count();
    let e = expect_error(
        generate(&gw, MASTER_KEY, json!({"model": "claude", "prompt": "x"})).await,
        400,
    )
    .await;
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("/images/generations"),
        "{e}"
    );
    assert_eq!(mock.request_count(), before);

    // A provider 500 is retried like chat.
    mock.fail_next(1, 500);
    let r = generate(&gw, MASTER_KEY, json!({"model": "dalle", "prompt": "x"})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(mock.request_count(), before + 2);
}
