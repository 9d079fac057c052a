//! The admin UI's log pages: `GET /tollgate/logs` (filtered spend-log rows, newest first, keyset
//! paging: no OFFSET scan, no count over the table) and `GET /tollgate/logs/{call_id}` (one
//! request in detail). A caller that is not an admin sees only its own key's rows.

use serde_json::{json, Value};
use store::LogFilter;

use super::access::{own_key_scope, Who};
use super::error::AdminError;
use super::log_rows::{detail, list_row};
use super::request::{date_param, page_param, Req};
use crate::control::enforce::hash_key;
use crate::control::Control;
use crate::error::GatewayError;

/// Rows per page at most.
const MAX_LIMIT: usize = 500;

/// `<start_time ms>:<call id>` of the last row of a page.
fn parse_cursor(s: &str) -> Result<(i64, String), AdminError> {
    s.split_once(':')
        .and_then(|(t, id)| Some((t.parse::<i64>().ok()?, id.to_string())))
        .filter(|(_, id)| !id.is_empty())
        .ok_or_else(|| {
            AdminError::bad("cursor", "cursor must be a next_cursor this route returned")
        })
}

/// Writes queued spend first, so the page includes every request settled up to now.
async fn flush(c: &Control) {
    if let Err(e) = c.flush().await {
        log::warn!("logs: writing the queued spend first failed ({e}); answering from the database as it is");
    }
}

/// `GET /tollgate/logs`.
pub async fn list(c: &Control, who: &Who, req: &Req) -> Result<Value, AdminError> {
    let mut f = LogFilter {
        api_key: req.string("api_key")?.filter(|k| !k.is_empty()).map(|k| {
            if k.starts_with("sk-") {
                hash_key(&k)
            } else {
                k
            }
        }),
        start_ms: date_param(req, "start_date", false)?,
        end_ms: date_param(req, "end_date", true)?,
        ..LogFilter::default()
    };
    for (param, slot) in [
        ("team_id", &mut f.team_id),
        ("user_id", &mut f.user),
        ("model", &mut f.model),
        ("model_group", &mut f.model_group),
        ("status", &mut f.status),
    ] {
        *slot = req.string(param)?.filter(|s| !s.is_empty());
    }
    if let Some(s) = f.status.as_deref() {
        if s != "success" && s != "failure" {
            return Err(AdminError::bad(
                "status",
                "status must be success or failure",
            ));
        }
    }
    if let Some(own) = own_key_scope(who)? {
        if f.api_key.as_ref().is_some_and(|k| *k != own) {
            return Err(super::access::forbidden("a key may read only its own logs"));
        }
        f.api_key = Some(own);
    }
    let limit = page_param(req, "limit", MAX_LIMIT)?.unwrap_or(50) as i64;
    f.before = req
        .string("cursor")?
        .filter(|s| !s.is_empty())
        .map(|s| parse_cursor(&s))
        .transpose()?;
    // One row more than the page tells whether there is a next page.
    f.limit = Some(limit + 1);
    flush(c).await;
    let s = c.store().clone();
    let mut rows = c.db(async move { s.spend_logs(&f).await }).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = match rows.last() {
        Some(l) if more => json!(format!("{}:{}", l.start_time, l.request_id)),
        _ => Value::Null,
    };
    Ok(json!({
        "data": rows.into_iter().map(list_row).collect::<Vec<_>>(),
        "next_cursor": next,
    }))
}

/// `GET /tollgate/logs/{call_id}`: the call id or the response id.
pub async fn one(c: &Control, who: &Who, req: &Req) -> Result<Value, AdminError> {
    let id = req
        .path
        .strip_prefix("/tollgate/logs/")
        .unwrap_or_default()
        .to_string();
    let own = own_key_scope(who)?;
    flush(c).await;
    let s = c.store().clone();
    let wanted = id.clone();
    let row = c
        .db(async move { s.spend_log_by_id(&wanted, own.as_deref()).await })
        .await?;
    match row {
        Some(l) => Ok(detail(l)),
        None => Err(AdminError::from(GatewayError::Invalid(
            adapters::ApiError::new(
                404,
                "not_found_error",
                format!("No spend log with call id or response id {id:?} (rows are written within one flush interval)"),
            )
            .with_code("404"),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_a_400() {
        assert_eq!(parse_cursor("17:abc:d").unwrap(), (17, "abc:d".to_string()));
        assert!(parse_cursor("x:abc").is_err());
        assert!(parse_cursor("17:").is_err());
        assert!(parse_cursor("17").is_err());
    }
}
