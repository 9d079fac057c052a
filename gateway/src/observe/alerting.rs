//! Alerting (`general_settings.alerting`): budget alerts (soft budget crossed, near the budget,
//! exceeded — once per budget window and `budget_alert_ttl`), slow requests, LLM exceptions,
//! minor/major outages per deployment, deployment cooldowns, fallbacks, failed spend writes,
//! and the daily and spend reports. Alerts are queued (bounded), de-duplicated, and sent every
//! [`FLUSH_EVERY`] by a task on the control runtime: Slack incoming-webhook messages
//! (`{"text"}`) and webhook JSON with LiteLLM's `WebhookEvent` field names. A dead webhook costs
//! a timed-out post on that task, never a request.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use conf::observe::alerting::{AlertType, Alerting, Channel};
use pingora::connectors::http::Connector;
use serde_json::{json, Value};

use super::http::{post, Target};
use crate::control::enforce::Admission;
use crate::control::Kind;
use crate::ctx::RequestCtx;

/// Alerts are sent this often.
pub const FLUSH_EVERY: Duration = Duration::from_secs(2);
/// Alerts waiting at most; more are dropped (and logged).
const MAX_QUEUED: usize = 1000;
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// Identical alerts (same type and text) are sent once in this long.
const REPEAT_AFTER: Duration = Duration::from_secs(60);

/// One alert.
#[derive(Debug, Clone)]
pub struct Alert {
    pub kind: AlertType,
    pub level: &'static str,
    pub message: String,
    /// The webhook body's fields (`event`, `event_group`, `spend`, …).
    pub webhook: Value,
}

/// The process's alerts, set once at start (`Alerts::start`); read by the hooks below.
static ALERTS: std::sync::OnceLock<Arc<Alerts>> = std::sync::OnceLock::new();

/// The alerting state of the process.
pub struct Alerts {
    conf: Alerting,
    queue: Mutex<Vec<Alert>>,
    /// De-duplication: key → until (Unix ms).
    seen: Mutex<HashMap<String, i64>>,
    /// Recent failure times per deployment, for outage alerts.
    failures: Mutex<HashMap<String, VecDeque<i64>>>,
    report: Mutex<Report>,
}

/// A model group's (requests, failures, spend, total latency ms).
type GroupCounts = (u64, u64, f64, i64);

/// Counts since the last report.
#[derive(Default)]
struct Report {
    requests: u64,
    failures: u64,
    spend: f64,
    groups: HashMap<String, GroupCounts>,
    /// key alias (or hash prefix) → spend.
    keys: HashMap<String, f64>,
}

impl Alerts {
    /// Starts the sender and report tasks; `None` when alerting is off.
    pub fn start(
        conf: &Alerting,
        connector: Arc<Connector>,
        rt: &tokio::runtime::Handle,
    ) -> Option<Arc<Alerts>> {
        if conf.channels.is_empty() && conf.per_type.is_empty() {
            return None;
        }
        let a = Arc::new(Alerts {
            conf: conf.clone(),
            queue: Mutex::default(),
            seen: Mutex::default(),
            failures: Mutex::default(),
            report: Mutex::default(),
        });
        rt.spawn(a.clone().send_loop(connector));
        for (t, every) in [
            (AlertType::DailyReports, conf.daily_report_frequency),
            (AlertType::SpendReports, conf.spend_report_frequency),
        ] {
            if conf.wants(t) {
                rt.spawn(a.clone().report_loop(t, every));
            }
        }
        if conf.wants(AlertType::LlmRequestsHanging) {
            super::hanging::enable();
            rt.spawn(a.clone().hanging_loop());
        }
        let _ = crate::control::flush::ON_WRITE_FAILED.set(spend_write_failed);
        let _ = ALERTS.set(a.clone());
        Some(a)
    }

