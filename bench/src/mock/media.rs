//! The OpenAI media endpoints (also under Azure's deployment paths, the deployment as the
//! model): `/audio/transcriptions` and `/audio/translations` (multipart; the `file` part's
//! duration from its WAV header, else its size at 128 kbit/s; `response_format` `json`,
//! `verbose_json` (with `duration`), `text`, `srt` or `vtt`; whisper models report `usage` in
//! seconds, others in tokens; `stream=true` answers `transcript.text.*` events), `/images/edits`
//! (multipart: `n` images of the `image` part) and `/audio/speech` (JSON in; the audio —
//! 100 bytes per input character — streamed in `chunks` pieces, `chunk_interval` apart, with
//! the content type of its `response_format`).

use std::time::Duration;

use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use super::body::{MockBody, Step};
use super::config::Plan;
use super::dialect::{Dialect, OpenAiKind};
use super::handler::{error, full, sse_response, stream_response, unix_now};
use super::Shared;

/// One part of a multipart body.
pub(crate) struct Part<'a> {
    pub name: String,
    pub filename: Option<String>,
    pub value: &'a [u8],
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The parts of a whole multipart body with `boundary`; `None` when it is malformed.
pub(crate) fn parts<'a>(body: &'a [u8], boundary: &str) -> Option<Vec<Part<'a>>> {
    let delimiter = format!("\r\n--{boundary}").into_bytes();
    let first = &delimiter[2..];
    let mut at = if body.starts_with(first) {
        first.len()
    } else {
        find(body, &delimiter)? + delimiter.len()
    };
    let mut out = Vec::new();
    loop {
        let rest = &body[at..];
        if rest.starts_with(b"--") {
            return Some(out);
        }
        let rest = rest.strip_prefix(b"\r\n")?;
        let head_end = find(rest, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&rest[..head_end]).ok()?;
        let value_start = at + 2 + head_end + 4;
        let len = find(&body[value_start..], &delimiter)?;
        let disposition = head
            .split("\r\n")
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
        out.push(Part {
            name: param(disposition, "name")?,
            filename: param(disposition, "filename"),
            value: &body[value_start..value_start + len],
        });
        at = value_start + len + delimiter.len();
    }
}

fn param(header: &str, key: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The boundary of a multipart content type.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
        .then(|| param(content_type, "boundary"))
        .flatten()
}

