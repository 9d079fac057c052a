//! Provider prefixes LiteLLM knows: served ones take LiteLLM's default `api_base` and its
//! environment variables; the others are refused by name.

use adapters::provider::Provider;

use super::{assert_error, errors, ok, with_env};

fn one(model: &str, extra: &str) -> String {
    format!("model_list:\n  - model_name: m\n    litellm_params:\n      model: {model}\n{extra}")
}

#[test]
fn litellm_providers_not_served_are_refused_by_name() {
    let errs = errors(&one("sagemaker/my-endpoint", ""));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].starts_with(
            "model_list[0].litellm_params.model: provider \"sagemaker\" in \"sagemaker/my-endpoint\" is not supported yet (LiteLLM serves it; Tollgate serves: openai,"
        ),
        "{errs:#?}"
    );
    let errs = errors(&one("m", "      custom_llm_provider: replicate\n"));
    assert!(
        errs[0].starts_with(
            "model_list[0].litellm_params.custom_llm_provider: provider \"replicate\" is not supported yet"
        ),
        "{errs:#?}"
    );
}

#[test]
fn new_openai_compatible_rows_use_litellm_defaults() {
    with_env(&[], || {
        for (model, provider, base) in [
            (
                "sambanova/Meta-Llama-3.1-8B-Instruct",
                Provider::Sambanova,
                "https://api.sambanova.ai/v1",
            ),
            (
                "novita/deepseek/deepseek-r1",
                Provider::Novita,
                "https://api.novita.ai/v3/openai",
            ),
            ("zai/glm-4.6", Provider::Zai, "https://api.z.ai/api/paas/v4"),
            (
                "llamafile/mistral-7b",
                Provider::Llamafile,
                "http://127.0.0.1:8080/v1",
            ),
            (
                "github/gpt-4o",
                Provider::Github,
                "https://models.inference.ai.azure.com",
            ),
            (
                "text-completion-openai/gpt-3.5-turbo-instruct",
                Provider::TextCompletionOpenAi,
                "https://api.openai.com/v1",
            ),
        ] {
            let l = ok(&one(model, ""));
            let d = &l.config.model_list[0];
            assert_eq!(d.provider, provider, "{model}");
            assert_eq!(d.api_base.as_ref().unwrap().url, base, "{model}");
            assert!(d.api_key.is_none(), "{model}");
        }
    });
}

#[test]
fn provider_variables_fill_in_missing_api_key_and_api_base() {
    with_env(
        &[
            ("OPENAI_API_KEY", "sk-env-openai"),
            ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1"),
            ("AZURE_API_KEY", "az-env"),
            ("AZURE_API_BASE", "https://my.openai.azure.com"),
            ("AZURE_API_VERSION", "2024-06-01"),
            ("FRIENDLI_TOKEN", "fr-token"),
        ],
        || {
            let l = ok(&one("openai/gpt-4o", ""));
            let d = &l.config.model_list[0];
            assert_eq!(d.api_key.as_ref().unwrap().expose(), "sk-env-openai");
            assert_eq!(d.api_base.as_ref().unwrap().url, "http://127.0.0.1:9/v1");

            let l = ok(&one("azure/my-deployment", ""));
            let d = &l.config.model_list[0];
            assert_eq!(d.api_key.as_ref().unwrap().expose(), "az-env");
            assert_eq!(d.api_base.as_ref().unwrap().host, "my.openai.azure.com");
            assert_eq!(d.api_version.as_deref(), Some("2024-06-01"));

            // The second key variable LiteLLM reads.
            let l = ok(&one("friendliai/meta-llama-3.1-8b-instruct", ""));
            assert_eq!(
                l.config.model_list[0].api_key.as_ref().unwrap().expose(),
                "fr-token"
            );

            // Explicit values win; `environment_variables:` wins over the process.
            let l = ok(&format!(
                "environment_variables: {{OPENAI_BASE_URL: \"http://127.0.0.1:8/v1\"}}\n{}",
                one("openai/gpt-4o", "      api_key: sk-explicit\n")
            ));
            let d = &l.config.model_list[0];
            assert_eq!(d.api_key.as_ref().unwrap().expose(), "sk-explicit");
            assert_eq!(d.api_base.as_ref().unwrap().url, "http://127.0.0.1:8/v1");
        },
    );
}

#[test]
fn a_bad_api_base_variable_names_the_variable() {
    with_env(&[("GROQ_API_BASE", "not a url")], || {
        assert_error(
            &one("groq/llama3", ""),
            "model_list[0].litellm_params.api_base: from environment variable GROQ_API_BASE: invalid URL \"not a url\": relative URL without a base",
        );
    });
}

#[test]
fn huggingface_and_azure_ai_paths_follow_litellm() {
    with_env(&[], || {
        let path = |model: &str, base: &str| {
            let l = ok(&one(model, &format!("      api_base: {base}\n")));
            l.config.model_list[0].api_base.clone().unwrap().path
        };
        assert_eq!(path("huggingface/tgi", "http://127.0.0.1:8080"), "/v1");
        assert_eq!(path("huggingface/tgi", "http://127.0.0.1:8080/v1/"), "/v1");
        assert_eq!(
            path("azure_ai/mistral-large", "https://x.services.ai.azure.com"),
            "/models"
        );
        assert_eq!(
            path(
                "azure_ai/mistral-large",
                "https://m.eastus2.models.ai.azure.com"
            ),
            ""
        );
        assert_error(
            &one("huggingface/meta-llama/Llama-3.1-8B-Instruct", ""),
            "model_list[0].litellm_params.api_base: api_base is required for provider huggingface (or set HF_API_BASE or HUGGINGFACE_API_BASE)",
        );
    });
}
