//! LiteLLM's spend history: `LiteLLM_SpendLogs` rows (optional, `--spend-logs since=…`) into
//! Tollgate's spend logs, and the daily spend tables into `tollgate_litellm_daily_spend`,
//! which the LiteLLM-shaped daily views read. Both are streamed in batches.

use serde_json::{json, Value};
use store::{DailyRow, LiteLlmSource, SpendLog, Store};

use super::map::{f64_of, str_of, time_of, Row};
use super::report::{Progress, Report};

/// Log rows written per batch.
const BATCH: usize = 2_000;

/// `--spend-logs`: `since=30d` (a duration back from now), `since=2026-01-01` (an instant) or
/// `all`. Returns the earliest `startTime` to import, Unix ms (`i64::MIN` for all).
pub fn parse_since(arg: &str, now_ms: i64) -> Result<i64, String> {
    let arg = arg.trim();
    if arg == "all" {
        return Ok(i64::MIN);
    }
    let v = arg.strip_prefix("since=").ok_or_else(|| {
        format!("--spend-logs {arg:?}: expected since=30d, since=2026-01-01 or all")
    })?;
    if let Some(t) = crate::control::period::parse_instant(v) {
        return Ok(t);
    }
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let n: i64 = v[..split]
        .parse()
        .map_err(|_| format!("--spend-logs since={v}: expected e.g. 30d, 12h, 2w or a date"))?;
    let unit = match &v[split..] {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        u => {
            return Err(format!(
                "--spend-logs since={v}: unknown unit {u:?} (s, m, h, d, w)"
            ))
        }
    };
    Ok(now_ms - n.saturating_mul(unit))
}

