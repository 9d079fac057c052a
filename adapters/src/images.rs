//! The OpenAI image generation request (`POST /images/generations`) read for providers whose
//! image APIs are not OpenAI's (Imagen on Gemini and Vertex AI, Bedrock's Titan, Nova Canvas
//! and Stability models): the prompt, `n`, `size` (as pixels, or snapped to the aspect ratio a
//! provider takes), `quality`, the parameters a provider cannot take (refused by name unless
//! `drop_params`), and the OpenAI answer made from the images a provider returns (`b64_json`:
//! none of these providers returns a URL).

use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::request::CanonicalRequest;
use crate::target::Target;

/// OpenAI image parameters every provider reads (or has no use for: `user`,
/// `response_format` — the answer is `b64_json` whatever it asks).
const READ: &[&str] = &[
    "model",
    "prompt",
    "n",
    "size",
    "quality",
    "response_format",
    "user",
];

/// The OpenAI request, read.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageAsk<'a> {
    pub prompt: &'a str,
    pub n: u64,
    /// Width and height; `None` for no size or `auto`.
    pub size: Option<(u64, u64)>,
    /// `None` for no quality or `auto`.
    pub quality: Option<&'a str>,
}

fn invalid(message: String, param: &str) -> ApiError {
    ApiError::new(400, "invalid_request_error", message).with_param(param)
}

/// Reads the OpenAI request; `native` are the provider's own parameter names a client may send
/// (passed on by the caller); any other parameter is refused unless `drop_params`.
pub fn read<'a>(
    req: &'a CanonicalRequest,
    t: &Target<'_>,
    native: &[&str],
) -> Result<ImageAsk<'a>, ApiError> {
    let body = &req.body;
    let prompt = body
        .get("prompt")
        .and_then(Value::as_str)
        .filter(|p| !p.trim().is_empty())
        .ok_or_else(|| invalid("'prompt' must be a non-empty string".into(), "prompt"))?;
    let n = match body.get("n").filter(|v| !v.is_null()) {
        None => 1,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=10).contains(n))
            .ok_or_else(|| invalid("'n' must be an integer from 1 to 10".into(), "n"))?,
    };
    let size = match body.get("size").and_then(Value::as_str) {
        None | Some("auto") => None,
        Some(s) => Some(
            s.split_once('x')
                .and_then(|(w, h)| Some((w.trim().parse().ok()?, h.trim().parse().ok()?)))
                .filter(|(w, h): &(u64, u64)| *w > 0 && *h > 0)
                .ok_or_else(|| {
                    invalid(
                        format!("'size' must be WIDTHxHEIGHT (like 1024x1024), not {s:?}"),
                        "size",
                    )
                })?,
        ),
    };
    let quality = body
        .get("quality")
        .and_then(Value::as_str)
        .filter(|q| *q != "auto");
    if !t.drop_params {
        let extra: Vec<&str> = body
            .keys()
            .map(String::as_str)
            .filter(|k| !READ.contains(k) && !native.contains(k))
            .collect();
        if !extra.is_empty() {
            return Err(invalid(
                format!(
                    "{} does not take {}; set drop_params: true to drop them",
                    t.model,
                    extra.join(", ")
                ),
                extra[0],
            ));
        }
    }
    Ok(ImageAsk {
        prompt,
        n,
        size,
        quality,
    })
}

