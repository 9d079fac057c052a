//! The sink each logging callback name stands for (Langfuse, Langfuse over OTLP, OTLP, generic
//! webhook), with its endpoint and credentials read from its `callback_settings` entry or the
//! environment as LiteLLM reads them (`LANGFUSE_*`, `OTEL_*`, `GENERIC_LOGGER_*`).

use serde_json::{Map, Value};

use crate::diag::{field, join, show, string, Diag};
use crate::raw::Env;
use crate::secret::Secret;

/// What a sink speaks.
#[derive(Debug, Clone)]
pub enum SinkKind {
    /// Langfuse's public ingestion API (`{host}/api/public/ingestion`), basic auth.
    Langfuse {
        host: String,
        public_key: Secret,
        secret_key: Secret,
    },
    /// OTLP/HTTP traces (`otel`, `langfuse_otel`): spans with GenAI semantic conventions.
    Otlp {
        /// The full traces URL (`…/v1/traces`).
        endpoint: String,
        protocol: OtlpProtocol,
        /// Extra request headers (`OTEL_HEADERS`; Langfuse's basic auth).
        headers: Vec<(String, Secret)>,
        /// `service.name` of the resource. Default `litellm`, as LiteLLM.
        service_name: String,
    },
    /// A generic JSON webhook (`callback_type: generic_api`): LiteLLM's `StandardLoggingPayload`.
    Generic {
        endpoint: String,
        headers: Vec<(String, Secret)>,
        log_format: GenericFormat,
    },
}

/// OTLP/HTTP body encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// `http/protobuf` (default, as LiteLLM's `otlp_http`).
    Protobuf,
    /// `http/json`.
    Json,
}

/// `log_format` of a generic webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenericFormat {
    /// One JSON array per batch (default).
    JsonArray,
    /// One JSON object per line per batch.
    Ndjson,
    /// One request per event.
    Single,
}

/// The sink a callback name stands for, or `None` (with the reason in `d`).
pub(super) fn sink_kind(
    name: &str,
    path: &str,
    own: Option<&Map<String, Value>>,
    own_path: &str,
    env: &Env,
    d: &mut Diag,
) -> Option<SinkKind> {
    let generic = own
        .and_then(|m| field(m, "callback_type"))
        .and_then(Value::as_str)
        == Some("generic_api");
    if generic || name == "generic_api" || name == "generic" {
        return generic_sink(own, own_path, env, d);
    }
    match name {
        "langfuse" => {
            let (public_key, secret_key) = langfuse_keys(path, env, d)?;
            let host = env
                .non_empty("LANGFUSE_HOST")
                .unwrap_or_else(|| "https://cloud.langfuse.com".to_string());
            Some(SinkKind::Langfuse {
                host: url(path, "LANGFUSE_HOST", host.trim_end_matches('/'), d)?,
                public_key,
                secret_key,
            })
        }
        "langfuse_otel" => {
            let (public_key, secret_key) = langfuse_keys(path, env, d)?;
            let host = env
                .non_empty("LANGFUSE_OTEL_HOST")
                .or_else(|| env.non_empty("LANGFUSE_HOST"))
                .unwrap_or_else(|| "https://us.cloud.langfuse.com".to_string());
            let host = url(path, "LANGFUSE_OTEL_HOST", host.trim_end_matches('/'), d)?;
            use base64::Engine as _;
            let auth = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                public_key.expose(),
                secret_key.expose()
            ));
            Some(SinkKind::Otlp {
                endpoint: format!("{host}/api/public/otel/v1/traces"),
                protocol: OtlpProtocol::Protobuf,
                headers: vec![(
                    "authorization".to_string(),
                    Secret::new(format!("Basic {auth}")),
                )],
                service_name: env
                    .non_empty("OTEL_SERVICE_NAME")
                    .unwrap_or_else(|| "litellm".to_string()),
            })
        }
        "otel" | "opentelemetry" => otel_sink(path, own, own_path, env, d),
        _ => {
            d.error(
                path,
                format_args!(
                    "callback {} is not supported by Tollgate (supported: langfuse, langfuse_otel, otel, generic_api and callback_settings entries with callback_type: generic_api); nothing is sent to it",
                    show("", &Value::String(name.to_string()))
                ),
            );
            None
        }
    }
}

fn langfuse_keys(path: &str, env: &Env, d: &mut Diag) -> Option<(Secret, Secret)> {
    match (
        env.non_empty("LANGFUSE_PUBLIC_KEY"),
        env.non_empty("LANGFUSE_SECRET_KEY"),
    ) {
        (Some(p), Some(s)) => Some((Secret::new(p), Secret::new(s))),
        _ => {
            d.error(
                path,
                "langfuse needs LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY set; callback off",
            );
            None
        }
    }
}

