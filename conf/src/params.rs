//! What happens to each `litellm_params` key: read into a typed field, kept as a LiteLLM-internal
//! setting, held back (a LiteLLM-only setting Tollgate does not implement, or anything that looks
//! like a credential), or sent upstream as a request default (a known provider parameter, or an
//! unknown key, as LiteLLM does), and the one-warning-per-key-name notes about them. The lists
//! of typed and internal keys are in `keys.rs`.

use serde_json::Value;

use crate::diag::Diag;

use crate::keys::{
    is_secret_key, PARAMS_INTERNAL, PARAMS_INTERNAL_PREFIXES, PARAMS_NOT_YET, PARAMS_USED,
};
use crate::suggest;

/// What happens to one `litellm_params` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamKind {
    /// Read into a typed `Deployment` field.
    Used,
    /// Configures LiteLLM/Tollgate itself: kept in `internal_params`, never sent upstream.
    Internal,
    /// Sent by LiteLLM as a header; not forwarded yet (warned about, kept internal).
    NotYet,
    /// A LiteLLM setting Tollgate does not implement (`ttl`, `priority`, …): warned about, kept
    /// internal, never sent upstream.
    LiteLlmOnly,
    /// A provider request parameter (`temperature`, `max_tokens`, …): a request default.
    Provider,
    /// An unknown key that looks like a credential, by name (`api_kye`) or value (`sk-…`):
    /// warned about and dropped — never sent anywhere.
    Secret,
    /// Any other key: warned about, then sent upstream as a request default, as LiteLLM does.
    Unknown,
}

/// LiteLLM's own `litellm_params` that Tollgate does not implement and that LiteLLM never sends
/// to the provider: its `all_litellm_params` (`litellm/types/utils.py`, with the callback keys
/// of `StandardCallbackDynamicParams`) less those Tollgate reads, plus the request scheduler's
/// `priority`.
pub(crate) const LITELLM_ONLY: &[&str] = &[
    "acompletion",
    "adaptive_router_config",
    "adaptive_router_default_model",
    "aimg_generation",
    "allowed_model_region",
    "allowed_openai_params",
    "annotation_cost_per_page",
    "arize_api_key",
    "arize_space_id",
    "arize_space_key",
    "assistant_continue_message",
    "atext_completion",
    "auto_router_config",
    "auto_router_config_path",
    "auto_router_default_model",
    "auto_router_embedding_model",
    "azure",
    "bos_token",
    "cache",
    "cache_creation_input_audio_token_cost",
    "cache_key",
    "cache_read_input_audio_token_cost",
    "caching",
    "caching_groups",
    "citation_cost_per_token",
    "client",
    "complete_response",
    "complexity_router_config",
    "complexity_router_default_model",
    "context_window_fallback_dict",
    "dd_agent_host",
    "dd_agent_port",
    "dd_api_key",
    "dd_site",
    "disable_add_transform_inline_image_block",
    "enable_json_schema_validation",
    "enable_tag_filtering",
    "ensure_alternating_roles",
    "eos_token",
    "fallback_depth",
    "fallbacks",
    "fastest_response",
    "final_prompt_value",
    "force_timeout",
    "gcs_bucket_name",
    "gcs_path_service_account",
    "guardrails",
    "hf_model_name",
    "humanloop_api_key",
    "id",
    "itpm",
    "langfuse_host",
    "langfuse_prompt_version",
    "langfuse_public_key",
    "langfuse_secret",
    "langfuse_secret_key",
    "langsmith_api_key",
    "langsmith_base_url",
    "langsmith_project",
    "langsmith_sampling_rate",
    "langsmith_tenant_id",
    "logger_fn",
    "max_agentic_loops",
    "max_fallbacks",
    "model_config",
    "model_file_id_mapping",
    "model_list",
    "no-log",
    "ocr_cost_per_credit",
    "ocr_cost_per_page",
    "otpm",
    "output_vector_size",
    "posthog_api_key",
    "posthog_api_url",
    "preset_cache_key",
    "priority",
    "prompt_id",
    "prompt_label",
    "prompt_variables",
    "prompt_version",
    "provider_specific_header",
    "proxy_server_request",
    "quality_router_config",
    "quality_router_default_model",
    "regional_processing_uplift_multiplier_eu",
    "regional_processing_uplift_multiplier_us",
    "request_timeout",
    "retry_policy",
    "retry_strategy",
    "roles",
    "routing_strategy",
    "search_context_cost_per_query",
    "search_tool_name",
    "secret_fields",
    "self",
    "shared_session",
    "supports_system_message",
    "text_completion",
    "tiered_pricing",
    "ttl",
    "turn_off_message_logging",
    "use_chat_completions_api",
    "use_client",
    "use_xai_oauth",
    "user_continue_message",
    "verbose",
    "wandb_api_key",
    "weave_project_id",
];

