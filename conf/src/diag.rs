//! Diagnostics: the error/warning collector, config-path strings, value rendering that never
//! shows secrets, the typed readers (`string`, `seconds`, `count`, …) every section uses, and
//! the one warning per key a section does not use (`check_keys`).

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::keys::{is_secret_key, KeyKind, Section};

/// Collects every error and warning of one load. At most one error is kept per path, so a value
/// that already failed (say, an unset `os.environ/` variable) is not reported twice.
#[derive(Debug, Default)]
pub(crate) struct Diag {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    failed_paths: HashSet<String>,
}

impl Diag {
    pub(crate) fn error(&mut self, path: &str, msg: impl std::fmt::Display) {
        if !path.is_empty() && !self.failed_paths.insert(path.to_string()) {
            return;
        }
        self.errors.push(line(path, msg));
    }

    pub(crate) fn warn(&mut self, path: &str, msg: impl std::fmt::Display) {
        self.warnings.push(line(path, msg));
    }

    pub(crate) fn error_count(&self) -> usize {
        self.errors.len()
    }

    /// Runs `f`, turning the errors it records into warnings (`path: problem, ignored`): for
    /// optional LiteLLM settings whose default is safe to run with, so one bad value never
    /// stops a config LiteLLM would run. `--strict` makes them errors again.
    pub(crate) fn lenient<T>(&mut self, f: impl FnOnce(&mut Diag) -> T) -> T {
        let mut scratch = Diag::default();
        let out = f(&mut scratch);
        for e in scratch.errors {
            self.warnings.push(format!("{e}, ignored"));
        }
        self.warnings.extend(scratch.warnings);
        out
    }
}

fn line(path: &str, msg: impl std::fmt::Display) -> String {
    if path.is_empty() {
        msg.to_string()
    } else {
        format!("{path}: {msg}")
    }
}

/// `join("general_settings", "master_key")` → `general_settings.master_key`. A base ending in
/// `": "` is a file label (`models.yaml: `) and takes the key without a dot.
pub(crate) fn join(base: &str, key: &str) -> String {
    if base.is_empty() || base.ends_with(": ") {
        format!("{base}{key}")
    } else {
        format!("{base}.{key}")
    }
}

/// `index("model_list", 3)` → `model_list[3]`.
pub(crate) fn index(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}

/// The last key of a path: `model_list[0].litellm_params.api_key` → `api_key`.
fn last_key(path: &str) -> &str {
    let tail = path.rsplit(['.', ' ']).next().unwrap_or(path);
    tail.split('[').next().unwrap_or(tail)
}

/// The value's kind, as in "got a list".
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// How a value appears in a message at `path`: scalars literally (strings quoted, long ones
/// shortened), containers by kind, and values under secret keys only by kind.
pub(crate) fn show(path: &str, v: &Value) -> String {
    if is_secret_key(last_key(path)) {
        return kind(v).to_string();
    }
    match v {
        Value::String(s) => quote(s),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_string(),
        _ => kind(v).to_string(),
    }
}

/// A string quoted for a message, shortened past 80 characters.
pub(crate) fn quote(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() > MAX {
        let short: String = s.chars().take(MAX).collect();
        format!("{}…", Value::String(short))
    } else {
        Value::String(s.to_string()).to_string()
    }
}

/// `map[key]`, treating an explicit `null` (`key:` with no value) as absent.
pub(crate) fn field<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

/// A section that must be a map; `null` or absent is an empty map.
pub(crate) fn section<'a>(
    root: &'a Map<String, Value>,
    key: &str,
    d: &mut Diag,
) -> Option<&'a Map<String, Value>> {
    match field(root, key) {
        None => None,
        Some(Value::Object(m)) => Some(m),
        Some(v) => {
            d.error(key, format_args!("expected a map, got {}", show(key, v)));
            None
        }
    }
}

pub(crate) fn string(path: &str, v: &Value, d: &mut Diag) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        _ => {
            d.error(
                path,
                format_args!("expected a string, got {}", show(path, v)),
            );
            None
        }
    }
}

/// A number, or a string holding one (YAML `"10"`, or a value from `os.environ/`).
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// A positive number (`max_request_size_mb`).
pub(crate) fn positive(path: &str, v: &Value, d: &mut Diag) -> Option<f64> {
    let Some(f) = number(v) else {
        d.error(
            path,
            format_args!("expected a number, got {}", show(path, v)),
        );
        return None;
    };
    if f > 0.0 {
        Some(f)
    } else {
        d.error(
            path,
            format_args!("must be greater than 0, got {}", show(path, v)),
        );
        None
    }
}

