//! The things that own keys, budgets and limits — keys, teams, team members, users,
//! organizations, end users, reusable budgets — as stored documents (LiteLLM's field names)
//! plus the limits read out of them once, and the live ledger and rate window each one owns.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::ledger::Ledger;
use super::period::{self, Every};
use crate::router::Load;

/// What kind of thing an entity is; the name is its `kind` in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A virtual key; id = SHA-256 hex of the key.
    Key,
    Team,
    /// A user's membership of a team; id = `team_id/user_id`.
    Member,
    User,
    Org,
    /// An end user (the request's `user`, or `x-litellm-end-user-id`).
    Customer,
    /// A reusable budget (`/budget/new`), referenced by `budget_id`.
    Budget,
    /// The proxy-wide budget (`litellm_settings.max_budget`); id `global`.
    Proxy,
    /// One model's budget and limits on one key; id = `key hash/model`.
    KeyModel,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Key,
        Kind::Team,
        Kind::Member,
        Kind::User,
        Kind::Org,
        Kind::Customer,
        Kind::Budget,
        Kind::Proxy,
        Kind::KeyModel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Key => "key",
            Kind::Team => "team",
            Kind::Member => "member",
            Kind::User => "user",
            Kind::Org => "org",
            Kind::Customer => "customer",
            Kind::Budget => "budget",
            Kind::Proxy => "proxy",
            Kind::KeyModel => "key_model",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// How error messages name it (`Key`, `Team`, …), as LiteLLM's do.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Key => "Key",
            Kind::Team => "Team",
            Kind::Member => "Team member",
            Kind::User => "User",
            Kind::Org => "Organization",
            Kind::Customer => "End User",
            Kind::Budget => "Budget",
            Kind::Proxy => "Proxy",
            Kind::KeyModel => "Key model",
        }
    }
}

/// Limits read once from a document; `None` = not set here (a referenced budget may set it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    pub max_budget: Option<f64>,
    pub soft_budget: Option<f64>,
    pub budget_duration: Option<Every>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub parallel: Option<u64>,
}

impl Limits {
    /// Own values first, then the referenced budget's.
    pub fn or(&self, other: &Limits) -> Limits {
        Limits {
            max_budget: self.max_budget.or(other.max_budget),
            soft_budget: self.soft_budget.or(other.soft_budget),
            budget_duration: self.budget_duration.or(other.budget_duration),
            rpm: self.rpm.or(other.rpm),
            tpm: self.tpm.or(other.tpm),
            parallel: self.parallel.or(other.parallel),
        }
    }
}

/// Requests in flight and this minute's requests and tokens of one entity.
#[derive(Debug, Default)]
pub struct Window {
    pub load: Load,
    pub inflight: AtomicU64,
    /// Queued for the next Redis sync.
    pub dirty: std::sync::atomic::AtomicBool,
}

/// One entity: its document, what enforcement reads from it, and its live counters (carried
/// over when the document is replaced).
#[derive(Debug)]
pub struct Entity {
    pub kind: Kind,
    pub id: String,
    pub doc: Map<String, Value>,
    pub limits: Limits,
    /// `budget_id`: a reusable budget supplying limits this document leaves unset.
    pub budget_id: Option<String>,
    /// `models`: empty = every model.
    pub models: Vec<String>,
    pub blocked: bool,
    /// `expires` (keys), Unix ms.
    pub expires_ms: Option<i64>,
    pub team_id: Option<String>,
    pub user_id: Option<String>,
    pub org_id: Option<String>,
    /// `aliases` (keys) / `model_aliases` (teams): model the client names → model group.
    pub aliases: HashMap<String, String>,
    /// Keys: per-model budgets and limits (`model_max_budget`, `model_rpm_limit`,
    /// `model_tpm_limit`).
    pub model_limits: HashMap<String, Limits>,
    /// Users: `user_role`.
    pub role: Option<String>,
    pub ledger: Arc<Ledger>,
    pub window: Arc<Window>,
}

impl Entity {
    /// Reads an entity out of its document; `prev` hands over the live counters.
    pub fn new(kind: Kind, id: &str, doc: Map<String, Value>, prev: Option<&Entity>) -> Entity {
        let limits = limits(&doc);
        let model_limits = model_limits(&doc);
        Entity {
            kind,
            id: id.to_string(),
            limits,
            budget_id: str_field(&doc, "budget_id"),
            models: str_list(doc.get("models")),
            blocked: doc.get("blocked").and_then(Value::as_bool).unwrap_or(false),
            expires_ms: doc
                .get("expires")
                .and_then(Value::as_str)
                .and_then(period::parse_instant),
            team_id: str_field(&doc, "team_id"),
            user_id: str_field(&doc, "user_id"),
            org_id: str_field(&doc, "organization_id"),
            aliases: aliases(&doc),
            model_limits,
            role: str_field(&doc, "user_role"),
            ledger: prev.map(|p| p.ledger.clone()).unwrap_or_default(),
            window: prev.map(|p| p.window.clone()).unwrap_or_default(),
            doc,
        }
    }
}

