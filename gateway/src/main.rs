//! `tollgate`: command line entry point — parse flags, load and validate the configuration,
//! then run the server (or, with `--check`, only report on the configuration).

mod admin;
mod apidocs;
mod batches;
mod cache;
mod clock;
mod conn;
mod control;
mod ctx;
mod deployment;
mod error;
mod gcp_auth;
mod guard;
mod health;
mod import;
mod lifecycle;
mod load;
mod logging;
mod media;
mod models;
mod observe;
mod passthrough;
mod pricing;
mod proxy;
mod region;
mod reload;
mod reply;
mod routes;
mod routing;
mod runtime;
mod server;
mod services;
mod sessions;
mod signals;
mod state;
mod stored;
mod upstream;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the request path allocates many small, short-lived buffers; glibc malloc was
/// ~15% of the gateway's CPU under load (see bench/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use conf::{LoadOptions, Loaded};

/// An OpenAI-compatible LLM gateway that reads LiteLLM proxy config files.
#[derive(Parser, Debug)]
#[command(name = "tollgate", version, about)]
struct Cli {
    /// Path to a LiteLLM-style config.yaml (default: the embedded demo configuration).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Listen port (overrides tollgate_settings.port; default 4000).
    #[arg(long)]
    port: Option<u16>,
    /// Listen address (overrides tollgate_settings.host; default 0.0.0.0, the embedded demo
    /// config 127.0.0.1).
    #[arg(long)]
    host: Option<String>,
    /// Validate the configuration, print every problem, and exit (non-zero if invalid).
    #[arg(long)]
    check: bool,
    /// Treat unknown or unsupported config keys as errors.
    #[arg(long)]
    strict: bool,
    /// Proxy worker threads (LiteLLM's worker count; overrides tollgate_settings.threads).
    #[arg(long = "num_workers", alias = "num-workers", value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=4096))]
    num_workers: Option<u16>,
    /// Log Tollgate's debug messages (as LiteLLM's --debug). TOLLGATE_LOG, if set, wins.
    #[arg(long)]
    debug: bool,
    /// Log Tollgate's debug and trace messages, such as each deployment's route (as LiteLLM's
    /// --detailed_debug). TOLLGATE_LOG, if set, wins.
    #[arg(long = "detailed_debug", alias = "detailed-debug")]
    detailed_debug: bool,
    /// Graceful binary upgrade: take the listening socket from the running gateway (send it
    /// SIGQUIT once this process waits; see docs/operations.md) instead of binding it.
    #[arg(long)]
    upgrade: bool,
    /// The unix socket the listening sockets are handed over on (default
    /// /tmp/tollgate-upgrade-PORT.sock); the old and the new process must agree.
    #[arg(long = "upgrade-sock", alias = "upgrade_sock", value_name = "PATH")]
    upgrade_sock: Option<String>,
    /// Accepted for LiteLLM compatibility and ignored: Tollgate sends no telemetry.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          value_parser = parse_bool)]
    telemetry: Option<bool>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Import a LiteLLM proxy's database (keys, teams, users, budgets, spend, stored models,
    /// spend history) into Tollgate's store; see docs/migrating-from-litellm.md.
    #[command(name = "import-litellm")]
    ImportLitellm(import::Args),
}

/// `True`/`False` as LiteLLM's CLI writes them, any case.
fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("expected True or False, got {s:?}")),
    }
}

/// The log filter: `TOLLGATE_LOG` if set, else `--detailed_debug` / `--debug`, else LiteLLM's
/// `LITELLM_LOG` (`DEBUG`, `INFO` — which adds the per-request access line —, `ERROR`) or
/// `litellm_settings.set_verbose` (as `--debug`), else Tollgate's own messages at info.
fn log_filter(cli: &Cli, set_verbose: bool) -> String {
    if let Ok(f) = std::env::var("TOLLGATE_LOG") {
        return f;
    }
    let litellm = std::env::var("LITELLM_LOG").unwrap_or_default();
    if cli.detailed_debug {
        "info,tollgate=trace".to_string()
    } else if cli.debug || set_verbose || litellm.eq_ignore_ascii_case("debug") {
        "warn,tollgate=debug".to_string()
    } else if litellm.eq_ignore_ascii_case("info") {
        "warn,tollgate=info,tollgate::access=debug".to_string()
    } else if litellm.eq_ignore_ascii_case("error") {
        "error".to_string()
    } else {
        "warn,tollgate=info".to_string()
    }
}

/// What `--debug` and `--detailed_debug` add at start: each model group, and each deployment's
/// route (never a key: `api_base` holds none).
fn log_config(config: &conf::Config) {
    for group in config.model_groups() {
        let deps: Vec<&conf::Deployment> = config
            .model_list
            .iter()
            .filter(|d| d.model_name == group)
            .collect();
        log::debug!("model group {group}: {} deployments", deps.len());
        for d in deps {
            log::trace!(
                "deployment {}: {}/{} via {}",
                d.id,
                d.provider.prefix(),
                d.model,
                d.api_base
                    .as_ref()
                    .map_or("(provider default)", |b| b.url.as_str())
            );
        }
    }
}

