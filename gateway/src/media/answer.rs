//! A media answer to the client: a JSON body (a transcription, an image edit) read whole —
//! bounded — so that its usage prices it before the header goes out (`x-litellm-response-cost`);
//! anything else (speech audio, `text`/`srt`/`vtt` transcripts, a streamed transcription)
//! relayed chunk by chunk as the provider sends it, its content type passed through.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use pingora::protocols::http::client::HttpSession;
use pingora::proxy::Session;
use pingora::upstreams::peer::HttpPeer;
use serde::Deserialize;
use tokio::time::timeout_at;

use super::Op;
use crate::ctx::RequestCtx;
use crate::error::GatewayError;
use crate::lifecycle::relay::{self, CLIENT_CLOSED};
use crate::pricing::audio::AudioTokens;
use crate::reply::{litellm_headers, respond};
use crate::state::AppState;

/// Largest JSON answer read whole (an image edit's `b64_json` images are the big ones).
const MAX_JSON_ANSWER: usize = 128 << 20;
/// The tail of a streamed transcription kept for its closing `usage`.
const STREAM_TAIL: usize = 64 * 1024;

/// Relays a 2xx answer of the provider to the client and notes what prices it.
pub(crate) async fn relay(
    state: &AppState,
    session: &mut Session,
    ctx: &mut RequestCtx,
    op: Op,
    (mut up, peer): (HttpSession, HttpPeer),
    deadline: Instant,
    group: &str,
) -> Result<(), GatewayError> {
    let resp = up.response_header().expect("exchange read the header");
    let status = resp.status.as_u16();
    let content_type = resp
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let json = content_type.starts_with("application/json");
    if json && op != Op::Speech {
        let body = match timeout_at(deadline.into(), read_all(&mut up, MAX_JSON_ANSWER)).await {
            Err(_) => {
                return Err(GatewayError::UpstreamTimeout {
                    group: group.to_string(),
                    secs: 0.0,
                })
            }
            Ok(Err(detail)) => {
                return Err(GatewayError::UpstreamProtocol {
                    group: group.to_string(),
                    detail,
                })
            }
            Ok(Ok(b)) => b,
        };
        relay::release(state, up, &peer).await;
        note(ctx, op, &body);
        ctx.compute_cost();
        ctx.status = status;
        let headers = litellm_headers(ctx);
        if let Err(e) = respond(session, status, &content_type, body, &ctx.call_id, &headers).await
        {
            ctx.status = CLIENT_CLOSED;
            ctx.failure = Some(format!("client went away: {e}"));
        }
        return Ok(());
    }
    // Streamed: the audio of a speech request, a text transcript, a transcription's SSE.
    ctx.status = status;
    ctx.stream = content_type.starts_with("text/event-stream");
    if !ctx.stream {
        // Speech is priced by its input, a text transcript by the file: known before the body,
        // so the header carries the cost. A streamed transcription's comes with its last event.
        ctx.compute_cost();
    }
    if let Err(e) = relay::stream_header(session, status, &content_type, ctx).await {
        ctx.status = CLIENT_CLOSED;
        ctx.failure = Some(format!("client went away: {e}"));
        up.shutdown().await;
        return Ok(());
    }
    let mut tail = BytesMut::new();
    let mut broken = false;
    loop {
        let chunk = match timeout_at(deadline.into(), up.read_response_body()).await {
            Ok(Ok(Some(c))) => c,
            Ok(Ok(None)) => break,
            Ok(Err(e)) => {
                ctx.failure = Some(format!("provider's answer broke off: {e}"));
                broken = true;
                break;
            }
            Err(_) => {
                ctx.failure = Some("provider's answer outlasted the request timeout".into());
                broken = true;
                break;
            }
        };
        if ctx.stream {
            tail.extend_from_slice(&chunk);
            if tail.len() > 2 * STREAM_TAIL {
                let _ = tail.split_to(tail.len() - STREAM_TAIL);
            }
        }
        if let Err(e) = session.write_response_body(Some(chunk), false).await {
            ctx.status = CLIENT_CLOSED;
            ctx.failure = Some(format!("client went away: {e}"));
            up.shutdown().await;
            return Ok(());
        }
    }
    if let Err(e) = session.write_response_body(None, true).await {
        ctx.status = CLIENT_CLOSED;
        ctx.failure = Some(format!("client went away: {e}"));
    }
    if ctx.stream {
        // The last event that carries `usage` (`transcript.text.done`).
        let last = tail[..]
            .split(|b| *b == b'\n')
            .filter_map(|l| l.strip_prefix(b"data:"))
            .rfind(|l| memchr::memmem::find(l, b"\"usage\"").is_some());
        if let Some(event) = last.map(trim).map(Bytes::copy_from_slice) {
            note(ctx, op, &event);
        }
    }
    if broken {
        up.shutdown().await;
    } else {
        relay::release(state, up, &peer).await;
    }
    Ok(())
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[start..]
}

