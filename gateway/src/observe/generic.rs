//! The generic webhook sink (`callback_type: generic_api`): LiteLLM's `StandardLoggingPayload`
//! per event, sent as one JSON array per batch (`json_array`), one object per line
//! (`ndjson`), or one request per event (`single`).

use std::sync::Arc;

use bytes::Bytes;
use conf::observe::callbacks::GenericFormat;

use super::event::Event;
use super::payload::StandardPayload;
use super::queue::Format;

pub struct Generic(pub GenericFormat);

impl Format for Generic {
    fn bodies(&self, batch: &[Arc<Event>]) -> Vec<(usize, Bytes)> {
        // Each payload serialized straight into the body (`payload.rs`), no `Value` tree.
        let to_vec = |e: &Arc<Event>| serde_json::to_vec(&StandardPayload(e)).unwrap_or_default();
        match self.0 {
            GenericFormat::JsonArray => {
                let list: Vec<StandardPayload<'_>> =
                    batch.iter().map(|e| StandardPayload(e)).collect();
                vec![(
                    list.len(),
                    Bytes::from(serde_json::to_vec(&list).unwrap_or_default()),
                )]
            }
            GenericFormat::Ndjson => {
                let mut out = Vec::new();
                for e in batch {
                    // Into the body as it grows; a failed payload (none is expected) is skipped.
                    let mark = out.len();
                    if serde_json::to_writer(&mut out, &StandardPayload(e)).is_err() {
                        out.truncate(mark);
                        continue;
                    }
                    out.push(b'\n');
                }
                vec![(batch.len(), Bytes::from(out))]
            }
            GenericFormat::Single => batch.iter().map(|e| (1, Bytes::from(to_vec(e)))).collect(),
        }
    }

    fn content_type(&self) -> &'static str {
        match self.0 {
            GenericFormat::Ndjson => "application/x-ndjson",
            _ => "application/json",
        }
    }
}
