//! The one `Provider` enum: every `litellm_params.model` prefix Tollgate serves, its dialect,
//! default `api_base` and the environment variables LiteLLM reads for its `api_base` and key;
//! and every prefix LiteLLM knows (`LITELLM_PROVIDERS`), so the rest are refused by name. Adding
//! an OpenAI-compatible provider is one row in `PROVIDERS` (`table.rs`).
//!
//! Everything the gateway needs to know about a provider is asked here, never matched on a
//! variant there (docs/adding-a-provider.md): its auth kind ([`Dialect::auth`]), whether it
//! needs image bytes ([`Dialect::needs_image_bytes`]), the param naming its cloud region
//! ([`Dialect::region_param`]), and which client APIs it serves natively
//! ([`Dialect::speaks_anthropic_messages`], [`Provider::speaks_openai_responses`]).

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

    /// How requests in this dialect carry their credential.
    pub fn auth(self) -> Auth {
        match self {
            Dialect::OpenAi
            | Dialect::Azure
            | Dialect::Anthropic
            | Dialect::Gemini
            | Dialect::OllamaChat
            | Dialect::Ollama
            | Dialect::Cohere => Auth::Header,
            Dialect::Bedrock => Auth::AwsSigV4,
            Dialect::VertexAi => Auth::GoogleOAuth {
                key_param: "vertex_credentials_json",
            },
        }
    }

    /// The provider cannot fetch an `http(s)` image URL itself: the gateway fetches each one
    /// (size-capped, time-bounded) and inlines it as a `data:` URL before translating.
    /// OpenAI-compatible servers, Azure and Anthropic take URLs; Cohere's adapter passes them on.
    pub fn needs_image_bytes(self) -> bool {
        match self {
            Dialect::Ollama
            | Dialect::OllamaChat
            | Dialect::Bedrock
            | Dialect::Gemini
            | Dialect::VertexAi => true,
            Dialect::OpenAi | Dialect::Azure | Dialect::Anthropic | Dialect::Cohere => false,
        }
    }

    /// Whether the dialect serves `POST /images/generations`: OpenAI-shaped image APIs, Imagen
    /// (`:predict`, Gemini API and Vertex AI), Bedrock's image models (`invoke`).
    pub fn makes_images(self) -> bool {
        match self {
            Dialect::OpenAi | Dialect::Azure | Dialect::Gemini | Dialect::VertexAi => true,
            Dialect::Bedrock => true,
            Dialect::Anthropic | Dialect::Cohere | Dialect::Ollama | Dialect::OllamaChat => false,
        }
    }

    /// The internal `litellm_params` key naming the cloud region the provider is called in
    /// (data residency: `region_name` alone is only what the config claims).
    pub fn region_param(self) -> Option<&'static str> {
        match self {
            Dialect::Bedrock => Some("aws_region_name"),
            Dialect::VertexAi => Some("vertex_location"),
            Dialect::OpenAi
            | Dialect::Azure
            | Dialect::Anthropic
            | Dialect::Gemini
            | Dialect::OllamaChat
            | Dialect::Ollama
            | Dialect::Cohere => None,
        }
    }
}

/// How a provider's requests are authenticated — what the gateway must do besides sending the
/// adapter's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// The adapter writes the deployment's key into the request (`Authorization: Bearer`,
    /// `x-api-key`, `api-key`, `x-goog-api-key`, …), or none is needed. Nothing to do.
    Header,
    /// AWS Signature Version 4 over the framed request: it covers the host and the time, which
    /// only the gateway knows, so the gateway calls [`crate::dialect::sign`] after building.
    AwsSigV4,
    /// A Google OAuth access token minted from the service-account key the config loader put in
    /// the deployment's internal params under `key_param`; the gateway keeps it fresh in the
    /// background and passes it as the deployment's key (`Target::api_key`).
    GoogleOAuth { key_param: &'static str },
}