    /// Queues an alert unless its type is off or it was sent under `dedupe` within `ttl`.
    pub fn raise(&self, alert: Alert, dedupe: Option<(String, Duration)>) {
        if !self.conf.wants(alert.kind) {
            return;
        }
        let now = crate::clock::now_ms_i64();
        let (key, ttl) = dedupe.unwrap_or_else(|| {
            (
                format!("{}:{}", alert.kind.as_str(), alert.message),
                REPEAT_AFTER,
            )
        });
        {
            let mut seen = self.seen.lock().expect("alert dedupe lock");
            if seen.get(&key).is_some_and(|until| *until > now) {
                return;
            }
            if seen.len() > 10_000 {
                seen.retain(|_, until| *until > now);
            }
            seen.insert(key, now + ttl.as_millis() as i64);
        }
        if self.conf.log_to_console {
            log::warn!("alert {}: {}", alert.kind.as_str(), alert.message);
        }
        let mut q = self.queue.lock().expect("alert queue lock");
        if q.len() < MAX_QUEUED {
            q.push(alert);
        } else {
            log::warn!("alert queue full; alert dropped: {}", alert.message);
        }
    }

    /// Every quarter of the threshold (0.25–30 s): one alert per request still without an
    /// answer after `alerting_threshold`.
    async fn hanging_loop(self: Arc<Self>) {
        let threshold = self.conf.threshold;
        let every = (threshold / 4).clamp(Duration::from_millis(250), Duration::from_secs(30));
        loop {
            tokio::time::sleep(every).await;
            let now = crate::clock::now_ms_i64();
            for o in super::hanging::overdue(threshold.as_millis() as i64, now) {
                self.raise(
                    alert(
                        AlertType::LlmRequestsHanging,
                        "Medium",
                        format!(
                            "`Requests are hanging - {:.2}s+ request time > Alerting threshold: {}s`\nRequest Model: `{}`\nCall id: `{}`",
                            o.waited_ms as f64 / 1000.0,
                            threshold.as_secs_f64(),
                            o.group,
                            o.call_id,
                        ),
                    ),
                    Some((format!("hanging:{}", o.call_id), threshold.max(REPEAT_AFTER))),
                );
            }
        }
    }

    async fn send_loop(self: Arc<Self>, connector: Arc<Connector>) {
        loop {
            tokio::time::sleep(FLUSH_EVERY).await;
            self.send_queued(&connector).await;
        }
    }

    /// Sends every queued alert now.
    pub async fn send_queued(&self, connector: &Connector) {
        let batch = std::mem::take(&mut *self.queue.lock().expect("alert queue lock"));
        for alert in batch {
            self.send(connector, &alert).await;
        }
    }

    async fn send(&self, connector: &Connector, a: &Alert) {
        let per_type: Option<&Vec<conf::Secret>> = self
            .conf
            .per_type
            .iter()
            .find(|(t, _)| *t == a.kind)
            .map(|(_, u)| u);
        let mut posts: Vec<(&str, Bytes)> = Vec::new();
        let slack_body = || Bytes::from(json!({"text": slack_text(a)}).to_string());
        match per_type {
            Some(urls) => posts.extend(urls.iter().map(|u| (u.expose(), slack_body()))),
            None => {
                for c in &self.conf.channels {
                    if let Channel::Slack(u) = c {
                        posts.push((u.expose(), slack_body()));
                    }
                }
            }
        }
        for c in &self.conf.channels {
            if let Channel::Webhook(u) = c {
                posts.push((u.expose(), Bytes::from(a.webhook.to_string())));
            }
        }
        for (url, body) in posts {
            let r = match Target::parse(url) {
                Ok(t) => post(connector, &t, &[], "application/json", body, POST_TIMEOUT).await,
                Err(e) => Err(e),
            };
            match r {
                Ok(s) if (200..300).contains(&s) => {}
                Ok(s) => log::warn!("alert {} not delivered: HTTP {s}", a.kind.as_str()),
                Err(e) => log::warn!("alert {} not delivered: {e}", a.kind.as_str()),
            }
        }
    }