fn otel_sink(
    path: &str,
    own: Option<&Map<String, Value>>,
    own_path: &str,
    env: &Env,
    d: &mut Diag,
) -> Option<SinkKind> {
    let exporter = env
        .non_empty("OTEL_EXPORTER")
        .unwrap_or_else(|| "otlp_http".to_string());
    let mut protocol = match env.non_empty("OTEL_EXPORTER_OTLP_PROTOCOL").as_deref() {
        Some("http/json") => OtlpProtocol::Json,
        _ => OtlpProtocol::Protobuf,
    };
    match exporter.as_str() {
        "otlp_http" | "otlp" | "http/protobuf" => {}
        "http/json" | "otlp_http_json" => protocol = OtlpProtocol::Json,
        other => {
            d.error(
                "OTEL_EXPORTER",
                format_args!(
                    "exporter {other:?} is not supported (Tollgate sends OTLP over HTTP: otlp_http); otel callback off"
                ),
            );
            return None;
        }
    }
    if let Some(p) = own.and_then(|m| field(m, "protocol")) {
        let ppath = join(own_path, "protocol");
        match p.as_str() {
            Some("http/protobuf") | Some("protobuf") => protocol = OtlpProtocol::Protobuf,
            Some("http/json") | Some("json") => protocol = OtlpProtocol::Json,
            _ => d.error(
                &ppath,
                format_args!(
                    "expected \"http/protobuf\" or \"http/json\", got {}",
                    show(&ppath, p)
                ),
            ),
        }
    }
    let Some(endpoint) = env
        .non_empty("OTEL_ENDPOINT")
        .or_else(|| env.non_empty("OTEL_EXPORTER_OTLP_ENDPOINT"))
    else {
        d.error(path, "otel needs OTEL_ENDPOINT set; callback off");
        return None;
    };
    let endpoint = url(path, "OTEL_ENDPOINT", endpoint.trim_end_matches('/'), d)?;
    let endpoint = if endpoint.ends_with("/v1/traces") {
        endpoint
    } else {
        format!("{endpoint}/v1/traces")
    };
    let headers = env
        .non_empty("OTEL_HEADERS")
        .map(|h| pairs(&h))
        .unwrap_or_default();
    Some(SinkKind::Otlp {
        endpoint,
        protocol,
        headers,
        service_name: env
            .non_empty("OTEL_SERVICE_NAME")
            .unwrap_or_else(|| "litellm".to_string()),
    })
}

fn generic_sink(
    own: Option<&Map<String, Value>>,
    own_path: &str,
    env: &Env,
    d: &mut Diag,
) -> Option<SinkKind> {
    let endpoint = match own.and_then(|m| field(m, "endpoint")) {
        Some(v) => string(&join(own_path, "endpoint"), v, d)?,
        None => match env.non_empty("GENERIC_LOGGER_ENDPOINT") {
            Some(e) => e,
            None => {
                d.error(
                    &join(own_path, "endpoint"),
                    "generic_api needs an endpoint (or GENERIC_LOGGER_ENDPOINT); callback off",
                );
                return None;
            }
        },
    };
    let endpoint = url(&join(own_path, "endpoint"), "endpoint", endpoint.trim(), d)?;
    let mut headers = env
        .non_empty("GENERIC_LOGGER_HEADERS")
        .map(|h| pairs(&h))
        .unwrap_or_default();
    if let Some(v) = own.and_then(|m| field(m, "headers")) {
        let hpath = join(own_path, "headers");
        match v {
            Value::Object(m) => {
                headers.clear();
                for (k, v) in m {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => {
                            d.error(&join(&hpath, k), "expected a string");
                            continue;
                        }
                    };
                    headers.push((k.to_ascii_lowercase(), Secret::new(text)));
                }
            }
            _ => d.error(
                &hpath,
                format_args!("expected a map of headers, got {}", show(&hpath, v)),
            ),
        }
    }
    let mut log_format = GenericFormat::JsonArray;
    if let Some(v) = own.and_then(|m| field(m, "log_format")) {
        let fpath = join(own_path, "log_format");
        match v.as_str() {
            Some("json_array") => log_format = GenericFormat::JsonArray,
            Some("ndjson") => log_format = GenericFormat::Ndjson,
            Some("single") => log_format = GenericFormat::Single,
            _ => d.error(
                &fpath,
                format_args!(
                    "expected \"json_array\", \"ndjson\" or \"single\", got {}",
                    show(&fpath, v)
                ),
            ),
        }
    }
    Some(SinkKind::Generic {
        endpoint,
        headers,
        log_format,
    })
}

/// An `http://` or `https://` URL, or an error naming where it came from.
fn url(path: &str, what: &str, u: &str, d: &mut Diag) -> Option<String> {
    if u.starts_with("http://") || u.starts_with("https://") {
        Some(u.to_string())
    } else {
        d.error(
            path,
            format_args!("{what}: expected an http:// or https:// URL"),
        );
        None
    }
}

/// `k1=v1,k2=v2` (OTEL_HEADERS, GENERIC_LOGGER_HEADERS); values may be percent-encoded.
fn pairs(s: &str) -> Vec<(String, Secret)> {
    s.split(',')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            let v = url_decode(v.trim());
            (k.trim().to_ascii_lowercase(), Secret::new(v))
        })
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() && s.is_char_boundary(i + 3) {
            if let Ok(n) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(n);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_pairs_decode() {
        let p = pairs("Authorization=Basic%20abc, x-team = t1,bad");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].0, "authorization");
        assert_eq!(p[0].1.expose(), "Basic abc");
        assert_eq!(p[1].1.expose(), "t1");
    }
}
