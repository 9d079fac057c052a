//! Management API: spend reports from the spend log table (`/spend/logs`,
//! `/global/spend/report`) and the proxy-wide spend (`/global/spend`), in LiteLLM's shapes.
//! The report routes first write the spend rows still queued in memory, so they include every
//! request settled up to now.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use store::{Dim, LogFilter, SpendGroup};

use super::error::AdminError;
use super::log_rows::row;
use super::request::{date_param, page_param, Req};
use crate::clock::now_ms_i64;
use crate::control::enforce::hash_key;
use crate::control::{period, Control, Kind};

const DAY_MS: i64 = 86_400_000;

/// Writes queued spend now; a failure is logged and the query answers from what is stored.
async fn flush(c: &Control) {
    if let Err(e) = c.flush().await {
        log::warn!("spend report: writing the queued spend first failed ({e}); answering from the database as it is");
    }
}

/// `start_date` and `end_date` (exclusive end), checked to be in order.
fn range(req: &Req) -> Result<(Option<i64>, Option<i64>), AdminError> {
    let start = date_param(req, "start_date", false)?;
    let end = date_param(req, "end_date", true)?;
    if let (Some(s), Some(e)) = (start, end) {
        if e <= s {
            return Err(AdminError::bad(
                "end_date",
                "end_date must not be before start_date",
            ));
        }
    }
    Ok((start, end))
}

/// An `api_key` parameter: a key (`sk-…`, hashed here) or its hash.
fn key_param(req: &Req, name: &str) -> Result<Option<String>, AdminError> {
    Ok(req.string(name)?.filter(|k| !k.is_empty()).map(|k| {
        if k.starts_with("sk-") {
            hash_key(&k)
        } else {
            k
        }
    }))
}

/// `page` / `page_size`: at least 1, when given.
fn page_number(req: &Req, name: &str) -> Result<Option<i64>, AdminError> {
    Ok(page_param(req, name, usize::MAX)?.map(|n| i64::try_from(n).unwrap_or(i64::MAX)))
}

/// `YYYY-MM-DD` of a UTC day number.
fn day(days: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(days * DAY_MS)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

/// UTC day number of a `YYYY-MM-DD` group key.
fn day_number(s: &str) -> Option<i64> {
    period::parse_instant(s).map(|ms| ms.div_euclid(DAY_MS))
}

async fn grouped(
    c: &Control,
    f: LogFilter,
    by: &'static [Dim],
) -> Result<Vec<SpendGroup>, AdminError> {
    let s = c.store().clone();
    Ok(c.db(async move { s.spend_grouped(&f, by).await }).await?)
}

/// `GET /spend/logs`: filters `api_key` (key or hash), `user_id`, `team_id`, `end_user`,
/// `organization_id`, `request_id`, `model`, `model_group`, `status`, `start_date`,
/// `end_date` (its whole day included). With both dates and `summarize` (default true): one
/// entry per UTC day, `{startTime, spend, models: {model: spend}, users: {user: spend},
/// api_keys: {hash: spend}, <hash>: spend}` (days without spend up to `end_date` as zeros);
/// otherwise the rows, newest first, paged by `page`/`page_size` when given.
pub async fn logs(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let (start, end) = range(req)?;
    let mut f = LogFilter {
        api_key: key_param(req, "api_key")?,
        start_ms: start,
        end_ms: end,
        ..LogFilter::default()
    };
    for (param, slot) in [
        ("user_id", &mut f.user),
        ("team_id", &mut f.team_id),
        ("end_user", &mut f.end_user),
        ("organization_id", &mut f.organization_id),
        ("request_id", &mut f.request_id),
        ("model", &mut f.model),
        ("model_group", &mut f.model_group),
        ("status", &mut f.status),
    ] {
        *slot = req.string(param)?.filter(|s| !s.is_empty());
    }
    let summarize = req.boolean("summarize")?.unwrap_or(true);
    let page = page_number(req, "page")?;
    let page_size = page_number(req, "page_size")?;
    flush(c).await;

    if let (Some(start), Some(end), true) = (start, end, summarize) {
        let groups = grouped(c, f, &[Dim::Day, Dim::ApiKey, Dim::User, Dim::Model]).await?;
        return Ok(summary(groups, start, end));
    }
    if page.is_some() || page_size.is_some() {
        let size = page_size.unwrap_or(50);
        f.limit = Some(size);
        f.offset = Some((page.unwrap_or(1) - 1).saturating_mul(size));
    }
    let s = c.store().clone();
    let rows = c.db(async move { s.spend_logs(&f).await }).await?;
    Ok(Value::Array(rows.into_iter().map(row).collect()))
}

/// Per-day totals, in LiteLLM's summarized `/spend/logs` shape.
fn summary(groups: Vec<SpendGroup>, start: i64, end: i64) -> Value {
    if groups.is_empty() {
        return json!([]);
    }
    let mut days: BTreeMap<i64, Map<String, Value>> = BTreeMap::new();
    let add = |m: &mut Map<String, Value>, k: &str, v: f64| {
        let cur = m.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        m.insert(k.to_string(), json!(cur + v));
    };
    for g in &groups {
        let Some(d) = g.keys[0].as_deref().and_then(day_number) else {
            continue;
        };
        let key = g.keys[1].clone().unwrap_or_default();
        let user = g.keys[2].clone().unwrap_or_default();
        let model = g.keys[3].clone().unwrap_or_default();
        let e = days.entry(d).or_insert_with(|| empty_day(d));
        add(e, "spend", g.spend);
        for (bucket, name) in [("users", &user), ("models", &model), ("api_keys", &key)] {
            if let Some(Value::Object(m)) = e.get_mut(bucket) {
                add(m, name, g.spend);
            }
        }
        // LiteLLM also puts each key's spend at the top level of the day.
        if !["startTime", "spend", "users", "models", "api_keys"].contains(&key.as_str()) {
            add(e, &key, g.spend);
        }
    }
    // Days without spend from the first day with spend to end_date (not past today).
    let first = days
        .keys()
        .next()
        .copied()
        .unwrap_or(start.div_euclid(DAY_MS));
    let last_data = days.keys().next_back().copied().unwrap_or(first);
    let last = ((end - 1).div_euclid(DAY_MS))
        .min(now_ms_i64().div_euclid(DAY_MS))
        .max(last_data);
    for d in first..=last {
        days.entry(d).or_insert_with(|| empty_day(d));
    }
    Value::Array(days.into_values().map(Value::Object).collect())
}

fn empty_day(d: i64) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("startTime".into(), json!(day(d)));
    m.insert("spend".into(), json!(0.0));
    m.insert("users".into(), json!({}));
    m.insert("models".into(), json!({}));
    m.insert("api_keys".into(), json!({}));
    m
}

