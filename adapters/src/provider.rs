//! The one `Provider` enum: every `litellm_params.model` prefix Tollgate serves, its dialect,
//! default `api_base` and the environment variables LiteLLM reads for its `api_base` and key;
//! and every prefix LiteLLM knows (`LITELLM_PROVIDERS`), so the rest are refused by name. Adding
//! an OpenAI-compatible provider is one row in `PROVIDERS`.

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

const fn openai_compatible(
    provider: Provider,
    prefix: &'static str,
    default_api_base: Option<&'static str>,
    api_base_env: &'static [&'static str],
    api_key_env: &'static [&'static str],
) -> ProviderSpec {
    ProviderSpec {
        provider,
        prefix,
        dialect: Dialect::OpenAi,
        default_api_base,
        api_base_env,
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
    api_base_env: &'static [&'static str],
    api_key_env: &'static [&'static str],
) -> ProviderSpec {
    ProviderSpec {
        provider,
        prefix,
        dialect,
        default_api_base,
        api_base_env,
        api_key_env,
        implemented: true,
    }
}

use Provider as P;

/// LiteLLM's OpenAI endpoint and variables (`litellm/main.py`), shared by `openai/`,
/// `custom_openai/` and `text-completion-openai/`.
const OPENAI_BASE: Option<&str> = Some("https://api.openai.com/v1");
const OPENAI_BASE_ENV: &[&str] = &["OPENAI_BASE_URL", "OPENAI_API_BASE"];
const OPENAI_KEY_ENV: &[&str] = &["OPENAI_API_KEY"];

