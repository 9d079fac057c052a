//! Model prices and request cost: a bundled LiteLLM-format price table (`model_prices.json`),
//! optional user overrides, per-deployment prices from the config, and the cost arithmetic.
//!
//! Token convention (OpenAI's): `prompt_tokens` *includes* cached tokens. Adapters for providers
//! that report cached tokens separately (Anthropic's `input_tokens` excludes them) must add them
//! in before calling [`cost`].

// Not every item is called by the gateway yet (the table is wired in separately).

pub mod audio;
mod table;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

pub use table::PriceTable;

/// One model's prices and limits (LiteLLM field names). Costs are USD.
///
/// Absent fields default (0.0 / `None`), unknown fields are ignored, and cost fields accept a
/// number or a numeric string (`"1e-6"`).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default)]
pub struct ModelPrice {
    #[serde(deserialize_with = "table::de::cost")]
    pub input_cost_per_token: f64,
    #[serde(deserialize_with = "table::de::cost")]
    pub output_cost_per_token: f64,
    #[serde(deserialize_with = "table::de::opt_cost")]
    pub cache_read_input_token_cost: Option<f64>,
    #[serde(deserialize_with = "table::de::opt_cost")]
    pub cache_creation_input_token_cost: Option<f64>,
    #[serde(deserialize_with = "table::de::opt_cost")]
    pub input_cost_per_second: Option<f64>,
    #[serde(deserialize_with = "table::de::opt_cost")]
    pub output_cost_per_second: Option<f64>,
    /// Per image generated (LiteLLM's `output_cost_per_image`).
    #[serde(deserialize_with = "table::de::opt_cost")]
    pub output_cost_per_image: Option<f64>,
    /// Per image (LiteLLM's `input_cost_per_image`); for image generation, used when
    /// `output_cost_per_image` is not set.
    #[serde(deserialize_with = "table::de::opt_cost")]
    pub input_cost_per_image: Option<f64>,
    /// Per pixel of an image generated (LiteLLM's `input_cost_per_pixel`, as its DALL·E entries
    /// price images: width × height × this).
    #[serde(deserialize_with = "table::de::opt_cost")]
    pub input_cost_per_pixel: Option<f64>,
    /// Per search unit of a rerank request (LiteLLM's `input_cost_per_query`: a query of up to
    /// 100 documents), used instead of the token prices when set.
    #[serde(deserialize_with = "table::de::opt_cost")]
    pub input_cost_per_query: Option<f64>,
    /// Per character of a text-to-speech input (LiteLLM's `input_cost_per_character`, `tts-1`).
    #[serde(deserialize_with = "table::de::opt_cost")]
    pub input_cost_per_character: Option<f64>,
    /// Per audio input token (LiteLLM's `input_cost_per_audio_token`, `gpt-4o-transcribe`);
    /// audio tokens without it are priced as `input_cost_per_token`.
    #[serde(deserialize_with = "table::de::opt_cost")]
    pub input_cost_per_audio_token: Option<f64>,
    /// The image prices by size and quality: the table's `{quality}/{W}-x-{H}/{model}` and
    /// `{W}-x-{H}/{model}` entries of this model (filled by [`for_deployment`]).
    #[serde(skip)]
    pub image_sizes: Vec<SizedImage>,
    /// Per input token of a batch job (LiteLLM's `input_cost_per_token_batches`); unset, half
    /// of `input_cost_per_token` ([`batch_cost`]).
    #[serde(deserialize_with = "table::de::opt_cost")]
    pub input_cost_per_token_batches: Option<f64>,
    /// Per output token of a batch job (`output_cost_per_token_batches`); likewise.
    #[serde(deserialize_with = "table::de::opt_cost")]
    pub output_cost_per_token_batches: Option<f64>,
    #[serde(deserialize_with = "table::de::opt_tokens")]
    pub max_tokens: Option<u64>,
    #[serde(deserialize_with = "table::de::opt_tokens")]
    pub max_input_tokens: Option<u64>,
    #[serde(deserialize_with = "table::de::opt_tokens")]
    pub max_output_tokens: Option<u64>,
    pub litellm_provider: Option<String>,
    pub mode: Option<String>,
}

