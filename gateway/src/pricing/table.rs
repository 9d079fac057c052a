//! The price table: the bundled `model_prices.json` (LiteLLM's field names), optionally with a
//! user file merged over it field by field, and exact-name lookup.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use super::ModelPrice;

/// The bundled table, compiled into the binary.
const BUNDLED_JSON: &str = include_str!("model_prices.json");

/// LiteLLM's documentation entry at the top of its price file; never a model.
const SAMPLE_SPEC: &str = "sample_spec";

/// Model name -> prices and limits. Keys are exact (case-sensitive) LiteLLM model names, bare
/// (`gpt-4o`, `claude-3-5-sonnet-20241022`) or provider-qualified (`azure/gpt-4o`, `groq/...`).
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    entries: HashMap<String, ModelPrice>,
}

impl PriceTable {
    /// The bundled table (parsed once from the embedded JSON; no network).
    pub fn bundled() -> Arc<PriceTable> {
        static BUNDLED: OnceLock<Arc<PriceTable>> = OnceLock::new();
        BUNDLED
            .get_or_init(|| {
                let mut table = PriceTable::default();
                // The bundled file is checked by the unit tests; a failure here is a build defect.
                table
                    .merge_json("bundled model_prices.json", BUNDLED_JSON)
                    .unwrap_or_else(|e| panic!("{e}"));
                Arc::new(table)
            })
            .clone()
    }

    /// The bundled table with the user file at `path` merged over it (same JSON format). A user
    /// entry replaces a bundled entry of the same name field by field: fields it does not set
    /// keep their bundled values. Errors name the file and the problem.
    pub fn with_file(path: &Path) -> Result<PriceTable, String> {
        let label = format!("price file {}", path.display());
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("{label}: cannot read: {e}"))?;
        let mut table = (*Self::bundled()).clone();
        table.merge_json(&label, &text)?;
        Ok(table)
    }

    /// The price of `model` for a deployment of `provider_prefix`: the provider-qualified name
    /// (`gemini/gemini-1.5-pro`, `azure/gpt-4o`, `groq/llama-3.1-8b-instant`) first, then the
    /// model name as given. Exact, case-sensitive names only; no version-suffix stripping.
    pub fn lookup(&self, provider_prefix: &str, model: &str) -> Option<&ModelPrice> {
        if !provider_prefix.is_empty() {
            let qualified = format!("{provider_prefix}/{model}");
            if let Some(p) = self.entries.get(&qualified) {
                return Some(p);
            }
        }
        self.entries.get(model)
    }

    /// The image prices by size (and quality) of `model`: LiteLLM's `{quality}/{W}-x-{H}/{model}`
    /// and `{W}-x-{H}/{model}` entries, provider-qualified ones (`azure/hd/1024-x-1024/dall-e-3`)
    /// when there are any, else bare ones. Scans the table: called when deployments are built,
    /// never per request.
    pub fn image_sizes(&self, provider_prefix: &str, model: &str) -> Vec<super::SizedImage> {
        let read = |qualified: bool| -> Vec<super::SizedImage> {
            let mut out: Vec<_> = self
                .entries
                .iter()
                .filter_map(|(k, p)| {
                    let k = if qualified {
                        k.strip_prefix(provider_prefix)?.strip_prefix('/')?
                    } else {
                        k.as_str()
                    };
                    let head = k.strip_suffix(model)?.strip_suffix('/')?;
                    let (quality, dims) = match head.split_once('/') {
                        Some((q, d)) => (Some(q.to_string()), d),
                        None => (None, head),
                    };
                    let (w, h) = dims.split_once("-x-")?;
                    Some(super::SizedImage {
                        quality,
                        width: w.parse().ok()?,
                        height: h.parse().ok()?,
                        per_image: p.output_cost_per_image.or(p.input_cost_per_image),
                        per_pixel: p.input_cost_per_pixel,
                    })
                })
                .collect();
            out.sort_by(|a, b| {
                (&a.quality, a.width, a.height).cmp(&(&b.quality, b.width, b.height))
            });
            out
        };
        let qualified = if provider_prefix.is_empty() {
            Vec::new()
        } else {
            read(true)
        };
        if qualified.is_empty() {
            read(false)
        } else {
            qualified
        }
    }

    /// The entry stored under exactly `key`.
    #[cfg(test)]
    pub fn get(&self, key: &str) -> Option<&ModelPrice> {
        self.entries.get(key)
    }

    /// Number of models in the table.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when the table has no models.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All entries, in no particular order.
    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ModelPrice)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Parse `text` (a JSON object of model name -> entry) and merge every entry over the table.
    /// Nothing is merged when any entry is invalid.
    fn merge_json(&mut self, label: &str, text: &str) -> Result<(), String> {
        let root: Value =
            serde_json::from_str(text).map_err(|e| format!("{label}: invalid JSON: {e}"))?;
        let Value::Object(root) = root else {
            return Err(format!(
                "{label}: the top level must be a JSON object of model name -> prices"
            ));
        };
        let mut parsed = Vec::with_capacity(root.len());
        for (name, entry) in root {
            if name == SAMPLE_SPEC {
                continue;
            }
            let Value::Object(fields) = entry else {
                return Err(format!("{label}: model \"{name}\": expected a JSON object"));
            };
            let mut price = self.entries.get(&name).cloned().unwrap_or_default();
            apply_fields(&mut price, &fields)
                .map_err(|e| format!("{label}: model \"{name}\": {e}"))?;
            parsed.push((name, price));
        }
        self.entries.extend(parsed);
        Ok(())
    }
}

