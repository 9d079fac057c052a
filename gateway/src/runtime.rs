//! The runtime derived from one configuration (swapped whole on reload): model groups and their
//! deployments, the upstream hosts, the price table, the `/v1/models` body, the master key's
//! digest, the custom pass-through routes (`general_settings.pass_through_endpoints`) with their
//! hosts.

use std::collections::HashMap;
use std::sync::Arc;

use adapters::provider::{Auth, Provider};
use bytes::Bytes;
use conf::{Config, Deployment};
use pingora::connectors::http::Connector;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::control::output::Output;
use crate::deployment::{DeploymentRt, Slots};
use crate::gcp_auth::{ServiceAccount, TokenSource};
use crate::pricing::{ModelPrice, PriceTable};
use crate::upstream::Upstream;

/// A model group: the deployments sharing one `model_name`.
#[derive(Debug)]
pub struct Group {
    pub deployments: Vec<Arc<DeploymentRt>>,
    /// The deployments of a bare `model: "*"` entry, by provider (empty in other groups).
    pub by_provider: HashMap<Provider, Vec<Arc<DeploymentRt>>>,
    /// With `by_provider`: the group's other deployments.
    pub others: Vec<Arc<DeploymentRt>>,
    /// `model_info.access_groups` of its deployments: names a key's `models` may use.
    pub access_groups: Vec<String>,
    /// The most expensive prices of its deployments, for budget reservations.
    pub worst: Option<ModelPrice>,
    /// The dearest single image of its deployments (`pricing::image_worst`), for an image
    /// request's reservation; 0 when none has an image price.
    pub worst_image: f64,
    /// Whether some deployment belongs to one team (`model_info.team_id`).
    pub team_scoped: bool,
}

/// The team a deployment is reserved to (`model_info.team_id`): only that team's keys may use
/// it (and the master key, when the group has nothing else).
pub fn team_of(d: &DeploymentRt) -> Option<&str> {
    d.conf
        .model_info
        .get("team_id")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
}

/// Of `deps` (one group's), those a caller may use: a team's own deployments when it has some,
/// else the ones of no team; for the master key (`admin`), all when none is of no team. Borrowed
/// (no cost) when no deployment belongs to a team.
pub fn scoped<'d>(
    deps: &'d [Arc<DeploymentRt>],
    team: Option<&str>,
    admin: bool,
) -> std::borrow::Cow<'d, [Arc<DeploymentRt>]> {
    use std::borrow::Cow;
    if deps.iter().all(|d| team_of(d).is_none()) {
        return Cow::Borrowed(deps);
    }
    let pick = |t: Option<&str>| -> Vec<Arc<DeploymentRt>> {
        deps.iter().filter(|d| team_of(d) == t).cloned().collect()
    };
    if let Some(t) = team {
        let own = pick(Some(t));
        if !own.is_empty() {
            return Cow::Owned(own);
        }
    }
    let public = pick(None);
    if public.is_empty() && admin {
        return Cow::Borrowed(deps);
    }
    Cow::Owned(public)
}

/// Output tokens reserved for when neither the request nor the price table bounds them.
const DEFAULT_MAX_OUTPUT_TOKENS: u64 = 4096;

impl Group {
    /// The deployments that may serve a request: in a group of `model: "*"` deployments, those
    /// of the provider the requested model belongs to, else the group's other ones; in every
    /// other group, all.
    pub fn serving(&self, provider: Option<Provider>) -> &[Arc<DeploymentRt>] {
        if self.by_provider.is_empty() {
            return &self.deployments;
        }
        match provider.and_then(|p| self.by_provider.get(&p)) {
            Some(deps) => deps,
            None => &self.others,
        }
    }