/// Provider request parameters commonly set as deployment defaults (OpenAI's, and those of the
/// other dialects and OpenAI-compatible servers): sent upstream unless the request sets them.
pub(crate) const PROVIDER: &[&str] = &[
    // OpenAI chat / completions / embeddings / responses
    "audio",
    "best_of",
    "dimensions",
    "echo",
    "encoding_format",
    "frequency_penalty",
    "function_call",
    "functions",
    "logit_bias",
    "logprobs",
    "max_completion_tokens",
    "max_output_tokens",
    "max_tokens",
    "modalities",
    "n",
    "parallel_tool_calls",
    "prediction",
    "presence_penalty",
    "prompt_cache_key",
    "reasoning_effort",
    "response_format",
    "safety_identifier",
    "seed",
    "service_tier",
    "stop",
    "store",
    "stream",
    "stream_options",
    "suffix",
    "temperature",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "user",
    "verbosity",
    "web_search_options",
    // Passed through into the body by LiteLLM and the SDKs
    "extra_body",
    // Anthropic
    "stop_sequences",
    "thinking",
    "top_k",
    // Gemini / Vertex AI
    "cached_content",
    "candidate_count",
    "labels",
    "response_mime_type",
    "response_schema",
    "safety_settings",
    // Cohere
    "embedding_types",
    "input_type",
    "truncate",
    // Ollama
    "format",
    "keep_alive",
    "mirostat",
    "mirostat_eta",
    "mirostat_tau",
    "num_ctx",
    "num_gpu",
    "num_predict",
    "num_thread",
    "options",
    "repeat_last_n",
    "repeat_penalty",
    "tfs_z",
    // vLLM, TGI and other OpenAI-compatible servers
    "chat_template_kwargs",
    "guided_choice",
    "guided_grammar",
    "guided_json",
    "guided_regex",
    "include_stop_str_in_output",
    "min_p",
    "min_tokens",
    "repetition_penalty",
    "skip_special_tokens",
    "typical_p",
    // OpenRouter, Mistral, Groq, Perplexity, xAI
    "models",
    "provider",
    "random_seed",
    "reasoning",
    "reasoning_format",
    "return_images",
    "return_related_questions",
    "route",
    "safe_prompt",
    "search_domain_filter",
    "search_parameters",
    "search_recency_filter",
    "transforms",
];

/// Credential key names a misspelled key is compared with (`api_kye` → `api_key`).
const CREDENTIAL_KEYS: &[&str] = &[
    "api_key",
    "apikey",
    "key",
    "token",
    "secret",
    "password",
    "access_token",
    "auth_token",
    "azure_ad_token",
    "client_secret",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "vertex_credentials",
    "credentials",
];

pub(crate) fn classify_param(key: &str, value: &Value) -> ParamKind {
    if PARAMS_USED.contains(&key) {
        ParamKind::Used
    } else if PARAMS_INTERNAL.contains(&key)
        || PARAMS_INTERNAL_PREFIXES.iter().any(|p| key.starts_with(p))
    {
        ParamKind::Internal
    } else if PARAMS_NOT_YET.contains(&key) {
        ParamKind::NotYet
    } else if LITELLM_ONLY.contains(&key) {
        ParamKind::LiteLlmOnly
    } else if PROVIDER.contains(&key) {
        ParamKind::Provider
    } else if secret_name(key) || secret_value(value) {
        ParamKind::Secret
    } else {
        ParamKind::Unknown
    }
}

