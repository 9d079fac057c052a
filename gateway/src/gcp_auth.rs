//! Google service-account OAuth2 access tokens for Vertex AI.
//!
//! A service-account key file (JSON) becomes short-lived access tokens through the JWT bearer
//! grant (RFC 7523, as Google documents it for service accounts): an RS256-signed assertion is
//! POSTed to the key's `token_uri`, which answers with an access token and its lifetime.
//!
//! [`TokenSource`] caches the token. [`TokenSource::token`] is the request-path call: a lock-free
//! read of the cached token while it has more than five minutes left; otherwise one fetch shared
//! by every concurrent caller. [`TokenSource::refresh_loop`] renews the token in the background
//! ten minutes before it expires, so the request path normally never waits for Google.
//!
//! HTTP goes through Pingora's pooled [`Connector`], with DNS resolved by tokio (never Pingora's
//! blocking resolver), SNI and certificate verification always on for `https` token URIs, and a
//! 10 s limit on the whole exchange.

// Not yet wired into the Vertex deployments; the lead engineer removes this when it is.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use bytes::{Bytes, BytesMut};
use conf::Secret;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pingora::connectors::http::Connector;
use pingora::http::RequestHeader;
use pingora::protocols::http::client::HttpSession;
use pingora::upstreams::peer::HttpPeer;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{watch, Mutex};

/// Google's token endpoint, used when the key file has no `token_uri`.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The OAuth scope requested: everything the service account's IAM roles allow (Vertex AI).
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// RFC 7523 grant type.
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Lifetime of the signed assertion (Google's maximum).
const ASSERTION_LIFETIME_SECS: u64 = 3600;
/// Limit on one token fetch: DNS, connect, TLS, request and response.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// [`TokenSource::token`] fetches a new token when the cached one has less than this left.
const MIN_REMAINING: Duration = Duration::from_secs(5 * 60);
/// The background loop renews this long before expiry (half the lifetime for shorter tokens),
/// ahead of [`MIN_REMAINING`], so requests keep finding a fresh token.
const REFRESH_AHEAD: Duration = Duration::from_secs(10 * 60);
/// Shortest interval between two background renewals, whatever the token's lifetime.
const MIN_REFRESH_GAP: Duration = Duration::from_secs(1);
/// When a fetch fails, [`TokenSource::token`] still serves a cached token with this much left.
const STILL_USABLE: Duration = Duration::from_secs(30);
/// Background retry backoff after a failed renewal: doubles from the first to the second.
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);
/// Largest token-endpoint response read.
const MAX_RESPONSE: usize = 64 * 1024;
/// Longest piece of a non-JSON error body quoted in an error message.
const MAX_QUOTED: usize = 200;

/// The fields of a Google service-account key file that the token flow needs.
/// `Debug` never prints the private key.
#[derive(Clone, Debug)]
pub struct ServiceAccount {
    pub client_email: String,
    /// PEM-encoded RSA private key (PKCS#8 `BEGIN PRIVATE KEY`, as Google issues it, or PKCS#1).
    pub private_key: Secret,
    /// Token endpoint; [`DEFAULT_TOKEN_URI`] when the key file has none.
    pub token_uri: String,
    pub project_id: String,
}

