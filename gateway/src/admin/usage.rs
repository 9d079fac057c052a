//! Usage read from the daily usage tables (never the spend-log table): Tollgate's
//! `GET /tollgate/usage` (top-N or per day, JSON or CSV) and LiteLLM's
//! `GET /{user,team,tag}/daily/activity[/aggregated]` in LiteLLM's shape. A caller that is not
//! an admin sees only its own key's usage. Shapes: docs/ui-api.md. The daily activity routes
//! are in `usage::activity`.

mod activity;

use serde_json::{json, Value};
use store::{DailyDim, DailyFilter, DailyGroup, DailyOrder, Usage};

use super::access::{own_key_scope, Who};
use super::error::AdminError;
use super::request::{page_param, Req};
use crate::clock::now_ms_i64;
use crate::control::enforce::hash_key;
use crate::control::{period, Control, Kind};

pub use activity::{activity, Activity};

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
    // One grouped read: the rows, and the totals over every group as window sums.
    let groups = read(c, f, vec![dim], order).await?;
    let totals = groups.first().map(|g| g.total).unwrap_or_default();
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