/// The price of one image of a size (and quality), from a `{quality}/{W}-x-{H}/{model}` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct SizedImage {
    pub quality: Option<String>,
    pub width: u64,
    pub height: u64,
    /// Per image, else per pixel.
    pub per_image: Option<f64>,
    pub per_pixel: Option<f64>,
}

impl SizedImage {
    fn cost(&self) -> f64 {
        self.per_image
            .or(self
                .per_pixel
                .map(|p| p * (self.width * self.height) as f64))
            .unwrap_or(0.0)
    }
}

/// The size priced when a request names none (or `auto`): OpenAI's default.
const DEFAULT_IMAGE_SIZE: (u64, u64) = (1024, 1024);
/// The largest size an OpenAI image model generates, for a per-pixel worst case.
const LARGEST_IMAGE_SIZE: (u64, u64) = (1792, 1024);

/// Reads `"1024x1792"` as (1024, 1792); `None`/`auto`/unreadable → [`DEFAULT_IMAGE_SIZE`].
fn image_size(size: Option<&str>) -> (u64, u64) {
    size.and_then(|s| {
        let (w, h) = s.split_once('x')?;
        Some((w.trim().parse().ok()?, h.trim().parse().ok()?))
    })
    .unwrap_or(DEFAULT_IMAGE_SIZE)
}

/// The cost of `images` images of `size` and `quality` at `price`, as LiteLLM prices them: the
/// table entry for that quality and size (a request without a quality, or `auto`, takes the
/// entry without one, else `standard`, else the dearest of that size), else the model's
/// `output_cost_per_image` / `input_cost_per_image`, else `input_cost_per_pixel` × width ×
/// height. `None` when the price has no image price at all (then the tokens the provider
/// reports are priced, as for gpt-image-1).
pub fn image_cost(
    price: &ModelPrice,
    size: Option<&str>,
    quality: Option<&str>,
    images: u64,
) -> Option<f64> {
    let (w, h) = image_size(size);
    let quality = quality.filter(|q| *q != "auto");
    let of_size = || {
        price
            .image_sizes
            .iter()
            .filter(|s| s.width == w && s.height == h)
    };
    let sized = match quality {
        Some(q) => of_size().find(|s| s.quality.as_deref() == Some(q)),
        None => of_size()
            .find(|s| s.quality.is_none())
            .or_else(|| of_size().find(|s| s.quality.as_deref() == Some("standard"))),
    }
    .map(SizedImage::cost)
    .or_else(|| of_size().map(SizedImage::cost).reduce(f64::max));
    let each = sized
        .or(price.output_cost_per_image)
        .or(price.input_cost_per_image)
        .or(price.input_cost_per_pixel.map(|p| p * (w * h) as f64))?;
    Some(each * images as f64)
}

/// The dearest single image at `price` (any size and quality), for a budget reservation; 0
/// when it has no image price.
pub fn image_worst(price: &ModelPrice) -> f64 {
    let (w, h) = LARGEST_IMAGE_SIZE;
    price
        .image_sizes
        .iter()
        .map(SizedImage::cost)
        .chain(price.output_cost_per_image)
        .chain(price.input_cost_per_image)
        .chain(price.input_cost_per_pixel.map(|p| p * (w * h) as f64))
        .fold(0.0, f64::max)
}

/// The cost of a rerank request billed `search_units` (one when the provider reported none,
/// as LiteLLM counts it) and `tokens`, as LiteLLM prices it: `input_cost_per_query` per search
/// unit when the price has one, else `input_cost_per_token` per token.
pub fn rerank_cost(price: &ModelPrice, search_units: Option<u64>, tokens: u64) -> f64 {
    match price.input_cost_per_query {
        Some(per_query) => per_query * search_units.unwrap_or(1) as f64,
        None => price.input_cost_per_token * tokens as f64,
    }
}