impl ServiceAccount {
    /// Parses a service-account key file's JSON content and checks that the private key is a
    /// usable RSA PEM key and the token URI a usable `http(s)` URL. Errors name the offending
    /// field and never quote the key file's content.
    pub fn parse(json: &str) -> Result<ServiceAccount, String> {
        let doc: Value = serde_json::from_str(json)
            .map_err(|e| format!("service account key is not valid JSON: {e}"))?;
        let Value::Object(fields) = doc else {
            return Err("service account key is not a JSON object".into());
        };
        let field = |name: &str| -> Result<Option<&str>, String> {
            match fields.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(format!("service account key: `{name}` is not a string")),
            }
        };
        let required = |name: &str| -> Result<&str, String> {
            match field(name)? {
                Some(s) if !s.trim().is_empty() => Ok(s),
                Some(_) => Err(format!("service account key: `{name}` is empty")),
                None => Err(format!("service account key: missing field `{name}`")),
            }
        };
        if let Some(kind) = field("type")? {
            if kind != "service_account" {
                return Err(format!(
                    "credentials of type {kind:?} are not a service account key \
                     (expected \"type\": \"service_account\")"
                ));
            }
        }
        let client_email = required("client_email")?.to_string();
        let private_key = Secret::new(required("private_key")?);
        let project_id = required("project_id")?.to_string();
        let token_uri = match field("token_uri")? {
            Some(s) if !s.trim().is_empty() => s.to_string(),
            _ => DEFAULT_TOKEN_URI.to_string(),
        };
        signing_key(&private_key)?;
        Endpoint::parse(&token_uri)?;
        Ok(ServiceAccount {
            client_email,
            private_key,
            token_uri,
            project_id,
        })
    }
}

/// The RS256 signing key; the error never quotes the key.
fn signing_key(pem: &Secret) -> Result<EncodingKey, String> {
    EncodingKey::from_rsa_pem(pem.expose().as_bytes()).map_err(|e| {
        format!("service account key: `private_key` is not a PEM-encoded RSA private key ({e})")
    })
}

/// Claims of the JWT bearer assertion.
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

/// The signed assertion: header `{"alg":"RS256","typ":"JWT"}`, claims
/// `{iss, scope, aud: token_uri, iat, exp: iat + 3600}`.
fn assertion(account: &ServiceAccount, key: &EncodingKey, iat: u64) -> Result<String, String> {
    let claims = Claims {
        iss: &account.client_email,
        scope: SCOPE,
        aud: &account.token_uri,
        iat,
        exp: iat + ASSERTION_LIFETIME_SECS,
    };
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, key)
        .map_err(|e| format!("signing the token request failed: {e}"))
}

/// The token endpoint, parsed from `token_uri`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint {
    tls: bool,
    /// Host name or IP literal without brackets: DNS lookup and SNI.
    host: String,
    port: u16,
    /// `Host` header value (port only when not the scheme's default).
    host_header: String,
    /// Path and query.
    path: String,
}

impl Endpoint {
    fn parse(uri: &str) -> Result<Endpoint, String> {
        let bad = |why: &str| format!("service account key: `token_uri` {uri:?} {why}");
        let parsed: http::Uri = uri
            .parse()
            .map_err(|e| bad(&format!("is not a URL: {e}")))?;
        let tls = match parsed.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad("is not an http:// or https:// URL")),
        };
        let authority = parsed.authority().ok_or_else(|| bad("has no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("must not contain user information"));
        }
        let raw_host = authority.host();
        let host = raw_host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(raw_host);
        if host.is_empty() {
            return Err(bad("has no host"));
        }
        let default_port = if tls { 443 } else { 80 };
        let port = authority.port_u16().unwrap_or(default_port);
        let host_header = if port == default_port {
            raw_host.to_string()
        } else {
            format!("{raw_host}:{port}")
        };
        let path = match parsed.path_and_query().map(|p| p.as_str()) {
            Some(p) if !p.is_empty() => p.to_string(),
            _ => "/".to_string(),
        };
        Ok(Endpoint {
            tls,
            host: host.to_string(),
            port,
            host_header,
            path,
        })
    }

    /// A peer for one connection, built like [`crate::upstream::Upstream::peer`]: SNI is the
    /// host name, so certificate verification is never silently off.
    fn peer(&self, addr: SocketAddr) -> HttpPeer {
        let mut peer = HttpPeer::new(addr, self.tls, self.host.clone());
        let opts = &mut peer.options;
        opts.connection_timeout = Some(FETCH_TIMEOUT);
        opts.total_connection_timeout = Some(FETCH_TIMEOUT);
        opts.read_timeout = Some(FETCH_TIMEOUT);
        opts.write_timeout = Some(FETCH_TIMEOUT);
        opts.verify_cert = true;
        opts.verify_hostname = true;
        peer
    }
}

