//! The config as `GET /tollgate/config` shows it: the tree as written, with every secret
//! replaced by `"<redacted>"`. A value under a field whose name says it holds a secret (`key`,
//! `secret`, `password`, `token`, `credential`, `authorization`) or any header value is
//! redacted, unless it is an `os.environ/NAME` reference (shown as written: the variable's
//! name, never its value); a password inside a URL (`postgres://user:pw@host`) is masked in
//! any string.

use serde_json::{Map, Value};

/// What replaces a secret.
pub const REDACTED: &str = "<redacted>";

/// Field names (lowercase substrings) whose values are secrets.
const SECRET_NAMES: &[&str] = &[
    "key",
    "secret",
    "password",
    "passwd",
    "token",
    "credential",
    "authorization",
    "cookie",
    "database_url",
    "dsn",
];

/// Field names that only look secret (`key` is a substring of them) but hold names or numbers.
const NOT_SECRET: &[&str] = &[
    "key_alias",
    "key_name",
    "keys",
    "max_tokens",
    "max_input_tokens",
    "max_output_tokens",
    "token_counter",
    "tpm",
];

fn secret_field(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    if NOT_SECRET.contains(&n.as_str()) || n.ends_with("_tokens") || n.ends_with("_per_token") {
        return false;
    }
    SECRET_NAMES.iter().any(|s| n.contains(s))
}

/// The redacted copy of a config tree.
pub fn redact(root: &Map<String, Value>) -> Value {
    Value::Object(
        root.iter()
            .map(|(k, v)| (k.clone(), walk(k, v, false)))
            .collect(),
    )
}

fn walk(name: &str, v: &Value, in_headers: bool) -> Value {
    let secret = in_headers || secret_field(name);
    match v {
        Value::String(s) if s.trim_start().starts_with("os.environ/") => Value::String(s.clone()),
        Value::String(_) if secret => Value::String(REDACTED.into()),
        Value::String(s) => Value::String(mask_url_password(s)),
        Value::Number(_) | Value::Bool(_) if secret && in_headers => Value::String(REDACTED.into()),
        Value::Array(items) => {
            Value::Array(items.iter().map(|i| walk(name, i, in_headers)).collect())
        }
        Value::Object(m) => {
            let headers = in_headers || name.to_ascii_lowercase().contains("headers");
            Value::Object(
                m.iter()
                    .map(|(k, v)| {
                        let child = if secret_field(name) && !headers {
                            // Everything under a secret-named object (e.g. `credentials: {…}`).
                            walk(name, v, false)
                        } else {
                            walk(k, v, headers)
                        };
                        (k.clone(), child)
                    })
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

/// `scheme://user:password@host…` → `scheme://user:***@host…`.
fn mask_url_password(s: &str) -> String {
    let Some(scheme_end) = s.find("://") else {
        return s.to_string();
    };
    let rest = &s[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return s.to_string();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return s.to_string();
    };
    format!(
        "{}{}:***{}",
        &s[..scheme_end + 3],
        &userinfo[..colon],
        &s[scheme_end + 3 + at..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_redacted_and_env_references_kept() {
        let tree = json!({
            "general_settings": {
                "master_key": "sk-literal",
                "database_url": "postgres://u:pw@db:5432/x",
                "alerting_webhook": "https://u:pw@hooks.example/x",
            },
            "model_list": [{
                "model_name": "m",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_key": "os.environ/OPENAI_API_KEY",
                    "aws_secret_access_key": "abc",
                    "extra_headers": {"X-Team": "t1"},
                    "max_tokens": 5,
                },
                "model_info": {"input_cost_per_token": 1e-6},
            }],
            "litellm_settings": {"cache_params": {"password": "p"}},
        });
        let shown = redact(tree.as_object().unwrap());
        let g = &shown["general_settings"];
        assert_eq!(g["master_key"], REDACTED);
        assert_eq!(g["database_url"], REDACTED);
        assert_eq!(g["alerting_webhook"], "https://u:***@hooks.example/x");
        let p = &shown["model_list"][0]["litellm_params"];
        assert_eq!(p["api_key"], "os.environ/OPENAI_API_KEY");
        assert_eq!(p["aws_secret_access_key"], REDACTED);
        assert_eq!(p["extra_headers"]["X-Team"], REDACTED);
        assert_eq!(p["max_tokens"], 5);
        assert_eq!(p["model"], "openai/gpt-4o");
        assert_eq!(
            shown["model_list"][0]["model_info"]["input_cost_per_token"],
            1e-6
        );
        assert_eq!(
            shown["litellm_settings"]["cache_params"]["password"],
            REDACTED
        );
        assert!(!shown.to_string().contains("sk-literal"));
        assert!(!shown.to_string().contains("pw@"));
    }
}