async fn read_all(up: &mut HttpSession, cap: usize) -> Result<Bytes, String> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = up.read_response_body().await.map_err(|e| e.to_string())? {
        if buf.len() + chunk.len() > cap {
            return Err(format!("response body larger than {cap} bytes"));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// The parts of a transcription answer that price it.
#[derive(Deserialize, Default)]
struct Transcription {
    /// `verbose_json`: seconds of audio.
    duration: Option<f64>,
    usage: Option<TranscriptionUsage>,
}

/// `usage`: `{"type":"duration","seconds":N}` (whisper) or `{"type":"tokens",…}`.
#[derive(Deserialize, Default)]
struct TranscriptionUsage {
    seconds: Option<f64>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    input_token_details: Option<TokenDetails>,
}

#[derive(Deserialize, Default)]
struct TokenDetails {
    text_tokens: Option<u64>,
    audio_tokens: Option<u64>,
}

/// Notes what a JSON answer (or a stream's closing event) reports: a transcription's seconds
/// and tokens, an image edit's images and tokens.
fn note(ctx: &mut RequestCtx, op: Op, body: &[u8]) {
    match op {
        Op::ImageEdits => {
            if let Some(i) = ctx.images.as_deref_mut() {
                i.made = adapters::openai::response::images_of(body);
            }
            if let Some(u) = adapters::openai::response::usage_of(body) {
                ctx.note_usage(&u);
            }
        }
        Op::Transcriptions | Op::Translations => {
            let t: Transcription = serde_json::from_slice(body).unwrap_or_default();
            let Some(ask) = ctx.media.as_deref_mut() else {
                return;
            };
            let usage = t.usage.unwrap_or_default();
            ask.seconds = t.duration.or(usage.seconds).filter(|s| s.is_finite());
            if let (Some(input), Some(output)) = (usage.input_tokens, usage.output_tokens) {
                let details = usage.input_token_details.unwrap_or_default();
                let audio = details.audio_tokens.unwrap_or(input);
                let tokens = AudioTokens {
                    text: details.text_tokens.unwrap_or(input.saturating_sub(audio)),
                    audio,
                    output,
                };
                ask.tokens = Some(tokens);
                ctx.prompt_tokens = input;
                ctx.completion_tokens = output;
                ctx.usage_seen = true;
            }
        }
        Op::Speech => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(op: Op) -> RequestCtx {
        RequestCtx {
            media: Some(Box::new(super::super::Ask::new(op))),
            ..RequestCtx::default()
        }
    }

    #[test]
    fn transcription_answers_are_read_for_seconds_and_tokens() {
        let mut c = ctx(Op::Transcriptions);
        note(
            &mut c,
            Op::Transcriptions,
            br#"{"task":"transcribe","duration":12.5,"text":"hi","segments":[]}"#,
        );
        assert_eq!(c.media.as_ref().unwrap().seconds, Some(12.5));
        let mut c = ctx(Op::Transcriptions);
        note(
            &mut c,
            Op::Transcriptions,
            br#"{"text":"hi","usage":{"type":"duration","seconds":7}}"#,
        );
        assert_eq!(c.media.as_ref().unwrap().seconds, Some(7.0));
        let mut c = ctx(Op::Transcriptions);
        note(
            &mut c,
            Op::Transcriptions,
            br#"{"text":"hi","usage":{"type":"tokens","input_tokens":14,"output_tokens":45,"total_tokens":59,"input_token_details":{"text_tokens":4,"audio_tokens":10}}}"#,
        );
        let ask = c.media.as_ref().unwrap();
        assert_eq!(
            ask.tokens,
            Some(AudioTokens {
                text: 4,
                audio: 10,
                output: 45
            })
        );
        assert_eq!((c.prompt_tokens, c.completion_tokens), (14, 45));
        // Not JSON (a `text` transcript): nothing noted.
        let mut c = ctx(Op::Transcriptions);
        note(&mut c, Op::Transcriptions, b"hello there");
        assert_eq!(c.media.as_ref().unwrap().seconds, None);
    }
}
