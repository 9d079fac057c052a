//! OpenAI image generation on Imagen (`models/{imagen-…}:predict`, the same body on the Gemini
//! API and on Vertex AI): `prompt` → `instances[0].prompt`, `n` → `parameters.sampleCount`,
//! `size` → `parameters.aspectRatio` (the nearest of Imagen's five), `quality` `hd`/`high` →
//! `sampleImageSize: "2K"` on Imagen 4 (which has the setting), Imagen's own parameters
//! (`negativePrompt`, `seed`, `personGeneration`, …) passed as they are; the answer's
//! `predictions[].bytesBase64Encoded` → OpenAI's `data[].b64_json` (a prediction the safety
//! filter removed has no image and makes none).

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::images;
use crate::request::CanonicalRequest;
use crate::target::Target;

/// Imagen's aspect ratios.
const RATIOS: &[&str] = &["1:1", "3:4", "4:3", "9:16", "16:9"];

/// Imagen `parameters` a client may send itself.
const NATIVE: &[&str] = &[
    "negativePrompt",
    "seed",
    "personGeneration",
    "safetySetting",
    "addWatermark",
    "enhancePrompt",
    "outputOptions",
    "language",
    "aspectRatio",
    "sampleImageSize",
];

/// The `:predict` body for `req`; a model that is no Imagen model is refused (Gemini's image
/// models answer through `generateContent`, which this does not speak yet).
pub fn body(req: &CanonicalRequest, t: &Target<'_>) -> Result<Value, ApiError> {
    if !t.model.starts_with("imagen") && !t.model.starts_with("imagegeneration") {
        return Err(ApiError::new(
            400,
            "invalid_request_error",
            format!(
                "{}/{} is not an Imagen model: image generation on {} is served for \
                 Imagen models (imagen-*, imagegeneration@*) through :predict",
                t.provider.prefix(),
                t.model,
                t.provider.prefix()
            ),
        )
        .with_param("model"));
    }
    let ask = images::read(req, t, NATIVE)?;
    let mut parameters = Map::new();
    parameters.insert("sampleCount".into(), ask.n.into());
    if let Some(size) = ask.size {
        let ratio = images::aspect_ratio(size, RATIOS, t.model)?;
        parameters.insert("aspectRatio".into(), ratio.into());
    }
    match ask.quality {
        Some("hd" | "high") if t.model.starts_with("imagen-4") => {
            parameters.insert("sampleImageSize".into(), "2K".into());
        }
        Some("low" | "medium") => {}
        _ => images::no_quality(&ask, t)?,
    }
    parameters.extend(images::native_params(req, NATIVE));
    Ok(json!({"instances": [{"prompt": ask.prompt}], "parameters": parameters}))
}

#[derive(Deserialize)]
struct PredictResponse {
    #[serde(default)]
    predictions: Vec<Prediction>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Prediction {
    bytes_base64_encoded: Option<String>,
}

/// The OpenAI answer for a `:predict` answer.
pub fn to_openai(created: u64, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let r: PredictResponse = super::wire::parse(body)?;
    Ok(images::openai_body(
        created,
        r.predictions
            .into_iter()
            .filter_map(|p| p.bytes_base64_encoded),
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

    fn target<'a>(model: &'a str, m: &'a Map<String, Value>) -> Target<'a> {
        Target {
            provider: Provider::Gemini,
            model,
            base_path: "",
            api_key: None,
            api_version: None,
            defaults: m,
            drop_params: false,
            internal: m,
        }
    }

    #[test]
    fn openai_request_to_imagen() {
        let m = Map::new();
        let b = body(
            &req(
                json!({"model": "g", "prompt": "a fox", "n": 2, "size": "1024x1792",
                        "quality": "hd", "response_format": "b64_json", "seed": 9}),
            ),
            &target("imagen-4.0-generate-001", &m),
        )
        .unwrap();
        assert_eq!(
            b,
            json!({"instances": [{"prompt": "a fox"}],
                   "parameters": {"sampleCount": 2, "aspectRatio": "9:16",
                                  "sampleImageSize": "2K", "seed": 9}})
        );
        let e = body(
            &req(json!({"prompt": "a fox", "quality": "hd"})),
            &target("imagen-3.0-generate-002", &m),
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("quality"));
        let e = body(
            &req(json!({"prompt": "a fox"})),
            &target("gemini-2.5-flash", &m),
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("model"));
    }

    #[test]
    fn predictions_to_openai() {
        let out = to_openai(
            5,
            br#"{"predictions":[{"bytesBase64Encoded":"QQ==","mimeType":"image/png"},{"raiFilteredReason":"x"}]}"#,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v, json!({"created": 5, "data": [{"b64_json": "QQ=="}]}));
        assert_eq!(to_openai(5, b"{}").unwrap(), br#"{"created":5,"data":[]}"#);
    }
}