fn load(cli: &Cli) -> Result<Loaded, conf::ConfigError> {
    let opts = LoadOptions { strict: cli.strict };
    match &cli.config {
        Some(path) => conf::load_file(path, opts),
        None => conf::load_str(conf::EMBEDDED_DEFAULT, None, opts),
    }
}

/// The warning for a gateway without a master key: what it means and how to fix it. LiteLLM
/// logs the same condition as critical.
fn no_master_key(listen: Option<&server::Listen>) -> String {
    let who = match listen {
        Some(l) => {
            let local = l
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
                || l.host == "localhost";
            let scope = if local {
                "every process on this machine"
            } else {
                "anyone who can reach"
            };
            let host = if l.host.contains(':') {
                format!("[{}]", l.host)
            } else {
                l.host.clone()
            };
            format!("{scope} http://{host}:{}", l.port)
        }
        None => "anyone who can reach the gateway".to_string(),
    };
    format!(
        "NO MASTER KEY — authentication is OFF: {who} can call every model on your provider keys \
         and use the whole management API (mint keys, change budgets, read spend). Set \
         general_settings.master_key (e.g. master_key: os.environ/MY_MASTER_KEY) or the \
         LITELLM_MASTER_KEY environment variable."
    )
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::ImportLitellm(args)) = cli.command {
        return import::run(args);
    }
    let source = cli
        .config
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "embedded default config".to_string());
    let loaded = match load(&cli) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tollgate: {source}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The custom pass-through paths, against the route table (which conf does not know).
    let shadowing = routes::shadow::shadowing(&loaded.config);
    if !shadowing.is_empty() {
        eprintln!(
            "tollgate: {source}: {}",
            conf::ConfigError { errors: shadowing }
        );
        return ExitCode::FAILURE;
    }
    if cli.check {
        for w in &loaded.warnings {
            eprintln!("warning: {w}");
        }
        let c = &loaded.config;
        // A `model: "*"` entry stands for one deployment per provider it can reach.
        let expanded = c.model_list.iter().filter(|d| d.any_provider).count();
        let note = if expanded > 0 {
            format!(", {expanded} of them one per provider for `model: \"*\"` entries")
        } else {
            String::new()
        };
        let auth = match c.general.master_key_source {
            Some(from) => format!("master key from {from}"),
            None => {
                eprintln!("warning: {}", no_master_key(None));
                "NO MASTER KEY: authentication is off".to_string()
            }
        };
        println!(
            "{source}: OK ({} deployments{note} in {} model groups, {} warnings) — {auth}",
            c.model_list.len(),
            c.model_groups().len(),
            loaded.warnings.len()
        );
        return ExitCode::SUCCESS;
    }
    // Models stored in the database join the file's (store_model_in_db; models/compose.rs).
    let opts = LoadOptions { strict: cli.strict };
    let (loaded, stored) =
        match models::compose::with_db_models(cli.config.as_deref(), loaded, opts) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("tollgate: {source}: {e}");
                return ExitCode::FAILURE;
            }
        };
    logging::redact::register(logging::config_secrets(&loaded.config));
    logging::init(
        loaded.config.tollgate.log_format,
        &log_filter(&cli, loaded.config.litellm.set_verbose),
    );
    for w in &loaded.warnings {
        log::warn!("config: {w}");
    }
    for note in &stored {
        log::info!("{note}");
    }
    let mut config = loaded.config;
    if let Some(n) = cli.num_workers {
        config.tollgate.threads = Some(usize::from(n));
        log::info!("proxy threads: {n} (--num_workers)");
    }
    if cli.telemetry.is_some() {
        log::debug!(
            "--telemetry is accepted for LiteLLM compatibility; Tollgate sends no telemetry"
        );
    }
    log_config(&config);
    let port = cli.port.unwrap_or(config.tollgate.port);
    let listen = server::Listen {
        host: cli
            .host
            .clone()
            .unwrap_or_else(|| config.tollgate.host.clone()),
        port,
        upgrade: cli.upgrade,
        upgrade_sock: cli
            .upgrade_sock
            .clone()
            .unwrap_or_else(|| server::Listen::default_upgrade_sock(port)),
    };
    match config.general.master_key_source {
        Some(from) => log::info!("auth: master key from {from}"),
        None => log::error!("{}", no_master_key(Some(&listen))),
    }
    reload::set_source(
        reload::Source {
            path: cli.config.clone(),
            strict: cli.strict,
            host_flag: cli.host.is_some(),
            port_flag: cli.port.is_some(),
            threads_flag: cli.num_workers.is_some(),
        },
        &config,
    );
    match server::run(config, listen) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate: {e}");
            ExitCode::FAILURE
        }
    }
}