/// A cached access token.
struct Cached {
    token: Secret,
    expires_at: Instant,
    /// When the background loop renews it.
    refresh_at: Instant,
}

/// Which cached tokens a refresh replaces.
#[derive(Clone, Copy)]
enum Due {
    /// Less than [`MIN_REMAINING`] left (request path).
    Stale,
    /// Past its `refresh_at` (background loop).
    Ahead,
}

impl Due {
    fn applies(self, c: &Cached, now: Instant) -> bool {
        match self {
            Due::Stale => c.expires_at <= now + MIN_REMAINING,
            Due::Ahead => now >= c.refresh_at,
        }
    }
}

/// What the key and token URI turned into; an error when the [`ServiceAccount`] was built by
/// hand with bad values (every fetch then reports it).
struct Prepared {
    key: EncodingKey,
    endpoint: Endpoint,
}

/// The outcome of the latest fetch, shared with callers that waited for it.
type Outcome = Result<Arc<Cached>, String>;

/// OAuth2 access tokens for one service account: cached, shared, renewed before expiry.
pub struct TokenSource {
    account: ServiceAccount,
    prepared: Result<Prepared, String>,
    connector: Arc<Connector>,
    /// The current token; read without locking.
    cache: ArcSwapOption<Cached>,
    /// Held for the duration of a fetch (single flight); holds the latest fetch's outcome.
    flight: Mutex<Option<Outcome>>,
    /// Completed fetches; a caller that saw it change while waiting takes the latest outcome.
    fetches: AtomicU64,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("client_email", &self.account.client_email)
            .field("token_uri", &self.account.token_uri)
            .field("has_token", &self.cache.load().is_some())
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    pub fn new(account: ServiceAccount, connector: Arc<Connector>) -> Self {
        let prepared = signing_key(&account.private_key).and_then(|key| {
            Ok(Prepared {
                key,
                endpoint: Endpoint::parse(&account.token_uri)?,
            })
        });
        TokenSource {
            account,
            prepared,
            connector,
            cache: ArcSwapOption::empty(),
            flight: Mutex::new(None),
            fetches: AtomicU64::new(0),
        }
    }

    /// The service account the tokens are for.
    pub fn account(&self) -> &ServiceAccount {
        &self.account
    }

    /// An access token with more than five minutes left: the cached one (no lock, no await),
    /// or a new one fetched now, one fetch shared by all concurrent callers. If the fetch fails
    /// while the cached token is still valid for a while, that token is returned.
    pub async fn token(&self) -> Result<String, String> {
        {
            let cached = self.cache.load();
            if let Some(c) = cached.as_ref() {
                if !Due::Stale.applies(c, Instant::now()) {
                    return Ok(c.token.expose().to_string());
                }
            }
        }
        match self.refresh(Due::Stale).await {
            Ok(c) => Ok(c.token.expose().to_string()),
            Err(e) => match self.cache.load_full() {
                Some(c) if c.expires_at > Instant::now() + STILL_USABLE => {
                    log::warn!(
                        "{e}; using the cached token of {}, which expires in {}s",
                        self.account.client_email,
                        c.expires_at
                            .saturating_duration_since(Instant::now())
                            .as_secs()
                    );
                    Ok(c.token.expose().to_string())
                }
                _ => Err(e),
            },
        }
    }

