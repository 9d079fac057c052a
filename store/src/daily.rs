//! The daily usage tables (`tollgate_daily_spend`, `tollgate_daily_tag_spend`): their DDL and
//! backfill (migration 5) and the upserts the spend writer runs in its flush transaction
//! ([`add_logs`]). The reads are in `daily_read`.
//!
//! One row per UTC day × key × team × user × model group × model × provider (and × tag in the
//! tag table). Absent attributes are stored as `""` so they can sit in the primary key. The
//! usage routes read only these tables, never the spend-log table.

use std::collections::BTreeMap;

use sqlx::{Any, Transaction};

use crate::{statement_chunks, values_placeholders, Backend, Result, SpendLog};

/// The metric columns of a backfill `SELECT`, in table order after the key columns.
macro_rules! backfill_metrics {
    () => {
        "MAX(key_alias), SUM(spend), COUNT(*), \
         SUM(CASE WHEN status = 'failure' THEN 0 ELSE 1 END), \
         SUM(CASE WHEN status = 'failure' THEN 1 ELSE 0 END), \
         SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens), SUM(cache_hit)"
    };
}

/// Migration 5: the tables, their indexes, the backfill from existing spend logs, and the
/// spend-log indexes the filtered log pages need.
pub(crate) const STATEMENTS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS tollgate_daily_spend (
        date TEXT NOT NULL,
        api_key TEXT NOT NULL,
        team_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        model_group TEXT NOT NULL,
        model TEXT NOT NULL,
        custom_llm_provider TEXT NOT NULL,
        key_alias TEXT,
        spend DOUBLE PRECISION NOT NULL,
        requests BIGINT NOT NULL,
        successes BIGINT NOT NULL,
        failures BIGINT NOT NULL,
        prompt_tokens BIGINT NOT NULL,
        completion_tokens BIGINT NOT NULL,
        cached_tokens BIGINT NOT NULL,
        cache_hits BIGINT NOT NULL,
        PRIMARY KEY (date, api_key, team_id, user_id, model_group, model, custom_llm_provider)
    )",
    "CREATE INDEX IF NOT EXISTS tollgate_daily_spend_key ON tollgate_daily_spend (api_key, date)",
    "CREATE INDEX IF NOT EXISTS tollgate_daily_spend_team ON tollgate_daily_spend (team_id, date)",
    "CREATE INDEX IF NOT EXISTS tollgate_daily_spend_user ON tollgate_daily_spend (user_id, date)",
    "CREATE INDEX IF NOT EXISTS tollgate_daily_spend_group ON tollgate_daily_spend (model_group, date)",
    "CREATE TABLE IF NOT EXISTS tollgate_daily_tag_spend (
        date TEXT NOT NULL,
        tag TEXT NOT NULL,
        api_key TEXT NOT NULL,
        team_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        model_group TEXT NOT NULL,
        model TEXT NOT NULL,
        custom_llm_provider TEXT NOT NULL,
        key_alias TEXT,
        spend DOUBLE PRECISION NOT NULL,
        requests BIGINT NOT NULL,
        successes BIGINT NOT NULL,
        failures BIGINT NOT NULL,
        prompt_tokens BIGINT NOT NULL,
        completion_tokens BIGINT NOT NULL,
        cached_tokens BIGINT NOT NULL,
        cache_hits BIGINT NOT NULL,
        PRIMARY KEY (date, tag, api_key, team_id, user_id, model_group, model, custom_llm_provider)
    )",
    "CREATE INDEX IF NOT EXISTS tollgate_daily_tag_spend_tag ON tollgate_daily_tag_spend (tag, date)",
    // Backfill from the spend logs already stored.
    concat!(
        "-- postgres\n",
        "INSERT INTO tollgate_daily_spend SELECT ",
        "to_char(TIMESTAMP 'epoch' + start_time * INTERVAL '1 millisecond', 'YYYY-MM-DD') AS d, ",
        "api_key, COALESCE(team_id, ''), COALESCE(user_id, ''), model_group, model, custom_llm_provider, ",
        backfill_metrics!(),
        " FROM tollgate_spend_logs GROUP BY 1, 2, 3, 4, 5, 6, 7"
    ),
    concat!(
        "-- sqlite\n",
        "INSERT INTO tollgate_daily_spend SELECT ",
        "strftime('%Y-%m-%d', start_time / 1000, 'unixepoch') AS d, ",
        "api_key, COALESCE(team_id, ''), COALESCE(user_id, ''), model_group, model, custom_llm_provider, ",
        backfill_metrics!(),
        " FROM tollgate_spend_logs GROUP BY 1, 2, 3, 4, 5, 6, 7"
    ),
    concat!(
        "-- postgres\n",
        "INSERT INTO tollgate_daily_tag_spend SELECT ",
        "to_char(TIMESTAMP 'epoch' + start_time * INTERVAL '1 millisecond', 'YYYY-MM-DD') AS d, ",
        "t.tag, api_key, COALESCE(team_id, ''), COALESCE(user_id, ''), model_group, model, custom_llm_provider, ",
        backfill_metrics!(),
        " FROM tollgate_spend_logs, jsonb_array_elements_text(CASE WHEN jsonb_typeof(request_tags::jsonb) = 'array' ",
        "THEN request_tags::jsonb ELSE '[]'::jsonb END) AS t(tag) GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"
    ),
    concat!(
        "-- sqlite\n",
        "INSERT INTO tollgate_daily_tag_spend SELECT ",
        "strftime('%Y-%m-%d', start_time / 1000, 'unixepoch') AS d, ",
        "t.value, api_key, COALESCE(team_id, ''), COALESCE(user_id, ''), model_group, model, custom_llm_provider, ",
        backfill_metrics!(),
        " FROM tollgate_spend_logs, json_each(CASE WHEN json_valid(request_tags) AND json_type(request_tags) = 'array' ",
        "THEN request_tags ELSE '[]' END) AS t GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"
    ),
    // The log page's filters, each with its time order (`/tollgate/logs`).
    "CREATE INDEX IF NOT EXISTS tollgate_spend_logs_model ON tollgate_spend_logs (model, start_time)",
    "CREATE INDEX IF NOT EXISTS tollgate_spend_logs_model_group ON tollgate_spend_logs (model_group, start_time)",
    "CREATE INDEX IF NOT EXISTS tollgate_spend_logs_status ON tollgate_spend_logs (status, start_time)",
];

