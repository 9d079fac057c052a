//! Stored Responses API responses: what `POST /v1/responses` keeps (unless `store: false`) for
//! a later `previous_response_id`, `GET`/`DELETE /v1/responses/{id}` and `…/input_items`.
//!
//! The request path only queues what it already holds ([`Pending`]: the client's body, the
//! conversation it continued, the response) — a lock and a push. A writer on the control
//! plane's runtime turns each into a row (input items with ids, JSON text) and writes them in
//! batches; what is queued or being written is found by [`StoredResponses::get`] as well, so a
//! client may continue a conversation the moment its response ended. The table is kept inside
//! `tollgate_settings.responses_store_*` (count, bytes, TTL) by pruning after writes. Each
//! response belongs to the key that created it: another key is told it does not exist; the
//! master key (or a gateway without one) sees every response.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Map, Value};
use store::{ResponseBounds, Store, StoredResponse};

use crate::control::enforce::Caller;

/// Responses queued at most while the database does not take them; older ones are dropped.
const MAX_QUEUED: usize = 10_000;
/// Bytes queued at most (client bodies and responses), likewise.
const MAX_QUEUED_BYTES: usize = 64 << 20;
/// The writer's pace when nothing wakes it.
const WRITE_EVERY: Duration = Duration::from_millis(500);
/// Pruning (TTL, then count and bytes) runs after a write at most this often...
const PRUNE_AFTER_WRITES: Duration = Duration::from_secs(1);
/// ...and at least this often.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The response a request ended with, as relay had it.
pub enum ResponseBody {
    /// JSON bytes (a whole body, as sent to the client).
    Json(Bytes),
    /// A parsed object (the final event of a stream).
    Value(Value),
}

/// One response to store, as the request path hands it over.
pub struct Pending {
    pub id: String,
    /// See [`StoredResponse::owner`].
    pub owner: String,
    pub created_at_ms: i64,
    /// The client's request body.
    pub request: Bytes,
    /// The conversation the request continued (`previous_response_id`), oldest item first.
    pub history: Arc<Vec<Value>>,
    pub response: ResponseBody,
}

impl Pending {
    fn size(&self) -> usize {
        self.request.len()
            + match &self.response {
                ResponseBody::Json(b) => b.len(),
                ResponseBody::Value(_) => 4096,
            }
    }

    /// The row: input items = history + this request's input (ids given), response as text.
    fn to_row(&self, ttl: Duration) -> StoredResponse {
        let mut items: Vec<Value> = self.history.as_ref().clone();
        if let Ok(parsed) = adapters::responses::front::parse_object(&self.request) {
            items.extend(adapters::responses::front::input_items(&parsed));
        }
        let response = match &self.response {
            ResponseBody::Json(b) => String::from_utf8_lossy(b).into_owned(),
            ResponseBody::Value(v) => v.to_string(),
        };
        StoredResponse {
            id: self.id.clone(),
            owner: self.owner.clone(),
            created_at: self.created_at_ms,
            expires_at: self
                .created_at_ms
                .saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
            response,
            input_items: Value::Array(items).to_string(),
        }
    }
}

/// A queued response: as handed over, or already a row (made by the writer, or by a read that
/// came first — so that its item ids are the ones written).
#[derive(Clone)]
enum Slot {
    Raw(Arc<Pending>),
    Row(Arc<StoredResponse>),
}

impl Slot {
    fn size(&self) -> usize {
        match self {
            Slot::Raw(p) => p.size(),
            Slot::Row(r) => r.bytes() as usize,
        }
    }

    fn row(&self, ttl: Duration) -> Arc<StoredResponse> {
        match self {
            Slot::Raw(p) => Arc::new(p.to_row(ttl)),
            Slot::Row(r) => r.clone(),
        }
    }
}

/// Responses not written yet, oldest first. The first `in_flight` are being written: they stay
/// here (found by reads) until the write commits; one deleted meanwhile is marked instead of
/// removed, and deleted from the database once it is written.
#[derive(Default)]
struct Queue {
    items: Vec<(String, Slot)>,
    bytes: usize,
    in_flight: usize,
    deleted_while_writing: Vec<String>,
    dropped: u64,
}

