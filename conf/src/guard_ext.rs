//! The external guardrails' settings (`presidio`, `generic_guardrail_api`: endpoints,
//! timeouts, `unreachable_fallback`) and the readers the built-in ones share with them (an
//! action, `pii_entities_config`, the content filter's `blocked_words_file`). Types in
//! `guard.rs`.

use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::diag::{boolean, field, join, seconds, show, string, Diag};
use crate::guard::{Action, External, Presidio, Unreachable, Webhook};
use crate::raw::Env;
use crate::secret::Secret;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) fn action(path: &str, v: &Value, d: &mut Diag) -> Option<Action> {
    match v.as_str().map(str::to_ascii_uppercase).as_deref() {
        Some("BLOCK") => Some(Action::Block),
        Some("MASK") | Some("REDACT") => Some(Action::Mask),
        _ => {
            d.error(
                path,
                format_args!("expected BLOCK or MASK, got {}", show(path, v)),
            );
            None
        }
    }
}

/// The largest `blocked_words_file` read.
pub(crate) const WORDS_FILE_LIMIT: u64 = 1 << 20;

/// `blocked_words_file` (relative to the config file's directory): LiteLLM's YAML,
/// `blocked_words: [{keyword, action, description}]` (or the list alone; an entry may be a bare
/// word), read at config load, at most [`WORDS_FILE_LIMIT`] bytes. Entries without an action
/// block, as inline `blocked_words` do.
pub(crate) fn words_file(path: &str, v: &Value, dir: &Path, d: &mut Diag) -> Vec<(String, Action)> {
    let Some(name) = v.as_str().filter(|s| !s.trim().is_empty()) else {
        d.error(
            path,
            format_args!("expected a file path, got {}", show(path, v)),
        );
        return Vec::new();
    };
    let file = dir.join(name);
    let shown = file.display();
    let size = match std::fs::metadata(&file) {
        Ok(m) => m.len(),
        Err(e) => {
            d.error(path, format_args!("cannot read {shown}: {e}"));
            return Vec::new();
        }
    };
    if size > WORDS_FILE_LIMIT {
        d.error(
            path,
            format_args!("{shown} is {size} bytes, over the {WORDS_FILE_LIMIT}-byte limit"),
        );
        return Vec::new();
    }
    let parsed = std::fs::read_to_string(&file)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_norway::from_str::<Value>(&t).map_err(|e| e.to_string()));
    let doc = match parsed {
        Ok(doc) => doc,
        Err(e) => {
            d.error(path, format_args!("{shown}: {e}"));
            return Vec::new();
        }
    };
    let list = match &doc {
        Value::Object(m) => m.get("blocked_words").and_then(Value::as_array),
        Value::Array(a) => Some(a),
        _ => None,
    };
    let Some(list) = list else {
        d.error(
            path,
            format_args!("{shown}: expected blocked_words: [{{keyword, action}}, …]"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let at = format!("{shown}: blocked_words[{i}]");
        let (keyword, act) = match e {
            Value::String(s) => (Some(s.as_str()), Action::Block),
            Value::Object(m) => (
                m.get("keyword").and_then(Value::as_str),
                match m.get("action") {
                    Some(a) => match action(&format!("{path} ({at}.action)"), a, d) {
                        Some(a) => a,
                        None => continue,
                    },
                    None => Action::Block,
                },
            ),
            _ => (None, Action::Block),
        };
        match keyword.filter(|k| !k.trim().is_empty()) {
            Some(k) => out.push((k.to_string(), act)),
            None => d.error(path, format_args!("{at}: expected a keyword")),
        }
    }
    if out.is_empty() {
        d.warn(path, format_args!("{shown} lists no words"));
    }
    out
}

/// `pii_entities_config` as a list of (entity, action); `None` entries mean "all, masked".
pub(crate) fn entities(pp: &str, p: &Map<String, Value>, d: &mut Diag) -> Vec<(String, Action)> {
    let path = join(pp, "pii_entities_config");
    match field(p, "pii_entities_config") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(m)) => m
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), action(&join(&path, k), v, d)?)))
            .collect(),
        Some(v) => {
            d.error(
                &path,
                format_args!(
                    "expected a map of entity: MASK|BLOCK, got {}",
                    show(&path, v)
                ),
            );
            Vec::new()
        }
    }
}

