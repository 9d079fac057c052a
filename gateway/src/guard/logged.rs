//! `mode: logging_only` (LiteLLM's meaning): the guardrail runs on what is logged, not on the
//! request or the answer. At stage 6, before the spend log row and the callbacks' event are
//! made, the prompt and completion the callbacks export (`observe`'s capture) are masked by the
//! request's `logging_only` built-in guardrails; the provider and the client had the originals.
//! Every match is masked, a `BLOCK` rule's too: a log line cannot be refused.
//!
//! External ones (Presidio, the generic webhook) run off the request's path: the callbacks'
//! event waits for them on the control runtime ([`external`]) while the spend log row and the
//! next request on the connection do not. Presidio masks every entity it finds (`BLOCK`
//! entities too); the webhook gets the prompt texts (`input_type: request`) and the
//! completion (`response`) and its `GUARDRAIL_INTERVENED` texts are what is exported; a
//! `BLOCKED` verdict withholds the texts (each becomes [`WITHHELD`]), and so does a service
//! that cannot answer unless the guardrail fails open.

use std::time::Instant;

use conf::guard::{Action, GuardKind, Unreachable};
use serde_json::Value;

use super::external::{self, Verdict, Who};
use super::state::{hits, Note, PostCheck};
use super::text;
use crate::ctx::RequestCtx;
use crate::observe::callbacks::Later;
use crate::observe::event::Event;

/// What an exported text becomes when an external `logging_only` guardrail blocked it or could
/// not check it (and fails closed).
pub const WITHHELD: &str = "[withheld by guardrail]";

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

/// The request's external `logging_only` guardrails as work on the callbacks' event (`None`
/// when it has none). Each run is noted in the event's `guardrail_information` and counted in
/// the `litellm_guardrail_*` metrics (hook `logging_only`); the spend log row, written without
/// waiting, does not have it.
pub fn external(ctx: &mut RequestCtx) -> Option<Later> {
    let gs = ctx.guard.as_mut()?;
    if gs.logging_external.is_empty() {
        return None;
    }
    let list = std::mem::take(&mut gs.logging_external);
    let guards = gs.guards.clone()?;
    let call_id = ctx.call_id.clone();
    Some(Box::new(move |mut e: Event| {
        Box::pin(async move {
            let mut notes = Vec::with_capacity(list.len());
            for i in list {
                notes.push(run(&guards, i, &call_id, &mut e).await);
            }
            // The row is shared with the spend queue: the event gets its own copy here.
            if let Some(m) = std::sync::Arc::make_mut(&mut e.log)
                .metadata
                .as_object_mut()
            {
                let info = m
                    .entry("guardrail_information")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if !info.is_array() {
                    *info = Value::Array(Vec::new());
                }
                if let Some(a) = info.as_array_mut() {
                    a.extend(notes.iter().map(Note::to_json));
                }
            }
            e
        })
    }))
}

/// One external guardrail on the event's prompt and completion.
async fn run(guards: &super::Guards, i: usize, call_id: &str, e: &mut Event) -> Note {
    let g = &guards.list[i];
    let started = Instant::now();
    let c = &mut e.capture;
    let mut prompt: Vec<&mut String> = match c.messages.as_mut() {
        Some(m) => text::value_texts(m),
        None => Vec::new(),
    };
    prompt.retain(|t| !t.trim().is_empty());
    let mut answer: Vec<&mut String> = c.response.iter_mut().filter(|t| !t.is_empty()).collect();
    let conn = &guards.log_connector;
    let mut masked = 0;
    let mut outcome: Result<Option<String>, String> = Ok(None);
    for (texts, input_type) in [(&mut prompt, "request"), (&mut answer, "response")] {
        if texts.is_empty() {
            continue;
        }
        let verdict = match &g.conf.kind {
            GuardKind::Presidio(p) => {
                // Every entity is masked in a log, a BLOCK one too.
                let mut p = (**p).clone();
                p.entities.iter_mut().for_each(|(_, a)| *a = Action::Mask);
                p.unmask = false;
                external::presidio(conn, &p, texts, &mut Vec::new()).await
            }
            GuardKind::Webhook(w) => {
                let who = Who {
                    call_id,
                    key_hash: None,
                    key_alias: None,
                    team_id: None,
                    user_id: None,
                };
                external::webhook(conn, w, texts, input_type, &who).await
            }
            GuardKind::Local(_) => Err("the guardrail's patterns failed to compile".into()),
        };
        match verdict {
            Ok(Verdict::Pass) => {}
            Ok(Verdict::Changed(n)) => masked += n,
            Ok(Verdict::Blocked(r)) => {
                texts.iter_mut().for_each(|t| **t = WITHHELD.to_string());
                outcome = Ok(Some(format!("blocked: {r}")));
            }
            Err(why) => {
                let open = match &g.conf.kind {
                    GuardKind::Presidio(p) => p.ext.unreachable,
                    GuardKind::Webhook(w) => w.ext.unreachable,
                    GuardKind::Local(_) => Unreachable::FailClosed,
                } == Unreachable::FailOpen;
                if !open {
                    texts.iter_mut().for_each(|t| **t = WITHHELD.to_string());
                }
                log::warn!(
                    "guardrail {} could not check what is logged ({why}); {}",
                    g.name,
                    if open {
                        "fail_open: exported as is"
                    } else {
                        "fail_closed: texts withheld"
                    }
                );
                outcome = Err(why);
                break;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let (status, detail) = match outcome {
        Err(why) => ("guardrail_failed_to_respond", Some(why)),
        Ok(Some(blocked)) => ("guardrail_intervened", Some(blocked)),
        Ok(None) if masked > 0 => ("guardrail_intervened", Some(format!("masked {masked}"))),
        Ok(None) => ("success", None),
    };
    let error = (status == "guardrail_failed_to_respond").then_some("unreachable");
    crate::observe::guardrail(&g.name, "logging_only", status, error, seconds);
    Note {
        name: g.name.clone(),
        mode: "logging_only",
        status,
        detail,
        masked,
        seconds,
    }
}
