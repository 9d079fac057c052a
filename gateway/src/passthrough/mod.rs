//! Provider pass-through, LiteLLM's `/anthropic/*`, `/gemini/*`, `/openai/*`, … routes (the
//! prefixes and every provider fact are `adapters::passthrough`'s): a provider's own SDK points
//! its base URL at `{gateway}/{prefix}` and authenticates with a Tollgate key in the header it
//! sends its key in (or Gemini's `key=` parameter). The request is admitted like any LLM
//! request — the key's model access, rate limits and budgets (the worst case reserved) — then
//! sent as it is to a deployment of that provider from the config with the deployment's
//! credential in place of the caller's (a Google OAuth token, or an AWS signature, where the
//! provider needs one), and the answer is relayed back as the provider sends it, chunk by chunk,
//! watched for the usage it reports: spend is recorded from it. The routes configured in
//! `general_settings.pass_through_endpoints` are `custom.rs`'s, on the same relay.

use std::sync::Arc;
use std::time::Instant;

use adapters::passthrough::{self as native, Credential, Native};
use adapters::provider::Provider;
use adapters::{CanonicalRequest, Endpoint};
use bytes::BytesMut;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;
use serde_json::{Map, Value};
use tokio::time::timeout_at;

use crate::ctx::RequestCtx;
use crate::deployment::DeploymentRt;
use crate::error::GatewayError;
use crate::lifecycle::{admit, auth, relay};
use crate::reply::{self, Served};
use crate::runtime::Runtime;
use crate::state::AppState;

pub mod custom;
pub mod upload;

use upload::Upload;

/// A whole (not streamed) answer is kept up to this size to read its usage; a larger one is
/// still relayed, without usage (its spend is then estimated from its size).
const USAGE_BODY_CAP: usize = 8 << 20;

/// Request headers never passed on: the connection's own, and the caller's key.
pub(super) const HOP_BY_HOP: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "expect",
    // The answer is read for its usage: asked for uncompressed.
    "accept-encoding",
];

/// Serves one pass-through request for `provider` end to end.
pub async fn serve(
    state: &Arc<AppState>,
    session: &mut Session,
    ctx: &mut RequestCtx,
    provider: Provider,
) {
    ctx.call_type = "pass_through_endpoint";
    let runtime = state.runtime();
    if let Err(e) = run(state, &runtime, session, ctx, provider).await {
        let shape = |err: &adapters::ApiError| native::error_body(provider, err);
        reply::fail_as(session, ctx, e, Served::Llm, Some(&shape)).await;
    }
}

