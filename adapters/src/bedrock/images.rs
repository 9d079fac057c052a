//! OpenAI image generation on Bedrock's image models (`POST /model/{id}/invoke`), by family:
//! - Amazon Titan Image Generator and Nova Canvas: `taskType: TEXT_IMAGE`,
//!   `textToImageParams.text`, `imageGenerationConfig` {`numberOfImages` ← `n`, `width` /
//!   `height` ← `size`, `quality` `premium` ← `hd`/`high` (`standard` ← the rest)}; answer
//!   `images[]`.
//! - Stability SDXL (`stability.stable-diffusion-xl-*`): `text_prompts`, `width`/`height`,
//!   `samples` ← `n`; answer `artifacts[].base64`.
//! - Stability SD3 / SD3.5 / Stable Image Core and Ultra: `prompt`, `aspect_ratio` ← `size`
//!   (the nearest of theirs), `mode: text-to-image`, `output_format: png`, one image per call;
//!   answer `images[]`.
//!
//! The family's own parameters (`negativeText`, `cfgScale`, `seed`, `negative_prompt`, …) pass
//! as they are; the images go back as OpenAI's `data[].b64_json`.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::images::{self, ImageAsk};
use crate::request::CanonicalRequest;
use crate::target::Target;

/// A Bedrock image model family (the request and answer shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// Amazon Titan Image Generator, Amazon Nova Canvas.
    Titan,
    /// Stability SDXL 1.0.
    Sdxl,
    /// Stability SD3, SD3.5, Stable Image Core / Ultra.
    Stability,
}

fn family(model: &str) -> Option<Family> {
    // Cross-region inference profiles prefix the model id (`us.amazon.nova-canvas-v1:0`).
    let id = model.rsplit('/').next().unwrap_or(model);
    let id = id
        .split_once('.')
        .filter(|(region, _)| region.len() <= 4)
        .map_or(id, |(_, rest)| rest);
    if id.starts_with("amazon.titan-image") || id.starts_with("amazon.nova-canvas") {
        Some(Family::Titan)
    } else if id.starts_with("stability.stable-diffusion-xl") {
        Some(Family::Sdxl)
    } else if id.starts_with("stability.") {
        Some(Family::Stability)
    } else {
        None
    }
}

const TITAN_NATIVE: &[&str] = &["negativeText", "cfgScale", "seed", "style"];
const SDXL_NATIVE: &[&str] = &[
    "cfg_scale",
    "seed",
    "steps",
    "style_preset",
    "clip_guidance_preset",
    "sampler",
];
const STABILITY_NATIVE: &[&str] = &["negative_prompt", "seed", "output_format", "aspect_ratio"];
/// The aspect ratios Stability's SD3 and Stable Image models make.
const STABILITY_RATIOS: &[&str] = &[
    "1:1", "16:9", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21",
];

/// The `invoke` body for `req`.
pub fn body(req: &CanonicalRequest, t: &Target<'_>) -> Result<Value, ApiError> {
    let Some(family) = family(t.model) else {
        return Err(ApiError::new(
            400,
            "invalid_request_error",
            format!(
                "bedrock/{} is not an image model Tollgate translates for (Amazon Titan Image \
                 Generator, Nova Canvas, Stability SDXL / SD3 / Stable Image)",
                t.model
            ),
        )
        .with_param("model"));
    };
    match family {
        Family::Titan => titan(req, t),
        Family::Sdxl => sdxl(req, t),
        Family::Stability => stability(req, t),
    }
}

fn titan(req: &CanonicalRequest, t: &Target<'_>) -> Result<Value, ApiError> {
    let ask = images::read(req, t, TITAN_NATIVE)?;
    let mut native = images::native_params(req, TITAN_NATIVE);
    let mut params = Map::new();
    params.insert("text".into(), ask.prompt.into());
    if let Some(neg) = native.remove("negativeText") {
        params.insert("negativeText".into(), neg);
    }
    if let Some(style) = native.remove("style") {
        params.insert("style".into(), style);
    }
    let mut config = Map::new();
    config.insert("numberOfImages".into(), ask.n.into());
    if let Some((w, h)) = ask.size {
        config.insert("width".into(), w.into());
        config.insert("height".into(), h.into());
    }
    if let Some(q) = ask.quality {
        let q = if matches!(q, "hd" | "high" | "premium") {
            "premium"
        } else {
            "standard"
        };
        config.insert("quality".into(), q.into());
    }
    config.extend(native);
    Ok(json!({
        "taskType": "TEXT_IMAGE",
        "textToImageParams": params,
        "imageGenerationConfig": config,
    }))
}

fn sdxl(req: &CanonicalRequest, t: &Target<'_>) -> Result<Value, ApiError> {
    let ask = images::read(req, t, SDXL_NATIVE)?;
    images::no_quality(&ask, t)?;
    let mut body = Map::new();
    body.insert(
        "text_prompts".into(),
        json!([{"text": ask.prompt, "weight": 1}]),
    );
    if let Some((w, h)) = ask.size {
        body.insert("width".into(), w.into());
        body.insert("height".into(), h.into());
    }
    body.insert("samples".into(), ask.n.into());
    body.extend(images::native_params(req, SDXL_NATIVE));
    Ok(Value::Object(body))
}

