//! Alerting: `general_settings.alerting` (`slack`, `webhook`), `alert_types`,
//! `alerting_threshold`, `alert_to_webhook_url`, `alerting_args`, `spend_report_frequency`, with
//! the webhook URLs from `SLACK_WEBHOOK_URL` (else `ALERTING_WEBHOOK_URL`) and `WEBHOOK_URL` as
//! LiteLLM reads them. Webhook URLs carry their credential in the path: they are [`Secret`]s.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::diag::{count, field, join, seconds, show, string, Diag};
use crate::raw::Env;
use crate::secret::Secret;

/// The alerting configuration; `channels` empty means alerting is off.
#[derive(Debug, Clone)]
pub struct Alerting {
    /// Where alerts go.
    pub channels: Vec<Channel>,
    /// The alert types sent (`alert_types`; default: every type Tollgate raises except the
    /// management events, as LiteLLM).
    pub types: Vec<AlertType>,
    /// `alerting_threshold`: a request slower than this is a slow-request alert, and one still
    /// without an answer after it a hanging-request alert. Default 300 s.
    pub threshold: Duration,
    /// `alert_to_webhook_url`: Slack webhooks per alert type, replacing the default one.
    pub per_type: Vec<(AlertType, Vec<Secret>)>,
    /// `alerting_args.budget_alert_ttl`: a budget alert for one entity and event is sent at most
    /// once in this long (and once per budget window). Default 24 h.
    pub budget_alert_ttl: Duration,
    /// `alerting_args.daily_report_frequency`. Default 12 h.
    pub daily_report_frequency: Duration,
    /// `spend_report_frequency` (`1d`, `7d`, `12h`): the spend report's period. Default 1 d.
    pub spend_report_frequency: Duration,
    /// `alerting_args.outage_alert_ttl`: the window failures of one deployment are counted in.
    /// Default 60 s.
    pub outage_alert_ttl: Duration,
    /// `alerting_args.minor_outage_alert_threshold` / `major_outage_alert_threshold`: failures
    /// in the window that make a minor / major outage alert. Defaults 5 and 10.
    pub minor_outage_threshold: u64,
    pub major_outage_threshold: u64,
    /// `alerting_args.log_to_console`: alerts are also written to the log.
    pub log_to_console: bool,
}

impl Default for Alerting {
    fn default() -> Self {
        Alerting {
            channels: Vec::new(),
            types: AlertType::DEFAULT.to_vec(),
            threshold: Duration::from_secs(300),
            per_type: Vec::new(),
            budget_alert_ttl: Duration::from_secs(86_400),
            daily_report_frequency: Duration::from_secs(43_200),
            spend_report_frequency: Duration::from_secs(86_400),
            outage_alert_ttl: Duration::from_secs(60),
            minor_outage_threshold: 5,
            major_outage_threshold: 10,
            log_to_console: false,
        }
    }
}

impl Alerting {
    /// Whether alerts of type `t` are sent anywhere.
    pub fn wants(&self, t: AlertType) -> bool {
        self.types.contains(&t)
            && (!self.channels.is_empty() || self.per_type.iter().any(|(pt, _)| *pt == t))
    }

    /// Every webhook URL (for the log redactor).
    pub fn secrets(&self) -> Vec<String> {
        self.channels
            .iter()
            .map(|c| match c {
                Channel::Slack(u) | Channel::Webhook(u) => u.expose().to_string(),
            })
            .chain(
                self.per_type
                    .iter()
                    .flat_map(|(_, u)| u.iter().map(|u| u.expose().to_string())),
            )
            .collect()
    }
}

/// One alert destination.
#[derive(Debug, Clone)]
pub enum Channel {
    /// A Slack incoming webhook (Discord's `/slack` and MS Teams' compatible ones too).
    Slack(Secret),
    /// A JSON webhook (`WEBHOOK_URL`): LiteLLM's `WebhookEvent` fields.
    Webhook(Secret),
}

/// LiteLLM's alert types Tollgate raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertType {
    LlmExceptions,
    LlmTooSlow,
    LlmRequestsHanging,
    BudgetAlerts,
    CooldownDeployment,
    OutageAlerts,
    FailedTrackingSpend,
    DbExceptions,
    DailyReports,
    SpendReports,
    FallbackReports,
}

