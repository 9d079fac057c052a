//! Pure validation of the merged tree into `Config`: top-level keys, `general_settings`,
//! `litellm_settings`, `router_settings`, `tollgate_settings` (deployments live in
//! `deployment.rs`). Every problem is recorded with its path; nothing here reads files.

use std::path::Path;

use serde_json::{Map, Value};

use crate::config::{
    Config, GeneralSettings, LitellmSettings, LogFormat, MasterKeySource, Secret, TollgateSettings,
};
use crate::diag::{
    boolean, check_keys, count, field, positive, quote, seconds, section, show, string, Diag,
};
use crate::keys;
use crate::raw::{Env, Lookup, RawConfig};

/// Validates a merged document. Returns `None` when some part could not be built; the reasons
/// are in `d`.
pub(crate) fn validate(raw: &RawConfig, source: Option<&Path>, d: &mut Diag) -> Option<Config> {
    check_keys(&raw.root, "", &keys::TOP_LEVEL, d);
    let before = d.error_count();

    let model_list = crate::deployment::deployments(raw, d);
    if raw.entries.is_empty() {
        d.warn(
            "model_list",
            "no model_list entries; every model request will fail",
        );
    }
    let general = general(section(&raw.root, "general_settings", d), &raw.env, d);
    let litellm = litellm(section(&raw.root, "litellm_settings", d), d);
    let router_raw = section(&raw.root, "router_settings", d);
    if let Some(m) = router_raw {
        check_keys(m, "router_settings", &keys::ROUTER, d);
    }
    let router = crate::router::router(router_raw, section(&raw.root, "litellm_settings", d), d);
    let litellm_raw = section(&raw.root, "litellm_settings", d);
    crate::refs::check(
        litellm_raw,
        router_raw,
        &model_list,
        &router.model_group_alias,
        d,
    );
    let entries: Vec<(&Value, &String)> = raw.entries.iter().zip(&raw.entry_paths).collect();
    crate::refs::tags(&entries, router.enable_tag_filtering, d);
    let router_settings = router_raw.cloned().unwrap_or_default();
    let mut tollgate = tollgate(section(&raw.root, "tollgate_settings", d), d);
    let general_raw = section(&raw.root, "general_settings", d);
    let callbacks =
        crate::observe::callbacks::callbacks(&raw.root, litellm_raw, general_raw, &raw.env, d);
    let alerting = crate::observe::alerting::alerting(general_raw, &raw.env, d);
    let json_env = raw
        .env
        .non_empty("JSON_LOGS")
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    let mut litellm = litellm;
    litellm.json_logs |= json_env;
    if litellm.json_logs {
        tollgate.log_format = LogFormat::Json;
    }
    let metrics = crate::observe::metrics::parse(
        section(&raw.root, "litellm_settings", d),
        section(&raw.root, "tollgate_settings", d),
        d,
    );
    let mut cache = crate::cache::cache(litellm_raw, router_raw, d);
    if cache.enabled && cache.kind == crate::cache::CacheKind::Redis(None) {
        match &router.redis_url {
            Some(url) => {
                cache.kind = crate::cache::CacheKind::Redis(Some(crate::cache::RedisUrl(
                    url.expose().to_string(),
                )))
            }
            None => d.error(
                "litellm_settings.cache_params",
                "type redis needs host (port, password) or redis_url here or in router_settings",
            ),
        }
    }
    if let Some(sem) = cache.semantic.as_ref().filter(|_| cache.enabled) {
        if !model_list
            .iter()
            .any(|m| m.model_name == sem.embedding_model)
        {
            d.error(
                "litellm_settings.cache_params.redis_semantic_cache_embedding_model",
                format_args!(
                    "{:?} is not a model_name in model_list: the semantic cache embeds prompts through the gateway's own deployment of that group",
                    sem.embedding_model
                ),
            );
        }
    }

    let guardrails = crate::guard_parse::guardrails(&raw.root, &raw.env, &raw.dir, d);

    if d.error_count() > before {
        return None;
    }
    Some(Config {
        model_list,
        general,
        litellm,
        router_settings,
        router,
        tollgate,
        callbacks,
        alerting,
        metrics,
        cache,
        guardrails,
        source: source.map(Path::to_path_buf),
        shown: crate::shown::redact(&raw.unresolved),
    })
}

