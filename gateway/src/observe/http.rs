//! The one HTTP POST every observability sink uses (Langfuse, OTLP, webhooks, Slack): a URL
//! parsed once into a target, DNS by tokio (never Pingora's blocking resolver), Pingora's pooled
//! connector with SNI and certificate checks, a deadline on the whole exchange, and the answer's
//! status (its body read and dropped, at most 64 KiB; kept for the external guardrails,
//! `post_for_answer`).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use pingora::connectors::http::Connector;
use pingora::http::RequestHeader;
use pingora::upstreams::peer::HttpPeer;

/// Read at most this much of an answer (sinks answer with a short status document).
const MAX_ANSWER: usize = 64 << 10;

/// Where a sink posts.
#[derive(Debug, Clone)]
pub struct Target {
    tls: bool,
    host: String,
    port: u16,
    host_header: String,
    path: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, String> {
        let parsed: http::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
        let tls = match parsed.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("not an http:// or https:// URL".into()),
        };
        let authority = parsed.authority().ok_or("URL has no host")?;
        let raw_host = authority.host();
        let host = raw_host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(raw_host)
            .to_string();
        let default_port = if tls { 443 } else { 80 };
        let port = authority.port_u16().unwrap_or(default_port);
        let host_header = if port == default_port {
            raw_host.to_string()
        } else {
            format!("{raw_host}:{port}")
        };
        let path = parsed
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".into());
        Ok(Target {
            tls,
            host,
            port,
            host_header,
            path,
        })
    }

    fn peer(&self, addr: SocketAddr, timeout: Duration) -> HttpPeer {
        let mut peer = HttpPeer::new(addr, self.tls, self.host.clone());
        let o = &mut peer.options;
        o.connection_timeout = Some(timeout);
        o.total_connection_timeout = Some(timeout);
        o.read_timeout = Some(timeout);
        o.write_timeout = Some(timeout);
        o.verify_cert = true;
        o.verify_hostname = true;
        peer
    }
}

/// POSTs `body` with `headers` (lower-case names); the answer's status, or why there is none.
/// The whole exchange is bounded by `timeout`.
pub async fn post(
    connector: &Connector,
    target: &Target,
    headers: &[(String, String)],
    content_type: &str,
    body: Bytes,
    timeout: Duration,
) -> Result<u16, String> {
    let sent = exchange(
        connector,
        target,
        headers,
        content_type,
        body,
        timeout,
        false,
    );
    match tokio::time::timeout(timeout, sent).await {
        Ok(r) => r.map(|(status, _)| status),
        Err(_) => Err(format!("no answer within {}s", timeout.as_secs_f64())),
    }
}

/// [`post`], keeping the answer's body (at most 64 KiB: a longer answer is an error). For
/// calls whose answer matters (external guardrails).
pub async fn post_for_answer(
    connector: &Connector,
    target: &Target,
    headers: &[(String, String)],
    body: Bytes,
    timeout: Duration,
) -> Result<(u16, Bytes), String> {
    let sent = exchange(
        connector,
        target,
        headers,
        "application/json",
        body,
        timeout,
        true,
    );
    match tokio::time::timeout(timeout, sent).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {}s", timeout.as_secs_f64())),
    }
}

async fn exchange(
    connector: &Connector,
    target: &Target,
    headers: &[(String, String)],
    content_type: &str,
    body: Bytes,
    timeout: Duration,
    keep: bool,
) -> Result<(u16, Bytes), String> {
    let addr = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("DNS lookup of {} failed: {e}", target.host))?
        .next()
        .ok_or_else(|| format!("DNS lookup of {} returned nothing", target.host))?;
    let peer = target.peer(addr, timeout);
    let (mut s, _) = connector
        .get_http_session(&peer)
        .await
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    let mut h = RequestHeader::build("POST", target.path.as_bytes(), Some(6 + headers.len()))
        .map_err(|e| e.to_string())?;
    let fixed = [
        ("host", target.host_header.clone()),
        ("content-type", content_type.to_string()),
        ("content-length", body.len().to_string()),
        ("user-agent", "tollgate".to_string()),
    ];
    for (k, v) in fixed {
        h.insert_header(k, v).map_err(|e| e.to_string())?;
    }
    for (k, v) in headers {
        h.insert_header(k.clone(), v.as_str())
            .map_err(|e| format!("header {k}: {e}"))?;
    }
    let result = async {
        let status = crate::upstream::send(&mut s, h, body).await?;
        let mut read = 0;
        let mut answer = bytes::BytesMut::new();
        while let Some(chunk) = s
            .read_response_body()
            .await
            .map_err(|e| format!("reading answer: {e}"))?
        {
            read += chunk.len();
            if read > MAX_ANSWER {
                if keep {
                    return Err(format!("answer longer than {MAX_ANSWER} bytes"));
                }
                return Ok((status, false, answer));
            }
            if keep {
                answer.extend_from_slice(&chunk);
            }
        }
        Ok((status, true, answer))
    }
    .await;
    match result {
        Ok((status, true, answer)) => {
            // Read to the end: the connection can carry the next batch.
            connector.release_http_session(s, &peer, None).await;
            Ok((status, answer.freeze()))
        }
        Ok((status, false, answer)) => {
            s.shutdown().await;
            Ok((status, answer.freeze()))
        }
        Err(e) => {
            s.shutdown().await;
            Err(e)
        }
    }
}
