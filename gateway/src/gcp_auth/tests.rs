//! Tests for the service-account token source, against the mock endpoint in `test_support`.
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use tokio::net::TcpListener;

use super::test_support::*;
use super::*;

#[test]
fn parses_a_key_file() {
    let a = account("https://oauth2.googleapis.com/token");
    assert_eq!(a.client_email, EMAIL);
    assert_eq!(a.project_id, "example-project");
    assert_eq!(a.token_uri, "https://oauth2.googleapis.com/token");
    assert_eq!(a.private_key.expose(), TEST_ONLY_PRIVATE_PEM);
    let shown = format!("{a:?}");
    assert!(!shown.contains(key_body_line()), "{shown}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");

    let mut doc: Value = serde_json::from_str(&key_json("x")).unwrap();
    doc.as_object_mut().unwrap().remove("token_uri");
    let a = ServiceAccount::parse(&doc.to_string()).unwrap();
    assert_eq!(a.token_uri, DEFAULT_TOKEN_URI);
}

#[test]
fn parse_errors_name_the_field_and_never_the_key() {
    let base: Value = serde_json::from_str(&key_json(DEFAULT_TOKEN_URI)).unwrap();
    let with = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut doc = base.clone();
        f(doc.as_object_mut().unwrap());
        ServiceAccount::parse(&doc.to_string()).unwrap_err()
    };
    for field in ["client_email", "private_key", "project_id"] {
        let e = with(&|m| {
            m.remove(field);
        });
        assert!(e.contains(&format!("missing field `{field}`")), "{e}");
        let e = with(&|m| {
            m.insert(field.into(), json!(""));
        });
        assert!(e.contains(&format!("`{field}` is empty")), "{e}");
    }
    let e = with(&|m| {
        m.insert("client_email".into(), json!(42));
    });
    assert!(e.contains("`client_email` is not a string"), "{e}");

    // A damaged key: the error says which field, and shows none of it.
    let damaged = TEST_ONLY_PRIVATE_PEM.replacen(key_body_line(), "AAAA", 1);
    let e = with(&|m| {
        m.insert("private_key".into(), json!(damaged));
    });
    assert!(
        e.contains("`private_key` is not a PEM-encoded RSA private key"),
        "{e}"
    );
    let second_line = TEST_ONLY_PRIVATE_PEM.lines().nth(2).unwrap();
    assert!(!e.contains(second_line) && !e.contains("BEGIN"), "{e}");
    let e = with(&|m| {
        m.insert("private_key".into(), json!("not a key at all"));
    });
    assert!(
        e.contains("`private_key`") && !e.contains("not a key at all"),
        "{e}"
    );

    let e = with(&|m| {
        m.insert("type".into(), json!("authorized_user"));
    });
    assert!(e.contains("authorized_user"), "{e}");
    let e = with(&|m| {
        m.insert("token_uri".into(), json!("ftp://example.com/token"));
    });
    assert!(e.contains("`token_uri`"), "{e}");

    let e = ServiceAccount::parse("{\"private_key\": \"-----BEGIN").unwrap_err();
    assert!(e.contains("not valid JSON") && !e.contains("BEGIN"), "{e}");
    let e = ServiceAccount::parse("[]").unwrap_err();
    assert!(e.contains("not a JSON object"), "{e}");
}

