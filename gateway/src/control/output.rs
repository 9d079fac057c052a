//! What a request lets the provider bill as output, for the worst case a budget reserves:
//! the per-completion bound (`max_completion_tokens` / `max_tokens`), the completions generated
//! (`n`, `best_of`) and output billed beyond them (a Predicted Output's rejected tokens) — and
//! the admission check that refuses those parameters when they are not whole numbers in range.

use adapters::{ApiError, CanonicalRequest, Endpoint};
use serde_json::Value;

use crate::error::GatewayError;

/// Largest `max_tokens` / `max_completion_tokens` accepted: 40× the longest output of any model
/// in the price table (256k). Anything above is a mistake, not a request.
pub const MAX_OUTPUT_TOKENS: u64 = 10_000_000;
/// OpenAI's bounds for `n` (chat and legacy completions) and `best_of` (legacy completions).
pub const MAX_N: u64 = 128;
pub const MAX_BEST_OF: u64 = 20;

/// The output a request may be billed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    /// Per completion: `max_completion_tokens`, else `max_tokens`; `None` = the model's limit.
    pub max_tokens: Option<u64>,
    /// Completions generated and billed: `n`, or `best_of` when larger (the provider bills
    /// every candidate it generates, returned or not). At least 1.
    pub completions: u64,
    /// Output tokens billed per completion beyond `max_tokens`: the size of a Predicted
    /// Output (`prediction`), whose rejected tokens OpenAI bills as completion tokens.
    pub extra: u64,
}

impl Default for Output {
    fn default() -> Self {
        Output {
            max_tokens: None,
            completions: 1,
            extra: 0,
        }
    }
}

impl Output {
    /// Output tokens billed at most, with `model_limit` per completion when the request sets
    /// no bound.
    pub fn tokens(&self, model_limit: u64) -> u64 {
        self.max_tokens
            .unwrap_or(model_limit)
            .saturating_add(self.extra)
            .saturating_mul(self.completions)
    }
}

/// The request's output bound. Read leniently: [`check`] refused malformed values at admission.
pub fn requested(req: &CanonicalRequest) -> Output {
    let int = |k: &str| req.body.get(k).and_then(Value::as_u64);
    let completions = int("n")
        .unwrap_or(1)
        .max(int("best_of").unwrap_or(1))
        .max(1);
    Output {
        max_tokens: int("max_completion_tokens").or_else(|| int("max_tokens")),
        completions,
        extra: req.body.get("prediction").map_or(0, prediction_tokens),
    }
}

