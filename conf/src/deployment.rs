//! `model_list[]` validation: provider resolution from `litellm_params.model`, `api_base`
//! parsing, API keys (explicit or the provider's environment variable), typed limits, the
//! split of the remaining `litellm_params` into request defaults, LiteLLM-internal keys and keys
//! held back (one warning per key name, however many deployments carry it), stable deployment
//! ids, and the bare `model: "*"` entry (one deployment per provider).

use std::collections::HashMap;

use adapters::provider::Provider;
use serde_json::{Map, Value};
use url::{Host, Url};

use crate::config::{ApiBase, Deployment, Secret};
use crate::diag::{check_keys, count, field, join, quote, seconds, show, string, Diag};
use crate::keys;
use crate::params::{self, classify_param, Notes, ParamKind};
use crate::provider::{first_env, provider_path, resolve_provider};
use crate::raw::{Env, RawConfig};

/// Every valid entry of the merged `model_list`, in order; problems go to `d`.
pub(crate) fn deployments(raw: &RawConfig, d: &mut Diag) -> Vec<Deployment> {
    let mut out = Vec::new();
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut notes = Notes::default();
    for (i, (entry, path)) in raw.entries.iter().zip(&raw.entry_paths).enumerate() {
        let deps = if any_model(entry) {
            every_provider(i, entry, path, &raw.env, d, &mut notes)
        } else {
            deployment(i, entry, path, &raw.env, d, &mut notes)
                .into_iter()
                .collect()
        };
        for dep in deps {
            if let Some(first) = ids.get(&dep.id) {
                d.error(
                    &format!("{path}.model_info.id"),
                    format_args!(
                        "duplicate deployment id {} (also used by {first})",
                        quote(&dep.id)
                    ),
                );
                continue;
            }
            ids.insert(dep.id.clone(), path.clone());
            out.push(dep);
        }
    }
    notes.report(d);
    out
}

/// Whether `entry` is LiteLLM's "any model" entry: `litellm_params.model` exactly `*`, with no
/// `custom_llm_provider` (which would make it that provider's wildcard).
fn any_model(entry: &Value) -> bool {
    let Some(Value::Object(params)) = entry.get("litellm_params") else {
        return false;
    };
    field(params, "model").and_then(Value::as_str) == Some("*")
        && field(params, "custom_llm_provider").is_none()
}

/// A bare `model: "*"` entry: one deployment per provider it can reach, each the entry with
/// `model: "<prefix>/*"` and marked `any_provider`, so a request goes to the provider its model
/// belongs to. The entry itself is checked (and reported) once, as `openai/*`, which needs
/// nothing provider-specific; a provider it cannot reach — no `api_base` for `hosted_vllm` or
/// `azure`, no region or credentials for `bedrock`/`vertex_ai` — is left out. A `model_info.id`
/// becomes `<id>/<prefix>`, so each deployment keeps its own.
fn every_provider(
    i: usize,
    entry: &Value,
    path: &str,
    env: &Env,
    d: &mut Diag,
    notes: &mut Notes,
) -> Vec<Deployment> {
    let for_provider = |prefix: &str| {
        let mut e = entry.clone();
        e["litellm_params"]["model"] = Value::String(format!("{prefix}/*"));
        e
    };
    let Some(first) = deployment(i, &for_provider("openai"), path, env, d, notes) else {
        return Vec::new();
    };
    let mut out = vec![first];
    for spec in adapters::provider::PROVIDERS.iter().filter(|s| {
        // `custom_openai/` and `text-completion-openai/` are OpenAI again under other names.
        s.implemented
            && !matches!(
                s.provider,
                Provider::OpenAi | Provider::CustomOpenAi | Provider::TextCompletionOpenAi
            )
    }) {
        let mut quiet = Diag::default();
        out.extend(deployment(
            i,
            &for_provider(spec.prefix),
            path,
            env,
            &mut quiet,
            &mut Notes::default(),
        ));
    }
    let has_id =
        matches!(entry.get("model_info"), Some(Value::Object(m)) if field(m, "id").is_some());
    for dep in &mut out {
        dep.any_provider = true;
        if has_id {
            dep.id = format!("{}/{}", dep.id, dep.provider.prefix());
        }
    }
    out
}

