//! Usage read from the daily usage tables (never the spend-log table): Tollgate's
//! `GET /tollgate/usage` (top-N or per day, JSON or CSV) and LiteLLM's
//! `GET /{user,team,tag}/daily/activity[/aggregated]` in LiteLLM's shape. A caller that is not
//! an admin sees only its own key's usage. Shapes: docs/ui-api.md.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use store::{DailyDim, DailyFilter, DailyGroup, DailyOrder, Usage};

use super::access::{own_key_scope, Who};
use super::error::AdminError;
use super::request::{page_param, Req};
use crate::clock::now_ms_i64;
use crate::control::enforce::hash_key;
use crate::control::{period, Control, Kind};

const DAY_MS: i64 = 86_400_000;
/// Days the usage page covers when no `start_date` is given.
const DEFAULT_DAYS: i64 = 30;
/// Most rows `/tollgate/usage` answers.
const MAX_ROWS: usize = 1000;

/// `YYYY-MM-DD` of a date parameter (a bare date, or the UTC day of an RFC 3339 time).
fn date_param(req: &Req, name: &str) -> Result<Option<String>, AdminError> {
    let Some(s) = req.string(name)?.filter(|s| !s.trim().is_empty()) else {
        return Ok(None);
    };
    let ms = period::parse_instant(&s).ok_or_else(|| {
        AdminError::bad(
            name,
            format!("{name} must be a date (YYYY-MM-DD) or an RFC 3339 time, got {s:?}"),
        )
    })?;
    Ok(Some(day(ms.div_euclid(DAY_MS))))
}