impl Default for GeneralSettings {
    fn default() -> Self {
        GeneralSettings {
            master_key: None,
            master_key_source: None,
            salt_key: None,
            max_request_size_mb: 10.0,
            database_url: None,
            proxy_batch_write_at: std::time::Duration::from_secs(2),
            disable_spend_logs: false,
            background_health_checks: false,
            health_check_interval: std::time::Duration::from_secs(300),
            health_check_details: true,
            pass_through_endpoints: Vec::new(),
            moderation_model: None,
        }
    }
}

impl Default for LitellmSettings {
    fn default() -> Self {
        LitellmSettings {
            request_timeout: std::time::Duration::from_secs(600),
            drop_params: false,
            include_cost_in_streaming_usage: false,
            max_budget: None,
            budget_duration: None,
            max_end_user_budget: None,
            timezone: None,
            json_logs: false,
            set_verbose: false,
        }
    }
}

impl Default for TollgateSettings {
    fn default() -> Self {
        TollgateSettings {
            host: "0.0.0.0".to_string(),
            port: 4000,
            threads: None,
            grace_period: std::time::Duration::from_secs(30),
            shutdown_delay: std::time::Duration::ZERO,
            client_header_timeout: std::time::Duration::from_secs(10),
            keepalive_timeout: std::time::Duration::from_secs(75),
            max_connections_per_ip: 1024,
            connect_timeout: std::time::Duration::from_secs(10),
            log_format: LogFormat::Text,
            image_fetch_allow_private: false,
            database_path: "tollgate.db".to_string(),
            price_table: None,
            redis_fail_closed: false,
            spend_backlog_rows: 100_000,
            budget_enforcement: crate::config::BudgetEnforcement::Clamp,
            responses_store_max_count: 10_000,
            responses_store_max_bytes: 256 << 20,
            responses_store_ttl: std::time::Duration::from_secs(30 * 86_400),
            ui_session_ttl: std::time::Duration::from_secs(12 * 3600),
            ui_max_sessions: 10_000,
        }
    }
}

/// The drain and client-connection settings of `tollgate_settings`.
fn client_settings(m: &Map<String, Value>, out: &mut TollgateSettings, d: &mut Diag) {
    if let Some(v) = field(m, "shutdown_delay_seconds") {
        let path = "tollgate_settings.shutdown_delay_seconds";
        if let Some(t) = seconds(path, v, true, d) {
            if t > out.grace_period {
                d.error(
                    path,
                    format_args!(
                        "must not exceed grace_period_seconds ({}), got {}",
                        out.grace_period.as_secs_f64(),
                        show(path, v)
                    ),
                );
            } else {
                out.shutdown_delay = t;
            }
        }
    }
    if let Some(v) = field(m, "client_header_timeout_seconds") {
        if let Some(t) = seconds(
            "tollgate_settings.client_header_timeout_seconds",
            v,
            false,
            d,
        ) {
            out.client_header_timeout = t;
        }
    }
    if let Some(v) = field(m, "keepalive_timeout_seconds") {
        if let Some(t) = seconds("tollgate_settings.keepalive_timeout_seconds", v, false, d) {
            out.keepalive_timeout = t;
        }
    }
    if let Some(v) = field(m, "max_connections_per_ip") {
        if let Some(n) = count("tollgate_settings.max_connections_per_ip", v, d) {
            out.max_connections_per_ip = n;
        }
    }
}

/// The environment variable LiteLLM reads the master key from when the config sets none.
pub(crate) const MASTER_KEY_ENV: &str = "LITELLM_MASTER_KEY";
/// The environment variable LiteLLM reads the credential-encryption salt from.
pub(crate) const SALT_KEY_ENV: &str = "LITELLM_SALT_KEY";

