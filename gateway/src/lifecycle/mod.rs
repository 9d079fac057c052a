//! The request lifecycle for the LLM routes, one module per stage (see docs/lifecycle.md):
//! `front` (the client's API: its request read, its answer encoded) → auth → admit → route
//! (a plan) → attempt (translate → forward → relay, with retries, fallbacks and cooldown
//! marks); account runs from `logging()` once the response is written.

pub mod account;
pub mod admit;
pub mod attempt;
pub mod auth;
pub mod controls;
pub mod forward;
pub mod front;
pub mod images;
pub mod relay;
pub mod route;
pub mod stream;
pub mod translate;

use std::sync::Arc;

use pingora::proxy::Session;

use crate::ctx::RequestCtx;
use crate::reply::{self, Served};
use crate::state::AppState;

/// Serves one LLM request end to end, whichever front door it came through; every outcome is
/// written to the client here.
pub async fn serve(
    state: &Arc<AppState>,
    session: &mut Session,
    ctx: &mut RequestCtx,
    api: front::Api,
) {
    api.open(ctx);
    let runtime = state.runtime();
    let result = async {
        // 1. auth: who calls.
        let caller = auth::authenticate(&state.control, &runtime, session.req_header())?;
        crate::observe::on_caller(ctx, &caller);
        // 2. admit: the body read under the cap and parsed in the client's API, then model
        //    access, limits and budgets (the worst case reserved).
        let mut request = front::read(state, &runtime, session, ctx, api, &caller).await?;
        // Guardrails (pre-call) before anything is reserved, looked up or sent: a blocked
        // request costs nothing; a masked one is cached and admitted under its masked text.
        let guarded =
            crate::guard::pre_call(state, &runtime.guards, ctx, &caller, request.guard_body())
                .await;
        let admitted = match guarded {
            Err(e) => Err(e),
            Ok(changed) => {
                if changed {
                    request.guarded();
                }
                let raw = request.door.as_ref().and_then(front::Door::raw);
                admit::control(
                    state,
                    &runtime,
                    session,
                    ctx,
                    caller,
                    &mut request.view,
                    raw,
                )
                .await
            }
        };
        let cached = match admitted {
            Ok(cached) => cached,
            Err(e) => {
                crate::observe::on_refused(ctx, &request.view.model);
                return Err(e);
            }
        };
        crate::observe::request_metadata(&runtime.config.metrics, ctx, &request.view.body);
        request.admitted(state, ctx);
        if let Some(entry) = cached {
            // A response cache hit: no route, no provider, no spend.
            return replay(session, ctx, entry).await;
        }
        // 3. route: the group, its deployments in order, the fallback chain.
        let plan = route::plan(&runtime, session, ctx, &mut request)?;
        // 4–5. attempt: translate → forward → relay, with retries, fallbacks and cooldown
        //    marks, until the client has its answer. (6. account runs from `logging()`.)
        attempt::run(state, &runtime, session, ctx, &mut request, plan).await
    }
    .await;
    if let Err(e) = result {
        reply::fail(session, ctx, e, Served::Llm).await;
    }
}

/// Answers from a response cache entry in the client's API: the kept body, or, to a streaming
/// client, the body replayed as a stream. It cost nothing.
async fn replay(
    session: &mut Session,
    ctx: &mut RequestCtx,
    entry: crate::cache::Entry,
) -> Result<(), crate::error::GatewayError> {
    match crate::cache::answer(entry, ctx.stream) {
        crate::cache::Answer::Whole(body) => {
            relay::whole(session, ctx, 200, "application/json", body).await
        }
        crate::cache::Answer::Events(sse) => {
            if let Some(u) = crate::cache::sse_usage(&sse) {
                ctx.note_usage(&u);
            }
            ctx.cost = Some(0.0);
            relay::events(session, ctx, vec![sse]).await
        }
        crate::cache::Answer::NativeWhole(body) => {
            ctx.front = crate::ctx::Front::AnthropicNative;
            relay::whole(session, ctx, 200, "application/json", body).await
        }
        crate::cache::Answer::NativeEvents(sse) => {
            ctx.front = crate::ctx::Front::AnthropicNative;
            if let Some(u) = crate::cache::anthropic::events_usage(&sse) {
                ctx.note_usage(&u);
            }
            ctx.cost = Some(0.0);
            relay::events(session, ctx, vec![sse]).await
        }
    }
    Ok(())
}
