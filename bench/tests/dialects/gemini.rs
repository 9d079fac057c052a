//! Gemini: AI Studio and Vertex `generateContent`/`streamGenerateContent`, embeddings, errors.

use bench::client::Response;
use serde_json::{json, Value};

use crate::common::{mock, send, text, try_send, with, ARGS, CONTENT};

const KEY: (&str, &str) = ("x-goog-api-key", "AIza-mock");
const BEARER: (&str, &str) = ("authorization", "Bearer ya29.mock");
const STUDIO: &str = "/v1beta/models/gemini-2.0-flash";
const VERTEX: &str =
    "/v1/projects/proj-1/locations/us-central1/publishers/google/models/gemini-2.0-flash";

fn req(extra: Value) -> Value {
    with(
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
        extra,
    )
}

fn assert_gemini_error(resp: &Response, status: u16, code: &str) -> Value {
    assert_eq!(resp.status, status, "{}", text(resp));
    let v = resp.json().unwrap();
    assert_eq!(v["error"]["code"], status, "{v}");
    assert_eq!(v["error"]["status"], code, "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    v
}

/// `data:` payloads of a Gemini SSE body, checking the `\r\n\r\n` event separator.
fn sse_chunks(resp: &Response) -> Vec<Value> {
    let body = text(resp);
    let blocks: Vec<&str> = body.split("\r\n\r\n").filter(|b| !b.is_empty()).collect();
    assert!(body.ends_with("\r\n\r\n"), "{body:?}");
    blocks
        .iter()
        .map(|b| serde_json::from_str(b.strip_prefix("data: ").expect(b)).unwrap())
        .collect()
}

#[tokio::test]
async fn generate_content_on_ai_studio_and_vertex() {
    let mock = mock().await;
    let body = req(json!({}));
    for (path, auth) in [
        (format!("{STUDIO}:generateContent"), KEY),
        (format!("{VERTEX}:generateContent"), BEARER),
    ] {
        let resp = send(&mock, &path, &[auth], &body).await;
        assert_eq!(resp.status, 200, "{path}");
        let v = resp.json().unwrap();
        let c = &v["candidates"][0];
        assert_eq!(c["content"]["role"], "model");
        assert_eq!(c["content"]["parts"], json!([{"text": CONTENT}]));
        assert_eq!(c["finishReason"], "STOP");
        assert_eq!(c["index"], 0);
        let prompt = (body.to_string().len() as u64).div_ceil(4);
        assert_eq!(
            v["usageMetadata"],
            json!({"promptTokenCount": prompt, "candidatesTokenCount": 5,
                   "totalTokenCount": prompt + 5})
        );
        assert_eq!(v["modelVersion"], "gemini-2.0-flash");
    }
    // The API key may also come as ?key=.
    let path = format!("{STUDIO}:generateContent?key=AIza-q");
    assert_eq!(send(&mock, &path, &[], &body).await.status, 200);
    let recorded: Vec<String> = mock.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        recorded[2],
        "/v1beta/models/gemini-2.0-flash:generateContent?key=AIza-q"
    );
}

#[tokio::test]
async fn credentials_are_required() {
    let mock = mock().await;
    let body = req(json!({}));
    let studio = format!("{STUDIO}:generateContent");
    assert_gemini_error(
        &send(&mock, &studio, &[], &body).await,
        403,
        "PERMISSION_DENIED",
    );
    // An AI Studio key is not a Vertex credential, and vice versa.
    assert_gemini_error(
        &send(&mock, &studio, &[BEARER], &body).await,
        403,
        "PERMISSION_DENIED",
    );
    let vertex = format!("{VERTEX}:streamGenerateContent?alt=sse");
    assert_gemini_error(
        &send(&mock, &vertex, &[KEY], &body).await,
        401,
        "UNAUTHENTICATED",
    );
    assert_gemini_error(
        &send(&mock, &studio, &[KEY], &json!({"generationConfig": {}})).await,
        400,
        "INVALID_ARGUMENT",
    );
}