/// Every key a `litellm_params` entry may carry, for "did you mean" suggestions.
pub(crate) fn known() -> impl Iterator<Item = &'static str> {
    PARAMS_USED
        .iter()
        .chain(PARAMS_INTERNAL)
        .chain(PARAMS_NOT_YET)
        .chain(LITELLM_ONLY)
        .chain(PROVIDER)
        .copied()
}

/// A credential's name, or a misspelling of one: one edit away from a credential key name
/// (two for names of 8 characters or more), so `api_kye` counts but `top_n` is not `token`.
pub(crate) fn secret_name(key: &str) -> bool {
    let limit = if key.chars().count() < 8 { 1 } else { 2 };
    is_secret_key(key)
        || CREDENTIAL_KEYS
            .iter()
            .any(|c| suggest::distance(key, c) <= limit)
}

/// Whether any string in `v` has the shape of a credential, or any key inside it names one.
fn secret_value(v: &Value) -> bool {
    match v {
        Value::String(s) => looks_like_secret(s),
        Value::Array(items) => items.iter().any(secret_value),
        Value::Object(m) => m.iter().any(|(k, v)| secret_name(k) || secret_value(v)),
        _ => false,
    }
}

/// Prefixes of well-known API key formats (OpenAI/Anthropic `sk-`, Stripe-style `sk_live_`,
/// Google `AIza`, GitHub, GitLab, Slack, Hugging Face, Groq, Perplexity, xAI, NVIDIA, Replicate).
pub const SECRET_PREFIXES: &[&str] = &[
    "sk-",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "AIza",
    "ghp_",
    "gho_",
    "ghs_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "hf_",
    "gsk_",
    "pplx-",
    "xai-",
    "nvapi-",
    "r8_",
];

/// Whether a string value has the shape of a credential: a known key prefix, an AWS access key
/// id, a PEM block, a bearer token or JWT, or a long random-looking token (32+ characters of one
/// word, letters and digits mixed, all hex or with high per-character entropy).
pub fn looks_like_secret(s: &str) -> bool {
    let s = s.trim();
    if SECRET_PREFIXES
        .iter()
        .any(|p| s.starts_with(p) && s.len() >= p.len() + 8)
    {
        return true;
    }
    if (s.starts_with("AKIA") || s.starts_with("ASIA"))
        && s.len() == 20
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return true;
    }
    if s.contains("-----BEGIN") || s.starts_with("Bearer ") || s.starts_with("bearer ") {
        return true;
    }
    if s.starts_with("eyJ") && s.matches('.').count() == 2 && s.len() >= 30 {
        return true;
    }
    random_token(s)
}

fn random_token(s: &str) -> bool {
    if s.len() < 32
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+' | b'=' | b'.'))
        || !s.bytes().any(|b| b.is_ascii_digit())
        || !s.bytes().any(|b| b.is_ascii_alphabetic())
    {
        return false;
    }
    s.bytes().all(|b| b.is_ascii_hexdigit()) || entropy(s) >= 4.0
}

/// Shannon entropy of the string's bytes, in bits per character.
fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[usize::from(b)] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Warnings about `litellm_params` keys, one per key name and kind: the first path that carries
/// it, and how many other deployments do too.
#[derive(Default)]
pub(crate) struct Notes {
    /// (key, kind) → (first path, message, deployments).
    seen: Vec<((String, ParamKind), String, String, usize)>,
}

impl Notes {
    pub(crate) fn add(
        &mut self,
        key: &str,
        kind: ParamKind,
        path: String,
        msg: impl FnOnce() -> String,
    ) {
        match self
            .seen
            .iter_mut()
            .find(|((k, kd), ..)| k == key && *kd == kind)
        {
            Some((_, _, _, n)) => *n += 1,
            None => self.seen.push(((key.to_string(), kind), path, msg(), 1)),
        }
    }

