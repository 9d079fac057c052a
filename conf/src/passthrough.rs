//! `general_settings.pass_through_endpoints`: LiteLLM's custom pass-through routes (a gateway
//! path relayed to any URL), read and checked here — the path, the target URL (split into its
//! address and its own query), the headers sent with every request (`os.environ/` anywhere in a
//! value, LiteLLM's `LANGFUSE_PUBLIC_KEY`/`LANGFUSE_SECRET_KEY` pair made a Basic credential),
//! and the switches. Whether a path shadows a built-in route is the gateway's to check (it owns
//! the route table: `routes::custom`).

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::config::ApiBase;
use crate::diag::{boolean, field, index, join, quote, seconds, show, string, Diag};
use crate::raw::{Env, Lookup};
use crate::secret::Secret;

/// One custom pass-through route.
#[derive(Debug, Clone)]
pub struct PassThroughEndpoint {
    /// The gateway path (`/bria`), without a trailing `/`.
    pub path: String,
    /// The target's address and path (`https://engine.prod.bria-api.com/v1`).
    pub target: ApiBase,
    /// The target URL's own query string (without `?`; empty when it has none).
    pub target_query: String,
    /// Headers sent with every request, values resolved (`os.environ/…`); override the
    /// caller's of the same name.
    pub headers: Vec<(String, Secret)>,
    /// `forward_headers`: the caller's headers go too (less the connection's own, and the
    /// caller's Tollgate key under `auth: true`).
    pub forward_headers: bool,
    /// `merge_query_params`: the caller's query is merged by name with the target's (the
    /// target's value wins); otherwise it is appended as it is.
    pub merge_query_params: bool,
    /// `auth`: a Tollgate key is required, and the key's limits and budgets apply.
    pub auth: bool,
    /// `include_subpath`: `{path}/…` is relayed too, the rest appended to the target's path.
    pub include_subpath: bool,
    /// `cost_per_request` in USD (0: the spend comes from the usage the answer reports).
    pub cost_per_request: f64,
    /// `methods`: the HTTP methods served (upper case); empty = all.
    pub methods: Vec<String>,
    /// `timeout`: bounds the whole request (else `litellm_settings.request_timeout`).
    pub timeout: Option<Duration>,
}

/// Keys of an endpoint entry Tollgate reads.
const USED: &[&str] = &[
    "path",
    "target",
    "headers",
    "forward_headers",
    "merge_query_params",
    "auth",
    "include_subpath",
    "cost_per_request",
    "methods",
    "timeout",
    "id",
];

/// LiteLLM's Langfuse header pair, sent as one `Authorization: Basic` credential.
const LANGFUSE_PAIR: [&str; 2] = ["LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY"];

/// Reads `general_settings.pass_through_endpoints`.
pub(crate) fn endpoints(v: &Value, env: &Env, d: &mut Diag) -> Vec<PassThroughEndpoint> {
    const BASE: &str = "general_settings.pass_through_endpoints";
    let Value::Array(items) = v else {
        d.error(BASE, format_args!("expected a list, got {}", show(BASE, v)));
        return Vec::new();
    };
    let mut out: Vec<PassThroughEndpoint> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = index(BASE, i);
        let Value::Object(m) = item else {
            d.error(&at, format_args!("expected a map, got {}", show(&at, item)));
            continue;
        };
        if let Some(e) = endpoint(m, &at, env, d) {
            let clash = out.iter().find(|o| {
                o.path == e.path
                    && (o.methods.is_empty()
                        || e.methods.is_empty()
                        || o.methods.iter().any(|m| e.methods.contains(m)))
            });
            if clash.is_some() {
                d.error(
                    &join(&at, "path"),
                    format_args!("{} is already an endpoint above", quote(&e.path)),
                );
                continue;
            }
            out.push(e);
        }
    }
    out
}

