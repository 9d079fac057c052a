//! Test support for the token source: the test-only key pair, key files, and a mock token
//! endpoint on loopback that verifies every assertion with the key's public half.
use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;

use jsonwebtoken::{DecodingKey, Validation};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// TEST-ONLY RSA-2048 key pair, generated for these unit tests with `openssl genrsa 2048`.
/// It signs nothing real and is not a credential of any account.
pub(super) const TEST_ONLY_PRIVATE_PEM: &str = include_str!("test-only-key.pem");
/// Public half of [`TEST_ONLY_PRIVATE_PEM`].
pub(super) const TEST_ONLY_PUBLIC_PEM: &str = include_str!("test-only-key.pub.pem");
pub(super) const EMAIL: &str = "tollgate-test@example-project.iam.gserviceaccount.com";

pub(super) fn key_json(token_uri: &str) -> String {
    json!({
        "type": "service_account",
        "project_id": "example-project",
        "private_key_id": "0123456789abcdef",
        "private_key": TEST_ONLY_PRIVATE_PEM,
        "client_email": EMAIL,
        "client_id": "1234567890",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    })
    .to_string()
}

pub(super) fn account(token_uri: &str) -> ServiceAccount {
    ServiceAccount::parse(&key_json(token_uri)).expect("test key parses")
}

pub(super) fn source(token_uri: &str) -> TokenSource {
    TokenSource::new(account(token_uri), Arc::new(Connector::new(None)))
}

/// The key's body (between the PEM armour lines), which no error or Debug output may show.
pub(super) fn key_body_line() -> &'static str {
    TEST_ONLY_PRIVATE_PEM.lines().nth(1).unwrap()
}

/// Verifies an assertion the way Google does: RS256 signature with the account's public
/// key, issuer, audience and expiry. Returns the claims.
pub(super) fn verify_assertion(jwt: &str, aud: &str) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(jwt).map_err(|e| e.to_string())?;
    if header.alg != Algorithm::RS256 || header.typ.as_deref() != Some("JWT") {
        return Err(format!("bad header {header:?}"));
    }
    let key = DecodingKey::from_rsa_pem(TEST_ONLY_PUBLIC_PEM.as_bytes()).unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[aud]);
    v.set_issuer(&[EMAIL]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
    let data = jsonwebtoken::decode::<Value>(jwt, &key, &v).map_err(|e| e.to_string())?;
    let c = data.claims;
    if c["scope"] != SCOPE {
        return Err(format!("bad scope {}", c["scope"]));
    }
    let (iat, exp) = (c["iat"].as_u64().unwrap(), c["exp"].as_u64().unwrap());
    if exp != iat + 3600 {
        return Err(format!("exp {exp} is not iat {iat} + 3600"));
    }
    Ok(c)
}

pub(super) fn decode_b64url(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    out
}

pub(super) fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

pub(super) fn parse_form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (form_decode(k), form_decode(v)))
        .collect()
}

/// What the mock answers to its n-th valid request (counting from 0): status and body.
type Reply = Arc<dyn Fn(usize) -> (u16, String) + Send + Sync>;

/// A token endpoint on 127.0.0.1 that checks each request like Google would (method, path,
/// content type, grant type, a verifiable assertion) and counts the valid ones.
pub(super) struct Mock {
    pub(super) uri: String,
    pub(super) hits: Arc<AtomicUsize>,
}

impl Mock {
    pub(super) async fn start(delay: Duration, reply: Reply) -> Mock {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!("http://{}/token", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let (u, h) = (uri.clone(), hits.clone());
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, u.clone(), h.clone(), delay, reply.clone()));
            }
        });
        Mock { uri, hits }
    }

    pub(super) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

pub(super) fn ok_token(n: usize, expires_in: u64) -> (u16, String) {
    let body = json!({
        "access_token": format!("ya29.test-token-{n}"),
        "expires_in": expires_in,
        "token_type": "Bearer",
    });
    (200, body.to_string())
}

pub(super) async fn serve(
    mut sock: TcpStream,
    uri: String,
    hits: Arc<AtomicUsize>,
    delay: Duration,
    reply: Reply,
) {
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = sock.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let mut chunk = [0u8; 4096];
        let n = sock.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).to_string();
    let host = uri.trim_start_matches("http://").trim_end_matches("/token");
    let check = || -> Result<(), String> {
        if !head.starts_with("post /token http/1.1\r\n") {
            return Err(format!("bad request line in {head:?}"));
        }
        if !head.contains("\r\ncontent-type: application/x-www-form-urlencoded\r\n") {
            return Err("not a form".into());
        }
        if !head.contains(&format!("\r\nhost: {host}\r\n")) {
            return Err("bad host header".into());
        }
        let form = parse_form(&body);
        if form.get("grant_type").map(String::as_str) != Some(GRANT_TYPE) {
            return Err(format!("bad grant_type in {body:?}"));
        }
        let jwt = form.get("assertion").ok_or("no assertion")?;
        verify_assertion(jwt, &uri)?;
        Ok(())
    };
    let (status, answer) = match check() {
        Ok(()) => {
            let n = hits.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            reply(n)
        }
        Err(why) => (
            400,
            json!({"error": "mock_rejected", "error_description": why}).to_string(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status} Mock\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{answer}",
        answer.len()
    );
    let _ = sock.write_all(response.as_bytes()).await;
    let _ = sock.shutdown().await;
}

pub(super) fn cached_token(src: &TokenSource) -> Option<String> {
    src.cache
        .load()
        .as_ref()
        .map(|c| c.token.expose().to_string())
}
