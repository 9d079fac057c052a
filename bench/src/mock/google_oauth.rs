//! Google's OAuth 2.0 token endpoint as a service account uses it for Vertex AI: `POST /token`
//! with the form `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>` →
//! `{"access_token":"ya29.mock-<n>","expires_in":3600,"token_type":"Bearer"}`; and the check
//! behind [`MockConfig::require_oauth_token`](super::MockConfig::require_oauth_token) that a
//! Vertex request carries a token issued here. The assertion's shape and claims are checked as
//! Google does (RS256 header; `iss`, `scope`, `aud`, `iat`, `exp` at most an hour apart and not
//! expired); its signature is not.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use hyper::header::HeaderMap;
use hyper::{Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::body::MockBody;
use super::dialect::Dialect;
use super::handler::{error_of_kind, full, unix_now};
use super::Shared;

/// Every access token the mock issues starts with this; `<n>` follows (1, 2, …).
pub(crate) const TOKEN_PREFIX: &str = "ya29.mock-";

/// The only grant type the endpoint accepts.
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// What `expires_in` says.
const EXPIRES_IN: u64 = 3600;

/// Answers `POST /token` (the caller has counted it).
pub(crate) fn token(shared: &Shared, body: &[u8]) -> Response<MockBody> {
    let form = parse_form(body);
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match field("grant_type") {
        Some(JWT_BEARER) => {}
        Some(other) => {
            let msg = format!("Invalid grant_type: {other}");
            return oauth_error("unsupported_grant_type", &msg);
        }
        None => return oauth_error("invalid_request", "Missing required parameter: grant_type"),
    }
    let Some(assertion) = field("assertion") else {
        return oauth_error("invalid_request", "Missing required parameter: assertion");
    };
    if let Err(msg) = check_assertion(assertion, unix_now()) {
        return oauth_error("invalid_grant", &msg);
    }
    let n = shared.tokens_issued.fetch_add(1, Ordering::AcqRel) + 1;
    #[derive(Serialize)]
    struct TokenResponse {
        access_token: String,
        expires_in: u64,
        token_type: &'static str,
    }
    let body = TokenResponse {
        access_token: format!("{TOKEN_PREFIX}{n}"),
        expires_in: EXPIRES_IN,
        token_type: "Bearer",
    };
    full(
        StatusCode::OK,
        Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
    )
}

fn oauth_error(kind: &str, message: &str) -> Response<MockBody> {
    error_of_kind(
        Dialect::GoogleOAuth,
        StatusCode::BAD_REQUEST,
        message,
        Some(kind),
    )
}

#[derive(Deserialize)]
struct JwtHeader {
    alg: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    scope: Option<String>,
    aud: Option<String>,
    iat: Option<i64>,
    exp: Option<i64>,
}

/// Checks a service-account assertion the way Google's endpoint does, minus the signature.
fn check_assertion(jwt: &str, now: u64) -> Result<(), String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err(format!(
            "Invalid JWT: expected 3 dot-separated parts, got {}",
            parts.len()
        ));
    };
    let decode = |what: &str, part: &str| {
        base64url_decode(part).ok_or_else(|| format!("Invalid JWT: {what} is not base64url"))
    };
    let header: JwtHeader = serde_json::from_slice(&decode("header", header)?)
        .map_err(|e| format!("Invalid JWT: header is not a JSON object: {e}"))?;
    if header.alg.as_deref() != Some("RS256") {
        return Err(format!(
            "Invalid JWT: alg must be RS256, got {:?}",
            header.alg.unwrap_or_default()
        ));
    }
    let claims: Claims = serde_json::from_slice(&decode("claim set", claims)?)
        .map_err(|e| format!("Invalid JWT: claim set is not a JSON object: {e}"))?;
    if decode("signature", signature)?.is_empty() {
        return Err("Invalid JWT Signature.".to_owned());
    }
    for (name, value) in [("iss", &claims.iss), ("aud", &claims.aud)] {
        if value.as_deref().is_none_or(str::is_empty) {
            return Err(format!("Invalid JWT: claim {name} is required"));
        }
    }
    if claims.scope.as_deref().is_none_or(str::is_empty) {
        return Err("Invalid OAuth scope or ID token audience provided.".to_owned());
    }
    let (Some(iat), Some(exp)) = (claims.iat, claims.exp) else {
        return Err("Invalid JWT: claims iat and exp are required".to_owned());
    };
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    // 5 minutes of clock skew either way.
    if exp <= iat || exp - iat > 3600 || exp < now - 300 || iat > now + 300 {
        return Err(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a \
                    reasonable timeframe. Check your iat and exp values in the JWT claim."
                .to_owned(),
        );
    }
    Ok(())
}

