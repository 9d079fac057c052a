//! The generic webhook sink (`callback_type: generic_api`): LiteLLM's `StandardLoggingPayload`
//! per event, sent as one JSON array per batch (`json_array`), one object per line
//! (`ndjson`), or one request per event (`single`).

use std::sync::Arc;

use bytes::Bytes;
use conf::observe::callbacks::GenericFormat;

use super::event::Event;
use super::queue::Format;

pub struct Generic(pub GenericFormat);

impl Format for Generic {
    fn bodies(&self, batch: &[Arc<Event>]) -> Vec<(usize, Bytes)> {
        let payloads = batch.iter().map(|e| e.standard_payload());
        match self.0 {
            GenericFormat::JsonArray => {
                let list: Vec<serde_json::Value> = payloads.collect();
                vec![(
                    list.len(),
                    Bytes::from(serde_json::to_vec(&list).unwrap_or_default()),
                )]
            }
            GenericFormat::Ndjson => {
                let mut out = Vec::new();
                for p in payloads {
                    out.extend_from_slice(p.to_string().as_bytes());
                    out.push(b'\n');
                }
                vec![(batch.len(), Bytes::from(out))]
            }
            GenericFormat::Single => payloads.map(|p| (1, Bytes::from(p.to_string()))).collect(),
        }
    }

    fn content_type(&self) -> &'static str {
        match self.0 {
            GenericFormat::Ndjson => "application/x-ndjson",
            _ => "application/json",
        }
    }
}
