//! Reads of the daily usage tables (`daily`): [`Store::daily_grouped`] (usage summed per
//! dimension, for `/tollgate/usage` and the daily activity breakdowns) and
//! [`Store::daily_page`] (one page of table rows in index order, LiteLLM's daily activity paging).

use sqlx::Row;

use crate::daily::Usage;
use crate::{placeholder, Backend, Result, Store};

/// A grouping column of the daily tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DailyDim {
    Date,
    ApiKey,
    Team,
    User,
    ModelGroup,
    Model,
    Provider,
    /// Reads the tag table.
    Tag,
}

impl DailyDim {
    fn column(self) -> &'static str {
        match self {
            DailyDim::Date => "date",
            DailyDim::ApiKey => "api_key",
            DailyDim::Team => "team_id",
            DailyDim::User => "user_id",
            DailyDim::ModelGroup => "model_group",
            DailyDim::Model => "model",
            DailyDim::Provider => "custom_llm_provider",
            DailyDim::Tag => "tag",
        }
    }
}

/// Filters of a daily read, ANDed. Dates are `YYYY-MM-DD`, both inclusive. A list filter
/// matches any of its values; an empty list does not filter.
#[derive(Debug, Clone, Default)]
pub struct DailyFilter {
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub api_key: Option<String>,
    pub team_ids: Vec<String>,
    pub exclude_team_ids: Vec<String>,
    pub user_id: Option<String>,
    pub model_group: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    /// Reads the tag table when not empty.
    pub tags: Vec<String>,
    /// Read the tag table even without a tag filter.
    pub tag_table: bool,
}

/// One group of [`Store::daily_grouped`].
#[derive(Debug, Clone, PartialEq)]
pub struct DailyGroup {
    /// One per requested dimension, in order.
    pub keys: Vec<String>,
    /// The latest key alias seen in the group (only meaningful when grouped by key).
    pub key_alias: Option<String>,
    pub usage: Usage,
    /// Daily-table rows summed into the group.
    pub rows: i64,
    /// The sum over every group the filter matched (before any `LIMIT`): the same in each.
    pub total: Usage,
}

/// How [`Store::daily_grouped`] orders and cuts its groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DailyOrder {
    /// By the keys, ascending.
    Keys,
    /// By the keys, ascending, at most this many groups.
    KeysAtMost(i64),
    /// By spend, highest first, at most this many groups.
    TopSpend(i64),
}

/// One daily-table row of [`Store::daily_page`].
#[derive(Debug, Clone, PartialEq)]
pub struct DailyEntry {
    pub date: String,
    /// `""` unless the page reads the tag table.
    pub tag: String,
    pub api_key: String,
    pub team_id: String,
    pub user_id: String,
    pub model_group: String,
    pub model: String,
    pub provider: String,
    pub key_alias: Option<String>,
    pub usage: Usage,
}

const METRICS: [&str; 8] = [
    "spend",
    "requests",
    "successes",
    "failures",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_hits",
];

/// The table a filter reads, its `WHERE …` (or "") with `$N` placeholders, and the values.
fn where_clause(f: &DailyFilter, tag_table: bool) -> (&'static str, String, Vec<String>) {
    let table = if tag_table || f.tag_table || !f.tags.is_empty() {
        "tollgate_daily_tag_spend"
    } else {
        "tollgate_daily_spend"
    };
    let mut conds: Vec<String> = Vec::new();
    let mut args: Vec<String> = Vec::new();
    let mut push = |col: &str, op: &str, v: &str| -> String {
        args.push(v.to_string());
        format!("{col} {op} {}", placeholder(Backend::Postgres, args.len()))
    };
    if let Some(d) = &f.start_date {
        conds.push(push("date", ">=", d));
    }
    if let Some(d) = &f.end_date {
        conds.push(push("date", "<=", d));
    }
    for (col, v) in [
        ("api_key", &f.api_key),
        ("user_id", &f.user_id),
        ("model_group", &f.model_group),
        ("model", &f.model),
        ("custom_llm_provider", &f.provider),
    ] {
        if let Some(v) = v {
            conds.push(push(col, "=", v));
        }
    }
    for (col, list, neg) in [
        ("team_id", &f.team_ids, false),
        ("team_id", &f.exclude_team_ids, true),
        ("tag", &f.tags, false),
    ] {
        if list.is_empty() {
            continue;
        }
        let ors: Vec<String> = list.iter().map(|v| push(col, "=", v)).collect();
        conds.push(format!(
            "{}({})",
            if neg { "NOT " } else { "" },
            ors.join(" OR ")
        ));
    }
    let cond = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    (table, cond, args)
}

/// The summed metrics of a row from column `n` on (in [`METRICS`] order).
fn usage_at(row: &sqlx::any::AnyRow, n: usize) -> sqlx::Result<Usage> {
    Ok(Usage {
        spend: row.try_get(n)?,
        requests: row.try_get(n + 1)?,
        successes: row.try_get(n + 2)?,
        failures: row.try_get(n + 3)?,
        prompt_tokens: row.try_get(n + 4)?,
        completion_tokens: row.try_get(n + 5)?,
        cached_tokens: row.try_get(n + 6)?,
        cache_hits: row.try_get(n + 7)?,
    })
}

