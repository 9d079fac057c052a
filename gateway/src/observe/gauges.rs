//! Scrape-time reads of the gateway's state: a request row's ids resolved to label values
//! (aliases, emails, deployment facts), and the state families — deployment state and limits,
//! budgets and rate limits of the keys/teams/users/organizations/end users seen in the metrics
//! window (never all 100,000 keys of a big install), in-flight requests, queue sizes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::labels::{api_base, exception_class, litellm_model_name, master_hash};
use super::series::{self, Row};
use crate::control::entity::{Entity, Kind};
use crate::deployment::DeploymentRt;
use crate::runtime::Runtime;
use crate::state::AppState;

/// The labels a request row resolves to, in this order, then the custom labels.
pub const UNIVERSE: &[&str] = &[
    "end_user",
    "hashed_api_key",
    "api_key_alias",
    "team",
    "team_alias",
    "user",
    "user_email",
    "requested_model",
    "model",
    "model_id",
    "model_group",
    "litellm_model_name",
    "api_base",
    "api_provider",
    "status_code",
    "exception_status",
    "exception_class",
    "route",
    "reason",
];

/// Resolves row ids for one scrape.
pub struct Resolver<'a> {
    state: &'a AppState,
    deps: HashMap<&'a str, &'a Arc<DeploymentRt>>,
    master: String,
}

/// Every deployment of the runtime, once each.
fn deployments(runtime: &Runtime) -> HashMap<&str, &Arc<DeploymentRt>> {
    let mut out = HashMap::new();
    for g in runtime.groups.values() {
        for d in g
            .deployments
            .iter()
            .chain(g.others.iter())
            .chain(g.by_provider.values().flatten())
        {
            out.insert(d.conf.id.as_str(), d);
        }
    }
    out
}

impl<'a> Resolver<'a> {
    pub fn new(state: &'a AppState, runtime: &'a Runtime) -> Resolver<'a> {
        Resolver {
            state,
            deps: deployments(runtime),
            master: master_hash(state),
        }
    }

    fn entity(&self, kind: Kind, id: &str) -> Option<Arc<Entity>> {
        (!id.is_empty() && id != "other")
            .then(|| self.state.control.get(kind, id))
            .flatten()
    }

    /// The row's values for [`UNIVERSE`], then its custom labels.
    pub fn row(&self, r: &Row) -> Vec<String> {
        let id = |i: usize| r.ids[i].to_string();
        let key = &*r.ids[series::KEY];
        let key_entity = self.entity(Kind::Key, key);
        let dep = self.deps.get(&*r.ids[series::MODEL_ID]);
        let wildcard = Some(&*r.ids[series::WILDCARD]).filter(|w| !w.is_empty());
        let failed = r.status >= 400;
        let mut out = Vec::with_capacity(UNIVERSE.len() + r.ids.len() - series::N_IDS);
        out.push(id(series::END_USER));
        out.push(if key == series::MASTER {
            self.master.clone()
        } else {
            key.to_string()
        });
        out.push(
            key_entity
                .as_ref()
                .and_then(|k| k.alias())
                .unwrap_or("")
                .to_string(),
        );
        out.push(id(series::TEAM));
        out.push(
            self.entity(Kind::Team, &r.ids[series::TEAM])
                .and_then(|t| t.alias().map(str::to_string))
                .unwrap_or_default(),
        );
        out.push(id(series::USER));
        out.push(
            self.entity(Kind::User, &r.ids[series::USER])
                .and_then(|u| u.email().map(str::to_string))
                .unwrap_or_default(),
        );
        out.push(id(series::REQUESTED));
        out.push(
            dep.map(|d| crate::deployment::upstream_model(&d.conf.model, wildcard).into_owned())
                .unwrap_or_default(),
        );
        out.push(id(series::MODEL_ID));
        out.push(id(series::GROUP));
        out.push(dep.map(|d| litellm_model_name(d)).unwrap_or_default());
        out.push(dep.map(|d| api_base(d).to_string()).unwrap_or_default());
        out.push(
            dep.map(|d| d.conf.provider.prefix().to_string())
                .unwrap_or_default(),
        );
        out.push(if r.status == 0 {
            "other".into()
        } else {
            r.status.to_string()
        });
        out.push(if failed {
            r.status.to_string()
        } else {
            String::new()
        });
        out.push(if failed {
            exception_class(
                r.status,
                dep.map(|d| d.conf.provider.prefix()).filter(|_| r.upstream),
            )
        } else {
            String::new()
        });
        out.push(id(series::ROUTE));
        // Why a request priced to $0 (`litellm_zero_cost_requests`): no price, or a price
        // with rates that did not apply.
        out.push(match dep {
            Some(d) if d.price_for(wildcard).is_none() => "missing_pricing_key".into(),
            Some(_) => "pricing_not_applied".into(),
            None => String::new(),
        });
        out.extend(r.ids[series::N_IDS..].iter().map(|s| s.to_string()));
        out
    }
}