/// A `LiteLLM_SpendLogs` row → a Tollgate spend log row. LiteLLM's `request_id` (the
/// response id) is kept as both the row's id and its `response_id`, so the views show it as
/// LiteLLM did and a second import finds it.
pub fn spend_log(row: &Row, rep: &mut Report) -> Option<SpendLog> {
    const T: &str = "LiteLLM_SpendLogs";
    let Some(id) = str_of(row, "request_id") else {
        rep.skip(T, "?", "no request_id");
        return None;
    };
    let Some(start) = time_of(row, "startTime") else {
        rep.skip(T, &id, "no startTime");
        return None;
    };
    let int = |k: &str| row.get(k).and_then(Value::as_i64).unwrap_or(0);
    let s = |k: &str| str_of(row, k).unwrap_or_default();
    let mut metadata = match row.get("metadata") {
        Some(Value::Object(m)) => m.clone(),
        _ => Default::default(),
    };
    // Columns Tollgate's log rows do not have, kept in the metadata (the views read them back).
    for k in [
        "cache_key",
        "requester_ip_address",
        "session_id",
        "completionStartTime",
    ] {
        if let Some(v) = str_of(row, k) {
            metadata.entry(k.to_string()).or_insert(json!(v));
        }
    }
    let tags = match row.get("request_tags") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let key_alias = metadata
        .get("user_api_key_alias")
        .and_then(Value::as_str)
        .map(str::to_string);
    let organization_id = str_of(row, "organization_id").or_else(|| {
        metadata
            .get("user_api_key_org_id")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let cached = metadata
        .get("usage_object")
        .and_then(|u| u.get("prompt_tokens_details"))
        .and_then(|d| d.get("cached_tokens"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let status = str_of(row, "status").unwrap_or_else(|| "success".into());
    Some(SpendLog {
        request_id: id.clone(),
        call_type: s("call_type"),
        api_key: s("api_key"),
        key_alias,
        spend: f64_of(row, "spend"),
        prompt_tokens: int("prompt_tokens"),
        completion_tokens: int("completion_tokens"),
        total_tokens: int("total_tokens"),
        cached_tokens: cached,
        start_time: start,
        end_time: time_of(row, "endTime").unwrap_or(start),
        model: s("model"),
        model_group: s("model_group"),
        model_id: s("model_id"),
        custom_llm_provider: s("custom_llm_provider"),
        api_base: s("api_base"),
        user: str_of(row, "user"),
        team_id: str_of(row, "team_id"),
        organization_id,
        end_user: str_of(row, "end_user"),
        status: if status == "failure" {
            status
        } else {
            "success".into()
        },
        cache_hit: row
            .get("cache_hit")
            .and_then(Value::as_str)
            .is_some_and(|c| c.eq_ignore_ascii_case("true")),
        request_tags: tags,
        metadata: Value::Object(metadata),
        response_id: Some(id),
    })
}

/// Imports `LiteLLM_SpendLogs` from `since` (Unix ms) on, in batches.
pub async fn import_spend_logs(
    src: &LiteLlmSource,
    dst: &Store,
    since: i64,
    dry_run: bool,
    rep: &mut Report,
) -> Result<(), String> {
    const T: &str = "LiteLLM_SpendLogs";
    if !src.has_table(T).await.map_err(|e| e.to_string())? {
        rep.note(
            T,
            "-",
            "table absent in this LiteLLM version",
            "nothing to import",
        );
        return Ok(());
    }
    let since_text = super::map::iso(since.max(0));
    let since_sql = "\"startTime\" >= CAST($1 AS timestamptz) AT TIME ZONE 'UTC'";
    let filter = (since > i64::MIN).then_some((since_sql, since_text.as_str()));
    let total = src.count(T, filter).await.map_err(|e| e.to_string())?;
    let mut progress = Progress::new(T, total);
    // Keyset pages on ("startTime", request_id): memory stays one page, however long the table.
    let mut after: Option<(String, String)> = None;
    loop {
        let (cond, args) = match &after {
            None => ("TRUE".to_string(), vec![]),
            Some((t, id)) => (
                "(\"startTime\", request_id) > (CAST($1 AS timestamp), $2)".to_string(),
                vec![t.clone(), id.clone()],
            ),
        };
        let (cond, args) = if since > i64::MIN {
            let n = args.len() + 1;
            let mut a = args;
            a.push(since_text.clone());
            (
                format!("{cond} AND \"startTime\" >= CAST(${n} AS timestamptz) AT TIME ZONE 'UTC'"),
                a,
            )
        } else {
            (cond, args)
        };
        let page = src
            .page(T, &cond, &args, "\"startTime\", request_id", BATCH)
            .await
            .map_err(|e| e.to_string())?;
        let mut batch = Vec::with_capacity(page.len());
        let before = after.clone();
        for text in &page {
            progress.tick();
            rep.counts(T).read += 1;
            match serde_json::from_str::<Row>(text) {
                Ok(row) => {
                    if let (Some(t), Some(id)) = (
                        row.get("startTime").and_then(Value::as_str),
                        row.get("request_id").and_then(Value::as_str),
                    ) {
                        after = Some((t.to_string(), id.to_string()));
                    }
                    if let Some(l) = spend_log(&row, rep) {
                        batch.push(l);
                    }
                }
                Err(e) => rep.skip(T, "?", format!("unreadable row: {e}")),
            }
        }
        write_logs(dst, &batch, dry_run, rep).await?;
        if page.len() == BATCH && after == before {
            return Err(format!("{T}: a page of {BATCH} unreadable rows; stopping"));
        }
        if page.len() < BATCH {
            break;
        }
    }
    progress.finish();
    Ok(())
}

async fn write_logs(
    dst: &Store,
    logs: &[SpendLog],
    dry_run: bool,
    rep: &mut Report,
) -> Result<(), String> {
    const T: &str = "LiteLLM_SpendLogs";
    if logs.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = logs.iter().map(|l| l.request_id.as_str()).collect();
    let mut existing = 0;
    for chunk in ids.chunks(500) {
        existing += dst
            .existing_log_ids(chunk)
            .await
            .map_err(|e| e.to_string())?
            .len() as u64;
    }
    let new = logs.len() as u64 - existing;
    if !dry_run && new > 0 {
        dst.import_logs(logs).await.map_err(|e| e.to_string())?;
    }
    let c = rep.counts(T);
    c.created += new;
    c.unchanged += existing;
    Ok(())
}

/// The daily tables imported, with the `kind` their rows get and their entity column.
pub const DAILY_TABLES: &[(&str, &str, &str)] = &[
    ("LiteLLM_DailyUserSpend", "user", "user_id"),
    ("LiteLLM_DailyTeamSpend", "team", "team_id"),
    ("LiteLLM_DailyOrganizationSpend", "org", "organization_id"),
    ("LiteLLM_DailyEndUserSpend", "end_user", "end_user_id"),
    ("LiteLLM_DailyTagSpend", "tag", "tag"),
];

fn daily_row(row: &Row, kind: &str, col: &str) -> Option<DailyRow> {
    let int = |k: &str| row.get(k).and_then(Value::as_i64).unwrap_or(0);
    Some(DailyRow {
        kind: kind.to_string(),
        id: str_of(row, "id")?,
        entity_id: str_of(row, col),
        date: str_of(row, "date")?,
        api_key: str_of(row, "api_key").unwrap_or_default(),
        model: str_of(row, "model"),
        model_group: str_of(row, "model_group"),
        custom_llm_provider: str_of(row, "custom_llm_provider"),
        mcp_namespaced_tool_name: str_of(row, "mcp_namespaced_tool_name"),
        endpoint: str_of(row, "endpoint"),
        prompt_tokens: int("prompt_tokens"),
        completion_tokens: int("completion_tokens"),
        cache_read_input_tokens: int("cache_read_input_tokens"),
        cache_creation_input_tokens: int("cache_creation_input_tokens"),
        spend: f64_of(row, "spend"),
        api_requests: int("api_requests"),
        successful_requests: int("successful_requests"),
        failed_requests: int("failed_requests"),
        created_at: time_of(row, "created_at").unwrap_or(0),
        updated_at: time_of(row, "updated_at").unwrap_or(0),
    })
}

/// Imports every daily spend table LiteLLM has.
pub async fn import_daily(
    src: &LiteLlmSource,
    dst: &Store,
    dry_run: bool,
    rep: &mut Report,
) -> Result<(), String> {
    for (table, kind, col) in DAILY_TABLES {
        if !src.has_table(table).await.map_err(|e| e.to_string())? {
            continue;
        }
        let total = src.count(table, None).await.map_err(|e| e.to_string())?;
        let mut progress = Progress::new(table, total);
        let mut rows = Vec::new();
        src.for_each_row(table, None, "date, id", |text| {
            progress.tick();
            rep.counts(table).read += 1;
            match serde_json::from_str::<Row>(&text)
                .ok()
                .and_then(|r| daily_row(&r, kind, col))
            {
                Some(r) => rows.push(r),
                None => rep.skip(table, "?", "unreadable row or no id/date"),
            }
            Ok::<(), String>(())
        })
        .await
        .map_err(|e| e.to_string())??;
        progress.finish();
        let (created, changed) = dst
            .import_daily(&rows, dry_run)
            .await
            .map_err(|e| e.to_string())?;
        let c = rep.counts(table);
        c.created += created;
        c.updated += changed;
        c.unchanged += rows.len() as u64 - created - changed;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_dates_and_all() {
        let now = 10 * 86_400_000;
        assert_eq!(parse_since("since=1d", now), Ok(9 * 86_400_000));
        assert_eq!(parse_since("since=2w", now), Ok(now - 14 * 86_400_000));
        assert_eq!(parse_since("since=1970-01-02", now), Ok(86_400_000));
        assert_eq!(parse_since("all", now), Ok(i64::MIN));
        assert!(parse_since("30d", now).is_err());
        assert!(parse_since("since=3y", now).is_err());
    }

    #[test]
    fn a_spend_log_row_maps_with_its_ids_and_times() {
        let mut rep = Report::default();
        let Value::Object(row) = json!({
            "request_id": "chatcmpl-1", "call_type": "acompletion", "api_key": "ab",
            "spend": 0.5, "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
            "startTime": "2026-11-01T10:00:00.5", "endTime": "2026-11-01T10:00:01",
            "model": "gpt-4o", "user": "u1", "team_id": "t1", "cache_hit": "True",
            "request_tags": ["a"], "metadata": {"user_api_key_alias": "app"},
            "session_id": "s1", "status": null
        }) else {
            panic!()
        };
        let l = spend_log(&row, &mut rep).unwrap();
        assert_eq!(
            (l.request_id.as_str(), l.response_id.as_deref()),
            ("chatcmpl-1", Some("chatcmpl-1"))
        );
        assert_eq!(
            l.start_time,
            crate::control::period::parse_instant("2026-11-01T10:00:00.5Z").unwrap()
        );
        assert_eq!(
            (l.user.as_deref(), l.team_id.as_deref()),
            (Some("u1"), Some("t1"))
        );
        assert!(l.cache_hit);
        assert_eq!(l.status, "success");
        assert_eq!(l.key_alias.as_deref(), Some("app"));
        assert_eq!(l.metadata["session_id"], "s1");
    }
}
