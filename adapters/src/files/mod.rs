//! OpenAI's Files and Batch APIs as the gateway forwards them to OpenAI and Azure OpenAI
//! deployments (pure: no I/O): the provider path and credential of a files or batches call
//! ([`request`]), the batch input file check and model rewrite ([`jsonl`]), the usage of a batch
//! output file ([`jsonl::output_usage`]), and a small multipart/form-data reader and writer
//! ([`multipart`]).

pub mod jsonl;
pub mod multipart;

use crate::provider::{Dialect, Provider};
use crate::target::Target;

/// Whether `provider`'s deployments serve `/files` and `/batches`: OpenAI and Azure OpenAI
/// (OpenAI-compatible servers in general do not).
pub fn served_by(provider: Provider) -> bool {
    matches!(provider, Provider::OpenAi | Provider::Azure)
}

/// The Azure `api-version` used when the deployment names none (the Batch API is GA in it).
pub const AZURE_API_VERSION: &str = "2024-10-21";

/// The provider path (with query) and credential headers of a files or batches call: `rest` is
/// the OpenAI path below `/v1` (`files`, `files/{id}/content`, `batches/{id}/cancel`, …) and
/// `query` the client's query string (may be empty). OpenAI: `{api_base}/{rest}` with a bearer
/// key; Azure: `{api_base}/openai/{rest}?api-version=…` with `api-key` (or the Entra ID
/// `azure_ad_token` as a bearer token).
pub fn request(t: &Target<'_>, rest: &str, query: &str) -> (String, Vec<(&'static str, String)>) {
    let mut headers = Vec::with_capacity(1);
    let path = match t.provider.dialect() {
        Dialect::Azure => {
            let version = t
                .api_version
                .filter(|v| !v.is_empty())
                .or_else(|| t.internal.get("api_version").and_then(|v| v.as_str()))
                .unwrap_or(AZURE_API_VERSION);
            if let Some(token) = t.internal.get("azure_ad_token").and_then(|v| v.as_str()) {
                headers.push(("authorization", format!("Bearer {token}")));
            } else if let Some(key) = t.api_key.filter(|k| !k.is_empty()) {
                headers.push(("api-key", key.to_string()));
            }
            let query: String = query
                .split('&')
                .filter(|p| !p.is_empty() && !p.starts_with("api-version="))
                .map(|p| format!("&{p}"))
                .collect();
            format!(
                "{}/openai/{rest}?api-version={}{query}",
                t.base_path,
                encode(version)
            )
        }
        _ => {
            if let Some(key) = t.api_key.filter(|k| !k.is_empty()) {
                headers.push(("authorization", format!("Bearer {key}")));
            }
            if query.is_empty() {
                format!("{}/{rest}", t.base_path)
            } else {
                format!("{}/{rest}?{query}", t.base_path)
            }
        }
    };
    (path, headers)
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map, Value};

    use super::*;

    fn target<'a>(p: Provider, internal: &'a Map<String, Value>) -> Target<'a> {
        Target {
            provider: p,
            model: "gpt-4o-mini",
            base_path: "/v1",
            api_key: Some("sk-up"),
            api_version: None,
            defaults: internal,
            drop_params: false,
            internal,
        }
    }

    #[test]
    fn openai_paths_go_below_the_base_with_a_bearer_key() {
        let m = Map::new();
        let (path, headers) = request(&target(Provider::OpenAi, &m), "files", "limit=2");
        assert_eq!(path, "/v1/files?limit=2");
        assert_eq!(headers, vec![("authorization", "Bearer sk-up".to_string())]);
        let (path, _) = request(&target(Provider::OpenAi, &m), "batches/b1/cancel", "");
        assert_eq!(path, "/v1/batches/b1/cancel");
    }

    #[test]
    fn azure_paths_carry_the_api_version_and_api_key() {
        let m = Map::new();
        let mut t = target(Provider::Azure, &m);
        t.base_path = "";
        let (path, headers) = request(&t, "files/f1/content", "api-version=x&a=1");
        assert_eq!(path, "/openai/files/f1/content?api-version=2024-10-21&a=1");
        assert_eq!(headers, vec![("api-key", "sk-up".to_string())]);
        let ad = json!({"azure_ad_token": "tok"});
        let ad = ad.as_object().unwrap();
        let mut t = target(Provider::Azure, ad);
        t.api_version = Some("2025-01-01-preview");
        let (path, headers) = request(&t, "batches", "");
        assert_eq!(path, "/v1/openai/batches?api-version=2025-01-01-preview");
        assert_eq!(headers, vec![("authorization", "Bearer tok".to_string())]);
    }

    #[test]
    fn only_openai_and_azure_serve_files() {
        assert!(served_by(Provider::OpenAi));
        assert!(served_by(Provider::Azure));
        assert!(!served_by(Provider::Anthropic));
    }
}