async fn run(
    state: &Arc<AppState>,
    runtime: &Runtime,
    session: &mut Session,
    ctx: &mut RequestCtx,
    provider: Provider,
) -> Result<(), GatewayError> {
    let path = session.req_header().uri.path().to_string();
    let Some((_, provider_path)) = native::route_of(&path) else {
        return Err(GatewayError::NotFound {
            method: session.req_header().method.to_string(),
            path,
        });
    };
    let provider_path = provider_path.to_string();
    // 1. auth: the key where the provider's SDK sends its own (Gemini's may be `?key=`).
    let (query_key, query) = split_key(session.req_header().uri.query());
    // An AWS SDK signs its requests with its own credentials: that signature is no key (the
    // caller's is then in `x-litellm-api-key`), and the gateway signs anew.
    let aws_signed = session
        .req_header()
        .headers
        .get(http::header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes().starts_with(b"AWS4-"));
    if aws_signed {
        session
            .req_header_mut()
            .remove_header(&http::header::AUTHORIZATION);
    }
    if auth::presented_key(session.req_header()).is_none() {
        if let Some(k) = query_key {
            let _ = session.req_header_mut().insert_header("x-goog-api-key", k);
        }
    }
    let caller = auth::authenticate(&state.control, runtime, session.req_header())?;
    crate::observe::on_caller(ctx, &caller);
    // 2. admit: the body as far as the model (under the size cap; the rest is streamed on),
    // then access, limits and budgets.
    let need = upload::need(Some(provider), &provider_path, true);
    let max = runtime.config.general.max_request_bytes();
    let (body, req) = Upload::begin(session, max, need, &provider_path).await?;
    ctx.body_bytes = body.head.len();
    let (dest, group) = match deployment(runtime, provider, req.model.as_deref()) {
        Ok((dep, group)) => (Dest::of(dep), group),
        Err(e) => (from_env(provider).ok_or(e)?, None),
    };
    let access = match (&group, &req.model) {
        (Some(g), _) => g.clone(),
        (None, Some(m)) => format!("{}/{m}", provider.prefix()),
        (None, None) => format!("{}/*", provider.prefix()),
    };
    let mut view = view_of(&access, &req);
    if let Err(e) = admit::control(state, runtime, session, ctx, caller, &mut view, None).await {
        crate::observe::on_refused(ctx, &access);
        return Err(e);
    }
    if ctx.clamped_max_tokens.is_some() {
        // The request goes as it is: it cannot be lowered to what the budget left can pay.
        return Err(GatewayError::BudgetInsufficient(format!(
            "Budget left cannot pay the worst case of this pass-through request to {access}: \
             pass-through requests are sent unchanged, so max_tokens cannot be lowered"
        )));
    }
    ctx.model_group = Some(access.clone());
    ctx.served_by = dest.dep.clone();
    // Priced as the deployment, or, when the request names another model (the deployment only
    // lends its address and credential), as that model in the price table.
    let price = match (&group, &req.model, &dest.dep) {
        (Some(_), _, Some(dep)) | (None, None, Some(dep)) => dep.price.clone(),
        (_, Some(m), _) => crate::pricing::for_deployment(
            &runtime.prices,
            provider.prefix(),
            m,
            &Map::new(),
            &Map::new(),
        ),
        _ => None,
    };
    // 3. the provider's request: the client's, with the deployment's address and credential.
    let deadline = Instant::now()
        + dest
            .dep
            .as_ref()
            .and_then(|d| d.conf.timeout)
            .unwrap_or(runtime.config.litellm.request_timeout);
    let header = upstream_request(session, &dest, provider, &provider_path, &query, &body).await?;
    let connect_timeout = runtime.config.tollgate.connect_timeout;
    let started = Instant::now();
    let sending = body.exchange(
        state,
        session,
        &dest.upstream,
        connect_timeout,
        header,
        &access,
    );
    let sent = timeout_at(deadline.into(), sending).await.map_err(|_| {
        GatewayError::UpstreamTimeout {
            group: access.clone(),
            secs: deadline.saturating_duration_since(started).as_secs_f64(),
        }
    })??;
    let exchanged = sent.noted(ctx);
    ctx.upstream_time += started.elapsed();
    let usage = relay_answer(state, session, ctx, exchanged, deadline).await;
    // Spend from the usage the answer reported; none reported (a model list, an error), none
    // spent.
    if let Some(u) = usage {
        ctx.note_usage(&u);
    }
    let cost = match (&price, usage) {
        (Some(p), Some(_)) => crate::pricing::cost(
            p,
            &crate::pricing::Usage {
                prompt_tokens: ctx.prompt_tokens,
                completion_tokens: ctx.completion_tokens,
                cache_read_tokens: ctx.cache_read_tokens,
                cache_creation_tokens: ctx.cache_write_tokens,
                duration_secs: ctx.upstream_time.as_secs_f64(),
            },
        ),
        _ => 0.0,
    };
    ctx.cost = Some(cost);
    Ok(())
}

