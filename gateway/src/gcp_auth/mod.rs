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
use std::time::{Duration, Instant};

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
        let iat = crate::clock::unix_now();
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

mod endpoint;

use endpoint::{exchange, form_encode, token_response, Endpoint};

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
