//! LiteLLM's `GET /{user,team,tag}/daily/activity[/aggregated]` in its
//! `SpendAnalyticsPaginatedResponse` shape, read from the daily tables with bounded reads.
//!
//! Paged routes page the daily-table rows as LiteLLM pages its daily rows: `page_size` rows
//! (default 50, at most 1000) in primary-key order read backwards (newest day first), plus one
//! aggregate over the filter for the totals and the page count. `/aggregated` answers every day
//! of the range at once from grouped reads (per day, and per day × breakdown dimension); a
//! breakdown of more than [`MAX_BREAKDOWN`] entries is refused with a 400 rather than built.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use store::{DailyDim, DailyEntry, DailyFilter, DailyOrder, Usage};

use super::{filter, flush, label, read, AdminError, Control, Kind, Req, Who};
use crate::admin::request::page_param;

/// Rows per page unless `page_size` says otherwise (LiteLLM's default).
const DEFAULT_PAGE_SIZE: usize = 50;
/// Most rows per page.
const MAX_PAGE_SIZE: usize = 1000;
/// Most entries of one `/aggregated` breakdown (days × keys for `api_keys`).
const MAX_BREAKDOWN: usize = 20_000;

/// Which LiteLLM daily activity route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    User,
    Team,
    Tag,
}

/// The breakdowns of a day, in LiteLLM's names.
const BREAKDOWNS: [&str; 5] = [
    "models",
    "model_groups",
    "providers",
    "api_keys",
    "entities",
];

/// One day of the answer: its metrics and, per breakdown, id → (metrics, metadata).
type Day = (Usage, [BTreeMap<String, (Usage, Value)>; 5]);

/// `GET /{user,team,tag}/daily/activity[/aggregated]`; `aggregated` answers every day in one page.
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
            f.tag_table = true;
            DailyDim::Tag
        }
    };
    let page = page_param(req, "page", usize::MAX)?.unwrap_or(1);
    let page_size = page_param(req, "page_size", MAX_PAGE_SIZE)?.unwrap_or(DEFAULT_PAGE_SIZE);
    flush(c).await;
    let dims = [
        DailyDim::Model,
        DailyDim::ModelGroup,
        DailyDim::Provider,
        DailyDim::ApiKey,
        entity,
    ];
    // Totals and the row count over everything the filter matches: one aggregate.
    let all = read(c, f.clone(), vec![], DailyOrder::Keys).await?;
    let (rows, total) = all
        .first()
        .map_or((0, Usage::default()), |g| (g.rows, g.usage));
    let mut days: BTreeMap<String, Day> = BTreeMap::new();
    let total_pages;
    if aggregated {
        total_pages = 1;
        aggregated_days(c, &f, &dims, &mut days).await?;
    } else {
        let rows = usize::try_from(rows).unwrap_or(0);
        total_pages = rows.div_ceil(page_size).max(1);
        let offset = (page - 1).saturating_mul(page_size);
        if offset < rows {
            let s = c.store().clone();
            let page_filter = f.clone();
            let entries = c
                .db(async move {
                    s.daily_page(&page_filter, page_size as i64, offset as i64)
                        .await
                })
                .await?;
            for e in &entries {
                add_entry(c, &dims, &mut days, e);
            }
        }
    }
    let results: Vec<Value> = days
        .into_iter()
        .rev()
        .map(|(date, (u, breakdowns))| {
            let mut breakdown = Map::new();
            for (name, entries) in BREAKDOWNS.iter().zip(breakdowns) {
                let entries: Map<String, Value> = entries
                    .into_iter()
                    .map(|(id, (u, meta))| (id, json!({"metrics": metrics(&u), "metadata": meta})))
                    .collect();
                breakdown.insert(name.to_string(), Value::Object(entries));
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

/// Every day of the range: per-day totals, then one grouped read per breakdown dimension.
async fn aggregated_days(
    c: &Control,
    f: &DailyFilter,
    dims: &[DailyDim; 5],
    days: &mut BTreeMap<String, Day>,
) -> Result<(), AdminError> {
    for g in read(c, f.clone(), vec![DailyDim::Date], DailyOrder::Keys).await? {
        days.insert(g.keys[0].clone(), (g.usage, Default::default()));
    }
    for (i, dim) in dims.iter().enumerate() {
        let cap = DailyOrder::KeysAtMost(MAX_BREAKDOWN as i64 + 1);
        let groups = read(c, f.clone(), vec![DailyDim::Date, *dim], cap).await?;
        if groups.len() > MAX_BREAKDOWN {
            return Err(AdminError::bad(
                "start_date",
                format!(
                    "the {} breakdown of this range has more than {MAX_BREAKDOWN} entries; \
                     narrow the date range or the filters, or use the paged route",
                    BREAKDOWNS[i]
                ),
            ));
        }
        for g in groups {
            if let Some(day) = days.get_mut(&g.keys[0]) {
                let meta = metadata(c, *dim, &g.keys[1], g.key_alias.as_ref());
                day.1[i].insert(g.keys[1].clone(), (g.usage, meta));
            }
        }
    }
    Ok(())
}

/// Adds one daily-table row to its day and to each of the day's breakdowns.
fn add_entry(c: &Control, dims: &[DailyDim; 5], days: &mut BTreeMap<String, Day>, e: &DailyEntry) {
    let day = days.entry(e.date.clone()).or_default();
    day.0.merge(&e.usage);
    for (i, dim) in dims.iter().enumerate() {
        let id = match dim {
            DailyDim::Model => &e.model,
            DailyDim::ModelGroup => &e.model_group,
            DailyDim::Provider => &e.provider,
            DailyDim::ApiKey => &e.api_key,
            DailyDim::Team => &e.team_id,
            DailyDim::User => &e.user_id,
            DailyDim::Tag | DailyDim::Date => &e.tag,
        };
        let slot = day.1[i].entry(id.clone()).or_insert_with(|| {
            (
                Usage::default(),
                metadata(c, *dim, id, e.key_alias.as_ref()),
            )
        });
        slot.0.merge(&e.usage);
    }
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

fn metadata(c: &Control, dim: DailyDim, id: &str, alias: Option<&String>) -> Value {
    match dim {
        DailyDim::ApiKey => json!({
            "key_alias": label(c, dim, id, alias),
            "team_id": c.get(Kind::Key, id).and_then(|k| k.team_id.clone()),
        }),
        DailyDim::Team => json!({"team_alias": label(c, dim, id, None)}),
        DailyDim::User => json!({"user_email": label(c, dim, id, None)}),
        _ => json!({}),
    }
}