    /// Stage 6: slow requests, LLM exceptions, outages, fallbacks, budgets, report counts.
    pub fn request_done(
        &self,
        control: &crate::control::Control,
        ctx: &RequestCtx,
        adm: &Admission,
        log: &store::SpendLog,
    ) {
        let ms = log.end_time - log.start_time;
        let ok = log.status == "success";
        let group = &log.model_group;
        {
            let mut r = self.report.lock().expect("report lock");
            r.requests += 1;
            r.failures += u64::from(!ok);
            r.spend += log.spend;
            if !r.groups.contains_key(group) {
                r.groups.insert(group.clone(), GroupCounts::default());
            }
            let g = r.groups.get_mut(group).expect("inserted above");
            g.0 += 1;
            g.1 += u64::from(!ok);
            g.2 += log.spend;
            g.3 += ms;
            let who = log
                .key_alias
                .clone()
                .unwrap_or_else(|| log.api_key.chars().take(12).collect());
            if !who.is_empty() {
                *r.keys.entry(who).or_default() += log.spend;
            }
        }
        if ms as u128 > self.conf.threshold.as_millis() {
            self.raise(
                alert(
                    AlertType::LlmTooSlow,
                    "Low",
                    format!(
                        "`Responses are slow - {:.2}s response time > Alerting threshold: {}s`\nModel: `{}`\nAPI Base: `{}`\nDeployment: `{}`",
                        ms as f64 / 1000.0,
                        self.conf.threshold.as_secs(),
                        log.model,
                        crate::logging::redact::text(&log.api_base),
                        log.model_id,
                    ),
                ),
                Some((format!("slow:{}", log.model_id), REPEAT_AFTER)),
            );
        }
        // Provider failures (the client's own mistakes, refused before routing, are not).
        if !ok && ctx.upstream_status.is_some_and(|s| s >= 400) || ctx.status >= 500 {
            let why = ctx.failure.clone().unwrap_or_default();
            self.raise(
                alert(
                    AlertType::LlmExceptions,
                    "High",
                    format!(
                        "LLM API call failed: `{}`\nModel: `{}`\nModel Group: `{group}`\nAPI Base: `{}`\nStatus: `{}`",
                        crate::logging::redact::text(&why),
                        log.model,
                        crate::logging::redact::text(&log.api_base),
                        ctx.upstream_status.unwrap_or(ctx.status),
                    ),
                ),
                None,
            );
            self.outage(log);
        }
        if ok && ctx.attempted_fallbacks > 0 {
            self.raise(
                alert(
                    AlertType::FallbackReports,
                    "Low",
                    format!(
                        "Fallback used: request for `{group}` served by `{}` after {} fallback(s)",
                        log.model, ctx.attempted_fallbacks
                    ),
                ),
                None,
            );
        }
        if self.conf.wants(AlertType::BudgetAlerts) {
            self.budgets(control, adm, log);
        }
    }

    fn outage(&self, log: &store::SpendLog) {
        if log.model_id.is_empty() {
            return;
        }
        let now = crate::clock::now_ms_i64();
        let window = self.conf.outage_alert_ttl.as_millis() as i64;
        let n = {
            let mut f = self.failures.lock().expect("outage lock");
            if f.len() > 1000 && !f.contains_key(&log.model_id) {
                return;
            }
            let q = f.entry(log.model_id.clone()).or_default();
            q.push_back(now);
            while q.front().is_some_and(|t| *t < now - window) {
                q.pop_front();
            }
            q.len() as u64
        };
        let level = if n >= self.conf.major_outage_threshold {
            "Major"
        } else if n >= self.conf.minor_outage_threshold {
            "Minor"
        } else {
            return;
        };
        self.raise(
            alert(
                AlertType::OutageAlerts,
                if level == "Major" { "High" } else { "Medium" },
                format!(
                    "{level} Service Outage: {n} errors in {}s\nModel: `{}`\nAPI Base: `{}`\nDeployment: `{}`",
                    window / 1000,
                    log.model,
                    crate::logging::redact::text(&log.api_base),
                    log.model_id
                ),
            ),
            Some((
                format!("outage:{level}:{}", log.model_id),
                self.conf.outage_alert_ttl,
            )),
        );
    }