#[tokio::test]
async fn stream_with_alt_sse() {
    let mock = mock().await;
    let path = format!("{STUDIO}:streamGenerateContent?alt=sse");
    let resp = send(&mock, &path, &[KEY], &req(json!({"mock": {"chunks": 3}}))).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    let chunks = sse_chunks(&resp);
    assert_eq!(chunks.len(), 3);
    let text: String = chunks
        .iter()
        .map(|c| {
            c["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(text, CONTENT);
    for c in &chunks[..2] {
        assert!(c["candidates"][0].get("finishReason").is_none(), "{c}");
        assert!(c.get("usageMetadata").is_none(), "{c}");
    }
    assert_eq!(chunks[2]["candidates"][0]["finishReason"], "STOP");
    assert_eq!(chunks[2]["usageMetadata"]["candidatesTokenCount"], 5);
    assert!(!text_of(&resp).contains("[DONE]"), "Gemini has no [DONE]");

    // Vertex, same framing.
    let path = format!("{VERTEX}:streamGenerateContent?alt=sse");
    let chunks = sse_chunks(&send(&mock, &path, &[BEARER], &req(json!({}))).await);
    assert_eq!(chunks.len(), 5);
}

fn text_of(resp: &Response) -> &str {
    text(resp)
}

#[tokio::test]
async fn stream_without_alt_sse_is_a_json_array() {
    let mock = mock().await;
    let path = format!("{STUDIO}:streamGenerateContent");
    let resp = send(&mock, &path, &[KEY], &req(json!({"mock": {"chunks": 2}}))).await;
    assert_eq!(resp.status, 200);
    assert!(resp
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let v = resp.json().expect("one JSON array");
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    assert_eq!(arr[1]["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn function_call_plain_and_streamed() {
    let mock = mock().await;
    let tool = json!({"mock": {"tool_call": {"name": "get_weather", "arguments": ARGS}}});
    let v = send(
        &mock,
        &format!("{STUDIO}:generateContent"),
        &[KEY],
        &req(tool.clone()),
    )
    .await
    .json()
    .unwrap();
    let c = &v["candidates"][0];
    assert_eq!(
        c["content"]["parts"],
        json!([{"functionCall": {"name": "get_weather",
                                 "args": {"city": "Paris", "unit": "celsius"}}}])
    );
    assert_eq!(c["finishReason"], "STOP");

    let path = format!("{VERTEX}:streamGenerateContent?alt=sse");
    let chunks = sse_chunks(&send(&mock, &path, &[BEARER], &req(tool)).await);
    assert_eq!(chunks.len(), 1, "function calls arrive whole");
    assert_eq!(
        chunks[0]["candidates"][0]["content"]["parts"][0]["functionCall"]["name"],
        "get_weather"
    );
    assert_eq!(chunks[0]["candidates"][0]["finishReason"], "STOP");
    assert!(
        chunks[0]["usageMetadata"]["totalTokenCount"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[tokio::test]
async fn forced_errors_and_cuts() {
    let mock = mock().await;
    let path = format!("{STUDIO}:generateContent");
    for (status, code) in [
        (429, "RESOURCE_EXHAUSTED"),
        (503, "UNAVAILABLE"),
        (400, "INVALID_ARGUMENT"),
        (500, "INTERNAL"),
    ] {
        let resp = send(
            &mock,
            &path,
            &[KEY],
            &req(json!({"mock": {"status": status}})),
        )
        .await;
        assert_gemini_error(&resp, status, code);
    }
    mock.fail_next(1, 503);
    assert_gemini_error(
        &send(&mock, &path, &[KEY], &req(json!({}))).await,
        503,
        "UNAVAILABLE",
    );
    assert_eq!(
        send(&mock, &path, &[KEY], &req(json!({}))).await.status,
        200
    );

    let path = format!("{STUDIO}:streamGenerateContent?alt=sse");
    let err = try_send(
        &mock,
        &path,
        &[KEY],
        &req(json!({"mock": {"fail_after_chunks": 2}})),
    )
    .await
    .expect_err("cut");
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
}

#[tokio::test]
async fn embeddings_and_count_tokens() {
    let mock = mock().await;
    let body = json!({"requests": [
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "a"}]}},
        {"model": "models/text-embedding-004", "content": {"parts": [{"text": "b"}]},
         "outputDimensionality": 4},
    ]});
    let path = "/v1beta/models/text-embedding-004:batchEmbedContents";
    let v = send(&mock, path, &[KEY], &body).await.json().unwrap();
    let embs = v["embeddings"].as_array().unwrap();
    assert_eq!(embs.len(), 2);
    assert_eq!(embs[0]["values"].as_array().unwrap().len(), 8);
    assert_eq!(embs[1]["values"].as_array().unwrap().len(), 4);
    let expected = bench::mock::embedding_vector("a", 8);
    let got: Vec<f32> = serde_json::from_value(embs[0]["values"].clone()).unwrap();
    assert_eq!(got, expected, "deterministic");
    assert_gemini_error(
        &send(&mock, path, &[KEY], &json!({"requests": []})).await,
        400,
        "INVALID_ARGUMENT",
    );

    let body = json!({"content": {"parts": [{"text": "a"}]}});
    let path = "/v1beta/models/text-embedding-004:embedContent";
    let v = send(&mock, path, &[KEY], &body).await.json().unwrap();
    assert_eq!(v["embedding"]["values"].as_array().unwrap().len(), 8);

    let path = format!("{STUDIO}:countTokens");
    let body = req(json!({"mock": {"prompt_tokens": 9}}));
    assert_eq!(
        send(&mock, &path, &[KEY], &body).await.json().unwrap(),
        json!({"totalTokens": 9})
    );
}
