//! Custom pass-through routes, LiteLLM's `general_settings.pass_through_endpoints`: a gateway
//! path (`/bria`, and with `include_subpath` everything below it) relayed to the configured
//! target URL with the configured headers. `auth: true` admits the request like any LLM
//! request (a Tollgate key, its model access when the body names a model — else the route's
//! path stands for the model —, its limits and budgets); `auth: false` is an open route. The
//! answer goes back on the provider pass-through's relay (chunk by chunk, under the route's
//! timeout), and the spend log row (`call_type` `pass_through_endpoint`) carries the route's
//! `cost_per_request`, else the cost of the usage the answer reports at the named model
//! group's prices.

use std::sync::Arc;
use std::time::Instant;

use adapters::passthrough as native;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use tokio::time::timeout_at;

use super::upload::Upload;
use crate::ctx::RequestCtx;
use crate::error::GatewayError;
use crate::lifecycle::{admit, auth};
use crate::reply::{self, Served};
use crate::runtime::{CustomRoute, Runtime};
use crate::state::AppState;

/// Serves one request to a custom route (`runtime.custom_route(path)` found it).
pub async fn serve(state: &Arc<AppState>, session: &mut Session, ctx: &mut RequestCtx) {
    ctx.call_type = "pass_through_endpoint";
    let runtime = state.runtime();
    let path = session.req_header().uri.path().to_string();
    let Some((route, subpath)) = runtime.custom_route(&path) else {
        let method = session.req_header().method.to_string();
        reply::fail(
            session,
            ctx,
            GatewayError::NotFound { method, path },
            Served::Route,
        )
        .await;
        return;
    };
    let subpath = subpath.to_string();
    if let Err(e) = run(state, &runtime, session, ctx, route, &subpath).await {
        reply::fail(session, ctx, e, Served::Llm).await;
    }
}

async fn run(
    state: &Arc<AppState>,
    runtime: &Runtime,
    session: &mut Session,
    ctx: &mut RequestCtx,
    route: &CustomRoute,
    subpath: &str,
) -> Result<(), GatewayError> {
    let conf = &route.conf;
    let method = session.req_header().method.as_str().to_string();
    if !conf.methods.is_empty() && !conf.methods.contains(&method) {
        return Err(GatewayError::MethodNotAllowed {
            method,
            path: session.req_header().uri.path().to_string(),
        });
    }
    // 1. auth: a Tollgate key on an `auth: true` route; nobody is asked on an open one.
    let caller = if conf.auth {
        let c = auth::authenticate(&state.control, runtime, session.req_header())?;
        crate::observe::on_caller(ctx, &c);
        Some(c)
    } else {
        None
    };
    // 2. the body (under the size cap; read as far as the model behind a key, the rest
    // streamed on), and, behind a key, access, limits and budgets.
    let need = super::upload::need(None, subpath, conf.auth);
    let max = runtime.config.general.max_request_bytes();
    let (body, req) = Upload::begin(session, max, need, subpath).await?;
    ctx.body_bytes = body.head.len();
    let access = req.model.clone().unwrap_or_else(|| conf.path.clone());
    if let Some(caller) = caller {
        let mut view = super::view_of(&access, &req);
        if let Err(e) = admit::control(state, runtime, session, ctx, caller, &mut view, None).await
        {
            crate::observe::on_refused(ctx, &access);
            return Err(e);
        }
        if ctx.clamped_max_tokens.is_some() {
            return Err(GatewayError::BudgetInsufficient(format!(
                "Budget left cannot pay the worst case of this pass-through request to {}: \
                 pass-through requests are sent unchanged, so max_tokens cannot be lowered",
                conf.path
            )));
        }
    }
    ctx.model_group = Some(access.clone());
    // 3. the target's request: the client's method and body, the target's path (plus the
    // subpath), the query and headers as the route says.
    let deadline = Instant::now()
        + conf
            .timeout
            .unwrap_or(runtime.config.litellm.request_timeout);
    let header = upstream_request(session.req_header(), route, subpath, &body).map_err(|e| {
        GatewayError::UpstreamProtocol {
            group: conf.path.clone(),
            detail: e.to_string(),
        }
    })?;
    let started = Instant::now();
    let sending = body.exchange(
        state,
        session,
        &route.upstream,
        runtime.config.tollgate.connect_timeout,
        header,
        &conf.path,
    );
    let sent = timeout_at(deadline.into(), sending).await.map_err(|_| {
        GatewayError::UpstreamTimeout {
            group: conf.path.clone(),
            secs: deadline.saturating_duration_since(started).as_secs_f64(),
        }
    })??;
    let exchanged = sent.noted(ctx);
    ctx.upstream_time += started.elapsed();
    let usage = super::relay_answer(state, session, ctx, exchanged, deadline).await;
    if let Some(u) = usage {
        ctx.note_usage(&u);
    }
    // 4. the cost: the route's price per answered request, else the usage at the prices of
    // the model group the body names.
    let answered = ctx.upstream_status.is_some_and(|s| s < 300) && ctx.failure.is_none();
    let cost = if conf.cost_per_request > 0.0 {
        if answered {
            conf.cost_per_request
        } else {
            0.0
        }
    } else {
        let price = req
            .model
            .as_deref()
            .and_then(|m| runtime.groups.get(m))
            .and_then(|g| g.deployments.iter().find_map(|d| d.price.clone()));
        match (price, usage) {
            (Some(p), Some(_)) => crate::pricing::cost(
                &p,
                &crate::pricing::Usage {
                    prompt_tokens: ctx.prompt_tokens,
                    completion_tokens: ctx.completion_tokens,
                    cache_read_tokens: ctx.cache_read_tokens,
                    cache_creation_tokens: ctx.cache_write_tokens,
                    duration_secs: ctx.upstream_time.as_secs_f64(),
                },
            ),
            _ => 0.0,
        }
    };
    ctx.cost = Some(cost);
    Ok(())
}