    /// The worst-case cost of a request to this group: `prompt_tokens` at the highest input
    /// price plus the output bound (see [`Output::tokens`]: the request's `max_tokens`, else the
    /// model's `max_output_tokens`, per completion, times `n`/`best_of`) at the highest output
    /// price.
    pub fn worst_case(&self, prompt_tokens: u64, out: Output) -> f64 {
        self.worst
            .as_ref()
            .map_or(0.0, |p| bound(p, prompt_tokens, out))
    }

    /// [`Group::worst_case`] for a request resolved to `provider` and, through a wildcard, to
    /// model `wildcard`: the most expensive of the deployments that may serve it, each priced
    /// for that model.
    pub fn worst_case_for(
        &self,
        provider: Option<Provider>,
        wildcard: Option<&str>,
        prompt_tokens: u64,
        out: Output,
    ) -> f64 {
        if wildcard.is_none() {
            return self.worst_case(prompt_tokens, out);
        }
        self.serving(provider)
            .iter()
            .filter_map(|d| d.price_for(wildcard))
            .map(|p| bound(&p, prompt_tokens, out))
            .fold(0.0, f64::max)
    }

    /// The output tokens per completion a request without its own bound may be billed for
    /// here (as [`Group::worst_case_for`] reads it): the largest model limit of the deployments
    /// that may serve it, 4,096 when none is known.
    pub fn output_limit_for(&self, provider: Option<Provider>, wildcard: Option<&str>) -> u64 {
        if wildcard.is_none() {
            return self
                .worst
                .as_ref()
                .map_or(DEFAULT_MAX_OUTPUT_TOKENS, model_limit);
        }
        self.serving(provider)
            .iter()
            .filter_map(|d| d.price_for(wildcard))
            .map(|p| model_limit(&p))
            .max()
            .unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS)
    }

    fn add(&mut self, d: &Arc<DeploymentRt>) {
        self.team_scoped |= team_of(d).is_some();
        if d.conf.any_provider {
            if self.by_provider.is_empty() {
                self.others = self.deployments.clone();
            }
            self.by_provider
                .entry(d.conf.provider)
                .or_default()
                .push(d.clone());
        } else if !self.by_provider.is_empty() {
            self.others.push(d.clone());
        }
        if let Some(Value::Array(groups)) = d.conf.model_info.get("access_groups") {
            for g in groups.iter().filter_map(Value::as_str) {
                if !self.access_groups.iter().any(|a| a == g) {
                    self.access_groups.push(g.to_string());
                }
            }
        }
        if let Some(p) = &d.price {
            self.worst_image = self.worst_image.max(crate::pricing::image_worst(p));
            let w = self.worst.get_or_insert_with(ModelPrice::default);
            w.input_cost_per_token = w.input_cost_per_token.max(p.input_cost_per_token);
            w.output_cost_per_token = w.output_cost_per_token.max(p.output_cost_per_token);
            w.max_output_tokens = w.max_output_tokens.max(p.max_output_tokens);
            w.max_tokens = w.max_tokens.max(p.max_tokens);
        }
    }
}

/// The cost of `prompt_tokens` plus the output bound at `p`'s prices, the model's
/// `max_output_tokens` (else `max_tokens`, else 4,096) standing in for a bound the request does
/// not set.
fn bound(p: &ModelPrice, prompt_tokens: u64, out: Output) -> f64 {
    crate::pricing::worst_case(p, prompt_tokens, out.tokens(model_limit(p)))
}

/// A model's output limit per completion: `max_output_tokens`, else `max_tokens`, else 4,096.
fn model_limit(p: &ModelPrice) -> u64 {
    p.max_output_tokens
        .or(p.max_tokens)
        .unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS)
}

/// The current runtime, swapped whole on reload: what background tasks that outlive one
/// runtime hold.
pub type Live = arc_swap::ArcSwap<Runtime>;

