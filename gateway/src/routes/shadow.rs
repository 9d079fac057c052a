//! The config check that a custom pass-through route (`general_settings.pass_through_endpoints`)
//! neither is nor hides a built-in route (`table::SERVED`).

use super::table::{classify, Route, Served, SERVED};

/// The config errors of `general_settings.pass_through_endpoints` paths that are, or hide,
/// built-in routes (checked at start, by `--check` and on every reload).
pub fn shadowing(config: &conf::Config) -> Vec<String> {
    config
        .general
        .pass_through_endpoints
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            shadowed(&e.path, e.include_subpath).map(|why| {
                format!(
                    "general_settings.pass_through_endpoints[{i}].path: {why}; choose another path"
                )
            })
        })
        .collect()
}

/// How a custom pass-through route (`general_settings.pass_through_endpoints`) at `path` would
/// shadow a built-in route, for the config error: `path` is one (for some method), or, with
/// `include_subpath`, the paths below it are served by one or a built-in route is below it.
/// `None` when it shadows none.
pub fn shadowed(path: &str, include_subpath: bool) -> Option<String> {
    const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];
    let built_in = |p: &str| {
        METHODS
            .iter()
            .any(|m| !matches!(classify(m, p), Route::NotFound))
    };
    if built_in(path) {
        return Some(format!("{path:?} is a built-in route of the gateway"));
    }
    if !include_subpath {
        return None;
    }
    if built_in(&format!("{path}/_")) {
        return Some(format!(
            "the paths below {path:?} are built-in routes of the gateway (include_subpath)"
        ));
    }
    let below = format!("{path}/");
    SERVED
        .iter()
        .map(Served::listed_path)
        .chain(
            SERVED
                .iter()
                .filter(|s| s.openai)
                .map(|s| s.path.to_string()),
        )
        .find(|p| p.starts_with(&below))
        .map(|p| format!("built-in route {p:?} is below {path:?} (include_subpath)"))
}