    /// Budget events of every budget the request counted toward, after its cost.
    fn budgets(&self, control: &crate::control::Control, adm: &Admission, log: &store::SpendLog) {
        let now = crate::clock::now_ms_i64();
        let tz = control.settings.tz;
        for (e, _) in &adm.holds {
            if matches!(e.kind, Kind::Tokens | Kind::KeyModel | Kind::Budget) {
                continue;
            }
            let limits = control.limits(e);
            if limits.max_budget.is_none() && limits.soft_budget.is_none() {
                continue;
            }
            let spend = e.ledger.spent(limits.budget_duration, now, tz) + log.spend;
            let (window, _) = e.ledger.window(limits.budget_duration, now, tz);
            let mut events: Vec<(&str, f64)> = Vec::new();
            if let Some(max) = limits.max_budget {
                if spend >= max {
                    events.push(("budget_crossed", max));
                } else if spend >= 0.85 * max {
                    events.push(("threshold_crossed", max));
                }
            }
            if let Some(soft) = limits.soft_budget {
                if spend >= soft {
                    events.push(("soft_budget_crossed", soft));
                }
            }
            for (event, limit) in events {
                let group = event_group(e.kind);
                let alias = e.alias().map(str::to_string);
                let what = match event {
                    "budget_crossed" => "Budget Crossed",
                    "threshold_crossed" => "Budget Near (85%)",
                    _ => "Soft Budget Crossed",
                };
                let name = alias.clone().unwrap_or_else(|| shown_id(e.kind, &e.id));
                let message = format!(
                    "{what}: {} `{name}`\nSpend: `${spend:.6}`\nBudget: `${limit}`",
                    e.kind.label()
                );
                let token = (e.kind == Kind::Key).then(|| e.id.clone());
                let webhook = json!({
                    "spend": spend,
                    "max_budget": limits.max_budget,
                    "soft_budget": limits.soft_budget,
                    "token": token,
                    "customer_id": (e.kind == Kind::Customer).then(|| e.id.clone()),
                    "user_id": (e.kind == Kind::User).then(|| e.id.clone()).or_else(|| e.user_id.clone()),
                    "team_id": (e.kind == Kind::Team).then(|| e.id.clone()).or_else(|| e.team_id.clone()),
                    "organization_id": (e.kind == Kind::Org).then(|| e.id.clone()),
                    "user_email": e.email(),
                    "key_alias": if e.kind == Kind::Key { alias.clone() } else { None },
                    "team_alias": if e.kind == Kind::Team { alias.clone() } else { None },
                    "projected_exceeded_date": null,
                    "projected_spend": null,
                    "event": event,
                    "event_group": group,
                    "event_message": format!("{what}: {}", e.kind.label()),
                });
                self.raise(
                    Alert {
                        kind: AlertType::BudgetAlerts,
                        level: if event == "budget_crossed" {
                            "High"
                        } else {
                            "Medium"
                        },
                        message,
                        webhook,
                    },
                    Some((
                        format!("budget:{event}:{}:{}:{window}", e.kind.as_str(), e.id),
                        self.conf.budget_alert_ttl,
                    )),
                );
            }
        }
    }

    /// A deployment started cooling down (routing).
    pub fn cooled_down(&self, deployment: &str, group: &str, model: &str, secs: f64) {
        self.raise(
            alert(
                AlertType::CooldownDeployment,
                "Low",
                format!(
                    "Deployment cooled down for {secs:.0}s\nModel Group: `{group}`\nModel: `{model}`\nDeployment: `{deployment}`"
                ),
            ),
            Some((format!("cooldown:{deployment}"), Duration::from_secs_f64(secs.max(1.0)))),
        );
    }

    async fn report_loop(self: Arc<Self>, t: AlertType, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            let text = {
                let mut r = self.report.lock().expect("report lock");
                let text = report_text(t, &r, every);
                if t == AlertType::DailyReports {
                    *r = Report::default();
                }
                text
            };
            self.raise(
                alert(t, "Low", text),
                Some((
                    format!("{}:{}", t.as_str(), crate::clock::now_ms_i64()),
                    every,
                )),
            );
        }
    }
}

