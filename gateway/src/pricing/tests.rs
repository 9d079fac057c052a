//! Unit tests for the price table, cost arithmetic and per-deployment prices.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 + 1e-9 * b.abs()
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

/// A file in the temp dir, unique to this process and test, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "tollgate-pricing-{}-{name}.json",
            std::process::id()
        ));
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn bundled_table_parses_and_is_complete() {
    let t = PriceTable::bundled();
    assert!(t.len() > 80, "only {} entries", t.len());
    assert!(!t.is_empty());
    assert!(t.get("sample_spec").is_none());
    for (name, p) in t.iter() {
        let mode = p
            .mode
            .as_deref()
            .unwrap_or_else(|| panic!("{name}: no mode"));
        if mode == "image_generation" {
            // Priced per pixel of a size (`{quality}/{W}-x-{H}/{model}`, DALL·E), or per image
            // (Imagen, Bedrock's image models), not per token.
            assert!(
                p.input_cost_per_pixel.is_some_and(|c| c > 0.0 && c < 1e-5)
                    || p.output_cost_per_image.is_some_and(|c| c > 0.0 && c < 1.0),
                "{name}"
            );
            assert!(p.litellm_provider.is_some(), "{name}: no litellm_provider");
            continue;
        }
        if mode == "rerank" || mode == "moderation" {
            // Rerank: per search unit (`input_cost_per_query`) or per token; moderations: free.
            assert!(p.litellm_provider.is_some(), "{name}: no litellm_provider");
            assert_eq!(p.output_cost_per_token, 0.0, "{name}");
            let per_query = p.input_cost_per_query.unwrap_or(0.0);
            assert!(per_query < 0.01 && p.input_cost_per_token < 1e-6, "{name}");
            assert_eq!(
                mode == "moderation",
                per_query == 0.0 && p.input_cost_per_token == 0.0,
                "{name}"
            );
            continue;
        }
        if mode == "audio_transcription" || mode == "audio_speech" {
            // Priced per second, per character or per (audio) token (`pricing::audio`).
            let priced = crate::pricing::audio::per_second(p).is_some_and(|c| c > 0.0)
                || p.input_cost_per_character.is_some_and(|c| c > 0.0)
                || p.input_cost_per_token > 0.0;
            assert!(priced, "{name}: no audio price");
            assert!(p.litellm_provider.is_some(), "{name}: no litellm_provider");
            continue;
        }
        assert!(
            ["chat", "embedding", "completion"].contains(&mode),
            "{name}: mode {mode}"
        );
        assert!(p.litellm_provider.is_some(), "{name}: no litellm_provider");
        assert!(p.max_input_tokens.is_some(), "{name}: no max_input_tokens");
        if mode != "embedding" {
            assert!(p.input_cost_per_token > 0.0, "{name}: no input cost");
            assert!(p.output_cost_per_token > 0.0, "{name}: no output cost");
            assert!(
                p.max_output_tokens.is_some(),
                "{name}: no max_output_tokens"
            );
        }
        if let Some(read) = p.cache_read_input_token_cost {
            assert!(
                read < p.input_cost_per_token,
                "{name}: cache read not a discount"
            );
        }
        // Prices are per token: anything above $1e-3/token is a per-1M typo.
        assert!(
            p.input_cost_per_token < 1e-3 && p.output_cost_per_token < 1e-3,
            "{name}"
        );
    }
    assert!(Arc::ptr_eq(&t, &PriceTable::bundled()), "parsed once");
}

#[test]
fn bundled_table_has_the_main_models() {
    let t = PriceTable::bundled();
    for key in [
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-4.1-nano",
        "o1",
        "o3",
        "o3-mini",
        "o4-mini",
        "gpt-3.5-turbo",
        "gpt-4-turbo",
        "text-embedding-3-small",
        "text-embedding-3-large",
        "text-embedding-ada-002",
        "claude-3-haiku-20240307",
        "claude-3-opus-20240229",
        "claude-3-5-haiku-20241022",
        "claude-3-5-sonnet-20241022",
        "claude-3-7-sonnet-20250219",
        "claude-sonnet-4-20250514",
        "claude-opus-4-20250514",
        "gemini/gemini-1.5-pro",
        "gemini-1.5-pro",
        "gemini/gemini-2.5-flash",
        "gemini-2.0-flash",
        "text-embedding-004",
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "meta.llama3-1-70b-instruct-v1:0",
        "amazon.titan-embed-text-v2:0",
        "mistral/mistral-large-latest",
        "groq/llama-3.1-8b-instant",
        "deepseek/deepseek-chat",
        "xai/grok-2",
        "command-r",
        "command-r-plus",
        "embed-english-v3.0",
        "azure/gpt-4o",
    ] {
        assert!(t.get(key).is_some(), "missing {key}");
    }
}