/// Token counts for one request. `cache_read_tokens` and `cache_creation_tokens` are PART of
/// `prompt_tokens` (OpenAI convention). `duration_secs` is used only by per-second prices.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_creation_tokens: u64,
    pub duration_secs: f64,
}

/// The USD cost of one request:
/// `(prompt - cache_read - cache_creation) * input + cache_read * cache_read_cost
/// + cache_creation * cache_creation_cost + completion * output`, where the cache costs default
/// to the input cost. Cache counts larger than the prompt are clamped to it. When both token
/// costs are 0 and a per-second price is set, the cost is
/// `duration_secs * (input_cost_per_second + output_cost_per_second)` instead.
pub fn cost(price: &ModelPrice, usage: &Usage) -> f64 {
    let per_token = price.input_cost_per_token != 0.0 || price.output_cost_per_token != 0.0;
    if !per_token
        && (price.input_cost_per_second.is_some() || price.output_cost_per_second.is_some())
    {
        let secs = if usage.duration_secs.is_finite() && usage.duration_secs > 0.0 {
            usage.duration_secs
        } else {
            0.0
        };
        let per_sec = price.input_cost_per_second.unwrap_or(0.0)
            + price.output_cost_per_second.unwrap_or(0.0);
        return secs * per_sec;
    }
    let input = price.input_cost_per_token;
    let cache_read = usage.cache_read_tokens.min(usage.prompt_tokens);
    let cache_creation = usage
        .cache_creation_tokens
        .min(usage.prompt_tokens - cache_read);
    let uncached = usage.prompt_tokens - cache_read - cache_creation;
    uncached as f64 * input
        + cache_read as f64 * price.cache_read_input_token_cost.unwrap_or(input)
        + cache_creation as f64 * price.cache_creation_input_token_cost.unwrap_or(input)
        + usage.completion_tokens as f64 * price.output_cost_per_token
}

/// The USD cost of a batch job's tokens, as LiteLLM's `batch_cost_calculator`: prompt tokens
/// at `input_cost_per_token_batches`, completion tokens at `output_cost_per_token_batches`; a
/// batch price not set is half the standard one (the Batch API's discount). Cached tokens get
/// no further discount.
pub fn batch_cost(price: &ModelPrice, prompt_tokens: u64, completion_tokens: u64) -> f64 {
    let input = price
        .input_cost_per_token_batches
        .unwrap_or(price.input_cost_per_token / 2.0);
    let output = price
        .output_cost_per_token_batches
        .unwrap_or(price.output_cost_per_token / 2.0);
    prompt_tokens as f64 * input + completion_tokens as f64 * output
}

/// Worst case for a budget reservation: `prompt_tokens * input + max_output_tokens * output`
/// (cache discounts ignored; per-second prices are not estimated).
pub fn worst_case(price: &ModelPrice, prompt_tokens: u64, max_output_tokens: u64) -> f64 {
    prompt_tokens as f64 * price.input_cost_per_token
        + max_output_tokens as f64 * price.output_cost_per_token
}

/// Cost keys a deployment may set in `litellm_params` or `model_info`.
const COST_KEYS: [&str; 14] = [
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "input_cost_per_second",
    "output_cost_per_second",
    "output_cost_per_image",
    "input_cost_per_image",
    "input_cost_per_pixel",
    "input_cost_per_query",
    "input_cost_per_token_batches",
    "output_cost_per_token_batches",
    "input_cost_per_character",
    "input_cost_per_audio_token",
];

/// Limit keys a deployment may set in `model_info`.
const LIMIT_KEYS: [&str; 3] = ["max_tokens", "max_input_tokens", "max_output_tokens"];

