//! The OTLP/HTTP sink (`otel`, `langfuse_otel`): each event becomes two spans — the request
//! (`Received Proxy Server Request`, kind SERVER, child of the caller's `traceparent` span when
//! one came in) and the LLM call (`litellm_request`, kind CLIENT) with the OpenTelemetry GenAI
//! semantic-convention attributes — sent as an `ExportTraceServiceRequest` in protobuf (encoded
//! here, field numbers from opentelemetry-proto's `trace.proto`) or OTLP/JSON.

use std::sync::Arc;

use bytes::Bytes;
use conf::observe::callbacks::OtlpProtocol;
use serde_json::{json, Value};

use super::capture::hex;
use super::event::{error_class, Event};
use super::queue::Format;

pub struct Otlp {
    pub protocol: OtlpProtocol,
    pub service_name: String,
}

/// An attribute value.
pub enum Attr {
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
}

/// One span, ready to encode.
pub struct Span {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent: Option<[u8; 8]>,
    pub name: &'static str,
    /// 2 SERVER, 3 CLIENT.
    pub kind: u64,
    pub start_ns: u64,
    pub end_ns: u64,
    pub attrs: Vec<(&'static str, Attr)>,
    /// 1 OK, 2 ERROR.
    pub status: u64,
    pub message: String,
}

/// The spans of one event.
pub fn spans(e: &Event) -> [Span; 2] {
    let l = &e.log;
    let ns = |ms: i64| (ms.max(0) as u64) * 1_000_000;
    let status = if e.ok { 1 } else { 2 };
    let message = e.error.clone().filter(|_| !e.ok).unwrap_or_default();
    let s = |v: &str| Attr::Str(v.to_string());
    let mut common: Vec<(&'static str, Attr)> = vec![
        ("litellm.call_id", s(&l.request_id)),
        ("http.response.status_code", Attr::Int(e.status.into())),
    ];
    if !l.api_key.is_empty() {
        common.push(("metadata.user_api_key_hash", s(&l.api_key)));
    }
    for (k, v) in [
        ("metadata.user_api_key_alias", &e.key_alias),
        ("metadata.user_api_key_team_id", &l.team_id),
        ("metadata.user_api_key_team_alias", &e.team_alias),
        ("metadata.user_api_key_user_id", &l.user),
        ("metadata.user_api_key_org_id", &l.organization_id),
        ("metadata.user_api_key_end_user_id", &l.end_user),
    ] {
        if let Some(v) = v {
            common.push((k, s(v)));
        }
    }
    let mut llm: Vec<(&'static str, Attr)> = vec![
        ("gen_ai.operation.name", s(operation(&l.call_type))),
        ("gen_ai.system", s(&l.custom_llm_provider)),
        ("gen_ai.provider.name", s(&l.custom_llm_provider)),
        ("gen_ai.request.model", s(&l.model_group)),
        ("gen_ai.response.model", s(&l.model)),
        ("gen_ai.usage.input_tokens", Attr::Int(l.prompt_tokens)),
        ("gen_ai.usage.output_tokens", Attr::Int(l.completion_tokens)),
        ("gen_ai.usage.total_tokens", Attr::Int(l.total_tokens)),
        ("gen_ai.usage.cost", Attr::Double(l.spend)),
        ("llm.is_streaming", Attr::Bool(e.stream)),
        ("litellm.model_group", s(&l.model_group)),
        ("litellm.model_id", s(&l.model_id)),
        (
            "litellm.attempted_fallbacks",
            Attr::Int(
                l.metadata
                    .get("attempted_fallbacks")
                    .and_then(Value::as_i64)
                    .unwrap_or(0),
            ),
        ),
        (
            "litellm.attempted_retries",
            Attr::Int(
                l.metadata
                    .get("attempted_retries")
                    .and_then(Value::as_i64)
                    .unwrap_or(0),
            ),
        ),
    ];
    if let Some(id) = &l.response_id {
        llm.push(("gen_ai.response.id", s(id)));
    }
    for (k, v) in [
        (
            "gen_ai.request.temperature",
            e.capture.params.get("temperature"),
        ),
        ("gen_ai.request.top_p", e.capture.params.get("top_p")),
    ] {
        if let Some(f) = v.and_then(Value::as_f64) {
            llm.push((k, Attr::Double(f)));
        }
    }
    if let Some(n) = e
        .capture
        .params
        .get("max_tokens")
        .or_else(|| e.capture.params.get("max_completion_tokens"))
        .and_then(Value::as_i64)
    {
        llm.push(("gen_ai.request.max_tokens", Attr::Int(n)));
    }
    if !e.ok {
        llm.push(("error.type", s(error_class(e.status))));
    }
    if e.text {
        if let Some(m) = &e.capture.messages {
            llm.push(("gen_ai.input.messages", Attr::Str(m.to_string())));
        }
        if let Some(t) = e.response_text() {
            llm.push((
                "gen_ai.output.messages",
                Attr::Str(json!([{"role": "assistant", "content": t}]).to_string()),
            ));
        }
    }
    let mut server = common;
    server.push(("http.route", s(route(&l.call_type))));
    [
        Span {
            trace_id: e.capture.trace_id,
            span_id: e.capture.span_id,
            parent: e.capture.parent_span_id,
            name: "Received Proxy Server Request",
            kind: 2,
            start_ns: ns(l.start_time),
            end_ns: ns(l.end_time),
            attrs: server,
            status,
            message: message.clone(),
        },
        Span {
            trace_id: e.capture.trace_id,
            span_id: e.capture.llm_span_id,
            parent: Some(e.capture.span_id),
            name: "litellm_request",
            kind: 3,
            start_ns: ns(l.start_time),
            end_ns: ns(l.end_time),
            attrs: llm,
            status,
            message,
        },
    ]
}

fn operation(call_type: &str) -> &'static str {
    match call_type {
        "aembedding" | "embedding" => "embeddings",
        "atext_completion" | "text_completion" => "text_completion",
        _ => "chat",
    }
}

