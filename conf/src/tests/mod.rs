//! Unit tests of loading and validation, by theme. Tests that need environment variables use
//! names unique to the test (`TOLLGATE_T_<TEST>_…`) so parallel tests never race on them.

mod access;
mod cache;
mod deployments;
mod guard;
mod lenient;
mod loading;
mod observe;
mod passthrough;
mod providers;
mod refs;
mod settings;
mod shipped;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{load_str, ConfigError, LoadOptions, Loaded};

/// Loads YAML that must be valid; panics with the errors otherwise.
pub(super) fn ok(yaml: &str) -> Loaded {
    match load_str(yaml, None, LoadOptions::default()) {
        Ok(l) => l,
        Err(e) => panic!("expected a valid config, got:\n{e}"),
    }
}

/// Loads YAML that must be invalid; returns its error lines.
pub(super) fn errors(yaml: &str) -> Vec<String> {
    errors_opts(yaml, LoadOptions::default())
}

pub(super) fn errors_opts(yaml: &str, opts: LoadOptions) -> Vec<String> {
    match load_str(yaml, None, opts) {
        Ok(l) => panic!("expected errors, config loaded: {:?}", l.config),
        Err(ConfigError { errors }) => errors,
    }
}

/// Asserts that exactly one error line equals `expected`.
#[track_caller]
pub(super) fn assert_error(yaml: &str, expected: &str) {
    let errs = errors(yaml);
    assert!(
        errs.iter().any(|e| e == expected),
        "wanted {expected:?} among {errs:#?}"
    );
}

/// A fresh empty directory under the system temp dir.
pub(super) fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tollgate-conf-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(super) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// A minimal valid deployment list to wrap other sections around.
pub(super) const ONE_MOCK: &str = "
model_list:
  - model_name: m
    litellm_params:
      model: openai/m
      mock_response: hi
";

/// Runs `f` with `vars` standing in for the whole process environment (on this thread only):
/// tests of fixed names such as `LITELLM_MASTER_KEY` cannot race each other or see the real one.
pub(super) fn with_env<T>(vars: &[(&str, &str)], f: impl FnOnce() -> T) -> T {
    crate::raw::TEST_PROCESS_ENV.with_borrow_mut(|e| {
        *e = Some(
            vars.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    });
    let out = f();
    crate::raw::TEST_PROCESS_ENV.with_borrow_mut(|e| *e = None);
    out
}
