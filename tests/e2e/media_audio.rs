//! E2E: the multipart and binary media routes through the mock provider —
//! `/v1/audio/transcriptions`, `/v1/audio/translations` (also Azure's door), `/v1/audio/speech`
//! and `/v1/images/edits`: what the provider gets (the model field rewritten, the key
//! injected, the file untouched), the audio streamed back (the upload's streaming is
//! `media_upload.rs`), prices per second / character / image, budgets,
//! access, retries only while the body can be replayed, and the errors.

use std::time::{Duration, Instant};

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::budgets::{generate_key, settled_spend};
use crate::support::{client, expect_error, Gateway, MASTER_KEY};

pub(crate) const BOUNDARY: &str = "tollgate-e2e-7d1f";

pub(crate) fn config(mock: &MockServer, tail: &str) -> String {
    format!(
        "model_list:
  - model_name: whisper
    litellm_params:
      model: openai/whisper-1
      api_base: {base}/v1
      api_key: sk-upstream-openai
  - model_name: transcribe
    litellm_params:
      model: openai/gpt-4o-transcribe
      api_base: {base}/v1
      api_key: sk-upstream-openai
  - model_name: azure-whisper
    litellm_params:
      model: azure/my-whisper
      api_base: {base}
      api_key: sk-upstream-azure
      api_version: 2024-10-21
    model_info:
      base_model: whisper-1
  - model_name: tts
    litellm_params:
      model: openai/tts-1
      api_base: {base}/v1
      api_key: sk-upstream-openai
  - model_name: dalle2
    litellm_params:
      model: openai/dall-e-2
      api_base: {base}/v1
      api_key: sk-upstream-openai
  - model_name: claude
    litellm_params:
      model: anthropic/claude-3-5-haiku-20241022
      api_base: {base}
      api_key: sk-upstream-anthropic
general_settings:
  master_key: {MASTER_KEY}
  proxy_batch_write_at: 1
{tail}",
        base = format!("http://{}", mock.addr)
    )
}

/// A WAV file of `secs` seconds of 16 kHz mono 16-bit silence.
pub(crate) fn wav(secs: u32) -> Vec<u8> {
    let data = secs * 32_000;
    let mut h = b"RIFF".to_vec();
    h.extend_from_slice(&(36 + data).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&16_000u32.to_le_bytes());
    h.extend_from_slice(&32_000u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data.to_le_bytes());
    h.resize(44 + data as usize, 0);
    h
}