fn day(days: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(days * DAY_MS)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

/// The date range: given, or the last [`DEFAULT_DAYS`] up to today; checked to be in order.
fn range(req: &Req, required: bool) -> Result<(String, String), AdminError> {
    let today = now_ms_i64().div_euclid(DAY_MS);
    let start = date_param(req, "start_date")?;
    let end = date_param(req, "end_date")?;
    if required && (start.is_none() || end.is_none()) {
        return Err(AdminError::bad(
            "start_date",
            "start_date and end_date are required (YYYY-MM-DD)",
        ));
    }
    let end = end.unwrap_or_else(|| day(today));
    let start = start.unwrap_or_else(|| day(today - DEFAULT_DAYS + 1));
    if end < start {
        return Err(AdminError::bad(
            "end_date",
            "end_date must not be before start_date",
        ));
    }
    Ok((start, end))
}

fn key_param(req: &Req) -> Result<Option<String>, AdminError> {
    Ok(req.string("api_key")?.filter(|k| !k.is_empty()).map(|k| {
        if k.starts_with("sk-") {
            hash_key(&k)
        } else {
            k
        }
    }))
}

/// The filters every usage route shares, with the caller's scope applied.
fn filter(req: &Req, who: &Who, required_dates: bool) -> Result<DailyFilter, AdminError> {
    let (start, end) = range(req, required_dates)?;
    let mut f = DailyFilter {
        start_date: Some(start),
        end_date: Some(end),
        api_key: key_param(req)?,
        model: req.string("model")?.filter(|s| !s.is_empty()),
        ..DailyFilter::default()
    };
    if let Some(own) = own_key_scope(who)? {
        if f.api_key.as_ref().is_some_and(|k| *k != own) {
            return Err(super::access::forbidden(
                "a key may read only its own usage",
            ));
        }
        f.api_key = Some(own);
    }
    Ok(f)
}

async fn read(
    c: &Control,
    f: DailyFilter,
    by: Vec<DailyDim>,
    order: DailyOrder,
) -> Result<Vec<DailyGroup>, AdminError> {
    let s = c.store().clone();
    Ok(c.db(async move { s.daily_grouped(&f, &by, order).await })
        .await?)
}

/// Writes queued spend first, so the answer includes every request settled up to now.
async fn flush(c: &Control) {
    if let Err(e) = c.flush().await {
        log::warn!("usage: writing the queued spend first failed ({e}); answering from the database as it is");
    }
}

fn usage_json(u: &Usage) -> Value {
    json!({
        "spend": u.spend,
        "requests": u.requests,
        "successes": u.successes,
        "failures": u.failures,
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens(),
        "cached_tokens": u.cached_tokens,
        "cache_hits": u.cache_hits,
    })
}

/// A group's display label: the key's alias, the team's alias, the user's email.
fn label(c: &Control, dim: DailyDim, id: &str, stored_alias: Option<&String>) -> Value {
    let text = |v: Option<&str>| v.map_or(Value::Null, |s| Value::String(s.to_string()));
    match dim {
        DailyDim::ApiKey => match c.get(Kind::Key, id) {
            Some(k) => text(k.alias()),
            None => text(stored_alias.map(String::as_str)),
        },
        DailyDim::Team => text(c.get(Kind::Team, id).as_deref().and_then(|t| t.alias())),
        DailyDim::User => text(c.get(Kind::User, id).as_deref().and_then(|u| u.email())),
        _ => Value::Null,
    }
}

/// The result of `/tollgate/usage`: its rows (with labels) and totals.
pub struct UsageReport {
    pub group_by: &'static str,
    pub start: String,
    pub end: String,
    pub rows: Vec<(String, Value, Usage)>,
    pub totals: Usage,
}

/// `GET /tollgate/usage`.
pub async fn report(c: &Control, who: &Who, req: &Req) -> Result<UsageReport, AdminError> {
    let group = req.string("group_by")?.unwrap_or_else(|| "day".into());
    let (name, dim) = match group.as_str() {
        "day" | "date" => ("day", DailyDim::Date),
        "key" | "api_key" => ("key", DailyDim::ApiKey),
        "team" | "team_id" => ("team", DailyDim::Team),
        "user" | "user_id" => ("user", DailyDim::User),
        "model_group" => ("model_group", DailyDim::ModelGroup),
        "model" => ("model", DailyDim::Model),
        "provider" => ("provider", DailyDim::Provider),
        "tag" => ("tag", DailyDim::Tag),
        other => {
            return Err(AdminError::bad(
                "group_by",
                format!("group_by must be one of day, key, team, user, model_group, model, provider, tag; got {other:?}"),
            ))
        }
    };
    let limit = page_param(req, "limit", MAX_ROWS)?.unwrap_or(if dim == DailyDim::Date {
        MAX_ROWS
    } else {
        100
    });
    let mut f = filter(req, who, false)?;
    f.team_ids = req
        .string("team_id")?
        .filter(|s| !s.is_empty())
        .into_iter()
        .collect();
    f.user_id = req.string("user_id")?.filter(|s| !s.is_empty());
    f.model_group = req.string("model_group")?.filter(|s| !s.is_empty());
    f.provider = req.string("provider")?.filter(|s| !s.is_empty());
    f.tags = req
        .string("tag")?
        .filter(|s| !s.is_empty())
        .into_iter()
        .collect();
    flush(c).await;
    let order = if dim == DailyDim::Date {
        DailyOrder::Keys
    } else {
        DailyOrder::TopSpend(limit as i64)
    };
    let (start, end) = (
        f.start_date.clone().unwrap_or_default(),
        f.end_date.clone().unwrap_or_default(),
    );
    let groups = read(c, f.clone(), vec![dim], order).await?;
    let totals = if dim == DailyDim::Tag {
        let mut t = Usage::default();
        for g in read(c, f, vec![DailyDim::Tag], DailyOrder::Keys).await? {
            t.merge(&g.usage);
        }
        t
    } else {
        read(c, f, vec![], DailyOrder::Keys)
            .await?
            .first()
            .map(|g| g.usage)
            .unwrap_or_default()
    };
    let rows = groups
        .iter()
        .take(limit)
        .map(|g| {
            (
                g.keys[0].clone(),
                label(c, dim, &g.keys[0], g.key_alias.as_ref()),
                g.usage,
            )
        })
        .collect();
    Ok(UsageReport {
        group_by: name,
        start,
        end,
        rows,
        totals,
    })
}

impl UsageReport {
    pub fn to_json(&self) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|(group, label, u)| {
                let mut v = usage_json(u);
                v["group"] = json!(group);
                v["label"] = label.clone();
                v
            })
            .collect();
        json!({
            "group_by": self.group_by,
            "start_date": self.start,
            "end_date": self.end,
            "rows": rows,
            "totals": usage_json(&self.totals),
        })
    }

    /// RFC 4180 CSV; cells that a spreadsheet would run as a formula are prefixed with `'`.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "group,label,spend,requests,successes,failures,prompt_tokens,completion_tokens,total_tokens,cached_tokens,cache_hits\r\n",
        );
        for (group, label, u) in &self.rows {
            let label = label.as_str().unwrap_or("");
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{}\r\n",
                csv_cell(group),
                csv_cell(label),
                u.spend,
                u.requests,
                u.successes,
                u.failures,
                u.prompt_tokens,
                u.completion_tokens,
                u.total_tokens(),
                u.cached_tokens,
                u.cache_hits
            ));
        }
        out
    }
}

fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Which LiteLLM daily activity route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    User,
    Team,
    Tag,
}