/// Splits Gemini's `key=` parameter off a query string: (the key, the rest of the query).
fn split_key(query: Option<&str>) -> (Option<String>, String) {
    let Some(q) = query else {
        return (None, String::new());
    };
    let mut key = None;
    let rest: Vec<&str> = q
        .split('&')
        .filter(|p| match p.strip_prefix("key=") {
            Some(k) => {
                key = url::form_urlencoded::parse(format!("k={k}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned());
                false
            }
            None => !p.is_empty(),
        })
        .collect();
    (key, rest.join("&"))
}

/// The deployment whose address and credential the request goes with: one of `provider`'s
/// whose upstream model, or model group, is the model the request names (its group is then the
/// one access and prices go by), else the first of `provider`'s in the config.
fn deployment(
    runtime: &Runtime,
    provider: Provider,
    model: Option<&str>,
) -> Result<(Arc<DeploymentRt>, Option<String>), GatewayError> {
    let mut first = None;
    for name in &runtime.group_names {
        let Some(g) = runtime.groups.get(name) else {
            continue;
        };
        for d in g
            .deployments
            .iter()
            .filter(|d| d.conf.provider == provider && d.upstream.is_some())
        {
            if model.is_some_and(|m| m == d.conf.model || m == name.as_str()) {
                return Ok((d.clone(), Some(name.clone())));
            }
            first.get_or_insert_with(|| d.clone());
        }
    }
    first.map(|d| (d, None)).ok_or_else(|| {
        GatewayError::Invalid(adapters::ApiError::new(
            404,
            "invalid_request_error",
            format!(
                "No {prefix}/ deployment in the config to pass this request through to, and no \
                 key for it in the environment: add one to model_list (its api_base and key are \
                 used for /{prefix}/* requests) or set {env}",
                prefix = provider.prefix(),
                env = match provider.spec().api_key_env {
                    [] => "its API key variable".to_string(),
                    names => names.join(" or "),
                }
            ),
        ))
    })
}

/// Where a pass-through request goes: the host, the `api_base` path the provider path goes
/// below, the credential, and the deployment lending them (none when they come from LiteLLM's
/// environment variables).
struct Dest {
    upstream: Arc<crate::upstream::Upstream>,
    base_path: String,
    key: Option<String>,
    dep: Option<Arc<DeploymentRt>>,
}

impl Dest {
    fn of(dep: Arc<DeploymentRt>) -> Dest {
        Dest {
            upstream: dep
                .upstream
                .clone()
                .expect("deployment() picks one with an upstream"),
            base_path: dep
                .conf
                .api_base
                .as_ref()
                .map_or_else(String::new, |b| b.path.clone()),
            key: dep.conf.api_key.as_ref().map(|k| k.expose().to_string()),
            dep: Some(dep),
        }
    }
}

/// With no deployment of `provider` in the config: LiteLLM's environment variables for its
/// key (`ANTHROPIC_API_KEY`, …; required) and base URL (else the provider's default). The host
/// is resolved on first use and kept (these variables do not change while the process runs).
fn from_env(provider: Provider) -> Option<Dest> {
    static HOSTS: std::sync::OnceLock<dashmap::DashMap<String, Arc<crate::upstream::Upstream>>> =
        std::sync::OnceLock::new();
    let spec = provider.spec();
    let first_set = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
    };
    let key = first_set(spec.api_key_env)?;
    let url = first_set(spec.api_base_env).or(spec.default_api_base.map(str::to_string))?;
    let base = conf::parse_api_base(&url).ok()?;
    let upstream = HOSTS
        .get_or_init(Default::default)
        .entry(base.url.clone())
        .or_insert_with(|| Arc::new(crate::upstream::Upstream::new(&base)))
        .clone();
    Some(Dest {
        upstream,
        base_path: base.path.clone(),
        key: Some(key),
        dep: None,
    })
}

/// The canonical view admission reads: the model name access goes by, the output bound, the
/// end user.
pub(super) fn view_of(access: &str, req: &Native) -> CanonicalRequest {
    let mut body = Map::with_capacity(3);
    body.insert("model".into(), Value::String(access.to_string()));
    if let Some(n) = req.max_tokens {
        body.insert("max_tokens".into(), n.into());
    }
    if let Some(u) = &req.user {
        body.insert("user".into(), Value::String(u.clone()));
    }
    CanonicalRequest {
        endpoint: Endpoint::ChatCompletions,
        model: access.to_string(),
        stream: false,
        include_usage: false,
        body,
    }
}

/// The client's request for `dep`: its method, the provider path below the deployment's base
/// (with the query, less any `key=`), its headers less the caller's key and the connection's
/// own, and the deployment's credential.
async fn upstream_request(
    session: &Session,
    dest: &Dest,
    provider: Provider,
    provider_path: &str,
    query: &str,
    body: &Upload,
) -> Result<Box<RequestHeader>, GatewayError> {
    let upstream = &dest.upstream;
    let group = dest.dep.as_ref().map_or_else(
        || format!("{}/*", provider.prefix()),
        |d| d.conf.model_name.clone(),
    );
    let framing = |e: Box<pingora::Error>| GatewayError::UpstreamProtocol {
        group: group.clone(),
        detail: e.to_string(),
    };
    let mut path = native::upstream_path(&dest.base_path, provider_path);
    if !query.is_empty() {
        path.push('?');
        path.push_str(query);
    }
    // The caller's own AWS signature headers (date, session token) never go with the gateway's.
    let signed = native::credential(provider, None) == Credential::Signature;
    let client = session.req_header();
    let mut h = RequestHeader::build_no_case(client.method.as_str(), path.as_bytes(), None)
        .map_err(framing)?;
    for (name, value) in client.headers.iter() {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n)
            || native::CLIENT_KEY_HEADERS.contains(&n)
            || (signed && n.starts_with("x-amz-"))
        {
            continue;
        }
        h.append_header(name.clone(), value.clone())
            .map_err(framing)?;
    }
    h.insert_header("host", upstream.host_header.as_str())
        .map_err(framing)?;
    body.frame(&mut h).map_err(framing)?;
    let token = match dest.dep.as_ref().and_then(|d| d.gcp.as_ref()) {
        Some(tokens) => {
            Some(
                tokens
                    .token()
                    .await
                    .map_err(|detail| GatewayError::UpstreamUnreachable {
                        group: group.clone(),
                        detail,
                    })?,
            )
        }
        None => None,
    };
    let key = token.as_deref().or(dest.key.as_deref());
    match native::credential(provider, key) {
        Credential::Header(name, value) => {
            h.insert_header(name, value).map_err(framing)?;
        }
        Credential::Signature => {
            let mut pr = adapters::dialect::ProviderRequest {
                path: path.clone(),
                headers: Vec::new(),
                // A signed request's body was read whole (`upload::need`).
                body: body.head.to_vec(),
            };
            let Some(dep) = dest.dep.as_deref() else {
                return Err(GatewayError::UpstreamProtocol {
                    group: group.clone(),
                    detail: format!(
                        "a {} request needs a deployment's credentials to be signed",
                        provider.prefix()
                    ),
                });
            };
            let target = crate::lifecycle::translate::target(dep, false);
            adapters::dialect::sign(&mut pr, &target, &upstream.host_header, crate::clock::now())
                .map_err(|_| GatewayError::UpstreamProtocol {
                group: group.clone(),
                detail: format!(
                    "could not sign the request with the {} deployment's credentials",
                    provider.prefix()
                ),
            })?;
            for (name, value) in pr.headers {
                h.insert_header(name, value).map_err(framing)?;
            }
        }
        Credential::None => {}
    }
    Ok(Box::new(h))
}