fn endpoint(
    m: &Map<String, Value>,
    at: &str,
    env: &Env,
    d: &mut Diag,
) -> Option<PassThroughEndpoint> {
    for k in m.keys() {
        if k == "guardrails" {
            d.warn(
                &join(at, k),
                "not supported yet, ignored (no guardrail runs on this route)",
            );
        } else if !USED.contains(&k.as_str()) {
            d.warn(&join(at, k), "unknown key, ignored");
        }
    }
    let errors = d.error_count();
    let path = match field(m, "path") {
        None => {
            d.error(
                &join(at, "path"),
                "required (the route on the gateway, e.g. /bria)",
            );
            None
        }
        Some(v) => {
            string(&join(at, "path"), v, d).and_then(|p| route_path(&p, &join(at, "path"), d))
        }
    };
    let target = match field(m, "target") {
        None => {
            d.error(&join(at, "target"), "required (the URL requests go to)");
            None
        }
        Some(v) => string(&join(at, "target"), v, d).and_then(|t| {
            let (url, query) = t.trim().split_once('?').unwrap_or((t.trim(), ""));
            match crate::deployment::parse_api_base(url) {
                Ok(base) => Some((base, query.split('#').next().unwrap_or("").to_string())),
                Err(e) => {
                    // A custom Python adapter (`custom_callbacks.anthropic_adapter`) is a
                    // LiteLLM-only target.
                    let hint = if !t.contains("://") {
                        " (Tollgate relays to URLs only; LiteLLM's Python adapter targets are not supported)"
                    } else {
                        ""
                    };
                    d.error(&join(at, "target"), format_args!("{e}{hint}"));
                    None
                }
            }
        }),
    };
    let headers = match field(m, "headers") {
        None => Vec::new(),
        Some(Value::Object(h)) => headers(h, &join(at, "headers"), env, d),
        Some(v) => {
            let p = join(at, "headers");
            d.error(&p, format_args!("expected a map, got {}", show(&p, v)));
            Vec::new()
        }
    };
    let flag = |k: &str, d: &mut Diag| {
        field(m, k)
            .and_then(|v| boolean(&join(at, k), v, d))
            .unwrap_or(false)
    };
    let forward_headers = flag("forward_headers", d);
    let merge_query_params = flag("merge_query_params", d);
    let auth = flag("auth", d);
    let include_subpath = flag("include_subpath", d);
    let cost_per_request = match field(m, "cost_per_request") {
        None => 0.0,
        Some(v) => {
            let p = join(at, "cost_per_request");
            match v
                .as_f64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            {
                Some(c) if c >= 0.0 && c.is_finite() => c,
                _ => {
                    d.error(
                        &p,
                        format_args!("expected a cost in USD (0 or more), got {}", show(&p, v)),
                    );
                    0.0
                }
            }
        }
    };
    let methods = match field(m, "methods") {
        None => Vec::new(),
        Some(v) => methods(v, &join(at, "methods"), d),
    };
    let timeout = field(m, "timeout").and_then(|v| seconds(&join(at, "timeout"), v, false, d));
    let (path, (target, target_query)) = (path?, target?);
    (d.error_count() == errors).then_some(PassThroughEndpoint {
        path,
        target,
        target_query,
        headers,
        forward_headers,
        merge_query_params,
        auth,
        include_subpath,
        cost_per_request,
        methods,
        timeout,
    })
}

/// A route path: starts with `/`, no query, no `{…}` parameters, not `/` itself; a trailing
/// `/` is dropped.
fn route_path(p: &str, at: &str, d: &mut Diag) -> Option<String> {
    let trimmed = p.trim().trim_end_matches('/');
    let problem = if !p.trim().starts_with('/') {
        Some("must start with /")
    } else if trimmed.is_empty() {
        Some("must not be / (every route of the gateway is under it)")
    } else if trimmed.contains(['?', '#', '{', '}', ' ']) || trimmed.contains("//") {
        Some("must be a plain path (no query, fragment, {parameters}, spaces or //)")
    } else {
        None
    };
    match problem {
        Some(why) => {
            d.error(at, format_args!("{why}, got {}", quote(p)));
            None
        }
        None => Some(trimmed.to_string()),
    }
}

