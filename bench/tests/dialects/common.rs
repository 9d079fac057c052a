//! Helpers shared by the dialect tests.

use bench::client::{Client, Request, Response};
use bench::mock::{MockConfig, MockServer};
use serde_json::Value;

pub const CONTENT: &str = "Hello from the mock provider.";
pub const ARGS: &str = r#"{"city": "Paris", "unit": "celsius"}"#;

pub async fn mock() -> MockServer {
    MockServer::start(MockConfig::default()).await.unwrap()
}

/// Sends `body` (JSON text) to `path` with `headers` (content-type added).
pub async fn send(
    mock: &MockServer,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> Response {
    try_send(mock, path, headers, body).await.expect("request")
}

pub async fn try_send(
    mock: &MockServer,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> std::io::Result<Response> {
    let body = body.to_string();
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    Client::new(mock.addr)
        .send(&Request {
            method: "POST",
            path,
            headers: &all,
            body: body.as_bytes(),
        })
        .await
}

/// Sends `body` as is to `path` with exactly `headers` (no content-type added).
pub async fn send_raw(
    mock: &MockServer,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    Client::new(mock.addr)
        .send(&Request {
            method: "POST",
            path,
            headers,
            body,
        })
        .await
        .expect("request")
}

pub async fn get(mock: &MockServer, path: &str) -> Response {
    Client::new(mock.addr)
        .send(&Request {
            method: "GET",
            path,
            headers: &[],
            body: b"",
        })
        .await
        .expect("request")
}

/// Merges `extra`'s fields into `base`.
pub fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

/// The body as text.
pub fn text(resp: &Response) -> &str {
    std::str::from_utf8(&resp.body).expect("utf-8 body")
}
