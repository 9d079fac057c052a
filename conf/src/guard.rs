//! Guardrails: the top-level `guardrails:` list (LiteLLM's `guardrail_name` + `litellm_params`:
//! `guardrail`, `mode`, `default_on` and each kind's settings) and the `content_policy:
//! {incoming|outgoing: {block_words}}` form of published configs, as the validated types the
//! gateway compiles once (`gateway/src/guard/`); read by `guard_parse.rs` and `guard_ext.rs`.
//! Kinds: the content filter, secret detection, PII detection (built in), Presidio and the
//! generic guardrail webhook (external).

use std::time::Duration;

use serde_json::{Map, Value};

use crate::guard_patterns::Check;
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
    /// The set it came from (`blocked_words`, `prompt_injection`, a category such as
    /// `harmful_violence`), for the reason.
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
