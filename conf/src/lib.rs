//! Configuration: the LiteLLM `config.yaml` schema, loading (includes, `os.environ/`), pure
//! validation, and the validated types the gateway runs on.

pub mod cache;
mod cloud;
pub mod config;
mod deployment;
mod diag;
pub mod guard;
pub mod guard_categories;
mod guard_ext;
mod guard_parse;
pub mod guard_patterns;
mod keys;
pub mod observe;
mod params;
mod passthrough;
mod provider;
mod raw;
mod refs;
mod router;
mod secret;
pub mod shown;
mod suggest;
mod validate;

#[cfg(test)]
mod tests;

pub use cache::{CacheConfig, CacheKind, CacheScope, RedisUrl, SemanticConfig, DEFAULT_SIMILARITY};
pub use config::*;
pub use deployment::parse_api_base;
pub use keys::{is_secret_key, looks_like_openai};
pub use observe::{MetricGroup, MetricsSettings};
pub use params::{looks_like_secret, SECRET_PREFIXES};
pub use passthrough::PassThroughEndpoint;
pub use provider::bare_model_provider;
/// The closest of some known names to a misspelled one ("did you mean"), as config keys use it.
pub use suggest::closest as closest_name;

use std::path::Path;

/// The embedded default configuration (`conf/config.yaml`).
pub const EMBEDDED_DEFAULT: &str = include_str!("../config.yaml");

/// Options that change how strictly a file is judged.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Treat warnings (unknown keys, ignored settings) as errors.
    pub strict: bool,
}

/// A configuration that passed validation, with the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// One line per unknown or ignored key, each naming its path.
    pub warnings: Vec<String>,
}

/// Every error found in a configuration; each line names the config path and the value.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid configuration:\n  {}", .errors.join("\n  "))]
pub struct ConfigError {
    /// One line per problem: `path: message`, never containing a secret value.
    pub errors: Vec<String>,
}

/// Loads and validates a config file. `include:` paths are relative to the file's directory.
pub fn load_file(path: &Path, opts: LoadOptions) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        errors: vec![format!("{}: cannot read config file: {e}", path.display())],
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    load(&text, Some(dir), Some(path), opts)
}

/// Loads and validates YAML text; `base_dir` resolves `include:` paths.
pub fn load_str(
    yaml: &str,
    base_dir: Option<&Path>,
    opts: LoadOptions,
) -> Result<Loaded, ConfigError> {
    load(yaml, base_dir, None, opts)
}

/// Raw stage → validation → strictness. On success the config's `environment_variables` are
/// put into the process environment (on failure the environment is left untouched).
fn load(
    yaml: &str,
    base_dir: Option<&Path>,
    source: Option<&Path>,
    opts: LoadOptions,
) -> Result<Loaded, ConfigError> {
    let mut d = diag::Diag::default();
    let raw = raw::load(yaml, base_dir, source, &mut d);
    let config = raw
        .as_ref()
        .and_then(|raw| validate::validate(raw, source, &mut d));

    let mut errors = std::mem::take(&mut d.errors);
    let mut warnings = std::mem::take(&mut d.warnings);
    if opts.strict {
        errors.extend(
            warnings
                .drain(..)
                .map(|w| match w.strip_suffix(", ignored") {
                    Some(base) => format!("{base} (not allowed with --strict)"),
                    None => format!("{w} (warnings are errors with --strict)"),
                }),
        );
    }
    match config {
        Some(config) if errors.is_empty() => {
            if let Some(raw) = &raw {
                raw.env.apply();
            }
            Ok(Loaded { config, warnings })
        }
        _ => {
            if errors.is_empty() {
                errors.push("configuration could not be built".to_string());
            }
            Err(ConfigError { errors })
        }
    }
}