fn deployment(
    i: usize,
    entry: &Value,
    path: &str,
    env: &Env,
    d: &mut Diag,
    notes: &mut Notes,
) -> Option<Deployment> {
    let Value::Object(entry) = entry else {
        d.error(
            path,
            format_args!(
                "expected a map with model_name and litellm_params, got {}",
                show(path, entry)
            ),
        );
        return None;
    };
    check_keys(entry, path, &keys::DEPLOYMENT, d);
    let before = d.error_count();

    let name_path = join(path, "model_name");
    let model_name = match field(entry, "model_name") {
        None => {
            d.error(&name_path, "required (the model name clients ask for)");
            None
        }
        Some(v) => string(&name_path, v, d).filter(|s| {
            let ok = !s.trim().is_empty();
            if !ok {
                d.error(&name_path, "must not be empty");
            }
            ok
        }),
    };

    let model_info = map_field(entry, path, "model_info", d).unwrap_or_default();
    let info_id = field(&model_info, "id").and_then(|v| match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        other => {
            let p = join(&join(path, "model_info"), "id");
            d.error(
                &p,
                format_args!("expected a non-empty string, got {}", show(&p, other)),
            );
            None
        }
    });

    health_check_info(&model_info, &join(path, "model_info"), d);

    let params_path = join(path, "litellm_params");
    let params = match map_field(entry, path, "litellm_params", d) {
        Some(p) => p,
        None => {
            if field(entry, "litellm_params").is_none() {
                d.error(
                    &params_path,
                    "required (with at least `model: provider/model`)",
                );
            }
            return None;
        }
    };
    let p = |key: &str| join(&params_path, key);

    let litellm_model = match field(&params, "model") {
        None => {
            d.error(
                &p("model"),
                "required (provider/model, e.g. openai/gpt-4o-mini)",
            );
            None
        }
        Some(v) => string(&p("model"), v, d),
    };
    let resolved = litellm_model
        .as_deref()
        .and_then(|m| resolve_provider(m, &params, &params_path, d));

    let mock_response =
        field(&params, "mock_response").and_then(|v| string(&p("mock_response"), v, d));

    // Cloud providers derive their endpoint (and credentials) from their own settings.
    let mut cloud_internal: Map<String, Value> = params
        .iter()
        .filter(|(k, v)| {
            matches!(
                classify_param(k, v),
                ParamKind::Internal | ParamKind::NotYet
            )
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let cloud_base = match &resolved {
        Some((provider, model)) if mock_response.is_none() => {
            crate::cloud::derive(*provider, model, &mut cloud_internal, env, &params_path, d)
        }
        _ => None,
    };

    let mut api_base = None;
    if let Some(v) = field(&params, "api_base") {
        if let Some(s) = string(&p("api_base"), v, d) {
            match parse_api_base(&s) {
                Ok(b) => api_base = Some(b),
                Err(msg) => d.error(&p("api_base"), msg),
            }
        }
    } else if let Some(base) = &cloud_base {
        api_base = Some(parse_api_base(base).expect("derived cloud api_base is valid"));
    } else if let Some((provider, _)) = &resolved {
        // LiteLLM's order: the provider's environment variables, then its default.
        let spec = provider.spec();
        match first_env(env, spec.api_base_env) {
            Some((var, value)) => match parse_api_base(&value) {
                Ok(b) => api_base = Some(b),
                Err(msg) => d.error(
                    &p("api_base"),
                    format_args!("from environment variable {var}: {msg}"),
                ),
            },
            None => match spec.default_api_base {
                Some(default) => {
                    api_base =
                        Some(parse_api_base(default).expect("PROVIDERS default_api_base is valid"))
                }
                None if mock_response.is_none()
                    && !matches!(provider, Provider::Bedrock | Provider::VertexAi) =>
                {
                    let vars = spec.api_base_env.join(" or ");
                    let or_env = if vars.is_empty() {
                        String::new()
                    } else {
                        format!(" (or set {vars})")
                    };
                    d.error(
                        &p("api_base"),
                        format_args!(
                            "api_base is required for provider {}{or_env}",
                            provider.prefix()
                        ),
                    )
                }
                None => {}
            },
        }
    }
    if let (Some(base), Some((provider, _))) = (&mut api_base, &resolved) {
        provider_path(*provider, base);
    }

    let api_key = match field(&params, "api_key") {
        Some(v) => string(&p("api_key"), v, d)
            .filter(|k| !k.is_empty())
            .map(Secret::new),
        None => resolved
            .as_ref()
            .and_then(|(provider, _)| first_env(env, provider.spec().api_key_env))
            .map(|(_, key)| Secret::new(key)),
    };
    let api_version = field(&params, "api_version")
        .and_then(|v| string(&p("api_version"), v, d))
        .or_else(|| match &resolved {
            Some((Provider::Azure | Provider::AzureAi, _)) => env.non_empty("AZURE_API_VERSION"),
            _ => None,
        });
    // A bad deadline leaves `request_timeout` in force: a warning. Limits stay errors: without
    // them the deployment would take more traffic than its owner allowed.
    let timeout =
        field(&params, "timeout").and_then(|v| d.lenient(|d| seconds(&p("timeout"), v, false, d)));
    let stream_timeout = field(&params, "stream_timeout")
        .and_then(|v| d.lenient(|d| seconds(&p("stream_timeout"), v, false, d)));
    let rpm = field(&params, "rpm").and_then(|v| count(&p("rpm"), v, d));
    let tpm = field(&params, "tpm").and_then(|v| count(&p("tpm"), v, d));

    let mut extra_params = Map::new();
    let mut internal_params = Map::new();
    for (k, v) in &params {
        let kind = classify_param(k, v);
        let hint = || crate::suggest::hint(k, params::known());
        match kind {
            ParamKind::Used => {}
            ParamKind::Internal => {
                internal_params.insert(k.clone(), v.clone());
            }
            ParamKind::NotYet => {
                notes.add(k, kind, p(k), || {
                    "not supported yet, ignored (not sent upstream)".into()
                });
                internal_params.insert(k.clone(), v.clone());
            }
            ParamKind::LiteLlmOnly => {
                notes.add(k, kind, p(k), || {
                    "a LiteLLM setting Tollgate does not implement, ignored (not sent upstream)"
                        .into()
                });
                internal_params.insert(k.clone(), v.clone());
            }
            ParamKind::Provider => {
                extra_params.insert(k.clone(), v.clone());
            }
            ParamKind::Secret => notes.add(k, kind, p(k), || {
                let why = if params::secret_name(k) {
                    "its name"
                } else {
                    "its value"
                };
                format!(
                    "unknown key{}; {why} looks like a credential, so it is never sent to the provider (ignored)",
                    hint()
                )
            }),
            ParamKind::Unknown => {
                notes.add(k, kind, p(k), || {
                    format!(
                        "unknown key{}; sent to the provider as a request parameter, as LiteLLM does",
                        hint()
                    )
                });
                extra_params.insert(k.clone(), v.clone());
            }
        }
    }

    // The cloud settings as resolved (env fallbacks, derived values) win over the raw params.
    internal_params.extend(cloud_internal);

    if d.error_count() > before {
        return None;
    }
    let (provider, model) = resolved?;
    let model_name = model_name?;
    let litellm_model = litellm_model?;
    let id = info_id.unwrap_or_else(|| {
        let base = api_base.as_ref().map(|b| b.url.as_str()).unwrap_or("");
        stable_id(&[&i.to_string(), &model_name, &litellm_model, base])
    });
    Some(Deployment {
        model_name,
        id,
        provider,
        model,
        api_base,
        api_key,
        api_version,
        timeout,
        stream_timeout,
        rpm,
        tpm,
        mock_response,
        extra_params,
        internal_params,
        model_info,
        any_provider: false,
    })
}

/// An optional map-valued key of `entry`; an error (and `None`) if it is not a map.
fn map_field(
    entry: &Map<String, Value>,
    path: &str,
    key: &str,
    d: &mut Diag,
) -> Option<Map<String, Value>> {
    match field(entry, key)? {
        Value::Object(m) => Some(m.clone()),
        v => {
            let p = join(path, key);
            d.error(&p, format_args!("expected a map, got {}", show(&p, v)));
            None
        }
    }
}

/// Parses an upstream base URL: http(s), a host, no credentials, no query or fragment.
pub fn parse_api_base(s: &str) -> Result<ApiBase, String> {
    let s = s.trim();
    let url =
        Url::parse(s).map_err(|e| format!("invalid URL {}: {e}", quote(&redact_userinfo(s))))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!(
            "unsupported scheme {} in {} (use http or https)",
            quote(url.scheme()),
            quote(&redact_userinfo(s))
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "must not contain credentials ({}); put the key in api_key",
            quote(&redact_userinfo(s))
        ));
    }
    let host = match url.host() {
        Some(Host::Domain(h)) if !h.is_empty() => h.to_string(),
        Some(Host::Ipv4(ip)) => ip.to_string(),
        Some(Host::Ipv6(ip)) => ip.to_string(),
        _ => return Err(format!("no host in {}", quote(s))),
    };
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "must not have a query or fragment, got {}",
            quote(s)
        ));
    }
    Ok(ApiBase {
        tls: url.scheme() == "https",
        host,
        port: url.port_or_known_default().unwrap_or(80),
        path: url.path().trim_end_matches('/').to_string(),
        url: s.trim_end_matches('/').to_string(),
    })
}