impl Store {
    /// Usage summed per distinct combination of `by` (an empty `by`: one row, the totals, or
    /// none when nothing matches). Reads the tag table when grouping by tag or filtering by tags.
    pub async fn daily_grouped(
        &self,
        f: &DailyFilter,
        by: &[DailyDim],
        order: DailyOrder,
    ) -> Result<Vec<DailyGroup>> {
        let (table, cond, args) = where_clause(f, by.contains(&DailyDim::Tag));
        let cols: Vec<&str> = by.iter().map(|d| d.column()).collect();
        let mut select: Vec<String> = cols.iter().map(|c| c.to_string()).collect();
        select.push(if by.contains(&DailyDim::ApiKey) {
            "MAX(key_alias)".into()
        } else {
            "CAST(NULL AS TEXT)".into()
        });
        for m in METRICS {
            select.push(if m == "spend" {
                "COALESCE(SUM(spend), 0.0)".into()
            } else {
                format!("CAST(COALESCE(SUM({m}), 0) AS BIGINT)")
            });
        }
        select.push("COUNT(*)".into());
        if !cols.is_empty() {
            // The totals over all groups, in the same pass (window sums run after grouping).
            for m in METRICS {
                select.push(if m == "spend" {
                    "COALESCE(SUM(SUM(spend)) OVER (), 0.0)".into()
                } else {
                    format!("CAST(COALESCE(SUM(SUM({m})) OVER (), 0) AS BIGINT)")
                });
            }
        }
        let mut sql = format!("SELECT {} FROM {table}{cond}", select.join(", "));
        if !cols.is_empty() {
            sql.push_str(&format!(" GROUP BY {}", cols.join(", ")));
            match order {
                DailyOrder::Keys => sql.push_str(&format!(" ORDER BY {}", cols.join(", "))),
                DailyOrder::KeysAtMost(n) => {
                    sql.push_str(&format!(" ORDER BY {} LIMIT {}", cols.join(", "), n.max(0)))
                }
                // The spend column's position: after the keys and the alias.
                DailyOrder::TopSpend(n) => sql.push_str(&format!(
                    " ORDER BY {} DESC, {} LIMIT {}",
                    cols.len() + 2,
                    cols.join(", "),
                    n.max(0)
                )),
            }
        }
        let mut q = sqlx::query(&sql);
        for a in args {
            q = q.bind(a);
        }
        let rows = q.fetch_all(&self.pool).await?;
        let n = by.len();
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut keys = Vec::with_capacity(n);
            for i in 0..n {
                keys.push(row.try_get::<String, _>(i)?);
            }
            let usage = usage_at(row, n + 1)?;
            if usage.requests > 0 {
                out.push(DailyGroup {
                    keys,
                    key_alias: row.try_get(n)?,
                    usage,
                    rows: row.try_get(n + 9)?,
                    total: if n == 0 {
                        usage
                    } else {
                        usage_at(row, n + 10)?
                    },
                });
            }
        }
        Ok(out)
    }

    /// Rows `offset..offset + limit` of the daily table the filter reads, newest day first, then by the rest of the primary key, descending: the
    /// primary-key index read backwards, so a page reads `offset + limit` index entries.
    pub async fn daily_page(
        &self,
        f: &DailyFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<DailyEntry>> {
        let (table, cond, args) = where_clause(f, false);
        let tag_table = table == "tollgate_daily_tag_spend";
        let keys = if tag_table {
            "date, tag, api_key, team_id, user_id, model_group, model, custom_llm_provider"
        } else {
            "date, '', api_key, team_id, user_id, model_group, model, custom_llm_provider"
        };
        let order = if tag_table {
            "date DESC, tag DESC, api_key DESC, team_id DESC, user_id DESC, model_group DESC, \
             model DESC, custom_llm_provider DESC"
        } else {
            "date DESC, api_key DESC, team_id DESC, user_id DESC, model_group DESC, model DESC, \
             custom_llm_provider DESC"
        };
        let sql = format!(
            "SELECT {keys}, key_alias, {} FROM {table}{cond} ORDER BY {order} LIMIT {} OFFSET {}",
            METRICS.join(", "),
            limit.max(0),
            offset.max(0)
        );
        let mut q = sqlx::query(&sql);
        for a in args {
            q = q.bind(a);
        }
        let rows = q.fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let text = |i: usize| row.try_get::<String, _>(i);
            out.push(DailyEntry {
                date: text(0)?,
                tag: text(1)?,
                api_key: text(2)?,
                team_id: text(3)?,
                user_id: text(4)?,
                model_group: text(5)?,
                model: text(6)?,
                provider: text(7)?,
                key_alias: row.try_get(8)?,
                usage: usage_at(row, 9)?,
            });
        }
        Ok(out)
    }
}
