//! Pass-through request bodies streamed to the provider: a large body reaches the provider
//! while the client is still sending it (model in the path, model first in the body, a custom
//! route), a body whose model comes last is read up to it, and the size cap still holds — a
//! declared or a streamed body over it is refused with 413 in the provider's error shape and
//! the provider never gets a complete request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::budgets::generate_key;
use crate::support::*;

const MB: usize = 1 << 20;

/// A provider that counts request body bytes as they arrive and answers, once a body is
/// complete, with what it got.
struct Counting {
    port: u16,
    /// Body bytes received on the wire (chunk framing included), over all requests.
    received: Arc<AtomicUsize>,
    /// Complete requests: their header and body.
    done: Done,
}

/// The complete requests a [`Counting`] provider got: header (lower-cased) and body.
type Done = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

impl Counting {
    async fn start() -> Counting {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(Mutex::new(Vec::new()));
        let (r, d) = (received.clone(), done.clone());
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, r.clone(), d.clone()));
            }
        });
        Counting {
            port,
            received,
            done,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn wait_received(&self, at_least: usize) -> bool {
        for _ in 0..200 {
            if self.received.load(Ordering::SeqCst) >= at_least {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

async fn serve(mut sock: TcpStream, received: Arc<AtomicUsize>, done: Done) {
    loop {
        let mut buf = Vec::new();
        let mut tmp = vec![0u8; 64 << 10];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match sock.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
        let mut rest = buf.split_off(head_end);
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse::<usize>().unwrap());
        let chunked = head.contains("transfer-encoding: chunked");
        let mut body = Vec::new();
        let mut counted = 0;
        loop {
            // What is complete so far.
            let complete = if chunked {
                dechunk(&rest).map(|b| body = b).is_some()
            } else {
                let want = length.unwrap_or(0);
                if rest.len() >= want {
                    body = rest[..want].to_vec();
                    true
                } else {
                    false
                }
            };
            received.fetch_add(rest.len() - counted, Ordering::SeqCst);
            counted = rest.len();
            if complete {
                break;
            }
            match sock.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => rest.extend_from_slice(&tmp[..n]),
            }
        }
        let answer = json!({"received": body.len(),
                            "usage": {"prompt_tokens": 1, "completion_tokens": 1}})
        .to_string();
        done.lock().unwrap().push((head, body));
        let out = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if sock.write_all(out.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The body of a complete chunked message, or `None` while it is incomplete.
fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line = b.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&b[..line]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        b = &b[line + 2..];
        if size == 0 {
            return b.starts_with(b"\r\n").then_some(out);
        }
        if b.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

fn config(base: &str) -> String {
    format!(
        "model_list:
  - model_name: gemini-group
    litellm_params: {{model: gemini/gemini-up, api_base: '{base}', api_key: sk-gemini-upstream}}
  - model_name: gpt-group
    litellm_params: {{model: openai/gpt-up, api_base: '{base}/v1', api_key: sk-openai-upstream}}
  - model_name: claude-group
    litellm_params: {{model: anthropic/claude-up, api_base: '{base}', api_key: sk-anthropic-upstream}}
general_settings:
  master_key: {MASTER_KEY}
  max_request_size_mb: 3
  pass_through_endpoints:
    - {{path: /upload, target: '{base}/v1/files', auth: false}}
"
    )
}

/// Sends a POST over a raw connection: the header, `first` bytes of `body`, then (once
/// `between` resolved) the rest; chunked unless `declared` (a chunked body left unfinished when
/// it is `over` the cap: the gateway has read it all when it refuses it). Returns the status,
/// the body, and what `between` said.
#[allow(clippy::too_many_arguments)]
async fn send_in_two<F: std::future::Future<Output = bool>>(
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    first: usize,
    declared: bool,
    over: bool,
    between: impl FnOnce() -> F,
) -> (u16, Value, bool) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut head =
        format!("POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if declared {
        head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    } else {
        head.push_str("transfer-encoding: chunked\r\n\r\n");
    }
    s.write_all(head.as_bytes()).await.unwrap();
    let frame = |part: &[u8]| {
        if declared {
            part.to_vec()
        } else {
            let mut f = format!("{:x}\r\n", part.len()).into_bytes();
            f.extend_from_slice(part);
            f.extend_from_slice(b"\r\n");
            f
        }
    };
    s.write_all(&frame(&body[..first])).await.unwrap();
    let early = between().await;
    if first < body.len() {
        // A refused request's connection may be closed under the rest.
        let _ = s.write_all(&frame(&body[first..])).await;
    }
    if !declared && !over {
        let _ = s.write_all(b"0\r\n\r\n").await;
    }
    let (status, v) = read_response(&mut s).await;
    (status, v, early)
}

async fn read_response(s: &mut TcpStream) -> (u16, Value) {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
            let status: u16 = head[9..12].parse().unwrap();
            let body = &buf[i + 4..];
            let text = if head.contains("transfer-encoding: chunked") {
                dechunk(body).map(|b| String::from_utf8(b).unwrap())
            } else {
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse::<usize>().unwrap())
                    .unwrap_or(0);
                (body.len() >= len).then(|| String::from_utf8_lossy(&body[..len]).to_string())
            };
            if let Some(t) = text {
                return (status, serde_json::from_str(&t).unwrap_or(Value::Null));
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut tmp))
            .await
            .expect("a response within 20 s")
            .unwrap();
        assert!(
            n > 0,
            "connection closed before a whole response: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&tmp[..n]);
    }
}

fn big_text(n: usize) -> String {
    "abcdefghij".repeat(n / 10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_reach_the_provider_before_the_client_has_sent_them_whole() {
    let up = Counting::start().await;
    let gw = Gateway::start(&config(&up.url())).await;
    let key = generate_key(&gw, json!({})).await;
    let port = gw.port;

    // The model in the path: sent on after the head; the provider has most of the first half
    // while the client still holds the second.
    let body = json!({"contents": [{"parts": [{"text": big_text(2 * MB + MB / 2)}]}]}).to_string();
    let (status, v, early) = send_in_two(
        port,
        "/gemini/v1beta/models/gemini-up:generateContent",
        &[("x-goog-api-key", &key)],
        body.as_bytes(),
        MB + MB / 4,
        true,
        false,
        || up.wait_received(MB),
    )
    .await;
    assert!(
        early,
        "the provider got no megabyte while the client was sending"
    );
    assert_eq!(
        (status, v["received"].as_u64()),
        (200, Some(body.len() as u64)),
        "{v}"
    );
    let (head, got) = up.done.lock().unwrap().last().cloned().unwrap();
    assert!(
        head.contains("x-goog-api-key: sk-gemini-upstream"),
        "{head}"
    );
    assert_eq!(got, body.as_bytes(), "the body goes unchanged");

    // The model first in the body, the client's body chunked: streamed once the model is read.
    let before = up.received.load(Ordering::SeqCst);
    // (Written out: serde_json would sort `messages` before `model`.)
    let body = format!(
        r#"{{"model":"gpt-up","messages":[{{"role":"user","content":"{}"}}]}}"#,
        big_text(2 * MB)
    );
    let (status, v, early) = send_in_two(
        port,
        "/openai/v1/chat/completions",
        &[("authorization", &format!("Bearer {key}"))],
        body.as_bytes(),
        MB,
        false,
        false,
        || up.wait_received(before + MB / 2),
    )
    .await;
    assert!(early, "a body naming its model first was held back");
    assert_eq!(
        (status, v["received"].as_u64()),
        (200, Some(body.len() as u64)),
        "{v}"
    );
    let (head, got) = up.done.lock().unwrap().last().cloned().unwrap();
    assert!(
        head.contains("authorization: bearer sk-openai-upstream"),
        "{head}"
    );
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert_eq!(got, body.as_bytes());

    // A custom route (no key, no model needed) streams too.
    let before = up.received.load(Ordering::SeqCst);
    let body = big_text(2 * MB);
    let (status, v, early) = send_in_two(
        port,
        "/upload",
        &[],
        body.as_bytes(),
        MB,
        true,
        false,
        || up.wait_received(before + MB / 2),
    )
    .await;
    assert!(early, "the custom route held the body back");
    assert_eq!(
        (status, v["received"].as_u64()),
        (200, Some(body.len() as u64))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_named_last_is_read_up_to_and_the_size_cap_holds_mid_stream() {
    let up = Counting::start().await;
    let gw = Gateway::start(&config(&up.url())).await;
    let key = generate_key(&gw, json!({"models": ["claude-group"]})).await;
    let port = gw.port;

    // The model after a 1 MB message (the Anthropic and OpenAI SDKs' key order): the body is
    // read up to it, access checked on it, then sent.
    let late = |model: &str| json!({"max_tokens": 10, "messages": [{"role": "user", "content": big_text(MB)}], "model": model});
    let r = client()
        .post(gw.url("/anthropic/v1/messages"))
        .header("x-api-key", &key)
        .json(&late("claude-up"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["received"].as_u64(),
        Some(late("claude-up").to_string().len() as u64)
    );
    let r = client()
        .post(gw.url("/anthropic/v1/messages"))
        .header("x-api-key", &key)
        .json(&late("claude-other"))
        .send()
        .await
        .unwrap();
    let e = expect_error(r, 401).await;
    assert!(
        e["message"].as_str().unwrap().contains("claude-other"),
        "{e}"
    );
    let complete = up.done.lock().unwrap().len();
    assert_eq!(
        complete, 1,
        "the refused request never reached the provider"
    );

    // A declared length over the cap (3 MB): refused before the body is asked for (`Expect:
    // 100-continue`), in Google's shape.
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let head = format!(
        "POST /gemini/v1beta/models/gemini-up:generateContent HTTP/1.1\r\nhost: x\r\n\
         x-goog-api-key: {key}\r\ncontent-length: {}\r\nexpect: 100-continue\r\n\r\n",
        4 * MB
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let (status, v) = read_response(&mut s).await;
    assert_eq!(status, 413);
    let e = &v["error"];
    assert_eq!(
        (e["code"].as_u64(), e["status"].as_str()),
        (Some(413), Some("INVALID_ARGUMENT")),
        "{v}"
    );
    assert!(
        e["message"].as_str().unwrap().contains("Max size is 3 MB"),
        "{v}"
    );

    // A chunked body crossing the cap while it streams: the provider's request is cut off, the
    // client gets 413 in the provider's shape (Anthropic's here), the provider no complete
    // request.
    let admin = generate_key(&gw, json!({})).await;
    let body = format!(
        "{{\"model\":\"claude-up\",\"messages\":[{{\"role\":\"user\",\"content\":\"{}\"}}]}}",
        big_text(4 * MB)
    );
    let sent_before = up.received.load(Ordering::SeqCst);
    let (status, v, early) = send_in_two(
        port,
        "/anthropic/v1/messages",
        &[("x-api-key", &admin)],
        &body.as_bytes()[..3 * MB + 16 * 1024],
        2 * MB,
        false,
        true,
        || up.wait_received(sent_before + MB),
    )
    .await;
    assert!(early, "the body under the cap was streamed");
    assert_eq!(status, 413, "{v}");
    assert_eq!(
        (v["type"].as_str(), v["error"]["type"].as_str()),
        (Some("error"), Some("request_too_large")),
        "{v}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        up.done.lock().unwrap().len(),
        complete,
        "no complete request reached the provider"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_answering_before_the_body_is_sent_whole_is_relayed() {
    // A provider that reads the header and a little of the body, then refuses and closes.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 << 10];
                let mut got = 0;
                while got < 256 << 10 {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got += n,
                    }
                }
                let body = r#"{"error":{"code":400,"message":"too much for me","status":"INVALID_ARGUMENT"}}"#;
                let out = format!(
                    "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(out.as_bytes()).await;
                // Drain for a while, as servers do, so the answer is not lost to a reset.
                let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
                while tokio::time::Instant::now() < deadline {
                    match tokio::time::timeout(Duration::from_millis(100), sock.read(&mut buf))
                        .await
                    {
                        Ok(Ok(0)) | Ok(Err(_)) => return,
                        _ => {}
                    }
                }
            });
        }
    });
    let gw = Gateway::start(&config(&base)).await;
    let key = generate_key(&gw, json!({})).await;
    let body = big_text(2 * MB);
    let (status, v, _) = send_in_two(
        gw.port,
        "/gemini/v1beta/models/gemini-up:generateContent",
        &[("x-goog-api-key", &key)],
        body.as_bytes(),
        MB,
        true,
        false,
        || async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            true
        },
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        v["error"]["message"], "too much for me",
        "the provider's own answer"
    );
}
