//! Tests of the mock's request routing (`dialect.rs`): paths and bodies to dialects.

use super::*;

#[test]
fn parses_every_dialect() {
    assert_eq!(
        Route::parse("/v1/chat/completions"),
        Some(Route::OpenAi(OpenAiKind::Chat))
    );
    assert_eq!(Route::parse("/models"), Some(Route::Models));
    assert_eq!(
        Route::parse("/openai/deployments/gpt4o/embeddings"),
        Some(Route::Azure {
            deployment: "gpt4o",
            kind: OpenAiKind::Embeddings
        })
    );
    assert_eq!(Route::parse("/openai/deployments//completions"), None);
    assert_eq!(
        Route::parse("/messages/count_tokens"),
        Some(Route::Anthropic { count_tokens: true })
    );
    assert_eq!(
        Route::parse("/v1beta/models/gemini-2.0-flash:streamGenerateContent"),
        Some(Route::Gemini {
            model: "gemini-2.0-flash",
            method: GeminiMethod::StreamGenerate,
            vertex: false
        })
    );
    assert_eq!(
        Route::parse(
            "/v1/projects/p1/locations/us-central1/publishers/google/models/gemini-pro:generateContent"
        ),
        Some(Route::Gemini {
            model: "gemini-pro",
            method: GeminiMethod::Generate,
            vertex: true
        })
    );
    assert_eq!(
        Route::parse("/v1/projects/p1/locations/l/publishers/acme/models/m:generateContent"),
        None
    );
    assert_eq!(Route::parse("/v1beta/models/m:frobnicate"), None);
    assert_eq!(
        Route::parse("/api/embed"),
        Some(Route::Ollama(OllamaKind::Embed))
    );
    assert_eq!(Route::parse("/api/pull"), None);
    assert_eq!(
        Route::parse("/v2/chat"),
        Some(Route::Cohere(CohereKind::Chat))
    );
    assert_eq!(Route::parse("/v1/v2/chat"), None);
    assert_eq!(
        Route::parse("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream"),
        Some(Route::Bedrock {
            model: "anthropic.claude-3-haiku-20240307-v1%3A0",
            op: BedrockOp::ConverseStream
        })
    );
    assert_eq!(Route::parse("/model//converse"), None);
    assert_eq!(Route::parse("/model/m/converse-streams"), None);
    assert_eq!(Route::parse("/token"), Some(Route::Token));
    assert_eq!(Route::parse("/v1/token"), None);
}

#[test]
fn query_params() {
    assert_eq!(query_param(Some("alt=sse&key=k1"), "key"), Some("k1"));
    assert_eq!(query_param(Some("api-version="), "api-version"), None);
    assert_eq!(query_param(None, "alt"), None);
}

#[test]
fn error_shapes() {
    let v: Value =
        serde_json::from_slice(&error_body(Dialect::Anthropic, 529, "busy", None, None)).unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "overloaded_error");
    let v: Value =
        serde_json::from_slice(&error_body(Dialect::Gemini, 429, "slow", None, None)).unwrap();
    assert_eq!(
        v,
        json!({"error": {"code": 429, "message": "slow", "status": "RESOURCE_EXHAUSTED"}})
    );
    let v: Value =
        serde_json::from_slice(&error_body(Dialect::Ollama, 404, "nope", None, None)).unwrap();
    assert_eq!(v, json!({"error": "nope"}));
    let v: Value =
        serde_json::from_slice(&error_body(Dialect::Bedrock, 429, "slow", None, None)).unwrap();
    assert_eq!(v, json!({"message": "slow"}));
    assert_eq!(bedrock_error_type(429), "ThrottlingException");
    assert_eq!(bedrock_error_type(400), "ValidationException");
    assert_eq!(bedrock_error_type(503), "ServiceUnavailableException");
    let v: Value =
        serde_json::from_slice(&error_body(Dialect::GoogleOAuth, 400, "bad", None, None)).unwrap();
    assert_eq!(
        v,
        json!({"error": "invalid_request", "error_description": "bad"})
    );
}