/// Every provider, one row each. Defaults and variables as LiteLLM has them (its
/// `get_llm_provider_logic.py` and `litellm/llms/<provider>/`); see docs/config.md.
pub const PROVIDERS: &[ProviderSpec] = &[
    openai_compatible(
        P::OpenAi,
        "openai",
        OPENAI_BASE,
        OPENAI_BASE_ENV,
        OPENAI_KEY_ENV,
    ),
    openai_compatible(
        P::TextCompletionOpenAi,
        "text-completion-openai",
        OPENAI_BASE,
        OPENAI_BASE_ENV,
        OPENAI_KEY_ENV,
    ),
    openai_compatible(
        P::CustomOpenAi,
        "custom_openai",
        OPENAI_BASE,
        OPENAI_BASE_ENV,
        OPENAI_KEY_ENV,
    ),
    openai_compatible(
        P::OpenAiLike,
        "openai_like",
        None,
        &["OPENAI_LIKE_API_BASE"],
        &["OPENAI_LIKE_API_KEY"],
    ),
    openai_compatible(
        P::HostedVllm,
        "hosted_vllm",
        None,
        &["HOSTED_VLLM_API_BASE"],
        &["HOSTED_VLLM_API_KEY"],
    ),
    openai_compatible(
        P::Groq,
        "groq",
        Some("https://api.groq.com/openai/v1"),
        &["GROQ_API_BASE"],
        &["GROQ_API_KEY"],
    ),
    openai_compatible(
        P::TogetherAi,
        "together_ai",
        Some("https://api.together.xyz/v1"),
        &["TOGETHER_AI_API_BASE"],
        &[
            "TOGETHER_API_KEY",
            "TOGETHER_AI_API_KEY",
            "TOGETHERAI_API_KEY",
            "TOGETHER_AI_TOKEN",
        ],
    ),
    openai_compatible(
        P::Mistral,
        "mistral",
        Some("https://api.mistral.ai/v1"),
        &["MISTRAL_AZURE_API_BASE"],
        &["MISTRAL_AZURE_API_KEY", "MISTRAL_API_KEY"],
    ),
    openai_compatible(
        P::Codestral,
        "codestral",
        Some("https://codestral.mistral.ai/v1"),
        &["CODESTRAL_API_BASE"],
        &["CODESTRAL_API_KEY"],
    ),
    openai_compatible(
        P::Deepseek,
        "deepseek",
        Some("https://api.deepseek.com/v1"),
        &["DEEPSEEK_API_BASE"],
        &["DEEPSEEK_API_KEY"],
    ),
    openai_compatible(
        P::OpenRouter,
        "openrouter",
        Some("https://openrouter.ai/api/v1"),
        &["OPENROUTER_API_BASE"],
        &["OPENROUTER_API_KEY", "OR_API_KEY"],
    ),
    openai_compatible(
        P::Xai,
        "xai",
        Some("https://api.x.ai/v1"),
        &["XAI_API_BASE"],
        &["XAI_API_KEY"],
    ),
    openai_compatible(
        P::FireworksAi,
        "fireworks_ai",
        Some("https://api.fireworks.ai/inference/v1"),
        &["FIREWORKS_API_BASE"],
        &[
            "FIREWORKS_API_KEY",
            "FIREWORKS_AI_API_KEY",
            "FIREWORKSAI_API_KEY",
            "FIREWORKS_AI_TOKEN",
        ],
    ),
    openai_compatible(
        P::Perplexity,
        "perplexity",
        Some("https://api.perplexity.ai"),
        &["PERPLEXITY_API_BASE"],
        &["PERPLEXITYAI_API_KEY", "PERPLEXITY_API_KEY"],
    ),
    openai_compatible(
        P::Cerebras,
        "cerebras",
        Some("https://api.cerebras.ai/v1"),
        &["CEREBRAS_API_BASE"],
        &["CEREBRAS_API_KEY"],
    ),
    openai_compatible(
        P::NvidiaNim,
        "nvidia_nim",
        Some("https://integrate.api.nvidia.com/v1"),
        &["NVIDIA_NIM_API_BASE"],
        &["NVIDIA_NIM_API_KEY"],
    ),
    openai_compatible(
        P::LmStudio,
        "lm_studio",
        Some("http://localhost:1234/v1"),
        &["LM_STUDIO_API_BASE"],
        &["LM_STUDIO_API_KEY"],
    ),
    openai_compatible(
        P::Llamafile,
        "llamafile",
        Some("http://127.0.0.1:8080/v1"),
        &["LLAMAFILE_API_BASE"],
        &["LLAMAFILE_API_KEY"],
    ),
    openai_compatible(
        P::Xinference,
        "xinference",
        Some("http://127.0.0.1:9997/v1"),
        &["XINFERENCE_API_BASE"],
        &["XINFERENCE_API_KEY"],
    ),
    // Text Generation Inference / Inference Endpoints: `{api_base}/v1/chat/completions`.
    // Hugging Face's serverless router (no api_base) is not served.
    openai_compatible(
        P::HuggingFace,
        "huggingface",
        None,
        &["HF_API_BASE", "HUGGINGFACE_API_BASE"],
        &["HF_TOKEN", "HUGGINGFACE_API_KEY"],
    ),
    // `*.services.ai.azure.com`: `{api_base}/models/chat/completions` with `api-key`;
    // elsewhere `{api_base}/chat/completions` with a bearer key; `api_version` as a query.
    openai_compatible(
        P::AzureAi,
        "azure_ai",
        None,
        &["AZURE_AI_API_BASE"],
        &["AZURE_AI_API_KEY"],
    ),
    openai_compatible(
        P::Github,
        "github",
        Some("https://models.inference.ai.azure.com"),
        &["GITHUB_API_BASE"],
        &["GITHUB_API_KEY"],
    ),
    openai_compatible(
        P::Sambanova,
        "sambanova",
        Some("https://api.sambanova.ai/v1"),
        &["SAMBANOVA_API_BASE"],
        &["SAMBANOVA_API_KEY"],
    ),
    openai_compatible(
        P::Nebius,
        "nebius",
        Some("https://api.studio.nebius.ai/v1"),
        &["NEBIUS_API_BASE"],
        &["NEBIUS_API_KEY"],
    ),
    openai_compatible(
        P::Novita,
        "novita",
        Some("https://api.novita.ai/v3/openai"),
        &["NOVITA_API_BASE"],
        &["NOVITA_API_KEY"],
    ),
    openai_compatible(
        P::Hyperbolic,
        "hyperbolic",
        Some("https://api.hyperbolic.xyz/v1"),
        &["HYPERBOLIC_API_BASE"],
        &["HYPERBOLIC_API_KEY"],
    ),
    openai_compatible(
        P::FeatherlessAi,
        "featherless_ai",
        Some("https://api.featherless.ai/v1"),
        &["FEATHERLESS_AI_API_BASE", "FEATHERLESS_API_BASE"],
        &["FEATHERLESS_AI_API_KEY", "FEATHERLESS_API_KEY"],
    ),
    openai_compatible(
        P::Nscale,
        "nscale",
        Some("https://inference.api.nscale.com/v1"),
        &["NSCALE_API_BASE"],
        &["NSCALE_API_KEY"],
    ),
    openai_compatible(
        P::FriendliAi,
        "friendliai",
        Some("https://api.friendli.ai/serverless/v1"),
        &["FRIENDLI_API_BASE"],
        &["FRIENDLIAI_API_KEY", "FRIENDLI_TOKEN"],
    ),
    openai_compatible(
        P::LambdaAi,
        "lambda_ai",
        Some("https://api.lambda.ai/v1"),
        &["LAMBDA_API_BASE"],
        &["LAMBDA_API_KEY"],
    ),
    openai_compatible(
        P::Dashscope,
        "dashscope",
        Some("https://dashscope-intl.aliyuncs.com/compatible-mode/v1"),
        &["DASHSCOPE_API_BASE"],
        &["DASHSCOPE_API_KEY"],
    ),
    openai_compatible(
        P::Moonshot,
        "moonshot",
        Some("https://api.moonshot.ai/v1"),
        &["MOONSHOT_API_BASE"],
        &["MOONSHOT_API_KEY"],
    ),
    openai_compatible(
        P::Volcengine,
        "volcengine",
        Some("https://ark.cn-beijing.volces.com/api/v3"),
        &["VOLCENGINE_API_BASE"],
        &["VOLCENGINE_API_KEY"],
    ),
    openai_compatible(
        P::Zai,
        "zai",
        Some("https://api.z.ai/api/paas/v4"),
        &["ZAI_API_BASE"],
        &["ZAI_API_KEY"],
    ),
    openai_compatible(
        P::MetaLlama,
        "meta_llama",
        Some("https://api.llama.com/compat/v1"),
        &["LLAMA_API_BASE"],
        &["LLAMA_API_KEY"],
    ),
    openai_compatible(
        P::Ai21Chat,
        "ai21_chat",
        Some("https://api.ai21.com/studio/v1"),
        &["AI21_API_BASE"],
        &["AI21_API_KEY"],
    ),
    openai_compatible(
        P::Galadriel,
        "galadriel",
        Some("https://api.galadriel.com/v1"),
        &["GALADRIEL_API_BASE"],
        &["GALADRIEL_API_KEY"],
    ),
    openai_compatible(
        P::Empower,
        "empower",
        Some("https://app.empower.dev/api/v1"),
        &["EMPOWER_API_BASE"],
        &["EMPOWER_API_KEY"],
    ),
    openai_compatible(
        P::Wandb,
        "wandb",
        Some("https://api.inference.wandb.ai/v1"),
        &["WANDB_API_BASE"],
        &["WANDB_API_KEY"],
    ),
    openai_compatible(
        P::LitellmProxy,
        "litellm_proxy",
        None,
        &["LITELLM_PROXY_API_BASE"],
        &["LITELLM_PROXY_API_KEY"],
    ),
    native(
        P::Azure,
        "azure",
        Dialect::Azure,
        None,
        &["AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT"],
        &["AZURE_OPENAI_API_KEY", "AZURE_API_KEY"],
    ),
    native(
        P::Anthropic,
        "anthropic",
        Dialect::Anthropic,
        Some("https://api.anthropic.com"),
        &["ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL"],
        &["ANTHROPIC_API_KEY"],
    ),
    native(
        P::Gemini,
        "gemini",
        Dialect::Gemini,
        Some("https://generativelanguage.googleapis.com"),
        &["GEMINI_API_BASE"],
        &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
    ),
    native(P::VertexAi, "vertex_ai", Dialect::VertexAi, None, &[], &[]),
    native(
        P::OllamaChat,
        "ollama_chat",
        Dialect::OllamaChat,
        Some("http://localhost:11434"),
        &["OLLAMA_API_BASE"],
        &[],
    ),
    native(
        P::Ollama,
        "ollama",
        Dialect::Ollama,
        Some("http://localhost:11434"),
        &["OLLAMA_API_BASE"],
        &[],
    ),
    native(P::Bedrock, "bedrock", Dialect::Bedrock, None, &[], &[]),
    native(
        P::Cohere,
        "cohere",
        Dialect::Cohere,
        Some("https://api.cohere.com"),
        &["COHERE_API_BASE"],
        &["COHERE_API_KEY", "CO_API_KEY"],
    ),
];

