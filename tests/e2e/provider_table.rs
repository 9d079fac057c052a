//! The provider table end to end: every OpenAI-compatible row of `PROVIDERS` reaches its
//! deployment's `api_base` at the path LiteLLM uses, with the key in the header LiteLLM sends;
//! and a deployment with no `api_key`/`api_base` finds both in LiteLLM's environment variables.

use adapters::provider::{Dialect, Provider, PROVIDERS};
use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::support::*;

/// The path and auth header LiteLLM sends for a row whose `api_base` is `{mock}/v1` (Hugging
/// Face: the mock's root).
fn expected(p: Provider) -> (&'static str, &'static str, &'static str) {
    match p {
        // TGI's base is the server root; LiteLLM adds `/v1` unless it is there already.
        Provider::HuggingFace => ("/v1/chat/completions", "authorization", "Bearer sk-row"),
        Provider::TextCompletionOpenAi => ("/v1/completions", "authorization", "Bearer sk-row"),
        _ => ("/v1/chat/completions", "authorization", "Bearer sk-row"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_openai_compatible_row_routes_to_its_api_base() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let rows: Vec<_> = PROVIDERS
        .iter()
        .filter(|s| s.dialect == Dialect::OpenAi)
        .collect();
    assert!(rows.len() >= 35, "{}", rows.len());
    let root = mock.url().trim_end_matches("/v1").to_string();
    let mut yaml = String::from("model_list:\n");
    for s in &rows {
        // Hugging Face TGI is configured by its server root: the `/v1` comes from the row.
        let base = if s.provider == Provider::HuggingFace {
            root.clone()
        } else {
            mock.url()
        };
        yaml.push_str(&format!(
            "  - model_name: via-{p}\n    litellm_params: {{model: \"{p}/up-{p}\", api_base: \"{base}\", api_key: sk-row}}\n",
            p = s.prefix
        ));
    }
    yaml.push_str(&format!("general_settings:\n  master_key: {MASTER_KEY}\n"));
    let gw = Gateway::start(&yaml).await;
    for s in &rows {
        mock.reset();
        let (path, header, value) = expected(s.provider);
        let model = format!("via-{}", s.prefix);
        let (endpoint, body) = if s.provider == Provider::TextCompletionOpenAi {
            // Chat is refused for text-completion deployments (not sent anywhere).
            let r = post(
                &gw,
                "/v1/chat/completions",
                &json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}),
            )
            .await;
            let e = expect_error(r, 400).await;
            assert!(
                e["message"]
                    .as_str()
                    .unwrap()
                    .contains("text-completion-openai"),
                "{e}"
            );
            assert_eq!(mock.request_count(), 0, "{}", s.prefix);
            (
                "/v1/completions",
                json!({"model": model, "prompt": "hi", "max_tokens": 5}),
            )
        } else {
            (
                "/v1/chat/completions",
                json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}),
            )
        };
        let r = post(&gw, endpoint, &body).await;
        assert_eq!(r.status(), 200, "{}: {}", s.prefix, r.text().await.unwrap());
        let got = &mock.requests()[0];
        assert_eq!(got.path, path, "{}", s.prefix);
        assert_eq!(got.header(header), Some(value), "{}", s.prefix);
        assert_eq!(
            got.json().unwrap()["model"],
            Value::from(format!("up-{}", s.prefix)),
            "{}",
            s.prefix
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_without_key_or_base_use_litellms_environment_variables() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let base = mock.url();
    let root = base.trim_end_matches("/v1").to_string();
    let yaml = format!(
        "model_list:
  - model_name: gpt
    litellm_params: {{model: openai/gpt-4o}}
  - model_name: azure-gpt
    litellm_params: {{model: azure/my-deployment}}
  - model_name: samba
    litellm_params: {{model: sambanova/Meta-Llama-3.1-8B-Instruct}}
  - model_name: claude
    litellm_params: {{model: anthropic/claude-3-5-haiku}}
general_settings:
  master_key: {MASTER_KEY}
environment_variables:
  SAMBANOVA_API_KEY: sk-samba-from-config
"
    );
    let gw = Gateway::start_with(
        &yaml,
        &[
            ("OPENAI_API_KEY", "sk-openai-env"),
            ("OPENAI_BASE_URL", &base),
            ("AZURE_API_KEY", "az-env"),
            ("AZURE_API_BASE", &root),
            ("AZURE_API_VERSION", "2024-06-01"),
            ("SAMBANOVA_API_BASE", &base),
            ("ANTHROPIC_API_KEY", "sk-ant-env"),
            ("ANTHROPIC_API_BASE", &root),
        ],
    )
    .await;
    for (model, path, header, value) in [
        (
            "gpt",
            "/v1/chat/completions",
            "authorization",
            "Bearer sk-openai-env",
        ),
        (
            "azure-gpt",
            "/openai/deployments/my-deployment/chat/completions?api-version=2024-06-01",
            "api-key",
            "az-env",
        ),
        (
            "samba",
            "/v1/chat/completions",
            "authorization",
            "Bearer sk-samba-from-config",
        ),
        ("claude", "/v1/messages", "x-api-key", "sk-ant-env"),
    ] {
        mock.reset();
        let r = post(
            &gw,
            "/v1/chat/completions",
            &json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}),
        )
        .await;
        assert_eq!(r.status(), 200, "{model}: {}", r.text().await.unwrap());
        let got = &mock.requests()[0];
        assert_eq!(got.path, path, "{model}");
        assert_eq!(got.header(header), Some(value), "{model}");
    }
}
