//! Google's OAuth token endpoint (`POST /token`, JWT bearer grant) and Vertex's
//! `require_oauth_token` check.

use std::time::{SystemTime, UNIX_EPOCH};

use bench::client::Response;
use bench::mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::common::{send, send_raw, text};

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
/// The grant type as clients send it: percent-encoded.
const GRANT: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer";
const VERTEX: &str = "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent";

fn b64url(raw: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in raw.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn jwt(alg: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = json!({"alg": alg, "typ": "JWT", "kid": "key-1"});
    let claims = json!({
        "iss": "svc@proj.iam.gserviceaccount.com",
        "scope": "https://www.googleapis.com/auth/cloud-platform",
        "aud": "https://oauth2.googleapis.com/token",
        "iat": now, "exp": now + 3600,
    });
    format!(
        "{}.{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes()),
        b64url(&[7u8; 256])
    )
}

async fn token_request(mock: &MockServer, form: &str) -> Response {
    send_raw(mock, "/token", &[FORM], form.as_bytes()).await
}

async fn get_token(mock: &MockServer) -> String {
    let resp = token_request(
        mock,
        &format!("grant_type={GRANT}&assertion={}", jwt("RS256")),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", text(&resp));
    resp.json().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn assert_oauth_error(resp: &Response, status: u16, error: &str) -> Value {
    assert_eq!(resp.status, status, "{}", text(resp));
    let v = resp.json().unwrap();
    assert_eq!(v["error"], error, "{v}");
    assert!(v["error_description"].is_string(), "{v}");
    v
}

fn gemini_body() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
}

#[tokio::test]
async fn issues_tokens_for_a_jwt_bearer_grant() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let assertion = jwt("RS256");
    let form = format!("grant_type={GRANT}&assertion={assertion}");
    let resp = token_request(&mock, &form).await;
    assert_eq!(resp.status, 200, "{}", text(&resp));
    assert_eq!(
        resp.json().unwrap(),
        json!({"access_token": "ya29.mock-1", "expires_in": 3600, "token_type": "Bearer"})
    );
    assert_eq!(get_token(&mock).await, "ya29.mock-2");
    assert_eq!(mock.token_requests(), 2);
    let rec = &mock.requests()[0];
    assert_eq!(rec.method, "POST");
    assert_eq!(rec.path, "/token");
    assert_eq!(&rec.body[..], form.as_bytes());

    // Counters reset; tokens already issued stay valid and numbering goes on.
    mock.reset();
    assert_eq!(mock.token_requests(), 0);
    assert_eq!(get_token(&mock).await, "ya29.mock-3");
}

#[tokio::test]
async fn rejects_bad_grants() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let good = jwt("RS256");
    let resp = token_request(
        &mock,
        &format!("grant_type=client_credentials&assertion={good}"),
    )
    .await;
    assert_oauth_error(&resp, 400, "unsupported_grant_type");
    let resp = token_request(&mock, &format!("assertion={good}")).await;
    assert_oauth_error(&resp, 400, "invalid_request");
    let resp = token_request(&mock, &format!("grant_type={GRANT}")).await;
    assert_oauth_error(&resp, 400, "invalid_request");
    for assertion in [
        jwt("HS256"),
        "header.claims".to_owned(),
        "a.b.c.d".to_owned(),
        "!!!.???.sig".to_owned(),
    ] {
        let resp = token_request(&mock, &format!("grant_type={GRANT}&assertion={assertion}")).await;
        let v = assert_oauth_error(&resp, 400, "invalid_grant");
        assert!(
            v["error_description"].as_str().unwrap().contains("JWT"),
            "{v}"
        );
    }
    assert_eq!(mock.token_requests(), 7);
    // None of them got a token: the next one is the first.
    assert_eq!(get_token(&mock).await, "ya29.mock-1");
}

#[tokio::test]
async fn vertex_requires_an_issued_token_when_configured() {
    let mock = MockServer::start(MockConfig {
        require_oauth_token: true,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let body = gemini_body();
    for bearer in ["Bearer ya29.mock", "Bearer ya29.mock-1", "Bearer some-key"] {
        let resp = send(&mock, VERTEX, &[("authorization", bearer)], &body).await;
        assert_eq!(resp.status, 401, "{bearer}: {}", text(&resp));
        assert_eq!(resp.json().unwrap()["error"]["status"], "UNAUTHENTICATED");
    }
    let token = get_token(&mock).await;
    let auth = format!("Bearer {token}");
    let resp = send(&mock, VERTEX, &[("authorization", auth.as_str())], &body).await;
    assert_eq!(resp.status, 200, "{}", text(&resp));
    // A token not issued yet is still refused.
    let resp = send(
        &mock,
        VERTEX,
        &[("authorization", "Bearer ya29.mock-2")],
        &body,
    )
    .await;
    assert_eq!(resp.status, 401);
    // AI Studio keeps using API keys.
    let studio = "/v1beta/models/gemini-2.0-flash:generateContent";
    let resp = send(&mock, studio, &[("x-goog-api-key", "AIza")], &body).await;
    assert_eq!(resp.status, 200);

    // Off (the default): any bearer token will do.
    mock.set_config(MockConfig::default());
    let resp = send(
        &mock,
        VERTEX,
        &[("authorization", "Bearer anything")],
        &body,
    )
    .await;
    assert_eq!(resp.status, 200);
}

#[tokio::test]
async fn fail_next_skips_the_token_endpoint_but_status_does_not() {
    let mock = MockServer::start(MockConfig {
        require_oauth_token: true,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    mock.fail_next(1, 503);
    let token = get_token(&mock).await;
    let auth = format!("Bearer {token}");
    let resp = send(
        &mock,
        VERTEX,
        &[("authorization", auth.as_str())],
        &gemini_body(),
    )
    .await;
    assert_eq!(resp.status, 503, "the Vertex call takes the failure");

    mock.set_config(MockConfig {
        status: Some(503),
        ..MockConfig::default()
    });
    let resp = token_request(
        &mock,
        &format!("grant_type={GRANT}&assertion={}", jwt("RS256")),
    )
    .await;
    assert_oauth_error(&resp, 503, "temporarily_unavailable");
    assert_eq!(mock.token_requests(), 2);
}
