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
mod tests;