fn methods(v: &Value, at: &str, d: &mut Diag) -> Vec<String> {
    const KNOWN: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];
    let Value::Array(items) = v else {
        d.error(
            at,
            format_args!("expected a list of HTTP methods, got {}", show(at, v)),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = index(at, i);
        let Some(s) = string(&p, item, d) else {
            continue;
        };
        let up = s.trim().to_ascii_uppercase();
        if KNOWN.contains(&up.as_str()) {
            out.push(up);
        } else {
            d.error(
                &p,
                format_args!(
                    "unknown HTTP method {} (one of {})",
                    quote(&s),
                    KNOWN.join(", ")
                ),
            );
        }
    }
    out
}

fn headers(h: &Map<String, Value>, at: &str, env: &Env, d: &mut Diag) -> Vec<(String, Secret)> {
    let mut out = Vec::new();
    for (k, v) in h {
        let p = join(at, k);
        if LANGFUSE_PAIR.contains(&k.as_str()) {
            continue;
        }
        let value = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                d.error(&p, format_args!("expected a string, got {}", show(&p, v)));
                continue;
            }
        };
        if http_name_ok(k).is_err() {
            d.error(&p, format_args!("{} is not a valid header name", quote(k)));
            continue;
        }
        let Some(value) = embedded_env(&value, &p, env, d) else {
            continue;
        };
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            d.error(&p, "a header value must not contain a line break");
            continue;
        }
        out.push((k.to_ascii_lowercase(), Secret::new(value)));
    }
    let pair: Vec<Option<&Value>> = LANGFUSE_PAIR.iter().map(|k| field(h, k)).collect();
    match (pair[0], pair[1]) {
        (None, None) => {}
        (Some(public), Some(secret)) => {
            let strings = (
                string(&join(at, LANGFUSE_PAIR[0]), public, d),
                string(&join(at, LANGFUSE_PAIR[1]), secret, d),
            );
            if let (Some(pk), Some(sk)) = strings {
                let pk = embedded_env(&pk, &join(at, LANGFUSE_PAIR[0]), env, d);
                let sk = embedded_env(&sk, &join(at, LANGFUSE_PAIR[1]), env, d);
                if let (Some(pk), Some(sk)) = (pk, sk) {
                    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{pk}:{sk}"));
                    out.retain(|(n, _)| n != "authorization");
                    out.push(("authorization".into(), Secret::new(format!("Basic {basic}"))));
                }
            }
        }
        _ => d.error(
            at,
            "LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY go together (they make one Basic Authorization header)",
        ),
    }
    out
}

fn http_name_ok(k: &str) -> Result<(), ()> {
    let ok = !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(())
    }
}

/// LiteLLM's reading of a header value: `os.environ/NAME` anywhere in it (`Bearer
/// os.environ/COHERE_API_KEY`) stands for the variable, to the end of the value. (A whole-value
/// reference was resolved when the file was read.) An unset variable is an error here, where
/// LiteLLM would send the reference text as it is.
fn embedded_env(value: &str, at: &str, env: &Env, d: &mut Diag) -> Option<String> {
    let Some(start) = value.find("os.environ/") else {
        return Some(value.to_string());
    };
    let name = value[start + "os.environ/".len()..].trim();
    if name.is_empty() {
        d.error(at, "os.environ/ needs a variable name (os.environ/NAME)");
        return None;
    }
    match env.get(name) {
        Lookup::Set(v) => Some(format!("{}{v}", &value[..start])),
        Lookup::Unset => {
            d.error(
                at,
                format_args!("environment variable {name} is not set (os.environ/{name})"),
            );
            None
        }
        Lookup::NotUnicode => {
            d.error(
                at,
                format_args!("environment variable {name} is not valid UTF-8 (os.environ/{name})"),
            );
            None
        }
    }
}
