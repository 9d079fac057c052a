//! The semantic cache across replicas (`type: redis-semantic`) on plain Redis, no search module:
//! every embedded prompt kept is appended to one Redis stream under the namespace
//! (`<namespace>:tollgate:semantic`, capped near the in-memory entry bound), and every replica
//! follows that stream into its own in-process index (`semantic.rs`). A replica that starts, or
//! loses Redis and gets it back, reads the stream again from the beginning (the index replaces
//! items by key, so a re-read is harmless). The answers themselves are ordinary Redis entries
//! with their TTL: an index item whose entry has expired or been deleted is a miss.

use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::Value;

use super::semantic::{Index, Item};

/// How long one blocking read waits for new items.
const BLOCK_MS: u64 = 2000;
/// Items read per call.
const BATCH: usize = 1000;

/// The stream's name under `namespace`.
pub fn stream_key(namespace: Option<&str>) -> String {
    format!(
        "{}tollgate:semantic",
        namespace.map_or(String::new(), |n| format!("{n}:"))
    )
}

/// One item as the stream's fields.
pub fn fields(partition: &str, item: &Item) -> Vec<(&'static str, Vec<u8>)> {
    let mut v = Vec::with_capacity(item.vec.len() * 4);
    for x in item.vec.iter() {
        v.extend_from_slice(&x.to_le_bytes());
    }
    vec![
        ("p", partition.as_bytes().to_vec()),
        ("k", item.key.as_bytes().to_vec()),
        ("t", item.text.as_bytes().to_vec()),
        ("x", item.expires_ms.to_string().into_bytes()),
        ("v", v),
    ]
}

/// Follows `stream` into `index` until the index is dropped (with its cache: a reload makes a
/// new one).
pub fn follow(index: &Arc<Index>, url: String, stream: String) {
    let weak = Arc::downgrade(index);
    tokio::spawn(async move {
        let Ok(client) = redis::Client::open(url) else {
            return;
        };
        let mut failures = 0u32;
        loop {
            match run(&weak, &client, &stream).await {
                Ok(()) => return,
                Err(e) => {
                    failures += 1;
                    if failures.is_power_of_two() {
                        log::warn!("semantic cache: following the Redis stream failed ({e}); retrying (this replica's index is not updated meanwhile)");
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if weak.strong_count() == 0 {
                        return;
                    }
                }
            }
        }
    });
}

/// Reads the stream from its start, then blocks for new items; `Ok` when the index is gone.
async fn run(weak: &Weak<Index>, client: &redis::Client, stream: &str) -> redis::RedisResult<()> {
    // A connection of its own: a blocking read would hold up the shared one.
    let mut con = client.get_multiplexed_async_connection().await?;
    let mut last = "0".to_string();
    loop {
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(BATCH)
            .arg("BLOCK")
            .arg(BLOCK_MS)
            .arg("STREAMS")
            .arg(stream)
            .arg(&last);
        let read = cmd.query_async::<Value>(&mut con);
        let reply = tokio::time::timeout(Duration::from_millis(BLOCK_MS + 3000), read)
            .await
            .map_err(|_| {
                redis::RedisError::from((redis::ErrorKind::IoError, "XREAD timed out"))
            })??;
        let Some(index) = weak.upgrade() else {
            return Ok(());
        };
        let now = crate::clock::now_ms_i64();
        for (id, fields) in entries(reply) {
            last = id;
            if let Some((partition, item)) = decode(&fields) {
                if item.expires_ms > now {
                    index.insert(partition, item);
                }
            }
        }
    }
}

/// A stream entry's fields, names and values.
type Fields = Vec<(String, Vec<u8>)>;

/// `(id, fields)` of each entry in an XREAD reply.
fn entries(reply: Value) -> Vec<(String, Fields)> {
    let mut out = Vec::new();
    let streams = match reply {
        Value::Array(s) => s,
        Value::Map(m) => m
            .into_iter()
            .map(|(k, v)| Value::Array(vec![k, v]))
            .collect(),
        _ => return out,
    };
    for s in streams {
        let Value::Array(mut kv) = s else { continue };
        let Some(Value::Array(items)) = kv.pop() else {
            continue;
        };
        for item in items {
            let Value::Array(mut pair) = item else {
                continue;
            };
            let (Some(Value::Array(flat)), Some(id)) = (pair.pop(), pair.pop()) else {
                continue;
            };
            let Some(id) = bytes(id).and_then(|b| String::from_utf8(b).ok()) else {
                continue;
            };
            let mut fields = Vec::new();
            let mut it = flat.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                if let (Some(k), Some(v)) =
                    (bytes(k).and_then(|b| String::from_utf8(b).ok()), bytes(v))
                {
                    fields.push((k, v));
                }
            }
            out.push((id, fields));
        }
    }
    out
}

fn bytes(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        _ => None,
    }
}

fn decode(fields: &[(String, Vec<u8>)]) -> Option<(String, Item)> {
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    };
    let text = |name: &str| get(name).and_then(|b| std::str::from_utf8(b).ok());
    let raw = get("v")?;
    if raw.len() % 4 != 0 || raw.is_empty() {
        return None;
    }
    let vec: Box<[f32]> = raw
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Some((
        text("p")?.to_string(),
        Item {
            key: text("k")?.to_string(),
            vec,
            text: text("t")?.into(),
            expires_ms: text("x")?.parse().ok()?,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_survives_the_stream_encoding() {
        let item = Item {
            key: "ns:abc".into(),
            vec: vec![0.5, -0.25, 1.0].into(),
            text: "what is rust".into(),
            expires_ms: 123,
        };
        let f: Vec<(String, Vec<u8>)> = fields("part", &item)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let (p, back) = decode(&f).unwrap();
        assert_eq!(p, "part");
        assert_eq!(back.key, item.key);
        assert_eq!(&*back.vec, &*item.vec);
        assert_eq!(&*back.text, "what is rust");
        assert_eq!(back.expires_ms, 123);
        assert_eq!(stream_key(Some("prod")), "prod:tollgate:semantic");
    }
}
