//! Response caching, continued: a key's `allowed_cache_controls` (LiteLLM's 403 for a body
//! control the key may not use; header directives outside the list ignored).

use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::budgets::generate_key;
use crate::cache::{cache_config, chat, send};
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_may_send_only_its_allowed_cache_controls() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&cache_config(&mock.url(), "    type: local\n")).await;
    let limited = generate_key(&gw, json!({"allowed_cache_controls": ["no-cache"]})).await;
    let info: Value = client()
        .get(gw.url(&format!("/key/info?key={limited}")))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        info["info"]["allowed_cache_controls"],
        json!(["no-cache"]),
        "{info}"
    );
    let with = |cache: Value| {
        let mut b = chat("controlled");
        b["cache"] = cache;
        b
    };
    // A control outside the list: 403 as LiteLLM answers, the provider never called.
    let r = send(&gw, &limited, &with(json!({"no-store": true}))).await;
    assert_eq!(r.status(), 403);
    let e = r.json::<Value>().await.unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Not allowed to set no-store as a cache control"),
        "{e}"
    );
    assert_eq!(mock.requests().len(), 0);
    // One inside it: served (no lookup, stored).
    let r = send(&gw, &limited, &with(json!({"no-cache": true}))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(mock.requests().len(), 1);
    // The header form of a control outside the list is ignored, not obeyed: `no-store` from
    // this key still stores, so the next request hits.
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(&limited)
        .header("cache-control", "no-store")
        .json(&chat("by header"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = send(&gw, &limited, &chat("by header")).await;
    assert_eq!(header(&r, "x-litellm-cache-hit"), "True");
    assert_eq!(mock.requests().len(), 2);
    // An empty list (every key's default, and after /key/update): every control.
    let r = post(
        &gw,
        "/key/update",
        &json!({"key": limited, "allowed_cache_controls": []}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = send(&gw, &limited, &with(json!({"no-store": true}))).await;
    assert_eq!(r.status(), 200);
    let open = generate_key(&gw, json!({})).await;
    let r = send(&gw, &open, &with(json!({"no-store": true, "ttl": 5}))).await;
    assert_eq!(r.status(), 200);
}