/// `GET /global/spend` → `{"spend": the proxy's spend in its current budget window,
/// "max_budget": litellm_settings.max_budget or 0}`.
pub async fn global(c: &Control, _req: &Req) -> Result<Value, AdminError> {
    let (spend, max_budget) = match c.get(Kind::Proxy, "global") {
        Some(e) => (c.spend(&e), c.limits(&e).max_budget),
        None => (0.0, c.settings.proxy.max_budget),
    };
    Ok(json!({ "spend": spend, "max_budget": max_budget.unwrap_or(0.0) }))
}

/// `GET /global/spend/report?start_date&end_date` (both required; `end_date`'s whole day
/// included) `&group_by=team|customer|api_key` (default team), optional `team_id` and
/// `customer_id` filters.
///
/// - team / customer: per UTC day, `{group_by_day, teams|customers: [{team_name|customer,
///   total_spend, metadata: [{model, api_key, spend, total_tokens}]}]}`;
/// - api_key (or when `api_key` / `internal_user_id` narrows the report): `[{api_key,
///   total_cost, total_input_tokens, total_output_tokens, model_details: [{model, total_cost,
///   total_input_tokens, total_output_tokens}]}]`, most expensive first.
pub async fn report(c: &Control, req: &Req) -> Result<Value, AdminError> {
    let (start, end) = range(req)?;
    let (Some(start), Some(end)) = (start, end) else {
        let missing = if start.is_none() {
            "start_date"
        } else {
            "end_date"
        };
        return Err(AdminError::bad(
            missing,
            "Please provide start_date and end_date",
        ));
    };
    let group_by = req.string("group_by")?.unwrap_or_else(|| "team".into());
    if !["team", "customer", "api_key"].contains(&group_by.as_str()) {
        return Err(AdminError::bad(
            "group_by",
            format!("group_by must be one of team, customer, api_key; got {group_by:?}"),
        ));
    }
    let f = LogFilter {
        start_ms: Some(start),
        end_ms: Some(end),
        api_key: key_param(req, "api_key")?,
        user: req.string("internal_user_id")?.filter(|s| !s.is_empty()),
        team_id: req.string("team_id")?.filter(|s| !s.is_empty()),
        end_user: req.string("customer_id")?.filter(|s| !s.is_empty()),
        ..LogFilter::default()
    };
    flush(c).await;
    if group_by == "api_key" || f.api_key.is_some() || f.user.is_some() {
        let groups = grouped(c, f, &[Dim::ApiKey, Dim::Model]).await?;
        return Ok(by_key(groups));
    }
    let customers = group_by == "customer";
    let by: &'static [Dim] = if customers {
        &[Dim::Day, Dim::EndUser, Dim::Model, Dim::ApiKey]
    } else {
        &[Dim::Day, Dim::TeamId, Dim::Model, Dim::ApiKey]
    };
    let groups = grouped(c, f, by).await?;
    // day → group name → (total, per model and key)
    type Groups = BTreeMap<Option<String>, (f64, Vec<Value>)>;
    let mut days: BTreeMap<String, Groups> = BTreeMap::new();
    for g in groups {
        let Some(d) = g.keys[0].clone() else { continue };
        let name = if customers {
            g.keys[1].clone()
        } else {
            // LiteLLM groups by team alias; teams without one are "Unassigned Team".
            Some(
                g.keys[1]
                    .as_deref()
                    .and_then(|t| c.get(Kind::Team, t))
                    .and_then(|t| t.alias().map(str::to_string))
                    .unwrap_or_else(|| "Unassigned Team".into()),
            )
        };
        let slot = days.entry(d).or_default().entry(name).or_default();
        slot.0 += g.spend;
        slot.1.push(json!({
            "model": g.keys[2],
            "api_key": g.keys[3],
            "spend": g.spend,
            "total_tokens": g.total_tokens,
        }));
    }
    let (list, name_field) = if customers {
        ("customers", "customer")
    } else {
        ("teams", "team_name")
    };
    let out: Vec<Value> = days
        .into_iter()
        .map(|(d, groups)| {
            let items: Vec<Value> = groups
                .into_iter()
                .map(|(name, (total, metadata))| {
                    json!({ name_field: name, "total_spend": total, "metadata": metadata })
                })
                .collect();
            json!({ "group_by_day": format!("{d}T00:00:00+00:00"), list: items })
        })
        .collect();
    Ok(Value::Array(out))
}