fn report_text(t: AlertType, r: &Report, every: Duration) -> String {
    let hours = every.as_secs_f64() / 3600.0;
    match t {
        AlertType::SpendReports => {
            let mut keys: Vec<(&String, &f64)> = r.keys.iter().collect();
            keys.sort_by(|a, b| b.1.total_cmp(a.1));
            let top: Vec<String> = keys
                .iter()
                .take(5)
                .map(|(k, s)| format!("`{k}`: ${s:.4}"))
                .collect();
            format!(
                "Spend Report (last {hours:.0}h): total `${:.4}`\nTop keys:\n{}",
                r.spend,
                top.join("\n")
            )
        }
        _ => {
            let mut groups: Vec<(&String, &GroupCounts)> = r.groups.iter().collect();
            groups.sort_by_key(|g| std::cmp::Reverse(g.1 .1));
            let lines: Vec<String> = groups
                .iter()
                .take(5)
                .map(|(g, (n, f, s, ms))| {
                    format!(
                        "`{g}`: {n} requests, {f} failed, avg latency {:.2}s, ${s:.4}",
                        *ms as f64 / (*n).max(1) as f64 / 1000.0
                    )
                })
                .collect();
            format!(
                "Daily Report (last {hours:.0}h): {} requests, {} failed, spend `${:.4}`\n{}",
                r.requests,
                r.failures,
                r.spend,
                lines.join("\n")
            )
        }
    }
}

fn alert(kind: AlertType, level: &'static str, message: String) -> Alert {
    let webhook = json!({
        "spend": null,
        "max_budget": null,
        "token": null,
        "customer_id": null,
        "user_id": null,
        "team_id": null,
        "user_email": null,
        "key_alias": null,
        "projected_exceeded_date": null,
        "projected_spend": null,
        "event": kind.as_str(),
        "event_group": "proxy",
        "event_message": message,
    });
    Alert {
        kind,
        level,
        message,
        webhook,
    }
}

/// LiteLLM's Slack message: level, timestamp, the message.
fn slack_text(a: &Alert) -> String {
    format!(
        "Level: `{}`\nTimestamp: `{}`\nAlert type: `{}`\n\nMessage: {}",
        a.level,
        chrono::Utc::now().format("%H:%M:%S"),
        a.kind.as_str(),
        a.message
    )
}

fn event_group(k: Kind) -> &'static str {
    match k {
        Kind::Key => "key",
        Kind::Team | Kind::Member => "team",
        Kind::User => "internal_user",
        Kind::Customer => "customer",
        Kind::Org => "organization",
        _ => "proxy",
    }
}

/// An entity as shown in a message: a key only by its hash's start.
fn shown_id(k: Kind, id: &str) -> String {
    if k == Kind::Key {
        format!("{}…", id.chars().take(12).collect::<String>())
    } else {
        id.to_string()
    }
}

/// `control::flush`'s hook: the spend writer failed.
fn spend_write_failed(why: &str) {
    if let Some(a) = ALERTS.get() {
        let why = crate::logging::redact::text(why).into_owned();
        a.raise(
            alert(
                AlertType::FailedTrackingSpend,
                "High",
                format!("Failed Tracking Spend: writing spend to the database failed: `{why}`"),
            ),
            Some(("failed_tracking_spend".into(), Duration::from_secs(300))),
        );
        a.raise(
            alert(
                AlertType::DbExceptions,
                "High",
                format!("DB Exception: `{why}`"),
            ),
            Some(("db_exceptions".into(), Duration::from_secs(300))),
        );
    }
}

/// Routing's hook: a deployment started cooling down.
pub fn cooled_down(deployment: &str, group: &str, model: &str, secs: f64) {
    if let Some(a) = ALERTS.get() {
        a.cooled_down(deployment, group, model, secs);
    }
}
