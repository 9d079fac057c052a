//! The things that own keys, budgets and limits — keys, teams, team members, users,
//! organizations, end users, reusable budgets — as stored documents (LiteLLM's field names)
//! plus the limits read out of them once, and the live ledger and rate window each one owns.
//!
//! The document is held as compact JSON text and parsed only when the management API asks for
//! it ([`Entity::doc`]): a parsed document costs several KiB per key, and the request path reads
//! only the typed fields. What management lists filter or sort on is typed too.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::ledger::Ledger;
use super::period::{self, Every};
use crate::load::Load;

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
    /// The token budget (`max_token_budget`) of a key, team or user, counted in tokens; id =
    /// `kind/id` of its owner (`key/<hash>`, `team/<team_id>`, `user/<user_id>`).
    Tokens,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Key,
        Kind::Team,
        Kind::Member,
        Kind::User,
        Kind::Org,
        Kind::Customer,
        Kind::Budget,
        Kind::Proxy,
        Kind::KeyModel,
        Kind::Tokens,
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
            Kind::Tokens => "tokens",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The document field holding its alias (`key_alias`, `team_alias`, …), if it has one.
    pub fn alias_field(self) -> Option<&'static str> {
        match self {
            Kind::Key => Some("key_alias"),
            Kind::Team => Some("team_alias"),
            Kind::User => Some("user_alias"),
            Kind::Org => Some("organization_alias"),
            Kind::Customer => Some("alias"),
            _ => None,
        }
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
            Kind::Tokens => "Token budget",
        }
    }

    /// Entities that exist only to be counted, whose limits come from another entity (a key's
    /// per-model budgets, an owner's token budget): their counters are restored after their
    /// owners are loaded.
    pub fn is_companion(self) -> bool {
        matches!(self, Kind::KeyModel | Kind::Tokens)
    }
}

/// The id of the token-budget counter (`Kind::Tokens`) of entity `id` of `kind`.
pub fn tokens_id(kind: Kind, id: &str) -> String {
    format!("{}/{id}", kind.as_str())
}

