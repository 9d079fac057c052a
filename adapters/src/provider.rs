//! The one `Provider` enum: every `litellm_params.model` prefix Tollgate knows, its dialect,
//! default `api_base` and API-key environment variable. Adding an OpenAI-compatible provider is
//! one row in `PROVIDERS`.

/// The wire dialect a provider speaks. Everything OpenAI-compatible shares one adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// OpenAI Chat Completions / Completions / Embeddings, and every compatible server.
    OpenAi,
    Azure,
    Anthropic,
    Gemini,
    VertexAi,
    OllamaChat,
    Ollama,
    Bedrock,
    Cohere,
}

impl Dialect {
    /// The provider's own API is Anthropic Messages: a `/v1/messages` request is passed through
    /// as the client sent it.
    pub fn speaks_anthropic_messages(self) -> bool {
        self == Dialect::Anthropic
    }

    /// The adapter turns canonical `cache_control` markers into the provider's prompt-cache
    /// points (Anthropic `cache_control`, Bedrock `cachePoint`). Elsewhere they are not sent:
    /// OpenAI-compatible and Azure bodies go out as they are, and those APIs have no such field.
    pub fn takes_cache_control(self) -> bool {
        matches!(self, Dialect::Anthropic | Dialect::Bedrock)
    }
}

/// A provider named by the prefix of `litellm_params.model` (`groq/llama-3.1-8b` → `Groq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    OpenAi,
    HostedVllm,
    Groq,
    TogetherAi,
    Mistral,
    Deepseek,
    OpenRouter,
    Xai,
    FireworksAi,
    Perplexity,
    Cerebras,
    NvidiaNim,
    LmStudio,
    Azure,
    Anthropic,
    Gemini,
    VertexAi,
    OllamaChat,
    Ollama,
    Bedrock,
    Cohere,
}

/// Static facts about one provider.
#[derive(Debug, Clone, Copy)]
pub struct ProviderSpec {
    pub provider: Provider,
    /// The prefix in `litellm_params.model`, without the slash.
    pub prefix: &'static str,
    pub dialect: Dialect,
    /// Used when the deployment sets no `api_base`; `None` means `api_base` is required.
    pub default_api_base: Option<&'static str>,
    /// Environment variable read when the deployment sets no `api_key`.
    pub api_key_env: Option<&'static str>,
    /// Whether this build can translate for the provider yet.
    pub implemented: bool,
}

const fn openai_compatible(
    provider: Provider,
    prefix: &'static str,
    default_api_base: Option<&'static str>,
    api_key_env: Option<&'static str>,
) -> ProviderSpec {
    ProviderSpec {
        provider,
        prefix,
        dialect: Dialect::OpenAi,
        default_api_base,
        api_key_env,
        implemented: true,
    }
}

/// A provider with its own dialect whose adapter is complete.
const fn native(
    provider: Provider,
    prefix: &'static str,
    dialect: Dialect,
    default_api_base: Option<&'static str>,
    api_key_env: Option<&'static str>,
) -> ProviderSpec {
    ProviderSpec {
        provider,
        prefix,
        dialect,
        default_api_base,
        api_key_env,
        implemented: true,
    }
}

use Provider as P;