type Gauges = Vec<(Vec<String>, f64)>;

/// A state family's series (labels in the family's order).
pub fn gauge(
    name: &str,
    state: &AppState,
    runtime: &Runtime,
    rows: &[Arc<Row>],
    now: u64,
) -> Gauges {
    let control = &state.control;
    match name {
        "litellm_deployment_state"
        | "litellm_deployment_rpm_limit"
        | "litellm_deployment_tpm_limit" => {
            let mut deps: Vec<&Arc<DeploymentRt>> = deployments(runtime).into_values().collect();
            deps.sort_by(|a, b| a.conf.id.cmp(&b.conf.id));
            deps.into_iter()
                .filter_map(|d| {
                    let v = match name {
                        "litellm_deployment_state" => {
                            if d.health.cooling(now).is_some() {
                                2.0
                            } else if d.health.failures_this_minute(now) > 0 {
                                1.0
                            } else {
                                0.0
                            }
                        }
                        "litellm_deployment_rpm_limit" => d.conf.rpm? as f64,
                        _ => d.conf.tpm? as f64,
                    };
                    Some((
                        vec![
                            litellm_model_name(d),
                            d.conf.id.clone(),
                            api_base(d).to_string(),
                            d.conf.provider.prefix().to_string(),
                        ],
                        v,
                    ))
                })
                .collect()
        }
        "litellm_in_flight_requests" => vec![(vec![], state.inflight() as f64)],
        "litellm_total_users" => vec![(vec![], control.count(Kind::User) as f64)],
        "litellm_teams_count" => vec![(vec![], control.count(Kind::Team) as f64)],
        "litellm_active_users" => vec![(vec![], distinct(rows, series::USER).len() as f64)],
        "litellm_in_memory_spend_update_queue_size" => {
            vec![(vec![], control.pending().0 as f64)]
        }
        "litellm_in_memory_daily_spend_update_queue_size" => {
            vec![(vec![], control.pending().1 as f64)]
        }
        "litellm_team_members_metric" => {
            let members = control.list(Kind::Member);
            distinct(rows, series::TEAM)
                .into_iter()
                .filter_map(|team| {
                    let t = control.get(Kind::Team, &team)?;
                    let n = members
                        .iter()
                        .filter(|m| m.id.split_once('/').is_some_and(|(of, _)| of == team))
                        .count();
                    Some((
                        vec![team.clone(), t.alias().unwrap_or("").to_string()],
                        n as f64,
                    ))
                })
                .collect()
        }
        "litellm_remaining_api_key_requests_for_model"
        | "litellm_remaining_api_key_tokens_for_model" => key_model_limits(name, state, rows, now),
        _ => budgets_and_limits(name, state, rows, now),
    }
}

