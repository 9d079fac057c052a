//! Image generation in the providers' own shapes: Imagen's `models/{model}:predict` (Gemini API
//! and Vertex AI: `instances[].prompt`, `parameters.sampleCount` 1–4 and `aspectRatio` one of
//! five → `predictions[].bytesBase64Encoded`), and Bedrock's image models on `invoke` — Amazon
//! Titan / Nova Canvas (`taskType: TEXT_IMAGE` → `images[]`), Stability SDXL (`text_prompts` →
//! `artifacts[].base64`) and Stability SD3 / Stable Image (`prompt` → `images[]`, one per call).
//! Shapes follow Google's Imagen API and the Bedrock model parameter references; the image is
//! always the same tiny base64 PNG header. Bad input gets the provider's 400.

use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use super::body::MockBody;
use super::dialect::Dialect;
use super::handler::{error, full, Ctx};

/// What every generated "image" is.
pub(crate) const IMAGE_B64: &str = "iVBORw0KGgo=";

const IMAGEN_RATIOS: &[&str] = &["1:1", "3:4", "4:3", "9:16", "16:9"];

fn ok(body: Value) -> Response<MockBody> {
    full(StatusCode::OK, Bytes::from(body.to_string()))
}

/// `:predict` with an Imagen body (an `instances[0].prompt`); `None` for another body (a
/// Vertex embeddings `predict`).
pub(crate) fn imagen(ctx: &Ctx) -> Option<Response<MockBody>> {
    let v: Value = serde_json::from_slice(ctx.body).ok()?;
    let prompt = v.pointer("/instances/0/prompt")?;
    let bad = |m: &str| Some(error(Dialect::Gemini, StatusCode::BAD_REQUEST, m));
    if !prompt.is_string() {
        return bad("Invalid value at 'instances[0].prompt'");
    }
    let params = v.get("parameters").cloned().unwrap_or(json!({}));
    let n = match params.get("sampleCount") {
        None => 1,
        Some(c) => match c.as_u64() {
            Some(n @ 1..=4) => n,
            _ => return bad("Number of images must be between 1 and 4"),
        },
    };
    if let Some(r) = params.get("aspectRatio") {
        if !r.as_str().is_some_and(|r| IMAGEN_RATIOS.contains(&r)) {
            return bad("Unsupported aspect ratio");
        }
    }
    let predictions: Vec<Value> = (0..n)
        .map(|_| json!({"mimeType": "image/png", "bytesBase64Encoded": IMAGE_B64}))
        .collect();
    Some(ok(json!({"predictions": predictions})))
}

/// `invoke` with a Bedrock image model body; `None` for another body (Titan embeddings).
pub(crate) fn bedrock(ctx: &Ctx) -> Option<Response<MockBody>> {
    let v: Value = serde_json::from_slice(ctx.body).ok()?;
    let bad = |m: &str| Some(error(Dialect::Bedrock, StatusCode::BAD_REQUEST, m));
    if let Some(task) = v.get("taskType") {
        if task != "TEXT_IMAGE" {
            return bad("Malformed input request: unsupported taskType");
        }
        if !v
            .pointer("/textToImageParams/text")
            .is_some_and(Value::is_string)
        {
            return bad(
                "Malformed input request: #/textToImageParams: required key [text] not found",
            );
        }
        let config = v.get("imageGenerationConfig").cloned().unwrap_or(json!({}));
        let n = match config.get("numberOfImages") {
            None => 1,
            Some(c) => match c.as_u64() {
                Some(n @ 1..=5) => n,
                _ => return bad("Malformed input request: #/imageGenerationConfig/numberOfImages"),
            },
        };
        if let Some(q) = config.get("quality") {
            if q != "standard" && q != "premium" {
                return bad("Malformed input request: #/imageGenerationConfig/quality");
            }
        }
        let images: Vec<&str> = (0..n).map(|_| IMAGE_B64).collect();
        return Some(ok(json!({"images": images, "error": null})));
    }
    if let Some(prompts) = v.get("text_prompts") {
        if !prompts.pointer("/0/text").is_some_and(Value::is_string) {
            return bad("text_prompts: required");
        }
        let n = v.get("samples").and_then(Value::as_u64).unwrap_or(1).max(1);
        let artifacts: Vec<Value> = (0..n)
            .map(|i| json!({"seed": i, "base64": IMAGE_B64, "finishReason": "SUCCESS"}))
            .collect();
        return Some(ok(json!({"result": "success", "artifacts": artifacts})));
    }
    let prompt = v.get("prompt")?;
    if !prompt.is_string() {
        return bad("prompt: must be a string");
    }
    let _ = ctx;
    Some(ok(
        json!({"seeds": [0], "finish_reasons": [null], "images": [IMAGE_B64]}),
    ))
}