/// A duration in seconds, int or float; `> 0`, or `>= 0` with `allow_zero`.
pub(crate) fn seconds(path: &str, v: &Value, allow_zero: bool, d: &mut Diag) -> Option<Duration> {
    let Some(f) = number(v) else {
        d.error(
            path,
            format_args!("expected a number of seconds, got {}", show(path, v)),
        );
        return None;
    };
    if f < 0.0 || (f == 0.0 && !allow_zero) {
        let bound = if allow_zero {
            "0 or more"
        } else {
            "greater than 0"
        };
        d.error(
            path,
            format_args!("must be {bound} seconds, got {}", show(path, v)),
        );
        return None;
    }
    match Duration::try_from_secs_f64(f) {
        Ok(dur) => Some(dur),
        Err(_) => {
            d.error(path, format_args!("too large, got {}", show(path, v)));
            None
        }
    }
}

/// A non-negative integer (`rpm`, `tpm`). Integral floats (`1e3`) and numeric strings pass.
pub(crate) fn count(path: &str, v: &Value, d: &mut Diag) -> Option<u64> {
    let parsed = match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < 9.0e15)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    if parsed.is_none() {
        d.error(
            path,
            format_args!("expected a non-negative integer, got {}", show(path, v)),
        );
    }
    parsed
}

/// A boolean; the strings `true`/`false` (any case) pass too.
pub(crate) fn boolean(path: &str, v: &Value, d: &mut Diag) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => {
            d.error(
                path,
                format_args!("expected true or false, got {}", show(path, v)),
            );
            None
        }
    }
}

/// One warning per key that Tollgate does not use; an unknown key close to a known one names it
/// ("did you mean `general_settings`?"). A misspelled top-level section is called a section: all
/// of its settings are lost, `master_key` included.
pub(crate) fn check_keys(map: &Map<String, Value>, base: &str, keys: &Section, d: &mut Diag) {
    for k in map.keys() {
        match keys.classify(k) {
            KeyKind::Used => {}
            KeyKind::NotYet => d.warn(&join(base, k), "not supported yet, ignored"),
            KeyKind::Unknown => {
                let hint = crate::suggest::hint(k, keys.known());
                let what = if base.is_empty() && !hint.is_empty() {
                    "unknown section"
                } else {
                    "unknown key"
                };
                let lost = if what == "unknown section" {
                    " — none of its settings apply"
                } else {
                    ""
                };
                d.warn(&join(base, k), format_args!("{what}{hint}{lost}, ignored"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_join_with_dots_and_file_labels() {
        assert_eq!(join("", "model_list"), "model_list");
        assert_eq!(
            join("general_settings", "master_key"),
            "general_settings.master_key"
        );
        assert_eq!(join("extra.yaml: ", "model_list"), "extra.yaml: model_list");
        assert_eq!(index("model_list", 3), "model_list[3]");
        assert_eq!(last_key("model_list[0].litellm_params.api_key"), "api_key");
        assert_eq!(last_key("a.yaml: include[2]"), "include");
    }

    #[test]
    fn secrets_show_only_their_kind() {
        assert_eq!(
            show("general_settings.master_key", &json!("sk-x")),
            "a string"
        );
        assert_eq!(
            show("model_list[0].litellm_params.api_key", &json!(42)),
            "a number"
        );
        assert_eq!(
            show("litellm_settings.request_timeout", &json!("ten")),
            "\"ten\""
        );
        assert_eq!(show("x.max_tokens", &json!(12)), "12");
    }

    #[test]
    fn one_error_per_path() {
        let mut d = Diag::default();
        d.error("a.b", "first");
        d.error("a.b", "second");
        d.error("a.c", "third");
        assert_eq!(d.errors, vec!["a.b: first", "a.c: third"]);
    }

    #[test]
    fn readers_accept_numeric_strings_and_reject_words() {
        let mut d = Diag::default();
        assert_eq!(count("r", &json!("100"), &mut d), Some(100));
        assert_eq!(count("r", &json!(1e3), &mut d), Some(1000));
        assert_eq!(
            seconds("t", &json!(0.5), false, &mut d),
            Some(Duration::from_millis(500))
        );
        assert_eq!(boolean("b", &json!("True"), &mut d), Some(true));
        assert!(d.errors.is_empty());
        assert_eq!(count("c", &json!(-1), &mut d), None);
        assert_eq!(seconds("s", &json!(0), false, &mut d), None);
        assert_eq!(seconds("z", &json!(0), true, &mut d), Some(Duration::ZERO));
        assert_eq!(positive("p", &json!("ten"), &mut d), None);
        assert_eq!(seconds("huge", &json!(1e300), false, &mut d), None);
        assert_eq!(
            d.errors,
            vec![
                "c: expected a non-negative integer, got -1",
                "s: must be greater than 0 seconds, got 0",
                "p: expected a number, got \"ten\"",
                "huge: too large, got 1e+300",
            ]
        );
    }
}