/// The master key as LiteLLM's proxy finds it: `general_settings.master_key` when the key is
/// there (its `os.environ/` reference already resolved by the raw stage), else the
/// `LITELLM_MASTER_KEY` variable (`environment_variables:` first, then the process).
fn master_key(m: Option<&Map<String, Value>>, env: &Env, out: &mut GeneralSettings, d: &mut Diag) {
    let (path, key, source) = match m.and_then(|m| field(m, "master_key")) {
        Some(v) => {
            let path = "general_settings.master_key";
            let Some(key) = string(path, v, d) else {
                return;
            };
            (path, key, MasterKeySource::Config)
        }
        None => match env.get(MASTER_KEY_ENV) {
            Lookup::Set(key) => (MASTER_KEY_ENV, key, MasterKeySource::Env),
            Lookup::Unset => return,
            Lookup::NotUnicode => {
                d.error(MASTER_KEY_ENV, "environment variable is not valid UTF-8");
                return;
            }
        },
    };
    if key.is_empty() {
        let fix = match source {
            MasterKeySource::Config => "remove the key to run without auth",
            MasterKeySource::Env => "unset the variable to run without auth",
        };
        d.error(path, format_args!("must not be empty ({fix})"));
        return;
    }
    if !key.starts_with("sk-") {
        d.warn(
            path,
            "does not start with \"sk-\" (LiteLLM requires it; Tollgate accepts it)",
        );
    }
    out.master_key = Some(Secret::new(key));
    out.master_key_source = Some(source);
}

fn general(m: Option<&Map<String, Value>>, env: &Env, d: &mut Diag) -> GeneralSettings {
    let mut out = GeneralSettings::default();
    master_key(m, env, &mut out, d);
    out.salt_key = env.non_empty(SALT_KEY_ENV).map(Secret::new);
    let Some(m) = m else { return out };
    check_keys(m, "general_settings", &keys::GENERAL, d);

    // A bad size cap or flush interval leaves the default (10 MB, 2 s) in force: still a cap.
    if let Some(v) = field(m, "max_request_size_mb") {
        if let Some(mb) = d.lenient(|d| positive("general_settings.max_request_size_mb", v, d)) {
            out.max_request_size_mb = mb;
        }
    }
    if let Some(v) = field(m, "database_url") {
        if let Some(url) = string("general_settings.database_url", v, d) {
            if !url.trim().is_empty() {
                out.database_url = Some(Secret::new(url.trim()));
            }
        }
    }
    if let Some(v) = field(m, "proxy_batch_write_at") {
        if let Some(t) =
            d.lenient(|d| seconds("general_settings.proxy_batch_write_at", v, false, d))
        {
            out.proxy_batch_write_at = t;
        }
    }
    // Stays an error: a misspelled `true` would keep writing the spend log the operator
    // meant to turn off (privacy).
    if let Some(v) = field(m, "disable_spend_logs") {
        if let Some(b) = boolean("general_settings.disable_spend_logs", v, d) {
            out.disable_spend_logs = b;
        }
    }
    if let Some(v) = field(m, "background_health_checks") {
        if let Some(b) = boolean("general_settings.background_health_checks", v, d) {
            out.background_health_checks = b;
        }
    }
    if let Some(v) = field(m, "health_check_interval") {
        if let Some(t) = seconds("general_settings.health_check_interval", v, false, d) {
            out.health_check_interval = t;
        }
    }
    if let Some(v) = field(m, "health_check_details") {
        if let Some(b) = boolean("general_settings.health_check_details", v, d) {
            out.health_check_details = b;
        }
    }
    // Errors: a route the operator configured must not go missing unnoticed.
    if let Some(v) = field(m, "pass_through_endpoints") {
        out.pass_through_endpoints = crate::passthrough::endpoints(v, env, d);
    }
    if let Some(v) = field(m, "moderation_model") {
        match v {
            Value::String(s) if !s.trim().is_empty() => out.moderation_model = Some(s.clone()),
            other => d.error(
                "general_settings.moderation_model",
                format_args!("expected a model group name, got {other}"),
            ),
        }
    }
    out
}

