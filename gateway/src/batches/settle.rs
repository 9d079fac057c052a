//! A retrieved or cancelled batch: its latest object is kept (the list route answers it), its
//! output and error files become the owner's, and once the provider says it is finished
//! (completed, cancelled, expired) its spend is recorded exactly once: the output file is read line by line (bounded memory), its usage
//! summed and priced at the batch price (`pricing::batch_cost`), then the batch row's marker is
//! set by one conditional UPDATE (`Store::settle_batch`): only the request — of every replica on
//! the database — whose update set it charges the owner's key, team, user and organization and
//! queues the spend log row. Done inline, before the retrieve is answered (graceful shutdown
//! waits for it). No poller is needed: the output file's id reaches the client only through
//! such an answer, after the spend is recorded.

use std::sync::Arc;

use adapters::files::jsonl::{self, OutputUsage};
use serde_json::Value;
use store::{BatchFile, BatchJob};

use super::{Call, Db};
use crate::control::enforce::Admission;
use crate::control::flush::Spent;
use crate::control::{Control, Kind};
use crate::deployment::DeploymentRt;
use crate::error::GatewayError;
use crate::state::AppState;

/// The batch statuses after which its output file is final (a cancelled or expired batch's
/// holds the requests that did complete, and the provider bills them).
const FINAL: &[&str] = &["completed", "cancelled", "expired"];

/// Keeps what a 2xx batch object says, and records the spend of a finished batch. The output
/// file's id is made the owner's (and kept for the list route) only once the spend is
/// recorded: if that fails, so does the request (503), so a client never learns the id of
/// results whose cost was not counted.
pub(super) async fn seen(
    state: &Arc<AppState>,
    job: &BatchJob,
    dep: &DeploymentRt,
    answer: &[u8],
) -> Result<(), GatewayError> {
    let Ok(v) = serde_json::from_slice::<Value>(answer) else {
        return Ok(());
    };
    let status = v.get("status").and_then(Value::as_str).unwrap_or("");
    let output = v.get("output_file_id").and_then(Value::as_str);
    if let (true, None, Some(output)) = (FINAL.contains(&status), job.settled_at, output) {
        settle(state, job, dep, output).await.map_err(|e| {
            GatewayError::StateUnavailable(format!(
                "batch {} is {status} but its spend could not be recorded yet ({e}); retrieve it again",
                job.id
            ))
        })?;
    }
    let db = Db(state.clone());
    let store = db.store();
    let (id, object) = (job.id.clone(), String::from_utf8_lossy(answer).into_owned());
    let files: Vec<BatchFile> = ["output_file_id", "error_file_id"]
        .iter()
        .filter_map(|k| v.get(*k).and_then(Value::as_str))
        .map(|f| BatchFile {
            id: f.to_string(),
            owner: job.owner.clone(),
            team_id: job.team_id.clone(),
            deployment_id: job.deployment_id.clone(),
            model_group: job.model_group.clone(),
            purpose: "batch_output".into(),
            created_at: crate::clock::now_ms_i64(),
            object: serde_json::json!({"id": f, "object": "file", "purpose": "batch_output"})
                .to_string(),
        })
        .collect();
    db.run(async move {
        store.update_batch_object(&id, &object).await?;
        for f in &files {
            store.put_batch_file(f).await?;
        }
        Ok(())
    })
    .await
}

/// Reads the output file, prices it, and — if this call sets the batch's marker — charges it.
async fn settle(
    state: &Arc<AppState>,
    job: &BatchJob,
    dep: &DeploymentRt,
    output: &str,
) -> Result<(), String> {
    let runtime = state.runtime();
    let rest = format!("files/{output}/content");
    let mut sum = OutputUsage::default();
    let mut carry: Vec<u8> = Vec::new();
    let add = |sum: &mut OutputUsage, lines: &[u8]| {
        let u = jsonl::output_usage(lines);
        sum.prompt_tokens += u.prompt_tokens;
        sum.completion_tokens += u.completion_tokens;
        sum.cached_tokens += u.cached_tokens;
        sum.responses += u.responses;
        sum.without_usage += u.without_usage;
    };
    Call::new(&runtime, dep, "GET", &rest, "")
        .read_each(state, |chunk| {
            carry.extend_from_slice(chunk);
            if let Some(last) = memchr::memrchr(b'\n', &carry) {
                add(&mut sum, &carry[..=last]);
                carry.drain(..=last);
            }
            if carry.len() > super::upload::MAX_LINE {
                return Err(format!(
                    "a line of the output file is over {} bytes",
                    super::upload::MAX_LINE
                ));
            }
            Ok(())
        })
        .await?;
    add(&mut sum, &carry);
    let cost = dep.price_for(None).map_or(0.0, |p| {
        crate::pricing::batch_cost(&p, sum.prompt_tokens, sum.completion_tokens)
    });
    let db = Db(state.clone());
    let store = db.store();
    let id = job.id.clone();
    let now = crate::clock::now_ms_i64();
    let claimed = db
        .run(async move { store.settle_batch(&id, now, cost).await })
        .await
        .map_err(|e| e.to_string())?;
    if !claimed {
        return Ok(());
    }
    let mut adm = charges(&state.control, job);
    let log = spend_log(job, dep, &adm, &sum, cost, now);
    state.control.settle(
        &mut adm,
        Spent {
            cost,
            prompt_tokens: sum.prompt_tokens,
            completion_tokens: sum.completion_tokens,
        },
        Some(std::sync::Arc::new(log)),
    );
    log::info!(
        "batch {}: {} responses, {} prompt + {} completion tokens, spend {cost:.6} recorded",
        job.id,
        sum.responses,
        sum.prompt_tokens,
        sum.completion_tokens
    );
    Ok(())
}

