//! Spend log queries: [`LogFilter`] (ANDed optional filters), listing and counting logs, totals,
//! and aggregates grouped by [`Dim`]ensions.

use std::cmp::Ordering;

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, Row};

use crate::daily::day_string;
use crate::spend::{row_to_log, LOG_COLUMNS};
use crate::{Result, SpendLog, Store};

/// Optional filters, ANDed. `start_ms`/`end_ms` select `start_time >= start_ms AND
/// start_time < end_ms`. `limit`/`offset` page [`Store::spend_logs`] only; counts, totals and
/// groups ignore them.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub api_key: Option<String>,
    pub user: Option<String>,
    pub team_id: Option<String>,
    pub end_user: Option<String>,
    pub organization_id: Option<String>,
    pub model: Option<String>,
    pub model_group: Option<String>,
    pub request_id: Option<String>,
    pub status: Option<String>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    /// Keyset paging: only rows strictly after this `(start_time, request_id)` in the
    /// newest-first order of [`Store::spend_logs`].
    pub before: Option<(i64, String)>,
}

/// A grouping dimension for [`Store::spend_grouped`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    /// UTC day of `start_time`, as "YYYY-MM-DD".
    Day,
    ApiKey,
    KeyAlias,
    User,
    TeamId,
    EndUser,
    OrganizationId,
    /// Upstream model.
    Model,
    /// What the client asked for.
    ModelGroup,
    /// `custom_llm_provider`.
    Provider,
}

impl Dim {
    fn expr(self) -> &'static str {
        match self {
            Dim::Day => "(start_time / 86400000)",
            Dim::ApiKey => "api_key",
            Dim::KeyAlias => "key_alias",
            Dim::User => "user_id",
            Dim::TeamId => "team_id",
            Dim::EndUser => "end_user",
            Dim::OrganizationId => "organization_id",
            Dim::Model => "model",
            Dim::ModelGroup => "model_group",
            Dim::Provider => "custom_llm_provider",
        }
    }
}

/// One group of [`Store::spend_grouped`].
#[derive(Debug, Clone, PartialEq)]
pub struct SpendGroup {
    /// One per requested [`Dim`], in order; `None` where the column is NULL.
    pub keys: Vec<Option<String>>,
    pub spend: f64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    pub requests: i64,
}

enum Arg {
    Text(String),
    Int(i64),
}

/// `WHERE …` (or "") with `$1..` placeholders, and the values to bind in order.
fn where_clause(f: &LogFilter) -> (String, Vec<Arg>) {
    let mut conds: Vec<String> = Vec::new();
    let mut args: Vec<Arg> = Vec::new();
    let text = [
        ("api_key", &f.api_key),
        ("user_id", &f.user),
        ("team_id", &f.team_id),
        ("end_user", &f.end_user),
        ("organization_id", &f.organization_id),
        ("model", &f.model),
        ("model_group", &f.model_group),
    ];
    for (col, val) in text {
        if let Some(v) = val {
            args.push(Arg::Text(v.clone()));
            conds.push(format!("{col} = ${}", args.len()));
        }
    }
    // The two statuses are literals, not parameters: a planner can match a literal to the
    // partial failure indexes (`log_indexes`), never a bound value.
    match f.status.as_deref() {
        Some(s @ ("success" | "failure")) => conds.push(format!("status = '{s}'")),
        Some(s) => {
            args.push(Arg::Text(s.to_string()));
            conds.push(format!("status = ${}", args.len()));
        }
        None => {}
    }
    // A request id is the response's id or the call id (`x-litellm-call-id`).
    if let Some(v) = &f.request_id {
        args.push(Arg::Text(v.clone()));
        args.push(Arg::Text(v.clone()));
        let n = args.len();
        conds.push(format!("(response_id = ${} OR request_id = ${n})", n - 1));
    }
    if let Some(v) = f.start_ms {
        args.push(Arg::Int(v));
        conds.push(format!("start_time >= ${}", args.len()));
    }
    if let Some(v) = f.end_ms {
        args.push(Arg::Int(v));
        conds.push(format!("start_time < ${}", args.len()));
    }
    if let Some((t, id)) = &f.before {
        args.push(Arg::Int(*t));
        let tn = args.len();
        args.push(Arg::Text(id.clone()));
        let idn = args.len();
        // A row value: both planners bound the index range by it (an OR would filter rows).
        conds.push(format!("(start_time, request_id) < (${tn}, ${idn})"));
    }
    if conds.is_empty() {
        (String::new(), args)
    } else {
        (format!(" WHERE {}", conds.join(" AND ")), args)
    }
}

fn bind_all<'q>(
    mut q: Query<'q, Any, AnyArguments<'q>>,
    args: Vec<Arg>,
) -> Query<'q, Any, AnyArguments<'q>> {
    for a in args {
        q = match a {
            Arg::Text(s) => q.bind(s),
            Arg::Int(i) => q.bind(i),
        };
    }
    q
}

