//! `RequestCtx`: the per-request state carried between lifecycle stages and read by account,
//! grouped by the stage that writes it (the table on [`RequestCtx`]).

use std::time::Instant;

use adapters::anthropic::front::StreamToAnthropic;

use crate::state::InflightGuard;

/// Which API shape the client speaks; decides how answers and errors are written.
#[derive(Default)]
pub enum Front {
    /// OpenAI clients: canonical bodies and SSE.
    #[default]
    OpenAi,
    /// Anthropic clients (`/v1/messages`) served by any provider: canonical → Anthropic.
    Anthropic {
        /// The model the client asked for, echoed in responses.
        model: String,
        /// The stream encoder, created with the first streamed bytes.
        stream: Option<Box<StreamToAnthropic>>,
    },
    /// Anthropic clients served by an Anthropic deployment: the provider's bytes, unchanged.
    AnthropicNative,
    /// Responses API clients (`/v1/responses`): passed through to deployments that speak it,
    /// bridged from canonical chat for the others (see `lifecycle::front::responses`).
    Responses(Box<crate::lifecycle::front::responses_out::Shape>),
}

impl Front {
    /// Whether errors are written in Anthropic's shape.
    pub fn anthropic(&self) -> bool {
        matches!(self, Front::Anthropic { .. } | Front::AnthropicNative)
    }
}

/// The per-request state, grouped by the stage that writes it (see docs/lifecycle.md). Later
/// stages and `account` read what earlier ones wrote; nothing writes a group it does not own,
/// except the outcome, which every stage that answers the client writes through `reply` or
/// the relay.
///
/// | group | written by | read by |
/// |---|---|---|
/// | request | `proxy::request_filter` | `reply` (call id, durations), account |
/// | front | `lifecycle::front` (`open`, `read`, `admitted`; per attempt: `ctx.front`) | relay, stream, `reply` (error shape), route (size estimate), account |
/// | admission | stages 1–2 (`auth`, `admit`; `cache` also by relay and stream, which store the answer) | route (tags, region, fallback access and cover), `reply` (headers), relay and stream (callback capture), account (settle, spend log, callbacks) |
/// | routing | stage 3 (`route::plan`, fallbacks entered) | attempt, forward, relay (cost), account |
/// | attempt | stage 4 (`attempt`, `forward`) | attempt (retries, cooldown marks), `reply` (headers), account |
/// | outcome | stage 5 (relay, stream) and `reply` | account (spend, logs), `reply` (cost headers) |
/// | metrics | forward (provider headers), stream (first token), attempt (fallbacks), front (metadata) | account (`observe::account`) |
#[derive(Default)]
pub struct RequestCtx {
    // ── request: identity and timing (proxy::request_filter) ───────────────────────────────
    pub start: Option<Instant>,
    /// Wall-clock start (Unix ms), for the spend log.
    pub started_at_ms: i64,
    /// `x-litellm-call-id`, a UUID-like hex id.
    pub call_id: String,
    /// Keeps the request counted as in flight until the context drops.
    pub inflight: Option<InflightGuard>,

    // ── front: the client's API and request (lifecycle::front) ─────────────────────────────
    /// The API shape the client speaks (set again by each attempt behind a door: passed
    /// through or translated).
    pub front: Front,
    /// Which API the request called, for the spend log's `call_type`.
    pub call_type: &'static str,
    /// Size of the request body, for the pre-call token estimate.
    pub body_bytes: usize,
    pub stream: bool,
    /// The gateway asked upstream for stream usage the client did not ask for: drop the
    /// usage-only chunk on the way out.
    pub strip_usage: bool,

    // ── admission: who called and what they may spend (stages 1–2: auth, admit) ────────────
    /// Who called (stage 1), and what their budgets and limits admitted (stage 2); settled by
    /// the account stage.
    pub caller: Option<crate::control::enforce::Caller>,
    pub admission: Option<crate::control::enforce::Admission>,
    /// The caller's key and the model asked for, kept between auth and admission only while a
    /// failure callback is on (`observe::on_caller`): the failure event of a request refused
    /// before admission completed names them.
    pub refusable: Option<Box<crate::observe::capture::Refusable>>,
    /// The per-completion output bound admission lowered the request to, so that its budgets
    /// can pay the worst case (`budget_enforcement: clamp`); what goes upstream.
    pub clamped_max_tokens: Option<u64>,
    /// What the logging callbacks capture (trace ids, metadata, text; written at admission,
    /// read by relay, stream and account); `None` when no callback is on (`observe::on_admit`).
    pub observe: Option<Box<crate::observe::capture::Capture>>,
    /// The response cache's key for this request, and whether it was a hit (stage 2); a
    /// streamed answer being put together for it (stage 5).
    pub cache: Option<Box<crate::cache::pending::Pending>>,
    /// Guardrails: which ran and what they did, the response's checks (`guard::pre_call`
    /// writes; relay and account read).
    pub guard: Option<Box<crate::guard::state::GuardState>>,
    /// In the registry of requests without an answer (`llm_requests_hanging` alerts) from
    /// admission until the answer starts; `None` when those alerts are off.
    pub hanging: Option<crate::observe::hanging::Watch>,