/// The request to the route's target: the client's method; the target's path, plus the
/// subpath under `include_subpath`; the target's query and the client's (appended, or merged
/// by name with the target's winning under `merge_query_params`); the client's headers under
/// `forward_headers` (less the connection's own and, behind a key, the caller's key), else only
/// those that describe the body; `x-pass-*` headers always, their prefix taken off; the
/// route's headers over all of them.
fn upstream_request(
    client: &RequestHeader,
    route: &CustomRoute,
    subpath: &str,
    body: &Upload,
) -> pingora::Result<Box<RequestHeader>> {
    let conf = &route.conf;
    let mut path = conf.target.path.clone();
    if conf.include_subpath && !subpath.is_empty() {
        path.push_str(subpath);
    }
    if path.is_empty() {
        path.push('/');
    }
    let query = query(
        &conf.target_query,
        client.uri.query().unwrap_or(""),
        conf.merge_query_params,
    );
    if !query.is_empty() {
        path.push('?');
        path.push_str(&query);
    }
    let mut h = RequestHeader::build_no_case(client.method.as_str(), path.as_bytes(), None)?;
    for (name, value) in client.headers.iter() {
        let n = name.as_str();
        if let Some(stripped) = n.strip_prefix("x-pass-").filter(|s| !s.is_empty()) {
            h.append_header(stripped.to_string(), value.clone())?;
            continue;
        }
        let keep = if conf.forward_headers {
            let callers_key = conf.auth && native::CLIENT_KEY_HEADERS.contains(&n);
            !(super::HOP_BY_HOP.contains(&n) || callers_key)
        } else {
            matches!(n, "content-type" | "content-encoding" | "accept")
        };
        if keep {
            h.append_header(name.clone(), value.clone())?;
        }
    }
    for (name, value) in &conf.headers {
        h.insert_header(name.clone(), value.expose())?;
    }
    h.insert_header("host", route.upstream.host_header.as_str())?;
    body.frame(&mut h)?;
    Ok(Box::new(h))
}

/// The query sent to the target: the target's own and the client's, the client's appended as
/// it is; with `merge`, a client parameter the target's query already names is dropped (the
/// target's value wins, so a configured `?key=` cannot be overridden by a caller).
fn query(target: &str, client: &str, merge: bool) -> String {
    let name = |p: &str| p.split('=').next().unwrap_or("").to_string();
    let own: Vec<String> = target
        .split('&')
        .filter(|p| !p.is_empty())
        .map(name)
        .collect();
    let mut parts: Vec<&str> = target.split('&').filter(|p| !p.is_empty()).collect();
    parts.extend(
        client
            .split('&')
            .filter(|p| !p.is_empty())
            .filter(|p| !merge || !own.contains(&name(p))),
    );
    parts.join("&")
}

#[cfg(test)]
mod tests {
    use super::query;

    #[test]
    fn an_exact_route_wins_then_the_longest_subpath_route() {
        let rt = crate::routing::resolve::tests::runtime(
            "model_list:
  - model_name: m
    litellm_params: {model: openai/gpt-4o, api_key: k}
general_settings:
  pass_through_endpoints:
    - {path: /a, target: 'http://127.0.0.1:1/one', include_subpath: true}
    - {path: /a/b, target: 'http://127.0.0.1:1/two', include_subpath: true}
    - {path: /a/b/c, target: 'http://127.0.0.1:2/three'}
",
        );
        let found = |p: &str| {
            rt.custom_route(p)
                .map(|(r, rest)| (r.conf.target.path.clone(), rest.to_string()))
        };
        assert_eq!(found("/a"), Some(("/one".into(), String::new())));
        assert_eq!(found("/a/"), Some(("/one".into(), String::new())));
        assert_eq!(found("/a/x/y"), Some(("/one".into(), "/x/y".into())));
        assert_eq!(found("/a/b/x"), Some(("/two".into(), "/x".into())));
        assert_eq!(found("/a/b/c"), Some(("/three".into(), String::new())));
        assert_eq!(found("/a/b/c/d"), Some(("/two".into(), "/c/d".into())));
        assert_eq!(found("/ab"), None);
        assert_eq!(found("/b"), None);
        // Two routes on one host share its upstream (resolved in the background).
        assert_eq!(rt.custom_routes.len(), 3);
        assert!(std::sync::Arc::ptr_eq(
            &rt.custom_routes[0].upstream,
            &rt.custom_routes[1].upstream
        ));
    }

    #[test]
    fn the_client_query_is_appended_or_merged_under_the_target_s() {
        assert_eq!(query("", "", false), "");
        assert_eq!(query("api-version=1", "", false), "api-version=1");
        assert_eq!(query("", "a=1&b=2", true), "a=1&b=2");
        assert_eq!(
            query("api-version=1", "api-version=2&x=y", false),
            "api-version=1&api-version=2&x=y"
        );
        assert_eq!(
            query("api-version=1&key=k", "api-version=2&x=y&key=mine", true),
            "api-version=1&key=k&x=y"
        );
    }
}