impl AlertType {
    /// Sent when `alert_types` is not given.
    pub const DEFAULT: &'static [AlertType] = &[
        AlertType::LlmExceptions,
        AlertType::LlmTooSlow,
        AlertType::LlmRequestsHanging,
        AlertType::BudgetAlerts,
        AlertType::CooldownDeployment,
        AlertType::OutageAlerts,
        AlertType::FailedTrackingSpend,
        AlertType::DbExceptions,
        AlertType::DailyReports,
        AlertType::SpendReports,
        AlertType::FallbackReports,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertType::LlmExceptions => "llm_exceptions",
            AlertType::LlmTooSlow => "llm_too_slow",
            AlertType::LlmRequestsHanging => "llm_requests_hanging",
            AlertType::BudgetAlerts => "budget_alerts",
            AlertType::CooldownDeployment => "cooldown_deployment",
            AlertType::OutageAlerts => "outage_alerts",
            AlertType::FailedTrackingSpend => "failed_tracking_spend",
            AlertType::DbExceptions => "db_exceptions",
            AlertType::DailyReports => "daily_reports",
            AlertType::SpendReports => "spend_reports",
            AlertType::FallbackReports => "fallback_reports",
        }
    }

    fn parse(s: &str) -> Option<AlertType> {
        AlertType::DEFAULT.iter().copied().find(|t| t.as_str() == s)
    }
}

/// LiteLLM alert types Tollgate does not raise (accepted with a warning each).
const NOT_RAISED: &[&str] = &[
    "region_outage_alerts",
    "new_model_added",
    "new_virtual_key_created",
    "virtual_key_updated",
    "virtual_key_deleted",
    "new_team_created",
    "team_updated",
    "team_deleted",
    "new_internal_user_created",
    "internal_user_updated",
    "internal_user_deleted",
];

/// Reads the alerting keys of `general_settings`.
pub(crate) fn alerting(general: Option<&Map<String, Value>>, env: &Env, d: &mut Diag) -> Alerting {
    let mut out = Alerting::default();
    let Some(g) = general else { return out };
    let base = "general_settings";
    if let Some(v) = field(g, "alerting") {
        let path = join(base, "alerting");
        match v {
            Value::Array(list) => {
                for (i, item) in list.iter().enumerate() {
                    let ipath = format!("{path}[{i}]");
                    let Some(name) = string(&ipath, item, d) else {
                        continue;
                    };
                    d.lenient(|d| channel(&name, &ipath, env, &mut out, d));
                }
            }
            _ => d.error(
                &path,
                format_args!(
                    "expected a list such as [\"slack\"], got {}",
                    show(&path, v)
                ),
            ),
        }
    }
    if let Some(v) = field(g, "alert_types") {
        let path = join(base, "alert_types");
        match v {
            Value::Array(list) => {
                out.types.clear();
                for (i, item) in list.iter().enumerate() {
                    let ipath = format!("{path}[{i}]");
                    match item.as_str() {
                        Some(s) => match AlertType::parse(s) {
                            Some(t) => out.types.push(t),
                            None if NOT_RAISED.contains(&s) => d.warn(
                                &ipath,
                                format_args!(
                                    "alert type {s:?} is not raised by Tollgate yet, ignored"
                                ),
                            ),
                            None => d.warn(
                                &ipath,
                                format_args!("unknown alert type {}, ignored", show(&ipath, item)),
                            ),
                        },
                        None => d.error(&ipath, "expected an alert type name"),
                    }
                }
            }
            _ => d.error(
                &path,
                format_args!("expected a list, got {}", show(&path, v)),
            ),
        }
    }
    if let Some(v) = field(g, "alerting_threshold") {
        if let Some(t) = d.lenient(|d| seconds(&join(base, "alerting_threshold"), v, false, d)) {
            out.threshold = t;
        }
    }
    if let Some(v) = field(g, "alert_to_webhook_url") {
        per_type(v, &join(base, "alert_to_webhook_url"), &mut out, d);
    }
    if let Some(v) = field(g, "alerting_args") {
        args(v, &join(base, "alerting_args"), &mut out, d);
    }
    if let Some(v) = field(g, "spend_report_frequency") {
        let path = join(base, "spend_report_frequency");
        match v.as_str().and_then(period) {
            Some(t) => out.spend_report_frequency = t,
            None => d.lenient(|d| {
                d.error(
                    &path,
                    format_args!("expected a period such as \"1d\", got {}", show(&path, v)),
                )
            }),
        }
    }
    out
}

