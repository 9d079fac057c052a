//! `model_list[]`: providers, api_base, api_key, limits, request defaults vs internal keys, ids.

use std::time::Duration;

use adapters::provider::Provider;
use serde_json::json;

use super::{assert_error, errors, ok};

fn entry(params: &str) -> String {
    format!("model_list:\n  - model_name: g\n    litellm_params:\n{params}")
}

#[test]
fn provider_prefix_splits_once() {
    let l = ok(&entry(
        "      model: openrouter/meta-llama/llama-3-8b\n      api_key: k\n",
    ));
    let d = &l.config.model_list[0];
    assert_eq!(d.provider, Provider::OpenRouter);
    assert_eq!(d.model, "meta-llama/llama-3-8b");
    assert_eq!(d.litellm_model(), "openrouter/meta-llama/llama-3-8b");
    assert_eq!(
        d.api_base.as_ref().unwrap().url,
        "https://openrouter.ai/api/v1"
    );
}

#[test]
fn bare_openai_model_names_mean_openai() {
    for m in [
        "gpt-4o",
        "o1-mini",
        "o3",
        "o4-mini",
        "chatgpt-4o-latest",
        "text-embedding-3-small",
        "davinci-002",
        "babbage-002",
        "dall-e-3",
        "whisper-1",
        "tts-1",
        "ft:gpt-4o-mini:acme::x1",
    ] {
        let l = ok(&entry(&format!("      model: {m}\n      api_key: k\n")));
        let d = &l.config.model_list[0];
        assert_eq!((d.provider, d.model.as_str()), (Provider::OpenAi, m), "{m}");
        assert_eq!(d.api_base.as_ref().unwrap().host, "api.openai.com");
    }
}

#[test]
fn unknown_provider_lists_known_prefixes() {
    let yaml = "model_list:
  - model_name: a
    litellm_params: {model: openai/a, mock_response: x}
  - model_name: b
    litellm_params: {model: openai/b, mock_response: x}
  - model_name: c
    litellm_params: {model: openai/c, mock_response: x}
  - model_name: d
    litellm_params: {model: anthropc/claude-3}
";
    let errs = errors(yaml);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].starts_with(
            "model_list[3].litellm_params.model: unknown provider \"anthropc\" in \"anthropc/claude-3\" (known: openai, text-completion-openai, custom_openai,"
        ),
        "{}",
        errs[0]
    );
    assert!(errs[0].ends_with("cohere)"), "{}", errs[0]);
}

#[test]
fn bare_non_openai_name_asks_for_a_prefix() {
    let errs = errors(&entry("      model: claude-3-opus\n"));
    assert!(
        errs[0].starts_with("model_list[0].litellm_params.model: no provider prefix in \"claude-3-opus\"; write provider/model (known: openai,"),
        "{errs:#?}"
    );
}

#[test]
fn custom_llm_provider_names_the_provider() {
    let l = ok(&entry(
        "      model: my-model\n      custom_llm_provider: groq\n      api_key: k\n",
    ));
    let d = &l.config.model_list[0];
    assert_eq!((d.provider, d.model.as_str()), (Provider::Groq, "my-model"));
    assert_eq!(
        d.internal_params.get("custom_llm_provider"),
        Some(&json!("groq"))
    );
    assert_error(
        &entry("      model: my-model\n      custom_llm_provider: nope\n"),
        &format!(
            "model_list[0].litellm_params.custom_llm_provider: unknown provider \"nope\" (known: {})",
            Provider::known_prefixes().collect::<Vec<_>>().join(", ")
        ),
    );
}

#[test]
fn empty_model_after_prefix_is_an_error() {
    assert_error(
        &entry("      model: openai/\n"),
        "model_list[0].litellm_params.model: no model name after the provider prefix in \"openai/\"",
    );
}

#[test]
fn api_base_is_parsed_and_trailing_slash_dropped() {
    let l = ok(&entry(
        "      model: hosted_vllm/Qwen/Qwen2.5\n      api_base: http://10.0.0.5:8000/v1/\n",
    ));
    let b = l.config.model_list[0].api_base.clone().unwrap();
    assert_eq!(
        (b.tls, b.host.as_str(), b.port, b.path.as_str()),
        (false, "10.0.0.5", 8000, "/v1")
    );
    assert_eq!(b.url, "http://10.0.0.5:8000/v1");
}

#[test]
fn api_base_required_without_default_unless_mocked() {
    assert_error(
        &entry("      model: hosted_vllm/llama\n"),
        "model_list[0].litellm_params.api_base: api_base is required for provider hosted_vllm (or set HOSTED_VLLM_API_BASE)",
    );
    let l = ok(&entry(
        "      model: hosted_vllm/llama\n      mock_response: ok\n",
    ));
    assert_eq!(l.config.model_list[0].api_base, None);
    assert_eq!(l.config.model_list[0].mock_response.as_deref(), Some("ok"));
}

