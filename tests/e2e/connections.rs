//! Client connections: HTTP/1.1 pipelining, keep-alive reuse, slow clients (header timeout),
//! and the per-address connection limit.

use std::time::{Duration, Instant};

use bench::mock::{MockConfig, MockServer};
use serde_json::json;

use crate::raw_http::{get, post_json, RawConn, RawResponse};
use crate::support::*;

/// The assistant text of a chat completion, whole or streamed (SSE deltas concatenated).
fn answer(r: &RawResponse) -> String {
    let text = r.text();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        return v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string();
    }
    let mut out = String::new();
    for line in text.lines() {
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(data) {
            out.push_str(v["choices"][0]["delta"]["content"].as_str().unwrap_or(""));
        }
    }
    out
}

fn chat(content: &str, stream: bool, latency_ms: u64, pad: usize) -> serde_json::Value {
    json!({
        "model": "test-model",
        "stream": stream,
        "messages": [{"role": "user", "content": "x".repeat(pad)}],
        "mock": {"content": content, "latency_ms": latency_ms, "chunks": 3, "chunk_interval_ms": 20},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_all_answered_in_order() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config_for(&mock.url(), "", "")).await;
    let path = "/v1/chat/completions";

    // Six requests in one write: a slow POST (the provider answers after 150 ms, while the
    // rest already waits in the socket), GETs, a stream, a POST with a large body, and a last
    // GET asking to close. Over 4 KiB in all, so part of it stays unread in the socket while
    // the first request is served.
    let mut wire = post_json(
        path,
        MASTER_KEY,
        &chat("first answer", false, 150, 2500),
        "",
    );
    wire.extend(get("/health/liveliness", MASTER_KEY, ""));
    wire.extend(post_json(
        path,
        MASTER_KEY,
        &chat("third answer", true, 50, 10),
        "",
    ));
    wire.extend(get("/v1/models", MASTER_KEY, ""));
    wire.extend(post_json(
        path,
        MASTER_KEY,
        &chat("fifth answer", false, 0, 4000),
        "",
    ));
    wire.extend(get(
        "/health/liveliness",
        MASTER_KEY,
        "Connection: close\r\n",
    ));
    assert!(wire.len() > 6000);

    let mut c = RawConn::connect(gw.port).await.unwrap();
    c.send(&wire).await.unwrap();
    let within = Duration::from_secs(10);
    let mut rs = Vec::new();
    for i in 0..6 {
        let r = c
            .response_within(within)
            .await
            .unwrap_or_else(|e| panic!("response {} of 6: {e}\n{}", i + 1, gw.logs()));
        rs.push(r);
    }
    for (i, r) in rs.iter().enumerate() {
        assert_eq!(r.status, 200, "response {}: {}", i + 1, r.text());
    }
    assert_eq!(answer(&rs[0]), "first answer");
    assert_eq!(rs[1].text(), "\"I'm alive!\"");
    assert!(rs[2]
        .header("content-type")
        .is_some_and(|v| v.starts_with("text/event-stream")));
    assert!(rs[2].text().contains("data: [DONE]"), "{}", rs[2].text());
    assert_eq!(answer(&rs[2]), "third answer");
    assert!(rs[3].text().contains("test-model"), "{}", rs[3].text());
    assert_eq!(answer(&rs[4]), "fifth answer");
    assert_eq!(rs[5].text(), "\"I'm alive!\"");
    assert!(rs[5].closes());
    assert!(
        c.closed_within(Duration::from_secs(2)).await.unwrap(),
        "bytes after the last response"
    );
    // Each POST reached the provider once, none was cut off.
    assert_eq!(mock.request_count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_sent_while_the_previous_one_waits_on_the_provider_is_served_after_it() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let gw = Gateway::start(&config_for(&mock.url(), "", "")).await;
    let path = "/v1/chat/completions";
    for stream in [false, true] {
        let mut c = RawConn::connect(gw.port).await.unwrap();
        c.send(&post_json(
            path,
            MASTER_KEY,
            &chat("slow", stream, 300, 10),
            "",
        ))
        .await
        .unwrap();
        // The gateway is waiting on the provider when the next request arrives.
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.send(&post_json(
            path,
            MASTER_KEY,
            &chat("next", false, 0, 10),
            "",
        ))
        .await
        .unwrap();
        let first = c.response_within(Duration::from_secs(5)).await.unwrap();
        assert_eq!(first.status, 200, "{}", first.text());
        assert_eq!(answer(&first), "slow", "stream: {stream}");
        let second = c.response_within(Duration::from_secs(5)).await.unwrap();
        assert_eq!(second.status, 200, "{}", second.text());
        assert_eq!(answer(&second), "next", "stream: {stream}");
    }
}

/// What became of a slow client.
#[derive(Debug, PartialEq)]
enum Slow {
    /// Refused at once with this status.
    Refused(u16),
    /// Closed by the gateway without an answer, this long after connecting.
    Closed(Duration),
    /// Still open when the test gave up on it.
    Open,
}

/// Connects from 127.0.0.1 and sends a request header one byte every 300 ms, never finishing
/// it, until the gateway answers or closes (at most `give_up`).
async fn slowloris(port: u16, give_up: Duration) -> Slow {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = Instant::now();
    let Ok(s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return Slow::Closed(t.elapsed());
    };
    let (mut rd, mut wr) = s.into_split();
    let _ = wr
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nX-Slow: ")
        .await;
    let mut buf = [0u8; 1024];
    let mut got = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(300));
    loop {
        tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                _ if got.starts_with(b"HTTP/1.1 ") => {
                    let status = String::from_utf8_lossy(&got[9..12]).parse().unwrap_or(0);
                    return Slow::Refused(status);
                }
                _ => return Slow::Closed(t.elapsed()),
            },
            _ = tick.tick() => {
                if t.elapsed() > give_up {
                    return Slow::Open;
                }
                if wr.write_all(b"a").await.is_err() && got.is_empty() {
                    return Slow::Closed(t.elapsed());
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_cut_and_limited_per_address_while_others_are_served() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let tail =
        "tollgate_settings:\n  client_header_timeout_seconds: 2\n  max_connections_per_ip: 300\n";
    let gw = Gateway::start(&config_for(&mock.url(), "", tail)).await;
    let chat = post_json(
        "/v1/chat/completions",
        MASTER_KEY,
        &json!({"model": "test-model", "messages": [{"role": "user", "content": "hi"}]}),
        "",
    );

    // 400 slow clients from 127.0.0.1: 300 fit under its limit, 100 do not.
    let slow: Vec<_> = (0..400)
        .map(|_| tokio::spawn(slowloris(gw.port, Duration::from_secs(8))))
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await;

    // Another address is served promptly meanwhile.
    let t = Instant::now();
    let mut other = RawConn::connect_from([127, 0, 0, 2].into(), gw.port)
        .await
        .unwrap();
    other.send(&chat).await.unwrap();
    let r = other.response_within(Duration::from_secs(5)).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "took {:?} next to 300 slow clients",
        t.elapsed()
    );
    // The crowded address is refused, clearly.
    let mut crowded = RawConn::connect(gw.port).await.unwrap();
    crowded.send(&chat).await.unwrap();
    let r = crowded
        .response_within(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.closes());
    assert!(
        r.text().contains("max") || r.text().contains("connections"),
        "{}",
        r.text()
    );

    let mut outcomes = Vec::new();
    for s in slow {
        outcomes.push(s.await.unwrap());
    }
    let refused = outcomes
        .iter()
        .filter(|o| **o == Slow::Refused(429))
        .count();
    let cut: Vec<Duration> = outcomes
        .iter()
        .filter_map(|o| match o {
            Slow::Closed(d) => Some(*d),
            _ => None,
        })
        .collect();
    assert_eq!(refused + cut.len(), 400, "{outcomes:?}");
    assert_eq!(refused, 100, "{outcomes:?}");
    // Cut at the 2 s header deadline, not before.
    for d in &cut {
        assert!(
            *d >= Duration::from_millis(1900) && *d < Duration::from_secs(5),
            "a slow client was closed after {d:?}"
        );
    }
    // Its connections gone, the address is served again.
    let mut again = RawConn::connect(gw.port).await.unwrap();
    again.send(&chat).await.unwrap();
    let r = again.response_within(Duration::from_secs(5)).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let metrics = client().get(gw.url("/metrics")).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics.contains("tollgate_client_connections_closed_total{reason=\"header_timeout\"} 300"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tollgate_client_connections_closed_total{reason=\"per_ip_limit\"} 101"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_kept_alive_connections_are_closed_after_the_keepalive_timeout() {
    let tail =
        "tollgate_settings:\n  keepalive_timeout_seconds: 1\n  client_header_timeout_seconds: 5\n";
    let gw = Gateway::start(&format!("model_list: []\n{tail}")).await;
    let mut busy = RawConn::connect(gw.port).await.unwrap();
    let mut idle = RawConn::connect(gw.port).await.unwrap();
    idle.send(&get("/health/liveliness", "", "")).await.unwrap();
    assert_eq!(idle.response().await.unwrap().status, 200);
    let t = Instant::now();
    // A client that keeps using its connection keeps it.
    for _ in 0..6 {
        busy.send(&get("/health/liveliness", "", "")).await.unwrap();
        let r = busy.response_within(Duration::from_secs(2)).await.unwrap();
        assert_eq!(r.status, 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        idle.closed_within(Duration::from_secs(3)).await.unwrap(),
        "closed with bytes pending"
    );
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "closed after {took:?} idle"
    );
    busy.send(&get("/health/liveliness", "", "")).await.unwrap();
    assert_eq!(busy.response().await.unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_header_timeout_does_not_cut_requests_being_served_or_kept_alive() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let tail = "tollgate_settings:\n  client_header_timeout_seconds: 1\n";
    let gw = Gateway::start(&config_for(&mock.url(), "", tail)).await;
    let mut c = RawConn::connect(gw.port).await.unwrap();
    // The provider takes longer than the header timeout, twice on one connection, with a
    // pause between the requests longer than it too.
    for stream in [false, true] {
        c.send(&post_json(
            "/v1/chat/completions",
            MASTER_KEY,
            &chat("late", stream, 1600, 10),
            "",
        ))
        .await
        .unwrap();
        let r = c.response_within(Duration::from_secs(5)).await.unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(answer(&r), "late");
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
}