    // ── routing: where the request may go (stage 3: route; fallbacks entered by attempt) ────
    /// Model group asked for, then the group serving it (front door, then each group tried).
    pub model_group: Option<String>,
    /// The request's own routing and test controls (`timeout`, `num_retries`, `mock_*`, …);
    /// `None` when it sets none (read them with [`RequestCtx::controls`]).
    pub controls: Option<Box<crate::lifecycle::controls::Controls>>,
    /// `include_cost_in_streaming_usage`, from the request or `litellm_settings`.
    pub include_cost: bool,
    /// What the `*` of a wildcard model group stood for (`gpt-4o` for `openai/*`).
    pub wildcard_match: Option<String>,
    /// In a group of `model: "*"` deployments: the provider the requested model belongs to.
    pub any_provider: Option<adapters::provider::Provider>,
    /// The request's tags (tag filtering).
    pub request_tags: Vec<String>,
    /// The end user's `allowed_model_region` (from admission): routing stays in it.
    pub region: Option<crate::region::Region>,

    // ── attempt: the calls made (stage 4: attempt, forward) ────────────────────────────────
    /// The deployment that served it (or failed last).
    pub served_by: Option<std::sync::Arc<crate::deployment::DeploymentRt>>,
    /// Retries made inside model groups, and fallback groups tried.
    pub attempted_retries: u32,
    pub attempted_fallbacks: u32,
    /// The provider's `retry-after` on its last error, honoured by the next retry.
    pub provider_retry_after: Option<std::time::Duration>,
    /// The last attempt was answered by the request's own mock (`mock_response`,
    /// `mock_timeout`): nothing was called or spent, and no deployment failed.
    pub mocked: bool,
    /// Status the provider answered with, when one was called.
    pub upstream_status: Option<u16>,
    /// Time spent waiting on providers (for `x-litellm-overhead-duration-ms`).
    pub upstream_time: std::time::Duration,
    /// The provider's stream failed after bytes had reached the client (relayed as an error
    /// event, so it cannot be retried): routing still counts it against the deployment, then
    /// sends the stream's last bytes (the events before the failure and the error event).
    pub broken_stream: Option<(adapters::ApiError, bytes::Bytes)>,

    // ── outcome: what the client got (stage 5: relay, stream; `reply`) ─────────────────────
    /// Status sent to the client.
    pub status: u16,
    /// Why the request ended abnormally, if it did (client disconnect, upstream failure).
    pub failure: Option<String>,
    /// The `id` of the answer the client got (`chatcmpl-…`, `msg_…`), set by relay when the
    /// first bytes go out; the spend log's `request_id`.
    pub response_id: Option<String>,
    /// Tokens reported by the provider (or the mock).
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Prompt tokens read from / written to the provider's prompt cache (part of
    /// `prompt_tokens`).
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// Whether the provider reported usage; if not, tokens are estimated.
    pub usage_seen: bool,
    /// Content events relayed, for the token estimate when a stream ends without usage.
    pub streamed_events: u64,
    /// The request's cost in USD once known (before the response header for whole bodies).
    pub cost: Option<f64>,
    /// An image request's size and quality, and the images its answer carried (priced per
    /// image, not per token, when the price table has an image price).
    pub images: Option<Box<ImageAsk>>,
    /// A rerank request's search units billed: `Some(None)` until its answer says (priced per
    /// search unit when the price has `input_cost_per_query`, else per token).
    pub search_units: Option<Option<u64>>,
    /// A media request's upload, seconds or characters and what its answer reported (audio
    /// priced per second, per character, or by its audio tokens; `media::Ask`).
    pub media: Option<Box<crate::media::ask::Ask>>,

    // ── metrics: what the stages note for `observe` (provider headers, first token, …) ─────
    pub metrics: crate::observe::notes::Notes,
}