/// Relays the provider's answer as it comes — status, headers, body chunk by chunk — noting
/// the usage it reports and its cost.
pub(super) async fn relay_answer(
    state: &AppState,
    session: &mut Session,
    ctx: &mut RequestCtx,
    (mut up, peer): (
        pingora::protocols::http::client::HttpSession,
        pingora::upstreams::peer::HttpPeer,
    ),
    deadline: Instant,
) -> Option<adapters::openai::response::Usage> {
    let resp = up.response_header().expect("exchange read the header");
    let status = resp.status.as_u16();
    ctx.upstream_status = Some(status);
    ctx.status = status;
    crate::observe::provider_headers(ctx, &resp.headers);
    let sse = resp
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    ctx.stream = sse;
    let head = session.req_header().method == http::Method::HEAD;
    let out = match response_header(resp, ctx, head) {
        Ok(h) => h,
        Err(e) => {
            ctx.failure = Some(format!("provider's response header: {e}"));
            up.shutdown().await;
            return None;
        }
    };
    if let Err(e) = session.write_response_header(out, false).await {
        ctx.status = relay::CLIENT_CLOSED;
        ctx.failure = Some(format!("client went away: {e}"));
        up.shutdown().await;
        return None;
    }
    let mut stream_usage = native::StreamUsage::new();
    let mut kept = BytesMut::new();
    let mut keep = status < 300 && !sse;
    loop {
        let chunk = match timeout_at(deadline.into(), up.read_response_body()).await {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) => break,
            Ok(Err(e)) => {
                ctx.failure = Some(format!("provider's answer broke off: {e}"));
                break;
            }
            Err(_) => {
                ctx.failure = Some("provider's answer outlasted the request timeout".into());
                break;
            }
        };
        if sse {
            stream_usage.push(&chunk);
        } else if keep {
            if kept.len() + chunk.len() > USAGE_BODY_CAP {
                keep = false;
                kept = BytesMut::new();
            } else {
                kept.extend_from_slice(&chunk);
            }
        }
        if let Err(e) = session.write_response_body(Some(chunk), false).await {
            ctx.status = relay::CLIENT_CLOSED;
            ctx.failure = Some(format!("client went away: {e}"));
            up.shutdown().await;
            return stream_usage.usage();
        }
    }
    let broken = ctx.failure.is_some();
    if let Err(e) = session.write_response_body(None, true).await {
        ctx.status = relay::CLIENT_CLOSED;
        ctx.failure = Some(format!("client went away: {e}"));
    }
    let usage = if sse {
        stream_usage.usage()
    } else if keep {
        ctx.response_id = crate::lifecycle::translate::first_id(&kept);
        native::usage_of(&kept)
    } else {
        None
    };
    if broken {
        up.shutdown().await;
    } else {
        relay::release(state, up, &peer).await;
    }
    usage.filter(|_| status < 300)
}

