//! Which model group serves a requested model name: an exact group (after
//! `model_group_alias`), else the wildcard group with the longest matching prefix (`openai/*`,
//! `claude-*`, and last the bare `*`). A group of `model: "*"` deployments (LiteLLM's "any
//! model" entry) also needs the provider the model belongs to: its `provider/` prefix, else
//! the price table's `litellm_provider` for the name.

use adapters::provider::Provider;

use crate::error::GatewayError;
use crate::pricing::PriceTable;
use crate::runtime::{Group, Runtime};

/// The model group a requested name resolves to (not yet a deployment: routing picks one).
#[derive(Debug)]
pub struct ResolvedGroup<'a> {
    /// The model group.
    pub group: &'a str,
    /// What the `*` of the group's wildcard deployments stands for (their upstream model).
    pub wildcard: Option<String>,
    /// In a group of `model: "*"` deployments: the provider whose deployments serve it.
    pub provider: Option<Provider>,
}

/// The group (and wildcard part, and provider) that serves `model`; a name nothing serves is
/// the 400 "invalid model name" error, naming it.
pub fn group<'a>(runtime: &'a Runtime, model: &'a str) -> Result<ResolvedGroup<'a>, GatewayError> {
    let name = runtime
        .config
        .router
        .model_group_alias
        .get(model)
        .map(String::as_str)
        .unwrap_or(model);
    let (group, wildcard) = if runtime.groups.contains_key(name) {
        (name, None)
    } else {
        let longest = runtime
            .group_names
            .iter()
            .filter_map(|g| Some((g, g.strip_suffix('*')?)))
            .filter(|(_, prefix)| name.starts_with(prefix) && name.len() > prefix.len())
            .max_by_key(|(_, prefix)| prefix.len())
            .map(|(g, prefix)| (g, prefix.len()));
        match longest.or_else(|| by_provider(runtime, name)) {
            Some((group, consumed)) => (group.as_str(), Some(name[consumed..].to_string())),
            None => return Err(unknown(runtime, model, None)),
        }
    };
    let g = &runtime.groups[group];
    if g.by_provider.is_empty() {
        return Ok(ResolvedGroup {
            group,
            wildcard,
            provider: None,
        });
    }
    let asked = wildcard.as_deref().unwrap_or(name);
    match in_group(runtime, g, asked) {
        Ok((provider, upstream)) => Ok(ResolvedGroup {
            group,
            wildcard: Some(upstream.to_string()),
            provider: Some(provider),
        }),
        // The group's explicit deployments take the names its `*` ones cannot.
        Err(_) if !g.others.is_empty() => Ok(ResolvedGroup {
            group,
            wildcard,
            provider: None,
        }),
        Err(why) => Err(unknown(
            runtime,
            model,
            Some(format!("model group {group} {why}")),
        )),
    }
}

/// A bare model name no group matches as it is, matched as LiteLLM's pattern router does
/// next: as `{provider}/{name}` with the provider LiteLLM infers for it (`gpt-4o` → the
/// `openai/*` group, `claude-3-haiku-20240307` → `anthropic/*`). Returns the group and how
/// much of `name` the pattern's own text covers (the `*` stands for the rest). Only names no
/// group serves get here, so routing to a named group costs nothing more.
fn by_provider<'a>(runtime: &'a Runtime, name: &str) -> Option<(&'a String, usize)> {
    if Provider::split_model(name).is_some() {
        return None;
    }
    let (provider, _) = provider_of(&runtime.prices, name)?;
    let p = provider.prefix();
    // The part of a wildcard `prefix*` past `{p}/`, when `{p}/{name}` starts with it.
    let covers = |prefix: &str| -> Option<usize> {
        let rest = prefix.strip_prefix(p)?.strip_prefix('/')?;
        (name.starts_with(rest) && name.len() > rest.len()).then_some(rest.len())
    };
    runtime
        .group_names
        .iter()
        .filter_map(|g| Some((g, covers(g.strip_suffix('*')?)?)))
        .max_by_key(|(_, covered)| *covered)
}

/// Entering fallback group `group`: a group of `model: "*"` deployments takes the provider of
/// the model the client asked for (other groups need nothing). `None` when it has no
/// deployment for it.
pub fn fallback_provider(
    runtime: &Runtime,
    group: &str,
    model: &str,
) -> Option<(Provider, String)> {
    let g = runtime.groups.get(group)?;
    if g.by_provider.is_empty() {
        return None;
    }
    in_group(runtime, g, model)
        .ok()
        .map(|(p, upstream)| (p, upstream.to_string()))
}

