//! The token endpoint: `token_uri` parsed into a peer, the form POST over Pingora's connector,
//! and the token response (or its error) read back.

use super::*;

/// The token endpoint, parsed from `token_uri`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Endpoint {
    pub(super) tls: bool,
    /// Host name or IP literal without brackets: DNS lookup and SNI.
    pub(super) host: String,
    pub(super) port: u16,
    /// `Host` header value (port only when not the scheme's default).
    pub(super) host_header: String,
    /// Path and query.
    pub(super) path: String,
}

impl Endpoint {
    pub(super) fn parse(uri: &str) -> Result<Endpoint, String> {
        let bad = |why: &str| format!("service account key: `token_uri` {uri:?} {why}");
        let parsed: http::Uri = uri
            .parse()
            .map_err(|e| bad(&format!("is not a URL: {e}")))?;
        let tls = match parsed.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad("is not an http:// or https:// URL")),
        };
        let authority = parsed.authority().ok_or_else(|| bad("has no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("must not contain user information"));
        }
        let raw_host = authority.host();
        let host = raw_host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(raw_host);
        if host.is_empty() {
            return Err(bad("has no host"));
        }
        let default_port = if tls { 443 } else { 80 };
        let port = authority.port_u16().unwrap_or(default_port);
        let host_header = if port == default_port {
            raw_host.to_string()
        } else {
            format!("{raw_host}:{port}")
        };
        let path = match parsed.path_and_query().map(|p| p.as_str()) {
            Some(p) if !p.is_empty() => p.to_string(),
            _ => "/".to_string(),
        };
        Ok(Endpoint {
            tls,
            host: host.to_string(),
            port,
            host_header,
            path,
        })
    }

    /// A peer for one connection, built like [`crate::upstream::Upstream::peer`]: SNI is the
    /// host name, so certificate verification is never silently off.
    pub(super) fn peer(&self, addr: SocketAddr) -> HttpPeer {
        let mut peer = HttpPeer::new(addr, self.tls, self.host.clone());
        let opts = &mut peer.options;
        opts.connection_timeout = Some(FETCH_TIMEOUT);
        opts.total_connection_timeout = Some(FETCH_TIMEOUT);
        opts.read_timeout = Some(FETCH_TIMEOUT);
        opts.write_timeout = Some(FETCH_TIMEOUT);
        opts.verify_cert = true;
        opts.verify_hostname = true;
        peer
    }
}

/// Sends the form and reads the whole response. The connection is closed afterwards (a token
/// request per ~50 minutes gains nothing from pooling).
pub(super) async fn exchange(
    mut s: HttpSession,
    ep: &Endpoint,
    body: Bytes,
) -> Result<(u16, Bytes), String> {
    let result = async {
        let mut h =
            RequestHeader::build("POST", ep.path.as_bytes(), Some(6)).map_err(|e| e.to_string())?;
        let headers: [(&str, String); 6] = [
            ("host", ep.host_header.clone()),
            (
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            ),
            ("content-length", body.len().to_string()),
            ("accept", "application/json".to_string()),
            ("user-agent", "tollgate".to_string()),
            ("connection", "close".to_string()),
        ];
        for (name, value) in headers {
            h.insert_header(name, value).map_err(|e| e.to_string())?;
        }
        let status = crate::upstream::send(&mut s, h, body).await?;
        let mut buf = BytesMut::new();
        while let Some(chunk) = s
            .read_response_body()
            .await
            .map_err(|e| format!("reading response: {e}"))?
        {
            if buf.len() + chunk.len() > MAX_RESPONSE {
                return Err(format!("response larger than {MAX_RESPONSE} bytes"));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok((status, buf.freeze()))
    }
    .await;
    s.shutdown().await;
    result
}

/// Reads the token endpoint's answer. `started` is when the request was made, so the cached
/// expiry errs on the early side.
pub(super) fn token_response(status: u16, body: &[u8], started: Instant) -> Result<Cached, String> {
    let doc: Option<Value> = serde_json::from_slice(body).ok();
    if !(200..300).contains(&status) {
        let error = doc.as_ref().and_then(|d| d.get("error"));
        let error = match error {
            Some(Value::String(s)) => Some(s.clone()),
            // Some Google endpoints answer `{"error": {"code", "message", "status"}}`.
            Some(Value::Object(o)) => o
                .get("message")
                .or_else(|| o.get("status"))
                .and_then(Value::as_str)
                .map(str::to_string),
            _ => None,
        };
        let description = doc
            .as_ref()
            .and_then(|d| d.get("error_description"))
            .and_then(Value::as_str);
        return Err(match (error, description) {
            (Some(e), Some(d)) => format!("HTTP {status}: {e}: {d}"),
            (Some(e), None) => format!("HTTP {status}: {e}"),
            _ => format!("HTTP {status}: {}", quote(body)),
        });
    }
    let doc = doc.ok_or_else(|| format!("HTTP {status} with a body that is not JSON"))?;
    let token = match doc.get("access_token") {
        Some(Value::String(t)) if !t.is_empty() => t,
        _ => return Err("response has no `access_token`".into()),
    };
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("`access_token` is not usable in an Authorization header".into());
    }
    let expires_in = match doc.get("expires_in") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
    .ok_or("response has no valid `expires_in`")?;
    if let Some(kind) = doc.get("token_type").and_then(Value::as_str) {
        if !kind.eq_ignore_ascii_case("bearer") {
            return Err(format!("unexpected token_type {kind:?} (expected Bearer)"));
        }
    }
    let lifetime = Duration::from_secs(expires_in);
    let ahead = REFRESH_AHEAD.min(lifetime / 2);
    Ok(Cached {
        token: Secret::new(token.as_str()),
        expires_at: started + lifetime,
        refresh_at: started + (lifetime - ahead).max(MIN_REFRESH_GAP),
    })
}

/// The start of a non-JSON body, printable characters only.
pub(super) fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .chars()
        .take(MAX_QUOTED)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > MAX_QUOTED {
        out.push('…');
    }
    if out.trim().is_empty() {
        "empty body".to_string()
    } else {
        out
    }
}

/// `application/x-www-form-urlencoded` value encoding.
pub(super) fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 16);
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
