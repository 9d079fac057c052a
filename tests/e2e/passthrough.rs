//! Provider pass-through (`/anthropic/*`, `/gemini/*`, `/openai/*`, …): a virtual key in the
//! header the provider's SDK sends, the provider credential of a config deployment put in its
//! place, the request and the answer (whole or streamed) passed through unchanged, the key's
//! model access, and spend from the usage the provider reported.

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::budgets::{generate_key, settled_spend};
use crate::support::*;

/// Every mock answer reports 10 prompt + 5 completion tokens; at 0.001 / 0.002 USD per token
/// a call costs 0.02.
const COST: f64 = 0.02;

fn config(base: &str) -> String {
    format!(
        "model_list:
  - model_name: claude-group
    litellm_params:
      model: anthropic/claude-up
      api_base: {base}
      api_key: sk-anthropic-upstream
      input_cost_per_token: 0.001
      output_cost_per_token: 0.002
  - model_name: gemini-group
    litellm_params:
      model: gemini/gemini-up
      api_base: {base}
      api_key: sk-gemini-upstream
      input_cost_per_token: 0.001
      output_cost_per_token: 0.002
  - model_name: gpt-group
    litellm_params:
      model: openai/gpt-up
      api_base: {base}/v1
      api_key: sk-openai-upstream
      input_cost_per_token: 0.001
      output_cost_per_token: 0.002
general_settings:
  master_key: {MASTER_KEY}
  proxy_batch_write_at: 1
"
    )
}

