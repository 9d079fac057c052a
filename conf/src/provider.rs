//! Which provider a deployment names, and where it finds its endpoint: the `provider/` prefix
//! (or `custom_llm_provider`) resolved against the provider table — a LiteLLM provider this
//! build does not serve is refused by name —, LiteLLM's environment variables for `api_base`
//! and the key, and the path LiteLLM puts below some providers' `api_base`.

use adapters::provider::Provider;
use serde_json::{Map, Value};

use crate::config::ApiBase;
use crate::diag::{field, join, quote, string, Diag};
use crate::keys::looks_like_openai;
use crate::raw::Env;

/// The first of `vars` that is set and not empty, with its value.
pub(crate) fn first_env(env: &Env, vars: &[&'static str]) -> Option<(&'static str, String)> {
    vars.iter()
        .find_map(|var| env.non_empty(var).map(|value| (*var, value)))
}

/// The path LiteLLM puts below a provider's `api_base`: Hugging Face TGI serves
/// `{api_base}/v1/chat/completions` (unless the base already ends in `/v1`), Azure AI Foundry
/// (`*.services.ai.azure.com`) `{api_base}/models/chat/completions`.
pub(crate) fn provider_path(provider: Provider, base: &mut ApiBase) {
    let suffix = match provider {
        Provider::HuggingFace => "/v1",
        Provider::AzureAi if base.host.ends_with(".services.ai.azure.com") => "/models",
        _ => return,
    };
    if !base.path.ends_with(suffix) {
        base.path.push_str(suffix);
    }
}

fn known_prefixes() -> String {
    Provider::known_prefixes().collect::<Vec<_>>().join(", ")
}

/// The error for a prefix Tollgate does not serve: a LiteLLM provider is "not supported yet",
/// anything else is unknown (with the served prefixes).
fn unknown_provider(prefix: &str, model: Option<&str>) -> String {
    let in_model = model
        .map(|m| format!(" in {}", quote(m)))
        .unwrap_or_default();
    if Provider::is_litellm_only(prefix) {
        format!(
            "provider {}{in_model} is not supported yet (LiteLLM serves it; Tollgate serves: {})",
            quote(prefix),
            known_prefixes()
        )
    } else {
        format!(
            "unknown provider {}{in_model} (known: {})",
            quote(prefix),
            known_prefixes()
        )
    }
}

/// The provider LiteLLM sends a bare model name (no `provider/` prefix) to: OpenAI for
/// OpenAI's model names (`gpt-*`, `o1*`, `text-embedding-*`, …); `None` for any other name.
pub fn bare_model_provider(model: &str) -> Option<Provider> {
    looks_like_openai(model).then_some(Provider::OpenAi)
}

/// `litellm_params.model` (plus `custom_llm_provider`, as LiteLLM reads it) → provider and the
/// upstream model name.
pub(crate) fn resolve_provider(
    model: &str,
    params: &Map<String, Value>,
    params_path: &str,
    d: &mut Diag,
) -> Option<(Provider, String)> {
    let model_path = join(params_path, "model");
    let (provider, upstream) = if let Some(v) = field(params, "custom_llm_provider") {
        let cp_path = join(params_path, "custom_llm_provider");
        let name = string(&cp_path, v, d)?;
        let Some(provider) = Provider::from_prefix(&name) else {
            d.error(&cp_path, unknown_provider(&name, None));
            return None;
        };
        let upstream = model.strip_prefix(&format!("{name}/")).unwrap_or(model);
        (provider, upstream.to_string())
    } else if let Some((provider, rest)) = Provider::split_model(model) {
        (provider, rest.to_string())
    } else if let Some(provider) = bare_model_provider(model) {
        (provider, model.to_string())
    } else if let Some((prefix, _)) = model.split_once('/') {
        d.error(&model_path, unknown_provider(prefix, Some(model)));
        return None;
    } else {
        d.error(
            &model_path,
            format_args!(
                "no provider prefix in {}; write provider/model (known: {})",
                quote(model),
                known_prefixes()
            ),
        );
        return None;
    };
    if upstream.trim().is_empty() {
        d.error(
            &model_path,
            format_args!(
                "no model name after the provider prefix in {}",
                quote(model)
            ),
        );
        return None;
    }
    if !provider.spec().implemented {
        d.error(
            &model_path,
            format_args!(
                "provider {} is not supported by this build yet",
                quote(provider.prefix())
            ),
        );
        return None;
    }
    Some((provider, upstream))
}
