//! Guardrails (docs/guardrails.md): the configured guardrails compiled once per configuration
//! (`Guards`, in the runtime), which of them a request runs (default-on, the key's and team's
//! `metadata.guardrails`, the request's own `guardrails` within what the key may change), the
//! pre-call check of the request (before the cache lookup, budgets and any provider: a blocked
//! request costs nothing; a masked one is cached under its masked text) and the post-call
//! check of a whole response (`stream.rs` and `stream_ext.rs` for a streamed one). Each run is noted for the spend
//! log and callbacks and counted in `litellm_guardrail_*`.

pub mod checks;
pub mod compiled;
#[cfg(test)]
pub mod corpus;
pub mod detect;
pub mod external;
pub mod logged;
pub mod state;
pub mod stream;
pub mod stream_ext;
pub mod text;

use std::sync::Arc;
use std::time::Instant;

use conf::guard::{GuardKind, GuardMode, Unreachable};
use serde_json::{Map, Value};

pub use self::compiled::{Guard, Guards};
use self::detect::Outcome;
use self::external::{Verdict, Who};
use self::state::{Blocked, Note, PostCheck};
use crate::control::enforce::Caller;
use crate::control::Kind;
use crate::ctx::RequestCtx;
use crate::error::GatewayError;
use crate::state::AppState;

/// The request's `guardrails` (body, or `metadata.guardrails`), taken out of the body: names
/// turned on, and names turned off (`{"name": false}`).
fn requested(body: &mut Map<String, Value>) -> (Vec<String>, Vec<String>) {
    let mut on = Vec::new();
    let mut off = Vec::new();
    let mut read = |v: Value| match v {
        Value::Array(a) => {
            for item in a {
                match item {
                    Value::String(s) => on.push(s),
                    // `[{"name": {"extra_body": …}}]`: dynamic parameters (not used).
                    Value::Object(m) => on.extend(m.keys().cloned()),
                    _ => {}
                }
            }
        }
        Value::Object(m) => {
            for (k, v) in m {
                if v == Value::Bool(false) {
                    off.push(k)
                } else {
                    on.push(k)
                }
            }
        }
        Value::String(s) => on.push(s),
        _ => {}
    };
    if let Some(v) = body.remove("guardrails") {
        read(v);
    }
    if let Some(Value::Object(meta)) = body.get_mut("metadata") {
        if let Some(v) = meta.remove("guardrails") {
            read(v);
        }
    }
    (on, off)
}

/// `metadata.guardrails` of a key or team document (a list of names), and whether it lets
/// requests turn guardrails off (`permissions.modify_guardrails` on a key,
/// `metadata.guardrails.modify_guardrails` on a team): `Some(false)` forbids.
fn entity_guardrails(e: &crate::control::Entity) -> (Vec<String>, Option<bool>) {
    if !e.raw_doc().contains("guardrails") {
        return (Vec::new(), None);
    }
    let doc = e.doc();
    let meta = doc.get("metadata");
    let names = match meta.and_then(|m| m.get("guardrails")) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    let modify = doc
        .get("permissions")
        .and_then(|p| p.get("modify_guardrails"))
        .or_else(|| meta.and_then(|m| m.pointer("/guardrails/modify_guardrails")))
        .and_then(Value::as_bool);
    (names, modify)
}