impl Queue {
    fn find(&self, id: &str) -> Option<usize> {
        if self.deleted_while_writing.iter().any(|d| d == id) {
            return None;
        }
        self.items.iter().position(|(k, _)| k == id)
    }
}

/// A stored response as read back.
pub struct Found {
    pub owner: String,
    /// The Responses object, JSON text.
    pub response: String,
    /// Input items, JSON array text.
    pub input_items: String,
}

impl From<&StoredResponse> for Found {
    fn from(r: &StoredResponse) -> Found {
        Found {
            owner: r.owner.clone(),
            response: r.response.clone(),
            input_items: r.input_items.clone(),
        }
    }
}

impl Found {
    /// The items a `previous_response_id` continues from: this response's input items, then
    /// its output items.
    pub fn conversation(&self) -> Vec<Value> {
        let mut items: Vec<Value> = serde_json::from_str(&self.input_items).unwrap_or_default();
        if let Ok(response) = serde_json::from_str::<Value>(&self.response) {
            items.extend(adapters::responses::front::output_items(&response));
        }
        items
    }
}

/// The owner a response created by `caller` gets.
pub fn owner_of(caller: Option<&Caller>) -> String {
    caller
        .and_then(Caller::key)
        .map(|k| k.id.clone())
        .unwrap_or_default()
}

/// Whether `caller` may read a response owned by `owner`.
pub fn visible(caller: &Caller, owner: &str) -> bool {
    match caller {
        Caller::Key(k) => k.id == owner,
        Caller::Master | Caller::Open => true,
    }
}

pub struct StoredResponses {
    store: Store,
    rt: tokio::runtime::Handle,
    bounds: ResponseBounds,
    ttl: Duration,
    queue: Mutex<Queue>,
    wake: tokio::sync::Notify,
    writer: tokio::sync::Mutex<()>,
}

impl StoredResponses {
    /// Starts the writer on `rt` (the control plane's runtime).
    pub fn start(
        store: Store,
        rt: tokio::runtime::Handle,
        settings: &conf::TollgateSettings,
    ) -> Arc<StoredResponses> {
        let s = Arc::new(StoredResponses {
            store,
            rt: rt.clone(),
            bounds: ResponseBounds {
                max_count: settings.responses_store_max_count,
                max_bytes: settings.responses_store_max_bytes,
            },
            ttl: settings.responses_store_ttl,
            queue: Mutex::default(),
            wake: tokio::sync::Notify::new(),
            writer: tokio::sync::Mutex::new(()),
        });
        if s.enabled() {
            rt.spawn(write_loop(s.clone()));
        }
        s
    }

    /// Whether anything is stored (`responses_store_max_count` is not 0).
    pub fn enabled(&self) -> bool {
        self.bounds.max_count > 0 && self.bounds.max_bytes > 0
    }

    /// Queues a response for the writer. Called at the end of a request; never waits.
    pub fn put(&self, p: Pending) {
        if !self.enabled() {
            return;
        }
        let size = p.size();
        let mut q = self.queue.lock().expect("stored responses lock");
        q.bytes += size;
        q.items.push((p.id.clone(), Slot::Raw(Arc::new(p))));
        // Over the bounds (the database is not taking writes): the oldest not being written go.
        while (q.items.len() > MAX_QUEUED || q.bytes > MAX_QUEUED_BYTES)
            && q.items.len() > q.in_flight + 1
        {
            let at = q.in_flight;
            let (_, old) = q.items.remove(at);
            q.bytes = q.bytes.saturating_sub(old.size());
            q.dropped += 1;
        }
        let wake = q.items.len() - q.in_flight >= 64;
        drop(q);
        if wake {
            self.wake.notify_one();
        }
    }