#[test]
fn lookup_prefers_the_provider_qualified_key() {
    let t = PriceTable::bundled();
    let provider = |prefix: &str, model: &str| {
        t.lookup(prefix, model)
            .and_then(|p| p.litellm_provider.clone())
    };
    assert_eq!(
        provider("gemini", "gemini-1.5-pro").as_deref(),
        Some("gemini")
    );
    assert_eq!(
        provider("vertex_ai", "gemini-1.5-pro").as_deref(),
        Some("vertex_ai-language-models")
    );
    assert_eq!(provider("azure", "gpt-4o").as_deref(), Some("azure"));
    assert_eq!(provider("openai", "gpt-4o").as_deref(), Some("openai"));
    assert_eq!(provider("", "gpt-4o").as_deref(), Some("openai"));
    assert_eq!(
        provider("groq", "llama-3.1-8b-instant").as_deref(),
        Some("groq")
    );
    assert_eq!(
        provider("bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0").as_deref(),
        Some("bedrock")
    );
    assert_eq!(
        provider("anthropic", "claude-3-5-sonnet-20241022").as_deref(),
        Some("anthropic")
    );
    // Exact names only: no case folding, no suffix stripping, no fuzzy match.
    assert!(t.lookup("openai", "GPT-4o").is_none());
    assert!(t.lookup("openai", "gpt-4o-2099-01-01").is_none());
    assert!(t.lookup("groq", "llama-3.1-8b").is_none());
}