/// The client's response header: the provider's status and headers, less the connection's own
/// (the body is re-framed), plus the call id.
fn response_header(
    resp: &ResponseHeader,
    ctx: &RequestCtx,
    head: bool,
) -> pingora::Result<Box<ResponseHeader>> {
    // An answer without a body (HEAD, 204, 304) keeps the provider's framing headers as they are.
    let bodiless = head || matches!(resp.status.as_u16(), 204 | 304);
    let mut out = ResponseHeader::build_no_case(resp.status, Some(resp.headers.len() + 2))?;
    for (name, value) in resp.headers.iter() {
        let n = name.as_str();
        let framing = matches!(n, "transfer-encoding" | "content-length") && !bodiless;
        if framing || matches!(n, "connection" | "keep-alive" | "trailer") {
            continue;
        }
        out.append_header(name.clone(), value.clone())?;
    }
    if !bodiless {
        out.insert_header("transfer-encoding", "chunked")?;
    }
    out.insert_header("x-litellm-call-id", ctx.call_id.as_str())?;
    Ok(Box::new(out))
}

#[cfg(test)]
mod tests {
    use super::split_key;

    #[test]
    fn the_key_parameter_is_taken_off_the_query() {
        assert_eq!(split_key(None), (None, String::new()));
        assert_eq!(
            split_key(Some("alt=sse&key=sk-1%2B2")),
            (Some("sk-1+2".into()), "alt=sse".into())
        );
        assert_eq!(split_key(Some("alt=sse")), (None, "alt=sse".into()));
    }
}