#[test]
fn bad_api_bases_are_errors_naming_the_value() {
    assert_error(
        &entry("      model: openai/x\n      api_base: ftp://files.example.com\n"),
        "model_list[0].litellm_params.api_base: unsupported scheme \"ftp\" in \"ftp://files.example.com\" (use http or https)",
    );
    assert_error(
        &entry("      model: openai/x\n      api_base: https://api.example.com/v1?x=1\n"),
        "model_list[0].litellm_params.api_base: must not have a query or fragment, got \"https://api.example.com/v1?x=1\"",
    );
    let errs = errors(&entry(
        "      model: openai/x\n      api_base: https://bob:hunter2@api.example.com/v1\n",
    ));
    assert_eq!(
        errs,
        vec!["model_list[0].litellm_params.api_base: must not contain credentials (\"https://***@api.example.com/v1\"); put the key in api_key"]
    );
}

#[test]
fn api_key_explicit_then_provider_env_then_none() {
    // cerebras reads CEREBRAS_API_KEY; no other test touches that variable.
    std::env::remove_var("CEREBRAS_API_KEY");
    let yaml = entry("      model: cerebras/llama3.1-8b\n");
    assert!(ok(&yaml).config.model_list[0].api_key.is_none());
    std::env::set_var("CEREBRAS_API_KEY", "csk-from-env");
    let from_env = ok(&yaml).config.model_list[0].api_key.clone().unwrap();
    assert_eq!(from_env.expose(), "csk-from-env");
    let explicit = ok(&entry(
        "      model: cerebras/llama3.1-8b\n      api_key: csk-explicit\n",
    ));
    assert_eq!(
        explicit.config.model_list[0]
            .api_key
            .as_ref()
            .unwrap()
            .expose(),
        "csk-explicit"
    );
    std::env::remove_var("CEREBRAS_API_KEY");
}

#[test]
fn typed_params_are_read() {
    let l = ok(&entry(
        "      model: groq/llama\n      api_key: k\n      api_version: '2024-02-01'\n      timeout: 2.5\n      stream_timeout: 10\n      rpm: 600\n      tpm: \"100000\"\n",
    ));
    let d = &l.config.model_list[0];
    assert_eq!(d.api_version.as_deref(), Some("2024-02-01"));
    assert_eq!(d.timeout, Some(Duration::from_millis(2500)));
    assert_eq!(d.stream_timeout, Some(Duration::from_secs(10)));
    assert_eq!((d.rpm, d.tpm), (Some(600), Some(100_000)));
}

#[test]
fn typed_param_errors_name_path_and_value() {
    let errs = errors(&entry(
        "      model: groq/llama\n      timeout: soon\n      stream_timeout: -1\n      rpm: 1.5\n      tpm: [1]\n      mock_response: 3\n",
    ));
    assert_eq!(
        errs,
        vec![
            "model_list[0].litellm_params.mock_response: expected a string, got 3",
            "model_list[0].litellm_params.rpm: expected a non-negative integer, got 1.5",
            "model_list[0].litellm_params.tpm: expected a non-negative integer, got a list",
        ]
    );
}

#[test]
fn other_params_become_request_defaults_but_internal_keys_do_not() {
    let l = ok(&entry(
        "      model: openai/gpt-4o
      api_key: k
      temperature: 0.2
      max_tokens: 512
      response_format: {type: json_object}
      weight: 3
      order: 1
      tags: [eu]
      max_parallel_requests: 10
      input_cost_per_token: 0.000001
      output_cost_per_token: 0.000002
      use_in_pass_through: false
      drop_params: true
      merge_reasoning_content_in_choices: true
      region_name: eu-west-1
      aws_region_name: eu-west-1
      vertex_project: p
router_settings: {enable_tag_filtering: true}
",
    ));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let d = &l.config.model_list[0];
    let mut extra: Vec<&str> = d.extra_params.keys().map(String::as_str).collect();
    extra.sort_unstable();
    assert_eq!(extra, ["max_tokens", "response_format", "temperature"]);
    assert_eq!(
        d.extra_params["response_format"],
        json!({"type": "json_object"})
    );
    assert_eq!(d.internal_params["weight"], json!(3));
    assert_eq!(d.internal_params.len(), 12);
}

#[test]
fn header_params_are_warned_and_not_sent() {
    let l = ok(&entry("      model: openai/x\n      api_key: k\n      organization: org-1\n      extra_headers: {X-A: b}\n"));
    assert!(l.config.model_list[0].extra_params.is_empty());
    let mut warnings = l.warnings.clone();
    warnings.sort();
    assert_eq!(
        warnings,
        vec![
            "model_list[0].litellm_params.extra_headers: not supported yet, ignored (not sent upstream)",
            "model_list[0].litellm_params.organization: not supported yet, ignored (not sent upstream)",
        ]
    );
}