/// What the batch's spend counts toward, as a request of its owner's would (nothing reserved):
/// the key (if it still exists), its team (or the team recorded with the batch), the team
/// membership, the user, the organization, the proxy, and their token budgets' counters.
fn charges(control: &Control, job: &BatchJob) -> Admission {
    let mut adm = Admission::default();
    let key = Some(job.owner.as_str())
        .filter(|o| !o.is_empty())
        .and_then(|o| control.get(Kind::Key, o));
    adm.team_id = key
        .as_ref()
        .and_then(|k| k.team_id.clone())
        .or_else(|| job.team_id.clone());
    adm.user_id = key.as_ref().and_then(|k| k.user_id.clone());
    let mut involved = Vec::with_capacity(8);
    involved.extend(key.clone());
    if let Some(t) = adm
        .team_id
        .as_deref()
        .and_then(|t| control.get(Kind::Team, t))
    {
        adm.org_id = t.org_id.clone();
        if let Some(u) = &adm.user_id {
            involved.extend(control.get(Kind::Member, &format!("{}/{u}", t.id)));
        }
        involved.push(t);
    }
    involved.extend(
        adm.user_id
            .as_deref()
            .and_then(|u| control.get(Kind::User, u)),
    );
    if adm.org_id.is_none() {
        adm.org_id = key.as_ref().and_then(|k| k.org_id.clone());
    }
    involved.extend(
        adm.org_id
            .as_deref()
            .and_then(|o| control.get(Kind::Org, o)),
    );
    involved.push(control.get_or_create(Kind::Proxy, "global"));
    let counters: Vec<_> = involved
        .iter()
        .filter(|e| control.limits(e).max_token_budget.is_some())
        .map(|e| control.tokens_counter(e))
        .collect();
    involved.extend(counters);
    adm.holds = involved.into_iter().map(|e| (e, 0.0)).collect();
    adm.key = key;
    adm
}

/// The batch's spend log row (`request_id` is the batch id; `call_type` `aretrieve_batch`).
fn spend_log(
    job: &BatchJob,
    dep: &DeploymentRt,
    adm: &Admission,
    sum: &OutputUsage,
    cost: f64,
    now: i64,
) -> store::SpendLog {
    store::SpendLog {
        request_id: job.id.clone(),
        call_type: "aretrieve_batch".into(),
        api_key: job.owner.clone(),
        key_alias: adm.key.as_ref().and_then(|k| k.alias()).map(str::to_string),
        spend: cost,
        prompt_tokens: sum.prompt_tokens as i64,
        completion_tokens: sum.completion_tokens as i64,
        total_tokens: (sum.prompt_tokens + sum.completion_tokens) as i64,
        cached_tokens: sum.cached_tokens as i64,
        start_time: job.created_at,
        end_time: now,
        model: dep.conf.model.clone(),
        model_group: job.model_group.clone(),
        model_id: dep.conf.id.clone(),
        custom_llm_provider: dep.conf.provider.prefix().to_string(),
        api_base: dep
            .conf
            .api_base
            .as_ref()
            .map(|b| b.url.clone())
            .unwrap_or_default(),
        user: adm.user_id.clone(),
        team_id: adm.team_id.clone(),
        organization_id: adm.org_id.clone(),
        end_user: None,
        status: "success".into(),
        cache_hit: false,
        request_tags: Vec::new(),
        metadata: serde_json::json!({
            "batch_id": job.id,
            "input_file_id": job.input_file_id,
            "batch_responses": sum.responses,
            "batch_lines_without_usage": sum.without_usage,
            "priced_as": "batch",
        }),
        response_id: None,
    }
}