fn route(call_type: &str) -> &'static str {
    match call_type {
        "aembedding" | "embedding" => "/v1/embeddings",
        "anthropic_messages" => "/v1/messages",
        "aresponses" | "responses" => "/v1/responses",
        "aimage_generation" | "image_generation" => "/v1/images/generations",
        "arerank" | "rerank" => "/v1/rerank",
        "amoderation" | "moderation" => "/v1/moderations",
        "aimage_edit" | "image_edit" => "/v1/images/edits",
        "atranscription" | "transcription" => "/v1/audio/transcriptions",
        "aspeech" | "speech" => "/v1/audio/speech",
        _ => "/v1/chat/completions",
    }
}

impl Format for Otlp {
    fn bodies(&self, batch: &[Arc<Event>]) -> Vec<(usize, Bytes)> {
        let spans: Vec<Span> = batch.iter().flat_map(|e| spans(e)).collect();
        let body = match self.protocol {
            OtlpProtocol::Protobuf => proto::request(&self.service_name, &spans),
            OtlpProtocol::Json => json_request(&self.service_name, &spans)
                .to_string()
                .into_bytes(),
        };
        vec![(batch.len(), Bytes::from(body))]
    }

    fn content_type(&self) -> &'static str {
        match self.protocol {
            OtlpProtocol::Protobuf => "application/x-protobuf",
            OtlpProtocol::Json => "application/json",
        }
    }
}

