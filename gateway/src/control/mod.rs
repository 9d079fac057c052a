//! The control plane's state: every key, team, member, user, organization, end user and budget
//! in memory (what the request path reads), backed by the database (what survives restarts),
//! plus the settings budgets are enforced with. Database work runs on the control plane's own
//! runtime, never on the proxy's worker threads.

pub mod cost;
pub mod enforce;
pub mod entity;
pub mod flush;
pub mod key_index;
pub mod lease;
pub mod ledger;
pub mod output;
pub mod period;
pub mod reserve;
pub mod spill;
pub mod sync;

use std::borrow::Borrow;
use std::collections::HashSet;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use chrono_tz::Tz;
use conf::Config;
use serde_json::{Map, Value};
use store::{EntityRow, Store};

use crate::clock::now_ms_i64;

pub use entity::{Entity, Kind, Limits};

/// Settings the control plane enforces with, read from the configuration at start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `litellm_settings.timezone`: budget windows follow its calendar.
    pub tz: Tz,
    /// `general_settings.proxy_batch_write_at`.
    pub flush_every: Duration,
    /// `general_settings.disable_spend_logs`.
    pub spend_logs: bool,
    /// `litellm_settings.max_budget` / `budget_duration`: the proxy-wide budget.
    pub proxy: Limits,
    /// `litellm_settings.max_end_user_budget`: end users without a budget of their own.
    pub end_user_max_budget: Option<f64>,
    /// `tollgate_settings.redis_failure_mode: closed`.
    pub redis_fail_closed: bool,
    /// `tollgate_settings.budget_enforcement`.
    pub enforcement: conf::BudgetEnforcement,
    /// `tollgate_settings.spend_backlog_rows`: log rows held while the database is unreachable
    /// before the backlog goes to a spill file.
    pub spill_at: usize,
}

impl Settings {
    pub fn from_config(c: &Config) -> Result<Settings, String> {
        let tz = match &c.litellm.timezone {
            Some(name) => {
                period::timezone(name).map_err(|e| format!("litellm_settings.timezone: {e}"))?
            }
            None => chrono_tz::UTC,
        };
        let budget_duration = match &c.litellm.budget_duration {
            Some(s) => Some(
                period::parse(s).map_err(|e| format!("litellm_settings.budget_duration: {e}"))?,
            ),
            None => None,
        };
        Ok(Settings {
            tz,
            flush_every: c.general.proxy_batch_write_at,
            spend_logs: !c.general.disable_spend_logs,
            proxy: Limits {
                max_budget: c.litellm.max_budget,
                budget_duration,
                ..Limits::default()
            },
            end_user_max_budget: c.litellm.max_end_user_budget,
            redis_fail_closed: c.tollgate.redis_fail_closed,
            enforcement: c.tollgate.budget_enforcement,
            spill_at: usize::try_from(c.tollgate.spend_backlog_rows).unwrap_or(usize::MAX),
        })
    }
}

/// Where the database is: `general_settings.database_url`, else `DATABASE_URL`, else the SQLite
/// file `tollgate_settings.database_path`.
pub fn database_target(c: &Config) -> String {
    if let Some(url) = &c.general.database_url {
        return url.expose().to_string();
    }
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => c.tollgate.database_path.clone(),
    }
}

/// An entity in its kind's map, found by its id: the id is stored once, in the entity (not
/// again as the map's key).
struct ById(Arc<Entity>);

impl Borrow<str> for ById {
    fn borrow(&self) -> &str {
        &self.0.id
    }
}

impl Hash for ById {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.id.as_str().hash(h)
    }
}