pub(crate) fn external(pp: &str, p: &Map<String, Value>, d: &mut Diag) -> External {
    let timeout = field(p, "timeout")
        .and_then(|v| seconds(&join(pp, "timeout"), v, false, d))
        .unwrap_or(DEFAULT_TIMEOUT);
    let path = join(pp, "unreachable_fallback");
    let unreachable = match field(p, "unreachable_fallback").map(|v| (v, v.as_str())) {
        None => Unreachable::FailClosed,
        Some((_, Some("fail_closed"))) => Unreachable::FailClosed,
        Some((_, Some("fail_open"))) => Unreachable::FailOpen,
        Some((v, _)) => {
            d.error(
                &path,
                format_args!("expected fail_closed or fail_open, got {}", show(&path, v)),
            );
            Unreachable::FailClosed
        }
    };
    External {
        timeout,
        unreachable,
    }
}

pub(crate) fn url_of(
    path: &str,
    v: Option<&Value>,
    env: Option<String>,
    d: &mut Diag,
) -> Option<String> {
    let s = match v {
        Some(v) => string(path, v, d)?,
        None => match env {
            Some(s) => s,
            None => {
                d.error(path, "missing");
                return None;
            }
        },
    };
    let s = s.trim_end_matches('/').to_string();
    let s = if s.starts_with("http://") || s.starts_with("https://") {
        s
    } else {
        format!("http://{s}")
    };
    match url::Url::parse(&s) {
        Ok(_) => Some(s),
        Err(e) => {
            d.error(path, format_args!("not a URL ({e})"));
            None
        }
    }
}

pub(crate) fn presidio(
    pp: &str,
    p: &Map<String, Value>,
    env: &Env,
    d: &mut Diag,
) -> Option<Presidio> {
    let env = |k: &str| env.non_empty(k);
    let analyzer = url_of(
        &join(pp, "presidio_analyzer_api_base"),
        field(p, "presidio_analyzer_api_base"),
        env("PRESIDIO_ANALYZER_API_BASE"),
        d,
    );
    let anonymizer = url_of(
        &join(pp, "presidio_anonymizer_api_base"),
        field(p, "presidio_anonymizer_api_base"),
        env("PRESIDIO_ANONYMIZER_API_BASE"),
        d,
    );
    let language = field(p, "presidio_language")
        .or_else(|| field(p, "language"))
        .and_then(Value::as_str)
        .unwrap_or("en")
        .to_string();
    let threshold = field(p, "presidio_score_thresholds")
        .and_then(|v| v.get("ALL"))
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let entities = entities(pp, p, d);
    let unmask = field(p, "output_parse_pii")
        .and_then(|v| boolean(&join(pp, "output_parse_pii"), v, d))
        .unwrap_or(false);
    Some(Presidio {
        analyzer: analyzer?,
        anonymizer: anonymizer?,
        language,
        entities,
        threshold,
        unmask,
        ext: external(pp, p, d),
    })
}

pub(crate) fn webhook(pp: &str, p: &Map<String, Value>, d: &mut Diag) -> Option<Webhook> {
    let base = url_of(&join(pp, "api_base"), field(p, "api_base"), None, d)?;
    let url = if base.ends_with("/beta/litellm_basic_guardrail_api") {
        base
    } else {
        format!("{base}/beta/litellm_basic_guardrail_api")
    };
    let api_key = field(p, "api_key")
        .and_then(|v| string(&join(pp, "api_key"), v, d))
        .map(Secret::new);
    let params = match field(p, "additional_provider_specific_params") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    Some(Webhook {
        url,
        api_key,
        params,
        ext: external(pp, p, d),
    })
}