/// The provider's own parameters the client sent, as they are.
pub fn native_params(req: &CanonicalRequest, native: &[&str]) -> Map<String, Value> {
    req.body
        .iter()
        .filter(|(k, v)| native.contains(&k.as_str()) && !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The one of `ratios` (`"16:9"`) nearest to `w`:`h`, when within 15% of it (OpenAI's
/// 1792x1024 is 16:9 to a provider that takes ratios); else a 400 naming them.
pub fn aspect_ratio(
    (w, h): (u64, u64),
    ratios: &[&'static str],
    model: &str,
) -> Result<&'static str, ApiError> {
    let of = |r: &str| -> f64 {
        let (a, b) = r.split_once(':').unwrap_or(("1", "1"));
        a.parse::<f64>().unwrap_or(1.0) / b.parse::<f64>().unwrap_or(1.0)
    };
    let want = (w as f64 / h as f64).ln();
    ratios
        .iter()
        .map(|r| (*r, (of(r).ln() - want).abs()))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .filter(|(_, d)| *d <= 1.15f64.ln())
        .map(|(r, _)| r)
        .ok_or_else(|| {
            invalid(
                format!(
                    "{model} makes images in the aspect ratios {}: size {w}x{h} is none of them",
                    ratios.join(", ")
                ),
                "size",
            )
        })
}

/// A quality the provider has no setting for: `standard` (and none) is what it makes; any
/// other is refused unless `drop_params`.
pub fn no_quality(ask: &ImageAsk<'_>, t: &Target<'_>) -> Result<(), ApiError> {
    match ask.quality {
        None | Some("standard") => Ok(()),
        Some(_) if t.drop_params => Ok(()),
        Some(q) => Err(invalid(
            format!(
                "{} has no quality setting (quality {q:?}); set drop_params: true to drop it",
                t.model
            ),
            "quality",
        )),
    }
}

/// The OpenAI images response for base64 images.
pub fn openai_body(created: u64, images: impl IntoIterator<Item = String>) -> Vec<u8> {
    let data: Vec<Value> = images
        .into_iter()
        .map(|b64| json!({ "b64_json": b64 }))
        .collect();
    serde_json::to_vec(&json!({"created": created, "data": data}))
        .expect("serializing JSON values cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Provider;
    use crate::request::Endpoint;

    fn req(body: Value) -> CanonicalRequest {
        CanonicalRequest {
            endpoint: Endpoint::ImageGenerations,
            model: "m".into(),
            stream: false,
            include_usage: false,
            body: body.as_object().unwrap().clone(),
        }
    }

    fn target(internal: &Map<String, Value>, drop_params: bool) -> Target<'_> {
        Target {
            provider: Provider::Gemini,
            model: "imagen-x",
            base_path: "",
            api_key: None,
            api_version: None,
            defaults: internal,
            drop_params,
            internal,
        }
    }

    #[test]
    fn reads_the_openai_request() {
        let m = Map::new();
        let r = req(
            json!({"model": "m", "prompt": "a cat", "n": 2, "size": "1792x1024",
                           "quality": "hd", "response_format": "b64_json", "seed": 3}),
        );
        let a = read(&r, &target(&m, false), &["seed"]).unwrap();
        assert_eq!(
            a,
            ImageAsk {
                prompt: "a cat",
                n: 2,
                size: Some((1792, 1024)),
                quality: Some("hd")
            }
        );
        assert_eq!(
            native_params(&r, &["seed"]),
            json!({"seed": 3}).as_object().unwrap().clone()
        );
        let e = read(&r, &target(&m, false), &[]).unwrap_err();
        assert_eq!((e.status, e.param.as_deref()), (400, Some("seed")));
        assert!(read(&r, &target(&m, true), &[]).is_ok());
        for bad in [
            json!({"prompt": ""}),
            json!({"prompt": "x", "n": 0}),
            json!({"prompt": "x", "size": "big"}),
        ] {
            assert_eq!(
                read(&req(bad), &target(&m, false), &[]).unwrap_err().status,
                400
            );
        }
        let auto = req(json!({"prompt": "x", "size": "auto", "quality": "auto"}));
        let a = read(&auto, &target(&m, false), &[]).unwrap();
        assert_eq!((a.size, a.quality, a.n), (None, None, 1));
    }

    #[test]
    fn sizes_snap_to_the_nearest_ratio_within_15_percent() {
        let r = ["1:1", "3:4", "4:3", "9:16", "16:9"];
        assert_eq!(aspect_ratio((1024, 1024), &r, "m").unwrap(), "1:1");
        assert_eq!(aspect_ratio((1792, 1024), &r, "m").unwrap(), "16:9");
        assert_eq!(aspect_ratio((1024, 1792), &r, "m").unwrap(), "9:16");
        assert_eq!(aspect_ratio((1536, 1024), &r, "m").unwrap(), "4:3");
        assert_eq!(
            aspect_ratio((3000, 1000), &r, "m")
                .unwrap_err()
                .param
                .as_deref(),
            Some("size")
        );
    }

    #[test]
    fn the_answer_is_openai_s() {
        let v: Value = serde_json::from_slice(&openai_body(7, ["QUJD".to_string()])).unwrap();
        assert_eq!(v, json!({"created": 7, "data": [{"b64_json": "QUJD"}]}));
    }
}