/// The provider of `asked` and the model name to send it, if `group` has `*` deployments for
/// that provider; otherwise why not.
fn in_group<'n>(
    runtime: &Runtime,
    group: &Group,
    asked: &'n str,
) -> Result<(Provider, &'n str), String> {
    match provider_of(&runtime.prices, asked) {
        Some((p, upstream)) if group.by_provider.contains_key(&p) => Ok((p, upstream)),
        Some((p, _)) => Err(format!(
            "has no deployment for provider {} (its `*` entry sets no api_base or credentials for it)",
            p.prefix()
        )),
        None => {
            let mut known: Vec<&str> = group.by_provider.keys().map(|p| p.prefix()).collect();
            known.sort_unstable();
            Err(format!(
                "serves provider/model names for {} and model names the price table knows; {asked} is neither",
                known.join(", ")
            ))
        }
    }
}

/// The provider a requested model name belongs to, and the model name that provider knows:
/// a known `provider/` prefix (`groq/llama3-8b-8192` → Groq, `llama3-8b-8192`); else, for a
/// bare name, the price table's `litellm_provider` (`claude-3-haiku-20240307` → Anthropic) or
/// the bare OpenAI names a config may use (`gpt-*`, `o1*`, …, as for `litellm_params.model`).
pub fn provider_of<'n>(prices: &PriceTable, name: &'n str) -> Option<(Provider, &'n str)> {
    if let Some((provider, rest)) = Provider::split_model(name) {
        return (!rest.is_empty()).then_some((provider, rest));
    }
    prices
        .lookup("", name)
        .and_then(|p| p.litellm_provider.as_deref())
        .and_then(Provider::from_litellm_provider)
        .or_else(|| conf::bare_model_provider(name))
        .map(|p| (p, name))
}

