//! Stage 2: body size cap, JSON parsing and required fields, each with a clear 4xx.

use bench::mock::{MockConfig, MockServer};
use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_incomplete_bodies_are_400_naming_the_field() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config_for(&mock.url(), "", "")).await;
    let c = client();

    let r = c
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .header("content-type", "application/json")
        .body("{\"model\": \"test-model\", \"messages\": [")
        .send()
        .await
        .unwrap();
    let e = expect_error(r, 400).await;
    assert!(
        e["message"].as_str().unwrap().contains("Invalid JSON"),
        "{e}"
    );

    let e = expect_error(
        post(&gw, "/v1/chat/completions", &json!({"messages": []})).await,
        400,
    )
    .await;
    assert_eq!(e["param"], "model");
    let e = expect_error(
        post(&gw, "/v1/chat/completions", &json!({"model": "test-model"})).await,
        400,
    )
    .await;
    assert_eq!(e["param"], "messages");
    let e = expect_error(
        post(&gw, "/v1/embeddings", &json!({"model": "test-model"})).await,
        400,
    )
    .await;
    assert_eq!(e["param"], "input");
    let e = expect_error(
        post(&gw, "/v1/completions", &json!({"model": "test-model"})).await,
        400,
    )
    .await;
    assert_eq!(e["param"], "prompt");
    assert_eq!(
        mock.request_count(),
        0,
        "nothing invalid reaches the provider"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_over_max_request_size_is_413_and_under_it_passes() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config_for(&mock.url(), "", "  max_request_size_mb: 1\n")).await;

    let big = "x".repeat(1024 * 1024 + 10);
    let body = json!({"model": "test-model", "messages": [{"role": "user", "content": big}]});
    let e = expect_error(post(&gw, "/v1/chat/completions", &body).await, 413).await;
    assert!(
        e["message"].as_str().unwrap().contains("Max size is 1 MB"),
        "{e}"
    );

    // The same, chunked (no content-length): still refused once the cap is crossed.
    let bytes = serde_json::to_vec(&body).unwrap();
    let stream = futures_util::stream::iter(
        bytes
            .chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    // The gateway may close the connection while the client is still sending; either way no
    // request reached the provider.
    if let Ok(r) = r {
        expect_error(r, 413).await;
    }

    let ok = json!({"model": "test-model", "messages": [{"role": "user", "content": "x".repeat(900 * 1024)}]});
    assert_eq!(post(&gw, "/v1/chat/completions", &ok).await.status(), 200);
    assert_eq!(mock.request_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_100_continue_gets_the_go_ahead_and_oversize_gets_413_first() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gw = Gateway::start_default().await;
    let body = serde_json::to_vec(
        &json!({"model": "tollgate-demo", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .unwrap();
    let head = |len: usize| {
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-tollgate-dev\r\nContent-Type: application/json\r\nContent-Length: {len}\r\nExpect: 100-continue\r\n\r\n"
        )
    };
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", gw.port))
        .await
        .unwrap();
    s.write_all(head(body.len()).as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_millis(500), s.read(&mut buf))
        .await
        .expect("no 100 Continue before the body was sent")
        .unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 100 Continue"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    s.write_all(&body).await.unwrap();
    let mut resp = Vec::new();
    while !String::from_utf8_lossy(&resp).contains("chat.completion") {
        let n = s.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "connection closed: {}",
            String::from_utf8_lossy(&resp)
        );
        resp.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&resp).starts_with("HTTP/1.1 200"));

    // Over the cap: refused at once, without inviting the body.
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", gw.port))
        .await
        .unwrap();
    s.write_all(head(50 * 1024 * 1024).as_bytes())
        .await
        .unwrap();
    let n = s.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 413"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
}
