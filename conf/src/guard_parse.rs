//! Reading `guardrails:` and `content_policy:` into [`Guardrail`]s: the list, each entry's
//! `guardrail` kind and `mode`s, and the built-in kinds' rules (content filter, secret
//! detection, PII). External kinds are read in `guard_ext.rs`; the types are in `guard.rs`.

use std::path::Path;

use serde_json::{Map, Value};

use crate::diag::{boolean, field, index, join, show, string, Diag};
use crate::guard::{Action, GuardKind, GuardMode, Guardrail, LocalRules, PatternRule, WordRule};
use crate::guard_categories::{self as cats, Severity};
use crate::guard_ext::{action, entities, presidio, webhook, words_file};
use crate::guard_patterns::{self as pats, Check, Prebuilt};
use crate::raw::Env;

/// Reads `guardrails:` and `content_policy:` (top level).
pub(crate) fn guardrails(
    root: &Map<String, Value>,
    env: &Env,
    dir: &Path,
    d: &mut Diag,
) -> Vec<Guardrail> {
    let mut out = Vec::new();
    match root.get("guardrails") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, g) in list.iter().enumerate() {
                let path = index("guardrails", i);
                if let Some(g) = one(&path, g, env, dir, d) {
                    if out.iter().any(|o: &Guardrail| o.name == g.name) {
                        d.error(
                            &join(&path, "guardrail_name"),
                            format_args!("{} is defined twice", show("", &g.name.clone().into())),
                        );
                        continue;
                    }
                    out.push(g);
                }
            }
        }
        Some(v) => d.error(
            "guardrails",
            format_args!("expected a list, got {}", show("guardrails", v)),
        ),
    }
    if let Some(v) = root.get("content_policy") {
        content_policy(v, &mut out, d);
    }
    out
}

fn one(path: &str, g: &Value, env: &Env, dir: &Path, d: &mut Diag) -> Option<Guardrail> {
    let Value::Object(m) = g else {
        d.error(path, format_args!("expected a map, got {}", show(path, g)));
        return None;
    };
    for k in m.keys() {
        if !matches!(
            k.as_str(),
            "guardrail_name" | "litellm_params" | "guardrail_info" | "guardrail_id"
        ) {
            d.warn(&join(path, k), "unknown key, ignored");
        }
    }
    let name_path = join(path, "guardrail_name");
    let name = match field(m, "guardrail_name") {
        Some(v) => string(&name_path, v, d)?,
        None => {
            d.error(&name_path, "missing");
            return None;
        }
    };
    let pp = join(path, "litellm_params");
    let Some(Value::Object(p)) = field(m, "litellm_params") else {
        d.error(&pp, "missing (a map with guardrail and mode)");
        return None;
    };
    let kind_path = join(&pp, "guardrail");
    let provider = match field(p, "guardrail") {
        Some(v) => string(&kind_path, v, d)?,
        None => {
            d.error(&kind_path, "missing");
            return None;
        }
    };
    let modes = modes(&join(&pp, "mode"), field(p, "mode"), d)?;
    let default_on = match field(p, "default_on") {
        Some(v) => boolean(&join(&pp, "default_on"), v, d).unwrap_or(false),
        None => false,
    };
    let mut used: Vec<&str> = vec!["guardrail", "mode", "default_on"];
    let kind = match provider.as_str() {
        "litellm_content_filter" | "content_filter" => {
            used.extend([
                "patterns",
                "blocked_words",
                "blocked_words_file",
                "categories",
                "pattern_redaction_format",
                "keyword_redaction_tag",
                "output_parse_pii",
            ]);
            GuardKind::Local(content_filter(&pp, p, dir, d))
        }
        "hide-secrets" | "hide_secrets" | "secret_detection" | "detect_secrets" => {
            used.extend([
                "action",
                "detect_secrets_config",
                "pattern_redaction_format",
            ]);
            let action = action_of(&pp, p, Action::Mask, d);
            let fmt = redaction_format(&pp, p, d);
            let patterns = pats::secrets()
                .map(|b| rule(b, b.name, action, &fmt))
                .collect();
            if p.contains_key("detect_secrets_config") {
                d.warn(
                    &join(&pp, "detect_secrets_config"),
                    "not supported: Tollgate's built-in secret patterns are used instead (docs/guardrails.md)",
                );
            }
            GuardKind::Local(LocalRules {
                patterns,
                ..LocalRules::default()
            })
        }
        "tollgate_pii" | "pii" | "pii_masking" => {
            used.extend(["pii_entities_config", "output_parse_pii"]);
            GuardKind::Local(pii(&pp, p, d))
        }
        "presidio" | "litellm_pii" => {
            used.extend([
                "presidio_analyzer_api_base",
                "presidio_anonymizer_api_base",
                "presidio_language",
                "language",
                "pii_entities_config",
                "output_parse_pii",
                "presidio_score_thresholds",
                "timeout",
                "unreachable_fallback",
            ]);
            GuardKind::Presidio(Box::new(presidio(&pp, p, env, d)?))
        }
        "generic_guardrail_api" => {
            used.extend([
                "api_base",
                "api_key",
                "additional_provider_specific_params",
                "timeout",
                "unreachable_fallback",
            ]);
            GuardKind::Webhook(Box::new(webhook(&pp, p, d)?))
        }
        other => {
            d.error(
                &kind_path,
                format_args!(
                    "guardrail {} is not supported by Tollgate (supported: litellm_content_filter, hide-secrets, tollgate_pii, presidio, generic_guardrail_api); requests would go unguarded",
                    show("", &Value::String(other.to_string()))
                ),
            );
            return None;
        }
    };
    for k in p.keys() {
        if !used.contains(&k.as_str()) {
            d.warn(
                &join(&pp, k),
                format_args!("not supported by Tollgate for guardrail {provider}, ignored"),
            );
        }
    }
    Some(Guardrail {
        name,
        provider,
        modes,
        default_on,
        kind,
    })
}

