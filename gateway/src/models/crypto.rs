//! Credential encryption as LiteLLM does it for models stored in its database: NaCl SecretBox
//! (XSalsa20-Poly1305) under a 32-byte key, SHA-256 of `LITELLM_SALT_KEY` (else of the master
//! key; see `conf::GeneralSettings::credential_encryption_key`); a stored value is
//! base64(nonce ‖ MAC ‖ ciphertext) with a random 24-byte nonce. Tollgate stores its own copies
//! the same way, so a value moves between the two with the key alone.

use base64::Engine;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};
use rand::RngCore;

const NONCE: usize = 24;
const MAC: usize = 16;

/// Why a value did not decrypt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undecryptable {
    /// Not base64, or too short to hold a nonce and a MAC.
    NotCiphertext,
    /// The MAC did not verify: another key (or a damaged value).
    WrongKey,
    /// Decrypted, but the plaintext is not UTF-8.
    NotText,
}

/// Decrypts a stored value. Base64 in either alphabet, padded or not, as LiteLLM's
/// `urlsafe_b64decode` accepts it.
pub fn decrypt(value: &str, key: &[u8; 32]) -> Result<String, Undecryptable> {
    let bytes = decode_b64(value).ok_or(Undecryptable::NotCiphertext)?;
    if bytes.len() < NONCE + MAC {
        return Err(Undecryptable::NotCiphertext);
    }
    let (nonce, sealed) = bytes.split_at(NONCE);
    let plain = XSalsa20Poly1305::new(Key::from_slice(key))
        .decrypt(Nonce::from_slice(nonce), sealed)
        .map_err(|_| Undecryptable::WrongKey)?;
    String::from_utf8(plain).map_err(|_| Undecryptable::NotText)
}

/// Encrypts `plain` under `key` with a fresh random nonce: standard base64 of nonce ‖ sealed.
pub fn encrypt(plain: &str, key: &[u8; 32]) -> String {
    let mut nonce = [0u8; NONCE];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    seal(plain, key, &nonce)
}

fn seal(plain: &str, key: &[u8; 32], nonce: &[u8; NONCE]) -> String {
    let sealed = XSalsa20Poly1305::new(Key::from_slice(key))
        .encrypt(Nonce::from_slice(nonce), plain.as_bytes())
        .expect("XSalsa20-Poly1305 encryption of an in-memory buffer cannot fail");
    let mut out = Vec::with_capacity(NONCE + sealed.len());
    out.extend_from_slice(nonce);
    out.extend_from_slice(&sealed);
    base64::engine::general_purpose::STANDARD.encode(out)
}

fn decode_b64(value: &str) -> Option<Vec<u8>> {
    let mut s: String = value
        .trim()
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while s.len() % 4 != 0 {
        s.push('=');
    }
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// The key as LiteLLM derives it from a salt (or master) key: SHA-256 of its UTF-8 bytes.
pub fn key_from_secret(secret: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(secret.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// crypto_secretbox with an all-zero key and nonce over "test": the 16-byte Poly1305 tag
    /// then the 4 XSalsa20-encrypted bytes, as NaCl defines the box (libsodium's and
    /// PyNaCl's output for these inputs).
    #[test]
    fn matches_nacl_secretbox_for_a_known_vector() {
        let sealed = seal("test", &[0; 32], &[0; 24]);
        let bytes = decode_b64(&sealed).unwrap();
        assert_eq!(&bytes[..24], &[0; 24]);
        assert_eq!(
            bytes[24..].to_vec(),
            unhex("af99b493f67bfd299fa9207240fba7b3b25bc88b")
        );
        assert_eq!(decrypt(&sealed, &[0; 32]).unwrap(), "test");
    }

    /// A value as LiteLLM's `encrypt_value_helper` stores it: SecretBox under
    /// SHA-256("sk-salt-e2e"), nonce 00..17, standard base64 (made with PyNaCl).
    #[test]
    fn decrypts_a_value_litellm_stored() {
        let stored =
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX9uKmLCnK+8o4tw18wUpF/6/O4Ni2enNpdsuaUU39pvFKSAa/OhM=";
        let key = key_from_secret("sk-salt-e2e");
        assert_eq!(decrypt(stored, &key).unwrap(), "sk-provider-secret-123");
        // LiteLLM reads with urlsafe_b64decode: the URL-safe alphabet, unpadded, works too.
        let urlsafe = stored.replace('+', "-").replace('/', "_").replace('=', "");
        assert_eq!(decrypt(&urlsafe, &key).unwrap(), "sk-provider-secret-123");
        let nonce: [u8; 24] = core::array::from_fn(|i| i as u8);
        assert_eq!(seal("sk-provider-secret-123", &key, &nonce), stored);
    }

    #[test]
    fn refuses_other_keys_and_non_ciphertext() {
        let key = key_from_secret("a");
        let other = key_from_secret("b");
        let v = encrypt("secret", &key);
        assert_ne!(encrypt("secret", &key), v, "a fresh nonce each time");
        assert_eq!(decrypt(&v, &key).unwrap(), "secret");
        assert_eq!(decrypt(&v, &other), Err(Undecryptable::WrongKey));
        assert_eq!(
            decrypt("openai/gpt-4o", &key),
            Err(Undecryptable::NotCiphertext)
        );
        assert_eq!(
            decrypt("https://api.example.com/v1", &key),
            Err(Undecryptable::NotCiphertext)
        );
    }
}