/// "YYYY-MM-DD" for a day number since 1970-01-01 (proleptic Gregorian, UTC).
pub(crate) fn day_string(days: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Summed usage of some requests.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub spend: f64,
    pub requests: i64,
    pub successes: i64,
    pub failures: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cached_tokens: i64,
    pub cache_hits: i64,
}

impl Usage {
    fn add_log(&mut self, l: &SpendLog) {
        self.spend += if l.spend.is_finite() { l.spend } else { 0.0 };
        self.requests += 1;
        if l.status == "failure" {
            self.failures += 1;
        } else {
            self.successes += 1;
        }
        self.prompt_tokens += l.prompt_tokens;
        self.completion_tokens += l.completion_tokens;
        self.cached_tokens += l.cached_tokens;
        self.cache_hits += i64::from(l.cache_hit);
    }

    /// Adds another sum into this one.
    pub fn merge(&mut self, o: &Usage) {
        self.spend += o.spend;
        self.requests += o.requests;
        self.successes += o.successes;
        self.failures += o.failures;
        self.prompt_tokens += o.prompt_tokens;
        self.completion_tokens += o.completion_tokens;
        self.cached_tokens += o.cached_tokens;
        self.cache_hits += o.cache_hits;
    }

    pub fn total_tokens(&self) -> i64 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// The key columns of `tollgate_daily_spend` after `date` (the tag table adds `tag` first).
const KEY_COLUMNS: &str = "api_key, team_id, user_id, model_group, model, custom_llm_provider";
const METRIC_COLUMNS: &str = "key_alias, spend, requests, successes, failures, prompt_tokens, \
    completion_tokens, cached_tokens, cache_hits";

/// One row's key: (day number, tag or "", api_key, team, user, model group, model, provider),
/// borrowed from the logs. The day sorts as its date string does (both count up), so rows go
/// to the database in the same order as when the key held the string.
type RowKey<'a> = (
    i64,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
);