/// The price of one deployment.
///
/// Starts from the table entry for `model_info.base_model` when set (looked up with the
/// deployment's provider prefix, then bare; if the table has no such entry, the deployment's own
/// model is tried instead), else for the deployment's own `model`. Then the deployment's own
/// cost keys override it — `model_info` first, `litellm_params` (`internal_params`) last, so
/// `litellm_params` wins — and `max_tokens`/`max_input_tokens`/`max_output_tokens`/`mode` from
/// `model_info`. Values that are null or not numbers are ignored (with a warning).
/// `litellm_provider` defaults to `provider_prefix` for models the table does not know.
///
/// Returns `None` when nothing at all is known (no table entry and no such keys); the cost of
/// such a deployment counts as 0.
pub fn for_deployment(
    table: &PriceTable,
    provider_prefix: &str,
    model: &str,
    internal_params: &Map<String, Value>,
    model_info: &Map<String, Value>,
) -> Option<ModelPrice> {
    let base_model = model_info
        .get("base_model")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let from_table = base_model
        .and_then(|b| table.lookup(provider_prefix, b))
        .or_else(|| table.lookup(provider_prefix, model));
    let mut known = from_table.is_some();
    let mut price = from_table.cloned().unwrap_or_default();
    price.image_sizes = table.image_sizes(provider_prefix, base_model.unwrap_or(model));
    if price.image_sizes.is_empty() && base_model.is_some() {
        price.image_sizes = table.image_sizes(provider_prefix, model);
    }
    known |= !price.image_sizes.is_empty();

    for (source, map) in [
        ("model_info", model_info),
        ("litellm_params", internal_params),
    ] {
        for key in COST_KEYS {
            let Some(value) = map.get(key).filter(|v| !v.is_null()) else {
                continue;
            };
            match table::cost_value(value) {
                Ok(v) => {
                    set_cost(&mut price, key, v);
                    known = true;
                }
                Err(e) => log::warn!("{provider_prefix}/{model}: {source}.{key} ignored: {e}"),
            }
        }
    }
    for key in LIMIT_KEYS {
        let Some(value) = model_info.get(key).filter(|v| !v.is_null()) else {
            continue;
        };
        match table::token_value(value) {
            Ok(v) => {
                let slot = match key {
                    "max_tokens" => &mut price.max_tokens,
                    "max_input_tokens" => &mut price.max_input_tokens,
                    _ => &mut price.max_output_tokens,
                };
                *slot = Some(v);
                known = true;
            }
            Err(e) => log::warn!("{provider_prefix}/{model}: model_info.{key} ignored: {e}"),
        }
    }
    if !known {
        return None;
    }
    if let Some(mode) = model_info.get("mode").and_then(Value::as_str) {
        price.mode = Some(mode.to_string());
    }
    if price.litellm_provider.is_none() && !provider_prefix.is_empty() {
        price.litellm_provider = Some(provider_prefix.to_string());
    }
    Some(price)
}

fn set_cost(price: &mut ModelPrice, key: &str, v: f64) {
    match key {
        "input_cost_per_token" => price.input_cost_per_token = v,
        "output_cost_per_token" => price.output_cost_per_token = v,
        "cache_read_input_token_cost" => price.cache_read_input_token_cost = Some(v),
        "cache_creation_input_token_cost" => price.cache_creation_input_token_cost = Some(v),
        "input_cost_per_second" => price.input_cost_per_second = Some(v),
        "output_cost_per_second" => price.output_cost_per_second = Some(v),
        "output_cost_per_image" => price.output_cost_per_image = Some(v),
        "input_cost_per_image" => price.input_cost_per_image = Some(v),
        "input_cost_per_pixel" => price.input_cost_per_pixel = Some(v),
        "input_cost_per_query" => price.input_cost_per_query = Some(v),
        "input_cost_per_token_batches" => price.input_cost_per_token_batches = Some(v),
        "output_cost_per_token_batches" => price.output_cost_per_token_batches = Some(v),
        "input_cost_per_character" => price.input_cost_per_character = Some(v),
        "input_cost_per_audio_token" => price.input_cost_per_audio_token = Some(v),
        _ => {}
    }
}
