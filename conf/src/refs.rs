//! References to model groups: fallbacks (`fallbacks`, `context_window_fallbacks`,
//! `content_policy_fallbacks`, `default_fallbacks`), `model_group_alias` targets and tag rules
//! that can never take effect are warnings naming their path. Names are resolved the way routing
//! resolves a requested model (`gateway/src/lifecycle/resolve.rs`): a group, else an alias, else
//! the wildcard group with the longest matching prefix. A bare name that only a `model: "*"`
//! group could serve needs the price table to place: it is taken as served.

use std::collections::HashMap;

use adapters::provider::Provider;
use serde_json::{Map, Value};

use crate::config::Deployment;
use crate::diag::{index, quote, Diag};
use crate::provider::bare_model_provider;

/// The keys whose values name fallback groups, per failing group.
const FALLBACK_MAPS: &[&str] = &[
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
];

/// What serves a name.
enum Served<'a> {
    Group,
    Alias(&'a str),
    Wildcard(&'a str),
    Nothing(String),
}

struct Groups<'a> {
    deployments: &'a [Deployment],
    names: Vec<&'a str>,
    aliases: &'a HashMap<String, String>,
}

impl<'a> Groups<'a> {
    fn listed(&self) -> String {
        if self.names.is_empty() {
            "none configured".to_string()
        } else {
            self.names.join(", ")
        }
    }

    /// Resolves `name` as a requested model (through `model_group_alias` unless `plain`: an
    /// alias target is not looked up again).
    fn serve(&self, name: &'a str, plain: bool) -> Served<'a> {
        if self.names.contains(&name) {
            return Served::Group;
        }
        let target = match self.aliases.get(name).filter(|_| !plain) {
            Some(t) => t.as_str(),
            None => name,
        };
        let aliased = target != name;
        if aliased && self.names.contains(&target) {
            return Served::Alias(target);
        }
        let wildcard = self
            .names
            .iter()
            .filter_map(|g| Some((*g, g.strip_suffix('*')?)))
            .filter(|(_, prefix)| target.starts_with(prefix) && target.len() > prefix.len())
            .max_by_key(|(_, prefix)| prefix.len());
        let Some((group, prefix)) = wildcard else {
            return Served::Nothing(format!(
                "names no model group, alias or wildcard group that serves it (groups: {})",
                self.listed()
            ));
        };
        // A group of `model: "*"` deployments serves a model through its provider.
        let asked = &target[prefix.len()..];
        let any: Vec<&Deployment> = self
            .deployments
            .iter()
            .filter(|d| d.model_name == group && d.any_provider)
            .collect();
        let explicit = self
            .deployments
            .iter()
            .any(|d| d.model_name == group && !d.any_provider);
        if !any.is_empty() && !explicit {
            let provider = Provider::split_model(asked)
                .map(|(p, _)| p)
                .or_else(|| bare_model_provider(asked));
            if let Some(p) = provider {
                if !any.iter().any(|d| d.provider == p) {
                    return Served::Nothing(format!(
                        "is served by no deployment: wildcard group {} has none for provider {}",
                        quote(group),
                        p.prefix()
                    ));
                }
            }
        }
        Served::Wildcard(group)
    }
}

/// Warns about every group reference that cannot take effect. `entries` are the raw
/// `model_list` entries with their paths (for tags).
pub(crate) fn check(
    litellm_settings: Option<&Map<String, Value>>,
    router_settings: Option<&Map<String, Value>>,
    deployments: &[Deployment],
    aliases: &HashMap<String, String>,
    d: &mut Diag,
) {
    let mut names: Vec<&str> = Vec::new();
    for dep in deployments {
        if !names.contains(&dep.model_name.as_str()) {
            names.push(&dep.model_name);
        }
    }
    let groups = Groups {
        deployments,
        names,
        aliases,
    };
    for (section, m) in [
        ("litellm_settings", litellm_settings),
        ("router_settings", router_settings),
    ] {
        let Some(m) = m else { continue };
        // A key set in both sections: router_settings' value is the one in force.
        let in_force = |key: &str| {
            section == "router_settings" || !router_settings.is_some_and(|r| r.contains_key(key))
        };
        for key in FALLBACK_MAPS {
            if let Some(v) = m.get(*key).filter(|_| in_force(key)) {
                fallback_maps(&groups, &format!("{section}.{key}"), v, d);
            }
        }
        if let Some(v) = m
            .get("default_fallbacks")
            .filter(|_| in_force("default_fallbacks"))
        {
            targets(&groups, &format!("{section}.default_fallbacks"), v, d);
        }
        if let Some(Value::Object(map)) = m
            .get("model_group_alias")
            .filter(|_| in_force("model_group_alias"))
        {
            for (alias, target) in map {
                let group = match target {
                    Value::Object(o) => o.get("model").and_then(Value::as_str),
                    other => other.as_str(),
                };
                let Some(group) = group else { continue };
                if let Served::Nothing(why) = groups.serve(group, true) {
                    d.warn(
                        &format!("{section}.model_group_alias.{alias}"),
                        format_args!("{} {why}: requests for {} fail", quote(group), quote(alias)),
                    );
                }
            }
        }
    }
}

/// `[{group: [fallbacks]}, …]` or one map: each key must be a group (fallbacks are looked up by
/// the group that failed), each target must be served.
fn fallback_maps(groups: &Groups<'_>, path: &str, v: &Value, d: &mut Diag) {
    let entries: Vec<(String, &Map<String, Value>)> = match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| item.as_object().map(|o| (index(path, i), o)))
            .collect(),
        Value::Object(o) => vec![(path.to_string(), o)],
        _ => return,
    };
    for (base, map) in entries {
        for (group, list) in map {
            let p = format!("{base}.{group}");
            match groups.serve(group, false) {
                Served::Group => {}
                Served::Alias(g) | Served::Wildcard(g) => d.warn(
                    &p,
                    format_args!(
                        "{} is not a model group but is served by {}: fallbacks are looked up by the group that failed, so these never fire; key them by {}",
                        quote(group),
                        quote(g),
                        quote(g)
                    ),
                ),
                Served::Nothing(why) => d.warn(
                    &p,
                    format_args!("{} {why}: these fallbacks never fire", quote(group)),
                ),
            }
            targets(groups, &p, list, d);
        }
    }
}