/// Every provider prefix LiteLLM knows (its `LlmProviders` enum, `litellm/types/utils.py`,
/// plus the OpenAI-compatible providers it loads from `openai_like/providers.json` and older
/// names still in its provider list). A prefix here that `PROVIDERS` lacks is refused by name:
/// "provider X is not supported yet".
pub const LITELLM_PROVIDERS: &[&str] = &[
    "a2a",
    "a2a_agent",
    "abliteration",
    "ai21",
    "ai21_chat",
    "aihubmix",
    "aiml",
    "aiohttp_openai",
    "aleph_alpha",
    "amazon_nova",
    "anthropic",
    "anthropic_text",
    "anyscale",
    "apertis",
    "assemblyai",
    "auto_router",
    "aws_polly",
    "azure",
    "azure_ai",
    "azure_text",
    "baseten",
    "bedrock",
    "bedrock_mantle",
    "black_forest_labs",
    "bytez",
    "cerebras",
    "charity_engine",
    "chatgpt",
    "chutes",
    "clarifai",
    "cloudflare",
    "codestral",
    "cohere",
    "cohere_chat",
    "cometapi",
    "compactifai",
    "crusoe",
    "cursor",
    "custom",
    "custom_openai",
    "darkbloom",
    "dashscope",
    "databricks",
    "datarobot",
    "deepgram",
    "deepinfra",
    "deepseek",
    "docker_model_runner",
    "dotprompt",
    "elevenlabs",
    "empower",
    "fal_ai",
    "featherless_ai",
    "fireworks_ai",
    "friendliai",
    "galadriel",
    "gdc",
    "gemini",
    "gigachat",
    "github",
    "github_copilot",
    "gmi",
    "gradient_ai",
    "groq",
    "helicone",
    "heroku",
    "hosted_vllm",
    "huggingface",
    "humanloop",
    "hyperbolic",
    "inception",
    "infinity",
    "jina_ai",
    "lambda_ai",
    "langflow",
    "langfuse",
    "langgraph",
    "lemonade",
    "libertai",
    "litellm_agent",
    "litellm_proxy",
    "llamafile",
    "llamagate",
    "lm_studio",
    "manus",
    "maritalk",
    "meta",
    "meta_llama",
    "milvus",
    "minimax",
    "mistral",
    "modelscope",
    "moonshot",
    "morph",
    "nano-gpt",
    "nebius",
    "neosantara",
    "nlp_cloud",
    "novita",
    "nscale",
    "nvidia_nim",
    "nvidia_riva",
    "oci",
    "ollama",
    "ollama_chat",
    "oobabooga",
    "openai",
    "openai_like",
    "openrouter",
    "ovhcloud",
    "palm",
    "parasail",
    "perplexity",
    "petals",
    "pg_vector",
    "pinstripes",
    "poe",
    "predibase",
    "publicai",
    "ragflow",
    "recraft",
    "reducto",
    "replicate",
    "runwayml",
    "s3_vectors",
    "sagemaker",
    "sagemaker_chat",
    "sagemaker_nova",
    "salad_cloud",
    "sambanova",
    "sap",
    "sarvam",
    "scaleway",
    "snowflake",
    "soniox",
    "stability",
    "synthetic",
    "tencent",
    "tensormesh",
    "text-completion-codestral",
    "text-completion-inception",
    "text-completion-openai",
    "together_ai",
    "topaz",
    "triton",
    "v0",
    "veniceai",
    "vercel_ai_gateway",
    "vertex_ai",
    "vertex_ai_beta",
    "vllm",
    "volcengine",
    "voyage",
    "wandb",
    "watsonx",
    "watsonx_text",
    "xai",
    "xiaomi_mimo",
    "xinference",
    "zai",
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
        // `text-completion-openai` labels OpenAI's own models in the price table: a bare name
        // such as `gpt-3.5-turbo-instruct` belongs to the `openai/` deployments.
        match name {
            "cohere_chat" => Some(Provider::Cohere),
            "text-completion-openai" => Some(Provider::OpenAi),
            n if n.starts_with("vertex_ai-") => Some(Provider::VertexAi),
            n => Provider::from_prefix(n),
        }
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