/// A Predicted Output's size in tokens, estimated as the prompt is (`adapters::tokens`: four
/// bytes a token, rounded up — but no prediction counts 0, not the estimate's minimum of 1):
/// its `content` text, or the text of its content parts.
fn prediction_tokens(p: &Value) -> u64 {
    let bytes = match p.get("content") {
        Some(Value::String(s)) => s.len(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .map(str::len)
            .sum(),
        _ => 0,
    };
    (bytes as u64).div_ceil(adapters::tokens::BYTES_PER_TOKEN)
}

/// Refuses output parameters that are not whole numbers in range (`null` = not set), naming
/// the parameter in OpenAI's words: `max_tokens` / `max_completion_tokens` 1 to
/// [`MAX_OUTPUT_TOKENS`], `n` 1 to 128, `best_of` 0 to 20. Embeddings generate no output and
/// are not checked.
pub fn check(req: &CanonicalRequest) -> Result<(), GatewayError> {
    if req.endpoint == Endpoint::Embeddings {
        return Ok(());
    }
    for (param, min, max) in [
        ("max_tokens", 1, MAX_OUTPUT_TOKENS),
        ("max_completion_tokens", 1, MAX_OUTPUT_TOKENS),
        ("n", 1, MAX_N),
        ("best_of", 0, MAX_BEST_OF),
    ] {
        if let Some(v) = req.body.get(param) {
            in_range(param, v, min, max).map_err(GatewayError::Invalid)?;
        }
    }
    Ok(())
}

fn in_range(param: &str, v: &Value, min: u64, max: u64) -> Result<(), ApiError> {
    let invalid = |code: &str, msg: String| {
        Err(ApiError::new(400, "invalid_request_error", msg)
            .with_param(param)
            .with_code(code))
    };
    let n = match v {
        Value::Null => return Ok(()),
        Value::Number(n) if n.is_i64() || n.is_u64() => n,
        Value::Number(_) => {
            return invalid(
                "invalid_type",
                format!("Invalid type for '{param}': expected an integer, but got a decimal number instead."),
            )
        }
        other => {
            let kind = match other {
                Value::Bool(_) => "a boolean",
                Value::String(_) => "a string",
                Value::Array(_) => "an array",
                _ => "an object",
            };
            return invalid(
                "invalid_type",
                format!("Invalid type for '{param}': expected an integer, but got {kind} instead."),
            );
        }
    };
    match n.as_u64() {
        Some(x) if x > max => invalid(
            "integer_above_max_value",
            format!("Invalid '{param}': integer above maximum value. Expected a value <= {max}, but got {x} instead."),
        ),
        Some(x) if x >= min => Ok(()),
        _ => invalid(
            "integer_below_min_value",
            format!("Invalid '{param}': integer below minimum value. Expected a value >= {min}, but got {n} instead."),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(endpoint: Endpoint, body: Value) -> CanonicalRequest {
        let Value::Object(body) = body else { panic!() };
        CanonicalRequest {
            endpoint,
            model: "m".into(),
            stream: false,
            include_usage: false,
            body,
        }
    }

    fn chat(body: Value) -> CanonicalRequest {
        req(Endpoint::ChatCompletions, body)
    }

    #[test]
    fn completions_multiply_the_per_completion_bound() {
        let out = requested(&chat(json!({"max_tokens": 100, "n": 10})));
        assert_eq!(
            (out.max_tokens, out.completions, out.extra),
            (Some(100), 10, 0)
        );
        assert_eq!(out.tokens(4096), 1000);
        // Without a bound the model's limit is per completion.
        assert_eq!(requested(&chat(json!({"n": 3}))).tokens(50), 150);
        // `max_completion_tokens` wins over `max_tokens`.
        let out = requested(&chat(
            json!({"max_tokens": 100, "max_completion_tokens": 7}),
        ));
        assert_eq!(out.tokens(0), 7);
        // best_of candidates are billed even when fewer are returned.
        let legacy = req(
            Endpoint::Completions,
            json!({"max_tokens": 16, "n": 2, "best_of": 5}),
        );
        assert_eq!(requested(&legacy).tokens(0), 80);
        assert_eq!(requested(&chat(json!({}))), Output::default());
    }

    #[test]
    fn a_prediction_adds_its_size_per_completion() {
        let text = "x".repeat(400);
        let out = requested(&chat(
            json!({"max_tokens": 10, "prediction": {"type": "content", "content": text}}),
        ));
        assert_eq!(out.extra, 100);
        assert_eq!(out.tokens(0), 110);
        let parts = json!({"max_tokens": 10, "n": 2, "prediction": {"type": "content",
            "content": [{"type": "text", "text": "abcd"}, {"type": "text", "text": "efgh1"}]}});
        assert_eq!(requested(&chat(parts)).tokens(0), (10 + 3) * 2);
    }

    #[test]
    fn the_bound_saturates_instead_of_overflowing() {
        let out = Output {
            max_tokens: Some(u64::MAX),
            completions: 128,
            extra: 1,
        };
        assert_eq!(out.tokens(0), u64::MAX);
    }

    /// Cost on the request path of the check and the read, for a typical chat body. Run with
    /// `cargo test --release -p gateway --bin tollgate output_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn output_cost() {
        let r = chat(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                            "max_tokens": 16, "temperature": 0.2, "stream": false, "n": 1}),
        );
        const N: u32 = 1_000_000;
        let start = std::time::Instant::now();
        let mut sum = 0;
        for _ in 0..N {
            check(std::hint::black_box(&r)).unwrap();
            sum += requested(std::hint::black_box(&r)).tokens(0);
        }
        let per = start.elapsed() / N;
        eprintln!("check + requested: {per:?} per request ({sum})");
        assert!(per < std::time::Duration::from_micros(1), "{per:?}");
    }

    #[test]
    fn malformed_bounds_are_refused_naming_the_parameter() {
        for (param, v, code) in [
            ("max_tokens", json!(-1), "integer_below_min_value"),
            ("max_tokens", json!(0), "integer_below_min_value"),
            ("max_tokens", json!(2.5), "invalid_type"),
            ("max_tokens", json!(100.0), "invalid_type"),
            ("max_tokens", json!("100"), "invalid_type"),
            ("max_tokens", json!(10_000_001), "integer_above_max_value"),
            ("max_completion_tokens", json!([1]), "invalid_type"),
            ("n", json!(0), "integer_below_min_value"),
            ("n", json!(129), "integer_above_max_value"),
            ("n", json!(-9_999_999_999i64), "integer_below_min_value"),
            ("best_of", json!(21), "integer_above_max_value"),
            ("best_of", json!({}), "invalid_type"),
        ] {
            let mut body = serde_json::Map::new();
            body.insert(param.into(), v.clone());
            let e = check(&chat(Value::Object(body)))
                .unwrap_err()
                .to_api_error();
            assert_eq!(e.status, 400, "{param}={v}");
            assert_eq!(e.param.as_deref(), Some(param), "{param}={v}");
            assert_eq!(e.code.as_deref(), Some(code), "{param}={v}");
            assert!(e.message.contains(&format!("'{param}'")), "{}", e.message);
        }
        for ok in [
            json!({"max_tokens": null, "n": null, "best_of": null}),
            json!({"max_tokens": 1, "n": 128, "best_of": 0}),
            json!({"max_completion_tokens": 10_000_000, "best_of": 20}),
        ] {
            assert!(check(&chat(ok.clone())).is_ok(), "{ok}");
        }
        // Embeddings have no output to bound.
        assert!(check(&req(Endpoint::Embeddings, json!({"n": "x"}))).is_ok());
    }
}