    /// The response `id` if it exists and is not expired (its owner is the caller's to check).
    pub async fn get(&self, id: &str) -> Result<Option<Found>, store::StoreError> {
        let now = crate::clock::now_ms_i64();
        {
            let mut q = self.queue.lock().expect("stored responses lock");
            if let Some(i) = q.find(id) {
                let row = q.items[i].1.row(self.ttl);
                q.items[i].1 = Slot::Row(row.clone());
                return Ok((row.expires_at > now).then(|| Found::from(row.as_ref())));
            }
        }
        let (store, id) = (self.store.clone(), id.to_string());
        let row = self
            .rt
            .spawn(async move { store.get_response(&id, now).await })
            .await
            .expect("database task panicked")?;
        Ok(row.as_ref().map(Found::from))
    }

    /// Deletes the response `id`; whether there was one.
    pub async fn delete(&self, id: &str) -> Result<bool, store::StoreError> {
        let mut queued = false;
        {
            let mut q = self.queue.lock().expect("stored responses lock");
            if let Some(i) = q.find(id) {
                queued = true;
                if i < q.in_flight {
                    q.deleted_while_writing.push(id.to_string());
                } else {
                    let (_, old) = q.items.remove(i);
                    q.bytes = q.bytes.saturating_sub(old.size());
                }
            }
        }
        let (store, id) = (self.store.clone(), id.to_string());
        let in_db = self
            .rt
            .spawn(async move { store.delete_response(&id).await })
            .await
            .expect("database task panicked")?;
        Ok(queued || in_db)
    }

    /// Writes what is queued (at shutdown), within `limit`.
    pub async fn flush(&self, limit: Duration) -> Result<usize, store::StoreError> {
        match tokio::time::timeout(limit, self.write_batch()).await {
            Ok(r) => r,
            Err(_) => Err(store::StoreError::Timeout {
                what: "writing stored responses".into(),
                secs: limit.as_secs(),
            }),
        }
    }

    /// Writes what is queued in one transaction; the rows leave the queue once it commits (a
    /// failed batch stays, and is retried). Rows are made outside the lock.
    async fn write_batch(&self) -> Result<usize, store::StoreError> {
        // One batch at a time (the writer, and the final flush at shutdown).
        let _one = self.writer.lock().await;
        let (slots, dropped) = {
            let mut q = self.queue.lock().expect("stored responses lock");
            q.in_flight = q.items.len();
            let slots: Vec<Slot> = q.items.iter().map(|(_, s)| s.clone()).collect();
            (slots, std::mem::take(&mut q.dropped))
        };
        if dropped > 0 {
            log::error!(
                "stored responses: {dropped} responses dropped (the database did not take them in time)"
            );
        }
        if slots.is_empty() {
            return Ok(0);
        }
        let made: Vec<Arc<StoredResponse>> = slots.iter().map(|s| s.row(self.ttl)).collect();
        // A read may have made a row meanwhile: that one (its item ids) is the one written.
        let rows: Vec<StoredResponse> = {
            let mut q = self.queue.lock().expect("stored responses lock");
            let mut rows = Vec::with_capacity(made.len());
            for (i, row) in made.into_iter().enumerate() {
                let row = match &q.items[i].1 {
                    Slot::Row(r) => r.clone(),
                    Slot::Raw(_) => row,
                };
                q.items[i].1 = Slot::Row(row.clone());
                rows.push((*row).clone());
            }
            rows
        };
        let written = self.store.put_responses(&rows).await;
        let deleted = {
            let mut q = self.queue.lock().expect("stored responses lock");
            let n = q.in_flight;
            q.in_flight = 0;
            if written.is_ok() {
                let gone: usize = q.items.drain(..n).map(|(_, s)| s.size()).sum();
                q.bytes = q.bytes.saturating_sub(gone);
                std::mem::take(&mut q.deleted_while_writing)
            } else {
                // Still queued: the ones deleted meanwhile leave now instead.
                let deleted = std::mem::take(&mut q.deleted_while_writing);
                let mut gone = 0;
                q.items.retain(|(k, s)| {
                    let keep = !deleted.contains(k);
                    if !keep {
                        gone += s.size();
                    }
                    keep
                });
                q.bytes = q.bytes.saturating_sub(gone);
                Vec::new()
            }
        };
        for id in deleted {
            self.store.delete_response(&id).await?;
        }
        written.map(|()| rows.len())
    }
}