fn litellm(m: Option<&Map<String, Value>>, d: &mut Diag) -> LitellmSettings {
    let mut out = LitellmSettings::default();
    let Some(m) = m else { return out };
    check_keys(m, "litellm_settings", &keys::LITELLM, d);

    // Optional, with safe defaults (600 s; unsupported parameters are a 400 naming them).
    if let Some(v) = field(m, "request_timeout") {
        if let Some(t) = d.lenient(|d| seconds("litellm_settings.request_timeout", v, false, d)) {
            out.request_timeout = t;
        }
    }
    if let Some(v) = field(m, "drop_params") {
        if let Some(b) = d.lenient(|d| boolean("litellm_settings.drop_params", v, d)) {
            out.drop_params = b;
        }
    }
    for (k, slot) in [
        ("json_logs", &mut out.json_logs),
        ("set_verbose", &mut out.set_verbose),
    ] {
        if let Some(v) = field(m, k) {
            if let Some(b) = d.lenient(|d| boolean(&format!("litellm_settings.{k}"), v, d)) {
                *slot = b;
            }
        }
    }
    if let Some(v) = field(m, "include_cost_in_streaming_usage") {
        if let Some(b) = boolean("litellm_settings.include_cost_in_streaming_usage", v, d) {
            out.include_cost_in_streaming_usage = b;
        }
    }
    // Budgets and their periods stay errors: running without the budget the operator set
    // would let keys spend money they should not.
    for (k, slot) in [
        ("max_budget", &mut out.max_budget),
        ("max_end_user_budget", &mut out.max_end_user_budget),
    ] {
        if let Some(v) = field(m, k) {
            let path = format!("litellm_settings.{k}");
            match v.as_f64() {
                Some(n) if n >= 0.0 => *slot = Some(n),
                _ => d.error(
                    &path,
                    format_args!("expected an amount in USD, got {}", show(&path, v)),
                ),
            }
        }
    }
    for (k, slot) in [
        ("budget_duration", &mut out.budget_duration),
        ("timezone", &mut out.timezone),
    ] {
        if let Some(v) = field(m, k) {
            if let Some(s) = string(&format!("litellm_settings.{k}"), v, d) {
                *slot = Some(s);
            }
        }
    }
    out
}