/// Everything derived from one configuration.
#[derive(Debug)]
pub struct Runtime {
    pub config: Config,
    pub groups: HashMap<String, Group>,
    /// Group names in config order, for messages.
    pub group_names: Vec<String>,
    /// Distinct upstream hosts, for DNS refresh.
    pub upstreams: Vec<Arc<Upstream>>,
    /// `/v1/models` body.
    pub models_body: Bytes,
    /// SHA-256 of the master key.
    pub master_key_hash: Option<[u8; 32]>,
    /// The price table (also names the provider of a bare model name for the `*` group).
    pub prices: Arc<PriceTable>,
    /// The guardrails, compiled.
    pub guards: Arc<crate::guard::compiled::Guards>,
    /// `general_settings.pass_through_endpoints`, in config order (served by
    /// `passthrough::custom`).
    pub custom_routes: Vec<CustomRoute>,
}

/// A custom pass-through route and the host its target is on (resolved off the request path,
/// with the deployments' hosts).
#[derive(Debug)]
pub struct CustomRoute {
    pub conf: conf::PassThroughEndpoint,
    pub upstream: Arc<Upstream>,
}

impl Runtime {
    /// The custom route serving `path`, and the rest of the path below the route's (empty for
    /// the route's own path): an exact path first, else the `include_subpath` route with the
    /// longest path `path` is below.
    pub fn custom_route<'a>(&self, path: &'a str) -> Option<(&CustomRoute, &'a str)> {
        if self.custom_routes.is_empty() {
            return None;
        }
        let trimmed = path
            .strip_suffix('/')
            .filter(|p| !p.is_empty())
            .unwrap_or(path);
        if let Some(r) = self.custom_routes.iter().find(|r| r.conf.path == trimmed) {
            return Some((r, ""));
        }
        self.custom_routes
            .iter()
            .filter(|r| r.conf.include_subpath)
            .filter_map(|r| {
                path.strip_prefix(r.conf.path.as_str())
                    .filter(|rest| rest.starts_with('/'))
                    .map(|rest| (r, rest))
            })
            .max_by_key(|(r, _)| r.conf.path.len())
    }
}

impl Runtime {
    pub fn new(config: Config) -> Runtime {
        Runtime::build(config, None).0
    }