/// Seconds of audio in a WAV file, else its size at 128 kbit/s.
fn seconds_of(file: &[u8]) -> f64 {
    let u32_at = |i: usize| {
        file.get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if file.len() >= 44 && &file[..4] == b"RIFF" && &file[8..12] == b"WAVE" {
        if let (Some(rate), Some(size)) = (u32_at(28), u32_at(40)) {
            if rate > 0 && &file[36..40] == b"data" {
                return f64::from(size) / f64::from(rate);
            }
        }
    }
    file.len() as f64 / 16_000.0
}

/// Answers a multipart request (`/audio/transcriptions`, `/audio/translations`,
/// `/images/edits`) for `model` (the Azure deployment; else the body's `model`).
pub(crate) fn multipart(
    shared: &std::sync::Arc<Shared>,
    plan: &Plan,
    kind: OpenAiKind,
    deployment: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Response<MockBody> {
    let bad = |m: &str| error(Dialect::OpenAi, StatusCode::BAD_REQUEST, m);
    let Some(b) = boundary(content_type) else {
        return bad("expected a multipart/form-data body");
    };
    let Some(parts) = parts(body, &b) else {
        return bad("malformed multipart body");
    };
    let text = |name: &str| {
        parts
            .iter()
            .find(|p| p.name == name && p.filename.is_none())
            .and_then(|p| std::str::from_utf8(p.value).ok())
    };
    let Some(model) = deployment.or(text("model")) else {
        return bad("you must provide a model parameter");
    };
    let file_name = if kind == OpenAiKind::ImageEdits {
        "image"
    } else {
        "file"
    };
    let Some(file) = parts
        .iter()
        .find(|p| p.filename.is_some() && (p.name == file_name || p.name == "image[]"))
    else {
        return bad(&format!("'{file_name}' is a required property"));
    };
    if kind == OpenAiKind::ImageEdits {
        let n = text("n").and_then(|n| n.parse::<u64>().ok()).unwrap_or(1);
        let prompt = text("prompt").unwrap_or("");
        let data: Vec<Value> = (0..n.clamp(1, 10))
            .map(|i| {
                json!({
                    "url": format!("https://mock.invalid/edits/{i}.png"),
                    "revised_prompt": format!("{prompt} [image bytes={}]", file.value.len()),
                })
            })
            .collect();
        return full(
            StatusCode::OK,
            Bytes::from(json!({"created": unix_now(), "data": data}).to_string()),
        );
    }
    let secs = seconds_of(file.value);
    let said = format!(
        "{} ({} bytes of audio, {secs:.3} s)",
        plan.content,
        file.value.len()
    );
    let whisper = model.contains("whisper");
    let usage = if whisper {
        json!({"type": "duration", "seconds": secs.ceil()})
    } else {
        let audio = (secs * 10.0).ceil() as u64;
        let output = plan
            .completion_tokens
            .unwrap_or(said.split(' ').count() as u64);
        json!({
            "type": "tokens",
            "input_tokens": audio + 3,
            "output_tokens": output,
            "total_tokens": audio + 3 + output,
            "input_token_details": {"text_tokens": 3, "audio_tokens": audio},
        })
    };
    if text("stream") == Some("true") {
        let mut steps: Vec<(Duration, Step)> = said
            .split(' ')
            .map(|w| {
                let e = json!({"type": "transcript.text.delta", "delta": format!("{w} ")});
                (
                    plan.chunk_interval,
                    Step::Data(Bytes::from(format!("data: {e}\n\n"))),
                )
            })
            .collect();
        let done = json!({"type": "transcript.text.done", "text": said, "usage": usage});
        steps.push((
            Duration::ZERO,
            Step::Data(Bytes::from(format!("data: {done}\n\n"))),
        ));
        return sse_response(steps, shared);
    }
    match text("response_format").unwrap_or("json") {
        "text" | "srt" | "vtt" => {
            let mut resp = full(StatusCode::OK, Bytes::from(said));
            resp.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            resp
        }
        "verbose_json" => {
            let task = if kind == OpenAiKind::Translations {
                "translate"
            } else {
                "transcribe"
            };
            let out = json!({
                "task": task,
                "language": "english",
                "duration": secs,
                "text": said,
                "segments": [{"id": 0, "start": 0.0, "end": secs, "text": said}],
                "usage": usage,
            });
            full(StatusCode::OK, Bytes::from(out.to_string()))
        }
        _ => full(
            StatusCode::OK,
            Bytes::from(json!({"text": said, "usage": usage}).to_string()),
        ),
    }
}

/// `/audio/speech`: the audio of `input` (100 bytes a character: an `ID3`/`RIFF` header, then
/// filler) streamed in `chunks` pieces.
pub(crate) fn speech(
    shared: &std::sync::Arc<Shared>,
    plan: &Plan,
    body: &[u8],
) -> Response<MockBody> {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let Some(input) = v.get("input").and_then(Value::as_str) else {
        return error(
            Dialect::OpenAi,
            StatusCode::BAD_REQUEST,
            "'input' is a required property",
        );
    };
    if v.get("voice").is_none() {
        return error(
            Dialect::OpenAi,
            StatusCode::BAD_REQUEST,
            "'voice' is a required property",
        );
    }
    let (content_type, magic): (&'static str, &[u8]) =
        match v.get("response_format").and_then(Value::as_str) {
            Some("wav") => ("audio/wav", b"RIFF"),
            Some("opus") => ("audio/opus", b"OggS"),
            Some("aac") => ("audio/aac", b"\xff\xf1"),
            Some("flac") => ("audio/flac", b"fLaC"),
            Some("pcm") => ("audio/pcm", b""),
            _ => ("audio/mpeg", b"ID3"),
        };
    let total = input.chars().count().max(1) * 100;
    let mut audio = magic.to_vec();
    audio.resize(total.max(magic.len()), 0x55);
    let pieces = plan.chunks.max(1);
    let size = audio.len().div_ceil(pieces);
    let steps = audio
        .chunks(size)
        .enumerate()
        .map(|(i, c)| {
            let delay = if i == 0 {
                Duration::ZERO
            } else {
                plan.chunk_interval
            };
            (delay, Step::Data(Bytes::copy_from_slice(c)))
        })
        .collect();
    stream_response(steps, shared, content_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_parts_and_wav_seconds() {
        let mut wav =
            b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x80>\0\0\0}\0\0\x02\0\x10\0data".to_vec();
        wav.extend_from_slice(&64_000u32.to_le_bytes());
        assert_eq!(seconds_of(&wav), 2.0);
        assert_eq!(seconds_of(&[0u8; 32_000]), 2.0);
        let body = b"--b1\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--b1\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nxyz\r\n--b1--\r\n";
        let p = parts(body, "b1").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].name.as_str(), p[0].value),
            ("model", &b"whisper-1"[..])
        );
        assert_eq!(p[1].filename.as_deref(), Some("a.wav"));
        assert_eq!(p[1].value, b"xyz");
        assert_eq!(
            boundary("multipart/form-data; boundary=b1").as_deref(),
            Some("b1")
        );
    }
}
