//! Stage 1, auth: find the caller's key in the request headers; the master key is compared by
//! SHA-256 digest in constant time, virtual keys are found by their digest in memory.

use pingora::http::RequestHeader;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clock::now_ms_i64;
use crate::control::enforce::{hex, Caller};
use crate::control::{period, Control, Kind};
use crate::error::GatewayError;
use crate::runtime::Runtime;

/// Headers a key may arrive in, in the order they are consulted.
const KEY_HEADERS: &[&str] = &[
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "x-litellm-api-key",
];

/// The presented key: `Authorization: Bearer …` first, then the other key headers.
pub fn presented_key(req: &RequestHeader) -> Option<&str> {
    if let Some(v) = req
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        let key = match v.get(..6) {
            Some(scheme)
                if scheme.eq_ignore_ascii_case("bearer")
                    && (v.len() == 6 || v[6..].starts_with(' ')) =>
            {
                v[6..].trim()
            }
            _ => v,
        };
        if !key.is_empty() {
            return Some(key);
        }
    }
    KEY_HEADERS
        .iter()
        .filter_map(|h| req.headers.get(*h).and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .find(|k| !k.is_empty())
}

/// Who is calling: nobody needs to be known without a master key; otherwise the master key
/// (constant-time digest compare) or a live virtual key (blocked and expired keys are refused).
pub fn authenticate(
    control: &Control,
    runtime: &Runtime,
    req: &RequestHeader,
) -> Result<Caller, GatewayError> {
    let started = std::time::Instant::now();
    let caller = check(control, runtime, req);
    crate::observe::stage(crate::observe::Stage::Auth, started, &caller);
    caller
}

fn check(
    control: &Control,
    runtime: &Runtime,
    req: &RequestHeader,
) -> Result<Caller, GatewayError> {
    let Some(master) = runtime.master_key_hash.as_ref() else {
        return Ok(Caller::Open);
    };
    let key = presented_key(req).ok_or(GatewayError::MissingKey)?;
    let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    by_digest(control, master, &digest)
}

/// The caller whose key has this SHA-256 digest (an admin UI session keeps only the digest):
/// the master key (constant-time compare), or a live virtual key.
pub fn caller_by_digest(
    control: &Control,
    runtime: &Runtime,
    digest: &[u8; 32],
) -> Result<Caller, GatewayError> {
    match runtime.master_key_hash.as_ref() {
        None => Ok(Caller::Open),
        Some(master) => by_digest(control, master, digest),
    }
}

fn by_digest(
    control: &Control,
    master: &[u8; 32],
    digest: &[u8; 32],
) -> Result<Caller, GatewayError> {
    if bool::from(digest.ct_eq(master)) {
        return Ok(Caller::Master);
    }
    let entity = control
        .get(Kind::Key, &hex(digest))
        .ok_or(GatewayError::InvalidKey)?;
    if entity.blocked {
        return Err(GatewayError::Denied(
            "Authentication Error - Key is blocked. Update via `/key/unblock` if you're admin."
                .into(),
        ));
    }
    if let Some(exp) = entity.expires_ms {
        if exp <= now_ms_i64() {
            return Err(GatewayError::Denied(format!(
                "Authentication Error - Expired Key. Key Expiry time {} and current time {}",
                period::iso(exp),
                period::iso(now_ms_i64())
            )));
        }
    }
    Ok(Caller::Key(entity))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("POST", b"/v1/chat/completions", None).unwrap();
        for (k, v) in headers {
            r.insert_header(k.to_string(), *v).unwrap();
        }
        r
    }

    #[test]
    fn finds_the_key_in_every_supported_header() {
        assert_eq!(
            presented_key(&req(&[("authorization", "Bearer sk-1")])),
            Some("sk-1")
        );
        assert_eq!(
            presented_key(&req(&[("authorization", "bearer  sk-1 ")])),
            Some("sk-1")
        );
        assert_eq!(
            presented_key(&req(&[("authorization", "sk-raw")])),
            Some("sk-raw")
        );
        for h in KEY_HEADERS {
            assert_eq!(presented_key(&req(&[(h, "sk-2")])), Some("sk-2"), "{h}");
        }
        assert_eq!(presented_key(&req(&[("authorization", "Bearer ")])), None);
        assert_eq!(presented_key(&req(&[])), None);
    }
}