/// The writer: a batch when woken (64 queued) or every [`WRITE_EVERY`], pruning after writes
/// at most every [`PRUNE_AFTER_WRITES`] and at least every [`PRUNE_EVERY`] (the first time at
/// start, for what expired while the gateway was stopped): the bounds may be exceeded by a
/// second's worth of responses. Pruning costs a sum over the table's `bytes` column (about a
/// millisecond for 10,000 rows in SQLite).
async fn write_loop(s: Arc<StoredResponses>) {
    let mut pruned_at: Option<tokio::time::Instant> = None;
    let mut written_since_prune = false;
    let mut failing = false;
    loop {
        match s.write_batch().await {
            Ok(n) => {
                if failing {
                    log::info!("stored responses: database writes recovered");
                    failing = false;
                }
                written_since_prune |= n > 0;
                let since = pruned_at.map(|t| t.elapsed());
                if since.is_none_or(|d| {
                    (written_since_prune && d >= PRUNE_AFTER_WRITES) || d >= PRUNE_EVERY
                }) {
                    written_since_prune = false;
                    match s
                        .store
                        .prune_responses(crate::clock::now_ms_i64(), s.bounds)
                        .await
                    {
                        Ok(n) if n > 0 => log::debug!("stored responses: {n} pruned"),
                        Ok(_) => {}
                        Err(e) => log::warn!("stored responses: pruning failed: {e}"),
                    }
                    pruned_at = Some(tokio::time::Instant::now());
                }
            }
            Err(e) => {
                if !failing {
                    log::error!("stored responses: writing to the database failed ({e}); kept in memory and retried");
                }
                failing = true;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(WRITE_EVERY) => {}
            _ = s.wake.notified() => {}
        }
    }
}

/// `GET …/input_items` paging: `order` (`desc`, OpenAI's default, or `asc`), `limit` (1–100,
/// default 20), `after` (an item id): OpenAI's list object.
pub fn list_items(items: &[Value], query: Option<&str>) -> Result<Value, String> {
    let mut order_desc = true;
    let mut limit = 20usize;
    let mut after: Option<String> = None;
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "order" => match v.as_ref() {
                "asc" => order_desc = false,
                "desc" => order_desc = true,
                other => {
                    return Err(format!(
                        "Invalid value for 'order': expected 'asc' or 'desc', got '{other}'."
                    ))
                }
            },
            "limit" => match v.parse::<usize>() {
                Ok(n) if (1..=100).contains(&n) => limit = n,
                _ => {
                    return Err(format!(
                        "Invalid value for 'limit': expected an integer from 1 to 100, got '{v}'."
                    ))
                }
            },
            "after" => after = Some(v.into_owned()),
            _ => {}
        }
    }
    let ordered: Vec<&Value> = if order_desc {
        items.iter().rev().collect()
    } else {
        items.iter().collect()
    };
    let start = match &after {
        None => 0,
        Some(id) => match ordered.iter().position(|i| i["id"].as_str() == Some(id)) {
            Some(p) => p + 1,
            None => return Err(format!("No input item with id '{id}' in this response.")),
        },
    };
    let page: Vec<Value> = ordered
        .iter()
        .skip(start)
        .take(limit)
        .map(|v| (*v).clone())
        .collect();
    let has_more = start + page.len() < ordered.len();
    let id_of = |v: Option<&Value>| v.and_then(|v| v["id"].as_str()).map(str::to_string);
    let mut out = Map::new();
    out.insert("object".into(), Value::from("list"));
    out.insert("first_id".into(), id_of(page.first()).into());
    out.insert("last_id".into(), id_of(page.last()).into());
    out.insert("has_more".into(), has_more.into());
    out.insert("data".into(), Value::Array(page));
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pending(id: &str) -> Pending {
        Pending {
            id: id.into(),
            owner: "k".into(),
            created_at_ms: crate::clock::now_ms_i64(),
            request: Bytes::from_static(br#"{"model":"m","input":"hello"}"#),
            history: Arc::new(vec![
                json!({"id": "msg_0", "type": "message", "role": "user"}),
            ]),
            response: ResponseBody::Json(Bytes::from_static(
                br#"{"id":"r","output":[{"id":"msg_1","type":"message","role":"assistant"}]}"#,
            )),
        }
    }

    /// A response is found from the moment it is queued, through its write, in the database,
    /// with the same item ids throughout; deleting it works at each stage.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_written_and_deleted_responses_are_found_consistently() {
        let dir = std::env::temp_dir().join(format!(
            "tollgate-stored-{}-{}",
            std::process::id(),
            crate::clock::now_ms_i64()
        ));
        let store = Store::open(&dir.join("t.db").display().to_string())
            .await
            .unwrap();
        let settings = conf::TollgateSettings::default();
        // No writer task: the test writes with `flush`.
        let s = StoredResponses {
            store,
            rt: tokio::runtime::Handle::current(),
            bounds: ResponseBounds {
                max_count: settings.responses_store_max_count,
                max_bytes: settings.responses_store_max_bytes,
            },
            ttl: settings.responses_store_ttl,
            queue: Mutex::default(),
            wake: tokio::sync::Notify::new(),
            writer: tokio::sync::Mutex::new(()),
        };
        s.put(pending("resp_a"));
        s.put(pending("resp_b"));
        let queued = s.get("resp_a").await.unwrap().expect("found while queued");
        assert_eq!(queued.owner, "k");
        let items = queued.conversation();
        let ids: Vec<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 3, "history, input, output: {items:?}");
        assert_eq!((ids[0], ids[2]), ("msg_0", "msg_1"));
        assert!(s.delete("resp_b").await.unwrap());
        assert_eq!(s.flush(Duration::from_secs(5)).await.unwrap(), 1);
        let written = s.get("resp_a").await.unwrap().expect("found once written");
        assert_eq!(written.input_items, queued.input_items, "the same item ids");
        assert!(s.get("resp_b").await.unwrap().is_none());
        assert!(s.delete("resp_a").await.unwrap());
        assert!(s.get("resp_a").await.unwrap().is_none());
        assert!(!s.delete("resp_a").await.unwrap());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn input_items_page_like_openai() {
        let items: Vec<Value> = (0..5).map(|i| json!({"id": format!("msg_{i}")})).collect();
        let ids = |v: &Value| -> Vec<String> {
            v["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_string())
                .collect()
        };
        let all = list_items(&items, None).unwrap();
        assert_eq!(ids(&all), ["msg_4", "msg_3", "msg_2", "msg_1", "msg_0"]);
        assert_eq!(all["object"], "list");
        assert_eq!(all["has_more"], false);
        assert_eq!(
            (&all["first_id"], &all["last_id"]),
            (&json!("msg_4"), &json!("msg_0"))
        );
        let page = list_items(&items, Some("order=asc&limit=2")).unwrap();
        assert_eq!(ids(&page), ["msg_0", "msg_1"]);
        assert_eq!(page["has_more"], true);
        let next = list_items(&items, Some("order=asc&limit=2&after=msg_1")).unwrap();
        assert_eq!(ids(&next), ["msg_2", "msg_3"]);
        let last = list_items(&items, Some("order=asc&limit=2&after=msg_3")).unwrap();
        assert_eq!(
            (ids(&last), &last["has_more"]),
            (vec!["msg_4".to_string()], &json!(false))
        );
        let none = list_items(&[], None).unwrap();
        assert_eq!(
            (&none["first_id"], &none["data"]),
            (&Value::Null, &json!([]))
        );
        assert!(list_items(&items, Some("limit=0")).is_err());
        assert!(list_items(&items, Some("order=up")).is_err());
        assert!(list_items(&items, Some("after=msg_9")).is_err());
    }
}
