//! Hot reload: a new configuration validated, built into a new runtime that keeps the live state
//! of the deployments it shares with the running one, and swapped in atomically; what cannot
//! change without a restart is named.
//!
//! API (SIGHUP, `POST /config/reload`, the model management routes):
//! - [`set_source`] once at start: where the configuration comes from (file, `--strict`, the
//!   CLI overrides) and the configuration the process started with.
//! - [`apply`]`(&state, config)`: validates what the loader does not (price table file,
//!   control-plane settings), builds the runtime with [`Runtime::build`] (deployments keep
//!   cooldown, failure counts, latency, usage, in-flight slots and Google tokens by
//!   [`crate::deployment::identity`]; upstream hosts keep their DNS answers) and swaps it in.
//!   One reload runs at a time. It is synchronous (a price table file may be read): from
//!   async code, call it on a blocking thread. Requests already running keep the `Arc<Runtime>` (and
//!   `Arc<DeploymentRt>`) they started with and finish on it. Keys, teams, budgets, spend
//!   counters and rate windows live in `control`, outside the runtime, and are not touched.
//! - [`follow_tokens`]: Google token renewal follows the deployments (called by [`apply`]).
//! - [`from_files`] (blocking) / [`from_files_async`]: re-read `config.yaml`, its `include:`
//!   files and — with `store_model_in_db` — the stored models, then [`apply`]. A configuration
//!   that does not load returns every error and the running one keeps serving.
//!
//! Built once at start and named in [`Report::needs_restart`] when a reload changes them: the
//! listener (address, threads, connection limits and timeouts, drain), the database, the
//! control plane's settings (batch writes, spend logs, proxy budget, timezone, enforcement),
//! Redis sharing, the response cache, the stored-responses bounds, callbacks, alerting,
//! metrics, the log format and verbosity, background health checks.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use conf::Config;

use crate::runtime::Runtime;
use crate::state::AppState;

/// Where the configuration comes from, and what the command line overrides.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// `-c FILE`; `None` runs the embedded default, which has nothing to re-read.
    pub path: Option<PathBuf>,
    /// `--strict`.
    pub strict: bool,
    /// `--host` / `--port` / `--num_workers` given: the file's value does not apply.
    pub host_flag: bool,
    pub port_flag: bool,
    pub threads_flag: bool,
}

struct Started {
    source: Source,
    /// The configuration the process started with: what the settings built once came from.
    config: Config,
}

static STARTED: OnceLock<Started> = OnceLock::new();

/// One reload at a time: each builds on the runtime the previous one swapped in.
static RELOADING: Mutex<()> = Mutex::new(());

/// Records where the configuration comes from and what the process started with.
pub fn set_source(source: Source, started_with: &Config) {
    let _ = STARTED.set(Started {
        source,
        config: started_with.clone(),
    });
}

/// What a reload did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    /// Deployments and model groups now served.
    pub deployments: usize,
    pub model_groups: usize,
    /// Deployments that kept their live state (same identity before and after).
    pub kept: usize,
    /// Deployments new to this configuration, and the previous ones not in it.
    pub added: usize,
    pub removed: usize,
    /// The loader's warnings (unknown or ignored keys) and notes on stored models.
    pub warnings: Vec<String>,
    /// Settings that differ from what the process started with and take effect only after a
    /// restart (or a binary upgrade, `tollgate --upgrade`).
    pub needs_restart: Vec<String>,
}

/// Why a reload was refused: every problem found, each naming its config path.
#[derive(Debug, Clone)]
pub struct Errors(pub Vec<String>);

impl std::fmt::Display for Errors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