fn modes(path: &str, v: Option<&Value>, d: &mut Diag) -> Option<Vec<GuardMode>> {
    let one = |s: &str, d: &mut Diag| -> Option<GuardMode> {
        Some(match s {
            "pre_call" => GuardMode::PreCall,
            "during_call" => GuardMode::DuringCall,
            "post_call" => GuardMode::PostCall,
            "logging_only" => GuardMode::LoggingOnly,
            _ => {
                d.error(
                    path,
                    format_args!(
                        "expected pre_call, during_call, post_call or logging_only, got {s:?}"
                    ),
                );
                return None;
            }
        })
    };
    match v {
        None => {
            d.error(
                path,
                "missing (pre_call, during_call, post_call or logging_only)",
            );
            None
        }
        Some(Value::String(s)) => Some(vec![one(s, d)?]),
        Some(Value::Array(a)) => {
            let mut out = Vec::new();
            for m in a {
                match m.as_str() {
                    Some(s) => out.push(one(s, d)?),
                    None => {
                        d.error(
                            path,
                            format_args!("expected mode names, got {}", show(path, m)),
                        );
                        return None;
                    }
                }
            }
            Some(out)
        }
        Some(v) => {
            d.error(
                path,
                format_args!("expected a mode or a list, got {}", show(path, v)),
            );
            None
        }
    }
}

fn action_of(pp: &str, p: &Map<String, Value>, default: Action, d: &mut Diag) -> Action {
    field(p, "action")
        .and_then(|v| action(&join(pp, "action"), v, d))
        .unwrap_or(default)
}

/// `pattern_redaction_format` (must hold `{pattern_name}`); default `[{pattern_name}_REDACTED]`.
fn redaction_format(pp: &str, p: &Map<String, Value>, d: &mut Diag) -> String {
    const DEFAULT: &str = "[{pattern_name}_REDACTED]";
    let path = join(pp, "pattern_redaction_format");
    match field(p, "pattern_redaction_format") {
        None => DEFAULT.into(),
        Some(v) => match string(&path, v, d) {
            Some(s) if s.contains("{pattern_name}") => s,
            Some(_) => {
                d.error(&path, "must contain {pattern_name}");
                DEFAULT.into()
            }
            None => DEFAULT.into(),
        },
    }
}

fn rule(b: &Prebuilt, name: &str, action: Action, fmt: &str) -> PatternRule {
    PatternRule {
        name: name.to_string(),
        regex: b.regex.to_string(),
        check: b.check,
        action,
        tag: fmt.replace("{pattern_name}", &name.to_ascii_uppercase()),
    }
}

