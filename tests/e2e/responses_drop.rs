//! E2E: built-in Responses tools on a bridged group. Codex CLI sends `web_search` with every
//! request; a group bridged to chat completions cannot run it, so Tollgate refuses it by name —
//! unless `drop_params` is on (in `litellm_settings`, on the deployment or in the request), when
//! the tool is left out and the function tools still reach the provider.

use serde_json::{json, Value};

use crate::responses::{create_with, last, output_text, start};
use crate::support::*;

fn body(extra: Value) -> Value {
    let mut b = json!({
        "model": "claude-r",
        "input": "Say hello",
        "tools": [
            {"type": "web_search", "external_web_access": false},
            {"type": "function", "name": "lookup", "description": "d",
             "parameters": {"type": "object", "properties": {}}}
        ]
    });
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

/// The tools the Anthropic mock received on its last `/v1/messages` call.
fn upstream_tools(mock: &bench::mock::MockServer) -> Vec<String> {
    let sent = last(mock, "/v1/messages").json().unwrap();
    sent["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .map(|t| t["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_built_in_tool_is_refused_by_name_unless_drop_params() {
    let (gw, mock) = start("").await;
    let r = create_with(&gw, MASTER_KEY, "/v1/responses", body(json!({}))).await;
    assert_eq!(r.status(), 400);
    let err: Value = r.json().await.unwrap();
    let msg = err["error"]["message"].as_str().unwrap();
    assert!(msg.contains("web_search"), "{msg}");

    // Per request.
    let r = create_with(
        &gw,
        MASTER_KEY,
        "/v1/responses",
        body(json!({"drop_params": true})),
    )
    .await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let v: Value = r.json().await.unwrap();
    assert!(!output_text(&v).is_empty());
    assert_eq!(upstream_tools(&mock), ["lookup"]);
    drop(gw);

    // In litellm_settings.
    let (gw, mock) = start("litellm_settings:\n  drop_params: true\n").await;
    let r = create_with(&gw, MASTER_KEY, "/v1/responses", body(json!({}))).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert_eq!(upstream_tools(&mock), ["lookup"]);
}