/// `https://user:pass@host/v1` → `https://***@host/v1`, for messages.
fn redact_userinfo(s: &str) -> String {
    let start = s.find("://").map(|i| i + 3).unwrap_or(0);
    let authority_end = s[start..]
        .find(['/', '?', '#'])
        .map(|i| start + i)
        .unwrap_or(s.len());
    match s[start..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &s[..start], &s[start + at..]),
        None => s.to_string(),
    }
}

/// 64-bit FNV-1a over the parts (separated by 0x1f), as 16 hex digits. Unlike std's
/// `DefaultHasher`, stable across Rust versions, so ids survive upgrades and restarts.
pub(crate) fn stable_id(parts: &[&str]) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            h ^= 0x1f;
            h = h.wrapping_mul(PRIME);
        }
        for b in part.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(PRIME);
        }
    }
    format!("{h:016x}")
}

/// The `model_info` keys `/health` reads (`health_check_model`, `mode`: strings;
/// `health_check_timeout`, `health_check_max_tokens`: positive numbers): a wrong type is a
/// warning, and the check uses its default.
fn health_check_info(info: &Map<String, Value>, path: &str, d: &mut Diag) {
    for k in ["health_check_model", "mode"] {
        if let Some(v) = field(info, k).filter(|v| !v.is_string()) {
            let p = join(path, k);
            d.warn(
                &p,
                format_args!("expected a string, got {}; ignored", show(&p, v)),
            );
        }
    }
    for k in ["health_check_timeout", "health_check_max_tokens"] {
        if let Some(v) = field(info, k) {
            let n = v
                .as_f64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
            if !n.is_some_and(|n| n.is_finite() && n > 0.0) {
                let p = join(path, k);
                d.warn(
                    &p,
                    format_args!(
                        "expected a positive number, got {}; the default is used",
                        show(&p, v)
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_reference_vectors() {
        assert_eq!(stable_id(&[""]), "cbf29ce484222325");
        assert_eq!(stable_id(&["a"]), "af63dc4c8601ec8c");
        assert_eq!(stable_id(&["foobar"]), "85944171f73967e8");
        assert_ne!(stable_id(&["ab", "c"]), stable_id(&["a", "bc"]));
    }

    #[test]
    fn api_base_parts() {
        let b = parse_api_base("https://api.example.com/v1/").unwrap();
        assert_eq!(
            (b.tls, b.host.as_str(), b.port, b.path.as_str()),
            (true, "api.example.com", 443, "/v1")
        );
        assert_eq!(b.url, "https://api.example.com/v1");
        assert_eq!(b.host_header(), "api.example.com");

        let b = parse_api_base("http://[::1]:8000").unwrap();
        assert_eq!(
            (b.tls, b.host.as_str(), b.port, b.path.as_str()),
            (false, "::1", 8000, "")
        );
        assert_eq!(b.host_header(), "[::1]:8000");

        let b = parse_api_base("http://127.0.0.1:11434/").unwrap();
        assert_eq!(
            (b.host.as_str(), b.port, b.path.as_str()),
            ("127.0.0.1", 11434, "")
        );
    }

    #[test]
    fn api_base_rejections_never_echo_passwords() {
        for (input, needle) in [
            ("ftp://x.example/v1", "unsupported scheme \"ftp\""),
            (
                "https://u:hunter2@x.example/v1",
                "must not contain credentials (\"https://***@x.example/v1\")",
            ),
            (
                "https://x.example/v1?key=1",
                "must not have a query or fragment",
            ),
            (
                "https://x.example/v1#frag",
                "must not have a query or fragment",
            ),
            ("not a url", "invalid URL \"not a url\""),
            ("u:hunter2@x.example", "\"***@x.example\""),
        ] {
            let err = parse_api_base(input).unwrap_err();
            assert!(err.contains(needle), "{input}: {err}");
            assert!(!err.contains("hunter2"), "{input}: {err}");
        }
    }

    #[test]
    fn every_provider_default_base_parses() {
        for spec in adapters::provider::PROVIDERS {
            if let Some(base) = spec.default_api_base {
                assert!(parse_api_base(base).is_ok(), "{base}");
            }
        }
    }
}