/// The owner of a token-budget counter, from its id.
pub fn tokens_owner(id: &str) -> Option<(Kind, &str)> {
    let (kind, id) = id.split_once('/')?;
    Some((Kind::parse(kind)?, id))
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
    /// `max_token_budget`: prompt + completion tokens per `budget_duration` (Tollgate's).
    pub max_token_budget: Option<u64>,
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
            max_token_budget: self.max_token_budget.or(other.max_token_budget),
        }
    }

    /// The limits of the token-budget counter of an entity with these limits: its token
    /// budget, as the counter's `max_budget`, in the owner's window.
    pub fn of_tokens(&self) -> Limits {
        Limits {
            max_budget: self.max_token_budget.map(|t| t as f64),
            budget_duration: self.budget_duration,
            ..Limits::default()
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
    /// In this replica's list of held budget leases (`lease::Leases::held`).
    pub leased: std::sync::atomic::AtomicBool,
}

/// One entity: its document, what enforcement and the management lists read from it, and its
/// live counters (carried over when the document is replaced).
#[derive(Debug)]
pub struct Entity {
    pub kind: Kind,
    pub id: String,
    /// The document, [`Entity::alias`], [`Entity::email`] and [`Entity::created_at`].
    text: Text,
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
    /// Keys and teams: routing tags, `tags` and `metadata.tags` (LiteLLM reads the latter).
    pub tags: Vec<String>,
    /// Keys and teams: `metadata.allow_client_tags: true` lets the client's own tags count
    /// besides `tags` (LiteLLM's flag).
    pub allow_client_tags: bool,
    /// End users: `allowed_model_region` (`eu` / `us`).
    pub region: Option<crate::region::Region>,
    /// Keys: `allowed_cache_controls`, the per-request cache controls the key may send (empty:
    /// every control, LiteLLM's reading). Enforced by `cache::refuse_controls`.
    pub cache_controls: Vec<String>,
    pub ledger: Arc<Ledger>,
    pub window: Arc<Window>,
}

impl Entity {
    /// Reads an entity out of its document; `prev` hands over the live counters.
    pub fn new(kind: Kind, id: &str, doc: Map<String, Value>, prev: Option<&Entity>) -> Entity {
        let limits = limits(&doc);
        let model_limits = model_limits(&doc);
        let alias = kind.alias_field().and_then(|f| doc.get(f));
        let text = Text::new(
            &serde_json::to_string(&doc).expect("serializing JSON values cannot fail"),
            [
                alias.and_then(Value::as_str),
                doc_str(&doc, "user_email"),
                doc_str(&doc, "created_at"),
            ],
        );
        Entity {
            kind,
            id: id.to_string(),
            text,
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
            tags: tags(&doc),
            allow_client_tags: doc
                .get("metadata")
                .and_then(|m| m.get("allow_client_tags"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            region: doc_str(&doc, "allowed_model_region").and_then(crate::region::Region::parse),
            cache_controls: str_list(doc.get("allowed_cache_controls")),
            ledger: prev.map(|p| p.ledger.clone()).unwrap_or_default(),
            window: prev.map(|p| p.window.clone()).unwrap_or_default(),
        }
    }

    /// The stored document, parsed (management API only: the request path never needs it).
    pub fn doc(&self) -> Map<String, Value> {
        serde_json::from_str(self.text.doc()).expect("an entity's document is a JSON object")
    }

    /// The document as stored (JSON text), for cheap checks before [`Entity::doc`].
    pub fn raw_doc(&self) -> &str {
        self.text.doc()
    }

    /// The kind's alias field ([`Kind::alias_field`]) as stored, empty text included.
    pub fn alias(&self) -> Option<&str> {
        self.text.part(1)
    }

    /// `user_email` (users), when set and not empty.
    pub fn email(&self) -> Option<&str> {
        self.text.part(2)
    }

    /// `created_at` as stored (RFC 3339 text), when set and not empty: the paged lists' order.
    pub fn created_at(&self) -> Option<&str> {
        self.text.part(3)
    }
}

/// An entity's document as compact JSON followed by the text fields the management lists read
/// for every entity, in one allocation of the exact size (a parsed document costs several KiB,
/// and every separate allocation its own rounding).
#[derive(Debug)]
struct Text {
    buf: Box<str>,
    /// Where each part ends in `buf`, with `ABSENT` set for a field the document lacks.
    ends: [u32; 4],
}

const ABSENT: u32 = 1 << 31;

impl Text {
    fn new(doc: &str, fields: [Option<&str>; 3]) -> Text {
        let len = doc.len() + fields.iter().flatten().map(|f| f.len()).sum::<usize>();
        assert!(len < ABSENT as usize, "an entity's document is under 2 GiB");
        let mut buf = String::with_capacity(len);
        buf.push_str(doc);
        let mut ends = [buf.len() as u32; 4];
        for (end, field) in ends[1..].iter_mut().zip(fields) {
            buf.push_str(field.unwrap_or(""));
            *end = buf.len() as u32 | if field.is_none() { ABSENT } else { 0 };
        }
        Text {
            buf: buf.into_boxed_str(),
            ends,
        }
    }

    fn doc(&self) -> &str {
        &self.buf[..self.ends[0] as usize]
    }

    /// Field `i` (1, 2, 3: in the order given to [`Text::new`]).
    fn part(&self, i: usize) -> Option<&str> {
        let (start, end) = (self.ends[i - 1] & !ABSENT, self.ends[i]);
        (end & ABSENT == 0).then(|| &self.buf[start as usize..end as usize])
    }
}

fn doc_str<'a>(doc: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    doc.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn str_field(doc: &Map<String, Value>, k: &str) -> Option<String> {
    doc_str(doc, k).map(str::to_string)
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
/// `tpm_limit`, `max_parallel_requests`, `max_token_budget`).
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
        max_token_budget: count(doc, "max_token_budget"),
    }
}

/// `tags` and `metadata.tags`, each once, in that order.
fn tags(doc: &Map<String, Value>) -> Vec<String> {
    let mut out = str_list(doc.get("tags"));
    for t in str_list(doc.get("metadata").and_then(|m| m.get("tags"))) {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
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
            "max_token_budget": 5000,
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
        assert_eq!(e.limits.max_token_budget, Some(5000));
        let t = e.limits.of_tokens();
        assert_eq!(
            (t.max_budget, t.budget_duration, t.rpm),
            (Some(5000.0), Some(Every::Months(1)), None)
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
    fn the_document_is_kept_as_text_and_the_list_fields_typed() {
        let doc = json!({
            "key_alias": "", "user_email": "a@b.c", "created_at": "2026-01-01T00:00:00.000Z",
            "max_budget": 0.1, "metadata": {"n": [1, 2.5, null, "x"]}, "team_id": "t"
        });
        let Value::Object(doc) = doc else { panic!() };
        let e = Entity::new(Kind::Key, "h", doc.clone(), None);
        assert_eq!(e.doc(), doc);
        assert_eq!(e.alias(), Some(""));
        assert_eq!(e.email(), Some("a@b.c"));
        assert_eq!(e.created_at(), Some("2026-01-01T00:00:00.000Z"));
        let t = Entity::new(Kind::Team, "t", doc, None);
        assert_eq!((t.alias(), t.doc()["team_id"].as_str()), (None, Some("t")));
        let empty = Entity::new(Kind::User, "u", Map::new(), None);
        assert_eq!(
            (empty.doc(), empty.email(), empty.created_at()),
            (Map::new(), None, None)
        );
    }

    /// Resident memory per key with 100,000 keys shaped like `bench-keys`' (30 fields). Run with
    /// `cargo test --release -p gateway --bin tollgate per_key_memory -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn per_key_memory() {
        fn rss_kib() -> usize {
            let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        }
        const N: usize = 100_000;
        let before = rss_kib();
        let keys: Vec<Arc<Entity>> = (0..N)
            .map(|i| {
                let token = format!("{i:064x}");
                let doc = json!({
                    "token": token, "key_name": "sk-...0042", "key_alias": format!("bench-{i}"),
                    "models": [], "aliases": {}, "expires": null, "max_budget": 1000000.0,
                    "soft_budget": null, "budget_duration": "30d", "rpm_limit": 100000000u64,
                    "tpm_limit": 100000000000u64, "max_parallel_requests": 100000u64,
                    "model_max_budget": {}, "model_rpm_limit": {}, "model_tpm_limit": {},
                    "metadata": {"bench": true}, "tags": [], "team_id": null, "user_id": null,
                    "organization_id": null, "budget_id": null, "blocked": false, "config": {},
                    "permissions": {}, "allowed_cache_controls": [], "allowed_routes": [],
                    "created_at": "2026-11-22T00:48:00.000Z",
                    "updated_at": "2026-11-22T00:48:00.000Z",
                    "created_by": "bench-keys", "updated_by": "bench-keys"
                });
                let Value::Object(doc) = doc else { panic!() };
                Arc::new(Entity::new(Kind::Key, &token, doc, None))
            })
            .collect();
        let per_key = (rss_kib() - before) * 1024 / N;
        eprintln!(
            "{N} keys: {per_key} bytes each (Entity {} bytes, document {} bytes)",
            std::mem::size_of::<Entity>(),
            keys[0].text.buf.len()
        );
        assert!(per_key < 2048, "{per_key} bytes per key");
    }

    #[test]
    fn a_token_counter_names_its_owner() {
        let id = tokens_id(Kind::Team, "eng/platform");
        assert_eq!(id, "team/eng/platform");
        assert_eq!(tokens_owner(&id), Some((Kind::Team, "eng/platform")));
        assert_eq!(tokens_owner("nonsense/x"), None);
        assert!(Kind::Tokens.is_companion() && Kind::KeyModel.is_companion());
        assert!(!Kind::Key.is_companion());
    }

    #[test]
    fn reads_routing_tags_and_the_end_user_region() {
        let doc = json!({"tags": ["a", "b"], "metadata": {"tags": ["b", "c"], "allow_client_tags": true}});
        let Value::Object(doc) = doc else { panic!() };
        let e = Entity::new(Kind::Team, "t", doc, None);
        assert_eq!(e.tags, ["a", "b", "c"]);
        assert!(e.allow_client_tags);
        let doc = json!({"allowed_model_region": "eu", "metadata": {"tags": "x"}});
        let Value::Object(doc) = doc else { panic!() };
        let c = Entity::new(Kind::Customer, "c", doc, None);
        assert_eq!(c.region, Some(crate::region::Region::Eu));
        assert!(c.tags.is_empty() && !c.allow_client_tags);
    }

    #[test]
    fn a_replaced_document_keeps_the_counters() {
        let a = Entity::new(Kind::Team, "t", Map::new(), None);
        a.ledger.settle(0.0, 2.0, None, 0, chrono_tz::UTC);
        let b = Entity::new(Kind::Team, "t", Map::new(), Some(&a));
        assert_eq!(b.ledger.spent(None, 0, chrono_tz::UTC), 2.0);
    }
}