    /// The runtime of `config`; with `prev` (a reload), each deployment the previous runtime
    /// also had — same [`crate::deployment::identity`] — keeps its live state (cooldown,
    /// failure count, latency, usage, in-flight count, Google tokens) and each upstream host
    /// its resolved addresses. Returns the runtime and how many deployments kept their state.
    pub fn build(config: Config, prev: Option<&Runtime>) -> (Runtime, usize) {
        let prices = price_table(&config);
        let mut carried = 0;
        let mut before: HashMap<String, std::collections::VecDeque<&Arc<DeploymentRt>>> =
            HashMap::new();
        for g in prev
            .iter()
            .flat_map(|p| p.group_names.iter().map(|n| &p.groups[n]))
        {
            for d in &g.deployments {
                before
                    .entry(crate::deployment::identity(&d.conf))
                    .or_default()
                    .push_back(d);
            }
        }
        let mut upstreams: Vec<Arc<Upstream>> = Vec::new();
        let mut groups: HashMap<String, Group> = HashMap::new();
        let mut group_names = Vec::new();
        let mut gcp_connector: Option<Arc<Connector>> = None;
        for d in &config.model_list {
            // A mock deployment never calls upstream: no connection, no DNS.
            let base = if d.mock_response.is_some() {
                None
            } else {
                d.api_base.as_ref()
            };
            let upstream = base.map(|base| {
                let u = upstream_for(base, &mut upstreams, prev);
                // Hosts only a `model: "*"` entry stands for are resolved when first used.
                if !d.any_provider {
                    u.resolve_eagerly();
                }
                u
            });
            let old = before
                .get_mut(&crate::deployment::identity(d))
                .and_then(|same| same.pop_front());
            carried += usize::from(old.is_some());
            let gcp = match old {
                Some(old) if old.gcp.is_some() => old.gcp.clone(),
                _ => google_tokens(d, &mut gcp_connector),
            };
            let limit = d
                .internal_params
                .get("max_parallel_requests")
                .and_then(|v| v.as_u64())
                .map(|n| n as usize)
                .or(config.router.default_max_parallel_requests);
            let price = crate::pricing::for_deployment(
                &prices,
                d.provider.prefix(),
                &d.model,
                &d.internal_params,
                &d.model_info,
            );
            let rt = Arc::new(DeploymentRt {
                conf: d.clone(),
                upstream,
                gcp,
                health: old.map_or_else(Arc::default, |o| o.health.clone()),
                slots: Arc::new(match old {
                    Some(o) => o.slots.carry(limit),
                    None => Slots::new(limit),
                }),
                load: old.map_or_else(Arc::default, |o| o.load.clone()),
                route_order: crate::deployment::order(d),
                route_weight: crate::deployment::weight(d),
                route_cost: price
                    .as_ref()
                    .map(|p| p.input_cost_per_token + p.output_cost_per_token)
                    .unwrap_or(0.0),
                tags: crate::deployment::tags(d),
                max_input_tokens: crate::deployment::max_input_tokens(d)
                    .or(price.as_ref().and_then(|p| p.max_input_tokens)),
                region: crate::region::of_deployment(d),
                headers: crate::deployment::deployment_headers(d),
                price,
                wildcard_prices: d.model.contains('*').then(|| prices.clone()),
            });
            let group = groups.entry(d.model_name.clone()).or_insert_with(|| {
                group_names.push(d.model_name.clone());
                Group {
                    deployments: Vec::new(),
                    by_provider: HashMap::new(),
                    others: Vec::new(),
                    access_groups: Vec::new(),
                    worst: None,
                    team_scoped: false,
                    worst_image: 0.0,
                }
            });
            group.add(&rt);
            group.deployments.push(rt);
        }
        let custom_routes = config
            .general
            .pass_through_endpoints
            .iter()
            .map(|e| {
                let upstream = upstream_for(&e.target, &mut upstreams, prev);
                upstream.resolve_eagerly();
                CustomRoute {
                    conf: e.clone(),
                    upstream,
                }
            })
            .collect();
        // Groups only a team may use are listed to that team's keys alone (`/v1/models`).
        let models_body = models_list(
            group_names
                .iter()
                .filter(|g| !scoped(&groups[*g].deployments, None, false).is_empty()),
        );
        let master_key_hash = config
            .general
            .master_key
            .as_ref()
            .map(|k| Sha256::digest(k.expose().as_bytes()).into());
        let guards = Arc::new(crate::guard::compiled::Guards::new(&config.guardrails));
        let runtime = Runtime {
            guards,
            config,
            groups,
            group_names,
            upstreams,
            models_body,
            master_key_hash,
            prices,
            custom_routes,
        };
        (runtime, carried)
    }
}

/// The upstream host for `base`: one already in `upstreams`, else the runtime before's (a
/// reload keeps a host and its DNS answers), else a new one; added to `upstreams`.
fn upstream_for(
    base: &conf::ApiBase,
    upstreams: &mut Vec<Arc<Upstream>>,
    prev: Option<&Runtime>,
) -> Arc<Upstream> {
    let same = |u: &&Arc<Upstream>| u.host == base.host && u.port == base.port && u.tls == base.tls;
    if let Some(u) = upstreams.iter().find(same) {
        return u.clone();
    }
    let u = prev
        .and_then(|p| p.upstreams.iter().find(same))
        .cloned()
        .unwrap_or_else(|| Arc::new(Upstream::new(base)));
    upstreams.push(u.clone());
    u
}

