//! Guardrails: the top-level `guardrails:` list (LiteLLM's `guardrail_name` + `litellm_params`:
//! `guardrail`, `mode`, `default_on` and each kind's settings) and the `content_policy:
//! {incoming|outgoing: {block_words}}` form of published configs, validated into rules the
//! gateway compiles once (`gateway/src/guard/`). Kinds: the content filter, secret detection,
//! PII detection (built in), Presidio and the generic guardrail webhook (external).

use std::time::Duration;

use serde_json::{Map, Value};

use crate::diag::{boolean, field, index, join, seconds, show, string, Diag};
use crate::guard_patterns::{self as pats, Check, Prebuilt};
use crate::raw::Env;
use crate::secret::Secret;

/// When a guardrail runs (LiteLLM's `mode`, a string or a list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardMode {
    /// On the request, before anything is reserved or sent.
    PreCall,
    /// LiteLLM runs it in parallel with the call; Tollgate runs it before the call (the answer
    /// waits for it in LiteLLM too), and on a streamed response as it arrives.
    DuringCall,
    /// On the response (whole or streamed).
    PostCall,
    /// On what is logged only: the spend log and callbacks get masked text, the provider and
    /// the client the original.
    LoggingOnly,
}

/// What a detector does with a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Block,
    Mask,
}

/// One detection rule of a built-in guardrail.
#[derive(Debug, Clone)]
pub struct PatternRule {
    /// The pattern's name (`email`, `us_ssn`, a custom name): reasons and tags use it.
    pub name: String,
    pub regex: String,
    pub check: Check,
    pub action: Action,
    /// What a masked match becomes (`[EMAIL_REDACTED]`, `<EMAIL_ADDRESS>`).
    pub tag: String,
}

/// A keyword (matched case-insensitively, on word boundaries).
#[derive(Debug, Clone)]
pub struct WordRule {
    pub keyword: String,
    pub action: Action,
    pub tag: String,
    /// The set it came from (`blocked_words`, `prompt_injection`), for the reason.
    pub source: &'static str,
}

/// A built-in guardrail's rules.
#[derive(Debug, Clone, Default)]
pub struct LocalRules {
    pub patterns: Vec<PatternRule>,
    pub words: Vec<WordRule>,
    /// `output_parse_pii`: masked values get numbered tokens (`<EMAIL_ADDRESS_1>`), put back
    /// in the response.
    pub unmask: bool,
}

/// What to do when an external guardrail cannot answer (`unreachable_fallback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    FailClosed,
    FailOpen,
}

/// An external guardrail's endpoint settings.
#[derive(Debug, Clone)]
pub struct External {
    pub timeout: Duration,
    pub unreachable: Unreachable,
}

/// Presidio analyzer + anonymizer.
#[derive(Debug, Clone)]
pub struct Presidio {
    pub analyzer: String,
    pub anonymizer: String,
    pub language: String,
    /// `pii_entities_config`: entity → action; empty: every entity found is masked.
    pub entities: Vec<(String, Action)>,
    /// `presidio_score_thresholds.ALL` (default 0: every result counts).
    pub threshold: f64,
    pub unmask: bool,
    pub ext: External,
}

/// The generic guardrail webhook (`generic_guardrail_api`).
#[derive(Debug, Clone)]
pub struct Webhook {
    /// The full URL (`{api_base}/beta/litellm_basic_guardrail_api`).
    pub url: String,
    pub api_key: Option<Secret>,
    pub params: Map<String, Value>,
    pub ext: External,
}

/// What a guardrail is.
#[derive(Debug, Clone)]
pub enum GuardKind {
    Local(LocalRules),
    Presidio(Box<Presidio>),
    Webhook(Box<Webhook>),
}

/// One configured guardrail.
#[derive(Debug, Clone)]
pub struct Guardrail {
    pub name: String,
    /// The `guardrail` value as written (`litellm_content_filter`, `presidio`, …).
    pub provider: String,
    pub modes: Vec<GuardMode>,
    /// Runs on every request unless the key may and does turn it off.
    pub default_on: bool,
    pub kind: GuardKind,
}

impl Guardrail {
    pub fn runs(&self, mode: GuardMode) -> bool {
        self.modes.contains(&mode)
    }
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads `guardrails:` and `content_policy:` (top level).
pub(crate) fn guardrails(root: &Map<String, Value>, env: &Env, d: &mut Diag) -> Vec<Guardrail> {
    let mut out = Vec::new();
    match root.get("guardrails") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, g) in list.iter().enumerate() {
                let path = index("guardrails", i);
                if let Some(g) = one(&path, g, env, d) {
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

fn one(path: &str, g: &Value, env: &Env, d: &mut Diag) -> Option<Guardrail> {
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
    if modes.contains(&GuardMode::LoggingOnly) {
        d.warn(
            &join(&pp, "mode"),
            "logging_only is not supported yet: the guardrail does not run in that mode (docs/guardrails.md)",
        );
    }
    let mut used: Vec<&str> = vec!["guardrail", "mode", "default_on"];
    let kind = match provider.as_str() {
        "litellm_content_filter" | "content_filter" => {
            used.extend([
                "patterns",
                "blocked_words",
                "categories",
                "pattern_redaction_format",
                "keyword_redaction_tag",
                "output_parse_pii",
            ]);
            GuardKind::Local(content_filter(&pp, p, d))
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
    if !matches!(kind, GuardKind::Local(_)) && modes.contains(&GuardMode::PostCall) {
        d.warn(
            &join(&pp, "mode"),
            "post_call of an external guardrail checks whole responses only: streamed responses are not sent to it (docs/guardrails.md)",
        );
    }
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

fn action(path: &str, v: &Value, d: &mut Diag) -> Option<Action> {
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

fn content_filter(pp: &str, p: &Map<String, Value>, d: &mut Diag) -> LocalRules {
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
    for (path, m) in list("categories", d) {
        let cat = field(&m, "category").and_then(Value::as_str).unwrap_or("");
        let enabled = field(&m, "enabled")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        if !enabled {
            continue;
        }
        let act = field(&m, "action")
            .and_then(|v| action(&join(&path, "action"), v, d))
            .unwrap_or(Action::Block);
        if cat == "prompt_injection" || cat == "jailbreak" {
            for phrase in pats::PROMPT_INJECTION {
                out.words.push(WordRule {
                    keyword: phrase.to_string(),
                    action: act,
                    tag: kw_tag.clone(),
                    source: "prompt_injection",
                });
            }
        } else {
            d.error(
                &join(&path, "category"),
                format_args!(
                    "category {cat:?} is not built into Tollgate (built in: prompt_injection); list its words under blocked_words"
                ),
            );
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

/// `pii_entities_config` as a list of (entity, action); `None` entries mean "all, masked".
fn entities(pp: &str, p: &Map<String, Value>, d: &mut Diag) -> Vec<(String, Action)> {
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

fn external(pp: &str, p: &Map<String, Value>, d: &mut Diag) -> External {
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

fn url_of(path: &str, v: Option<&Value>, env: Option<String>, d: &mut Diag) -> Option<String> {
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

fn presidio(pp: &str, p: &Map<String, Value>, env: &Env, d: &mut Diag) -> Option<Presidio> {
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

fn webhook(pp: &str, p: &Map<String, Value>, d: &mut Diag) -> Option<Webhook> {
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
