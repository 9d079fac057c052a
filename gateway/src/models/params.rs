//! A stored model's `litellm_params` as LiteLLM stores them: every string value encrypted
//! (`crypto`), other values as they are; and the view of them the API returns, credentials
//! removed.

use serde_json::{Map, Value};

use super::crypto::{decrypt, encrypt, Undecryptable};

/// The string values of `params` decrypted with `key`; values that are not ciphertext are
/// kept as they are (LiteLLM stores a few in clear). `Err` names a value that is ciphertext
/// under another key, or says nothing decrypted at all.
pub fn decrypt_params(
    params: &Map<String, Value>,
    key: &[u8; 32],
) -> Result<(Map<String, Value>, Vec<String>), String> {
    let mut out = Map::new();
    let mut clear = Vec::new();
    let mut decrypted = 0;
    for (k, v) in params {
        match v {
            Value::String(s) => match decrypt(s, key) {
                Ok(p) => {
                    decrypted += 1;
                    out.insert(k.clone(), Value::String(p));
                }
                // Not ciphertext, or ciphertext under another key: a long API key in clear is
                // valid base64 too, so only "nothing decrypts" condemns the key (below).
                Err(
                    Undecryptable::NotCiphertext | Undecryptable::WrongKey | Undecryptable::NotText,
                ) => {
                    clear.push(k.clone());
                    out.insert(k.clone(), v.clone());
                }
            },
            other => {
                out.insert(k.clone(), other.clone());
            }
        }
    }
    let strings = params.values().filter(|v| v.is_string()).count();
    if strings > 0 && decrypted == 0 {
        return Err(format!(
            "none of the {strings} litellm_params values decrypts with this key (is LITELLM_SALT_KEY the one LiteLLM used?)"
        ));
    }
    Ok((out, clear))
}

pub fn encrypt_params(params: &Map<String, Value>, key: &[u8; 32]) -> String {
    let enc: Map<String, Value> = params
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => (k.clone(), Value::String(encrypt(s, key))),
            other => (k.clone(), other.clone()),
        })
        .collect();
    Value::Object(enc).to_string()
}

/// `params` without credentials (any key `conf::is_secret_key` names: `api_key`,
/// `aws_secret_access_key`, `vertex_credentials`, …), as `/model/info` shows them: LiteLLM
/// leaves them out too.
pub fn redacted(params: &Map<String, Value>) -> Map<String, Value> {
    params
        .iter()
        .filter(|(k, _)| !conf::is_secret_key(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::crypto::key_from_secret;
    use super::*;
    use serde_json::json;

    #[test]
    fn the_api_view_leaves_credentials_out() {
        let Value::Object(p) = json!({"model": "bedrock/x", "api_key": "sk-1",
            "aws_secret_access_key": "s", "vertex_credentials": {"k": 1}, "rpm": 3,
            "api_base": "https://example.com"})
        else {
            panic!()
        };
        let shown = redacted(&p);
        let mut keys: Vec<&str> = shown.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["api_base", "model", "rpm"]);
    }

    #[test]
    fn params_round_trip_and_a_wrong_key_is_refused() {
        let k = key_from_secret("salt");
        let Value::Object(plain) = json!({"model": "openai/gpt-4o", "api_key": "sk-x", "rpm": 5})
        else {
            panic!()
        };
        let stored: Map<String, Value> = serde_json::from_str(&encrypt_params(&plain, &k)).unwrap();
        assert_ne!(stored["api_key"], "sk-x");
        assert_eq!(stored["rpm"], 5);
        assert_eq!(decrypt_params(&stored, &k).unwrap().0, plain);
        assert!(decrypt_params(&stored, &key_from_secret("other")).is_err());
        // A value LiteLLM left in clear stays as it is.
        let mut mixed = stored.clone();
        mixed.insert("api_base".into(), json!("http://127.0.0.1:9/v1"));
        let (p, clear) = decrypt_params(&mixed, &k).unwrap();
        assert_eq!(
            (p["api_base"].as_str(), clear),
            (Some("http://127.0.0.1:9/v1"), vec!["api_base".to_string()])
        );
    }
}