    /// Renews the token in the background ahead of its expiry (ten minutes before, or half its
    /// lifetime for short-lived tokens), retrying failures with exponential backoff (1 s to
    /// 60 s). Returns when `shutdown` turns `true` or its sender is dropped. Never panics.
    pub async fn refresh_loop(&self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = RETRY_MIN;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let wait = self
                .cache
                .load()
                .as_ref()
                .map(|c| c.refresh_at.saturating_duration_since(Instant::now()))
                .unwrap_or_default();
            if !wait.is_zero() {
                if !sleep_unless_shutdown(wait, &mut shutdown).await {
                    return;
                }
                continue;
            }
            let outcome = tokio::select! {
                r = self.refresh(Due::Ahead) => r,
                _ = shutdown_signalled(&mut shutdown) => return,
            };
            match outcome {
                Ok(_) => backoff = RETRY_MIN,
                Err(e) => {
                    log::warn!("{e}; retrying in {}s", backoff.as_secs());
                    if !sleep_unless_shutdown(backoff, &mut shutdown).await {
                        return;
                    }
                    backoff = (backoff * 2).min(RETRY_MAX);
                }
            }
        }
    }

    /// Replaces the cached token if `due` says so, one fetch at a time. A caller that waited
    /// while another fetch completed takes that fetch's outcome instead of fetching again.
    async fn refresh(&self, due: Due) -> Outcome {
        let seen = self.fetches.load(Ordering::Acquire);
        let mut latest = self.flight.lock().await;
        if let Some(c) = self.cache.load_full() {
            if !due.applies(&c, Instant::now()) {
                return Ok(c);
            }
        }
        if self.fetches.load(Ordering::Acquire) != seen {
            if let Some(outcome) = latest.as_ref() {
                return outcome.clone();
            }
        }
        let outcome = self.fetch().await.map(Arc::new);
        if let Ok(c) = &outcome {
            self.cache.store(Some(c.clone()));
        }
        *latest = Some(outcome.clone());
        self.fetches.fetch_add(1, Ordering::Release);
        outcome
    }

    /// One token request, bounded by [`FETCH_TIMEOUT`].
    async fn fetch(&self) -> Result<Cached, String> {
        let failed = |why: String| {
            format!(
                "Google OAuth token request for {} to {} failed: {why}",
                self.account.client_email, self.account.token_uri
            )
        };
        let prepared = self.prepared.as_ref().map_err(|e| failed(e.clone()))?;
        let started = Instant::now();
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let jwt = assertion(&self.account, &prepared.key, iat).map_err(failed)?;
        let form = format!(
            "grant_type={}&assertion={}",
            form_encode(GRANT_TYPE),
            form_encode(&jwt)
        );
        let (status, body) =
            match tokio::time::timeout(FETCH_TIMEOUT, self.post(&prepared.endpoint, form)).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(e)) => return Err(failed(e)),
                Err(_) => {
                    return Err(failed(format!(
                        "no answer within {}s",
                        FETCH_TIMEOUT.as_secs()
                    )))
                }
            };
        token_response(status, &body, started).map_err(failed)
    }

    /// Resolves the endpoint, connects (trying each address) and exchanges the form.
    async fn post(&self, ep: &Endpoint, form: String) -> Result<(u16, Bytes), String> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((ep.host.as_str(), ep.port))
            .await
            .map_err(|e| format!("DNS lookup of {} failed: {e}", ep.host))?
            .collect();
        if addrs.is_empty() {
            return Err(format!("DNS lookup of {} returned no addresses", ep.host));
        }
        let body = Bytes::from(form);
        let mut last_error = String::new();
        for addr in addrs {
            let peer = ep.peer(addr);
            match self.connector.get_http_session(&peer).await {
                Ok((session, _)) => {
                    return exchange(session, ep, body)
                        .await
                        .map_err(|e| format!("{addr}: {e}"))
                }
                Err(e) => last_error = format!("connect to {addr}: {e}"),
            }
        }
        Err(last_error)
    }
}