#[test]
fn model_info_id_or_stable_hash() {
    let yaml = "model_list:
  - model_name: g
    litellm_params: {model: openai/a, mock_response: x}
    model_info: {id: primary, mode: chat, base_model: gpt-4o}
  - model_name: g
    litellm_params: {model: openai/b, mock_response: x}
  - model_name: g
    litellm_params: {model: openai/b, mock_response: x}
";
    let l = ok(yaml);
    let ids: Vec<&str> = l.config.model_list.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids[0], "primary");
    assert_eq!(
        l.config.model_list[0].model_info["base_model"],
        json!("gpt-4o")
    );
    assert_eq!(ids[1].len(), 16);
    assert!(ids[1].chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(ids[1], ids[2], "the index is part of the hash");
    // Stable: same input, same id, in this process and every later build.
    assert_eq!(ok(yaml).config.model_list[1].id, ids[1]);
    assert_eq!(
        ids[1],
        crate::deployment::stable_id(&["1", "g", "openai/b", "https://api.openai.com/v1"])
    );
    assert_eq!(l.config.model_groups(), vec!["g"]);
}

#[test]
fn duplicate_ids_are_an_error() {
    let yaml = "model_list:
  - model_name: g
    litellm_params: {model: openai/a, mock_response: x}
    model_info: {id: same}
  - model_name: h
    litellm_params: {model: openai/b, mock_response: x}
    model_info: {id: same}
";
    assert_error(yaml, "model_list[1].model_info.id: duplicate deployment id \"same\" (also used by model_list[0])");
}

#[test]
fn entry_shape_errors_are_all_reported() {
    let yaml = "model_list:
  - just-a-string
  - litellm_params: {model: openai/x, mock_response: y}
  - model_name: ''
    litellm_params: {model: openai/x, mock_response: y}
  - model_name: n
  - model_name: n
    litellm_params: [model]
  - model_name: 5
    litellm_params: {mock_response: y}
    model_info: nope
    extra_thing: 1
";
    let errs = errors(yaml);
    assert_eq!(
        errs,
        vec![
            "model_list[0]: expected a map with model_name and litellm_params, got \"just-a-string\"",
            "model_list[1].model_name: required (the model name clients ask for)",
            "model_list[2].model_name: must not be empty",
            "model_list[3].litellm_params: required (with at least `model: provider/model`)",
            "model_list[4].litellm_params: expected a map, got a list",
            "model_list[5].model_name: expected a string, got 5",
            "model_list[5].model_info: expected a map, got \"nope\"",
            "model_list[5].litellm_params.model: required (provider/model, e.g. openai/gpt-4o-mini)",
        ]
    );
}

#[test]
fn groups_keep_first_appearance_order() {
    let yaml = "model_list:
  - {model_name: b, litellm_params: {model: openai/x, mock_response: y}}
  - {model_name: a, litellm_params: {model: openai/x, mock_response: y}}
  - {model_name: b, litellm_params: {model: openai/z, mock_response: y}}
";
    let l = ok(yaml);
    assert_eq!(l.config.model_groups(), vec!["b", "a"]);
    assert_eq!(l.config.model_list.len(), 3);
}

#[test]
fn bedrock_derives_its_endpoint_from_the_region_and_keeps_credentials() {
    let l = ok(&entry(
        "      model: bedrock/anthropic.claude-3-haiku\n      aws_region_name: eu-west-1\n      aws_access_key_id: AKID\n      aws_secret_access_key: SECRET\n",
    ));
    let d = &l.config.model_list[0];
    assert_eq!(
        d.api_base.as_ref().unwrap().url,
        "https://bedrock-runtime.eu-west-1.amazonaws.com"
    );
    assert_eq!(d.internal_params["aws_access_key_id"], json!("AKID"));
    assert_eq!(d.internal_params["aws_region_name"], json!("eu-west-1"));
    let e = errors(&entry(
        "      model: bedrock/anthropic.claude-3-haiku\n      aws_region_name: eu-west-1\n",
    ));
    assert!(e.iter().any(|m| m.contains("aws_access_key_id")), "{e:?}");
}

