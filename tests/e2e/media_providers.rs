//! E2E: `POST /v1/images/generations` on providers whose image APIs are not OpenAI's, through
//! the mock speaking each one: Imagen `:predict` on the Gemini API (key header) and on Vertex
//! AI (Google OAuth), Bedrock's Nova Canvas, Stability SD3.5 and SDXL on `invoke` (SigV4) —
//! the request each provider gets, the OpenAI answer (`b64_json`), the price per image from the
//! bundled table (or the config), and the spend log row.

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::budgets::{generate_key, settled_spend};
use crate::support::{client, expect_error, Gateway, MASTER_KEY};

/// The image the mock makes.
const IMAGE: &str = "iVBORw0KGgo=";
const AWS: &str = "aws_region_name: us-east-1\n      aws_access_key_id: AKIDEXAMPLE\n      aws_secret_access_key: wJalrXUtnFEMIEXAMPLEKEY";

fn config(mock: &MockServer) -> String {
    let base = format!("http://{}", mock.addr);
    let creds = crate::providers::vertex_credentials(mock);
    format!(
        "model_list:
  - model_name: imagen
    litellm_params: {{model: gemini/imagen-4.0-generate-001, api_base: '{base}', api_key: sk-gemini-up}}
  - model_name: vertex-imagen
    litellm_params:
      model: vertex_ai/imagen-3.0-generate-002
      api_base: '{base}'
      vertex_project: proj-1
      vertex_location: europe-west4
      vertex_credentials: {creds}
  - model_name: nova
    litellm_params:
      model: bedrock/amazon.nova-canvas-v1:0
      api_base: '{base}'
      {AWS}
  - model_name: sd35
    litellm_params:
      model: bedrock/stability.sd3-5-large-v1:0
      api_base: '{base}'
      {AWS}
  - model_name: sdxl
    litellm_params:
      model: bedrock/stability.stable-diffusion-xl-v1
      api_base: '{base}'
      output_cost_per_image: 0.05
      {AWS}
general_settings:
  master_key: {MASTER_KEY}
  proxy_batch_write_at: 1
"
    )
}

