//! Logging callbacks (Langfuse, OTLP, generic webhook) fed one event per finished request from
//! the account stage, each sink behind its own bounded queue (`queue.rs`) and sender task on the
//! control runtime; the request capture (`capture.rs`: trace ids, metadata, text only when
//! wanted); and alerting (`alerting.rs`). Set up once at start ([`start`]); every hook is a
//! no-op costing one atomic load when nothing is configured.

use std::sync::{Arc, OnceLock};

use conf::observe::callbacks::SinkKind;
use conf::Config;
use pingora::connectors::http::Connector;
use serde_json::{Map, Value};

use super::dynamic::{Creds, Dynamic};
use super::event::Event;
pub use super::queue::callback_failures;
use super::queue::Sink;
use super::{alerting, capture, generic, langfuse, otlp};
use crate::control::enforce::Admission;
use crate::control::Kind;
use crate::ctx::RequestCtx;

/// The process's callbacks, set at start.
pub struct Observe {
    pub sinks: Vec<Arc<Sink>>,
    /// Some sink exports prompt and completion text (and message logging is on).
    text: bool,
    forward_traceparent: bool,
    /// Some sink takes failure events.
    failures: bool,
    pub alerts: Option<Arc<alerting::Alerts>>,
    connector: Arc<Connector>,
    /// Sinks for keys' and teams' own Langfuse credentials.
    dynamic: Dynamic,
    /// The control runtime: [`Later`] work runs there.
    rt: tokio::runtime::Handle,
}

/// Work on a request's event before it is delivered, run on the control runtime off the
/// request's path: the external `logging_only` guardrails (`guard::logged`).
pub type Later = Box<
    dyn FnOnce(Event) -> std::pin::Pin<Box<dyn std::future::Future<Output = Event> + Send>> + Send,
>;

static OBSERVE: OnceLock<Observe> = OnceLock::new();

/// The configured callbacks, if any were set up.
pub fn get() -> Option<&'static Observe> {
    OBSERVE.get()
}

/// Names of the configured callbacks (`/health/readiness` `success_callbacks`).
pub fn callback_names() -> Vec<String> {
    get()
        .map(|o| o.sinks.iter().map(|s| s.name.clone()).collect())
        .unwrap_or_default()
}

/// Builds the sinks and alerting of `config` and starts their sender tasks on `rt`. Called once
/// at start; the sinks stay as they are across reloads (restart to change them).
pub fn start(config: &Config, rt: &tokio::runtime::Handle) {
    let cb = &config.callbacks;
    let connector = Arc::new(Connector::new(None));
    let mut sinks = Vec::new();
    for s in &cb.sinks {
        let wants_text = !cb.turn_off_message_logging;
        let built = match &s.kind {
            SinkKind::Langfuse {
                host,
                public_key,
                secret_key,
            } => {
                use base64::Engine as _;
                let auth = base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    public_key.expose(),
                    secret_key.expose()
                ));
                Sink::new(
                    s,
                    &format!("{host}/api/public/ingestion"),
                    vec![("authorization".into(), format!("Basic {auth}"))],
                    Box::new(langfuse::Langfuse),
                    wants_text,
                )
            }
            SinkKind::Otlp {
                endpoint,
                protocol,
                headers,
                service_name,
            } => Sink::new(
                s,
                endpoint,
                expose(headers),
                Box::new(otlp::Otlp {
                    protocol: *protocol,
                    service_name: service_name.clone(),
                }),
                wants_text,
            ),
            SinkKind::Generic {
                endpoint,
                headers,
                log_format,
            } => Sink::new(
                s,
                endpoint,
                expose(headers),
                Box::new(generic::Generic(*log_format)),
                wants_text,
            ),
        };
        match built {
            Ok(sink) => {
                let sink = Arc::new(sink);
                rt.spawn(sink.clone().run(connector.clone()));
                log::info!("callback {}: on", sink.name);
                sinks.push(sink);
            }
            Err(e) => log::error!("callback {}: {e}; off", s.name),
        }
    }
    let alerts = alerting::Alerts::start(&config.alerting, connector.clone(), rt);
    let text = sinks.iter().any(|s| s.wants_text);
    let failures = sinks.iter().any(|s| s.on_failure);
    // Keys' own Langfuse projects queue like the configured Langfuse sink (else the defaults).
    let queue = cb
        .sinks
        .iter()
        .find(|s| matches!(s.kind, SinkKind::Langfuse { .. }))
        .map(|s| s.queue)
        .unwrap_or_default();
    let dynamic = Dynamic::new(
        queue,
        !cb.turn_off_message_logging,
        rt.clone(),
        connector.clone(),
    );
    let _ = OBSERVE.set(Observe {
        failures,
        sinks,
        text,
        forward_traceparent: cb.forward_traceparent,
        alerts,
        connector,
        dynamic,
        rt: rt.clone(),
    });
}