#[test]
fn rerank_models_derive_the_rerank_endpoint_of_their_cloud() {
    let l = ok(&entry(
        "      model: bedrock/amazon.rerank-v1:0\n      aws_region_name: us-west-2\n      aws_access_key_id: AKID\n      aws_secret_access_key: SECRET\n",
    ));
    assert_eq!(
        l.config.model_list[0].api_base.as_ref().unwrap().url,
        "https://bedrock-agent-runtime.us-west-2.amazonaws.com"
    );
    let key = r#"{"type":"service_account","project_id":"p","client_email":"a@b.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"}"#;
    let l = ok(&entry(&format!(
        "      model: vertex_ai/semantic-ranker-default-004\n      vertex_credentials: '{key}'\n"
    )));
    assert_eq!(
        l.config.model_list[0].api_base.as_ref().unwrap().url,
        "https://discoveryengine.googleapis.com"
    );
}

#[test]
fn vertex_reads_project_and_location_and_checks_the_key() {
    let key = r#"{"type":"service_account","project_id":"p-from-key","client_email":"a@b.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"}"#;
    let yaml = entry(&format!("      model: vertex_ai/gemini-pro\n      vertex_location: asia-east1\n      vertex_credentials: '{key}'\n"));
    let l = ok(&yaml);
    let d = &l.config.model_list[0];
    assert_eq!(
        d.api_base.as_ref().unwrap().url,
        "https://asia-east1-aiplatform.googleapis.com"
    );
    assert_eq!(d.internal_params["vertex_project"], json!("p-from-key"));
    let e = errors(&entry("      model: vertex_ai/gemini-pro\n      vertex_credentials: '{\"type\":\"service_account\"}'\n"));
    assert!(e.iter().any(|m| m.contains("client_email")), "{e:?}");
}

#[test]
fn bare_star_model_stands_for_every_provider_it_can_reach() {
    let yaml = "model_list:
  - model_name: \"*\"
    litellm_params: {model: \"*\", api_base: \"http://127.0.0.1:9/v1\", api_key: sk-any, rpm: 7}
";
    let l = ok(yaml);
    let deps = &l.config.model_list;
    assert_eq!(l.config.model_groups(), vec!["*"]);
    let providers: Vec<Provider> = deps.iter().map(|d| d.provider).collect();
    for p in [
        Provider::OpenAi,
        Provider::Anthropic,
        Provider::Groq,
        Provider::Gemini,
        // With an api_base, even the providers that have no default one.
        Provider::HostedVllm,
        Provider::Azure,
    ] {
        assert!(providers.contains(&p), "{p:?} missing from {providers:?}");
    }
    for d in deps {
        assert!(d.any_provider, "{:?}", d.provider);
        assert_eq!(d.model, "*");
        assert_eq!(d.model_name, "*");
        assert_eq!(d.api_base.as_ref().unwrap().url, "http://127.0.0.1:9/v1");
        assert_eq!(d.api_key.as_ref().unwrap().expose(), "sk-any");
        assert_eq!(d.rpm, Some(7));
    }
    let mut ids: Vec<&str> = deps.iter().map(|d| d.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), deps.len(), "ids are unique");
}

#[test]
fn bare_star_uses_provider_defaults_and_skips_unreachable_providers() {
    // DEEPSEEK_API_KEY: no other test reads it.
    let yaml = "environment_variables: {DEEPSEEK_API_KEY: sk-deepseek-env}
model_list:
  - model_name: \"*\"
    litellm_params: {model: \"*\"}
    model_info: {id: any}
";
    let l = ok(yaml);
    let deps = &l.config.model_list;
    let by = |p: Provider| deps.iter().find(|d| d.provider == p);
    assert!(by(Provider::HostedVllm).is_none() && by(Provider::Azure).is_none());
    let anthropic = by(Provider::Anthropic).unwrap();
    assert_eq!(
        anthropic.api_base.as_ref().unwrap().url,
        "https://api.anthropic.com"
    );
    assert_eq!(anthropic.id, "any/anthropic");
    let deepseek = by(Provider::Deepseek).unwrap();
    assert_eq!(
        deepseek.api_key.as_ref().unwrap().expose(),
        "sk-deepseek-env"
    );
    assert_eq!(by(Provider::OpenAi).unwrap().id, "any/openai");
}

#[test]
fn bare_star_entry_errors_are_reported_once_and_custom_provider_star_is_one_wildcard() {
    let errs = errors(
        "model_list:\n  - model_name: \"*\"\n    litellm_params: {model: \"*\", api_key: k, rpm: lots}\n",
    );
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].starts_with("model_list[0].litellm_params.rpm:"),
        "{errs:#?}"
    );

    let l = ok(&entry(
        "      model: \"*\"\n      custom_llm_provider: groq\n      api_key: k\n",
    ));
    let deps = &l.config.model_list;
    assert_eq!(deps.len(), 1);
    assert_eq!(
        (deps[0].provider, deps[0].model.as_str()),
        (Provider::Groq, "*")
    );
    assert!(!deps[0].any_provider);
}