/// Sends the form and reads the whole response. The connection is closed afterwards (a token
/// request per ~50 minutes gains nothing from pooling).
async fn exchange(mut s: HttpSession, ep: &Endpoint, body: Bytes) -> Result<(u16, Bytes), String> {
    let result = async {
        let mut h =
            RequestHeader::build("POST", ep.path.as_bytes(), Some(6)).map_err(|e| e.to_string())?;
        let headers: [(&str, String); 6] = [
            ("host", ep.host_header.clone()),
            (
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            ),
            ("content-length", body.len().to_string()),
            ("accept", "application/json".to_string()),
            ("user-agent", "tollgate".to_string()),
            ("connection", "close".to_string()),
        ];
        for (name, value) in headers {
            h.insert_header(name, value).map_err(|e| e.to_string())?;
        }
        s.write_request_header(Box::new(h))
            .await
            .map_err(|e| format!("writing request: {e}"))?;
        s.write_request_body(body, true)
            .await
            .map_err(|e| format!("writing request: {e}"))?;
        s.finish_request_body()
            .await
            .map_err(|e| format!("writing request: {e}"))?;
        let status = loop {
            s.read_response_header()
                .await
                .map_err(|e| format!("reading response: {e}"))?;
            match s.response_header() {
                Some(h) if h.status.is_informational() => continue,
                Some(h) => break h.status.as_u16(),
                None => return Err("reading response: no response header".to_string()),
            }
        };
        let mut buf = BytesMut::new();
        while let Some(chunk) = s
            .read_response_body()
            .await
            .map_err(|e| format!("reading response: {e}"))?
        {
            if buf.len() + chunk.len() > MAX_RESPONSE {
                return Err(format!("response larger than {MAX_RESPONSE} bytes"));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok((status, buf.freeze()))
    }
    .await;
    s.shutdown().await;
    result
}

/// Reads the token endpoint's answer. `started` is when the request was made, so the cached
/// expiry errs on the early side.
fn token_response(status: u16, body: &[u8], started: Instant) -> Result<Cached, String> {
    let doc: Option<Value> = serde_json::from_slice(body).ok();
    if !(200..300).contains(&status) {
        let error = doc.as_ref().and_then(|d| d.get("error"));
        let error = match error {
            Some(Value::String(s)) => Some(s.clone()),
            // Some Google endpoints answer `{"error": {"code", "message", "status"}}`.
            Some(Value::Object(o)) => o
                .get("message")
                .or_else(|| o.get("status"))
                .and_then(Value::as_str)
                .map(str::to_string),
            _ => None,
        };
        let description = doc
            .as_ref()
            .and_then(|d| d.get("error_description"))
            .and_then(Value::as_str);
        return Err(match (error, description) {
            (Some(e), Some(d)) => format!("HTTP {status}: {e}: {d}"),
            (Some(e), None) => format!("HTTP {status}: {e}"),
            _ => format!("HTTP {status}: {}", quote(body)),
        });
    }
    let doc = doc.ok_or_else(|| format!("HTTP {status} with a body that is not JSON"))?;
    let token = match doc.get("access_token") {
        Some(Value::String(t)) if !t.is_empty() => t,
        _ => return Err("response has no `access_token`".into()),
    };
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("`access_token` is not usable in an Authorization header".into());
    }
    let expires_in = match doc.get("expires_in") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
    .ok_or("response has no valid `expires_in`")?;
    if let Some(kind) = doc.get("token_type").and_then(Value::as_str) {
        if !kind.eq_ignore_ascii_case("bearer") {
            return Err(format!("unexpected token_type {kind:?} (expected Bearer)"));
        }
    }
    let lifetime = Duration::from_secs(expires_in);
    let ahead = REFRESH_AHEAD.min(lifetime / 2);
    Ok(Cached {
        token: Secret::new(token.as_str()),
        expires_at: started + lifetime,
        refresh_at: started + (lifetime - ahead).max(MIN_REFRESH_GAP),
    })
}

/// The start of a non-JSON body, printable characters only.
fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .chars()
        .take(MAX_QUOTED)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > MAX_QUOTED {
        out.push('…');
    }
    if out.trim().is_empty() {
        "empty body".to_string()
    } else {
        out
    }
}

/// `application/x-www-form-urlencoded` value encoding.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 16);
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Sleeps for `d`; `false` if shutdown was signalled first.
async fn sleep_unless_shutdown(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = shutdown_signalled(shutdown) => false,
    }
}