fn tollgate(m: Option<&Map<String, Value>>, d: &mut Diag) -> TollgateSettings {
    let mut out = TollgateSettings::default();
    let Some(m) = m else { return out };
    check_keys(m, "tollgate_settings", &keys::TOLLGATE, d);

    if let Some(v) = field(m, "host") {
        let path = "tollgate_settings.host";
        if let Some(host) = string(path, v, d) {
            let host = host.trim();
            if host.is_empty() || host.contains(char::is_whitespace) {
                d.error(
                    path,
                    format_args!("expected a host name or IP address, got {}", quote(host)),
                );
            } else {
                out.host = host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string();
            }
        }
    }
    if let Some(v) = field(m, "port") {
        let path = "tollgate_settings.port";
        if let Some(p) = count(path, v, d) {
            match u16::try_from(p) {
                Ok(port) if port > 0 => out.port = port,
                _ => d.error(
                    path,
                    format_args!("expected a port from 1 to 65535, got {}", show(path, v)),
                ),
            }
        }
    }
    if let Some(v) = field(m, "threads") {
        let path = "tollgate_settings.threads";
        if let Some(n) = count(path, v, d) {
            match usize::try_from(n) {
                Ok(n) if (1..=4096).contains(&n) => out.threads = Some(n),
                _ => d.error(
                    path,
                    format_args!("expected 1 to 4096 threads, got {}", show(path, v)),
                ),
            }
        }
    }
    if let Some(v) = field(m, "grace_period_seconds") {
        if let Some(t) = seconds("tollgate_settings.grace_period_seconds", v, true, d) {
            out.grace_period = t;
        }
    }
    client_settings(m, &mut out, d);
    if let Some(v) = field(m, "connect_timeout_seconds") {
        if let Some(t) = seconds("tollgate_settings.connect_timeout_seconds", v, false, d) {
            out.connect_timeout = t;
        }
    }
    if let Some(v) = field(m, "image_fetch_allow_private") {
        if let Some(b) = boolean("tollgate_settings.image_fetch_allow_private", v, d) {
            out.image_fetch_allow_private = b;
        }
    }
    if let Some(v) = field(m, "database_path") {
        let path = "tollgate_settings.database_path";
        if let Some(p) = string(path, v, d) {
            if p.trim().is_empty() {
                d.error(path, "must not be empty");
            } else {
                out.database_path = p;
            }
        }
    }
    if let Some(v) = field(m, "price_table") {
        if let Some(p) = string("tollgate_settings.price_table", v, d) {
            out.price_table = Some(p);
        }
    }
    if let Some(v) = field(m, "spend_backlog_rows") {
        let path = "tollgate_settings.spend_backlog_rows";
        match count(path, v, d) {
            Some(0) => d.error(path, "must be at least 1"),
            Some(n) => out.spend_backlog_rows = n,
            None => {}
        }
    }
    if let Some(v) = field(m, "responses_store_max_count") {
        if let Some(n) = count("tollgate_settings.responses_store_max_count", v, d) {
            out.responses_store_max_count = n;
        }
    }
    if let Some(v) = field(m, "responses_store_max_bytes") {
        if let Some(n) = count("tollgate_settings.responses_store_max_bytes", v, d) {
            out.responses_store_max_bytes = n;
        }
    }
    if let Some(v) = field(m, "responses_store_ttl_seconds") {
        if let Some(t) = seconds("tollgate_settings.responses_store_ttl_seconds", v, false, d) {
            out.responses_store_ttl = t;
        }
    }
    if let Some(v) = field(m, "ui_session_ttl_seconds") {
        if let Some(t) = seconds("tollgate_settings.ui_session_ttl_seconds", v, false, d) {
            out.ui_session_ttl = t;
        }
    }
    if let Some(v) = field(m, "ui_max_sessions") {
        if let Some(n) = count("tollgate_settings.ui_max_sessions", v, d) {
            out.ui_max_sessions = n.max(1);
        }
    }
    if let Some(v) = field(m, "budget_enforcement") {
        let path = "tollgate_settings.budget_enforcement";
        match v.as_str() {
            Some("clamp") => out.budget_enforcement = crate::config::BudgetEnforcement::Clamp,
            Some("reserve") => out.budget_enforcement = crate::config::BudgetEnforcement::Reserve,
            Some("soft") => out.budget_enforcement = crate::config::BudgetEnforcement::Soft,
            _ => d.error(
                path,
                format_args!(
                    "expected \"clamp\", \"reserve\" or \"soft\", got {}",
                    show(path, v)
                ),
            ),
        }
    }
    if let Some(v) = field(m, "redis_failure_mode") {
        let path = "tollgate_settings.redis_failure_mode";
        match v.as_str() {
            Some("open") => out.redis_fail_closed = false,
            Some("closed") => out.redis_fail_closed = true,
            _ => d.error(
                path,
                format_args!("expected \"open\" or \"closed\", got {}", show(path, v)),
            ),
        }
    }
    if let Some(v) = field(m, "log_format") {
        let path = "tollgate_settings.log_format";
        match v.as_str() {
            Some("text") => out.log_format = LogFormat::Text,
            Some("json") => out.log_format = LogFormat::Json,
            _ => d.error(
                path,
                format_args!("expected \"text\" or \"json\", got {}", show(path, v)),
            ),
        }
    }
    out
}
