//! Key secrets and lookup: new secrets, caller-supplied ones, LiteLLM's `key_name`, finding a
//! key by its secret or token, and the 404 that never echoes a secret.

use std::sync::Arc;

use base64::Engine;
use rand::RngCore;
use serde_json::Value;

use super::error::AdminError;
use super::request::Req;
use crate::control::enforce::hash_key;
use crate::control::{Control, Entity, Kind};

/// A new secret: `sk-` and 24 random bytes (192 bits), base64url without padding.
pub(super) fn new_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "sk-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// LiteLLM's `key_name`: `sk-...` and the secret's last four characters.
pub(super) fn key_name(secret: &str) -> String {
    let tail: String = {
        let chars: Vec<char> = secret.chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    };
    format!("sk-...{tail}")
}

/// A caller-supplied secret (`key`, `new_key`): LiteLLM requires the `sk-` prefix.
pub(super) fn supplied_secret(req: &Req, name: &str) -> Result<Option<String>, AdminError> {
    match req.body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            if !s.starts_with("sk-") || s.len() < 4 {
                return Err(AdminError::bad(
                    name,
                    format!("{name} must start with \"sk-\" (LiteLLM's key format)"),
                ));
            }
            if s.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
                return Err(AdminError::bad(
                    name,
                    format!("{name} must not contain whitespace"),
                ));
            }
            Ok(Some(s.to_string()))
        }
        Some(other) => Err(AdminError::bad(
            name,
            format!("{name} must be a string, got {other}"),
        )),
    }
}

/// Whether `s` looks like a key's token (SHA-256 hex).
pub(super) fn is_token(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The key a request names: by token (hash) or by its secret.
pub(super) fn find_key(c: &Control, given: &str) -> Option<Arc<Entity>> {
    let given = given.trim();
    if given.is_empty() {
        return None;
    }
    if is_token(given) {
        if let Some(e) = c.get(Kind::Key, &given.to_ascii_lowercase()) {
            return Some(e);
        }
    }
    c.get(Kind::Key, &hash_key(given))
}

pub(super) fn key_not_found(given: &str) -> AdminError {
    // Never echo what may be a secret in full.
    AdminError::not_found(format!("Key not found: {}", redact(given)))
}

fn redact(given: &str) -> String {
    if is_token(given) {
        given.to_string()
    } else {
        key_name(given)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_named_by_their_tail() {
        let a = new_secret();
        let b = new_secret();
        assert!(a.starts_with("sk-") && a.len() == 3 + 32, "{a}");
        assert_ne!(a, b);
        assert_eq!(key_name("sk-abcdef1234"), "sk-...1234");
    }
}