/// A list (or one name) of fallback groups: each must be served.
fn targets(groups: &Groups<'_>, path: &str, v: &Value, d: &mut Diag) {
    let items: Vec<(String, &str)> = match v {
        Value::String(s) => vec![(path.to_string(), s.as_str())],
        Value::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| item.as_str().map(|s| (index(path, i), s)))
            .collect(),
        _ => return,
    };
    for (p, name) in items {
        if let Served::Nothing(why) = groups.serve(name, false) {
            d.warn(
                &p,
                format_args!("fallback {} {why}: it is never tried", quote(name)),
            );
        }
    }
}

/// Deployment `tags` only act with `enable_tag_filtering`; tag filtering without tagged
/// deployments never filters. `entries`: the raw `model_list` entries and their paths.
pub(crate) fn tags(entries: &[(&Value, &String)], tag_filtering: bool, d: &mut Diag) {
    let tagged: Vec<&String> = entries
        .iter()
        .filter(
            |(e, _)| match e.get("litellm_params").and_then(|p| p.get("tags")) {
                Some(Value::Array(items)) => !items.is_empty(),
                Some(Value::String(s)) => !s.is_empty(),
                _ => false,
            },
        )
        .map(|(_, path)| *path)
        .collect();
    match (tag_filtering, tagged.first()) {
        (false, Some(first)) => {
            let more = match tagged.len() {
                1 => String::new(),
                n => format!(" (and {} more deployments)", n - 1),
            };
            d.warn(
                &format!("{first}.litellm_params.tags"),
                format_args!(
                    "tags take no effect without router_settings.enable_tag_filtering: true{more}"
                ),
            )
        }
        (true, None) => d.warn(
            "router_settings.enable_tag_filtering",
            "no deployment has litellm_params.tags, so tag filtering never filters",
        ),
        _ => {}
    }
}