/// A multipart body: the text fields, then the file part `file_field` (unless `file_first`).
pub(crate) fn form(
    fields: &[(&str, &str)],
    file_field: &str,
    file: &[u8],
    file_first: bool,
) -> Vec<u8> {
    let mut text = Vec::new();
    for (k, v) in fields {
        text.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    let mut f = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{file_field}\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\n"
    )
    .into_bytes();
    f.extend_from_slice(file);
    f.extend_from_slice(b"\r\n");
    let mut out = if file_first {
        [f, text].concat()
    } else {
        [text, f].concat()
    };
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

pub(crate) async fn upload(
    gw: &Gateway,
    path: &str,
    key: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    client()
        .post(gw.url(path))
        .bearer_auth(key)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn spend_row(gw: &Gateway, key: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = client()
            .get(gw.url(&format!("/spend/logs?api_key={key}&summarize=false")))
            .bearer_auth(MASTER_KEY)
            .send()
            .await
            .unwrap();
        let rows: Value = r.json().await.unwrap();
        if let Some(row) = rows.as_array().and_then(|a| a.first()) {
            return row.clone();
        }
        assert!(Instant::now() < deadline, "no spend log row");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn close(a: f64, b: f64) -> bool {
    let ok = (a - b).abs() < 1e-9;
    if !ok {
        eprintln!("{a} != {b}");
    }
    ok
}

/// The value of text part `name` in a multipart body the mock received.
pub(crate) fn field(body: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let marker = format!("name=\"{name}\"\r\n\r\n");
    let at = text.find(&marker)? + marker.len();
    Some(text[at..].split("\r\n").next()?.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcription_priced_per_second_model_rewritten_key_injected() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(&mock, "")).await;
    let key = generate_key(&gw, json!({"max_budget": 10})).await;
    let audio = wav(3);
    let body = form(
        &[("model", "whisper"), ("response_format", "verbose_json")],
        "file",
        &audio,
        false,
    );
    let r = upload(&gw, "/v1/audio/transcriptions", &key, body).await;
    assert_eq!(r.status(), 200);
    let cost: f64 = r.headers()["x-litellm-response-cost"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["duration"], 3.0, "{v}");
    let sent = &mock.requests()[0];
    assert_eq!(sent.path, "/v1/audio/transcriptions");
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer sk-upstream-openai")
    );
    assert_eq!(field(&sent.body, "model").as_deref(), Some("whisper-1"));
    assert_eq!(
        field(&sent.body, "response_format").as_deref(),
        Some("verbose_json")
    );
    let at = memfind(&sent.body, &audio[..64]).expect("the file arrived");
    assert_eq!(&sent.body[at..at + audio.len()], &audio[..]);
    // LiteLLM's whisper-1: input_cost_per_second 0.0001, 3 seconds.
    assert!(close(cost, 0.0003), "{cost}");
    assert!(close(settled_spend(&gw, &key, 0.0003).await, 0.0003));
    let row = spend_row(&gw, &key).await;
    assert_eq!(row["call_type"], "atranscription", "{row}");
    assert_eq!(row["model_group"], "whisper", "{row}");
    assert_eq!(row["model"], "whisper-1", "{row}");

    // Without /v1, a `json` answer and an MP3-like file: the answer's `usage.seconds` prices it.
    let key2 = generate_key(&gw, json!({"max_budget": 10})).await;
    let body = form(&[("model", "whisper")], "file", &[7u8; 40_000], false);
    let r = upload(&gw, "/audio/transcriptions", &key2, body).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["usage"]["seconds"], 3.0, "{v}");
    assert!(close(settled_spend(&gw, &key2, 0.0003).await, 0.0003));

    // A token-priced model (gpt-4o-transcribe): the tokens the answer reports.
    let key3 = generate_key(&gw, json!({"max_budget": 10})).await;
    let body = form(&[("model", "transcribe")], "file", &wav(2), false);
    let r = upload(&gw, "/v1/audio/transcriptions", &key3, body).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let u = &v["usage"];
    let want = 3.0 * 2.5e-6
        + u["input_token_details"]["audio_tokens"].as_f64().unwrap() * 6e-6
        + u["output_tokens"].as_f64().unwrap() * 1e-5;
    assert!(close(settled_spend(&gw, &key3, want).await, want), "{v}");

    // Streamed (`stream=true`): the events relayed as they come, priced from the closing
    // event's usage.
    let key4 = generate_key(&gw, json!({"max_budget": 10})).await;
    let body = form(
        &[("model", "transcribe"), ("stream", "true")],
        "file",
        &wav(2),
        false,
    );
    let r = upload(&gw, "/v1/audio/transcriptions", &key4, body).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = r.text().await.unwrap();
    assert!(text.contains("transcript.text.delta"), "{text}");
    let done: Value = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|e: &Value| e["type"] == "transcript.text.done")
        .expect("a done event");
    let u = &done["usage"];
    let want = 3.0 * 2.5e-6
        + u["input_token_details"]["audio_tokens"].as_f64().unwrap() * 6e-6
        + u["output_tokens"].as_f64().unwrap() * 1e-5;
    assert!(close(settled_spend(&gw, &key4, want).await, want), "{done}");
}