/// Which entities a budget or rate-limit family reads, and its labels.
fn budgets_and_limits(name: &str, state: &AppState, rows: &[Arc<Row>], now: u64) -> Gauges {
    let control = &state.control;
    let (kind, at) = if name.contains("api_key") {
        (Kind::Key, series::KEY)
    } else if name.contains("team") {
        (Kind::Team, series::TEAM)
    } else if name.contains("user") {
        (Kind::User, series::USER)
    } else if name.contains("org") {
        (Kind::Org, series::ORG)
    } else if name.contains("customer") {
        (Kind::Customer, series::END_USER)
    } else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for id in distinct(rows, at) {
        let Some(e) = control.get(kind, &id) else {
            continue;
        };
        let mut labels = vec![id.clone()];
        if matches!(kind, Kind::Key | Kind::Team | Kind::Org) {
            labels.push(e.alias().unwrap_or("").to_string());
        }
        let l = control.limits(&e);
        if name.contains("rate_limit") {
            let (requests, tokens) = e.window.load.this_minute(now);
            for (ty, limit, used) in [("requests", l.rpm, requests), ("tokens", l.tpm, tokens)] {
                let Some(limit) = limit else { continue };
                let mut labels = labels.clone();
                labels.push(ty.to_string());
                let v = if name.ends_with("allowed_metric") {
                    limit
                } else {
                    used
                };
                out.push((labels, v as f64));
            }
            continue;
        }
        let v = if name.starts_with("litellm_remaining_") {
            match l.max_budget {
                Some(max) => max - control.spend(&e),
                None => f64::INFINITY,
            }
        } else if name.contains("max_budget") {
            let Some(max) = l.max_budget else { continue };
            max
        } else {
            let Some(reset) = control.budget_reset_at(&e) else {
                continue;
            };
            (reset - crate::clock::now_ms_i64()).max(0) as f64 / 3_600_000.0
        };
        out.push((labels, v));
    }
    out
}

/// What a key may still send this minute to one model: its per-model `rpm`/`tpm`
/// (`model_rpm_limit`), else the key's own.
fn key_model_limits(name: &str, state: &AppState, rows: &[Arc<Row>], now: u64) -> Gauges {
    let control = &state.control;
    let tokens = name.contains("tokens");
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for r in rows {
        let (key, group, model_id) = (
            &*r.ids[series::KEY],
            &*r.ids[series::GROUP],
            &*r.ids[series::MODEL_ID],
        );
        if key.is_empty() || key == series::MASTER || group.is_empty() {
            continue;
        }
        if !seen.insert((key, group, model_id)) {
            continue;
        }
        let Some(k) = control.get(Kind::Key, key) else {
            continue;
        };
        let own = control.limits(&k);
        let (limit, window) = match k.model_limits.get(group) {
            Some(ml) if (if tokens { ml.tpm } else { ml.rpm }).is_some() => (
                if tokens { ml.tpm } else { ml.rpm },
                control
                    .get(Kind::KeyModel, &format!("{key}/{group}"))
                    .map(|e| e.window.clone()),
            ),
            _ => (
                if tokens { own.tpm } else { own.rpm },
                Some(k.window.clone()),
            ),
        };
        let Some(limit) = limit else { continue };
        let used = window
            .map(|w| {
                let (r, t) = w.load.this_minute(now);
                if tokens {
                    t
                } else {
                    r
                }
            })
            .unwrap_or(0);
        out.push((
            vec![
                key.to_string(),
                k.alias().unwrap_or("").to_string(),
                group.to_string(),
                model_id.to_string(),
            ],
            limit.saturating_sub(used) as f64,
        ));
    }
    out
}

/// The distinct ids of a row position among the rows (for the state gauges).
pub(super) fn distinct(rows: &[Arc<Row>], at: usize) -> Vec<String> {
    let mut seen = HashSet::new();
    rows.iter()
        .map(|r| &*r.ids[at])
        .filter(|id| !id.is_empty() && *id != "other" && *id != series::MASTER)
        .filter(|id| seen.insert(*id))
        .map(str::to_string)
        .collect()
}