/// At shutdown: sends what the sinks and alerting still hold, for at most `within`.
pub fn flush(rt: &tokio::runtime::Handle, within: std::time::Duration) {
    let Some(o) = get() else { return };
    let queued: usize = o.sinks.iter().map(|s| s.queued()).sum();
    // The timer is made inside the runtime (the caller is the main thread, outside it).
    let done = rt.block_on(async {
        tokio::time::timeout(within, async {
            for s in o.sinks.iter().chain(&o.dynamic.all()) {
                s.send_queued(&o.connector).await;
            }
            if let Some(a) = &o.alerts {
                a.send_queued(&o.connector).await;
            }
        })
        .await
    });
    if done.is_err() {
        log::warn!(
            "callbacks: not every queued event was delivered within {}s at shutdown ({queued} were queued)",
            within.as_secs()
        );
    }
}

fn expose(h: &[(String, conf::Secret)]) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| (k.clone(), v.expose().to_string()))
        .collect()
}

/// Stage 2 hook (admit): captures the trace context, the request's metadata and — only when a
/// sink exports it — its prompt.
pub fn on_admit(
    traceparent: Option<&::http::HeaderValue>,
    body: &Map<String, Value>,
    ctx: &mut RequestCtx,
) {
    let Some(o) = get() else { return };
    if o.sinks.is_empty() && !o.forward_traceparent {
        return;
    }
    ctx.observe = Some(Box::new(capture::capture_from(traceparent, body, o.text)));
}

/// The `traceparent` the provider gets (`forward_traceparent_to_llm_api`).
pub fn upstream_traceparent(ctx: &RequestCtx) -> Option<String> {
    let o = get()?;
    if !o.forward_traceparent {
        return None;
    }
    ctx.observe.as_ref().map(|c| c.upstream_traceparent())
}

/// Relay hook: a whole canonical answer went out.
pub fn on_whole(ctx: &mut RequestCtx, body: &[u8]) {
    if let Some(c) = ctx.observe.as_deref_mut() {
        c.first_byte_ms.get_or_insert_with(crate::clock::now_ms_i64);
        capture::note_whole(c, body);
    }
}

/// Relay hook: canonical stream events went out.
pub fn on_stream(ctx: &mut RequestCtx, events: &[u8]) {
    if let Some(c) = ctx.observe.as_deref_mut() {
        capture::note_stream(c, events);
    }
}

