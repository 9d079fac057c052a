//! The one place a reply is written. An error reply: its status, its headers (LiteLLM's
//! `x-litellm-*` on how an LLM request was served, `retry-after` and `x-ratelimit-*` on a
//! limit, `allow` on a 405), its body in the client's API (OpenAI's shape, which Responses
//! clients read too, or Anthropic's for `/v1/messages`) and the request's outcome in `ctx`
//! (`status`, `failure`); the error event that ends a stream broken after it started. And the
//! complete (non-streaming) response every route writes. `error.rs` says which client error a
//! gateway error is; this says how it goes out — the lifecycle, the route table, the
//! management API, health and the relay all call it. (A connection refused before any request
//! has no session to write through: `error::connection_refusal` makes its bytes.)

use adapters::ApiError;
use bytes::{Bytes, BytesMut};
use http::HeaderValue;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use crate::ctx::{Front, RequestCtx};
use crate::error::GatewayError;

/// Which request an error reply answers, for the headers it carries besides the error's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// An LLM request (the lifecycle): LiteLLM's `x-litellm-*` headers on how it was served,
    /// and the connection closed when the request body was not (fully) read.
    Llm,
    /// Any other route (route table, management API, health): the error alone.
    Route,
}

/// Answers a request that ended early with `e`, in the client's API shape.
pub async fn fail(session: &mut Session, ctx: &mut RequestCtx, e: GatewayError, served: Served) {
    fail_as(session, ctx, e, served, None).await;
}

/// Renders an error body in a shape of its own (a pass-through provider's).
pub type Shape<'a> = &'a (dyn Fn(&ApiError) -> Vec<u8> + Sync);

/// [`fail`], the body rendered by `shape` (a pass-through route's provider shape) when given.
pub async fn fail_as(
    session: &mut Session,
    ctx: &mut RequestCtx,
    e: GatewayError,
    served: Served,
    shape: Option<Shape<'_>>,
) {
    let mut extra = Vec::new();
    if served == Served::Llm {
        if matches!(
            e,
            GatewayError::TooLarge { .. } | GatewayError::BodyTimeout | GatewayError::BodyRead(_)
        ) {
            // The body was not (fully) read: the connection cannot carry another request.
            session.set_keepalive(None);
        }
        extra = litellm_headers(ctx);
    }
    match &e {
        GatewayError::AllCooling { retry_after, .. } => {
            extra.push((
                "retry-after",
                HeaderValue::from(retry_after.as_secs().max(1)),
            ));
        }
        GatewayError::RateLimited {
            retry_after_s,
            limit_header,
            limit,
            ..
        } => {
            extra.push(("retry-after", HeaderValue::from(*retry_after_s)));
            extra.push((limit_header, HeaderValue::from(*limit)));
            let remaining = if *limit_header == "x-ratelimit-limit-tokens" {
                "x-ratelimit-remaining-tokens"
            } else {
                "x-ratelimit-remaining-requests"
            };
            extra.push((remaining, HeaderValue::from(0u64)));
        }
        _ => {}
    }
    let err = e.to_api_error();
    let body = shape.map(|render| render(&err));
    write(session, ctx, &err, extra, body).await;
}

/// Answers with a client error already made: a provider's answer that could not be put in the
/// client's API, a management API error.
pub async fn api_error(
    session: &mut Session,
    ctx: &mut RequestCtx,
    err: &ApiError,
    served: Served,
) {
    let extra = match served {
        Served::Llm => litellm_headers(ctx),
        Served::Route => Vec::new(),
    };
    write(session, ctx, err, extra, None).await;
}