#[test]
fn model_price_deserializes_leniently() {
    let p: ModelPrice = serde_json::from_str(
        r#"{"input_cost_per_token": "2e-6", "output_cost_per_token": 1,
            "max_tokens": 100, "max_input_tokens": "4096", "mode": "chat",
            "cache_read_input_token_cost": null, "some_future_field": [1, 2]}"#,
    )
    .unwrap();
    assert_eq!(p.input_cost_per_token, 2e-6);
    assert_eq!(p.output_cost_per_token, 1.0);
    assert_eq!(p.max_tokens, Some(100));
    assert_eq!(p.max_input_tokens, Some(4096));
    assert_eq!(p.cache_read_input_token_cost, None);
    assert_eq!(p.mode.as_deref(), Some("chat"));
    assert_eq!(
        serde_json::from_str::<ModelPrice>("{}").unwrap(),
        ModelPrice::default()
    );
    assert!(serde_json::from_str::<ModelPrice>(r#"{"input_cost_per_token": "cheap"}"#).is_err());
    assert!(serde_json::from_str::<ModelPrice>(r#"{"input_cost_per_token": -1}"#).is_err());
    assert!(serde_json::from_str::<ModelPrice>(r#"{"max_tokens": 1.5}"#).is_err());
}

#[test]
fn cost_with_cache_read_and_creation() {
    let t = PriceTable::bundled();
    // Anthropic: $3 in, $15 out, $0.30 cache read, $3.75 cache write per 1M tokens.
    let sonnet = t.lookup("anthropic", "claude-3-5-sonnet-20241022").unwrap();
    let usage = Usage {
        prompt_tokens: 10_000,
        completion_tokens: 1_000,
        cache_read_tokens: 4_000,
        cache_creation_tokens: 2_000,
        duration_secs: 3.0,
    };
    // 4000*3e-6 + 4000*0.3e-6 + 2000*3.75e-6 + 1000*15e-6 = 0.012 + 0.0012 + 0.0075 + 0.015
    let c = cost(sonnet, &usage);
    assert!(close(c, 0.0357), "{c}");

    // OpenAI gpt-4o: $2.50 in, $10 out, $1.25 cached; no cache-write price -> input price.
    let gpt4o = t.lookup("openai", "gpt-4o").unwrap();
    let usage = Usage {
        prompt_tokens: 1_000,
        completion_tokens: 50,
        cache_read_tokens: 200,
        cache_creation_tokens: 100,
        duration_secs: 0.0,
    };
    // 700*2.5e-6 + 200*1.25e-6 + 100*2.5e-6 + 50*1e-5 = 0.00175 + 0.00025 + 0.00025 + 0.0005
    let c = cost(gpt4o, &usage);
    assert!(close(c, 0.00275), "{c}");
}

#[test]
fn cost_without_cache_prices_and_with_bad_counts() {
    let p = ModelPrice {
        input_cost_per_token: 1e-6,
        output_cost_per_token: 2e-6,
        ..Default::default()
    };
    let plain = Usage {
        prompt_tokens: 100,
        completion_tokens: 10,
        ..Default::default()
    };
    assert!(close(cost(&p, &plain), 100e-6 + 20e-6));
    // Cached tokens without cache prices cost the input price: same total.
    let cached = Usage {
        cache_read_tokens: 30,
        cache_creation_tokens: 20,
        ..plain
    };
    assert!(close(cost(&p, &cached), 120e-6));
    // Cache counts above the prompt are clamped, never negative.
    let p = ModelPrice {
        cache_read_input_token_cost: Some(0.0),
        ..p
    };
    let over = Usage {
        cache_read_tokens: 500,
        cache_creation_tokens: 500,
        ..plain
    };
    assert!(close(cost(&p, &over), 20e-6));
    assert_eq!(cost(&ModelPrice::default(), &plain), 0.0);
}

#[test]
fn per_second_pricing() {
    let p = ModelPrice {
        input_cost_per_second: Some(0.0002),
        output_cost_per_second: Some(0.0001),
        ..Default::default()
    };
    let usage = Usage {
        prompt_tokens: 1_000,
        completion_tokens: 1_000,
        duration_secs: 10.0,
        ..Default::default()
    };
    assert!(close(cost(&p, &usage), 0.003));
    let only_in = ModelPrice {
        output_cost_per_second: None,
        ..p.clone()
    };
    assert!(close(cost(&only_in, &usage), 0.002));
    let bad_duration = Usage {
        duration_secs: f64::NAN,
        ..usage
    };
    assert_eq!(cost(&p, &bad_duration), 0.0);
    // Token prices, when set, win over per-second prices.
    let both = ModelPrice {
        input_cost_per_token: 1e-6,
        output_cost_per_token: 1e-6,
        ..p
    };
    assert!(close(cost(&both, &usage), 2_000e-6));
}

#[test]
fn worst_case_ignores_cache_discounts() {
    let t = PriceTable::bundled();
    let gpt4o = t.lookup("openai", "gpt-4o").unwrap();
    // 1000*2.5e-6 + 500*1e-5
    assert!(close(worst_case(gpt4o, 1_000, 500), 0.0075));
    assert_eq!(worst_case(gpt4o, 0, 0), 0.0);
}

#[test]
fn for_deployment_overrides_win() {
    let t = PriceTable::bundled();
    let params = obj(json!({"input_cost_per_token": 1e-6, "weight": 2}));
    let info = obj(json!({
        "input_cost_per_token": 5e-6,
        "cache_read_input_token_cost": "1e-7",
        "max_input_tokens": 1000,
        "max_output_tokens": "500",
    }));
    let p = for_deployment(&t, "openai", "gpt-4o", &params, &info).unwrap();
    assert_eq!(
        p.input_cost_per_token, 1e-6,
        "litellm_params wins over model_info"
    );
    assert_eq!(p.output_cost_per_token, 1e-5, "table value kept");
    assert_eq!(p.cache_read_input_token_cost, Some(1e-7));
    assert_eq!(p.max_input_tokens, Some(1000));
    assert_eq!(p.max_output_tokens, Some(500));
    assert_eq!(p.max_tokens, Some(16384), "table value kept");
    assert_eq!(p.litellm_provider.as_deref(), Some("openai"));

    // No overrides: exactly the table entry (provider-qualified first).
    let empty = Map::new();
    let p = for_deployment(&t, "azure", "gpt-4o", &empty, &empty).unwrap();
    assert_eq!(&p, t.get("azure/gpt-4o").unwrap());
}

#[test]
fn for_deployment_uses_base_model() {
    let t = PriceTable::bundled();
    let empty = Map::new();
    let info = obj(json!({"base_model": "gpt-4o-mini", "id": "x"}));
    let p = for_deployment(&t, "azure", "my-gpt4o-mini-deploy", &empty, &info).unwrap();
    assert_eq!(&p, t.get("azure/gpt-4o-mini").unwrap());
    // A provider-qualified base_model is found as given.
    let info = obj(json!({"base_model": "azure/gpt-4.1"}));
    let p = for_deployment(&t, "azure", "prod-41", &empty, &info).unwrap();
    assert_eq!(&p, t.get("azure/gpt-4.1").unwrap());
    // base_model wins over the deployment's own model...
    let info = obj(json!({"base_model": "gpt-4o-mini"}));
    let p = for_deployment(&t, "openai", "gpt-4o", &empty, &info).unwrap();
    assert_eq!(&p, t.get("gpt-4o-mini").unwrap());
    // ...and an unknown base_model falls back to it.
    let info = obj(json!({"base_model": "no-such-model"}));
    let p = for_deployment(&t, "openai", "gpt-4o", &empty, &info).unwrap();
    assert_eq!(&p, t.get("gpt-4o").unwrap());
}

#[test]
fn for_deployment_unknown_models() {
    let t = PriceTable::bundled();
    let empty = Map::new();
    let params = obj(json!({"input_cost_per_token": "1e-7", "output_cost_per_token": 2e-7}));
    let p = for_deployment(&t, "ollama", "my-llama", &params, &empty).unwrap();
    assert_eq!(p.input_cost_per_token, 1e-7);
    assert_eq!(p.output_cost_per_token, 2e-7);
    assert_eq!(p.litellm_provider.as_deref(), Some("ollama"));
    assert_eq!(p.max_input_tokens, None);

    let info = obj(json!({"mode": "embedding", "input_cost_per_second": 0.001}));
    let p = for_deployment(&t, "openai", "my-embedder", &empty, &info).unwrap();
    assert_eq!(p.input_cost_per_second, Some(0.001));
    assert_eq!(p.mode.as_deref(), Some("embedding"));

    assert_eq!(
        for_deployment(&t, "ollama", "my-llama", &empty, &empty),
        None
    );
    let info = obj(json!({"base_model": "also-unknown", "id": "x"}));
    let params = obj(json!({"weight": 3, "input_cost_per_token": null}));
    assert_eq!(
        for_deployment(&t, "ollama", "my-llama", &params, &info),
        None
    );
    // Unparseable values are ignored rather than guessed.
    let params = obj(json!({"input_cost_per_token": "cheap"}));
    assert_eq!(
        for_deployment(&t, "ollama", "my-llama", &params, &empty),
        None
    );
}

#[test]
fn with_file_merges_field_by_field() {
    let f = TempFile::new(
        "merge",
        r#"{
            "sample_spec": {"max_tokens": "text, not a number"},
            "gpt-4o": {"input_cost_per_token": "1e-6"},
            "my-model": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6,
                         "max_input_tokens": 32000, "mode": "chat", "litellm_provider": "ollama"}
        }"#,
    );
    let t = PriceTable::with_file(&f.0).unwrap();
    let bundled = PriceTable::bundled();
    assert_eq!(t.len(), bundled.len() + 1);
    let gpt4o = t.get("gpt-4o").unwrap();
    assert_eq!(gpt4o.input_cost_per_token, 1e-6);
    let old = bundled.get("gpt-4o").unwrap();
    assert_eq!(gpt4o.output_cost_per_token, old.output_cost_per_token);
    assert_eq!(
        gpt4o.cache_read_input_token_cost,
        old.cache_read_input_token_cost
    );
    assert_eq!(gpt4o.max_input_tokens, old.max_input_tokens);
    let mine = t.lookup("ollama", "my-model").unwrap();
    assert_eq!(mine.output_cost_per_token, 2e-6);
    assert_eq!(mine.max_input_tokens, Some(32000));
    // The bundled table itself is untouched.
    assert_eq!(bundled.get("gpt-4o").unwrap().input_cost_per_token, 2.5e-6);
}

#[test]
fn with_file_reports_bad_files_with_their_path() {
    let cases = [
        ("syntax", "{\"gpt-4o\": {", "invalid JSON"),
        ("toplevel", "[1, 2]", "top level"),
        ("entry", "{\"gpt-4o\": 3}", "model \"gpt-4o\""),
        (
            "field",
            "{\"m\": {\"output_cost_per_token\": \"lots\"}}",
            "field \"output_cost_per_token\"",
        ),
    ];
    for (name, text, expect) in cases {
        let f = TempFile::new(name, text);
        let err = PriceTable::with_file(&f.0).unwrap_err();
        assert!(err.contains(&f.0.display().to_string()), "{name}: {err}");
        assert!(err.contains(expect), "{name}: {err}");
    }
    let missing = std::env::temp_dir().join("tollgate-pricing-no-such-file.json");
    let err = PriceTable::with_file(&missing).unwrap_err();
    assert!(
        err.contains("tollgate-pricing-no-such-file.json") && err.contains("cannot read"),
        "{err}"
    );
}

#[test]
fn image_prices_by_size_and_quality_from_the_bundled_table() {
    let table = PriceTable::bundled();
    let p = for_deployment(&table, "openai", "dall-e-3", &Map::new(), &Map::new()).unwrap();
    assert_eq!(p.image_sizes.len(), 6, "{:?}", p.image_sizes);
    let hd_tall = image_cost(&p, Some("1024x1792"), Some("hd"), 2).unwrap();
    assert!(close(hd_tall, 2.0 * 6.539e-08 * 1024.0 * 1792.0));
    // No quality (or `auto`): the `standard` entry; no size: 1024x1024.
    let std_square = 3.81469e-08 * 1024.0 * 1024.0;
    assert!(close(image_cost(&p, None, None, 1).unwrap(), std_square));
    assert!(close(
        image_cost(&p, Some("auto"), Some("auto"), 1).unwrap(),
        std_square
    ));
    // The dearest single image, for a reservation.
    assert!(close(image_worst(&p), 6.539e-08 * 1792.0 * 1024.0));
    // dall-e-2 has sizes without a quality; `azure/` entries win for an Azure deployment.
    let d2 = for_deployment(&table, "openai", "dall-e-2", &Map::new(), &Map::new()).unwrap();
    assert!(close(
        image_cost(&d2, Some("256x256"), None, 1).unwrap(),
        2.4414e-07 * 256.0 * 256.0
    ));
    let az = for_deployment(
        &table,
        "azure",
        "my-dalle",
        &Map::new(),
        &obj(json!({"base_model": "dall-e-3"})),
    )
    .unwrap();
    assert_eq!(az.image_sizes.len(), 6);
    // A model the table has no image price for: `None`, its tokens are priced instead.
    let chat = for_deployment(&table, "openai", "gpt-4o", &Map::new(), &Map::new()).unwrap();
    assert!(image_cost(&chat, None, None, 1).is_none());
    assert_eq!(image_worst(&chat), 0.0);
}

#[test]
fn image_prices_from_the_deployment() {
    let table = PriceTable::bundled();
    let per_image = obj(json!({"output_cost_per_image": 0.25}));
    let p = for_deployment(&table, "openai", "unknown-img", &per_image, &Map::new()).unwrap();
    assert!(close(
        image_cost(&p, Some("512x512"), None, 3).unwrap(),
        0.75
    ));
    let per_pixel = obj(json!({"input_cost_per_pixel": "1e-8"}));
    let p = for_deployment(&table, "openai", "unknown-img", &per_pixel, &Map::new()).unwrap();
    assert!(close(
        image_cost(&p, Some("512x256"), None, 1).unwrap(),
        1e-8 * 512.0 * 256.0
    ));
}

#[test]
fn rerank_is_priced_per_search_unit_else_per_token() {
    let t = PriceTable::bundled();
    let cohere = t.lookup("cohere", "rerank-v3.5").unwrap();
    assert_eq!(cohere.input_cost_per_query, Some(0.002));
    assert!((super::rerank_cost(cohere, Some(3), 500) - 0.006).abs() < 1e-12);
    // No search units reported: one, as LiteLLM counts it.
    assert!((super::rerank_cost(cohere, None, 0) - 0.002).abs() < 1e-12);
    let jina = t
        .lookup("jina_ai", "jina-reranker-v2-base-multilingual")
        .unwrap();
    assert!((super::rerank_cost(jina, Some(1), 1000) - 1.8e-5).abs() < 1e-12);
    let vertex = t
        .lookup("vertex_ai", "semantic-ranker-default-004")
        .unwrap();
    assert_eq!(vertex.input_cost_per_query, Some(0.001));
    let bedrock = t.lookup("bedrock", "amazon.rerank-v1:0").unwrap();
    assert_eq!(bedrock.input_cost_per_query, Some(0.001));
    let moderation = t.lookup("openai", "omni-moderation-latest").unwrap();
    assert_eq!(super::rerank_cost(moderation, None, 100), 0.0);
}

#[test]
fn batch_cost_uses_the_batch_prices_else_half_the_standard_ones() {
    let table = PriceTable::bundled();
    let standard =
        for_deployment(&table, "openai", "gpt-4o-mini", &Map::new(), &Map::new()).unwrap();
    assert!(close(
        batch_cost(&standard, 1_000, 100),
        (1_000.0 * 1.5e-7 + 100.0 * 6e-7) / 2.0
    ));
    let own =
        obj(json!({"input_cost_per_token_batches": 1e-6, "output_cost_per_token_batches": "2e-6"}));
    let priced = for_deployment(&table, "openai", "gpt-4o-mini", &own, &Map::new()).unwrap();
    assert!(close(
        batch_cost(&priced, 1_000, 100),
        1_000.0 * 1e-6 + 100.0 * 2e-6
    ));
}
