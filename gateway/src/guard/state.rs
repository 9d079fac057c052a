//! What guardrails leave in a request's context: which ones ran and what they did (the spend
//! log's and callbacks' `guardrail_information`), the built-in detectors the response must
//! pass (`post_call`), and the tokens masked in the request that go back to their values in
//! the response (`output_parse_pii`). Also the response check shared by whole and streamed
//! answers. No request context here: `ctx.rs` holds this.

use std::sync::Arc;

use serde_json::{json, Value};

use super::detect::{Detector, Hit};
use conf::guard::Action;

/// One guardrail's run on this request.
#[derive(Debug, Clone)]
pub struct Note {
    pub name: Arc<str>,
    /// `pre_call`, `during_call`, `post_call`.
    pub mode: &'static str,
    /// LiteLLM's `guardrail_status`: `success`, `guardrail_intervened`,
    /// `guardrail_failed_to_respond`.
    pub status: &'static str,
    /// What it did: `blocked: <reason>`, `masked 2`, an external service's failure.
    pub detail: Option<String>,
    pub masked: usize,
    pub seconds: f64,
}

/// A guardrail blocked: its name and why (never the matched text).
#[derive(Debug, Clone)]
pub struct Blocked {
    pub guardrail: Arc<str>,
    pub reason: String,
}

/// A built-in guardrail the response must pass.
#[derive(Clone)]
pub struct PostCheck {
    pub name: Arc<str>,
    pub detector: Arc<Detector>,
}

/// The guardrail state of one request.
#[derive(Default)]
pub struct GuardState {
    pub notes: Vec<Note>,
    /// Built-in `post_call` guardrails for the response.
    pub post: Vec<PostCheck>,
    /// Built-in `logging_only` guardrails, for what is logged (`logged.rs`).
    pub logging: Vec<PostCheck>,
    /// External `post_call` guardrails (indexes into `guards`).
    pub post_external: Vec<usize>,
    /// External `logging_only` guardrails (indexes into `guards`; `logged.rs`).
    pub logging_external: Vec<usize>,
    /// The configuration's guardrails, while external checks are pending.
    pub guards: Option<std::sync::Arc<super::compiled::Guards>>,
    /// Masked token → the value it replaced (`output_parse_pii`).
    pub unmask: Vec<(String, String)>,
}

impl GuardState {
    /// Whether the response needs looking at.
    pub fn has_post(&self) -> bool {
        !self.post.is_empty() || !self.post_external.is_empty() || !self.unmask.is_empty()
    }

    /// The longest text a post check may need to see at once (bytes): what a stream holds back.
    pub fn hold(&self) -> usize {
        let tokens = self.unmask.iter().map(|(t, _)| t.len()).max().unwrap_or(0);
        self.post
            .iter()
            .map(|p| p.detector.span)
            .max()
            .unwrap_or(0)
            .max(tokens)
    }

    /// `spend_log.metadata.guardrail_information` / the callbacks' field: one entry per run.
    pub fn information(&self) -> Value {
        Value::Array(self.notes.iter().map(Note::to_json).collect())
    }
}

impl Note {
    /// One entry of `guardrail_information`.
    pub fn to_json(&self) -> Value {
        json!({
            "guardrail_name": &*self.name,
            "guardrail_mode": self.mode,
            "guardrail_status": self.status,
            "guardrail_response": self.detail,
            "masked_entity_count": self.masked,
            "duration": self.seconds,
        })
    }
}

/// Every post check's hits in `text`, non-overlapping, in order (check index, hit).
pub fn hits(post: &[PostCheck], text: &str) -> Vec<(usize, Hit)> {
    let mut all: Vec<(usize, Hit)> = Vec::new();
    for (i, p) in post.iter().enumerate() {
        all.extend(p.detector.scan(text).into_iter().map(|h| (i, h)));
    }
    if all.len() > 1 {
        all.sort_by_key(|(_, h)| (h.start, usize::MAX - h.end));
        let mut kept: Vec<(usize, Hit)> = Vec::with_capacity(all.len());
        for (i, h) in all {
            if kept.last().is_none_or(|(_, k)| h.start >= k.end) {
                kept.push((i, h));
            }
        }
        all = kept;
    }
    all
}

/// Checks and masks `text[..upto]` against the post checks (hits from [`hits`] on all of
/// `text`), puts masked tokens back, and returns the released text. A blocking hit anywhere
/// in `text` blocks. `counts[i]`: masks made by check `i`.
pub fn release(
    post: &[PostCheck],
    unmask: &[(String, String)],
    text: &str,
    found: &[(usize, Hit)],
    upto: usize,
    counts: &mut [usize],
) -> Result<String, Blocked> {
    if let Some((i, h)) = found
        .iter()
        .find(|(i, h)| post[*i].detector.action(h.rule) == Action::Block)
    {
        return Err(Blocked {
            guardrail: post[*i].name.clone(),
            reason: post[*i].detector.reason(h.rule),
        });
    }
    let mut out = String::with_capacity(upto);
    let mut at = 0;
    for (i, h) in found.iter().filter(|(_, h)| h.end <= upto) {
        out.push_str(&text[at..h.start]);
        out.push_str(post[*i].detector.tag(h.rule));
        counts[*i] += 1;
        at = h.end;
    }
    out.push_str(&text[at..upto]);
    for (token, value) in unmask {
        if out.contains(token.as_str()) {
            out = out.replace(token.as_str(), value);
        }
    }
    Ok(out)
}

/// Where a stream may cut `text` now: `hold` bytes before its end, before any hit that
/// crosses that point, and before a partial masked token at the end (on a char boundary).
pub fn cut(text: &str, hold: usize, found: &[(usize, Hit)], unmask: &[(String, String)]) -> usize {
    let mut upto = text.len().saturating_sub(hold);
    while !text.is_char_boundary(upto) {
        upto -= 1;
    }
    for (_, h) in found {
        if h.start < upto && h.end > upto {
            upto = h.start;
        }
    }
    for (token, _) in unmask {
        let head = &text[..upto];
        for k in (1..token.len()).rev() {
            if head.ends_with(&token[..k]) {
                upto -= k;
                break;
            }
        }
    }
    upto
}

/// Checks a whole text (a complete response field) in place; the masks made.
pub fn check_whole(
    state: &GuardState,
    text: &mut String,
    counts: &mut [usize],
) -> Result<(), Blocked> {
    let found = hits(&state.post, text);
    if found.is_empty() && state.unmask.is_empty() {
        return Ok(());
    }
    *text = release(&state.post, &state.unmask, text, &found, text.len(), counts)?;
    Ok(())
}
