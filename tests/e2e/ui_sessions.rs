//! E2E: the admin UI's login sessions (`/ui/login`, `/ui/session`, `/ui/logout`): the cookie's
//! flags, cookie authentication of the management API, CSRF on every cookie-authenticated state
//! change, expiry, the bounded table, and a key's session ending when the key is blocked.

use std::time::Duration;

use serde_json::{json, Value};

use crate::admin_support::*;
use crate::support::*;

/// `tollgate_session=<id>` from a login answer's `Set-Cookie`, and the whole header.
fn session_cookie(resp: &reqwest::Response) -> (String, String) {
    let set = header(resp, "set-cookie");
    let pair = set.split(';').next().unwrap().trim().to_string();
    assert!(pair.starts_with("tollgate_session="), "{set}");
    (pair, set)
}

async fn login(gw: &Gateway, key: &str) -> (String, Value) {
    let resp = client()
        .post(gw.url("/ui/login"))
        .json(&json!({"key": key}))
        .send()
        .await
        .unwrap();
    let (cookie, _) = session_cookie(&resp);
    (cookie, ok(resp).await)
}

fn with_cookie(rb: reqwest::RequestBuilder, cookie: &str) -> reqwest::RequestBuilder {
    rb.header("cookie", format!("theme=dark; {cookie}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_cookie_is_httponly_strict_and_authenticates_the_management_api() {
    let gw = start_keys().await;
    let resp = client()
        .post(gw.url("/ui/login"))
        .json(&json!({"key": MASTER_KEY}))
        .send()
        .await
        .unwrap();
    let (cookie, set) = session_cookie(&resp);
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(flag), "{flag} missing: {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: no Secure flag: {set}");
    assert!(
        !set.contains(MASTER_KEY),
        "the key never goes in the cookie"
    );
    let body = ok(resp).await;
    assert_eq!(body["role"], "admin");
    let csrf = body["csrf_token"].as_str().unwrap().to_string();
    assert!(csrf.len() >= 40, "{body}");
    assert!(body["expires_at"].is_string() && body["expires_at_ms"].is_i64());
    assert!(!body.to_string().contains(MASTER_KEY));

    // Behind a TLS front, the cookie is Secure.
    let tls = client()
        .post(gw.url("/ui/login"))
        .header("x-forwarded-proto", "https")
        .json(&json!({"key": MASTER_KEY}))
        .send()
        .await
        .unwrap();
    assert!(header(&tls, "set-cookie").contains("; Secure"));

    // The session answers who is logged in, with the same CSRF token.
    let me = ok(with_cookie(client().get(gw.url("/ui/session")), &cookie)
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(me["role"], "admin");
    assert_eq!(me["csrf_token"], csrf.as_str());

    // Reads with the cookie alone.
    let list = with_cookie(client().get(gw.url("/key/list")), &cookie)
        .send()
        .await
        .unwrap();
    ok(list).await;

    // A write with the cookie needs the CSRF token: missing or wrong → 403, right → 200.
    let body = json!({"key_alias": "from-the-ui"});
    let no_csrf = with_cookie(client().post(gw.url("/key/generate")), &cookie)
        .json(&body)
        .send()
        .await
        .unwrap();
    let e = expect_error(no_csrf, 403).await;
    assert!(e["message"].as_str().unwrap().contains("CSRF"), "{e}");
    let wrong = with_cookie(client().post(gw.url("/key/generate")), &cookie)
        .header("x-csrf-token", "A".repeat(csrf.len()))
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_error(wrong, 403).await;
    let listed = ok(get(&gw, "/key/list?key_alias=from-the-ui").await).await;
    assert_eq!(listed["keys"].as_array().map(Vec::len), Some(0), "{listed}");
    let made = with_cookie(client().post(gw.url("/key/generate")), &cookie)
        .header("x-csrf-token", &csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    let made = ok(made).await;
    assert_eq!(made["key_alias"], "from-the-ui");

    // A Bearer key needs no CSRF token (scripts are unaffected).
    ok(post(&gw, "/key/generate", &json!({"key_alias": "script"})).await).await;

    // Without a cookie or key: 401. A made-up cookie: 401.
    expect_error(client().get(gw.url("/key/list")).send().await.unwrap(), 401).await;
    let forged = client()
        .get(gw.url("/key/list"))
        .header("cookie", "tollgate_session=forged")
        .send()
        .await
        .unwrap();
    expect_error(forged, 401).await;
    // The cookie never authenticates an LLM route.
    let llm = with_cookie(client().post(gw.url("/v1/chat/completions")), &cookie)
        .json(&json!({"model": "model-a", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    expect_error(llm, 401).await;

    // Logout needs the CSRF token too; afterwards the cookie is dead and cleared.
    let bad_logout = with_cookie(client().post(gw.url("/ui/logout")), &cookie)
        .send()
        .await
        .unwrap();
    expect_error(bad_logout, 403).await;
    let out = with_cookie(client().post(gw.url("/ui/logout")), &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert!(header(&out, "set-cookie").contains("Max-Age=0"));
    ok(out).await;
    let after = with_cookie(client().get(gw.url("/key/list")), &cookie)
        .send()
        .await
        .unwrap();
    expect_error(after, 401).await;
    let gone = with_cookie(client().get(gw.url("/ui/session")), &cookie)
        .send()
        .await
        .unwrap();
    expect_error(gone, 401).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_gets_no_session_and_a_virtual_keys_session_ends_when_it_is_blocked() {
    let gw = start_keys().await;
    for body in [json!({"key": "sk-nope"}), json!({}), json!({"key": ""})] {
        let resp = client()
            .post(gw.url("/ui/login"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(resp.headers().get("set-cookie").is_none());
        assert!(matches!(resp.status().as_u16(), 400 | 401), "{body}");
    }
    // A form post (what another site could send without a preflight) is refused.
    let form = client()
        .post(gw.url("/ui/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("key={MASTER_KEY}"))
        .send()
        .await
        .unwrap();
    expect_error(form, 400).await;

    let key = generate(&gw, json!({"key_alias": "self-service"})).await;
    let secret = secret(&key);
    let (cookie, body) = login(&gw, &secret).await;
    assert_eq!(body["role"], "key");
    assert_eq!(body["key"]["token"], key["token"]);
    assert!(!body.to_string().contains(&secret));

    // A key's session sees its own key, and is refused admin routes.
    let own = with_cookie(client().get(gw.url("/key/info")), &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(ok(own).await["info"]["key_alias"], "self-service");
    let teams = with_cookie(client().get(gw.url("/team/list")), &cookie)
        .send()
        .await
        .unwrap();
    expect_error(teams, 403).await;

    ok(post(&gw, "/key/block", &json!({"key": secret})).await).await;
    let blocked = with_cookie(client().get(gw.url("/key/info")), &cookie)
        .send()
        .await
        .unwrap();
    expect_error(blocked, 401).await;
    // Unblocking does not revive the session: it was ended.
    ok(post(&gw, "/key/unblock", &json!({"key": secret})).await).await;
    let still = with_cookie(client().get(gw.url("/ui/session")), &cookie)
        .send()
        .await
        .unwrap();
    expect_error(still, 401).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_and_the_table_is_bounded() {
    let cfg = format!(
        "{}tollgate_settings:\n  ui_session_ttl_seconds: 1\n  ui_max_sessions: 2\n",
        keys_config(None)
    );
    let gw = Gateway::start(&cfg).await;
    let (first, body) = login(&gw, MASTER_KEY).await;
    assert!(
        body["expires_at_ms"].as_i64().unwrap() <= chrono::Utc::now().timestamp_millis() + 1_500,
        "{body}"
    );
    let (second, _) = login(&gw, MASTER_KEY).await;
    let (third, _) = login(&gw, MASTER_KEY).await;
    let status = |cookie: String| {
        let gw = &gw;
        async move {
            with_cookie(client().get(gw.url("/ui/session")), &cookie)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // At most two sessions: the oldest (closest to expiry) was dropped for the third.
    assert_eq!(status(first.clone()).await, 401);
    assert_eq!(status(second.clone()).await, 200);
    assert_eq!(status(third.clone()).await, 200);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(status(second).await, 401);
    assert_eq!(status(third).await, 401);
}