/// Every provider, one row each.
pub const PROVIDERS: &[ProviderSpec] = &[
    openai_compatible(
        P::OpenAi,
        "openai",
        Some("https://api.openai.com/v1"),
        Some("OPENAI_API_KEY"),
    ),
    openai_compatible(
        P::HostedVllm,
        "hosted_vllm",
        None,
        Some("HOSTED_VLLM_API_KEY"),
    ),
    openai_compatible(
        P::Groq,
        "groq",
        Some("https://api.groq.com/openai/v1"),
        Some("GROQ_API_KEY"),
    ),
    openai_compatible(
        P::TogetherAi,
        "together_ai",
        Some("https://api.together.xyz/v1"),
        Some("TOGETHERAI_API_KEY"),
    ),
    openai_compatible(
        P::Mistral,
        "mistral",
        Some("https://api.mistral.ai/v1"),
        Some("MISTRAL_API_KEY"),
    ),
    openai_compatible(
        P::Deepseek,
        "deepseek",
        Some("https://api.deepseek.com/v1"),
        Some("DEEPSEEK_API_KEY"),
    ),
    openai_compatible(
        P::OpenRouter,
        "openrouter",
        Some("https://openrouter.ai/api/v1"),
        Some("OPENROUTER_API_KEY"),
    ),
    openai_compatible(
        P::Xai,
        "xai",
        Some("https://api.x.ai/v1"),
        Some("XAI_API_KEY"),
    ),
    openai_compatible(
        P::FireworksAi,
        "fireworks_ai",
        Some("https://api.fireworks.ai/inference/v1"),
        Some("FIREWORKS_AI_API_KEY"),
    ),
    openai_compatible(
        P::Perplexity,
        "perplexity",
        Some("https://api.perplexity.ai"),
        Some("PERPLEXITYAI_API_KEY"),
    ),
    openai_compatible(
        P::Cerebras,
        "cerebras",
        Some("https://api.cerebras.ai/v1"),
        Some("CEREBRAS_API_KEY"),
    ),
    openai_compatible(
        P::NvidiaNim,
        "nvidia_nim",
        Some("https://integrate.api.nvidia.com/v1"),
        Some("NVIDIA_NIM_API_KEY"),
    ),
    openai_compatible(
        P::LmStudio,
        "lm_studio",
        Some("http://localhost:1234/v1"),
        Some("LM_STUDIO_API_KEY"),
    ),
    native(
        P::Azure,
        "azure",
        Dialect::Azure,
        None,
        Some("AZURE_API_KEY"),
    ),
    native(
        P::Anthropic,
        "anthropic",
        Dialect::Anthropic,
        Some("https://api.anthropic.com"),
        Some("ANTHROPIC_API_KEY"),
    ),
    native(
        P::Gemini,
        "gemini",
        Dialect::Gemini,
        Some("https://generativelanguage.googleapis.com"),
        Some("GEMINI_API_KEY"),
    ),
    native(P::VertexAi, "vertex_ai", Dialect::VertexAi, None, None),
    native(
        P::OllamaChat,
        "ollama_chat",
        Dialect::OllamaChat,
        Some("http://localhost:11434"),
        None,
    ),
    native(
        P::Ollama,
        "ollama",
        Dialect::Ollama,
        Some("http://localhost:11434"),
        None,
    ),
    native(P::Bedrock, "bedrock", Dialect::Bedrock, None, None),
    native(
        P::Cohere,
        "cohere",
        Dialect::Cohere,
        Some("https://api.cohere.com"),
        Some("COHERE_API_KEY"),
    ),
];

impl Provider {
    /// The provider for a prefix such as `"groq"`.
    pub fn from_prefix(prefix: &str) -> Option<Provider> {
        PROVIDERS
            .iter()
            .find(|s| s.prefix == prefix)
            .map(|s| s.provider)
    }

    /// Splits `litellm_params.model` (`"openai/gpt-4o"`) into provider and upstream model name.
    /// Only the first slash separates: `openrouter/meta-llama/llama-3` keeps `meta-llama/llama-3`.
    pub fn split_model(model: &str) -> Option<(Provider, &str)> {
        let (prefix, rest) = model.split_once('/')?;
        Some((Provider::from_prefix(prefix)?, rest))
    }

    /// The provider a price-table entry's `litellm_provider` names (LiteLLM's
    /// `model_prices_and_context_window.json`): a prefix, or one of LiteLLM's finer labels
    /// (`cohere_chat`, `vertex_ai-language-models`, `text-completion-openai`).
    pub fn from_litellm_provider(name: &str) -> Option<Provider> {
        Provider::from_prefix(name).or(match name {
            "cohere_chat" => Some(Provider::Cohere),
            "text-completion-openai" => Some(Provider::OpenAi),
            n if n.starts_with("vertex_ai-") => Some(Provider::VertexAi),
            _ => None,
        })
    }

    pub fn spec(self) -> &'static ProviderSpec {
        PROVIDERS
            .iter()
            .find(|s| s.provider == self)
            .expect("every Provider has a row in PROVIDERS")
    }

    pub fn prefix(self) -> &'static str {
        self.spec().prefix
    }

    pub fn dialect(self) -> Dialect {
        self.spec().dialect
    }

    /// All known prefixes, for error messages.
    pub fn known_prefixes() -> impl Iterator<Item = &'static str> {
        PROVIDERS.iter().map(|s| s.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_has_exactly_one_row() {
        for spec in PROVIDERS {
            let rows = PROVIDERS
                .iter()
                .filter(|s| s.provider == spec.provider)
                .count();
            assert_eq!(rows, 1, "{:?}", spec.provider);
            assert_eq!(Provider::from_prefix(spec.prefix), Some(spec.provider));
        }
    }

    #[test]
    fn split_keeps_slashes_after_the_prefix() {
        assert_eq!(
            Provider::split_model("openrouter/meta-llama/llama-3-8b"),
            Some((Provider::OpenRouter, "meta-llama/llama-3-8b"))
        );
        assert_eq!(Provider::split_model("gpt-4o"), None);
        assert_eq!(Provider::split_model("anthropc/claude"), None);
    }

    #[test]
    fn price_table_provider_labels() {
        for (label, provider) in [
            ("anthropic", Some(Provider::Anthropic)),
            ("cohere_chat", Some(Provider::Cohere)),
            ("vertex_ai-language-models", Some(Provider::VertexAi)),
            ("text-completion-openai", Some(Provider::OpenAi)),
            ("sagemaker", None),
        ] {
            assert_eq!(Provider::from_litellm_provider(label), provider, "{label}");
        }
    }
}