/// Stage 6 hook (account): the request's event for every sink that takes it, and its alerts.
/// `log` is the request's spend log row; `later`: work on the event before it goes out (on
/// the control runtime, not awaited here).
pub fn request_done(
    control: &crate::control::Control,
    ctx: &mut RequestCtx,
    adm: &Admission,
    log: &Arc<store::SpendLog>,
    later: Option<Later>,
) {
    let Some(o) = get() else { return };
    if let Some(a) = &o.alerts {
        a.request_done(control, ctx, adm, log);
    }
    if o.sinks.is_empty() {
        return;
    }
    let ok = log.status == "success";
    let team = adm
        .holds
        .iter()
        .map(|(e, _)| e)
        .find(|e| e.kind == Kind::Team);
    let mut prefs = prefs(adm.key.as_deref(), team.map(|t| &**t));
    if prefs.creds.is_empty()
        && !o
            .sinks
            .iter()
            .any(|s| super::event::allowed(&prefs.only, &s.name, s.on_success, s.on_failure, ok))
    {
        return;
    }
    let creds = std::mem::take(&mut prefs.creds);
    let capture = ctx
        .observe
        .take()
        .map(|c| *c)
        .unwrap_or_else(|| capture::capture_from(None, &Map::new(), false));
    let mut e = Event {
        log: log.clone(),
        ok,
        stream: ctx.stream,
        status: ctx.status,
        upstream_status: ctx.upstream_status,
        error: ctx.failure.clone(),
        key_alias: log.key_alias.clone(),
        team_alias: team.and_then(|t| t.alias()).map(str::to_string),
        text: o.text && !prefs.no_text,
        capture,
        only: prefs.only,
        size: 0,
    };
    e.size = e.reckon(ctx.body_bytes);
    match later {
        None => deliver(o, &creds, Arc::new(e)),
        Some(f) => {
            o.rt.spawn(async move {
                let e = f(e).await;
                deliver(o, &creds, Arc::new(e));
            });
        }
    }
}

/// Queues `e` on every sink that takes it: the configured ones, except those a key's or team's
/// own credentials replace (`creds`), whose own sinks get it instead.
fn deliver(o: &Observe, creds: &[Creds], e: Arc<Event>) {
    for s in &o.sinks {
        if !creds.iter().any(|c| c.name == s.name)
            && e.for_sink(&s.name, s.on_success, s.on_failure)
        {
            s.push(&e);
        }
    }
    for c in creds {
        if e.for_sink(&c.name, true, true) {
            if let Some(s) = o.dynamic.sink(c) {
                s.push(&e);
            }
        }
    }
}

/// Stage 1 hook (auth): keeps the caller's key for [`request_refused`], only while some sink
/// takes failures.
pub fn on_caller(ctx: &mut RequestCtx, caller: &crate::control::enforce::Caller) {
    if let Some(key) = caller.key().filter(|_| get().is_some_and(|o| o.failures)) {
        ctx.refusable = Some(Box::new(capture::Refusable {
            key: Some(key.clone()),
            group: None,
        }));
    }
}

/// Stage 2 hook: admission refused a request for `model` (kept for [`request_refused`]).
pub fn on_refused(ctx: &mut RequestCtx, model: &str) {
    if get().is_some_and(|o| o.failures) {
        ctx.refusable.get_or_insert_default().group = Some(model.to_string());
    }
}

/// Stage 6 hook for an LLM request refused before admission completed (401, 400, 413, 429 …):
/// a failure event with what is known — call id, status, error, the model group once the body
/// was read, the key's hash, alias and team once it was authenticated (never the key).
pub fn request_refused(control: &crate::control::Control, ctx: &mut RequestCtx) {
    let Some(o) = get() else { return };
    if !o.failures {
        return;
    }
    let known = ctx.refusable.take().map(|r| *r).unwrap_or_default();
    let key = known.key;
    let team = key
        .as_ref()
        .and_then(|k| k.team_id.as_deref())
        .and_then(|t| control.get(Kind::Team, t));
    let mut prefs = prefs(key.as_deref(), team.as_deref());
    if prefs.creds.is_empty()
        && !o
            .sinks
            .iter()
            .any(|s| super::event::allowed(&prefs.only, &s.name, s.on_success, s.on_failure, false))
    {
        return;
    }
    let creds = std::mem::take(&mut prefs.creds);
    let log = store::SpendLog {
        request_id: ctx.call_id.clone(),
        call_type: ctx.call_type.to_string(),
        api_key: key.as_ref().map(|k| k.id.clone()).unwrap_or_default(),
        key_alias: key.as_ref().and_then(|k| k.alias()).map(str::to_string),
        start_time: ctx.started_at_ms,
        end_time: crate::clock::now_ms_i64(),
        model_group: ctx.model_group.clone().or(known.group).unwrap_or_default(),
        user: key.as_ref().and_then(|k| k.user_id.clone()),
        team_id: key.as_ref().and_then(|k| k.team_id.clone()),
        organization_id: key.as_ref().and_then(|k| k.org_id.clone()),
        status: "failure".to_string(),
        metadata: serde_json::json!({
            "status_code": ctx.status,
            "guardrail_information": ctx.guard.as_ref().map(|g| g.information()),
        }),
        ..store::SpendLog::default()
    };
    let mut e = Event {
        key_alias: log.key_alias.clone(),
        log: Arc::new(log),
        ok: false,
        stream: ctx.stream,
        status: ctx.status,
        upstream_status: None,
        error: ctx.failure.clone(),
        team_alias: team.as_ref().and_then(|t| t.alias()).map(str::to_string),
        text: false,
        capture: capture::capture_from(None, &Map::new(), false),
        only: prefs.only,
        size: 0,
    };
    e.size = e.reckon(0);
    deliver(o, &creds, Arc::new(e));
}