impl PartialEq for ById {
    fn eq(&self, other: &ById) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for ById {}

/// One kind's entities.
type Registry = RwLock<HashSet<ById>>;

pub struct Control {
    maps: Vec<Registry>,
    /// The keys in list order with their per-team/user/org/alias subsets, changed under the
    /// key registry's write lock (taken first) so both always hold the same keys.
    key_index: RwLock<key_index::KeyIndex>,
    store: Store,
    rt: tokio::runtime::Handle,
    pub settings: Settings,
    /// Spend records waiting for the next database flush.
    pub(crate) queue: Mutex<flush::Queue>,
    /// Wakes the writer before its interval when enough rows are waiting.
    pub(crate) flush_soon: tokio::sync::Notify,
    /// Where spend the database did not take at shutdown is saved ([`spill`]).
    pub spill_dir: std::path::PathBuf,
    /// Announces changed entities to the other replicas (Redis), once started.
    pub(crate) announcer: OnceLock<tokio::sync::mpsc::UnboundedSender<(Kind, String)>>,
    /// Whether Redis answered on the last sync (true when Redis is not configured).
    pub(crate) redis_ok: AtomicBool,
    /// Whether counters are shared through Redis.
    pub(crate) sharing: AtomicBool,
    /// Entities whose counters changed since the last Redis sync.
    pub(crate) dirty: Mutex<Vec<Arc<Entity>>>,
    /// Budget leases from the cluster, when Redis is configured.
    pub(crate) leases: OnceLock<lease::Leases>,
}

impl Control {
    /// Opens the database (creating and migrating it), loads every entity and restores the
    /// spend counters. Runs on (and keeps) the control plane runtime `rt`.
    pub async fn open(config: &Config, rt: tokio::runtime::Handle) -> Result<Arc<Control>, String> {
        let settings = Settings::from_config(config)?;
        let target = database_target(config);
        // Opened on the runtime's own thread, so that SQLite's connection worker threads
        // inherit its lower priority (see server::background_priority).
        let store = rt
            .spawn(async move { Store::open(&target).await })
            .await
            .map_err(|e| format!("database: {e}"))?
            .map_err(|e| format!("database: {e}"))?;
        // Spend an earlier process saved at shutdown goes in before the counters are loaded.
        let spill_dir = spill::dir(&config.tollgate.database_path);
        let (replayed, from) = (store.clone(), spill_dir.clone());
        rt.spawn(async move {
            spill::replay(&replayed, &from).await;
        })
        .await
        .map_err(|e| format!("database: {e}"))?;
        let control = Control {
            maps: Kind::ALL.iter().map(|_| RwLock::default()).collect(),
            key_index: RwLock::default(),
            store,
            rt,
            settings,
            queue: Mutex::default(),
            flush_soon: tokio::sync::Notify::new(),
            spill_dir,
            announcer: OnceLock::new(),
            redis_ok: AtomicBool::new(true),
            sharing: AtomicBool::new(false),
            dirty: Mutex::default(),
            leases: OnceLock::new(),
        };
        // Counters whose limits come from another entity (a key's per-model budgets, token
        // budgets) are restored once every entity is loaded: their window is their owner's.
        let mut companions = Vec::new();
        control
            .store
            .for_each_entity(|row| match Kind::parse(&row.kind) {
                Some(k) if k.is_companion() => companions.push(row),
                _ => control.apply_row(row, true),
            })
            .await
            .map_err(|e| format!("database: {e}"))?;
        for row in companions {
            control.apply_row(row, true);
        }
        log::info!(
            "database: {} ({} keys, {} teams, {} users, {} end users loaded)",
            control.store.backend(),
            control.count(Kind::Key),
            control.count(Kind::Team),
            control.count(Kind::User),
            control.count(Kind::Customer)
        );
        Ok(Arc::new(control))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs database work on the control plane runtime and waits for it.
    pub async fn db<T, F>(&self, f: F) -> T
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        self.rt.spawn(f).await.expect("database task panicked")
    }

    pub fn runtime_handle(&self) -> &tokio::runtime::Handle {
        &self.rt
    }

    fn map(&self, kind: Kind) -> &Registry {
        &self.maps[kind as usize]
    }

    pub fn get(&self, kind: Kind, id: &str) -> Option<Arc<Entity>> {
        self.map(kind)
            .read()
            .expect("registry lock")
            .get(id)
            .map(|e| e.0.clone())
    }

    /// The entity, created empty (limits from the configuration only) if unknown — end users
    /// and per-model key counters come into being with their first request.
    pub fn get_or_create(&self, kind: Kind, id: &str) -> Arc<Entity> {
        if let Some(e) = self.get(kind, id) {
            return e;
        }
        let mut map = self.map(kind).write().expect("registry lock");
        if let Some(e) = map.get(id) {
            return e.0.clone();
        }
        let e = Arc::new(Entity::new(kind, id, Map::new(), None));
        map.insert(ById(e.clone()));
        if kind == Kind::Key {
            self.key_index.write().expect("key index lock").insert(&e);
        }
        e
    }