/// `Ok` when `authorization` is `Bearer ya29.mock-<n>` for a token this mock issued.
pub(crate) fn check_access_token(shared: &Shared, headers: &HeaderMap) -> Result<(), &'static str> {
    let issued = shared.tokens_issued.load(Ordering::Acquire);
    let valid = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .and_then(|(_, token)| token.trim().strip_prefix(TOKEN_PREFIX))
        .and_then(|n| n.parse::<u64>().ok())
        .is_some_and(|n| (1..=issued).contains(&n));
    if valid {
        Ok(())
    } else {
        Err(
            "Request had invalid authentication credentials. Expected OAuth 2 access token, \
             login cookie or other valid authentication credential. See \
             https://developers.google.com/identity/sign-in/web/devconsole-project.",
        )
    }
}

/// `application/x-www-form-urlencoded` pairs, percent-decoded (`+` is a space).
fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    body.split(|&b| b == b'&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = match kv.iter().position(|&b| b == b'=') {
                Some(i) => (&kv[..i], &kv[i + 1..]),
                None => (kv, &b""[..]),
            };
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &[u8]) -> String {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => match (hex(s[i + 1]), hex(s[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// base64url (RFC 4648 §5), padding optional; `None` on any other character.
fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let val = |c: u8| -> Option<u32> {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        Some(u32::from(v))
    };
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

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

    fn jwt(header: &Value, claims: &Value) -> String {
        format!(
            "{}.{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes()),
            b64url(b"not-a-real-signature")
        )
    }

    #[test]
    fn base64url_round_trips() {
        for len in 0..40u8 {
            let raw: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37) ^ 0xa5).collect();
            assert_eq!(base64url_decode(&b64url(&raw)).unwrap(), raw, "len {len}");
        }
        assert_eq!(base64url_decode("Zm9vYg==").unwrap(), b"foob");
        assert_eq!(base64url_decode("Zm9v+g"), None);
        assert_eq!(base64url_decode("Z"), None);
    }

    #[test]
    fn form_is_percent_decoded() {
        let form = parse_form(b"grant_type=urn%3Aietf%3Aparams&a=b+c%2&x");
        assert_eq!(
            form,
            vec![
                ("grant_type".into(), "urn:ietf:params".into()),
                ("a".into(), "b c%2".into()),
                ("x".into(), String::new()),
            ]
        );
    }

    #[test]
    fn assertion_checks() {
        let now = 1_700_000_000u64;
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "k1"});
        let claims = serde_json::json!({
            "iss": "sa@p.iam.gserviceaccount.com",
            "scope": "https://www.googleapis.com/auth/cloud-platform",
            "aud": "https://oauth2.googleapis.com/token",
            "iat": now, "exp": now + 3600,
        });
        assert_eq!(check_assertion(&jwt(&header, &claims), now), Ok(()));
        let hs = serde_json::json!({"alg": "HS256"});
        let err = check_assertion(&jwt(&hs, &claims), now).unwrap_err();
        assert!(err.contains("RS256"), "{err}");
        let err = check_assertion("a.b", now).unwrap_err();
        assert!(err.contains("3 dot-separated"), "{err}");
        let mut long = claims.clone();
        long["exp"] = (now + 7200).into();
        assert!(check_assertion(&jwt(&header, &long), now).is_err());
        // Expired an hour ago.
        assert!(check_assertion(&jwt(&header, &claims), now + 7200).is_err());
        let mut no_scope = claims.clone();
        no_scope.as_object_mut().unwrap().remove("scope");
        assert!(check_assertion(&jwt(&header, &no_scope), now).is_err());
    }
}