fn channel(name: &str, path: &str, env: &Env, out: &mut Alerting, d: &mut Diag) {
    match name {
        "slack" => match env
            .non_empty("SLACK_WEBHOOK_URL")
            .or_else(|| env.non_empty("ALERTING_WEBHOOK_URL"))
        {
            Some(u) => out.channels.push(Channel::Slack(Secret::new(u))),
            None if out.per_type.is_empty() => d.error(
                path,
                "slack alerting needs SLACK_WEBHOOK_URL (or ALERTING_WEBHOOK_URL) set; off",
            ),
            None => {}
        },
        "webhook" => match env.non_empty("WEBHOOK_URL") {
            Some(u) => out.channels.push(Channel::Webhook(Secret::new(u))),
            None => d.error(path, "webhook alerting needs WEBHOOK_URL set; off"),
        },
        other => d.error(
            path,
            format_args!(
                "alerting channel {other:?} is not supported by Tollgate (slack, webhook)"
            ),
        ),
    }
}

fn per_type(v: &Value, path: &str, out: &mut Alerting, d: &mut Diag) {
    let Value::Object(m) = v else {
        d.error(
            path,
            format_args!("expected a map of alert type to URL, got {}", show(path, v)),
        );
        return;
    };
    for (k, urls) in m {
        let kpath = join(path, k);
        let Some(t) = AlertType::parse(k) else {
            d.warn(&kpath, "alert type not raised by Tollgate, ignored");
            continue;
        };
        let list: Vec<Secret> = match urls {
            Value::String(s) => vec![Secret::new(s.clone())],
            Value::Array(a) => a
                .iter()
                .filter_map(|u| u.as_str().map(Secret::new))
                .collect(),
            _ => {
                d.error(&kpath, "expected a URL or a list of URLs");
                continue;
            }
        };
        out.per_type.push((t, list));
    }
}

fn args(v: &Value, path: &str, out: &mut Alerting, d: &mut Diag) {
    let Value::Object(m) = v else {
        d.error(path, format_args!("expected a map, got {}", show(path, v)));
        return;
    };
    for (k, v) in m {
        let kpath = join(path, k);
        match k.as_str() {
            "budget_alert_ttl" | "daily_report_frequency" | "outage_alert_ttl" => {
                if let Some(t) = seconds(&kpath, v, false, d) {
                    match k.as_str() {
                        "budget_alert_ttl" => out.budget_alert_ttl = t,
                        "daily_report_frequency" => out.daily_report_frequency = t,
                        _ => out.outage_alert_ttl = t,
                    }
                }
            }
            "minor_outage_alert_threshold" => {
                if let Some(n) = count(&kpath, v, d) {
                    out.minor_outage_threshold = n.max(1);
                }
            }
            "major_outage_alert_threshold" => {
                if let Some(n) = count(&kpath, v, d) {
                    out.major_outage_threshold = n.max(1);
                }
            }
            "log_to_console" => {
                out.log_to_console = crate::diag::boolean(&kpath, v, d).unwrap_or(false)
            }
            // Tollgate checks reports on its own interval and keeps outage lists bounded.
            "report_check_interval" | "max_outage_alert_list_size" | "region_outage_alert_ttl" => {}
            _ => d.warn(&kpath, "not supported, ignored"),
        }
    }
}

/// `1d`, `7d`, `12h`, `30m`, `45s` → a duration.
fn period(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let n: u64 = s[..split].parse().ok()?;
    let unit = match &s[split..] {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    (n > 0).then(|| Duration::from_secs(n * unit))
}

#[cfg(test)]
mod tests {
    #[test]
    fn periods() {
        assert_eq!(super::period("1d").unwrap().as_secs(), 86_400);
        assert_eq!(super::period("12h").unwrap().as_secs(), 43_200);
        assert!(super::period("d").is_none());
        assert!(super::period("0d").is_none());
    }
}