/// Group keys compare element-wise, `None` after every value (the same on both backends,
/// independent of the PostgreSQL collation).
fn cmp_keys(a: &[Option<String>], b: &[Option<String>]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (x, y) {
            (Some(x), Some(y)) => x.as_bytes().cmp(y.as_bytes()),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

impl Store {
    /// Spend logs matching the filter, newest first (`start_time DESC, request_id DESC`),
    /// paged by `limit`/`offset` (negative values count as 0).
    pub async fn spend_logs(&self, f: &LogFilter) -> Result<Vec<SpendLog>> {
        let (cond, mut args) = where_clause(f);
        let mut sql = format!(
            "SELECT {LOG_COLUMNS} FROM tollgate_spend_logs{cond} ORDER BY start_time DESC, request_id DESC"
        );
        if f.limit.is_some() || f.offset.is_some() {
            args.push(Arg::Int(f.limit.unwrap_or(i64::MAX).max(0)));
            sql.push_str(&format!(" LIMIT ${}", args.len()));
            args.push(Arg::Int(f.offset.unwrap_or(0).max(0)));
            sql.push_str(&format!(" OFFSET ${}", args.len()));
        }
        let rows = bind_all(sqlx::query(&sql), args)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(row_to_log).collect::<sqlx::Result<_>>()?)
    }

    /// The spend log with this call id (`request_id`, the primary key), else the one whose
    /// response id it is; an index lookup either way (`api_key`, when given, must match too).
    pub async fn spend_log_by_id(
        &self,
        id: &str,
        api_key: Option<&str>,
    ) -> Result<Option<SpendLog>> {
        for col in ["request_id", "response_id"] {
            let sql = format!(
                "SELECT {LOG_COLUMNS} FROM tollgate_spend_logs WHERE {col} = $1 \
                 AND ($2 = '' OR api_key = $2) LIMIT 1"
            );
            let row = sqlx::query(&sql)
                .bind(id)
                .bind(api_key.unwrap_or(""))
                .fetch_optional(&self.pool)
                .await?;
            if let Some(r) = row {
                return Ok(Some(row_to_log(&r)?));
            }
        }
        Ok(None)
    }

    /// Number of spend logs matching the filter (ignores `limit`/`offset`).
    pub async fn count_spend_logs(&self, f: &LogFilter) -> Result<i64> {
        let (cond, args) = where_clause(f);
        let sql = format!("SELECT COUNT(*) FROM tollgate_spend_logs{cond}");
        let row = bind_all(sqlx::query(&sql), args)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Sum of `spend` over the logs matching the filter (0 when none).
    pub async fn total_spend(&self, f: &LogFilter) -> Result<f64> {
        let (cond, args) = where_clause(f);
        let sql = format!("SELECT COALESCE(SUM(spend), 0.0) FROM tollgate_spend_logs{cond}");
        let row = bind_all(sqlx::query(&sql), args)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Aggregates over the logs matching the filter, one row per distinct combination of the
    /// `by` dimensions (in that order), ordered by the keys (byte order, NULL last). With an
    /// empty `by`, one overall row (none if nothing matches). Ignores `limit`/`offset`.
    pub async fn spend_grouped(&self, f: &LogFilter, by: &[Dim]) -> Result<Vec<SpendGroup>> {
        let (cond, args) = where_clause(f);
        let exprs: Vec<&str> = by.iter().map(|d| d.expr()).collect();
        let mut select: Vec<String> = exprs.iter().map(|e| e.to_string()).collect();
        select.extend([
            "COALESCE(SUM(spend), 0.0)".to_string(),
            "CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT)".to_string(),
            "CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT)".to_string(),
            "CAST(COALESCE(SUM(total_tokens), 0) AS BIGINT)".to_string(),
            "COUNT(*)".to_string(),
        ]);
        let mut sql = format!(
            "SELECT {} FROM tollgate_spend_logs{cond}",
            select.join(", ")
        );
        if !exprs.is_empty() {
            sql.push_str(&format!(" GROUP BY {}", exprs.join(", ")));
        }
        let rows = bind_all(sqlx::query(&sql), args)
            .fetch_all(&self.pool)
            .await?;
        let n = by.len();
        let mut groups = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut keys = Vec::with_capacity(n);
            for (i, dim) in by.iter().enumerate() {
                keys.push(match dim {
                    Dim::Day => row.try_get::<Option<i64>, _>(i)?.map(day_string),
                    _ => row.try_get::<Option<String>, _>(i)?,
                });
            }
            let g = SpendGroup {
                keys,
                spend: row.try_get(n)?,
                prompt_tokens: row.try_get(n + 1)?,
                completion_tokens: row.try_get(n + 2)?,
                total_tokens: row.try_get(n + 3)?,
                requests: row.try_get(n + 4)?,
            };
            if g.requests > 0 {
                groups.push(g);
            }
        }
        groups.sort_by(|a, b| cmp_keys(&a.keys, &b.keys));
        Ok(groups)
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn day_strings() {
        assert_eq!(day_string(0), "1970-01-01");
        assert_eq!(day_string(19_723), "2024-01-01");
        assert_eq!(day_string(19_782), "2024-02-29");
        assert_eq!(day_string(-1), "1969-12-31");
        assert_eq!(day_string(1_740_787_200_000 / 86_400_000), "2025-03-01");
    }

    #[test]
    fn where_clause_numbers_placeholders_in_order() {
        let f = LogFilter {
            team_id: Some("t".into()),
            model: Some("m".into()),
            start_ms: Some(5),
            end_ms: Some(9),
            ..Default::default()
        };
        let (sql, args) = where_clause(&f);
        assert_eq!(
            sql,
            " WHERE team_id = $1 AND model = $2 AND start_time >= $3 AND start_time < $4"
        );
        assert_eq!(args.len(), 4);
        assert_eq!(where_clause(&LogFilter::default()).0, "");
    }

    #[test]
    fn keys_sort_none_last() {
        let mut v = [
            vec![None, Some("a".to_string())],
            vec![Some("b".to_string()), None],
            vec![Some("b".to_string()), Some("a".to_string())],
        ];
        v.sort_by(|a, b| cmp_keys(a, b));
        assert_eq!(v[0], vec![Some("b".to_string()), Some("a".to_string())]);
        assert_eq!(v[2], vec![None, Some("a".to_string())]);
    }
}
