//! Stage 4, translate: canonical request → the provider's HTTP request. The body, path and
//! provider headers come from `adapters::dialect` (pure); this adds the HTTP framing.

use adapters::dialect::{sign, ProviderRequest, SignError, Target};
use adapters::openai::wire::ResponseMeta;
use adapters::provider::Auth;
use adapters::CanonicalRequest;
use bytes::Bytes;
use pingora::http::RequestHeader;

use crate::deployment::DeploymentRt;
use crate::error::GatewayError;
use crate::upstream::Upstream;

pub(crate) const USER_AGENT: &str = concat!("tollgate/", env!("CARGO_PKG_VERSION"));

/// What the adapters need to know about the deployment.
pub fn target(dep: &DeploymentRt, drop_params: bool) -> Target<'_> {
    let c = &dep.conf;
    Target {
        provider: c.provider,
        model: &c.model,
        base_path: c.api_base.as_ref().map(|b| b.path.as_str()).unwrap_or(""),
        api_key: c.api_key.as_ref().map(|k| k.expose()),
        api_version: c.api_version.as_deref(),
        defaults: &c.extra_params,
        drop_params: drop_params
            || c.internal_params
                .get("drop_params")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
        internal: &c.internal_params,
    }
}

/// `chatcmpl-…` id of a translated response, derived from the call id.
pub fn response_id(call_id: &str) -> String {
    format!("chatcmpl-{}", call_id.replace('-', ""))
}

/// The first `"id"` string in the first 2 KiB of a JSON body or SSE bytes: a response's own id
/// (`chatcmpl-…`, `msg_…`; providers and adapters write it first), without parsing the body.
pub fn first_id(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(2048)];
    // Measured: ~0.1 µs when the id comes first, ~50 ns over 2 KiB without one.
    let at = memchr::memchr_iter(b'"', head).find(|&i| head[i..].starts_with(b"\"id\""))?;
    let rest = &head[at + 4..];
    let rest = &rest[rest.iter().position(|b| !b.is_ascii_whitespace())?..];
    let rest = rest.strip_prefix(b":")?;
    let rest = &rest[rest.iter().position(|b| !b.is_ascii_whitespace())?..];
    let rest = rest.strip_prefix(b"\"")?;
    let end = rest.iter().position(|b| *b == b'"' || *b == b'\\')?;
    if rest.get(end) != Some(&b'"') || end == 0 || end > 256 {
        return None;
    }
    std::str::from_utf8(&rest[..end]).ok().map(str::to_string)
}

/// Identity stamped on translated responses.
pub fn meta<'a>(id: &'a str, target: &Target<'a>) -> ResponseMeta<'a> {
    ResponseMeta {
        id,
        created: crate::clock::unix_now(),
        model: target.model,
    }
}

/// The upstream request header and body for one attempt. Never carries the client's key.
pub fn upstream_request(
    upstream: &Upstream,
    req: &CanonicalRequest,
    target: &Target<'_>,
) -> Result<(Box<RequestHeader>, Bytes), GatewayError> {
    let mut pr = adapters::dialect::build_request(req, target).map_err(GatewayError::Invalid)?;
    if target.provider.dialect().auth() == Auth::AwsSigV4 {
        // The signature covers the host and the time, which only the gateway knows.
        let now = crate::clock::now();
        sign(&mut pr, target, &upstream.host_header, now).map_err(|e| match e {
            SignError::NoCredentials => GatewayError::UpstreamProtocol {
                group: req.model.clone(),
                detail: format!(
                    "{} deployment has no AWS credentials",
                    target.provider.prefix()
                ),
            },
            SignError::Failed(e) => GatewayError::Invalid(e),
        })?;
    }
    frame(upstream, pr, &req.model)
}

/// The HTTP/1 request for a provider request: `Host`, `Content-Type`, `Content-Length` and
/// `User-Agent` added to the adapter's path, headers and body.
pub fn frame(
    upstream: &Upstream,
    pr: ProviderRequest,
    group: &str,
) -> Result<(Box<RequestHeader>, Bytes), GatewayError> {
    let framing = |e: Box<pingora::Error>| GatewayError::UpstreamProtocol {
        group: group.to_string(),
        detail: e.to_string(),
    };
    let mut h =
        RequestHeader::build_no_case("POST", pr.path.as_bytes(), Some(4 + pr.headers.len()))
            .map_err(framing)?;
    h.insert_header("host", upstream.host_header.as_str())
        .map_err(framing)?;
    h.insert_header("content-type", "application/json")
        .map_err(framing)?;
    h.insert_header("content-length", pr.body.len())
        .map_err(framing)?;
    h.insert_header("user-agent", USER_AGENT).map_err(framing)?;
    for (name, value) in pr.headers {
        h.insert_header(name, value).map_err(framing)?;
    }
    Ok((Box::new(h), Bytes::from(pr.body)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_first_id_of_a_body_or_stream_is_found_without_parsing() {
        use super::first_id;
        assert_eq!(
            first_id(br#"{"id":"chatcmpl-9","object":"chat.completion"}"#).as_deref(),
            Some("chatcmpl-9")
        );
        assert_eq!(
            first_id(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\": {\"id\" : \"msg_1\"}}\n\n")
                .as_deref(),
            Some("msg_1")
        );
        assert_eq!(first_id(br#"{"object":"list","data":[]}"#), None);
        assert_eq!(first_id(br#"{"id":"a\"b"}"#), None);
    }
}