fn content_filter(pp: &str, p: &Map<String, Value>, dir: &Path, d: &mut Diag) -> LocalRules {
    let fmt = redaction_format(pp, p, d);
    let kw_tag = match field(p, "keyword_redaction_tag") {
        Some(v) => string(&join(pp, "keyword_redaction_tag"), v, d)
            .unwrap_or_else(|| "[KEYWORD_REDACTED]".into()),
        None => "[KEYWORD_REDACTED]".into(),
    };
    let mut out = LocalRules::default();
    if let Some(v) = field(p, "output_parse_pii") {
        out.unmask = boolean(&join(pp, "output_parse_pii"), v, d).unwrap_or(false);
    }
    let list = |key: &str, d: &mut Diag| -> Vec<(String, Map<String, Value>)> {
        let path = join(pp, key);
        match field(p, key) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match v {
                    Value::Object(m) => Some((index(&path, i), m.clone())),
                    _ => {
                        d.error(
                            &index(&path, i),
                            format_args!("expected a map, got {}", show("", v)),
                        );
                        None
                    }
                })
                .collect(),
            Some(v) => {
                d.error(
                    &path,
                    format_args!("expected a list, got {}", show(&path, v)),
                );
                Vec::new()
            }
        }
    };
    for (path, m) in list("patterns", d) {
        let act = field(&m, "action")
            .and_then(|v| action(&join(&path, "action"), v, d))
            .unwrap_or(Action::Block);
        let ty = field(&m, "pattern_type").or_else(|| field(&m, "type"));
        let prebuilt_name = field(&m, "pattern_name").and_then(Value::as_str);
        match (ty.and_then(Value::as_str), prebuilt_name) {
            (Some("prebuilt") | None, Some(n)) => match pats::prebuilt(n) {
                Some(b) => out.patterns.push(rule(b, b.name, act, &fmt)),
                None => d.error(
                    &join(&path, "pattern_name"),
                    format_args!(
                        "unknown prebuilt pattern {n:?} (known: {})",
                        pats::PREBUILT
                            .iter()
                            .map(|b| b.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            },
            _ => {
                let Some(re) = field(&m, "pattern")
                    .or_else(|| field(&m, "regex"))
                    .and_then(Value::as_str)
                else {
                    d.error(&path, "expected pattern_name (prebuilt) or pattern (regex)");
                    continue;
                };
                if let Err(e) = regex_syntax::parse(re) {
                    d.error(&join(&path, "pattern"), format_args!("invalid regex: {e}"));
                    continue;
                }
                let name = field(&m, "name")
                    .and_then(Value::as_str)
                    .unwrap_or("custom_pattern")
                    .to_string();
                out.patterns.push(PatternRule {
                    tag: fmt.replace("{pattern_name}", &name.to_ascii_uppercase()),
                    name,
                    regex: re.to_string(),
                    check: Check::None,
                    action: act,
                });
            }
        }
    }
    for (path, m) in list("blocked_words", d) {
        let Some(k) = field(&m, "keyword")
            .and_then(Value::as_str)
            .filter(|k| !k.trim().is_empty())
        else {
            d.error(&join(&path, "keyword"), "missing");
            continue;
        };
        let act = field(&m, "action")
            .and_then(|v| action(&join(&path, "action"), v, d))
            .unwrap_or(Action::Block);
        out.words.push(WordRule {
            keyword: k.to_string(),
            action: act,
            tag: kw_tag.clone(),
            source: "blocked_words",
        });
    }
    if let Some(v) = field(p, "blocked_words_file") {
        for (keyword, action) in words_file(&join(pp, "blocked_words_file"), v, dir, d) {
            out.words.push(WordRule {
                keyword,
                action,
                tag: kw_tag.clone(),
                source: "blocked_words",
            });
        }
    }
    for (path, m) in list("categories", d) {
        let cat = field(&m, "category").and_then(Value::as_str).unwrap_or("");
        let enabled = field(&m, "enabled")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        for k in m.keys() {
            if !matches!(
                k.as_str(),
                "category" | "enabled" | "action" | "severity_threshold" | "description"
            ) {
                d.error(
                    &join(&path, k),
                    "not supported (a category is category, enabled, action, severity_threshold); category_file and custom categories are not: list their words under blocked_words",
                );
            }
        }
        let act = field(&m, "action")
            .and_then(|v| action(&join(&path, "action"), v, d))
            .unwrap_or(Action::Block);
        let threshold = match field(&m, "severity_threshold").and_then(Value::as_str) {
            None => Severity::Medium,
            Some(s) => Severity::parse(s).unwrap_or_else(|| {
                d.error(
                    &join(&path, "severity_threshold"),
                    format_args!("expected low, medium or high, got {s:?}"),
                );
                Severity::Medium
            }),
        };
        let phrases: Vec<(&'static str, &'static str)> = if cat == "prompt_injection"
            || cat == "jailbreak"
        {
            pats::PROMPT_INJECTION
                .iter()
                .map(|p| (*p, "prompt_injection"))
                .collect()
        } else if let Some(c) = cats::category(cat) {
            c.phrases
                .iter()
                .filter(|(_, s)| *s >= threshold)
                .map(|(p, _)| (*p, c.name))
                .collect()
        } else {
            d.error(
                    &join(&path, "category"),
                    format_args!(
                        "category {cat:?} is not built into Tollgate (built in: {}); list its words under blocked_words",
                        cats::names().join(", ")
                    ),
                );
            continue;
        };
        if !enabled {
            continue;
        }
        for (phrase, source) in phrases {
            out.words.push(WordRule {
                keyword: phrase.to_string(),
                action: act,
                tag: kw_tag.clone(),
                source,
            });
        }
    }
    if out.patterns.is_empty() && out.words.is_empty() {
        d.warn(
            pp,
            "no patterns, blocked_words or categories: this guardrail finds nothing",
        );
    }
    out
}

fn pii(pp: &str, p: &Map<String, Value>, d: &mut Diag) -> LocalRules {
    let listed = entities(pp, p, d);
    let unmask = field(p, "output_parse_pii")
        .and_then(|v| boolean(&join(pp, "output_parse_pii"), v, d))
        .unwrap_or(false);
    let mut patterns = Vec::new();
    if listed.is_empty() {
        for b in pats::pii() {
            let e = b.entity.unwrap_or(b.name);
            patterns.push(rule(b, e, Action::Mask, "<{pattern_name}>"));
        }
    }
    for (entity, act) in listed {
        match pats::for_entity(&entity) {
            Some(b) => patterns.push(rule(
                b,
                &entity.to_ascii_uppercase(),
                act,
                "<{pattern_name}>",
            )),
            None => d.error(
                &join(&join(pp, "pii_entities_config"), &entity),
                format_args!(
                    "entity {entity:?} is not built in (built in: {}); use presidio for it",
                    pats::pii()
                        .filter_map(|b| b.entity)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        }
    }
    LocalRules {
        patterns,
        words: Vec::new(),
        unmask,
    }
}

/// `content_policy: {incoming: {block_words: […]}, outgoing: {block_words: […]}}`: a default-on
/// keyword filter per direction, named `content_policy_incoming` / `content_policy_outgoing`.
fn content_policy(v: &Value, out: &mut Vec<Guardrail>, d: &mut Diag) {
    let Value::Object(m) = v else {
        d.error(
            "content_policy",
            format_args!("expected a map, got {}", show("content_policy", v)),
        );
        return;
    };
    for (dir, section) in m {
        let path = join("content_policy", dir);
        let mode = match dir.as_str() {
            "incoming" => GuardMode::PreCall,
            "outgoing" => GuardMode::PostCall,
            _ => {
                d.warn(
                    &path,
                    "unknown key (expected incoming or outgoing), ignored",
                );
                continue;
            }
        };
        let words = section
            .get("block_words")
            .or_else(|| section.get("blocked_words"));
        let Some(Value::Array(words)) = words else {
            d.error(&join(&path, "block_words"), "expected a list of words");
            continue;
        };
        let words = words
            .iter()
            .filter_map(|w| {
                w.as_str()
                    .or_else(|| w.get("keyword").and_then(Value::as_str))
            })
            .filter(|w| !w.trim().is_empty())
            .map(|w| WordRule {
                keyword: w.to_string(),
                action: Action::Block,
                tag: "[KEYWORD_REDACTED]".into(),
                source: "content_policy",
            })
            .collect();
        out.push(Guardrail {
            name: format!("content_policy_{dir}"),
            provider: "content_policy".into(),
            modes: vec![mode],
            default_on: true,
            kind: GuardKind::Local(LocalRules {
                patterns: Vec::new(),
                words,
                unmask: false,
            }),
        });
    }
}
