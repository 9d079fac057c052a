//! The control plane on the request path, all from memory: who the caller is (virtual key,
//! master key), what they may call (model access, aliases), and admission against every budget
//! (by reservation) and rate limit that applies — key, per-model key limits, team, team member,
//! user, organization, end user and the proxy itself.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use adapters::CanonicalRequest;
use http::HeaderValue;
use pingora::http::RequestHeader;
use sha2::{Digest, Sha256};

use super::ledger::Exceeded;
use super::{Control, Entity, Kind, Limits};
use crate::clock::now_ms_i64;
use crate::error::GatewayError;
use crate::load::Limited;
use crate::runtime::{Group, Runtime};

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Caller {
    /// No master key is configured: nothing is checked.
    Open,
    /// The master key.
    Master,
    /// A virtual key.
    Key(Arc<Entity>),
}

impl Caller {
    pub fn key(&self) -> Option<&Arc<Entity>> {
        match self {
            Caller::Key(k) => Some(k),
            _ => None,
        }
    }
}

/// SHA-256 of a key as lowercase hex: the key's id (LiteLLM's `token`).
pub fn hash_key(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Whether `model` is in an allow-list: empty or `all-proxy-models`/`*` = everything; an
/// entry may name the model, a `prefix/*` wildcard (which also admits a bare name of that
/// provider, as LiteLLM infers it: `openai/*` admits `gpt-4o`, `anthropic/*`
/// `claude-3-haiku-20240307`), or an access group of the deployments of the group that serves
/// the name (after `model_group_alias`, wildcard groups included).
pub fn allowed(list: &[String], model: &str, runtime: &Runtime) -> bool {
    allowed_for(list, model, runtime, || {
        crate::routing::resolve::group(runtime, model)
            .ok()
            .and_then(|r| runtime.groups.get(r.group))
    })
}

/// [`allowed`] with the group that serves `model` given (looked up only when the list's names
/// do not decide).
fn allowed_for<'r>(
    list: &[String],
    model: &str,
    runtime: &'r Runtime,
    group: impl FnOnce() -> Option<&'r Group>,
) -> bool {
    if list.is_empty() {
        return true;
    }
    let named = list.iter().any(|m| {
        m == model
            || m == "all-proxy-models"
            || m == "*"
            || m.strip_suffix('*').is_some_and(|p| model.starts_with(p))
    });
    named
        || bare_name_of_allowed_provider(list, model, runtime)
        || group().is_some_and(|g| list.iter().any(|m| g.access_groups.contains(m)))
}

/// LiteLLM's `_model_custom_llm_provider_matches_wildcard_pattern`: a bare model name (no
/// `provider/` prefix) matches a wildcard entry as `{its provider}/{name}`.
fn bare_name_of_allowed_provider(list: &[String], model: &str, runtime: &Runtime) -> bool {
    let mut patterns = list
        .iter()
        .filter_map(|m| m.strip_suffix('*'))
        .filter(|p| !p.is_empty())
        .peekable();
    if patterns.peek().is_none() || adapters::provider::Provider::split_model(model).is_some() {
        return false;
    }
    let Some((provider, name)) = crate::routing::resolve::provider_of(&runtime.prices, model)
    else {
        return false;
    };
    let full = format!("{}/{name}", provider.prefix());
    patterns.any(|p| full.starts_with(p))
}