fn str_field(doc: &Map<String, Value>, k: &str) -> Option<String> {
    doc.get(k)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn str_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|m| m.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn num(doc: &Map<String, Value>, k: &str) -> Option<f64> {
    match doc.get(k)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn count(doc: &Map<String, Value>, k: &str) -> Option<u64> {
    num(doc, k).filter(|n| *n >= 0.0).map(|n| n as u64)
}

/// The limits a document sets (`max_budget`, `soft_budget`, `budget_duration`, `rpm_limit`,
/// `tpm_limit`, `max_parallel_requests`).
pub fn limits(doc: &Map<String, Value>) -> Limits {
    Limits {
        max_budget: num(doc, "max_budget"),
        soft_budget: num(doc, "soft_budget"),
        budget_duration: doc
            .get("budget_duration")
            .and_then(Value::as_str)
            .and_then(|s| period::parse(s).ok()),
        rpm: count(doc, "rpm_limit"),
        tpm: count(doc, "tpm_limit"),
        parallel: count(doc, "max_parallel_requests"),
    }
}

fn aliases(doc: &Map<String, Value>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for field in ["aliases", "model_aliases"] {
        if let Some(Value::Object(m)) = doc.get(field) {
            for (k, v) in m {
                if let Some(v) = v.as_str() {
                    out.insert(k.clone(), v.to_string());
                }
            }
        }
    }
    out
}

/// `model_max_budget` (`{"gpt-4o": {"budget_limit": 1.0, "time_period": "1d"}}` or
/// `{"gpt-4o": 1.0}`), `model_rpm_limit` and `model_tpm_limit` (`{"gpt-4o": 10}`).
fn model_limits(doc: &Map<String, Value>) -> HashMap<String, Limits> {
    let mut out: HashMap<String, Limits> = HashMap::new();
    if let Some(Value::Object(m)) = doc.get("model_max_budget") {
        for (model, v) in m {
            let l = out.entry(model.clone()).or_default();
            match v {
                Value::Object(b) => {
                    l.max_budget = num(b, "budget_limit").or_else(|| num(b, "max_budget"));
                    l.budget_duration = b
                        .get("time_period")
                        .or_else(|| b.get("budget_duration"))
                        .and_then(Value::as_str)
                        .and_then(|s| period::parse(s).ok());
                }
                other => l.max_budget = other.as_f64(),
            }
        }
    }
    for (field, rpm) in [("model_rpm_limit", true), ("model_tpm_limit", false)] {
        if let Some(Value::Object(m)) = doc.get(field) {
            for (model, v) in m {
                let l = out.entry(model.clone()).or_default();
                let n = v.as_f64().filter(|n| *n >= 0.0).map(|n| n as u64);
                if rpm {
                    l.rpm = n;
                } else {
                    l.tpm = n;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_limits_and_model_limits_in_litellm_shapes() {
        let doc = json!({
            "max_budget": 10, "soft_budget": "8", "budget_duration": "30d", "rpm_limit": 5,
            "tpm_limit": 1000, "max_parallel_requests": 2, "models": ["gpt-4o", "fast"],
            "aliases": {"gpt-4": "gpt-4o"}, "blocked": true, "expires": "2030-01-01T00:00:00Z",
            "model_max_budget": {"gpt-4o": {"budget_limit": 0.5, "time_period": "1d"}, "mini": 0.1},
            "model_rpm_limit": {"gpt-4o": 3}, "model_tpm_limit": {"mini": 100}
        });
        let Value::Object(doc) = doc else { panic!() };
        let e = Entity::new(Kind::Key, "h", doc, None);
        assert_eq!(e.limits.max_budget, Some(10.0));
        assert_eq!(e.limits.soft_budget, Some(8.0));
        assert_eq!(e.limits.budget_duration, Some(Every::Months(1)));
        assert_eq!(
            (e.limits.rpm, e.limits.tpm, e.limits.parallel),
            (Some(5), Some(1000), Some(2))
        );
        assert_eq!(e.models, ["gpt-4o", "fast"]);
        assert_eq!(e.aliases["gpt-4"], "gpt-4o");
        assert!(e.blocked);
        assert!(e.expires_ms.is_some());
        let g = &e.model_limits["gpt-4o"];
        assert_eq!(
            (g.max_budget, g.budget_duration, g.rpm),
            (Some(0.5), Some(Every::Days(1)), Some(3))
        );
        assert_eq!(e.model_limits["mini"].max_budget, Some(0.1));
        assert_eq!(e.model_limits["mini"].tpm, Some(100));
    }

    #[test]
    fn a_replaced_document_keeps_the_counters() {
        let a = Entity::new(Kind::Team, "t", Map::new(), None);
        a.ledger.settle(0.0, 2.0, None, 0, chrono_tz::UTC);
        let b = Entity::new(Kind::Team, "t", Map::new(), Some(&a));
        assert_eq!(b.ledger.spent(None, 0, chrono_tz::UTC), 2.0);
    }
}