async fn mock() -> MockServer {
    MockServer::start(MockConfig {
        content: "passed through".into(),
        chunks: 3,
        prompt_tokens: Some(10),
        completion_tokens: Some(5),
        ..MockConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_requests_pass_through_with_the_deployments_key_and_spend() {
    let mock = mock().await;
    let gw = Gateway::start(&config(mock.url().trim_end_matches("/v1"))).await;
    let key = generate_key(&gw, json!({"models": ["claude-group"]})).await;
    let body = json!({"model": "claude-up", "max_tokens": 20, "custom_field": {"kept": true},
                      "messages": [{"role": "user", "content": "hi"}]});
    let r = client()
        .post(gw.url("/anthropic/v1/messages?beta=true"))
        .header("x-api-key", &key)
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "some-beta")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!header(&r, "x-litellm-call-id").is_empty());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "message", "{v}");
    assert_eq!(v["content"][0]["text"], "passed through");
    let sent = &mock.requests()[0];
    assert_eq!(sent.path, "/v1/messages?beta=true");
    assert_eq!(sent.header("x-api-key"), Some("sk-anthropic-upstream"));
    assert_eq!(sent.header("anthropic-beta"), Some("some-beta"));
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(sent.json().unwrap(), body, "the body goes unchanged");
    assert_eq!(settled_spend(&gw, &key, COST).await, COST);

    // Streamed: relayed as the provider sent it, spend from its usage events.
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let r = client()
        .post(gw.url("/anthropic/v1/messages"))
        .bearer_auth(&key)
        .header("anthropic-version", "2023-06-01")
        .json(&streamed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").starts_with("text/event-stream"));
    let text = r.text().await.unwrap();
    assert!(text.contains("event: message_start"), "{text}");
    assert!(text.contains("event: message_stop"), "{text}");
    assert_eq!(settled_spend(&gw, &key, 2.0 * COST).await, 2.0 * COST);

    // The key's model access: a model of no group it may use, and a model-less call.
    let mut other = body.clone();
    other["model"] = json!("claude-other");
    let r = client()
        .post(gw.url("/anthropic/v1/messages"))
        .header("x-api-key", &key)
        .json(&other)
        .send()
        .await
        .unwrap();
    let e = expect_error(r, 401).await;
    assert!(e.to_string().contains("anthropic/claude-other"), "{e}");
    let r = client()
        .get(gw.url("/anthropic/v1/models"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    expect_error(r, 401).await;
    assert_eq!(
        mock.requests().len(),
        2,
        "refused requests never reach the provider"
    );
    // No key, a wrong key.
    let r = client()
        .post(gw.url("/anthropic/v1/messages"))
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_error(r, 401).await;
    let r = client()
        .post(gw.url("/anthropic/v1/messages"))
        .header("x-api-key", "sk-wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_error(r, 401).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_and_openai_pass_through_with_their_sdks_auth() {
    let mock = mock().await;
    let gw = Gateway::start(&config(mock.url().trim_end_matches("/v1"))).await;
    let key = generate_key(&gw, json!({"models": ["gemini-group", "gpt-group"]})).await;
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    // google-genai sends `x-goog-api-key`; REST callers `?key=`.
    let r = client()
        .post(gw.url("/gemini/v1beta/models/gemini-up:generateContent"))
        .header("x-goog-api-key", &key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    assert!(v["candidates"].is_array(), "{v}");
    let sent = &mock.requests()[0];
    assert_eq!(sent.path, "/v1beta/models/gemini-up:generateContent");
    assert_eq!(sent.header("x-goog-api-key"), Some("sk-gemini-upstream"));
    assert_eq!(settled_spend(&gw, &key, COST).await, COST);
    let r = client()
        .post(gw.url(&format!(
            "/gemini/v1beta/models/gemini-up:streamGenerateContent?alt=sse&key={key}"
        )))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("data: "), "{text}");
    let sent = &mock.requests()[1];
    assert_eq!(
        sent.path,
        "/v1beta/models/gemini-up:streamGenerateContent?alt=sse"
    );
    assert_eq!(sent.header("x-goog-api-key"), Some("sk-gemini-upstream"));
    assert_eq!(settled_spend(&gw, &key, 2.0 * COST).await, 2.0 * COST);

    // The OpenAI SDK at `…/openai/v1`: the deployment's `/v1` base is not doubled.
    let r = client()
        .post(gw.url("/openai/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "gpt-up", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sent = &mock.requests()[2];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer sk-openai-upstream")
    );
    assert_eq!(settled_spend(&gw, &key, 3.0 * COST).await, 3.0 * COST);

    // A provider with no deployment in the config.
    let r = client()
        .post(gw.url("/cohere/v2/chat"))
        .bearer_auth(MASTER_KEY)
        .json(&json!({"model": "command-r", "messages": []}))
        .send()
        .await
        .unwrap();
    let e = expect_error(r, 404).await;
    assert!(e.to_string().contains("cohere/"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_deployment_litellms_environment_variables_carry_the_credential() {
    let mock = mock().await;
    let root = mock.url().trim_end_matches("/v1").to_string();
    let gw = Gateway::start_with(
        &format!(
            "model_list:\n  - model_name: gpt-group\n    litellm_params: {{model: openai/gpt-up, api_base: {root}/v1, api_key: sk-x}}\ngeneral_settings:\n  master_key: {MASTER_KEY}\n"
        ),
        &[
            ("ANTHROPIC_API_KEY", "sk-from-env"),
            ("ANTHROPIC_API_BASE", root.as_str()),
        ],
    )
    .await;
    let r = client()
        .post(gw.url("/anthropic/v1/messages"))
        .header("x-api-key", MASTER_KEY)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "claude-any", "max_tokens": 5,
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sent = &mock.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some("sk-from-env"));
    // No deployment and no variable: a 404 naming both.
    let r = client()
        .post(gw.url("/mistral/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .json(&json!({"model": "mistral-small", "messages": []}))
        .send()
        .await
        .unwrap();
    let e = expect_error(r, 404).await;
    assert!(e.to_string().contains("MISTRAL_API_KEY"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bedrock_is_signed_anew_and_vertex_gets_the_deployments_oauth_token() {
    let mock = mock().await;
    let creds = crate::providers::vertex_credentials(&mock);
    let gw = Gateway::start(&format!(
        "model_list:
  - model_name: b
    litellm_params:
      model: bedrock/anthropic.claude-test
      aws_region_name: us-east-1
      aws_access_key_id: AKIDEXAMPLE
      aws_secret_access_key: wJalrXUtnFEMIEXAMPLEKEY
      api_base: http://{addr}
  - model_name: v
    litellm_params:
      model: vertex_ai/gemini-test
      vertex_project: proj-1
      vertex_location: europe-west4
      vertex_credentials: {creds}
      api_base: http://{addr}
general_settings:
  master_key: {MASTER_KEY}
",
        addr = mock.addr
    ))
    .await;
    // An AWS SDK's own signature is dropped (the key is in `x-litellm-api-key`).
    let r = client()
        .post(gw.url("/bedrock/model/anthropic.claude-test/converse"))
        .header("authorization", "AWS4-HMAC-SHA256 Credential=CALLER/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=00")
        .header("x-amz-security-token", "caller-session")
        .header("x-litellm-api-key", MASTER_KEY)
        .json(&json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    let calls: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path != "/token")
        .collect();
    let sent = &calls[0];
    assert_eq!(sent.path, "/model/anthropic.claude-test/converse");
    assert!(
        sent.header("authorization")
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
        "{:?}",
        sent.headers
    );
    assert_eq!(sent.header("x-amz-security-token"), None);

    let r = client()
        .post(gw.url("/vertex_ai/v1/projects/proj-1/locations/europe-west4/publishers/google/models/gemini-test:generateContent"))
        .bearer_auth(MASTER_KEY)
        .json(&json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    let calls: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path != "/token")
        .collect();
    assert!(
        calls[1]
            .header("authorization")
            .unwrap()
            .starts_with("Bearer ya29.mock-"),
        "{:?}",
        calls[1].headers
    );
}