/// Rows per upsert statement (at most 17 parameters each).
const CHUNK: usize = 500;

/// Adds these (newly inserted) spend-log rows to the daily tables, inside the caller's
/// transaction: summed per table row in memory first (keys borrowed from the logs, nothing
/// allocated per log), so a flush of N requests touches each daily row once.
pub(crate) async fn add_logs<'a>(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    logs: impl Iterator<Item = &'a SpendLog>,
) -> Result<()> {
    let mut plain: BTreeMap<RowKey<'a>, (Usage, Option<&'a str>)> = BTreeMap::new();
    let mut tagged: BTreeMap<RowKey<'a>, (Usage, Option<&'a str>)> = BTreeMap::new();
    for l in logs {
        let day = l.start_time.div_euclid(86_400_000);
        let key = |tag: &'a str| -> RowKey<'a> {
            (
                day,
                tag,
                l.api_key.as_str(),
                l.team_id.as_deref().unwrap_or_default(),
                l.user.as_deref().unwrap_or_default(),
                l.model_group.as_str(),
                l.model.as_str(),
                l.custom_llm_provider.as_str(),
            )
        };
        let e = plain.entry(key("")).or_default();
        e.0.add_log(l);
        e.1 = l.key_alias.as_deref().or(e.1);
        for (i, t) in l.request_tags.iter().enumerate() {
            if l.request_tags[..i].contains(t) {
                continue;
            }
            let e = tagged.entry(key(t)).or_default();
            e.0.add_log(l);
            e.1 = l.key_alias.as_deref().or(e.1);
        }
    }
    let rows: Vec<_> = plain.into_iter().collect();
    for chunk in statement_chunks(&rows, CHUNK) {
        upsert(tx, backend, false, chunk).await?;
    }
    let rows: Vec<_> = tagged.into_iter().collect();
    for chunk in statement_chunks(&rows, CHUNK) {
        upsert(tx, backend, true, chunk).await?;
    }
    Ok(())
}

async fn upsert(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    tag: bool,
    rows: &[(RowKey<'_>, (Usage, Option<&str>))],
) -> Result<()> {
    let (table, keys) = if tag {
        (
            "tollgate_daily_tag_spend",
            format!("date, tag, {KEY_COLUMNS}"),
        )
    } else {
        ("tollgate_daily_spend", format!("date, {KEY_COLUMNS}"))
    };
    let cols = if tag { 17 } else { 16 };
    let sum = |c: &str| format!("{c} = {table}.{c} + excluded.{c}");
    let sql = format!(
        "INSERT INTO {table} ({keys}, {METRIC_COLUMNS}) VALUES {}
         ON CONFLICT ({keys}) DO UPDATE SET
            key_alias = COALESCE(excluded.key_alias, {table}.key_alias), {}",
        values_placeholders(backend, rows.len(), cols),
        [
            "spend",
            "requests",
            "successes",
            "failures",
            "prompt_tokens",
            "completion_tokens",
            "cached_tokens",
            "cache_hits",
        ]
        .map(sum)
        .join(", ")
    );
    let dates: Vec<String> = rows.iter().map(|((day, ..), _)| day_string(*day)).collect();
    let mut q = sqlx::query(&sql);
    for (((_, t, key, team, user, group, model, provider), (u, alias)), date) in
        rows.iter().zip(&dates)
    {
        q = q.bind(date.as_str());
        if tag {
            q = q.bind(*t);
        }
        q = q
            .bind(*key)
            .bind(*team)
            .bind(*user)
            .bind(*group)
            .bind(*model)
            .bind(*provider)
            .bind(*alias)
            .bind(u.spend)
            .bind(u.requests)
            .bind(u.successes)
            .bind(u.failures)
            .bind(u.prompt_tokens)
            .bind(u.completion_tokens)
            .bind(u.cached_tokens)
            .bind(u.cache_hits);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}