/// The error for a name no group serves (`why`: what the matching group could not do).
pub fn unknown(runtime: &Runtime, model: &str, why: Option<String>) -> GatewayError {
    // Groups reserved to a team are not named to others.
    let names: Vec<&str> = runtime
        .group_names
        .iter()
        .filter(|g| {
            runtime.groups.get(*g).is_none_or(|grp| {
                !grp.team_scoped
                    || !crate::runtime::scoped(&grp.deployments, None, false).is_empty()
            })
        })
        .map(String::as_str)
        .collect();
    let mut available = if names.is_empty() {
        "(none configured)".to_string()
    } else {
        names.join(", ")
    };
    if let Some(why) = why {
        available = format!("{available} ({why})");
    }
    GatewayError::UnknownModel {
        model: model.to_string(),
        available,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn runtime(yaml: &str) -> Runtime {
        let loaded = conf::load_str(yaml, None, conf::LoadOptions::default()).unwrap();
        Runtime::new(loaded.config)
    }

    /// A bare `*` entry without an api_base (so no `azure`/`hosted_vllm` deployments), an
    /// explicit group, an alias and a provider wildcard.
    pub(crate) const CONFIG: &str = "model_list:
  - model_name: \"*\"
    litellm_params: {model: \"*\", api_key: k}
  - model_name: gpt-4o
    litellm_params: {model: openai/gpt-4o-2024-08-06, api_key: k}
  - model_name: \"openai/*\"
    litellm_params: {model: \"openai/*\", api_key: k}
router_settings:
  model_group_alias: {fast: \"groq/llama3-8b-8192\", best: gpt-4o}
";

    fn resolved(rt: &Runtime, model: &str) -> (String, Option<String>, Option<Provider>) {
        let t = group(rt, model).unwrap_or_else(|e| panic!("{model}: {e}"));
        (t.group.to_string(), t.wildcard, t.provider)
    }

    fn any(wildcard: &str, p: Provider) -> (String, Option<String>, Option<Provider>) {
        ("*".into(), Some(wildcard.into()), Some(p))
    }

    #[test]
    fn a_provider_prefix_picks_the_provider() {
        let rt = runtime(CONFIG);
        for (model, upstream, provider) in [
            (
                "anthropic/claude-3-5-sonnet-latest",
                "claude-3-5-sonnet-latest",
                Provider::Anthropic,
            ),
            ("groq/llama3-8b-8192", "llama3-8b-8192", Provider::Groq),
            (
                "openrouter/meta-llama/llama-3-8b",
                "meta-llama/llama-3-8b",
                Provider::OpenRouter,
            ),
        ] {
            assert_eq!(resolved(&rt, model), any(upstream, provider), "{model}");
        }
        // An alias may name a model the `*` group serves.
        assert_eq!(resolved(&rt, "fast"), any("llama3-8b-8192", Provider::Groq));
    }

    #[test]
    fn a_bare_name_takes_the_price_tables_provider() {
        let rt = runtime(CONFIG);
        assert_eq!(
            resolved(&rt, "gpt-4o-mini"),
            any("gpt-4o-mini", Provider::OpenAi)
        );
        assert_eq!(
            resolved(&rt, "claude-3-haiku-20240307"),
            any("claude-3-haiku-20240307", Provider::Anthropic)
        );
        // Not in the table, but a name LiteLLM sends to OpenAI (as `litellm_params.model` does).
        assert_eq!(
            resolved(&rt, "gpt-9-preview"),
            any("gpt-9-preview", Provider::OpenAi)
        );
        // The deployments serving it are that provider's.
        let g = &rt.groups["*"];
        let serving = g.serving(Some(Provider::Anthropic));
        assert_eq!(serving.len(), 1);
        assert_eq!(serving[0].conf.provider, Provider::Anthropic);
        assert_eq!(
            serving[0].conf.api_base.as_ref().unwrap().url,
            "https://api.anthropic.com"
        );
    }

    #[test]
    fn unknown_names_and_unreachable_providers_are_400_naming_the_model() {
        let rt = runtime(CONFIG);
        for (model, needle) in [
            ("mystery-model", "mystery-model is neither"),
            ("meta-llama/Llama-3-8b", "is neither"),
            ("openai", "is neither"),
            ("anthropic/", "is neither"),
            // No api_base in the `*` entry: Azure has no default one.
            ("azure/gpt-4o", "no deployment for provider azure"),
        ] {
            let e = group(&rt, model).unwrap_err();
            assert!(matches!(e, GatewayError::UnknownModel { .. }), "{model}");
            let api = e.to_api_error();
            assert_eq!(
                (api.status, api.code.as_deref()),
                (400, Some("model_not_found"))
            );
            let msg = e.to_string();
            assert!(msg.contains(&format!("model={model}")), "{msg}");
            assert!(msg.contains(needle), "{model}: {msg}");
        }
    }

    #[test]
    fn explicit_groups_and_longer_wildcards_win_over_star() {
        let rt = runtime(CONFIG);
        assert_eq!(resolved(&rt, "gpt-4o"), ("gpt-4o".into(), None, None));
        assert_eq!(resolved(&rt, "best"), ("gpt-4o".into(), None, None));
        assert_eq!(
            resolved(&rt, "openai/gpt-4o-mini"),
            ("openai/*".into(), Some("gpt-4o-mini".into()), None)
        );
        // `*` itself names no model.
        assert!(group(&rt, "*").is_err());
    }

    #[test]
    fn a_star_group_with_explicit_deployments_gives_them_the_rest() {
        let rt = runtime(
            "model_list:
  - model_name: \"*\"
    litellm_params: {model: \"*\", api_key: k}
  - model_name: \"*\"
    litellm_params: {model: \"hosted_vllm/*\", api_base: \"http://127.0.0.1:9/v1\"}
",
        );
        assert_eq!(
            resolved(&rt, "groq/llama3-8b-8192"),
            any("llama3-8b-8192", Provider::Groq)
        );
        let (group, wildcard, provider) = resolved(&rt, "my-local-model");
        assert_eq!(
            (group.as_str(), wildcard.as_deref(), provider),
            ("*", Some("my-local-model"), None)
        );
        let others = rt.groups["*"].serving(None);
        assert_eq!(others.len(), 1);
        assert_eq!(others[0].conf.provider, Provider::HostedVllm);
    }

    #[test]
    fn a_bare_known_name_reaches_its_providers_wildcard_group() {
        let rt = runtime(
            "model_list:
  - model_name: \"openai/*\"
    litellm_params: {model: \"openai/*\", api_key: k}
  - model_name: \"anthropic/*\"
    litellm_params: {model: \"anthropic/*\", api_key: k}
  - model_name: \"anthropic/claude-3-5-*\"
    litellm_params: {model: \"anthropic/claude-3-5-*\", api_key: k}
  - model_name: gpt-4o
    litellm_params: {model: openai/gpt-4o-2024-08-06, api_key: k}
",
        );
        let at =
            |group: &str, wildcard: &str| (group.to_string(), Some(wildcard.to_string()), None);
        assert_eq!(resolved(&rt, "gpt-4o-mini"), at("openai/*", "gpt-4o-mini"));
        assert_eq!(resolved(&rt, "o3-mini"), at("openai/*", "o3-mini"));
        assert_eq!(
            resolved(&rt, "claude-3-haiku-20240307"),
            at("anthropic/*", "claude-3-haiku-20240307")
        );
        // The longest pattern wins, and its `*` stands for what is past its own text.
        assert_eq!(
            resolved(&rt, "claude-3-5-sonnet-20241022"),
            at("anthropic/claude-3-5-*", "sonnet-20241022")
        );
        // An exact group still wins; an unknown bare name is still unknown.
        assert_eq!(resolved(&rt, "gpt-4o"), ("gpt-4o".into(), None, None));
        assert!(group(&rt, "mystery-model").is_err());
        // A name with a provider prefix is matched as it is only.
        assert!(group(&rt, "groq/llama3-8b-8192").is_err());
    }

    #[test]
    fn fallback_into_star_takes_the_models_provider() {
        let rt = runtime(CONFIG);
        assert_eq!(
            fallback_provider(&rt, "*", "claude-3-haiku-20240307"),
            Some((Provider::Anthropic, "claude-3-haiku-20240307".to_string()))
        );
        assert_eq!(fallback_provider(&rt, "*", "mystery-model"), None);
        assert_eq!(fallback_provider(&rt, "gpt-4o", "gpt-4o"), None);
    }
}
