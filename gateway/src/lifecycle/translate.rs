//! Stage 4, translate: canonical request → the provider's HTTP request (path, headers, body).
//! The body work is pure and lives in `adapters`; this adds the HTTP framing.

use adapters::CanonicalRequest;
use bytes::Bytes;
use pingora::http::RequestHeader;

use crate::state::DeploymentRt;
use crate::upstream::Upstream;

const USER_AGENT: &str = concat!("tollgate/", env!("CARGO_PKG_VERSION"));

/// The upstream request header and body for one attempt. Never carries the client's key.
pub fn upstream_request(
    dep: &DeploymentRt,
    upstream: &Upstream,
    req: &CanonicalRequest,
) -> pingora::Result<(Box<RequestHeader>, Bytes)> {
    let conf = &dep.conf;
    let body = Bytes::from(adapters::openai::request::build_body(
        req,
        &conf.model,
        &conf.extra_params,
    ));
    let base_path = conf
        .api_base
        .as_ref()
        .map(|b| b.path.as_str())
        .unwrap_or("");
    let path = format!("{base_path}{}", req.endpoint.path());
    let mut h = RequestHeader::build("POST", path.as_bytes(), Some(6))?;
    h.insert_header("host", upstream.host_header.as_str())?;
    h.insert_header("content-type", "application/json")?;
    h.insert_header("content-length", body.len())?;
    h.insert_header("user-agent", USER_AGENT)?;
    h.insert_header(
        "accept",
        if req.stream {
            "text/event-stream"
        } else {
            "application/json"
        },
    )?;
    if let Some(key) = &conf.api_key {
        h.insert_header("authorization", format!("Bearer {}", key.expose()))?;
    }
    Ok((Box::new(h), body))
}