/// Set on `price` every known field present (and not null) in `fields`; unknown fields are
/// ignored. Errors name the field.
fn apply_fields(price: &mut ModelPrice, fields: &Map<String, Value>) -> Result<(), String> {
    for (key, value) in fields {
        if value.is_null() {
            continue;
        }
        let bad = |e: String| format!("field \"{key}\": {e}");
        match key.as_str() {
            "input_cost_per_token" => {
                price.input_cost_per_token = cost_value(value).map_err(bad)?
            }
            "output_cost_per_token" => {
                price.output_cost_per_token = cost_value(value).map_err(bad)?
            }
            "cache_read_input_token_cost" => {
                price.cache_read_input_token_cost = Some(cost_value(value).map_err(bad)?)
            }
            "cache_creation_input_token_cost" => {
                price.cache_creation_input_token_cost = Some(cost_value(value).map_err(bad)?)
            }
            "input_cost_per_second" => {
                price.input_cost_per_second = Some(cost_value(value).map_err(bad)?)
            }
            "output_cost_per_second" => {
                price.output_cost_per_second = Some(cost_value(value).map_err(bad)?)
            }
            "output_cost_per_image" => {
                price.output_cost_per_image = Some(cost_value(value).map_err(bad)?)
            }
            "input_cost_per_image" => {
                price.input_cost_per_image = Some(cost_value(value).map_err(bad)?)
            }
            "input_cost_per_pixel" => {
                price.input_cost_per_pixel = Some(cost_value(value).map_err(bad)?)
            }
            "input_cost_per_query" => {
                price.input_cost_per_query = Some(cost_value(value).map_err(bad)?)
            }
            "input_cost_per_character" => {
                price.input_cost_per_character = Some(cost_value(value).map_err(bad)?)
            }
            "input_cost_per_audio_token" => {
                price.input_cost_per_audio_token = Some(cost_value(value).map_err(bad)?)
            }
            "max_tokens" => price.max_tokens = Some(token_value(value).map_err(bad)?),
            "max_input_tokens" => price.max_input_tokens = Some(token_value(value).map_err(bad)?),
            "max_output_tokens" => price.max_output_tokens = Some(token_value(value).map_err(bad)?),
            "litellm_provider" => price.litellm_provider = Some(string_value(value).map_err(bad)?),
            "mode" => price.mode = Some(string_value(value).map_err(bad)?),
            _ => {}
        }
    }
    Ok(())
}

/// A USD cost: a JSON number or a numeric string (`"1e-6"`, as YAML and some LiteLLM files
/// give it); finite and not negative.
pub(crate) fn cost_value(value: &Value) -> Result<f64, String> {
    let n = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n.is_finite() && n >= 0.0 => Ok(n),
        Some(_) => Err(format!("expected a non-negative cost, got {value}")),
        None => Err(format!("expected a number or numeric string, got {value}")),
    }
}

/// A token count: a non-negative whole number, as a JSON number (`128000`, `1.28e5`) or a
/// numeric string.
pub(crate) fn token_value(value: &Value) -> Result<u64, String> {
    if let Some(n) = value.as_u64() {
        return Ok(n);
    }
    let n = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= u64::MAX as f64 => {
            Ok(n as u64)
        }
        _ => Err(format!("expected a whole number of tokens, got {value}")),
    }
}

fn string_value(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        _ => Err(format!("expected a string, got {value}")),
    }
}

/// serde adapters so `ModelPrice` itself deserializes with the same leniency.
pub(crate) mod de {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    pub fn cost<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(opt_cost(d)?.unwrap_or(0.0))
    }

    pub fn opt_cost<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            v => super::cost_value(&v).map(Some).map_err(D::Error::custom),
        }
    }

    pub fn opt_tokens<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            v => super::token_value(&v).map(Some).map_err(D::Error::custom),
        }
    }
}