async fn generate(gw: &Gateway, key: &str, body: Value) -> reqwest::Response {
    client()
        .post(gw.url("/v1/images/generations"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The images of an OpenAI answer: all `b64_json`, none a URL.
async fn images(r: reqwest::Response) -> usize {
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v["created"].as_u64().is_some(), "{v}");
    let data = v["data"].as_array().unwrap();
    for d in data {
        assert_eq!(d["b64_json"], IMAGE, "{v}");
        assert!(d.get("url").is_none(), "{v}");
    }
    data.len()
}

fn last_call(mock: &MockServer) -> bench::mock::RecordedRequest {
    mock.requests()
        .into_iter()
        .filter(|r| r.path != "/token")
        .last()
        .unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imagen_on_the_gemini_api_and_on_vertex_ai() {
    let mock = MockServer::start(MockConfig {
        require_oauth_token: true,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = Gateway::start(&config(&mock)).await;

    let key = generate_key(&gw, json!({"max_budget": 10})).await;
    let ask = json!({"model": "imagen", "prompt": "a fox", "n": 2, "size": "1792x1024",
                     "quality": "hd", "response_format": "b64_json"});
    assert_eq!(images(generate(&gw, &key, ask).await).await, 2);
    let sent = last_call(&mock);
    assert_eq!(sent.path, "/v1beta/models/imagen-4.0-generate-001:predict");
    assert_eq!(sent.header("x-goog-api-key"), Some("sk-gemini-up"));
    assert_eq!(
        sent.json().unwrap(),
        json!({"instances": [{"prompt": "a fox"}],
               "parameters": {"sampleCount": 2, "aspectRatio": "16:9", "sampleImageSize": "2K"}})
    );
    // LiteLLM's `gemini/imagen-4.0-generate-001`: output_cost_per_image 0.04.
    assert!(close(settled_spend(&gw, &key, 0.08).await, 0.08));

    // Vertex AI: the same body on the Vertex path, with a Google OAuth token; no size asked,
    // none sent; no response_format asked, b64_json all the same (Imagen returns no URL).
    let key = generate_key(&gw, json!({"max_budget": 10})).await;
    let r = generate(
        &gw,
        &key,
        json!({"model": "vertex-imagen", "prompt": "a hill"}),
    )
    .await;
    assert_eq!(images(r).await, 1);
    let sent = last_call(&mock);
    assert_eq!(
        sent.path,
        "/v1/projects/proj-1/locations/europe-west4/publishers/google/models/imagen-3.0-generate-002:predict"
    );
    assert!(sent
        .header("authorization")
        .unwrap()
        .starts_with("Bearer ya29.mock-"));
    assert_eq!(
        sent.json().unwrap()["parameters"],
        json!({"sampleCount": 1})
    );
    assert!(close(settled_spend(&gw, &key, 0.04).await, 0.04));
    let rows: Value = client()
        .get(gw.url(&format!("/spend/logs?api_key={key}&summarize=false")))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rows[0]["call_type"], "aimage_generation", "{rows}");
    assert_eq!(rows[0]["model_group"], "vertex-imagen", "{rows}");

    // What Imagen cannot do is refused by name, before the provider is called.
    let calls = mock.requests().len();
    let r = generate(
        &gw,
        &key,
        json!({"model": "vertex-imagen", "prompt": "x", "quality": "hd"}),
    )
    .await;
    assert_eq!(expect_error(r, 400).await["param"], "quality");
    let r = generate(
        &gw,
        &key,
        json!({"model": "imagen", "prompt": "x", "size": "3000x1000"}),
    )
    .await;
    assert_eq!(expect_error(r, 400).await["param"], "size");
    let r = generate(
        &gw,
        &key,
        json!({"model": "imagen", "prompt": "x", "style": "vivid"}),
    )
    .await;
    assert_eq!(expect_error(r, 400).await["param"], "style");
    assert_eq!(mock.requests().len(), calls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bedrock_nova_canvas_stability_and_sdxl() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(&mock)).await;

    let key = generate_key(&gw, json!({"max_budget": 10})).await;
    let ask = json!({"model": "nova", "prompt": "a boat", "n": 3, "size": "1024x512",
                     "quality": "hd", "negativeText": "fog"});
    assert_eq!(images(generate(&gw, &key, ask).await).await, 3);
    let sent = last_call(&mock);
    assert_eq!(sent.path, "/model/amazon.nova-canvas-v1%3A0/invoke");
    assert!(sent
        .header("authorization")
        .unwrap()
        .starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
    assert_eq!(
        sent.json().unwrap(),
        json!({"taskType": "TEXT_IMAGE",
               "textToImageParams": {"text": "a boat", "negativeText": "fog"},
               "imageGenerationConfig": {"numberOfImages": 3, "width": 1024, "height": 512,
                                         "quality": "premium"}})
    );
    // `amazon.nova-canvas-v1:0`: output_cost_per_image 0.06, three images.
    assert!(close(settled_spend(&gw, &key, 0.18).await, 0.18));

    let key = generate_key(&gw, json!({"max_budget": 10})).await;
    let r = generate(
        &gw,
        &key,
        json!({"model": "sd35", "prompt": "a tree", "size": "1024x1792"}),
    )
    .await;
    assert_eq!(images(r).await, 1);
    let sent = last_call(&mock);
    assert_eq!(sent.path, "/model/stability.sd3-5-large-v1%3A0/invoke");
    assert_eq!(
        sent.json().unwrap(),
        json!({"prompt": "a tree", "mode": "text-to-image", "output_format": "png", "aspect_ratio": "9:16"})
    );
    assert!(close(settled_spend(&gw, &key, 0.08).await, 0.08));
    let r = generate(
        &gw,
        &key,
        json!({"model": "sd35", "prompt": "a tree", "n": 2}),
    )
    .await;
    assert_eq!(expect_error(r, 400).await["param"], "n");

    // SDXL answers with `artifacts`; priced from the config's output_cost_per_image.
    let key = generate_key(&gw, json!({"max_budget": 10})).await;
    let r = generate(
        &gw,
        &key,
        json!({"model": "sdxl", "prompt": "a cat", "n": 2, "size": "1024x1024"}),
    )
    .await;
    assert_eq!(images(r).await, 2);
    let body = last_call(&mock).json().unwrap();
    assert_eq!(
        body["text_prompts"],
        json!([{"text": "a cat", "weight": 1}])
    );
    assert_eq!(
        (body["samples"].as_u64(), body["width"].as_u64()),
        (Some(2), Some(1024))
    );
    assert!(close(settled_spend(&gw, &key, 0.1).await, 0.1));
}