/// A request admitted past every budget and limit. Holds its reservations and parallel slots
/// until settled (account stage) or dropped (released unspent).
#[derive(Debug, Default)]
pub struct Admission {
    /// Entities whose ledgers and windows this request counts toward, with the amount reserved.
    pub holds: Vec<(Arc<Entity>, f64)>,
    /// Entities whose in-flight count was raised.
    parallel: Vec<Arc<Entity>>,
    pub key: Option<Arc<Entity>>,
    /// The key, team, user and organization whose `models` lists the request passed (those
    /// with a list; inline, no allocation): every fallback group must pass them too
    /// ([`Admission::refuses`]).
    model_lists: [Option<Arc<Entity>>; 4],
    pub team_id: Option<String>,
    pub user_id: Option<String>,
    pub org_id: Option<String>,
    pub end_user: Option<String>,
    /// The end user's `allowed_model_region`: routing keeps the request in it.
    pub region: Option<crate::region::Region>,
    /// The key's and its team's routing tags (`tags`, `metadata.tags`), merged with the
    /// request's own as LiteLLM merges them.
    pub routing_tags: Vec<String>,
    /// Whether the client's own tags (body, `metadata.tags`, `x-litellm-tags`) count too: when
    /// neither the key nor its team has tags, or one of them sets `allow_client_tags`.
    pub client_tags: bool,
    /// `x-ratelimit-*` headers for the response.
    pub headers: Vec<(&'static str, HeaderValue)>,
    /// The key's spend when the request was admitted (`x-litellm-key-spend` adds this
    /// request's cost).
    pub key_spend: f64,
    pub settled: bool,
    /// The worst case reserved on every budget the request counts toward.
    pub worst: f64,
    /// The minute (Unix ms) the request was counted in the rpm/tpm windows, to undo it if a
    /// budget refuses it after all.
    pub(super) rated_at: Option<u64>,
    /// The limits of each hold, in the same order.
    pub(super) limits: Vec<Limits>,
    /// Whether a hold is a token budget (the worst case is then also counted in tokens).
    tokens: bool,
}

impl Admission {
    /// Whether the request counts toward a token budget (`max_token_budget`).
    pub fn counts_tokens(&self) -> bool {
        self.tokens
    }

    /// The first of the caller's model lists (key, team, user, organization — end users have
    /// none) that does not allow `model`; `None` when all do, and always for the master key.
    pub fn refuses(&self, model: &str, runtime: &Runtime) -> Option<&Entity> {
        self.model_lists
            .iter()
            .flatten()
            .find(|e| !allowed(&e.models, model, runtime))
            .map(|e| &**e)
    }

