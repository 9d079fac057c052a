//! Models managed while running (`store_model_in_db`): the configuration served is the file's
//! with the models stored in the database added (`compose`, which also states the merge rule);
//! credentials are stored encrypted the way LiteLLM stores them (`crypto`, `params`); a change
//! made on any replica is live on every replica within a second (`sync`: Redis notification,
//! with a periodic re-read of the table's version as the safety net). The management routes
//! are `admin::models`.
//!
//! A change rebuilds the runtime through `reload::apply` (deployments that stay keep their
//! cooldowns, latency and usage) and swaps it in whole: requests already routed keep the
//! runtime (and deployment) they started on until they finish.

pub mod compose;
pub mod crypto;
pub mod params;
pub mod sync;

use std::sync::{Arc, RwLock};

use store::ModelsVersion;

use self::compose::Base;
use crate::state::AppState;

/// The file's configuration as last read (set at start, and again by a configuration reload).
static BASE: RwLock<Option<Arc<Base>>> = RwLock::new(None);

/// The version of the stored models the serving runtime was built from; holding the lock
/// serialises rebuilds on this replica.
static APPLIED: tokio::sync::Mutex<Option<ModelsVersion>> = tokio::sync::Mutex::const_new(None);

/// Keeps `base` as what stored models are merged into from now on.
pub fn set_base(base: Base) {
    *BASE.write().expect("models base lock") = Some(Arc::new(base));
}

/// The current base, if the gateway started from a configuration.
pub fn base() -> Option<Arc<Base>> {
    BASE.read().expect("models base lock").clone()
}

/// Whether models may be stored in the database (`store_model_in_db` / `STORE_MODEL_IN_DB`).
pub fn enabled() -> bool {
    base().is_some_and(|b| b.enabled)
}

/// Records the version the start-up configuration was composed from (read before its rows).
pub fn started_at(v: ModelsVersion) {
    if let Ok(mut applied) = APPLIED.try_lock() {
        *applied = Some(v);
    }
}

/// Rebuilds and swaps the runtime (`reload::apply`: deployments that stay keep their live
/// state) if the stored models changed since it was built (or always, with `force`); whether
/// it did.
pub async fn refresh(state: &Arc<AppState>, force: bool) -> Result<bool, String> {
    if !enabled() {
        return Ok(false);
    }
    let mut applied = APPLIED.lock().await;
    let store = state.control.store();
    let version = store.models_version().await.map_err(|e| e.to_string())?;
    if !force && *applied == Some(version) {
        return Ok(false);
    }
    let rows = store.load_models().await.map_err(|e| e.to_string())?;
    let st = state.clone();
    let (report, notes) = tokio::task::spawn_blocking(move || {
        let _one = compose::SWAP.lock().unwrap_or_else(|p| p.into_inner());
        let base = base().ok_or("no configuration to add stored models to")?;
        let (loaded, notes) = base.compose(&rows)?;
        let mut config = loaded.config;
        // Settings the command line overrode, and that cannot change while running.
        config.tollgate.threads = st.runtime().config.tollgate.threads;
        let report = crate::reload::apply(&st, config).map_err(|e| e.to_string())?;
        Ok::<_, String>((report, notes))
    })
    .await
    .map_err(|e| e.to_string())??;
    for n in notes {
        log::info!("{n}");
    }
    log::info!(
        "models: stored models changed: now serving {} deployments in {} model groups ({} kept their state, {} added, {} removed)",
        report.deployments,
        report.model_groups,
        report.kept,
        report.added,
        report.removed
    );
    *applied = Some(version);
    Ok(true)
}

/// After a write on this replica: live here at once (rebuilt on the control runtime, where
/// the database pool lives), announced to the others.
pub async fn changed(state: &Arc<AppState>) {
    let st = state.clone();
    let rebuilt = state
        .control
        .db(async move { refresh(&st, false).await })
        .await;
    if let Err(e) = rebuilt {
        log::error!("stored models changed but the configuration could not be rebuilt: {e}");
    }
    sync::announce();
}