    /// Every entity of a kind, sorted by id.
    pub fn list(&self, kind: Kind) -> Vec<Arc<Entity>> {
        let mut all: Vec<_> = self
            .map(kind)
            .read()
            .expect("registry lock")
            .iter()
            .map(|e| e.0.clone())
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    pub fn count(&self, kind: Kind) -> usize {
        self.map(kind).read().expect("registry lock").len()
    }

    /// Replaces the in-memory entity with `doc`, keeping its counters.
    fn install(&self, kind: Kind, id: &str, doc: Map<String, Value>) -> Arc<Entity> {
        let mut map = self.map(kind).write().expect("registry lock");
        let e = Arc::new(Entity::new(kind, id, doc, map.get(id).map(|e| &*e.0)));
        let old = map.replace(ById(e.clone()));
        if kind == Kind::Key {
            let mut ix = self.key_index.write().expect("key index lock");
            if let Some(old) = old {
                ix.remove(&old.0);
            }
            ix.insert(&e);
        }
        e
    }

    /// Removes an entity from memory (not from the database); false if it was not here.
    fn forget(&self, kind: Kind, id: &str) -> bool {
        let mut map = self.map(kind).write().expect("registry lock");
        let Some(old) = map.take(id) else {
            return false;
        };
        if kind == Kind::Key {
            self.key_index
                .write()
                .expect("key index lock")
                .remove(&old.0);
        }
        true
    }

    /// Reads the keys in list order ([`key_index`]) under its lock.
    pub fn with_key_index<T>(&self, f: impl FnOnce(&key_index::KeyIndex) -> T) -> T {
        f(&self.key_index.read().expect("key index lock"))
    }

    /// Applies a database row: at start (`restore`: the spend column seeds the counters), or a
    /// change another replica made (counters stay as they are here).
    pub fn apply_row(&self, row: EntityRow, restore: bool) {
        let Some(kind) = Kind::parse(&row.kind) else {
            return;
        };
        if row.deleted {
            self.forget(kind, &row.id);
            return;
        }
        let doc = match serde_json::from_str(&row.doc) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let e = self.install(kind, &row.id, doc);
        if !restore {
            return;
        }
        let limits = self.limits(&e);
        e.ledger.restore(
            row.spend,
            row.spend_period,
            limits.budget_duration,
            now_ms_i64(),
            self.settings.tz,
        );
    }

    /// Stores `doc` (insert or replace) and makes it live here and, through Redis, on the
    /// other replicas.
    pub async fn put(
        &self,
        kind: Kind,
        id: &str,
        doc: Map<String, Value>,
    ) -> Result<Arc<Entity>, store::StoreError> {
        let text = serde_json::to_string(&doc).expect("serializing JSON values cannot fail");
        let (k, i, s) = (kind.as_str(), id.to_string(), self.store.clone());
        self.db(async move { s.put_entity(k, &i, &text, now_ms_i64()).await })
            .await?;
        let e = self.install(kind, id, doc);
        self.announce(kind, id);
        self.fresh_tokens(&e).await?;
        Ok(e)
    }

    /// Stores `doc` only if no live entity has this id; `None` when one does.
    pub async fn insert(
        &self,
        kind: Kind,
        id: &str,
        doc: Map<String, Value>,
    ) -> Result<Option<Arc<Entity>>, store::StoreError> {
        let text = serde_json::to_string(&doc).expect("serializing JSON values cannot fail");
        let (k, i, s) = (kind.as_str(), id.to_string(), self.store.clone());
        let inserted = self
            .db(async move { s.insert_entity(k, &i, &text, now_ms_i64()).await })
            .await?;
        if !inserted {
            return Ok(None);
        }
        let e = self.install(kind, id, doc);
        self.announce(kind, id);
        self.fresh_tokens(&e).await?;
        Ok(Some(e))
    }

    /// An entity with a token budget whose counter is not live here gets a live counter row
    /// (spend 0) unless it has one: a counter deleted with an earlier entity of the same id
    /// (a team deleted and made again) would otherwise keep its tombstone, and the new counts
    /// flushed to it would not be loaded at the next start.
    async fn fresh_tokens(&self, e: &Entity) -> Result<(), store::StoreError> {
        if e.limits.max_token_budget.is_none() {
            return Ok(());
        }
        let id = entity::tokens_id(e.kind, &e.id);
        if self.get(Kind::Tokens, &id).is_some() {
            return Ok(());
        }
        let s = self.store.clone();
        let kind = Kind::Tokens.as_str();
        self.db(async move { s.insert_entity(kind, &id, "{}", now_ms_i64()).await })
            .await?;
        Ok(())
    }

    /// Deletes an entity everywhere; false if there was none.
    pub async fn delete(&self, kind: Kind, id: &str) -> Result<bool, store::StoreError> {
        let (k, i, s) = (kind.as_str(), id.to_string(), self.store.clone());
        let deleted = self
            .db(async move { s.delete_entity(k, &i, now_ms_i64()).await })
            .await?;
        let here = self.forget(kind, id);
        self.announce(kind, id);
        if matches!(kind, Kind::Key | Kind::Team | Kind::User) {
            // Its token-budget counter goes with it.
            let tid = entity::tokens_id(kind, id);
            let (k, s) = (Kind::Tokens.as_str(), self.store.clone());
            let t = tid.clone();
            self.db(async move { s.delete_entity(k, &t, now_ms_i64()).await })
                .await?;
            self.map(Kind::Tokens)
                .write()
                .expect("registry lock")
                .remove(tid.as_str());
            self.announce(Kind::Tokens, &tid);
        }
        Ok(deleted || here)
    }

    /// Sets an entity's spend in its current window (admin reset).
    pub async fn set_spend(&self, e: &Entity, spend: f64) -> Result<(), store::StoreError> {
        let limits = self.limits(e);
        let now = now_ms_i64();
        let (period, _) = e
            .ledger
            .window(limits.budget_duration, now, self.settings.tz);
        let (k, i, s) = (e.kind.as_str(), e.id.clone(), self.store.clone());
        self.db(async move { s.set_spend(k, &i, spend, period, now).await })
            .await?;
        e.ledger
            .set_spent(spend, limits.budget_duration, now, self.settings.tz);
        self.announce(e.kind, &e.id);
        Ok(())
    }

    /// Re-reads one entity from the database (another replica changed it).
    pub async fn reload(&self, kind: Kind, id: &str) -> Result<(), store::StoreError> {
        let (k, i, s) = (kind.as_str(), id.to_string(), self.store.clone());
        match self.db(async move { s.get_entity(k, &i).await }).await? {
            Some(row) => self.apply_row(row, false),
            None => {
                self.forget(kind, id);
            }
        }
        Ok(())
    }

    fn announce(&self, kind: Kind, id: &str) {
        if let Some(tx) = self.announcer.get() {
            let _ = tx.send((kind, id.to_string()));
        }
    }

    /// The entity's limits, with those of its `budget_id` filling the gaps; end users fall back
    /// to `max_end_user_budget`, the proxy to `litellm_settings.max_budget`. A key's per-model
    /// counter has the key's limits for that model; a token-budget counter its owner's token
    /// budget and window (none once the owner is gone).
    pub fn limits(&self, e: &Entity) -> Limits {
        match e.kind {
            Kind::KeyModel => {
                return e
                    .id
                    .split_once('/')
                    .and_then(|(key, model)| {
                        self.get(Kind::Key, key)?.model_limits.get(model).cloned()
                    })
                    .unwrap_or_default()
            }
            Kind::Tokens => {
                return entity::tokens_owner(&e.id)
                    .and_then(|(kind, id)| self.get(kind, id))
                    .map(|owner| self.limits(&owner).of_tokens())
                    .unwrap_or_default()
            }
            _ => {}
        }
        let mut l = e.limits.clone();
        if let Some(b) = e
            .budget_id
            .as_deref()
            .and_then(|b| self.get(Kind::Budget, b))
        {
            l = l.or(&b.limits);
        }
        match e.kind {
            Kind::Customer if l.max_budget.is_none() => {
                l.max_budget = self.settings.end_user_max_budget;
            }
            Kind::Proxy => l = l.or(&self.settings.proxy),
            _ => {}
        }
        l
    }

    /// The entity's spend in its current budget window.
    pub fn spend(&self, e: &Entity) -> f64 {
        let l = self.limits(e);
        e.ledger
            .spent(l.budget_duration, now_ms_i64(), self.settings.tz)
    }

    /// The tokens `e` (a key, team or user) used in its current budget window, counted while
    /// it has a token budget; `None` when it has none.
    pub fn tokens_used(&self, e: &Entity) -> Option<u64> {
        self.limits(e).max_token_budget?;
        Some(
            self.get(Kind::Tokens, &entity::tokens_id(e.kind, &e.id))
                .map_or(0, |t| self.spend(&t).round() as u64),
        )
    }

    /// The token-budget counter of `owner`, created on first use.
    pub fn tokens_counter(&self, owner: &Entity) -> Arc<Entity> {
        self.get_or_create(Kind::Tokens, &entity::tokens_id(owner.kind, &owner.id))
    }

    /// When the entity's budget next resets (Unix ms), if it ever does.
    pub fn budget_reset_at(&self, e: &Entity) -> Option<i64> {
        let l = self.limits(e);
        l.budget_duration?;
        Some(
            e.ledger
                .window(l.budget_duration, now_ms_i64(), self.settings.tz)
                .1,
        )
    }

    /// Marks an entity's counters as changed, for the next Redis sync.
    pub fn touch(&self, e: &Arc<Entity>) {
        if self.sharing.load(Ordering::Relaxed) && !e.window.dirty.swap(true, Ordering::AcqRel) {
            self.dirty.lock().expect("dirty lock").push(e.clone());
        }
    }

    /// Whether Redis-backed state is usable for enforcement (always true without Redis).
    pub fn redis_ok(&self) -> bool {
        self.redis_ok.load(Ordering::Relaxed)
    }
}
