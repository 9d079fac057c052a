//! Image URLs for providers that need the bytes (`Dialect::needs_image_bytes` in the provider
//! table: Ollama, Bedrock, Gemini, Vertex AI): each `http(s)` image in the request is fetched —
//! size-capped, time-bounded, never from a private address unless
//! `tollgate_settings.image_fetch_allow_private` — and inlined as a `data:` URL before
//! translation. Providers that fetch URLs themselves (OpenAI, Anthropic, Azure) are not touched.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use adapters::provider::Provider;
use adapters::CanonicalRequest;
use base64::Engine;
use bytes::BytesMut;
use conf::ApiBase;
use pingora::http::RequestHeader;
use serde_json::Value;

use crate::error::GatewayError;
use crate::state::AppState;
use crate::upstream::Upstream;

/// Largest image fetched.
const MAX_IMAGE_BYTES: usize = 20 << 20;
/// Time allowed per image.
const FETCH_TIMEOUT: Duration = Duration::from_secs(15);
/// Redirects followed per image.
const MAX_REDIRECTS: usize = 3;

/// Whether requests to `provider` need image URLs turned into bytes first (the provider
/// table's answer).
pub fn needs_bytes(provider: Provider) -> bool {
    provider.dialect().needs_image_bytes()
}

/// Replaces every `http(s)` `image_url` in the chat messages with a `data:` URL.
pub async fn inline(
    state: &AppState,
    req: &mut CanonicalRequest,
    allow_private: bool,
) -> Result<(), GatewayError> {
    let Some(Value::Array(messages)) = req.body.get_mut("messages") else {
        return Ok(());
    };
    for message in messages.iter_mut() {
        let Some(Value::Array(parts)) = message.get_mut("content") else {
            continue;
        };
        for part in parts.iter_mut() {
            let Some(url) = part.pointer_mut("/image_url/url") else {
                continue;
            };
            let Some(link) = url
                .as_str()
                .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
            else {
                continue;
            };
            let data = fetch(state, link, allow_private).await.map_err(|e| {
                GatewayError::Invalid(
                    adapters::ApiError::new(
                        400,
                        "invalid_request_error",
                        format!("could not fetch image {link}: {e}"),
                    )
                    .with_param("messages"),
                )
            })?;
            *url = Value::String(data);
        }
    }
    Ok(())
}

/// GETs an image and returns it as a `data:` URL.
async fn fetch(state: &AppState, link: &str, allow_private: bool) -> Result<String, String> {
    let deadline = Instant::now() + FETCH_TIMEOUT;
    let mut link = link.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let fut = get(state, &link, allow_private);
        match tokio::time::timeout_at(deadline.into(), fut).await {
            Err(_) => return Err(format!("timed out after {FETCH_TIMEOUT:?}")),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(Fetched::Redirect(to))) => link = to,
            Ok(Ok(Fetched::Image { mime, bytes })) => {
                let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
                return Ok(format!("data:{mime};base64,{b64}"));
            }
        }
    }
    Err(format!("more than {MAX_REDIRECTS} redirects"))
}

enum Fetched {
    Redirect(String),
    Image { mime: String, bytes: BytesMut },
}

async fn get(state: &AppState, link: &str, allow_private: bool) -> Result<Fetched, String> {
    let uri: http::Uri = link.parse().map_err(|e| format!("bad URL: {e}"))?;
    let tls = uri.scheme_str() == Some("https");
    let host = uri
        .host()
        .ok_or("URL has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let base = ApiBase {
        tls,
        host: host.clone(),
        port,
        path: String::new(),
        url: link.to_string(),
    };
    let upstream = Upstream::new(&base);
    let addr = upstream.addr(Duration::from_secs(5)).await?;
    if !allow_private && is_private(addr.ip()) {
        return Err(format!(
            "{host} resolves to a private address ({})",
            addr.ip()
        ));
    }
    let peer = upstream.peer(addr, Duration::from_secs(5));
    let (mut s, _) = state
        .connector
        .get_http_session(&peer)
        .await
        .map_err(|e| e.to_string())?;
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut h =
        RequestHeader::build_no_case("GET", path.as_bytes(), Some(3)).map_err(|e| e.to_string())?;
    h.insert_header("host", upstream.host_header.as_str())
        .map_err(|e| e.to_string())?;
    h.insert_header("accept", "image/*")
        .map_err(|e| e.to_string())?;
    h.insert_header(
        "user-agent",
        concat!("tollgate/", env!("CARGO_PKG_VERSION")),
    )
    .map_err(|e| e.to_string())?;
    s.write_request_header(Box::new(h))
        .await
        .map_err(|e| e.to_string())?;
    s.finish_request_body().await.map_err(|e| e.to_string())?;
    s.read_response_header().await.map_err(|e| e.to_string())?;
    let resp = s.response_header().ok_or("no response")?;
    let status = resp.status.as_u16();
    let header = |name| {
        resp.headers
            .get(name)
            .and_then(|v: &http::HeaderValue| v.to_str().ok())
            .map(str::to_string)
    };
    if (300..400).contains(&status) {
        let to = header(http::header::LOCATION).ok_or("redirect without Location")?;
        return Ok(Fetched::Redirect(to));
    }
    if status != 200 {
        return Err(format!("HTTP {status}"));
    }
    let mime = header(http::header::CONTENT_TYPE)
        .map(|ct| ct.split(';').next().unwrap_or("").trim().to_string())
        .filter(|ct| ct.starts_with("image/"))
        .ok_or("the URL is not an image (content-type)")?;
    let mut bytes = BytesMut::new();
    while let Some(chunk) = s.read_response_body().await.map_err(|e| e.to_string())? {
        if bytes.len() + chunk.len() > MAX_IMAGE_BYTES {
            return Err(format!("image larger than {MAX_IMAGE_BYTES} bytes"));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Fetched::Image { mime, bytes })
}

/// Loopback, private (RFC 1918 / ULA), link-local, unspecified or CGNAT addresses.
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.5",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "0.0.0.0",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }
}
