//! `mode: logging_only` (LiteLLM's meaning): the guardrail runs on what is logged, not on the
//! request or the answer. At stage 6, before the spend log row and the callbacks' event are
//! made, the prompt and completion the callbacks export (`observe`'s capture) are masked by the
//! request's `logging_only` built-in guardrails; the provider and the client had the originals.
//! Every match is masked, a `BLOCK` rule's too: a log line cannot be refused.

use std::time::Instant;

use super::state::{hits, Note, PostCheck};
use super::text;
use crate::ctx::RequestCtx;

/// Masks every match of `check` in `t`; the masks made.
fn mask(check: &PostCheck, t: &mut String) -> usize {
    let found = hits(std::slice::from_ref(check), t);
    if found.is_empty() {
        return 0;
    }
    let mut out = String::with_capacity(t.len());
    let mut at = 0;
    for (_, h) in &found {
        out.push_str(&t[at..h.start]);
        out.push_str(check.detector.tag(h.rule));
        at = h.end;
    }
    out.push_str(&t[at..]);
    *t = out;
    found.len()
}

/// Stage 6 (account), before the spend log row: runs the request's `logging_only` guardrails
/// on the captured prompt and completion, and notes each run (`guardrail_information`, the
/// `litellm_guardrail_*` metrics, hook `logging_only`).
pub fn logging_only(ctx: &mut RequestCtx) {
    let Some(gs) = ctx.guard.as_mut() else { return };
    if gs.logging.is_empty() {
        return;
    }
    let checks = std::mem::take(&mut gs.logging);
    let mut notes = Vec::with_capacity(checks.len());
    for check in &checks {
        let started = Instant::now();
        let mut n = 0;
        if let Some(c) = ctx.observe.as_deref_mut() {
            if let Some(m) = c.messages.as_mut() {
                for t in text::value_texts(m) {
                    n += mask(check, t);
                }
            }
            if let Some(r) = c.response.as_mut() {
                n += mask(check, r);
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let status = if n > 0 {
            "guardrail_intervened"
        } else {
            "success"
        };
        crate::observe::guardrail(&check.name, "logging_only", status, None, seconds);
        notes.push(Note {
            name: check.name.clone(),
            mode: "logging_only",
            status,
            detail: (n > 0).then(|| format!("masked {n}")),
            masked: n,
            seconds,
        });
    }
    if let Some(gs) = ctx.guard.as_mut() {
        gs.notes.extend(notes);
    }
}