/// Swaps `config` in (see the module comment); on error nothing changes.
pub fn apply(state: &AppState, config: Config) -> Result<Report, Errors> {
    let mut errors = crate::routes::shadow::shadowing(&config);
    if let Some(path) = &config.tollgate.price_table {
        if let Err(e) = crate::pricing::PriceTable::with_file(std::path::Path::new(path)) {
            errors.push(format!("tollgate_settings.price_table: {e}"));
        }
    }
    let settings = match crate::control::Settings::from_config(&config) {
        Ok(s) => Some(s),
        Err(e) => {
            errors.push(e);
            None
        }
    };
    if !errors.is_empty() {
        return Err(Errors(errors));
    }
    let needs_restart = match STARTED.get() {
        Some(started) => needs_restart(&started.source, &started.config, &config, settings),
        None => Vec::new(),
    };
    crate::logging::redact::register(crate::logging::config_secrets(&config));
    let _one = RELOADING.lock().unwrap_or_else(|p| p.into_inner());
    let prev = state.runtime();
    let before = prev.config.model_list.len();
    let (runtime, kept) = Runtime::build(config, Some(&prev));
    let report = Report {
        deployments: runtime.config.model_list.len(),
        model_groups: runtime.group_names.len(),
        kept,
        added: runtime.config.model_list.len() - kept,
        removed: before - kept,
        warnings: Vec::new(),
        needs_restart,
    };
    let runtime = Arc::new(runtime);
    state.live().store(runtime.clone());
    drop(prev);
    follow_tokens(&runtime);
    Ok(report)
}

/// One background renewal loop per Google token source of the current runtime, by the source's
/// address; dropping an entry's sender stops its loop.
type TokenLoops = std::collections::HashMap<
    usize,
    (
        Arc<crate::gcp_auth::TokenSource>,
        tokio::sync::watch::Sender<bool>,
    ),
>;

static TOKEN_LOOPS: Mutex<Option<TokenLoops>> = Mutex::new(None);

/// Renews the Google OAuth tokens of `runtime`'s deployments in the background (on the calling
/// tokio runtime): starts a loop for each token source not followed yet and stops the loops of
/// sources the runtime no longer has. Called at start and after each reload.
pub fn follow_tokens(runtime: &Runtime) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        log::warn!("Google token renewal not started: no async runtime");
        return;
    };
    let mut loops = TOKEN_LOOPS.lock().unwrap_or_else(|p| p.into_inner());
    let loops = loops.get_or_insert_with(Default::default);
    let current: Vec<&Arc<crate::gcp_auth::TokenSource>> = runtime
        .groups
        .values()
        .flat_map(|g| g.deployments.iter().filter_map(|d| d.gcp.as_ref()))
        .collect();
    loops.retain(|addr, _| current.iter().any(|t| Arc::as_ptr(t) as usize == *addr));
    for tokens in current {
        let addr = Arc::as_ptr(tokens) as usize;
        if loops.contains_key(&addr) {
            continue;
        }
        let (tx, rx) = tokio::sync::watch::channel(false);
        let t = tokens.clone();
        handle.spawn(async move { t.refresh_loop(rx).await });
        loops.insert(addr, (tokens.clone(), tx));
    }
}

/// Re-reads the configuration file(s) and stored models, then [`apply`]. Blocking (file and
/// database reads): call it off the proxy's worker threads, or use [`from_files_async`].
pub fn from_files(state: &AppState) -> Result<Report, Errors> {
    let Some(started) = STARTED.get() else {
        return Err(Errors(vec!["reload is not available yet".to_string()]));
    };
    let Some(path) = started.source.path.as_deref() else {
        return Err(Errors(vec![
            "running the embedded default configuration (no -c FILE): nothing to re-read"
                .to_string(),
        ]));
    };
    let opts = conf::LoadOptions {
        strict: started.source.strict,
    };
    // No stored-model refresh composes from the previous file meanwhile.
    let _one = crate::models::compose::SWAP
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let loaded = conf::load_file(path, opts).map_err(|e| Errors(e.errors))?;
    let (loaded, notes) = crate::models::compose::with_db_models(Some(path), loaded, opts)
        .map_err(|e| Errors(vec![e]))?;
    let mut config = loaded.config;
    // The command line's thread count keeps applying (as at start).
    if started.source.threads_flag {
        config.tollgate.threads = started.config.tollgate.threads;
    }
    let mut report = apply(state, config)?;
    report.warnings = loaded.warnings;
    report.warnings.extend(notes);
    Ok(report)
}

/// [`from_files`] on a blocking thread, logging the outcome (`why`: what asked for it).
pub async fn from_files_async(state: Arc<AppState>, why: &str) -> Result<Report, Errors> {
    let outcome = tokio::task::spawn_blocking(move || from_files(&state))
        .await
        .unwrap_or_else(|e| Err(Errors(vec![format!("reload failed: {e}")])));
    log_outcome(why, &outcome);
    outcome
}