    /// Remembers that the request passed `e`'s (non-empty) model list.
    fn passed_models_of(&mut self, e: &Arc<Entity>) {
        if e.models.is_empty() {
            return;
        }
        if let Some(slot) = self.model_lists.iter_mut().find(|s| s.is_none()) {
            *slot = Some(e.clone());
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        for e in &self.parallel {
            e.window.inflight.fetch_sub(1, Ordering::AcqRel);
        }
        if !self.settled {
            // Never reached account (e.g. a panic): give the reservations back.
            for (e, reserved) in &self.holds {
                e.ledger.release(*reserved);
            }
        }
    }
}

/// The end user a request is for: `x-litellm-end-user-id`, `x-litellm-customer-id`, else the
/// body's `user`.
fn end_user(req: &CanonicalRequest, headers: &RequestHeader) -> Option<String> {
    ["x-litellm-end-user-id", "x-litellm-customer-id"]
        .iter()
        .find_map(|h| headers.headers.get(*h).and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .or_else(|| {
            req.body
                .get("user")
                .and_then(|u| u.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        })
}

/// The caller's key and its team, as admission reads them.
pub struct Callers {
    key: Option<Arc<Entity>>,
    team: Option<Arc<Entity>>,
}

/// Stage 2 starts here: the caller's key and team, and the model name their aliases make of the
/// requested one (the key's alias first, then the team's); routing resolves the result.
pub fn aliased(control: &Control, caller: &Caller, req: &mut CanonicalRequest) -> Callers {
    let key = caller.key().cloned();
    let team = key
        .as_ref()
        .and_then(|k| k.team_id.as_deref())
        .and_then(|t| control.get(Kind::Team, t));
    for e in [key.as_ref(), team.as_ref()].into_iter().flatten() {
        if let Some(to) = e.aliases.get(&req.model) {
            req.model = to.clone();
            req.body.insert("model".into(), to.clone().into());
            break;
        }
    }
    Callers { key, team }
}

/// Stage 2's control-plane half, for the group routing resolved the (aliased) model to (`None`
/// when no group serves it): model access, then every rate and parallel limit; the
/// budgets are reserved after it by [`Control::reserve`]. On refusal nothing stays counted.
pub fn admit(
    control: &Control,
    runtime: &Runtime,
    who: Callers,
    group: Option<&Group>,
    req: &CanonicalRequest,
    headers: &RequestHeader,
) -> Result<Admission, GatewayError> {
    let Callers { key, team } = who;
    let model = req.model.clone();
    let mut adm = Admission::default();
    adm.end_user = end_user(req, headers);
    for e in [key.as_ref(), team.as_ref()].into_iter().flatten() {
        for t in &e.tags {
            if !adm.routing_tags.contains(t) {
                adm.routing_tags.push(t.clone());
            }
        }
    }
    adm.client_tags = adm.routing_tags.is_empty()
        || [key.as_ref(), team.as_ref()]
            .into_iter()
            .flatten()
            .any(|e| e.allow_client_tags);
    let mut involved: Vec<Arc<Entity>> = Vec::with_capacity(8);
    if let Some(k) = &key {
        if !allowed_for(&k.models, &model, runtime, || group) {
            return Err(GatewayError::ModelAccessDenied {
                error_type: "key_model_access_denied",
                message: format!(
                "key not allowed to access model. This key can only access models={:?}. Tried to access {model}",
                k.models
            ),
            });
        }
        adm.passed_models_of(k);
        involved.push(k.clone());
        if k.model_limits.contains_key(&model) {
            involved.push(control.get_or_create(Kind::KeyModel, &format!("{}/{model}", k.id)));
        }
        adm.user_id = k.user_id.clone();
        adm.team_id = k.team_id.clone();
    }
    if let Some(t) = &team {
        if t.blocked {
            return Err(GatewayError::Denied(format!(
                "Team={} is blocked. Update via `/team/unblock` if you're admin.",
                t.id
            )));
        }
        if !allowed_for(&t.models, &model, runtime, || group) {
            return Err(GatewayError::ModelAccessDenied {
                error_type: "team_model_access_denied",
                message: format!(
                "team not allowed to access model. This team can only access models={:?}. Tried to access {model}",
                t.models
            ),
            });
        }
        adm.passed_models_of(t);
        involved.push(t.clone());
        adm.org_id = t.org_id.clone();
        if let Some(u) = &adm.user_id {
            if let Some(m) = control.get(Kind::Member, &format!("{}/{u}", t.id)) {
                involved.push(m);
            }
        }
    }
    if let Some(u) = adm
        .user_id
        .as_deref()
        .and_then(|u| control.get(Kind::User, u))
    {
        if !allowed_for(&u.models, &model, runtime, || group) {
            return Err(GatewayError::ModelAccessDenied {
                error_type: "user_model_access_denied",
                message: format!(
                "user not allowed to access model. This user can only access models={:?}. Tried to access {model}",
                u.models
            ),
            });
        }
        adm.passed_models_of(&u);
        involved.push(u);
    }
    if adm.org_id.is_none() {
        adm.org_id = key.as_ref().and_then(|k| k.org_id.clone());
    }
    if let Some(o) = adm
        .org_id
        .as_deref()
        .and_then(|o| control.get(Kind::Org, o))
    {
        if !allowed_for(&o.models, &model, runtime, || group) {
            return Err(GatewayError::ModelAccessDenied {
                error_type: "org_model_access_denied",
                message: format!(
                "organization not allowed to access model. This organization can only access models={:?}. Tried to access {model}",
                o.models
            ),
            });
        }
        adm.passed_models_of(&o);
        involved.push(o);
    }
    if let Some(id) = &adm.end_user {
        let c = control.get_or_create(Kind::Customer, id);
        if c.blocked {
            return Err(GatewayError::Forbidden(format!(
                "End User={id} is blocked. Update via `/customer/unblock` if you're admin."
            )));
        }
        adm.region = c.region;
        involved.push(c);
    }
    involved.push(control.get_or_create(Kind::Proxy, "global"));

    let mut limits: Vec<Limits> = involved
        .iter()
        .map(|e| match e.kind {
            // A key's per-model limits live in the key's document.
            Kind::KeyModel => key
                .as_ref()
                .and_then(|k| k.model_limits.get(&model).cloned())
                .unwrap_or_default(),
            _ => control.limits(e),
        })
        .collect();
    // A token budget is counted by a counter of its own, held like a money budget.
    for i in 0..involved.len() {
        if limits[i].max_token_budget.is_some() {
            let counter = control.tokens_counter(&involved[i]);
            limits.push(limits[i].of_tokens());
            involved.push(counter);
            adm.tokens = true;
        }
    }
    let limited = limits
        .iter()
        .any(|l| l.max_budget.is_some() || l.rpm.is_some() || l.tpm.is_some());
    if limited && control.settings.redis_fail_closed && !control.redis_ok() {
        return Err(GatewayError::StateUnavailable(
            "Budgets and rate limits cannot be checked: Redis is unreachable and tollgate_settings.redis_failure_mode is closed".into(),
        ));
    }

    let now = now_ms_i64();
    // Parallel requests and per-minute windows first (cheap to undo), then money.
    for (e, l) in involved.iter().zip(&limits) {
        if let Some(max) = l.parallel {
            let before = e.window.inflight.fetch_add(1, Ordering::AcqRel);
            adm.parallel.push(e.clone());
            if before >= max {
                // The slots taken so far are given back when `adm` drops.
                return Err(rate_limited(e, "max_parallel_requests", max, 1_000));
            }
        }
    }
    for (i, (e, l)) in involved.iter().zip(&limits).enumerate() {
        if l.rpm.is_none() && l.tpm.is_none() {
            continue;
        }
        if let Err(lim) = e.window.load.try_request(now as u64, l.rpm, l.tpm) {
            for (e2, l2) in involved[..i].iter().zip(&limits[..i]) {
                if l2.rpm.is_some() || l2.tpm.is_some() {
                    e2.window.load.undo_request(now as u64);
                }
            }
            let (what, limit) = match lim {
                Limited::Requests(n) => ("requests", n),
                Limited::Tokens(n) => ("tokens", n),
            };
            return Err(rate_limited(e, what, limit, 60_000 - (now % 60_000) as u64));
        }
        control.touch(e);
        if e.kind == Kind::Key {
            let (reqs, toks) = e.window.load.this_minute(now as u64);
            if let Some(r) = l.rpm {
                adm.headers.push(("x-ratelimit-limit-requests", r.into()));
                adm.headers.push((
                    "x-ratelimit-remaining-requests",
                    r.saturating_sub(reqs).into(),
                ));
            }
            if let Some(t) = l.tpm {
                adm.headers.push(("x-ratelimit-limit-tokens", t.into()));
                adm.headers.push((
                    "x-ratelimit-remaining-tokens",
                    t.saturating_sub(toks).into(),
                ));
            }
        }
    }
    // Money is reserved next, by `Control::reserve` (it may wait for a budget lease).
    adm.holds = involved.into_iter().map(|e| (e, 0.0)).collect();
    if limits.iter().any(|l| l.rpm.is_some() || l.tpm.is_some()) {
        adm.rated_at = Some(now as u64);
    }
    adm.limits = limits;
    if let Some(k) = &key {
        adm.key_spend = control.spend(k);
    }
    adm.key = key;
    Ok(adm)
}

/// The refusal of a request a used-up budget cannot take (LiteLLM's words; a token budget
/// says tokens).
pub fn budget_exceeded(e: &Entity, x: Exceeded) -> GatewayError {
    if let Some((kind, id)) = token_owner(e) {
        return GatewayError::BudgetExceeded(format!(
            "Budget has been exceeded! {}={id} Tokens used: {}, Max token budget: {}, Remaining: 0",
            kind.label(),
            x.spend,
            x.max_budget
        ));
    }
    GatewayError::BudgetExceeded(format!(
        "Budget has been exceeded! {}={} Current cost: {}, Max budget: {}, Remaining: 0",
        e.kind.label(),
        display_id(e),
        x.spend,
        x.max_budget
    ))
}

/// The refusal of a request whose worst case does not fit what is left of a budget that is
/// not used up: what is spent and left, what the request could cost, and the largest
/// `max_tokens` that would fit (`fits`; 0 when not even the prompt does).
pub fn budget_insufficient(e: &Entity, x: Exceeded, worst: f64, fits: u64) -> GatewayError {
    let advice = if fits > 0 {
        format!("The largest max_tokens that fits: {fits}.")
    } else {
        "Not even the prompt fits.".to_string()
    };
    if let Some((kind, id)) = token_owner(e) {
        return GatewayError::BudgetInsufficient(format!(
            "Token budget left is too small for this request: {}={id} has used {} of its max token budget {}; {} tokens can still be reserved, and this request could use up to {worst} tokens. {advice}",
            kind.label(),
            x.spend,
            x.max_budget,
            x.available.floor()
        ));
    }
    GatewayError::BudgetInsufficient(format!(
        "Budget left is too small for this request: {}={} has spent {:.6} of its max budget {}; {:.6} can still be reserved, and this request could cost up to {worst:.6}. {advice}",
        e.kind.label(),
        display_id(e),
        x.spend,
        x.max_budget,
        x.available
    ))
}

/// Ids as users know them: a key by its alias or the last characters of its hash.
fn display_id(e: &Entity) -> String {
    match e.kind {
        Kind::Key | Kind::KeyModel => short_key(&e.id),
        _ => e.id.clone(),
    }
}

fn short_key(id: &str) -> String {
    id.get(..12).unwrap_or(id).to_string() + "…"
}

/// The owner of a token-budget counter, as refusals name it (`Key`, `abc123…`).
fn token_owner(e: &Entity) -> Option<(Kind, String)> {
    if e.kind != Kind::Tokens {
        return None;
    }
    let (kind, id) = super::entity::tokens_owner(&e.id)?;
    let shown = match kind {
        Kind::Key => short_key(id),
        _ => id.to_string(),
    };
    Some((kind, shown))
}

fn rate_limited(e: &Entity, what: &str, limit: u64, reset_in_ms: u64) -> GatewayError {
    GatewayError::RateLimited {
        message: format!(
            "Rate limit exceeded for {}: {}. Limit type: {what}. Current limit: {limit}, Remaining: 0. Limit resets in {} s.",
            e.kind.label(),
            display_id(e),
            reset_in_ms.div_ceil(1000).max(1)
        ),
        retry_after_s: reset_in_ms.div_ceil(1000).max(1),
        limit_header: match what {
            "tokens" => "x-ratelimit-limit-tokens",
            _ => "x-ratelimit-limit-requests",
        },
        limit,
    }
}

#[cfg(test)]
mod tests {
    use super::allowed;
    use crate::routing::resolve::tests::{runtime, CONFIG};

    #[test]
    fn key_allow_lists_judge_the_requested_name_as_for_prefix_wildcards() {
        let rt = runtime(CONFIG);
        let allowed = |list: &[&str], model: &str| {
            let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
            allowed(&list, model, &rt)
        };
        assert!(allowed(&["*"], "claude-3-haiku-20240307"));
        assert!(allowed(
            &["anthropic/*"],
            "anthropic/claude-3-5-sonnet-latest"
        ));
        assert!(!allowed(&["anthropic/*"], "groq/llama3-8b-8192"));
        assert!(allowed(&["gpt-4o-mini"], "gpt-4o-mini"));
        assert!(!allowed(&["gpt-4o"], "gpt-4o-mini"));
        // A bare name matches a provider wildcard as LiteLLM infers its provider.
        assert!(allowed(&["anthropic/*"], "claude-3-haiku-20240307"));
        assert!(allowed(&["openai/*"], "gpt-4o-mini"));
        assert!(!allowed(&["anthropic/*"], "gpt-4o-mini"));
        assert!(!allowed(&["openai/*"], "mystery-model"));
    }

    #[test]
    fn access_groups_of_wildcard_and_aliased_groups_admit_the_names_they_serve() {
        let rt = runtime(
            "model_list:
  - model_name: \"anthropic/*\"
    litellm_params: {model: \"anthropic/*\", api_key: k}
    model_info: {access_groups: [claude-models]}
  - model_name: \"*\"
    litellm_params: {model: \"*\", api_key: k}
    model_info: {access_groups: [anything]}
  - model_name: gpt-4o
    litellm_params: {model: openai/gpt-4o, api_key: k}
    model_info: {access_groups: [openai-models]}
router_settings:
  model_group_alias: {best: gpt-4o}
",
        );
        let allowed = |list: &[&str], model: &str| {
            let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
            allowed(&list, model, &rt)
        };
        assert!(allowed(
            &["claude-models"],
            "anthropic/claude-3-5-sonnet-latest"
        ));
        assert!(!allowed(&["claude-models"], "groq/llama3-8b-8192"));
        assert!(!allowed(&["claude-models"], "gpt-4o"));
        assert!(allowed(&["anything"], "groq/llama3-8b-8192"));
        assert!(allowed(&["anything"], "claude-3-haiku-20240307"));
        assert!(!allowed(
            &["anything"],
            "anthropic/claude-3-5-sonnet-latest"
        ));
        assert!(allowed(&["openai-models"], "best"));
        assert!(allowed(&["openai-models"], "gpt-4o"));
        assert!(!allowed(&["openai-models"], "mystery-model"));
    }
}
