//! Azure OpenAI: OpenAI answers under `/openai/deployments/{deployment}/…?api-version=`.

use serde_json::{json, Value};

use crate::common::{mock, send, CONTENT};

const KEY: (&str, &str) = ("api-key", "azure-secret");

fn assert_openai_error(resp: &bench::client::Response, status: u16) -> Value {
    assert_eq!(resp.status, status);
    let v = resp.json().unwrap();
    assert!(v["error"]["message"].is_string(), "{v}");
    assert!(v["error"]["type"].is_string(), "{v}");
    assert!(v["error"].get("code").is_some(), "{v}");
    v
}

#[tokio::test]
async fn chat_completions_and_embeddings_use_the_deployment_as_model() {
    let mock = mock().await;
    let chat = json!({"messages": [{"role": "user", "content": "hi"}]});
    let path = "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21";
    let resp = send(&mock, path, &[KEY], &chat).await;
    assert_eq!(resp.status, 200);
    let v = resp.json().unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt4o-prod");
    assert_eq!(v["choices"][0]["message"]["content"], CONTENT);

    // Streamed, with a bearer token instead of api-key.
    let mut body = chat.clone();
    body["stream"] = json!(true);
    let resp = send(&mock, path, &[("authorization", "Bearer aad-token")], &body).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    let data = resp.sse_data();
    assert_eq!(data.last(), Some(&"[DONE]"));
    let first: Value = serde_json::from_str(data[0]).unwrap();
    assert_eq!(first["model"], "gpt4o-prod");

    let path = "/openai/deployments/ada/embeddings?api-version=2024-10-21";
    let v = send(&mock, path, &[KEY], &json!({"input": ["a", "b"]}))
        .await
        .json()
        .unwrap();
    assert_eq!(v["model"], "ada");
    assert_eq!(v["data"].as_array().unwrap().len(), 2);

    let path = "/openai/deployments/davinci/completions?api-version=2024-10-21";
    let v = send(&mock, path, &[KEY], &json!({"prompt": "x"}))
        .await
        .json()
        .unwrap();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["model"], "davinci");

    let recorded: Vec<String> = mock.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        recorded[0],
        "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(mock.requests()[0].header("api-key"), Some("azure-secret"));
}

#[tokio::test]
async fn api_version_and_key_are_required() {
    let mock = mock().await;
    let chat = json!({"messages": [{"role": "user", "content": "hi"}]});
    let resp = send(
        &mock,
        "/openai/deployments/d/chat/completions",
        &[KEY],
        &chat,
    )
    .await;
    let v = assert_openai_error(&resp, 400);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("api-version"));
    let resp = send(
        &mock,
        "/openai/deployments/d/chat/completions?api-version=",
        &[KEY],
        &chat,
    )
    .await;
    assert_openai_error(&resp, 400);
    let path = "/openai/deployments/d/chat/completions?api-version=2024-10-21";
    assert_openai_error(&send(&mock, path, &[], &chat).await, 401);
    assert_openai_error(
        &send(&mock, path, &[("authorization", "Basic eA==")], &chat).await,
        401,
    );
    // Auth failures do not consume fail_next; forced errors are OpenAI-shaped.
    mock.fail_next(1, 429);
    assert_openai_error(&send(&mock, path, &[], &chat).await, 401);
    let v = assert_openai_error(&send(&mock, path, &[KEY], &chat).await, 429);
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    assert_eq!(send(&mock, path, &[KEY], &chat).await.status, 200);
    assert_openai_error(
        &send(
            &mock,
            "/openai/deployments/d/images?api-version=1",
            &[KEY],
            &chat,
        )
        .await,
        404,
    );
}