/// Logs a reload's outcome: the counts, each warning and each setting that needs a restart,
/// or every error (the previous configuration keeps serving).
pub fn log_outcome(why: &str, outcome: &Result<Report, Errors>) {
    match outcome {
        Ok(r) => {
            log::info!(
                "{why}: configuration reloaded: {} deployments in {} model groups ({} kept their state, {} added, {} removed)",
                r.deployments, r.model_groups, r.kept, r.added, r.removed
            );
            for w in &r.warnings {
                log::warn!("config: {w}");
            }
            for s in &r.needs_restart {
                log::warn!(
                    "{why}: {s} changed: takes effect only after a restart or `tollgate --upgrade`"
                );
            }
        }
        Err(e) => {
            log::error!(
                "{why}: configuration NOT reloaded ({} errors); still serving the previous one",
                e.0.len()
            );
            for line in &e.0 {
                log::error!("config: {line}");
            }
        }
    }
}

/// The settings built once at start that differ between `old` (what the process started
/// with) and `new`. Secrets are compared by value; other sections by their whole contents.
fn needs_restart(
    source: &Source,
    old: &Config,
    new: &Config,
    settings: Option<crate::control::Settings>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut differs = |name: &str, changed: bool| {
        if changed {
            out.push(name.to_string());
        }
    };
    let dbg = |v: &dyn std::fmt::Debug| format!("{v:?}");
    let secret = |s: Option<&conf::Secret>| s.map(|s| s.expose().to_string());
    let (o, n) = (&old.tollgate, &new.tollgate);
    differs(
        "tollgate_settings.host (listen address)",
        !source.host_flag && o.host != n.host,
    );
    differs(
        "tollgate_settings.port (listen address)",
        !source.port_flag && o.port != n.port,
    );
    differs(
        "tollgate_settings.threads",
        !source.threads_flag && o.threads != n.threads,
    );
    differs(
        "tollgate_settings.grace_period_seconds",
        o.grace_period != n.grace_period,
    );
    differs(
        "tollgate_settings.shutdown_delay_seconds",
        o.shutdown_delay != n.shutdown_delay,
    );
    differs(
        "tollgate_settings.client_header_timeout_seconds",
        o.client_header_timeout != n.client_header_timeout,
    );
    differs(
        "tollgate_settings.keepalive_timeout_seconds",
        o.keepalive_timeout != n.keepalive_timeout,
    );
    differs(
        "tollgate_settings.max_connections_per_ip",
        o.max_connections_per_ip != n.max_connections_per_ip,
    );
    differs("tollgate_settings.log_format", o.log_format != n.log_format);
    differs(
        "tollgate_settings.database_path",
        o.database_path != n.database_path,
    );
    differs(
        "tollgate_settings.responses_store_*",
        (
            o.responses_store_max_count,
            o.responses_store_max_bytes,
            o.responses_store_ttl,
        ) != (
            n.responses_store_max_count,
            n.responses_store_max_bytes,
            n.responses_store_ttl,
        ),
    );
    let (og, ng) = (&old.general, &new.general);
    differs(
        "general_settings.database_url",
        secret(og.database_url.as_ref()) != secret(ng.database_url.as_ref()),
    );
    differs(
        "general_settings.background_health_checks / health_check_interval",
        (og.background_health_checks, og.health_check_interval)
            != (ng.background_health_checks, ng.health_check_interval),
    );
    if let Some(new_settings) = settings {
        let started = crate::control::Settings::from_config(old).ok();
        differs(
            "budget and spend settings (proxy_batch_write_at, disable_spend_logs, litellm_settings.max_budget / budget_duration / max_end_user_budget / timezone, tollgate_settings.budget_enforcement / redis_failure_mode / spend_backlog_rows)",
            started.map(|s| dbg(&s)) != Some(dbg(&new_settings)),
        );
    }
    differs(
        "router_settings.redis_* (cooldown, usage and budget sharing)",
        secret(old.router.redis_url.as_ref()) != secret(new.router.redis_url.as_ref()),
    );
    differs(
        "litellm_settings.cache / cache_params",
        dbg(&old.cache) != dbg(&new.cache),
    );
    differs(
        "callbacks (success_callback, failure_callback, callbacks, callback_settings)",
        dbg(&old.callbacks) != dbg(&new.callbacks),
    );
    differs(
        "general_settings.alerting",
        dbg(&old.alerting) != dbg(&new.alerting),
    );
    differs(
        "metrics (prometheus settings)",
        dbg(&old.metrics) != dbg(&new.metrics),
    );
    differs(
        "litellm_settings.set_verbose (log level)",
        old.litellm.set_verbose != new.litellm.set_verbose,
    );
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn config(yaml: &str) -> Config {
        conf::load_str(yaml, None, conf::LoadOptions::default())
            .unwrap()
            .config
    }

    const A: &str = "model_list:
  - model_name: m
    litellm_params: {model: openai/a, api_base: 'http://127.0.0.1:9/v1', api_key: sk-aaaaaaaa, input_cost_per_token: 0.1}
    model_info: {id: one}
  - model_name: m
    litellm_params: {model: openai/b, api_base: 'http://127.0.0.1:9/v1', api_key: sk-aaaaaaaa}
";

    fn dep<'a>(rt: &'a Runtime, model: &str) -> &'a Arc<crate::deployment::DeploymentRt> {
        rt.groups["m"]
            .deployments
            .iter()
            .find(|d| d.conf.model == model)
            .unwrap()
    }

    #[test]
    fn a_rebuilt_runtime_keeps_cooldowns_latency_slots_and_upstreams_by_identity() {
        let old = Runtime::new(config(A));
        let now = crate::clock::now_ms();
        for model in ["a", "b"] {
            let d = dep(&old, model);
            d.health.record_failure(now, 0, Duration::from_secs(60));
            d.load.record_latency(Duration::from_millis(7));
        }
        let slot = dep(&old, "b").slots.acquire().unwrap();

        // `a` keeps its id but changes price; `b` (no id) is re-weighted, which keeps its
        // identity; `c` is new.
        let b = A.replace("input_cost_per_token: 0.1", "input_cost_per_token: 0.2").replace(
            "api_key: sk-aaaaaaaa}\n",
            "api_key: sk-aaaaaaaa, weight: 5}\n  - model_name: m\n    litellm_params: {model: openai/c, api_base: 'http://127.0.0.1:9/v1'}\n",
        );
        let (new, kept) = Runtime::build(config(&b), Some(&old));
        assert_eq!(kept, 2);
        for model in ["a", "b"] {
            let d = dep(&new, model);
            assert!(d.health.cooling(now).is_some(), "{model} lost its cooldown");
            assert_eq!(d.load.local_latency_us(), 7_000, "{model} lost its latency");
        }
        assert!(dep(&new, "c").health.cooling(now).is_none());
        assert_eq!(
            dep(&new, "b").slots.inflight(),
            1,
            "in-flight count not shared"
        );
        drop(slot);
        assert_eq!(dep(&new, "b").slots.inflight(), 0);
        assert!(Arc::ptr_eq(&new.upstreams[0], &old.upstreams[0]));
        assert!(dep(&new, "a").price.as_ref().unwrap().input_cost_per_token > 0.15);

        // Pointing `b` at another key makes it another deployment.
        let c = A.replace(
            "openai/b, api_base: 'http://127.0.0.1:9/v1', api_key: sk-aaaaaaaa",
            "openai/b, api_base: 'http://127.0.0.1:9/v1', api_key: sk-bbbbbbbb",
        );
        let (other, kept) = Runtime::build(config(&c), Some(&new));
        assert_eq!(kept, 1);
        assert!(dep(&other, "b").health.cooling(now).is_none());
    }

    #[test]
    fn settings_built_at_start_are_named_when_they_change() {
        let old = config(A);
        let new = config(&format!(
            "{A}tollgate_settings:\n  port: 4100\n  keepalive_timeout_seconds: 5\ngeneral_settings:\n  proxy_batch_write_at: 30\n"
        ));
        let named = needs_restart(
            &Source::default(),
            &old,
            &new,
            crate::control::Settings::from_config(&new).ok(),
        );
        let all = named.join("\n");
        assert!(all.contains("tollgate_settings.port"), "{all}");
        assert!(all.contains("keepalive_timeout_seconds"), "{all}");
        assert!(all.contains("proxy_batch_write_at"), "{all}");
        assert!(!all.contains("threads"), "{all}");
        // With --port given, the file's port does not apply either way.
        let flags = Source {
            port_flag: true,
            ..Source::default()
        };
        let named = needs_restart(&flags, &old, &new, None);
        assert!(!named.join("\n").contains("tollgate_settings.port"));
        assert!(needs_restart(&Source::default(), &old, &old.clone(), None).is_empty());
    }
}