/// `GET /{user,team,tag}/daily/activity[/aggregated]` in LiteLLM's
/// `SpendAnalyticsPaginatedResponse` shape; `aggregated` answers every day in one page.
pub async fn activity(
    c: &Control,
    who: &Who,
    req: &Req,
    kind: Activity,
    aggregated: bool,
) -> Result<Value, AdminError> {
    let mut f = filter(req, who, true)?;
    let entity = match kind {
        Activity::User => {
            f.user_id = req.string("user_id")?.filter(|s| !s.is_empty());
            DailyDim::User
        }
        Activity::Team => {
            f.team_ids = req.strings("team_ids")?.unwrap_or_default();
            f.exclude_team_ids = req.strings("exclude_team_ids")?.unwrap_or_default();
            DailyDim::Team
        }
        Activity::Tag => {
            f.tags = req.strings("tags")?.unwrap_or_default();
            DailyDim::Tag
        }
    };
    let page = page_param(req, "page", usize::MAX)?.unwrap_or(1);
    let page_size = page_param(req, "page_size", MAX_ROWS)?.unwrap_or(50);
    flush(c).await;
    // Each breakdown is one grouped query over the range: (date, dimension).
    let dims = [
        ("models", DailyDim::Model),
        ("model_groups", DailyDim::ModelGroup),
        ("providers", DailyDim::Provider),
        ("api_keys", DailyDim::ApiKey),
        ("entities", entity),
    ];
    let days = read(c, f.clone(), vec![DailyDim::Date], DailyOrder::Keys).await?;
    let all_days: Vec<&str> = days.iter().map(|g| g.keys[0].as_str()).collect();
    let total_pages = if aggregated {
        1
    } else {
        all_days.len().div_ceil(page_size).max(1)
    };
    let shown: Vec<&str> = if aggregated {
        all_days.clone()
    } else {
        all_days
            .iter()
            .skip((page - 1).saturating_mul(page_size))
            .take(page_size)
            .copied()
            .collect()
    };
    let mut results: BTreeMap<&str, (Usage, Map<String, Value>)> = BTreeMap::new();
    for g in &days {
        if shown.contains(&g.keys[0].as_str()) {
            results.insert(g.keys[0].as_str(), (g.usage, Map::new()));
        }
    }
    if let (Some(first), Some(last)) = (shown.first(), shown.last()) {
        let mut page_filter = f.clone();
        page_filter.start_date = Some(first.to_string());
        page_filter.end_date = Some(last.to_string());
        for (name, dim) in dims {
            let groups = read(
                c,
                page_filter.clone(),
                vec![DailyDim::Date, dim],
                DailyOrder::Keys,
            )
            .await?;
            for g in groups {
                let Some((_, breakdown)) = results.get_mut(g.keys[0].as_str()) else {
                    continue;
                };
                let metadata = breakdown_metadata(c, dim, &g);
                let slot = breakdown
                    .entry(name)
                    .or_insert_with(|| Value::Object(Map::new()));
                slot[g.keys[1].as_str()] =
                    json!({"metrics": metrics(&g.usage), "metadata": metadata});
            }
        }
    }
    let mut total = Usage::default();
    for g in &days {
        total.merge(&g.usage);
    }
    let results: Vec<Value> = results
        .into_iter()
        .map(|(date, (u, mut breakdown))| {
            for (name, _) in dims {
                breakdown
                    .entry(name)
                    .or_insert_with(|| Value::Object(Map::new()));
            }
            json!({"date": date, "metrics": metrics(&u), "breakdown": breakdown})
        })
        .collect();
    Ok(json!({
        "results": results,
        "metadata": {
            "total_spend": total.spend,
            "total_prompt_tokens": total.prompt_tokens,
            "total_completion_tokens": total.completion_tokens,
            "total_tokens": total.total_tokens(),
            "total_api_requests": total.requests,
            "total_successful_requests": total.successes,
            "total_failed_requests": total.failures,
            "total_cache_read_input_tokens": total.cached_tokens,
            "total_cache_creation_input_tokens": 0,
            "page": if aggregated { 1 } else { page },
            "total_pages": total_pages,
            "has_more": !aggregated && page < total_pages,
        }
    }))
}

/// LiteLLM's `SpendMetrics`.
fn metrics(u: &Usage) -> Value {
    json!({
        "spend": u.spend,
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens(),
        "cache_read_input_tokens": u.cached_tokens,
        "cache_creation_input_tokens": 0,
        "api_requests": u.requests,
        "successful_requests": u.successes,
        "failed_requests": u.failures,
    })
}

fn breakdown_metadata(c: &Control, dim: DailyDim, g: &DailyGroup) -> Value {
    let id = g.keys[1].as_str();
    match dim {
        DailyDim::ApiKey => json!({
            "key_alias": label(c, dim, id, g.key_alias.as_ref()),
            "team_id": c.get(Kind::Key, id).and_then(|k| k.team_id.clone()),
        }),
        DailyDim::Team => json!({"team_alias": label(c, dim, id, None)}),
        DailyDim::User => json!({"user_email": label(c, dim, id, None)}),
        _ => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=cmd()"), "'=cmd()");
        assert_eq!(csv_cell("-1+1,x"), "\"'-1+1,x\"");
    }
}