/// Which guardrails run on this request, in config order.
fn select(
    state: &AppState,
    guards: &Guards,
    caller: &Caller,
    body: &mut Map<String, Value>,
) -> Result<Vec<usize>, GatewayError> {
    let (on, off) = if body.contains_key("guardrails") || body.contains_key("metadata") {
        requested(body)
    } else {
        (Vec::new(), Vec::new())
    };
    let mut active: Vec<bool> = guards.list.iter().map(|g| g.conf.default_on).collect();
    let mut may_modify = !matches!(caller, Caller::Key(_));
    if let Some(key) = caller.key() {
        let (names, modify) = entity_guardrails(key);
        let team = key
            .team_id
            .as_deref()
            .and_then(|t| state.control.get(Kind::Team, t));
        let (team_names, team_modify) = team.as_deref().map(entity_guardrails).unwrap_or_default();
        may_modify = modify == Some(true) && team_modify != Some(false)
            || modify.is_none() && team_modify == Some(true);
        for n in names.iter().chain(&team_names) {
            // A key's list naming a guardrail no longer configured: warned, not fatal.
            match guards.index(n) {
                Some(i) => active[i] = true,
                None => log::warn!(
                    "key or team metadata names guardrail {n:?}, which is not configured"
                ),
            }
        }
    }
    let unknown = |n: &str| GatewayError::Guardrail {
        status: 400,
        name: n.to_string(),
        reason: format!(
            "no guardrail named {n:?} is configured (configured: {})",
            guards
                .list
                .iter()
                .map(|g| &*g.name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    for n in &on {
        active[guards.index(n).ok_or_else(|| unknown(n))?] = true;
    }
    for n in &off {
        let i = guards.index(n).ok_or_else(|| unknown(n))?;
        if !may_modify {
            return Err(GatewayError::Forbidden(format!(
                "this key may not turn off guardrail {n:?} (needs permissions.modify_guardrails: true)"
            )));
        }
        active[i] = false;
    }
    Ok((0..active.len()).filter(|i| active[*i]).collect())
}

/// Counts one guardrail run in the metrics and notes it for the spend log and callbacks.
fn note(
    ctx: &mut RequestCtx,
    g: &Guard,
    mode: &'static str,
    status: &'static str,
    detail: Option<String>,
    masked: usize,
    started: Instant,
) {
    let seconds = started.elapsed().as_secs_f64();
    let error = (status == "guardrail_failed_to_respond").then_some("unreachable");
    crate::observe::guardrail(&g.name, mode, status, error, seconds);
    ctx.guard.get_or_insert_default().notes.push(Note {
        name: g.name.clone(),
        mode,
        status,
        detail,
        masked,
        seconds,
    });
}

fn mode_name(m: &[GuardMode]) -> &'static str {
    if m.contains(&GuardMode::PreCall) {
        "pre_call"
    } else {
        "during_call"
    }
}

fn blocked(g: &Guard, reason: String) -> GatewayError {
    GatewayError::Guardrail {
        status: 400,
        name: g.name.to_string(),
        reason,
    }
}

/// The caller, for the webhook.
fn who<'a>(ctx: &'a RequestCtx, caller: &'a Caller) -> Who<'a> {
    let key = caller.key();
    Who {
        call_id: &ctx.call_id,
        key_hash: key.map(|k| k.id.as_str()),
        key_alias: key.and_then(|k| k.alias()),
        team_id: key.and_then(|k| k.team_id.as_deref()),
        user_id: key.and_then(|k| k.user_id.as_deref()),
    }
}

/// Stage 2, before admission's cache lookup and budgets: runs the request's `pre_call` and
/// `during_call` guardrails on its text (masking in place, or refusing with LiteLLM's 400),
/// and leaves the `post_call` ones for the response. `body`: the client's body in its API.
/// Returns whether the body changed.
pub async fn pre_call(
    state: &AppState,
    guards: &Arc<Guards>,
    ctx: &mut RequestCtx,
    caller: &Caller,
    body: Option<&mut Map<String, Value>>,
) -> Result<bool, GatewayError> {
    let Some(body) = body else { return Ok(false) };
    if guards.list.is_empty() && !body.contains_key("guardrails") {
        return Ok(false);
    }
    let active = select(state, guards, caller, body)?;
    let mut changed = false;
    for i in active {
        let g = &guards.list[i];
        if g.conf.runs(GuardMode::PostCall) {
            let gs = ctx.guard.get_or_insert_default();
            match &g.detector {
                Some(d) => gs.post.push(PostCheck {
                    name: g.name.clone(),
                    detector: d.clone(),
                }),
                None => {
                    gs.post_external.push(i);
                    gs.guards = Some(guards.clone());
                }
            }
        }
        if g.conf.runs(GuardMode::LoggingOnly) {
            let gs = ctx.guard.get_or_insert_default();
            match &g.detector {
                Some(d) => gs.logging.push(PostCheck {
                    name: g.name.clone(),
                    detector: d.clone(),
                }),
                None => {
                    gs.logging_external.push(i);
                    gs.guards = Some(guards.clone());
                }
            }
        }
        if !(g.conf.runs(GuardMode::PreCall) || g.conf.runs(GuardMode::DuringCall)) {
            continue;
        }
        let mode = mode_name(&g.conf.modes);
        let started = Instant::now();
        let mut texts = text::request_texts(body);
        let verdict: Result<Verdict, String> = match (&g.conf.kind, &g.detector) {
            (GuardKind::Local(rules), Some(d)) => {
                let mut masked = 0;
                let mut refused = None;
                let unmask = &mut ctx.guard.get_or_insert_default().unmask;
                for t in texts.iter_mut() {
                    let outcome = d.apply(t, |tag, value| {
                        if !rules.unmask {
                            return tag.to_string();
                        }
                        token(unmask, tag, value)
                    });
                    match outcome {
                        Outcome::Clean => {}
                        Outcome::Masked(n) => masked += n,
                        Outcome::Blocked(r) => {
                            refused = Some(r);
                            break;
                        }
                    }
                }
                Ok(match (refused, masked) {
                    (Some(r), _) => Verdict::Blocked(format!("Content blocked: {r}")),
                    (None, 0) => Verdict::Pass,
                    (None, n) => Verdict::Changed(n),
                })
            }
            (GuardKind::Local(_), None) => Err("the guardrail's patterns failed to compile".into()),
            (GuardKind::Presidio(p), _) => {
                let unmask = &mut ctx.guard.get_or_insert_default().unmask;
                external::presidio(&guards.connector, p, &mut texts, unmask).await
            }
            (GuardKind::Webhook(w), _) => {
                let who = who(ctx, caller);
                external::webhook(&guards.connector, w, &mut texts, "request", &who).await
            }
        };
        match verdict {
            Ok(Verdict::Pass) => note(ctx, g, mode, "success", None, 0, started),
            Ok(Verdict::Changed(n)) => {
                changed = true;
                note(
                    ctx,
                    g,
                    mode,
                    "guardrail_intervened",
                    Some(format!("masked {n}")),
                    n,
                    started,
                );
            }
            Ok(Verdict::Blocked(reason)) => {
                note(
                    ctx,
                    g,
                    mode,
                    "guardrail_intervened",
                    Some(format!("blocked: {reason}")),
                    0,
                    started,
                );
                return Err(blocked(g, reason));
            }
            Err(e) => {
                let open = external_unreachable(g) == Unreachable::FailOpen;
                let what = if open {
                    "fail_open: let through"
                } else {
                    "fail_closed: refused"
                };
                log::warn!(
                    "guardrail {} could not check the request ({e}); {what}",
                    g.name
                );
                note(
                    ctx,
                    g,
                    mode,
                    "guardrail_failed_to_respond",
                    Some(e.clone()),
                    0,
                    started,
                );
                if !open {
                    return Err(GatewayError::Guardrail {
                        status: 503,
                        name: g.name.to_string(),
                        reason: format!(
                            "the guardrail could not check the request ({e}) and fails closed"
                        ),
                    });
                }
            }
        }
    }
    Ok(changed)
}

/// A numbered token for `value` (the same value keeps its token): `[EMAIL_REDACTED]` →
/// `[EMAIL_REDACTED_1]`, `<EMAIL_ADDRESS>` → `<EMAIL_ADDRESS_1>`.
fn token(unmask: &mut Vec<(String, String)>, tag: &str, value: &str) -> String {
    if let Some((t, _)) = unmask.iter().find(|(_, v)| v == value) {
        return t.clone();
    }
    let (open, inner, close) = match tag.len() {
        n if n >= 2 => (&tag[..1], &tag[1..n - 1], &tag[n - 1..]),
        _ => ("<", tag, ">"),
    };
    let prefix = format!("{open}{inner}_");
    let n = unmask
        .iter()
        .filter(|(t, _)| t.starts_with(&prefix))
        .count()
        + 1;
    let t = format!("{prefix}{n}{close}");
    unmask.push((t.clone(), value.to_string()));
    t
}

fn external_unreachable(g: &Guard) -> Unreachable {
    match &g.conf.kind {
        GuardKind::Presidio(p) => p.ext.unreachable,
        GuardKind::Webhook(w) => w.ext.unreachable,
        GuardKind::Local(_) => Unreachable::FailClosed,
    }
}

/// The post checks' masks, noted once the response is out (`counts[i]` for `post[i]`).
pub fn note_post(ctx: &mut RequestCtx, counts: &[usize], refused: Option<&Blocked>, seconds: f64) {
    let Some(gs) = ctx.guard.as_ref() else { return };
    let runs: Vec<(Arc<str>, usize)> = gs
        .post
        .iter()
        .zip(counts)
        .map(|(p, n)| (p.name.clone(), *n))
        .collect();
    for (name, n) in runs {
        let hit = refused.is_some_and(|b| b.guardrail == name);
        let (status, detail) = match (hit, n) {
            (true, _) => (
                "guardrail_intervened",
                refused.map(|b| format!("blocked: {}", b.reason)),
            ),
            (false, 0) => ("success", None),
            (false, n) => ("guardrail_intervened", Some(format!("masked {n}"))),
        };
        crate::observe::guardrail(&name, "post_call", status, None, seconds);
        ctx.guard.get_or_insert_default().notes.push(Note {
            name,
            mode: "post_call",
            status,
            detail,
            masked: n,
            seconds,
        });
    }
}

/// An answer with masked request values put back (`output_parse_pii`) is never stored in the
/// response cache: its key is the masked request, which another caller's values mask to alike.
fn keep_out_of_cache(ctx: &mut RequestCtx) {
    if ctx.guard.as_ref().is_some_and(|g| !g.unmask.is_empty())
        && ctx.cache.as_ref().is_some_and(|p| !p.hit)
    {
        ctx.cache = None;
    }
}

/// A post-call filter for a streamed response, when the request has post checks (external
/// ones hold the whole stream: `stream_ext.rs`).
pub fn stream_filter(ctx: &mut RequestCtx) -> Option<Box<stream::StreamFilter>> {
    keep_out_of_cache(ctx);
    ctx.guard
        .as_ref()
        .filter(|g| g.has_post())
        .map(|g| Box::new(stream::StreamFilter::new(g)))
}

/// The client error of a response a post-call guardrail blocked.
pub fn blocked_error(b: &Blocked) -> adapters::ApiError {
    GatewayError::Guardrail {
        status: 400,
        name: b.guardrail.to_string(),
        reason: format!("Content blocked: {}", b.reason),
    }
    .to_api_error()
}

/// Stage 5, a whole response: the request's `post_call` guardrails on its generated text
/// (masked in place, or the response replaced by LiteLLM's 400), and masked request tokens put
/// back (`output_parse_pii`). `body`: the response in the client's API.
pub async fn post_whole(
    ctx: &mut RequestCtx,
    body: &mut bytes::Bytes,
) -> Result<(), adapters::ApiError> {
    keep_out_of_cache(ctx);
    let Some(gs) = ctx.guard.as_ref().filter(|g| g.has_post()) else {
        return Ok(());
    };
    let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
        return Ok(());
    };
    let started = Instant::now();
    let mut counts = vec![0; gs.post.len()];
    let externals = gs.post_external.clone();
    let guards = gs.guards.clone();
    let mut changed = !gs.unmask.is_empty();
    let mut result = Ok(());
    for t in text::response_texts(&mut v) {
        if let Err(b) = state::check_whole(gs, t, &mut counts) {
            result = Err(b);
            break;
        }
    }
    changed |= counts.iter().any(|n| *n > 0);
    note_post(
        ctx,
        &counts,
        result.as_ref().err(),
        started.elapsed().as_secs_f64(),
    );
    if let Err(b) = result {
        return Err(blocked_error(&b));
    }
    for (i, guards) in externals
        .into_iter()
        .zip(std::iter::repeat(guards).flatten())
    {
        let g = &guards.list[i];
        let started = Instant::now();
        let mut texts = text::response_texts(&mut v);
        let verdict = match &g.conf.kind {
            GuardKind::Presidio(p) => {
                let mut unmask = Vec::new();
                external::presidio(&guards.connector, p, &mut texts, &mut unmask).await
            }
            GuardKind::Webhook(w) => {
                let who = Who {
                    call_id: &ctx.call_id,
                    key_hash: None,
                    key_alias: None,
                    team_id: None,
                    user_id: None,
                };
                external::webhook(&guards.connector, w, &mut texts, "response", &who).await
            }
            GuardKind::Local(_) => Err("the guardrail's patterns failed to compile".into()),
        };
        match verdict {
            Ok(Verdict::Pass) => note(ctx, g, "post_call", "success", None, 0, started),
            Ok(Verdict::Changed(n)) => {
                changed = true;
                note(
                    ctx,
                    g,
                    "post_call",
                    "guardrail_intervened",
                    Some(format!("masked {n}")),
                    n,
                    started,
                )
            }
            Ok(Verdict::Blocked(reason)) => {
                note(
                    ctx,
                    g,
                    "post_call",
                    "guardrail_intervened",
                    Some(format!("blocked: {reason}")),
                    0,
                    started,
                );
                return Err(blocked(g, reason).to_api_error());
            }
            Err(e) => {
                note(
                    ctx,
                    g,
                    "post_call",
                    "guardrail_failed_to_respond",
                    Some(e.clone()),
                    0,
                    started,
                );
                if external_unreachable(g) == Unreachable::FailClosed {
                    return Err(GatewayError::Guardrail {
                        status: 503,
                        name: g.name.to_string(),
                        reason: format!(
                            "the guardrail could not check the response ({e}) and fails closed"
                        ),
                    }
                    .to_api_error());
                }
            }
        }
    }
    if changed {
        *body = bytes::Bytes::from(serde_json::to_vec(&v).expect("JSON values serialize"));
    }
    Ok(())
}