fn stability(req: &CanonicalRequest, t: &Target<'_>) -> Result<Value, ApiError> {
    let ask: ImageAsk<'_> = images::read(req, t, STABILITY_NATIVE)?;
    images::no_quality(&ask, t)?;
    if ask.n > 1 {
        return Err(ApiError::new(
            400,
            "invalid_request_error",
            format!("{} makes one image per request: n must be 1", t.model),
        )
        .with_param("n"));
    }
    let mut body = Map::new();
    body.insert("prompt".into(), ask.prompt.into());
    body.insert("mode".into(), "text-to-image".into());
    body.insert("output_format".into(), "png".into());
    if let Some(size) = ask.size {
        let ratio = images::aspect_ratio(size, STABILITY_RATIOS, t.model)?;
        body.insert("aspect_ratio".into(), ratio.into());
    }
    body.extend(images::native_params(req, STABILITY_NATIVE));
    Ok(Value::Object(body))
}

#[derive(Deserialize)]
struct Answer {
    /// Titan, Nova Canvas, SD3, Stable Image.
    #[serde(default)]
    images: Vec<String>,
    /// SDXL.
    #[serde(default)]
    artifacts: Vec<Artifact>,
}

#[derive(Deserialize)]
struct Artifact {
    base64: Option<String>,
}

/// The OpenAI answer for an image model's `invoke` answer.
pub fn to_openai(created: u64, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let a: Answer = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            502,
            "api_error",
            format!("bedrock returned an unreadable image body: {e}"),
        )
    })?;
    let sdxl = a.artifacts.into_iter().filter_map(|x| x.base64);
    Ok(images::openai_body(
        created,
        a.images.into_iter().chain(sdxl),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Provider;
    use crate::request::Endpoint;

    fn req(body: Value) -> CanonicalRequest {
        CanonicalRequest {
            endpoint: Endpoint::ImageGenerations,
            model: "g".into(),
            stream: false,
            include_usage: false,
            body: body.as_object().unwrap().clone(),
        }
    }

    fn build(model: &str, body: Value) -> Result<Value, ApiError> {
        let m = Map::new();
        let t = Target {
            provider: Provider::Bedrock,
            model,
            base_path: "",
            api_key: None,
            api_version: None,
            defaults: &m,
            drop_params: false,
            internal: &m,
        };
        super::body(&req(body), &t)
    }

    #[test]
    fn families_by_model_id() {
        assert_eq!(family("amazon.nova-canvas-v1:0"), Some(Family::Titan));
        assert_eq!(family("us.amazon.nova-canvas-v1:0"), Some(Family::Titan));
        assert_eq!(
            family("amazon.titan-image-generator-v2:0"),
            Some(Family::Titan)
        );
        assert_eq!(
            family("stability.stable-diffusion-xl-v1"),
            Some(Family::Sdxl)
        );
        assert_eq!(
            family("stability.sd3-5-large-v1:0"),
            Some(Family::Stability)
        );
        assert_eq!(
            family("us.stability.stable-image-ultra-v1:1"),
            Some(Family::Stability)
        );
        assert_eq!(family("anthropic.claude-3-haiku-20240307-v1:0"), None);
    }

    #[test]
    fn openai_request_to_each_family() {
        let b = build(
            "amazon.nova-canvas-v1:0",
            json!({"prompt": "a boat", "n": 2, "size": "1024x512", "quality": "hd", "seed": 4,
                   "negativeText": "fog"}),
        )
        .unwrap();
        assert_eq!(
            b,
            json!({"taskType": "TEXT_IMAGE",
                   "textToImageParams": {"text": "a boat", "negativeText": "fog"},
                   "imageGenerationConfig": {"numberOfImages": 2, "width": 1024, "height": 512,
                                             "quality": "premium", "seed": 4}})
        );
        let b = build(
            "stability.stable-diffusion-xl-v1",
            json!({"prompt": "p", "size": "1024x1024", "steps": 30}),
        )
        .unwrap();
        assert_eq!(
            b,
            json!({"text_prompts": [{"text": "p", "weight": 1}], "width": 1024, "height": 1024,
                   "samples": 1, "steps": 30})
        );
        let b = build(
            "stability.sd3-5-large-v1:0",
            json!({"prompt": "p", "size": "1792x1024"}),
        )
        .unwrap();
        assert_eq!(
            b,
            json!({"prompt": "p", "mode": "text-to-image", "output_format": "png", "aspect_ratio": "16:9"})
        );
        let e = build("stability.sd3-5-large-v1:0", json!({"prompt": "p", "n": 2})).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("n"));
        let e = build(
            "stability.stable-image-core-v1:0",
            json!({"prompt": "p", "quality": "hd"}),
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("quality"));
        let e = build("cohere.embed-english-v3", json!({"prompt": "p"})).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("model"));
    }

    #[test]
    fn answers_to_openai() {
        let v = |b: &[u8]| serde_json::from_slice::<Value>(&to_openai(1, b).unwrap()).unwrap();
        assert_eq!(
            v(br#"{"images":["QQ==","Qg=="],"error":null}"#)["data"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            v(br#"{"result":"success","artifacts":[{"seed":1,"base64":"QQ==","finishReason":"SUCCESS"}]}"#),
            json!({"created": 1, "data": [{"b64_json": "QQ=="}]})
        );
        assert_eq!(
            v(br#"{"seeds":[1],"finish_reasons":[null],"images":["QQ=="]}"#)["data"][0]["b64_json"],
            "QQ=="
        );
    }
}