    pub(crate) fn report(self, d: &mut Diag) {
        for (_, path, msg, n) in self.seen {
            match n {
                1 => d.warn(&path, msg),
                n => d.warn(
                    &path,
                    format_args!(
                        "{msg} (and in {} more deployment{})",
                        n - 1,
                        if n == 2 { "" } else { "s" }
                    ),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds() {
        let s = json!("x");
        assert_eq!(classify_param("api_key", &s), ParamKind::Used);
        assert_eq!(classify_param("weight", &json!(1)), ParamKind::Internal);
        assert_eq!(classify_param("aws_region_name", &s), ParamKind::Internal);
        assert_eq!(classify_param("extra_headers", &s), ParamKind::NotYet);
        assert_eq!(classify_param("ttl", &json!(60)), ParamKind::LiteLlmOnly);
        assert_eq!(
            classify_param("priority", &json!(1)),
            ParamKind::LiteLlmOnly
        );
        assert_eq!(
            classify_param("temperature", &json!(0.2)),
            ParamKind::Provider
        );
        assert_eq!(classify_param("prompt_cache_key", &s), ParamKind::Provider);
        assert_eq!(classify_param("top_k", &json!(3)), ParamKind::Provider);
        assert_eq!(classify_param("my_flag", &json!(true)), ParamKind::Unknown);
        assert_eq!(
            classify_param("temprature", &json!(0.1)),
            ParamKind::Unknown
        );
    }

    #[test]
    fn secrets_by_name() {
        let v = json!("plain");
        for k in [
            "api_kye",
            "apikey",
            "api-key",
            "my_token",
            "secert",
            "pasword",
            "client_secert",
            "kye",
        ] {
            assert_eq!(classify_param(k, &v), ParamKind::Secret, "{k}");
        }
        // Not credentials: counts of tokens, ordinary words.
        for k in ["max_new_tokens", "custom_flag", "region", "top_n", "topic"] {
            assert_ne!(classify_param(k, &v), ParamKind::Secret, "{k}");
        }
    }

    #[test]
    fn secrets_by_value() {
        for v in [
            json!("sk-proj-abcdefghijklmnop"),
            json!("sk-ant-api03-xyzxyzxyzxyz"),
            json!("AKIAIOSFODNN7EXAMPLE"),
            json!("AIzaSyD-1234567890abcdefghijklmnopqrs"),
            json!("Bearer abc"),
            json!("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"),
            json!("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
            json!("Zx8Kq2LmP9vR4tYw7NbC3dFgH6jS1aE5uI0oXzQ"),
            json!("-----BEGIN PRIVATE KEY-----\nMII..."),
            json!(["ok", "sk-nested-0123456789"]),
            json!({"auth": {"token": "t"}}),
        ] {
            assert_eq!(classify_param("custom_thing", &v), ParamKind::Secret, "{v}");
        }
        for v in [
            json!("json_object"),
            json!("meta-llama/Llama-3.1-8B-Instruct"),
            json!("https://example.com/v1/abcdef0123456789abcdef0123456789"),
            json!("123e4567-e89b-12d3-a456-426614174000"),
            json!("sk-"),
            json!(42),
            json!({"mode": "fast"}),
        ] {
            assert_eq!(
                classify_param("custom_thing", &v),
                ParamKind::Unknown,
                "{v}"
            );
        }
    }

    #[test]
    fn lists_do_not_overlap() {
        for k in LITELLM_ONLY.iter().chain(PROVIDER) {
            assert!(!PARAMS_USED.contains(k), "{k}");
            assert!(!PARAMS_INTERNAL.contains(k), "{k}");
            assert!(!PARAMS_NOT_YET.contains(k), "{k}");
            assert!(
                !PARAMS_INTERNAL_PREFIXES.iter().any(|p| k.starts_with(p)),
                "{k}"
            );
        }
        for k in LITELLM_ONLY {
            assert!(!PROVIDER.contains(k), "{k}");
        }
    }
}