/// A `/v1/models` body listing `names`.
pub fn models_list<'a>(names: impl Iterator<Item = &'a String>) -> Bytes {
    let created = crate::clock::unix_now();
    let data: Vec<serde_json::Value> = names
        .map(|g| serde_json::json!({"id": g, "object": "model", "created": created, "owned_by": "openai"}))
        .collect();
    Bytes::from(
        serde_json::to_vec(&serde_json::json!({"object": "list", "data": data}))
            .expect("serializing JSON values cannot fail"),
    )
}

/// The bundled price table, with `tollgate_settings.price_table` merged over it (the file was
/// checked at start; should it fail later, the bundled table is used and the error logged).
pub fn price_table(config: &Config) -> Arc<PriceTable> {
    match &config.tollgate.price_table {
        None => PriceTable::bundled(),
        Some(path) => match PriceTable::with_file(std::path::Path::new(path)) {
            Ok(t) => Arc::new(t),
            Err(e) => {
                log::error!("tollgate_settings.price_table: {e}; using the bundled table");
                PriceTable::bundled()
            }
        },
    }
}

/// The token source of a deployment whose provider authenticates with Google OAuth (Vertex
/// AI): its service-account key was checked at config load; a key Google's client library
/// would refuse is logged and the deployment answers 502.
fn google_tokens(
    d: &Deployment,
    connector: &mut Option<Arc<Connector>>,
) -> Option<Arc<TokenSource>> {
    let Auth::GoogleOAuth { key_param } = d.provider.dialect().auth() else {
        return None;
    };
    if d.mock_response.is_some() {
        return None;
    }
    let json = d.internal_params.get(key_param)?.as_str()?;
    match ServiceAccount::parse(json) {
        Ok(account) => {
            let connector = connector
                .get_or_insert_with(|| Arc::new(Connector::new(None)))
                .clone();
            let tokens = TokenSource::new(account, connector);
            let a = tokens.account();
            log::debug!(
                "deployment {}: {} OAuth tokens for {} (key project {})",
                d.id,
                d.provider.prefix(),
                a.client_email,
                a.project_id
            );
            Some(Arc::new(tokens))
        }
        Err(e) => {
            log::error!(
                "model_list deployment {}: {} service-account key: {e}",
                d.id,
                d.provider.prefix()
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime(yaml: &str) -> Runtime {
        Runtime::new(
            conf::load_str(yaml, None, conf::LoadOptions::default())
                .unwrap()
                .config,
        )
    }

    #[test]
    fn team_deployments_serve_their_team_first_and_nobody_else() {
        let rt = runtime(
            "model_list:
  - model_name: g
    litellm_params: {model: openai/a, api_key: k}
    model_info: {id: pub}
  - model_name: g
    litellm_params: {model: openai/b, api_key: k}
    model_info: {id: a1, team_id: A}
  - model_name: only-b
    litellm_params: {model: openai/c, api_key: k}
    model_info: {id: b1, team_id: B}
",
        );
        let ids = |team: Option<&str>, admin: bool, g: &str| -> Vec<String> {
            scoped(&rt.groups[g].deployments, team, admin)
                .iter()
                .map(|d| d.conf.id.clone())
                .collect()
        };
        assert_eq!(ids(Some("A"), false, "g"), ["a1"]);
        assert_eq!(ids(Some("B"), false, "g"), ["pub"]);
        assert_eq!(ids(None, false, "g"), ["pub"]);
        assert_eq!(ids(None, true, "g"), ["pub"]);
        assert!(ids(Some("A"), false, "only-b").is_empty());
        assert!(ids(None, false, "only-b").is_empty());
        assert_eq!(ids(None, true, "only-b"), ["b1"]);
        assert_eq!(ids(Some("B"), false, "only-b"), ["b1"]);
        assert!(rt.groups["g"].team_scoped);
        // `/v1/models` for keys of no team lists no group only a team may use.
        let body = String::from_utf8(rt.models_body.to_vec()).unwrap();
        assert!(body.contains("\"g\"") && !body.contains("only-b"), "{body}");
    }
}