/// A key's or team's logging settings.
#[derive(Default)]
struct Prefs {
    /// `metadata.logging` / team `metadata.callback_settings`: only these callbacks, with
    /// (success, failure).
    only: Option<Vec<(String, bool, bool)>>,
    /// `turn_off_message_logging` in the key's or team's metadata or `callback_vars`.
    no_text: bool,
    /// `metadata.logging` entries with their own Langfuse credentials (`callback_vars`).
    creds: Vec<Creds>,
}

fn prefs(key: Option<&crate::control::Entity>, team: Option<&crate::control::Entity>) -> Prefs {
    let mut p = Prefs::default();
    // Team first, the key's own settings win.
    for e in [team, key].into_iter().flatten() {
        let raw = e.raw_doc();
        if !(raw.contains("\"logging\"")
            || raw.contains("\"callback_settings\"")
            || raw.contains("turn_off_message_logging"))
        {
            continue;
        }
        let doc = e.doc();
        let Some(Value::Object(meta)) = doc.get("metadata") else {
            continue;
        };
        if meta.get("turn_off_message_logging") == Some(&Value::Bool(true)) {
            p.no_text = true;
        }
        if let Some(Value::Array(list)) = meta.get("logging") {
            let mut only = Vec::new();
            p.creds.clear();
            for item in list {
                let Some(name) = item.get("callback_name").and_then(Value::as_str) else {
                    continue;
                };
                let (s, f) = match item.get("callback_type").and_then(Value::as_str) {
                    Some("success") => (true, false),
                    Some("failure") => (false, true),
                    _ => (true, true),
                };
                if item.pointer("/callback_vars/turn_off_message_logging")
                    == Some(&Value::Bool(true))
                {
                    p.no_text = true;
                }
                if let Some(c) = Creds::of(item, name) {
                    p.creds.push(c);
                }
                only.push((name.to_string(), s, f));
            }
            p.only = Some(only);
        }
        if let Some(Value::Object(cs)) = meta.get("callback_settings") {
            let names = |k: &str| -> Vec<String> {
                cs.get(k)
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            if cs.contains_key("success_callback") || cs.contains_key("failure_callback") {
                let (succ, fail) = (names("success_callback"), names("failure_callback"));
                let mut only: Vec<(String, bool, bool)> = Vec::new();
                for n in succ.iter().chain(&fail) {
                    if !only.iter().any(|(o, ..)| o == n) {
                        only.push((n.clone(), succ.contains(n), fail.contains(n)));
                    }
                }
                // `/team/{id}/callback`'s shape: the Langfuse keys in `callback_vars`.
                p.creds = only
                    .iter()
                    .filter(|(n, ..)| n.starts_with("langfuse") && n != "langfuse_otel")
                    .filter_map(|(n, ..)| Creds::of(&Value::Object(cs.clone()), n))
                    .collect();
                p.only = Some(only);
            }
            if cs
                .get("callback_vars")
                .and_then(|v| v.get("turn_off_message_logging"))
                == Some(&Value::Bool(true))
            {
                p.no_text = true;
            }
        }
    }
    p
}