/// Resolves when `shutdown` turns `true` or its sender is gone.
async fn shutdown_signalled(shutdown: &mut watch::Receiver<bool>) {
    // `wait_for` checks the current value first, so a signal sent earlier is not missed.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::AtomicUsize;

    use jsonwebtoken::{DecodingKey, Validation};
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// TEST-ONLY RSA-2048 key pair, generated for these unit tests with `openssl genrsa 2048`.
    /// It signs nothing real and is not a credential of any account.
    const TEST_ONLY_PRIVATE_PEM: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCzxjMaxSNj5ak0\n\
17ObVx6RQDeWe7fL+/l48LP+mzGw4rCKQuLHJN3NMpPW/toZUz4EV//a5FRUDlR/\n\
a1Q3szR1HsPsXMHE9HL1hNErparwCdbQZACjBvqM1SVh1hYpBmv8uPzfpa+OP0rc\n\
m0H9/k4KTrFIp6BewFgk4zrdQtdTFUR1S67NC+8PoNSGFus2Bfn+UNanTOhkhP9p\n\
ai+uYQJaGTSDqriI8PJY+YGbRCfYbVchlrvrapyiAsuEYdV2I5bXet8Ri1RMUmco\n\
dLxA2ssxQNTd2UHHGG7VWSIHNdCqD2HNghFVfrYecv3MeSAiSWRHzpyGI3OBoJbf\n\
b92J3MkBAgMBAAECggEABvhNVrsQixjf4KpOQdyn7qMjpJd2W34qjXHtOjCJ+PaV\n\
0dgT0vtbobWIytVsEkt9nfOyRt1pMZSx2cc8NCg9nx7XiZLARnxHXe9NoGVJ0jwN\n\
0o8izfwayBpv2rIb5aPkmVJ4wP9umSBcecVUbF5Cm1Hl7xzkpSSZWXcsri048o64\n\
JNPUuTP9lYhJxzg/IvSOeKYgG0gHKc4V9Kc+aSgaUnl1JUZ7uYqOtl8T2B1AOMyO\n\
tz4ChQ0+gaLDj47+FzAVEy6Oud1wT0PgGiRsgqiB5hSPB0+ryXV7ela6LKQt1p2l\n\
hI3SpLpdHWjCTiwExmQg2zBLqffgUm0W51TRB6BxmwKBgQDoA9yzagbLLDFOVI4O\n\
kJDLZmRUb7qjezDjB4MRqHUtgBg0tYdmVdOCIIXFlwAVO78NJ3ET1qZzimWof3j9\n\
vzidq5YLXlwsNZGaD1jQ47Rng06YJnrFPG3ctnIEJWiz6tMcoZklO9hGK+PdeZKp\n\
MJzF8WClfVln6letVdBQso4VjwKBgQDGW9CTNMN4tX7jRGH8eT0PhWVdZELnDtLK\n\
Ob5EHgecX1nPUff6SpT0Z2IchHkTFJ4jER2ruN07VI+/SvobRUClcLlhzEE5U71Z\n\
Qxb1BIbnXPn0MCugkUTEfpN7PeIFM6z6TYljxyyQT8mKZvUeiI9I8FKTSzX2Htrr\n\
Kuy4RU+QbwKBgBarAe4Zhs5k4/BWPIbZwvvMZjMFs4NzbsRPoJOiFMi8QiEsNy1d\n\
Z0vIZ6l1ZlGsw67CUr7wctTJCcObqLOJ8jsdX4x+zJyZIz+dDj1icebHIm+lGsuY\n\
atdsj9kt2nvxjmy2sSK9JRU+BoZF8XlMQZTpT1r70zde4vAReUfZGh6rAoGBAMTU\n\
hvwL94voTaknSjRF+hlUvWkW/GxbgT+6XNsrEVJSK8RWCkQLjhOYIvs5WQteAi25\n\
5j9oid894gZoWBaHecaxPMOW84H3XoUc1cL8YwFieYWd5yzF+f8huycoGQggZx1Z\n\
o2OnWMk64zq7P7C0wboW/1m54CoCJCoHxi50WKdxAoGBAJbiPChv96uQs8cvygrM\n\
NHdADBQ8CMfVprZjJRG/Q5vHtLytg1SQuig9HQhliHQGN5U+howMrpdyQSWS0C85\n\
PqtGsklqEJlRtC0PzLd0mkzouAn6hadnBCgHtQYgUAAHpFZ+MXZN/aPsKyRKlD9y\n\
Z6cutIDNsZN1xCONjDjQ4U7s\n\
-----END PRIVATE KEY-----\n\
";
    /// Public half of [`TEST_ONLY_PRIVATE_PEM`].
    const TEST_ONLY_PUBLIC_PEM: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAs8YzGsUjY+WpNNezm1ce\n\
kUA3lnu3y/v5ePCz/psxsOKwikLixyTdzTKT1v7aGVM+BFf/2uRUVA5Uf2tUN7M0\n\
dR7D7FzBxPRy9YTRK6Wq8AnW0GQAowb6jNUlYdYWKQZr/Lj836Wvjj9K3JtB/f5O\n\
Ck6xSKegXsBYJOM63ULXUxVEdUuuzQvvD6DUhhbrNgX5/lDWp0zoZIT/aWovrmEC\n\
Whk0g6q4iPDyWPmBm0Qn2G1XIZa762qcogLLhGHVdiOW13rfEYtUTFJnKHS8QNrL\n\
MUDU3dlBxxhu1VkiBzXQqg9hzYIRVX62HnL9zHkgIklkR86chiNzgaCW32/didzJ\n\
AQIDAQAB\n\
-----END PUBLIC KEY-----\n\
";
    const EMAIL: &str = "tollgate-test@example-project.iam.gserviceaccount.com";

    fn key_json(token_uri: &str) -> String {
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

    fn account(token_uri: &str) -> ServiceAccount {
        ServiceAccount::parse(&key_json(token_uri)).expect("test key parses")
    }

    fn source(token_uri: &str) -> TokenSource {
        TokenSource::new(account(token_uri), Arc::new(Connector::new(None)))
    }

    /// The key's body (between the PEM armour lines), which no error or Debug output may show.
    fn key_body_line() -> &'static str {
        TEST_ONLY_PRIVATE_PEM.lines().nth(1).unwrap()
    }

    /// Verifies an assertion the way Google does: RS256 signature with the account's public
    /// key, issuer, audience and expiry. Returns the claims.
    fn verify_assertion(jwt: &str, aud: &str) -> Result<Value, String> {
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

    fn decode_b64url(s: &str) -> Vec<u8> {
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

    fn form_decode(s: &str) -> String {
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

    fn parse_form(body: &str) -> HashMap<String, String> {
        body.split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (form_decode(k), form_decode(v)))
            .collect()
    }

    /// What the mock answers to its n-th valid request (counting from 0): status and body.
    type Reply = Arc<dyn Fn(usize) -> (u16, String) + Send + Sync>;

    /// A token endpoint on 127.0.0.1 that checks each request like Google would (method, path,
    /// content type, grant type, a verifiable assertion) and counts the valid ones.
    struct Mock {
        uri: String,
        hits: Arc<AtomicUsize>,
    }

    impl Mock {
        async fn start(delay: Duration, reply: Reply) -> Mock {
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

        fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }
    }

    fn ok_token(n: usize, expires_in: u64) -> (u16, String) {
        let body = json!({
            "access_token": format!("ya29.test-token-{n}"),
            "expires_in": expires_in,
            "token_type": "Bearer",
        });
        (200, body.to_string())
    }

    async fn serve(
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

    fn cached_token(src: &TokenSource) -> Option<String> {
        src.cache
            .load()
            .as_ref()
            .map(|c| c.token.expose().to_string())
    }

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
}