pub(crate) fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn translation_through_the_azure_door_and_to_an_azure_deployment() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(&mock, "")).await;
    let key = generate_key(&gw, json!({"max_budget": 10})).await;
    let body = form(&[("model", "azure-whisper")], "file", &wav(2), false);
    let r = upload(&gw, "/v1/audio/translations", &key, body).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let sent = &mock.requests()[0];
    assert_eq!(
        sent.path,
        "/openai/deployments/my-whisper/audio/translations?api-version=2024-10-21"
    );
    assert_eq!(sent.header("api-key"), Some("sk-upstream-azure"));
    assert_eq!(sent.header("authorization"), None);
    // azure/whisper-1 through base_model: 2 seconds.
    assert!(close(settled_spend(&gw, &key, 0.0002).await, 0.0002));

    // An AzureOpenAI client: the group is the path's, the key in `api-key`, no model field.
    let key2 = generate_key(&gw, json!({"max_budget": 10})).await;
    let r = client()
        .post(gw.url("/openai/deployments/whisper/audio/transcriptions?api-version=2024-06-01"))
        .header("api-key", &key2)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(form(&[], "file", &wav(1), false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sent = &mock.requests()[1];
    assert_eq!(sent.path, "/v1/audio/transcriptions");
    // The body had no model field: one naming the deployment's model was put in.
    assert_eq!(field(&sent.body, "model").as_deref(), Some("whisper-1"));
    assert!(close(settled_spend(&gw, &key2, 0.0001).await, 0.0001));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_access_budgets_errors_and_retries() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(
        &mock,
        "  max_request_size_mb: 8\nrouter_settings:\n  num_retries: 1\n",
    ))
    .await;
    let path = "/v1/audio/transcriptions";

    // Model access is checked on the model field before the provider is called.
    let other = generate_key(&gw, json!({"models": ["claude"]})).await;
    let body = form(&[("model", "whisper")], "file", &wav(1), false);
    let e = expect_error(upload(&gw, path, &other, body).await, 401).await;
    assert!(e["message"].as_str().unwrap().contains("whisper"), "{e}");

    // The budget reserves the file's seconds (its WAV header): 100 s = 0.01 > 0.005.
    let poor = generate_key(&gw, json!({"max_budget": 0.005})).await;
    let body = form(&[("model", "whisper")], "file", &wav(100), false);
    let r = upload(&gw, path, &poor, body).await;
    assert!(r.status().is_client_error(), "{}", r.status());
    let v: Value = r.json().await.unwrap();
    assert!(crate::support::is_budget_refusal(&v), "{v}");
    assert_eq!(mock.request_count(), 0);
    let body = form(&[("model", "whisper")], "file", &wav(10), false);
    assert_eq!(upload(&gw, path, &poor, body).await.status(), 200);

    // Not multipart; no model; a model after a file larger than the head; no file.
    let r = client()
        .post(gw.url(path))
        .bearer_auth(MASTER_KEY)
        .json(&json!({"model": "whisper"}))
        .send()
        .await
        .unwrap();
    expect_error(r, 400).await;
    let body = form(&[("language", "en")], "file", &wav(1), false);
    let e = expect_error(upload(&gw, path, MASTER_KEY, body).await, 400).await;
    assert_eq!(e["param"], "model");
    let body = form(&[("model", "whisper")], "file", &wav(1), true);
    assert_eq!(upload(&gw, path, MASTER_KEY, body).await.status(), 200);
    let body = form(&[("model", "whisper")], "file", &wav(40), true);
    let e = expect_error(upload(&gw, path, MASTER_KEY, body).await, 400).await;
    assert!(
        e["message"].as_str().unwrap().contains("first 1 MiB"),
        "{e}"
    );
    let body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper\r\n--{BOUNDARY}--\r\n"
    );
    let e = expect_error(upload(&gw, path, MASTER_KEY, body.into_bytes()).await, 400).await;
    assert_eq!(e["param"], "file");

    // Over max_request_size_mb: 413 before the provider is called.
    let before = mock.request_count();
    let body = form(&[("model", "whisper")], "file", &wav(300), false);
    let r = client()
        .post(gw.url(path))
        .bearer_auth(MASTER_KEY)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await;
    // The gateway answers at once and closes: the client may still be sending.
    if let Ok(r) = r {
        expect_error(r, 413).await;
    }
    // A deployment whose API has no audio endpoint: 400 naming it, nothing sent.
    let body = form(&[("model", "claude")], "file", &wav(1), false);
    let e = expect_error(upload(&gw, path, MASTER_KEY, body).await, 400).await;
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("/audio/transcriptions"),
        "{e}"
    );
    assert_eq!(mock.request_count(), before);

    // An upload inside the head is replayed: a provider 500 is retried.
    mock.fail_next(1, 500);
    let body = form(&[("model", "whisper")], "file", &wav(1), false);
    let r = upload(&gw, path, MASTER_KEY, body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-litellm-attempted-retries"], "1");
    assert_eq!(mock.request_count(), before + 2);
    // A longer one was streamed: it cannot be sent again, the provider's error is the answer.
    mock.fail_next(1, 500);
    let body = form(&[("model", "whisper")], "file", &wav(50), false);
    let r = upload(&gw, path, MASTER_KEY, body).await;
    assert_eq!(r.status(), 500);
    assert_eq!(mock.request_count(), before + 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_audio_streamed_back_priced_per_character() {
    let mock = MockServer::start(MockConfig {
        chunks: 4,
        chunk_interval: Duration::from_millis(300),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let gw = Gateway::start(&config(&mock, "")).await;
    let key = generate_key(&gw, json!({"max_budget": 10})).await;
    let input = "The quick brown fox jumps over the lazy dog.";
    let started = Instant::now();
    let mut r = client()
        .post(gw.url("/v1/audio/speech"))
        .bearer_auth(&key)
        .json(&json!({"model": "tts", "input": input, "voice": "alloy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "audio/mpeg");
    let cost: f64 = r.headers()["x-litellm-response-cost"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(close(cost, input.chars().count() as f64 * 1.5e-5), "{cost}");
    let first = r.chunk().await.unwrap().unwrap();
    let first_at = started.elapsed();
    let mut audio = first.to_vec();
    while let Some(c) = r.chunk().await.unwrap() {
        audio.extend_from_slice(&c);
    }
    let done_at = started.elapsed();
    assert!(audio.starts_with(b"ID3"));
    assert_eq!(audio.len(), input.chars().count() * 100);
    // Streamed: the first audio arrived long before the last (3 × 300 ms apart).
    assert!(
        done_at - first_at >= Duration::from_millis(700),
        "first {first_at:?}, done {done_at:?}"
    );
    let sent = mock.requests()[0].json().unwrap();
    assert_eq!(sent["model"], "tts-1");
    assert_eq!(sent["voice"], "alloy");
    // tts-1: input_cost_per_character 1.5e-5.
    let want = input.chars().count() as f64 * 1.5e-5;
    assert!(close(settled_spend(&gw, &key, want).await, want));
    let row = spend_row(&gw, &key).await;
    assert_eq!(row["call_type"], "aspeech", "{row}");

    // wav, and the error shape for a missing input.
    let r = client()
        .post(gw.url("/audio/speech"))
        .bearer_auth(MASTER_KEY)
        .json(&json!({"model": "tts", "input": "hi", "voice": "alloy", "response_format": "wav"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "audio/wav");
    let e = expect_error(
        client()
            .post(gw.url("/v1/audio/speech"))
            .bearer_auth(MASTER_KEY)
            .json(&json!({"model": "tts", "voice": "alloy"}))
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    assert_eq!(e["param"], "input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_edits_priced_as_image_generation() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(&mock, "")).await;
    let key = generate_key(&gw, json!({"max_budget": 10})).await;
    let png = [0x89u8, b'P', b'N', b'G', 1, 2, 3, 4];
    let body = form(
        &[
            ("model", "dalle2"),
            ("prompt", "add a hat"),
            ("n", "2"),
            ("size", "512x512"),
        ],
        "image",
        &png,
        false,
    );
    let r = upload(&gw, "/v1/images/edits", &key, body).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2, "{v}");
    let sent = &mock.requests()[0];
    assert_eq!(sent.path, "/v1/images/edits");
    assert_eq!(field(&sent.body, "model").as_deref(), Some("dall-e-2"));
    // LiteLLM's 512-x-512/dall-e-2: input_cost_per_pixel 6.86e-08, two images.
    let want = 2.0 * 6.86e-08 * 512.0 * 512.0;
    assert!(close(settled_spend(&gw, &key, want).await, want));
    let row = spend_row(&gw, &key).await;
    assert_eq!(row["call_type"], "aimage_edit", "{row}");
}
