//! Which model groups a caller may use, and the answers built on it: `GET /model_group/info`
//! (LiteLLM's `ModelGroupInfo` per group: providers, context window, prices, rpm/tpm, mode) and
//! the model list of `GET /v1/models` with LiteLLM's `include_model_access_groups` /
//! `only_model_access_groups` options.

use serde_json::{json, Value};

use super::access::Who;
use super::error::AdminError;
use super::request::Req;
use crate::control::Control;
use crate::runtime::{Group, Runtime};

pub use super::access::visible;

/// The `model_info.access_groups` of `groups`, each once, in order.
pub fn access_groups(rt: &Runtime, groups: &[&String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for g in groups {
        for a in rt
            .groups
            .get(*g)
            .map(|g| g.access_groups.as_slice())
            .unwrap_or_default()
        {
            if !out.contains(a) {
                out.push(a.clone());
            }
        }
    }
    out
}

/// `GET /model_group/info[?model_group=]`: `{"data": [ModelGroupInfo]}` for the groups the
/// caller may use.
pub fn info(c: &Control, rt: &Runtime, who: &Who, req: &Req) -> Result<Value, AdminError> {
    let wanted = req.string("model_group")?.filter(|s| !s.is_empty());
    let groups = visible(
        c,
        rt,
        if who.is_admin() {
            None
        } else {
            who.key().map(|k| &**k)
        },
    );
    if let Some(w) = &wanted {
        if !groups.contains(&w) {
            return Err(AdminError::not_found(format!(
                "Model group {w} not found (or not available to this key)"
            )));
        }
    }
    let data: Vec<Value> = groups
        .iter()
        .filter(|g| wanted.as_deref().is_none_or(|w| w == g.as_str()))
        .filter_map(|g| Some(group_info(g, rt.groups.get(*g)?)))
        .collect();
    Ok(json!({ "data": data }))
}

/// One LiteLLM `ModelGroupInfo`. Prices and context window are the highest of the group's
/// deployments (what a request may cost); rpm/tpm the sum of their capacities.
fn group_info(name: &str, g: &Group) -> Value {
    let mut providers: Vec<&str> = Vec::new();
    let (mut rpm, mut tpm) = (None::<u64>, None::<u64>);
    let mut max_input = None::<u64>;
    let mut mode = None::<String>;
    for d in &g.deployments {
        let p = d.conf.provider.prefix();
        if !providers.contains(&p) {
            providers.push(p);
        }
        if let Some(r) = d.conf.rpm {
            rpm = Some(rpm.unwrap_or(0) + r);
        }
        if let Some(t) = d.conf.tpm {
            tpm = Some(tpm.unwrap_or(0) + t);
        }
        max_input = max_input.max(d.max_input_tokens);
        mode = mode
            .or_else(|| {
                d.conf
                    .model_info
                    .get("mode")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .or_else(|| d.price.as_ref().and_then(|p| p.mode.clone()));
    }
    let worst = g.worst.as_ref();
    json!({
        "model_group": name,
        "providers": providers,
        "max_input_tokens": max_input,
        "max_output_tokens": worst.and_then(|p| p.max_output_tokens.or(p.max_tokens)),
        "input_cost_per_token": worst.map(|p| p.input_cost_per_token),
        "output_cost_per_token": worst.map(|p| p.output_cost_per_token),
        "mode": mode.unwrap_or_else(|| "chat".into()),
        "tpm": tpm,
        "rpm": rpm,
        "access_groups": g.access_groups,
        "configurable_clientside_auth_params": null,
    })
}