/// OTLP/JSON: ids in hex, 64-bit integers as strings, enums as numbers.
fn json_request(service: &str, spans: &[Span]) -> Value {
    let attr = |k: &str, v: &Attr| {
        let value = match v {
            Attr::Str(s) => json!({"stringValue": s}),
            Attr::Int(i) => json!({"intValue": i.to_string()}),
            Attr::Double(f) => json!({"doubleValue": f}),
            Attr::Bool(b) => json!({"boolValue": b}),
        };
        json!({"key": k, "value": value})
    };
    let spans: Vec<Value> = spans
        .iter()
        .map(|s| {
            json!({
                "traceId": hex(&s.trace_id),
                "spanId": hex(&s.span_id),
                "parentSpanId": s.parent.map(|p| hex(&p)).unwrap_or_default(),
                "name": s.name,
                "kind": s.kind,
                "startTimeUnixNano": s.start_ns.to_string(),
                "endTimeUnixNano": s.end_ns.to_string(),
                "attributes": s.attrs.iter().map(|(k, v)| attr(k, v)).collect::<Vec<_>>(),
                "status": {"code": s.status, "message": s.message},
            })
        })
        .collect();
    json!({"resourceSpans": [{
        "resource": {"attributes": [attr("service.name", &Attr::Str(service.to_string()))]},
        "scopeSpans": [{"scope": {"name": "litellm", "version": env!("CARGO_PKG_VERSION")}, "spans": spans}],
    }]})
}

/// Protobuf encoding of `ExportTraceServiceRequest` (only the fields Tollgate sets).
mod proto {
    use super::{Attr, Span};

    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn tag(out: &mut Vec<u8>, field: u32, wire: u8) {
        varint(out, (u64::from(field) << 3) | u64::from(wire));
    }

    fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
        tag(out, field, 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }

    fn message(out: &mut Vec<u8>, field: u32, f: impl FnOnce(&mut Vec<u8>)) {
        let mut inner = Vec::new();
        f(&mut inner);
        bytes(out, field, &inner);
    }

    fn key_value(out: &mut Vec<u8>, field: u32, k: &str, v: &Attr) {
        message(out, field, |kv| {
            bytes(kv, 1, k.as_bytes());
            message(kv, 2, |any| match v {
                Attr::Str(s) => bytes(any, 1, s.as_bytes()),
                Attr::Bool(b) => {
                    tag(any, 2, 0);
                    varint(any, u64::from(*b));
                }
                Attr::Int(i) => {
                    tag(any, 3, 0);
                    varint(any, *i as u64);
                }
                Attr::Double(f) => {
                    tag(any, 4, 1);
                    any.extend_from_slice(&f.to_le_bytes());
                }
            });
        });
    }

    pub fn request(service: &str, spans: &[Span]) -> Vec<u8> {
        let mut out = Vec::new();
        // ExportTraceServiceRequest.resource_spans = 1
        message(&mut out, 1, |rs| {
            // ResourceSpans.resource = 1 { attributes = 1 }
            message(rs, 1, |r| {
                key_value(r, 1, "service.name", &Attr::Str(service.to_string()))
            });
            // ResourceSpans.scope_spans = 2
            message(rs, 2, |ss| {
                // ScopeSpans.scope = 1 { name = 1, version = 2 }
                message(ss, 1, |sc| {
                    bytes(sc, 1, b"litellm");
                    bytes(sc, 2, env!("CARGO_PKG_VERSION").as_bytes());
                });
                for s in spans {
                    // ScopeSpans.spans = 2
                    message(ss, 2, |sp| span(sp, s));
                }
            });
        });
        out
    }

    fn span(out: &mut Vec<u8>, s: &Span) {
        bytes(out, 1, &s.trace_id);
        bytes(out, 2, &s.span_id);
        if let Some(p) = &s.parent {
            bytes(out, 4, p);
        }
        bytes(out, 5, s.name.as_bytes());
        tag(out, 6, 0);
        varint(out, s.kind);
        tag(out, 7, 1);
        out.extend_from_slice(&s.start_ns.to_le_bytes());
        tag(out, 8, 1);
        out.extend_from_slice(&s.end_ns.to_le_bytes());
        for (k, v) in &s.attrs {
            key_value(out, 9, k, v);
        }
        // Span.status = 15 { message = 2, code = 3 }
        message(out, 15, |st| {
            if !s.message.is_empty() {
                bytes(st, 2, s.message.as_bytes());
            }
            tag(st, 3, 0);
            varint(st, s.status);
        });
    }
}