#[test]
fn token_uri_parsing() {
    let ep = Endpoint::parse("https://oauth2.googleapis.com/token").unwrap();
    assert_eq!(
        ep,
        Endpoint {
            tls: true,
            host: "oauth2.googleapis.com".into(),
            port: 443,
            host_header: "oauth2.googleapis.com".into(),
            path: "/token".into(),
        }
    );
    let ep = Endpoint::parse("http://[::1]:8080").unwrap();
    assert_eq!(
        (ep.tls, ep.host.as_str(), ep.port, ep.host_header.as_str()),
        (false, "::1", 8080, "[::1]:8080")
    );
    assert_eq!(ep.path, "/");
    let ep = Endpoint::parse("https://sts.example.com:8443/v1/token?x=1").unwrap();
    assert_eq!(ep.host_header, "sts.example.com:8443");
    assert_eq!(ep.path, "/v1/token?x=1");
    for bad in ["/token", "ftp://h/t", "https://user:pw@h/t", "not a url"] {
        assert!(Endpoint::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn assertion_is_a_verifiable_rs256_jwt() {
    let a = account(DEFAULT_TOKEN_URI);
    let key = signing_key(&a.private_key).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let jwt = assertion(&a, &key, now).unwrap();

    // The header, exactly.
    let raw = jwt.split('.').next().unwrap();
    assert!(!raw.contains('='), "base64url without padding");
    let header_json: Value = serde_json::from_slice(&decode_b64url(raw)).unwrap();
    assert_eq!(header_json, json!({"alg": "RS256", "typ": "JWT"}));

    let claims = verify_assertion(&jwt, DEFAULT_TOKEN_URI).unwrap();
    assert_eq!(
        claims,
        json!({
            "iss": EMAIL,
            "scope": "https://www.googleapis.com/auth/cloud-platform",
            "aud": DEFAULT_TOKEN_URI,
            "iat": now,
            "exp": now + 3600,
        })
    );

    // Signed by this key and no other: a tampered payload fails verification.
    let parts: Vec<&str> = jwt.split('.').collect();
    let forged = format!("{}.{}x.{}", parts[0], parts[1], parts[2]);
    assert!(verify_assertion(&forged, DEFAULT_TOKEN_URI).is_err());
    assert!(verify_assertion(&jwt, "https://other.example/token").is_err());
}

#[test]
fn form_encoding() {
    assert_eq!(
        form_encode(GRANT_TYPE),
        "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
    );
    assert_eq!(form_encode("aB9-_.x y/+="), "aB9-_.x+y%2F%2B%3D");
    assert_eq!(form_decode(&form_encode("a b:c/é")), "a b:c/é");
}

#[tokio::test]
async fn fetches_a_token_from_the_endpoint() {
    let mock = Mock::start(Duration::ZERO, Arc::new(|n| ok_token(n, 3599))).await;
    let src = source(&mock.uri);
    assert_eq!(src.token().await.unwrap(), "ya29.test-token-0");
    assert_eq!(mock.hits(), 1);
    let shown = format!("{src:?}");
    assert!(
        shown.contains("has_token: true") && !shown.contains("ya29"),
        "{shown}"
    );
}

#[tokio::test]
async fn caches_the_token() {
    let mock = Mock::start(Duration::ZERO, Arc::new(|n| ok_token(n, 3599))).await;
    let src = source(&mock.uri);
    let first = src.token().await.unwrap();
    for _ in 0..5 {
        assert_eq!(src.token().await.unwrap(), first);
    }
    assert_eq!(mock.hits(), 1, "later calls are served from the cache");
}

#[tokio::test]
async fn refetches_when_less_than_five_minutes_are_left() {
    // 299 s of lifetime is already inside the five-minute margin.
    let mock = Mock::start(Duration::ZERO, Arc::new(|n| ok_token(n, 299))).await;
    let src = source(&mock.uri);
    assert_eq!(src.token().await.unwrap(), "ya29.test-token-0");
    assert_eq!(src.token().await.unwrap(), "ya29.test-token-1");
    assert_eq!(mock.hits(), 2);

    // 310 s: fresh enough, cached.
    let mock = Mock::start(Duration::ZERO, Arc::new(|n| ok_token(n, 310))).await;
    let src = source(&mock.uri);
    src.token().await.unwrap();
    src.token().await.unwrap();
    assert_eq!(mock.hits(), 1);
}

#[tokio::test]
async fn concurrent_callers_share_one_fetch() {
    let mock = Mock::start(Duration::from_millis(300), Arc::new(|n| ok_token(n, 3599))).await;
    let src = source(&mock.uri);
    let calls = (0..10).map(|_| src.token());
    let tokens = futures_util::future::join_all(calls).await;
    for t in tokens {
        assert_eq!(t.unwrap(), "ya29.test-token-0");
    }
    assert_eq!(mock.hits(), 1);
}

#[tokio::test]
async fn concurrent_callers_on_separate_tasks_share_one_fetch() {
    let mock = Mock::start(Duration::from_millis(300), Arc::new(|n| ok_token(n, 3599))).await;
    let src = Arc::new(source(&mock.uri));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let src = src.clone();
            tokio::spawn(async move { src.token().await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), "ya29.test-token-0");
    }
    assert_eq!(mock.hits(), 1);
}

#[tokio::test]
async fn endpoint_errors_are_reported() {
    let mock = Mock::start(
        Duration::from_millis(200),
        Arc::new(|_| {
            let body = json!({
                "error": "invalid_grant",
                "error_description": "Invalid JWT Signature.",
            });
            (400, body.to_string())
        }),
    )
    .await;
    let src = source(&mock.uri);
    let e = src.token().await.unwrap_err();
    assert!(
        e.contains("HTTP 400: invalid_grant: Invalid JWT Signature."),
        "{e}"
    );
    assert!(e.contains(EMAIL) && e.contains(&mock.uri), "{e}");
    assert!(!e.contains(key_body_line()));
    assert_eq!(mock.hits(), 1);

    // A failing fetch is shared too: ten waiting callers get its error, not ten fetches.
    let results = futures_util::future::join_all((0..10).map(|_| src.token())).await;
    for r in results {
        assert!(r.unwrap_err().contains("invalid_grant"));
    }
    assert_eq!(mock.hits(), 2);
}

#[tokio::test]
async fn non_json_errors_and_bad_answers_are_reported() {
    let mock = Mock::start(
        Duration::ZERO,
        Arc::new(|n| match n {
            0 => (503, "<html>\nService Unavailable</html>".to_string()),
            1 => (200, json!({"expires_in": 3599}).to_string()),
            2 => (
                200,
                json!({"access_token": "t", "token_type": "MAC", "expires_in": 60}).to_string(),
            ),
            _ => (200, json!({"access_token": "t"}).to_string()),
        }),
    )
    .await;
    let src = source(&mock.uri);
    let e = src.token().await.unwrap_err();
    assert!(
        e.contains("HTTP 503: <html> Service Unavailable</html>"),
        "{e}"
    );
    let e = src.token().await.unwrap_err();
    assert!(e.contains("no `access_token`"), "{e}");
    let e = src.token().await.unwrap_err();
    assert!(e.contains("token_type"), "{e}");
    let e = src.token().await.unwrap_err();
    assert!(e.contains("`expires_in`"), "{e}");
}

#[tokio::test]
async fn unreachable_endpoint_is_an_error() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let src = source(&format!("http://127.0.0.1:{port}/token"));
    let e = src.token().await.unwrap_err();
    assert!(e.contains("connect to 127.0.0.1"), "{e}");
}

#[tokio::test]
async fn a_still_valid_token_outlives_a_failed_refresh() {
    let mock = Mock::start(
        Duration::ZERO,
        Arc::new(|n| match n {
            0 => ok_token(n, 200),
            _ => (500, json!({"error": "backend_error"}).to_string()),
        }),
    )
    .await;
    let src = source(&mock.uri);
    assert_eq!(src.token().await.unwrap(), "ya29.test-token-0");
    // 200 s left is inside the margin, so this tries to refresh, fails, and keeps the token.
    assert_eq!(src.token().await.unwrap(), "ya29.test-token-0");
    assert_eq!(mock.hits(), 2);
}

#[tokio::test]
async fn refresh_loop_renews_ahead_of_expiry_and_stops_on_shutdown() {
    // 2 s tokens: renewed every second (half their lifetime).
    let mock = Mock::start(Duration::ZERO, Arc::new(|n| ok_token(n, 2))).await;
    let src = Arc::new(source(&mock.uri));
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn({
        let src = src.clone();
        async move { src.refresh_loop(rx).await }
    });
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let hits = mock.hits();
    // Fetches at about 0 s, 1 s and 2 s (allowing for a loaded machine).
    assert!((2..=4).contains(&hits), "{hits} fetches in 2.5 s");
    assert_eq!(
        cached_token(&src).unwrap(),
        format!("ya29.test-token-{}", hits - 1)
    );
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("the loop stops on shutdown")
        .unwrap();
}

#[tokio::test]
async fn refresh_loop_retries_failures_with_backoff() {
    let mock = Mock::start(
        Duration::ZERO,
        Arc::new(|n| match n {
            0 | 1 => (503, json!({"error": "unavailable"}).to_string()),
            _ => ok_token(n, 3599),
        }),
    )
    .await;
    let src = Arc::new(source(&mock.uri));
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn({
        let src = src.clone();
        async move { src.refresh_loop(rx).await }
    });
    // Fails at 0 s, retries at 1 s (fails), then at 3 s (succeeds).
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(mock.hits(), 2);
    assert!(cached_token(&src).is_none());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(mock.hits(), 3);
    assert_eq!(cached_token(&src).unwrap(), "ya29.test-token-2");
    // The request path now finds the token without a fetch.
    assert_eq!(src.token().await.unwrap(), "ya29.test-token-2");
    assert_eq!(mock.hits(), 3);
    // Dropping the sender also stops the loop, which is asleep until renewal time.
    drop(stop);
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("the loop stops when the shutdown sender is gone")
        .unwrap();
}

#[tokio::test]
async fn refresh_loop_returns_at_once_when_already_shut_down() {
    let src = source("http://127.0.0.1:9/token");
    let (_stop, rx) = watch::channel(true);
    tokio::time::timeout(Duration::from_secs(1), src.refresh_loop(rx))
        .await
        .unwrap();
}

#[test]
fn futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let src = source(DEFAULT_TOKEN_URI);
    assert_send(&src.token());
    let (_stop, rx) = watch::channel(false);
    assert_send(&src.refresh_loop(rx));
}