/// Writes `err` as the complete response, in the client's API shape, and records the outcome.
/// A write failure means the client is gone; there is no one left to tell, so it is only
/// logged.
async fn write(
    session: &mut Session,
    ctx: &mut RequestCtx,
    err: &ApiError,
    mut extra: Vec<(&'static str, HeaderValue)>,
    shaped: Option<Vec<u8>>,
) {
    let body = Bytes::from(if let Some(b) = shaped {
        b
    } else if ctx.front.anthropic() {
        adapters::anthropic::front::error_body(err)
    } else {
        err.to_json()
    });
    if err.status == 405 {
        extra.push(("allow", HeaderValue::from_static("POST")));
    }
    if let Err(e) = respond(
        session,
        err.status,
        "application/json",
        body,
        &ctx.call_id,
        &extra,
    )
    .await
    {
        log::debug!("client went away before the error response was written: {e}");
    }
    ctx.status = err.status;
    ctx.failure.get_or_insert_with(|| err.message.clone());
}

/// A stream that already started failed: records the failure and appends the error event that
/// ends it, in the client's API (a passed-through Anthropic or Responses stream gets its own
/// API's event; every other stream the canonical one, which `front::encode` turns into the
/// client's).
pub fn stream_error(ctx: &mut RequestCtx, err: &ApiError, out: &mut BytesMut) {
    ctx.failure = Some(err.message.clone());
    match &ctx.front {
        Front::AnthropicNative => {
            out.extend_from_slice(&adapters::anthropic::front::error_event(err))
        }
        Front::Responses(s) if s.native => {
            out.extend_from_slice(&adapters::responses::stream::error_event(err))
        }
        _ => out.extend_from_slice(&err.to_sse_event()),
    }
}

/// Writes a complete (non-streaming) response with `content-length`.
pub async fn respond(
    session: &mut Session,
    status: u16,
    content_type: &str,
    body: Bytes,
    call_id: &str,
    extra_headers: &[(&'static str, HeaderValue)],
) -> pingora::Result<()> {
    let mut resp = ResponseHeader::build_no_case(status, Some(4 + extra_headers.len()))?;
    resp.insert_header("content-type", content_type)?;
    resp.insert_header("content-length", body.len())?;
    if !call_id.is_empty() {
        resp.insert_header("x-litellm-call-id", call_id)?;
    }
    for (name, value) in extra_headers {
        resp.insert_header(*name, value.clone())?;
    }
    session
        .write_response_header(Box::new(resp), body.is_empty())
        .await?;
    if !body.is_empty() {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(())
}

/// LiteLLM's response headers describing how an LLM request was served (on its answer, its
/// stream and its errors alike).
pub fn litellm_headers(ctx: &RequestCtx) -> Vec<(&'static str, HeaderValue)> {
    let mut h = Vec::with_capacity(8);
    crate::cache::headers(ctx, &mut h);
    if let Some(dep) = &ctx.served_by {
        h.extend(dep.headers.iter().cloned());
    }
    h.push((
        "x-litellm-attempted-retries",
        HeaderValue::from(ctx.attempted_retries),
    ));
    h.push((
        "x-litellm-attempted-fallbacks",
        HeaderValue::from(ctx.attempted_fallbacks),
    ));
    if let Some(start) = ctx.start {
        let total = start.elapsed();
        let overhead = total.saturating_sub(ctx.upstream_time);
        h.push(("x-litellm-response-duration-ms", millis(total)));
        h.push(("x-litellm-overhead-duration-ms", millis(overhead)));
    }
    if let Some(adm) = &ctx.admission {
        h.extend(adm.headers.iter().cloned());
        if let Some(cost) = ctx.cost {
            h.push(("x-litellm-response-cost", dollars(cost)));
            if adm.key.is_some() {
                h.push(("x-litellm-key-spend", dollars(adm.key_spend + cost)));
            }
        }
    }
    h
}

/// A USD amount as header text (`0.00042`): `format!("{v:.12}")` with its trailing zeros and
/// dot trimmed, computed exactly in integers (`format!` of a float cost ~3k instructions, twice
/// per request with a key).
fn dollars(v: f64) -> HeaderValue {
    let mut buf = [0u8; 48];
    let text = match dollars_exact(v, &mut buf) {
        Some(t) => t,
        None => {
            let text = format!("{v:.12}");
            let text = text.trim_end_matches('0').trim_end_matches('.');
            return HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("0"));
        }
    };
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("0"))
}

/// `v` rounded to 12 decimals (half to even on the exact binary value, as `format!` does),
/// trailing zeros and dot trimmed; `None` for what it does not handle (not finite, ≥ 2^52).
fn dollars_exact(v: f64, buf: &mut [u8; 48]) -> Option<&str> {
    const SCALE: u128 = 1_000_000_000_000;
    if !v.is_finite() || v.abs() >= (1u64 << 52) as f64 {
        return None;
    }
    let bits = v.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    // v = mant · 2^-shift exactly.
    let (mant, shift) = if exp == 0 {
        (frac, 1074)
    } else {
        (frac | (1u64 << 52), 1075 - exp)
    };
    let n = u128::from(mant) * SCALE; // < 2^93
    let scaled = if shift <= 0 {
        n << (-shift) as u32
    } else if shift >= 128 {
        0 // below 2^-75 · 10^12: rounds to 0 (never a tie)
    } else {
        let q = n >> shift as u32;
        let r = n - (q << shift as u32);
        let half = 1u128 << (shift as u32 - 1);
        q + u128::from(r > half || (r == half && q & 1 == 1))
    };
    let (int, dec) = (scaled / SCALE, (scaled % SCALE) as u64);
    let mut w = 0;
    let mut put = |b: u8, w: &mut usize| {
        buf[*w] = b;
        *w += 1;
    };
    if v.is_sign_negative() {
        put(b'-', &mut w);
    }
    let mut digits = [0u8; 40];
    let mut i = digits.len();
    let mut x = int;
    loop {
        i -= 1;
        digits[i] = b'0' + (x % 10) as u8;
        x /= 10;
        if x == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        put(d, &mut w);
    }
    if dec > 0 {
        put(b'.', &mut w);
        let mut f = [0u8; 12];
        let mut x = dec;
        for slot in f.iter_mut().rev() {
            *slot = b'0' + (x % 10) as u8;
            x /= 10;
        }
        let len = 12 - f.iter().rev().take_while(|&&d| d == b'0').count();
        for &d in &f[..len] {
            put(d, &mut w);
        }
    }
    std::str::from_utf8(&buf[..w]).ok()
}

/// A duration as milliseconds with three decimals (`12.345`), without float formatting.
fn millis(d: std::time::Duration) -> HeaderValue {
    let us = d.as_micros();
    let text = format!("{}.{:03}", us / 1000, us % 1000);
    HeaderValue::from_str(&text).expect("digits and a dot are valid header text")
}

#[cfg(test)]
mod tests {
    use super::dollars;

    /// The old formatting, the reference.
    fn reference(v: f64) -> String {
        let text = format!("{v:.12}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }

    #[test]
    fn dollars_match_format_exactly() {
        let mut cases = vec![
            0.0,
            -0.0,
            1.0,
            0.5,
            0.1,
            0.000_123_4,
            1e-12,
            5e-13,
            4.9e-13,
            1e-300,
            f64::MIN_POSITIVE,
            5e-324,
            123_456.789,
            -2.5e-7,
            4_503_599_627_370_495.0,
            9e15,
            f64::NAN,
            f64::INFINITY,
        ];
        // Exact ties at the 13th decimal (j / 8192), both rounding directions.
        cases.extend((1..200).map(|j| f64::from(j) / 8192.0));
        // A spread of magnitudes and mantissas (deterministic).
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mant = (x >> 11) as f64 / (1u64 << 53) as f64;
            let exp = (x % 60) as i32 - 45;
            cases.push(mant * 2f64.powi(exp));
            cases.push(mant * 10f64.powi(exp / 4));
        }
        for v in cases {
            let got = dollars(v);
            assert_eq!(got.to_str().unwrap(), reference(v), "{v:e}");
        }
    }
}
