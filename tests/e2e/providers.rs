//! Stage 4 across provider families: the real binary translating OpenAI requests to Anthropic,
//! Gemini, Ollama and Azure (the mock speaks each dialect) and their answers, streams, tool calls
//! and errors back.

use std::time::Duration;

use bench::mock::{MockConfig, MockServer, MockToolCall};
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::support::*;

/// One provider family: its `litellm_params` and what the provider must receive.
struct Family {
    name: &'static str,
    params: &'static str,
    /// Path prefix the chat request must arrive at.
    chat_path: &'static str,
    /// Header carrying the deployment's key, and its expected value.
    auth: (&'static str, &'static str),
}

const FAMILIES: &[Family] = &[
    Family {
        name: "anthropic",
        params: "model: anthropic/claude-test",
        chat_path: "/v1/messages",
        auth: ("x-api-key", "sk-upstream-secret"),
    },
    Family {
        name: "gemini",
        params: "model: gemini/gemini-test",
        chat_path: "/v1beta/models/gemini-test:",
        auth: ("x-goog-api-key", "sk-upstream-secret"),
    },
    Family {
        name: "ollama_chat",
        params: "model: ollama_chat/llama-test",
        chat_path: "/api/chat",
        auth: ("authorization", "Bearer sk-upstream-secret"),
    },
    Family {
        name: "ollama",
        params: "model: ollama/llama-test",
        chat_path: "/api/generate",
        auth: ("authorization", "Bearer sk-upstream-secret"),
    },
    Family {
        name: "azure",
        params: "model: azure/my-deployment\n      api_version: \"2024-10-21\"",
        chat_path: "/openai/deployments/my-deployment/chat/completions?api-version=2024-10-21",
        auth: ("api-key", "sk-upstream-secret"),
    },
    Family { name: "cohere", params: "model: cohere/command-test", chat_path: "/v2/chat", auth: ("authorization", "Bearer sk-upstream-secret") },
    Family {
        name: "bedrock",
        params: "model: bedrock/anthropic.claude-test\n      aws_region_name: us-east-1\n      aws_access_key_id: AKIDEXAMPLE\n      aws_secret_access_key: wJalrXUtnFEMIEXAMPLEKEY",
        chat_path: "/model/anthropic.claude-test/converse",
        auth: ("authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
    },
    Family {
        name: "vertex_ai",
        params: "model: vertex_ai/gemini-test\n      vertex_project: proj-1\n      vertex_location: europe-west4\n      vertex_credentials: {CREDS}",
        chat_path: "/v1/projects/proj-1/locations/europe-west4/publishers/google/models/gemini-test:",
        auth: ("authorization", "Bearer ya29.mock-"),
    },
];

/// A copy of the test-only service-account key whose `token_uri` is the mock's token endpoint.
pub(crate) fn vertex_credentials(mock: &MockServer) -> String {
    let fixture = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("../tests/e2e/fixtures/test-service-account.json");
    let mut key: Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    key["token_uri"] = json!(format!("http://{}/token", mock.addr));
    let path = scratch_dir().join("sa.json");
    std::fs::write(&path, key.to_string()).unwrap();
    path.display().to_string()
}

/// The requests the provider API received (the Vertex OAuth token fetches left out).
fn calls(mock: &MockServer) -> Vec<bench::mock::RecordedRequest> {
    mock.requests()
        .into_iter()
        .filter(|r| r.path != "/token")
        .collect()
}

fn config(f: &Family, mock: &MockServer) -> String {
    let params = if f.params.contains("{CREDS}") {
        f.params.replace("{CREDS}", &vertex_credentials(mock))
    } else {
        f.params.to_string()
    };
    format!(
        "model_list:\n  - model_name: m\n    litellm_params:\n      {params}\n      api_base: http://{}\n      api_key: sk-upstream-secret\ngeneral_settings:\n  master_key: {MASTER_KEY}\n",
        mock.addr
    )
}

fn chat(stream: bool) -> Value {
    json!({"model": "m", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}],
           "max_tokens": 50, "stream": stream, "stream_options": {"include_usage": stream}})
}