/// What an image request asked for and got, for its price.
#[derive(Debug, Default)]
pub struct ImageAsk {
    pub size: Option<String>,
    pub quality: Option<String>,
    /// Images in the answer.
    pub made: u64,
}

impl RequestCtx {
    /// The request's controls (all unset when it sent none).
    pub fn controls(&self) -> &crate::lifecycle::controls::Controls {
        self.controls
            .as_deref()
            .unwrap_or(&crate::lifecycle::controls::Controls::NONE)
    }

    /// Records the provider's usage report.
    pub fn note_usage(&mut self, u: &adapters::openai::response::Usage) {
        self.prompt_tokens = u.prompt_tokens;
        self.completion_tokens = u.completion_tokens;
        self.cache_read_tokens = u.cache_read_tokens;
        self.cache_write_tokens = u.cache_write_tokens;
        self.usage_seen = true;
    }

    /// The cost of what the provider reported (or, without a report, of the estimate), from
    /// the serving deployment's prices (a wildcard deployment's for the model the `*` stood
    /// for); 0 when its prices are unknown.
    pub fn compute_cost(&mut self) -> f64 {
        if !self.usage_seen && self.completion_tokens == 0 && self.streamed_events > 0 {
            // A stream that ended (or was cut off) without a usage report: one token per
            // content event, OpenAI's streaming granularity; the prompt from its size.
            self.completion_tokens = self.streamed_events;
            self.prompt_tokens = adapters::tokens::estimate_tokens(self.body_bytes);
        }
        if self.mocked {
            // A mock answer (`mock_response`) cost nothing upstream.
            self.cost = Some(0.0);
            return 0.0;
        }
        let cost = self
            .served_by
            .as_ref()
            .and_then(|d| d.price_for(self.wildcard_match.as_deref()))
            .map(|p| {
                if let Some(c) = self.media.as_deref().and_then(|m| m.cost(&p)) {
                    return c;
                }
                let per_image = self.images.as_deref().and_then(|i| {
                    crate::pricing::image_cost(&p, i.size.as_deref(), i.quality.as_deref(), i.made)
                });
                if let Some(c) = per_image {
                    return c;
                }
                if let Some(units) = self.search_units {
                    return crate::pricing::rerank_cost(&p, units, self.prompt_tokens);
                }
                crate::pricing::cost(
                    &p,
                    &crate::pricing::Usage {
                        prompt_tokens: self.prompt_tokens,
                        completion_tokens: self.completion_tokens,
                        cache_read_tokens: self.cache_read_tokens,
                        cache_creation_tokens: self.cache_write_tokens,
                        duration_secs: self.upstream_time.as_secs_f64(),
                    },
                )
            })
            .unwrap_or(0.0);
        self.cost = Some(cost);
        cost
    }
}

/// A call id shaped like a UUID v7: the time in ms, then 74 random bits. Ids made close in time
/// sort close together, so the spend log's primary-key index is appended to instead of written
/// at random pages (the biggest cost of writing spend logs).
pub fn new_call_id() -> String {
    let ms = crate::clock::now_ms() as u128;
    let r: u128 = rand::random();
    let v = (ms & 0xffff_ffff_ffff) << 80
        | 0x7 << 76
        | (r & 0xfff) << 64
        | 0x2 << 62
        | (r >> 64) & ((1 << 62) - 1);
    uuid_text(v)
}

/// `v` as a UUID's text: 8-4-4-4-12 lower-case hex digits, written directly (two `format!`s
/// cost ~3k instructions).
fn uuid_text(v: u128) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 36];
    let mut nibble = 32;
    for (i, slot) in out.iter_mut().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            *slot = b'-';
        } else {
            nibble -= 1;
            *slot = HEX[((v >> (nibble * 4)) & 0xf) as usize];
        }
    }
    String::from_utf8(out.to_vec()).expect("hex digits and dashes")
}

#[cfg(test)]
mod tests {
    #[test]
    fn call_ids_are_uuid_shaped_and_unique() {
        let a = super::new_call_id();
        let b = super::new_call_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "7");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
        // Time-ordered: a later id sorts after (the ms prefix grows).
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(super::new_call_id() > a);
    }

    #[test]
    fn uuid_text_is_the_formatted_hex() {
        for v in [
            0u128,
            u128::MAX,
            0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
            1 << 77,
        ] {
            let s = format!("{v:032x}");
            let want = format!(
                "{}-{}-{}-{}-{}",
                &s[0..8],
                &s[8..12],
                &s[12..16],
                &s[16..20],
                &s[20..32]
            );
            assert_eq!(super::uuid_text(v), want);
        }
    }
}