/// A provider named by the prefix of `litellm_params.model` (`groq/llama-3.1-8b` → `Groq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    OpenAi,
    TextCompletionOpenAi,
    CustomOpenAi,
    OpenAiLike,
    HostedVllm,
    Groq,
    TogetherAi,
    Mistral,
    Codestral,
    Deepseek,
    OpenRouter,
    Xai,
    FireworksAi,
    Perplexity,
    Cerebras,
    NvidiaNim,
    LmStudio,
    Llamafile,
    Xinference,
    HuggingFace,
    AzureAi,
    Github,
    Sambanova,
    Nebius,
    Novita,
    Hyperbolic,
    FeatherlessAi,
    Nscale,
    FriendliAi,
    LambdaAi,
    Dashscope,
    Moonshot,
    Volcengine,
    Zai,
    MetaLlama,
    Ai21Chat,
    Galadriel,
    Empower,
    Wandb,
    LitellmProxy,
    /// Jina AI: embeddings and rerank (`/v1/rerank`).
    JinaAi,
    /// Infinity (michaelfeil/infinity): embeddings and rerank servers.
    Infinity,
    Azure,
    Anthropic,
    Gemini,
    VertexAi,
    OllamaChat,
    Ollama,
    Bedrock,
    Cohere,
}

/// Static facts about one provider. The environment variables are LiteLLM's, read in LiteLLM's
/// order (first set, non-empty one wins) when the deployment sets no `api_key` / `api_base`.
#[derive(Debug, Clone, Copy)]
pub struct ProviderSpec {
    pub provider: Provider,
    /// The prefix in `litellm_params.model`, without the slash.
    pub prefix: &'static str,
    pub dialect: Dialect,
    /// Used when the deployment sets no `api_base` and no `api_base_env` variable is set;
    /// `None` means an `api_base` is required.
    pub default_api_base: Option<&'static str>,
    /// Environment variables read, in order, when the deployment sets no `api_base`.
    pub api_base_env: &'static [&'static str],
    /// Environment variables read, in order, when the deployment sets no `api_key`.
    pub api_key_env: &'static [&'static str],
    /// Whether this build can translate for the provider yet.
    pub implemented: bool,
}

mod table;

pub use table::{LITELLM_PROVIDERS, PROVIDERS};

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
        // `text-completion-openai` labels OpenAI's own models in the price table: a bare name
        // such as `gpt-3.5-turbo-instruct` belongs to the `openai/` deployments.
        match name {
            "cohere_chat" => Some(Provider::Cohere),
            "text-completion-openai" => Some(Provider::OpenAi),
            n if n.starts_with("vertex_ai-") => Some(Provider::VertexAi),
            n => Provider::from_prefix(n),
        }
    }

    /// The provider's row: `PROVIDERS` lists the providers in declaration order, so the row is
    /// found by index (`rows_are_in_declaration_order` checks it).
    pub fn spec(self) -> &'static ProviderSpec {
        let spec = &PROVIDERS[self as usize];
        debug_assert_eq!(spec.provider, self);
        spec
    }

    pub fn prefix(self) -> &'static str {
        self.spec().prefix
    }

    pub fn dialect(self) -> Dialect {
        self.spec().dialect
    }

    /// The provider serves OpenAI's Responses API itself (`/v1/responses`; Azure's
    /// `/openai/responses`): a `/v1/responses` request is passed through to it as sent, and
    /// bridged to chat completions for every other provider. OpenAI-compatible servers in
    /// general do not have it.
    pub fn speaks_openai_responses(self) -> bool {
        matches!(self, Provider::OpenAi | Provider::Azure)
    }

    /// All known prefixes, for error messages.
    pub fn known_prefixes() -> impl Iterator<Item = &'static str> {
        PROVIDERS.iter().map(|s| s.prefix)
    }

    /// Whether `prefix` names a LiteLLM provider this build does not serve.
    pub fn is_litellm_only(prefix: &str) -> bool {
        Provider::from_prefix(prefix).is_none() && LITELLM_PROVIDERS.contains(&prefix)
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
    fn rows_are_in_declaration_order() {
        for (i, spec) in PROVIDERS.iter().enumerate() {
            assert_eq!(spec.provider as usize, i, "{:?}", spec.provider);
        }
    }

    #[test]
    fn every_litellm_prefix_is_served_or_refused_by_name() {
        let mut sorted = LITELLM_PROVIDERS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, LITELLM_PROVIDERS, "sorted, no duplicates");
        for spec in PROVIDERS {
            assert!(LITELLM_PROVIDERS.contains(&spec.prefix), "{}", spec.prefix);
            assert!(!Provider::is_litellm_only(spec.prefix), "{}", spec.prefix);
        }
        for p in [
            "sagemaker",
            "replicate",
            "watsonx",
            "vllm",
            "anthropic_text",
        ] {
            assert!(Provider::is_litellm_only(p), "{p}");
        }
        assert!(!Provider::is_litellm_only("anthropc"));
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