/// The `data:` payloads of an SSE body.
async fn sse_data(resp: reqwest::Response) -> Vec<String> {
    let text = resp.text().await.unwrap();
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: ").map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_family_answers_chat_in_openai_shape() {
    for f in FAMILIES {
        let cfg = MockConfig {
            content: "one two three".into(),
            chunks: 3,
            ..MockConfig::default()
        };
        let mock = MockServer::start(cfg).await.unwrap();
        let gw = Gateway::start(&config(f, &mock)).await;
        let r = post(&gw, "/v1/chat/completions", &chat(false)).await;
        assert_eq!(r.status(), 200, "{}", f.name);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["object"], "chat.completion", "{}: {v}", f.name);
        assert_eq!(
            v["choices"][0]["message"]["content"], "one two three",
            "{}: {v}",
            f.name
        );
        assert_eq!(v["choices"][0]["finish_reason"], "stop", "{}", f.name);
        assert!(
            v["usage"]["prompt_tokens"].as_u64().unwrap() > 0,
            "{}: {v}",
            f.name
        );
        let got = &calls(&mock)[0];
        assert!(
            got.path.starts_with(f.chat_path),
            "{}: path {}",
            f.name,
            got.path
        );
        let auth = got
            .header(f.auth.0)
            .unwrap_or_else(|| panic!("{}: no {} header", f.name, f.auth.0));
        assert!(auth.starts_with(f.auth.1), "{}: {auth}", f.name);
        assert_ne!(
            got.header("authorization"),
            Some(format!("Bearer {MASTER_KEY}").as_str()),
            "client key leaked"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_family_streams_in_openai_shape() {
    for f in FAMILIES {
        let cfg = MockConfig {
            content: "alpha beta gamma".into(),
            chunks: 3,
            chunk_interval: Duration::from_millis(20),
            ..MockConfig::default()
        };
        let mock = MockServer::start(cfg).await.unwrap();
        let gw = Gateway::start(&config(f, &mock)).await;
        let r = post(&gw, "/v1/chat/completions", &chat(true)).await;
        assert_eq!(r.status(), 200, "{}", f.name);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        let events = sse_data(r).await;
        assert_eq!(
            events.last().map(String::as_str),
            Some("[DONE]"),
            "{}: {events:?}",
            f.name
        );
        let chunks: Vec<Value> = events[..events.len() - 1]
            .iter()
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        let text: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "alpha beta gamma", "{}: {events:?}", f.name);
        assert!(
            chunks
                .iter()
                .all(|c| c["object"] == "chat.completion.chunk"),
            "{}",
            f.name
        );
        assert!(
            chunks
                .iter()
                .any(|c| c["choices"][0]["finish_reason"] == "stop"),
            "{}: {events:?}",
            f.name
        );
        let usage: Vec<&Value> = chunks
            .iter()
            .filter(|c| c.get("usage").is_some_and(|u| !u.is_null()))
            .collect();
        assert_eq!(
            usage.len(),
            1,
            "{}: include_usage must give one usage chunk: {events:?}",
            f.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_family_returns_tool_calls_whole_and_streamed() {
    let args = r#"{"city":"Paris","unit":"celsius"}"#;
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "description": "weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}}}}}]);
    for f in FAMILIES {
        let cfg = MockConfig {
            tool_call: Some(MockToolCall::new("get_weather", args)),
            ..MockConfig::default()
        };
        let mock = MockServer::start(cfg).await.unwrap();
        let gw = Gateway::start(&config(f, &mock)).await;
        if f.name == "ollama" {
            // /api/generate has no tools: refused with a clear 400 (no drop_params).
            let mut body = chat(false);
            body["tools"] = tools.clone();
            expect_error(post(&gw, "/v1/chat/completions", &body).await, 400).await;
            continue;
        }
        let mut body = chat(false);
        body["tools"] = tools.clone();
        let v: Value = post(&gw, "/v1/chat/completions", &body)
            .await
            .json()
            .await
            .unwrap();
        let call = &v["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(call["function"]["name"], "get_weather", "{}: {v}", f.name);
        let got: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(
            got,
            serde_json::from_str::<Value>(args).unwrap(),
            "{}",
            f.name
        );
        assert_eq!(
            v["choices"][0]["finish_reason"], "tool_calls",
            "{}: {v}",
            f.name
        );
        let recorded = calls(&mock);
        let first = recorded
            .iter()
            .find(|r| r.path.starts_with(f.chat_path))
            .unwrap_or_else(|| {
                panic!(
                    "{}: no chat request among {:?}",
                    f.name,
                    recorded.iter().map(|r| &r.path).collect::<Vec<_>>()
                )
            });
        let sent = first.json().unwrap_or_else(|| {
            panic!(
                "{}: {} {} body not JSON: {:?}",
                f.name,
                first.method,
                first.path,
                String::from_utf8_lossy(&first.body)
            )
        });
        assert!(
            sent.to_string().contains("get_weather"),
            "{}: tools not sent: {sent}",
            f.name
        );

        let mut body = chat(true);
        body["tools"] = tools.clone();
        let events = sse_data(post(&gw, "/v1/chat/completions", &body).await).await;
        let mut name = String::new();
        let mut arguments = String::new();
        for d in &events[..events.len() - 1] {
            let c: Value = serde_json::from_str(d).unwrap();
            if let Some(calls) = c["choices"][0]["delta"]["tool_calls"].as_array() {
                name.push_str(calls[0]["function"]["name"].as_str().unwrap_or(""));
                arguments.push_str(calls[0]["function"]["arguments"].as_str().unwrap_or(""));
            }
        }
        assert_eq!(name, "get_weather", "{}: {events:?}", f.name);
        assert_eq!(
            serde_json::from_str::<Value>(&arguments).unwrap(),
            serde_json::from_str::<Value>(args).unwrap(),
            "{}",
            f.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_errors_map_to_the_right_status() {
    for f in FAMILIES {
        let mock = MockServer::start(MockConfig::default()).await.unwrap();
        let gw = Gateway::start(&config(f, &mock)).await;
        for (upstream, expected) in [(429u16, 429u16), (400, 400), (503, 503)] {
            mock.fail_next(1, upstream);
            let e = expect_error(
                post(&gw, "/v1/chat/completions", &chat(false)).await,
                expected,
            )
            .await;
            assert!(!e["message"].as_str().unwrap().is_empty(), "{}", f.name);
        }
    }
    // Anthropic's 529 "overloaded" is a 503 to OpenAI clients.
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(&FAMILIES[0], &mock)).await;
    mock.fail_next(1, 529);
    expect_error(post(&gw, "/v1/chat/completions", &chat(false)).await, 503).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_through_gemini_ollama_and_azure() {
    for f in FAMILIES
        .iter()
        .filter(|f| matches!(f.name, "gemini" | "ollama_chat" | "azure"))
    {
        let mock = MockServer::start(MockConfig {
            embedding_dims: 4,
            ..MockConfig::default()
        })
        .await
        .unwrap();
        let gw = Gateway::start(&config(f, &mock)).await;
        let r = post(
            &gw,
            "/v1/embeddings",
            &json!({"model": "m", "input": ["a", "b"]}),
        )
        .await;
        assert_eq!(r.status(), 200, "{}", f.name);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["object"], "list", "{}: {v}", f.name);
        assert_eq!(v["data"].as_array().unwrap().len(), 2, "{}: {v}", f.name);
        assert_eq!(v["data"][1]["index"], 1);
        assert_eq!(
            v["data"][0]["embedding"].as_array().unwrap().len(),
            4,
            "{}: {v}",
            f.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_parameter_is_a_400_naming_it_unless_drop_params() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config(&FAMILIES[0], &mock)).await;
    let mut body = chat(false);
    body["logit_bias"] = json!({"50256": -100});
    let e = expect_error(post(&gw, "/v1/chat/completions", &body).await, 400).await;
    assert!(e["message"].as_str().unwrap().contains("logit_bias"), "{e}");
    assert_eq!(mock.request_count(), 0);
    let yaml = config(&FAMILIES[0], &mock) + "litellm_settings:\n  drop_params: true\n";
    let gw = Gateway::start(&yaml).await;
    assert_eq!(post(&gw, "/v1/chat/completions", &body).await.status(), 200);
    assert!(calls(&mock)[0].json().unwrap().get("logit_bias").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_in_stream_error_ends_the_openai_stream_with_an_error_event() {
    let cfg = MockConfig {
        chunks: 5,
        stream_error_after_chunks: Some(2),
        chunk_interval: Duration::from_millis(10),
        ..MockConfig::default()
    };
    let mock = MockServer::start(cfg).await.unwrap();
    let gw = Gateway::start(&config(&FAMILIES[0], &mock)).await;
    let r = post(&gw, "/v1/chat/completions", &chat(true)).await;
    let mut body = r.bytes_stream();
    let mut all = Vec::new();
    while let Some(c) = body.next().await {
        all.extend_from_slice(&c.unwrap());
    }
    let text = String::from_utf8(all).unwrap();
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    let v: Value = serde_json::from_str(last.strip_prefix("data: ").unwrap()).unwrap();
    assert!(v["error"]["message"].as_str().is_some(), "{text}");
    assert!(!text.contains("[DONE]"));
}

/// Serves one PNG-ish body at `/cat.png` on loopback, forever.
async fn image_server(bytes: &'static [u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head = format!("HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", bytes.len());
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(bytes).await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_urls_are_fetched_and_inlined_for_providers_that_need_bytes() {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\nnot-really-a-png-but-bytes";
    let port = image_server(PNG).await;
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let body = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": format!("http://127.0.0.1:{port}/cat.png")}}]}]});

    // By default a client cannot make the gateway fetch from a private address.
    let gw = Gateway::start(&config(&FAMILIES[2], &mock)).await;
    let e = expect_error(post(&gw, "/v1/chat/completions", &body).await, 400).await;
    assert!(
        e["message"].as_str().unwrap().contains("private address"),
        "{e}"
    );
    assert_eq!(mock.request_count(), 0);

    let yaml =
        config(&FAMILIES[2], &mock) + "tollgate_settings:\n  image_fetch_allow_private: true\n";
    let gw = Gateway::start(&yaml).await;
    assert_eq!(post(&gw, "/v1/chat/completions", &body).await.status(), 200);
    let sent = calls(&mock)[0].json().unwrap();
    use base64::Engine;
    let expected = base64::engine::general_purpose::STANDARD.encode(PNG);
    assert_eq!(sent["messages"][0]["images"][0], expected, "{sent}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vertex_fetches_one_oauth_token_and_reuses_it() {
    let mock = MockServer::start(MockConfig {
        require_oauth_token: true,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let vertex = FAMILIES.iter().find(|f| f.name == "vertex_ai").unwrap();
    let gw = Gateway::start(&config(vertex, &mock)).await;
    for _ in 0..5 {
        assert_eq!(
            post(&gw, "/v1/chat/completions", &chat(false))
                .await
                .status(),
            200
        );
    }
    // The refresher may have fetched it before the first request; either way, once.
    assert_eq!(mock.token_requests(), 1);
    let token = calls(&mock)[0].header("authorization").unwrap().to_string();
    assert!(calls(&mock)
        .iter()
        .all(|r| r.header("authorization") == Some(token.as_str())));
}

#[test]
fn cloud_settings_are_checked_at_load() {
    let dir = scratch_dir();
    let f = dir.join("c.yaml");
    std::fs::write(&f, "model_list:\n  - model_name: b\n    litellm_params:\n      model: bedrock/anthropic.claude\n  - model_name: v\n    litellm_params:\n      model: vertex_ai/gemini-pro\n").unwrap();
    let out = std::process::Command::new(tollgate_bin())
        .args(["--check", "-c"])
        .arg(&f)
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("model_list[0].litellm_params.aws_region_name"),
        "{err}"
    );
    assert!(
        err.contains("model_list[1].litellm_params.vertex_credentials"),
        "{err}"
    );
}

/// A Vertex AI deployment a config reload adds gets its OAuth token renewed in the background,
/// as one present at start does: the token is fetched before any request needs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vertex_deployment_added_by_a_reload_fetches_its_token_in_the_background() {
    let mock = MockServer::start(MockConfig {
        require_oauth_token: true,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let openai = FAMILIES.iter().find(|f| f.name != "vertex_ai").unwrap();
    let vertex = FAMILIES.iter().find(|f| f.name == "vertex_ai").unwrap();
    let gw = Gateway::start(&config(openai, &mock)).await;
    std::fs::write(gw.dir().join("config.yaml"), config(vertex, &mock)).unwrap();
    let r = client()
        .post(gw.url("/config/reload"))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while mock.token_requests() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no token fetched in the background\n{}",
            gw.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        post(&gw, "/v1/chat/completions", &chat(false))
            .await
            .status(),
        200
    );
    assert_eq!(mock.token_requests(), 1);
}
