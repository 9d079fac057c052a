//! Admin UI login sessions: the bounded in-memory session table, the `tollgate_session` cookie,
//! and authenticating a management request by that cookie (with its CSRF check) when it carries
//! no key. The browser holds only a random id; the table keeps the SHA-256 digest of the key
//! the session was opened with, so every use re-checks that key (blocked, expired, deleted or
//! rotated master key end the session at once).

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use pingora::http::RequestHeader;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clock::now_ms_i64;
use crate::control::enforce::Caller;
use crate::control::Control;
use crate::error::GatewayError;
use crate::runtime::Runtime;

/// The session cookie's name.
pub const COOKIE: &str = "tollgate_session";
/// The header a cookie-authenticated state change must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// One live session.
#[derive(Clone)]
pub struct SessionInfo {
    /// SHA-256 of the key the session was opened with.
    pub key_digest: [u8; 32],
    pub csrf_token: String,
    pub expires_ms: i64,
}

/// The session table, keyed by the SHA-256 of the session id (the id itself is not kept, and
/// lookups do not compare secrets byte by byte).
#[derive(Default)]
pub struct Sessions {
    table: Mutex<HashMap<[u8; 32], SessionInfo>>,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn id_digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// Opens a session for the key with this digest; returns its id (the cookie value) and
    /// its info. Expired sessions are dropped first; when the table still holds `max`, the
    /// session closest to expiry is dropped.
    pub fn open(&self, key_digest: [u8; 32], ttl_ms: i64, max: usize) -> (String, SessionInfo) {
        let now = now_ms_i64();
        let id = random_token();
        let info = SessionInfo {
            key_digest,
            csrf_token: random_token(),
            expires_ms: now.saturating_add(ttl_ms),
        };
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if t.len() >= max {
            t.retain(|_, s| s.expires_ms > now);
        }
        while t.len() >= max.max(1) {
            let Some(oldest) = t.iter().min_by_key(|(_, s)| s.expires_ms).map(|(k, _)| *k) else {
                break;
            };
            t.remove(&oldest);
        }
        t.insert(id_digest(&id), info.clone());
        (id, info)
    }

    /// The live session with this id (an expired one is removed and not returned).
    pub fn find(&self, id: &str) -> Option<SessionInfo> {
        let d = id_digest(id);
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        match t.get(&d) {
            Some(s) if s.expires_ms > now_ms_i64() => Some(s.clone()),
            Some(_) => {
                t.remove(&d);
                None
            }
            None => None,
        }
    }

    /// Ends the session with this id, if any.
    pub fn close(&self, id: &str) {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        t.remove(&id_digest(id));
    }

    /// Live and not yet swept sessions.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.table.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The `tollgate_session` cookie's value, from any `Cookie` header.
pub fn cookie_id(req: &RequestHeader) -> Option<&str> {
    req.headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// The `Set-Cookie` value opening a session (`max_age_s` 0 clears it).
pub fn set_cookie(id: &str, max_age_s: i64, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        max_age_s.max(0),
        if secure { "; Secure" } else { "" }
    )
}

/// Whether a method changes state (and so needs the CSRF header under a cookie).
pub fn changes_state(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// Authenticates a management or read request: by its key header when it has one (exactly as
/// before sessions existed), else by its session cookie. A cookie-authenticated state change
/// must carry the session's CSRF token (else 403).
pub fn authenticate(
    sessions: &Sessions,
    control: &Control,
    runtime: &Runtime,
    req: &RequestHeader,
) -> Result<Caller, GatewayError> {
    if runtime.master_key_hash.is_none() || crate::lifecycle::auth::presented_key(req).is_some() {
        return crate::lifecycle::auth::authenticate(control, runtime, req);
    }
    let Some(id) = cookie_id(req) else {
        return Err(GatewayError::MissingKey);
    };
    let s = sessions.find(id).ok_or_else(|| {
        GatewayError::Denied(
            "Authentication Error - session expired or unknown; log in again".into(),
        )
    })?;
    if changes_state(req.method.as_str()) {
        let given = req
            .headers
            .get(CSRF_HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if !bool::from(given.ct_eq(s.csrf_token.as_bytes())) {
            return Err(GatewayError::Forbidden(
                "CSRF token missing or wrong: send the session's csrf_token in x-csrf-token".into(),
            ));
        }
    }
    let caller = crate::lifecycle::auth::caller_by_digest(control, runtime, &s.key_digest);
    if caller.is_err() {
        sessions.close(id);
    }
    caller
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_bounded_and_drops_the_session_closest_to_expiry() {
        let s = Sessions::default();
        let (first, _) = s.open([1; 32], 1_000, 2);
        let (second, _) = s.open([2; 32], 60_000, 2);
        let (third, _) = s.open([3; 32], 60_000, 2);
        assert_eq!(s.len(), 2);
        assert!(s.find(&first).is_none());
        assert!(s.find(&second).is_some());
        assert_eq!(s.find(&third).unwrap().key_digest, [3; 32]);
        s.close(&third);
        assert!(s.find(&third).is_none());
    }

    #[test]
    fn an_expired_session_is_not_found() {
        let s = Sessions::default();
        let (id, info) = s.open([1; 32], 0, 10);
        assert!(info.expires_ms <= now_ms_i64());
        assert!(s.find(&id).is_none());
        assert!(s.is_empty());
    }

    #[test]
    fn reads_the_cookie_among_others() {
        let mut r = RequestHeader::build("GET", b"/key/list", None).unwrap();
        r.insert_header("cookie", "a=1; tollgate_session=abc ; b=2")
            .unwrap();
        assert_eq!(cookie_id(&r), Some("abc"));
        let c = set_cookie("abc", 60, true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("Secure"));
    }
}