/// Per key, with a breakdown per model; most expensive key first.
fn by_key(groups: Vec<SpendGroup>) -> Value {
    /// Cost, input tokens, output tokens, per-model details.
    type Totals = (f64, i64, i64, Vec<Value>);
    let mut keys: BTreeMap<String, Totals> = BTreeMap::new();
    for g in groups {
        let key = g.keys[0].clone().unwrap_or_default();
        let e = keys.entry(key).or_default();
        e.0 += g.spend;
        e.1 += g.prompt_tokens;
        e.2 += g.completion_tokens;
        e.3.push(json!({
            "model": g.keys[1],
            "total_cost": g.spend,
            "total_input_tokens": g.prompt_tokens,
            "total_output_tokens": g.completion_tokens,
        }));
    }
    let mut out: Vec<(String, Totals)> = keys.into_iter().collect();
    out.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
    Value::Array(
        out.into_iter()
            .map(|(key, (cost, input, output, details))| {
                json!({
                    "api_key": key,
                    "total_cost": cost,
                    "total_input_tokens": input,
                    "total_output_tokens": output,
                    "model_details": details,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(query: &[(&str, &str)]) -> Req {
        let query_all: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Req {
            query: query_all.iter().cloned().collect(),
            query_all,
            ..Req::default()
        }
    }

    fn at(s: &str) -> i64 {
        period::parse_instant(s).unwrap()
    }

    #[test]
    fn end_date_includes_its_whole_day_and_dates_are_checked() {
        let r = req(&[("start_date", "2026-01-01"), ("end_date", "2026-01-03")]);
        assert_eq!(
            range(&r).unwrap(),
            (Some(at("2026-01-01")), Some(at("2026-01-04")))
        );
        let r = req(&[("end_date", "2026-01-03T10:00:00Z")]);
        assert_eq!(range(&r).unwrap().1, Some(at("2026-01-03T10:00:00Z") + 1));
        assert_eq!(
            range(&req(&[("start_date", "soon")]))
                .unwrap_err()
                .0
                .param
                .as_deref(),
            Some("start_date")
        );
        let r = req(&[("start_date", "2026-01-03"), ("end_date", "2026-01-01")]);
        assert_eq!(range(&r).unwrap_err().0.param.as_deref(), Some("end_date"));
    }

    #[test]
    fn keys_are_hashed_unless_already_hashes() {
        let r = req(&[("api_key", "sk-abc")]);
        assert_eq!(key_param(&r, "api_key").unwrap(), Some(hash_key("sk-abc")));
        let r = req(&[("api_key", "deadbeef")]);
        assert_eq!(
            key_param(&r, "api_key").unwrap().as_deref(),
            Some("deadbeef")
        );
    }

    fn group(keys: [&str; 4], spend: f64) -> SpendGroup {
        SpendGroup {
            keys: keys.iter().map(|k| Some(k.to_string())).collect(),
            spend,
            prompt_tokens: 1,
            completion_tokens: 1,
            total_tokens: 2,
            requests: 1,
        }
    }

    #[test]
    fn summary_totals_per_day_and_fills_days_without_spend() {
        let groups = vec![
            group(["2020-01-01", "k1", "u1", "m1"], 1.0),
            group(["2020-01-01", "k2", "u1", "m2"], 2.0),
            group(["2020-01-03", "k1", "u2", "m1"], 4.0),
        ];
        let v = summary(groups, at("2020-01-01"), at("2020-01-05"));
        let days = v.as_array().unwrap();
        let names: Vec<&str> = days
            .iter()
            .map(|d| d["startTime"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04"]
        );
        assert_eq!(days[0]["spend"], 3.0);
        assert_eq!(days[0]["users"]["u1"], 3.0);
        assert_eq!(days[0]["models"]["m2"], 2.0);
        assert_eq!(days[0]["api_keys"]["k1"], 1.0);
        assert_eq!(
            days[0]["k2"], 2.0,
            "LiteLLM's per-key spend at the top level"
        );
        assert_eq!(days[1]["spend"], 0.0);
        assert_eq!(days[2]["users"]["u2"], 4.0);
        assert_eq!(summary(Vec::new(), 0, DAY_MS), json!([]));
    }
}
