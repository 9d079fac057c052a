//! Budget reservations of an admitted request: the worst case held on every budget it counts
//! toward, all or nothing — from this replica's ledgers, and with Redis from the slices of each
//! budget this replica leased from the cluster (`lease`). Only when a slice runs out does a
//! request wait on Redis, once, for the next slice of every budget that ran short.

use std::sync::Arc;

use conf::BudgetEnforcement;

use super::cost::{Cost, Worst};
use super::enforce::{budget_exceeded, budget_insufficient, Admission};
use super::ledger::{Exceeded, Refused};
use super::{Control, Entity, Kind, Limits};
use crate::clock::now_ms_i64;
use crate::error::GatewayError;

/// With `budget_enforcement: clamp`, a request is admitted with a lowered `max_tokens` only if
/// at least this many output tokens per completion fit what is left of its budgets.
pub const MIN_CLAMPED_OUTPUT: u64 = 16;

/// Why the holds could not be raised.
#[derive(Debug)]
pub enum Shortfall {
    /// This budget cannot take the request.
    Budget(Arc<Entity>, Exceeded),
    /// The budgets fit, but these leases are short by these amounts.
    Lease(Vec<(Arc<Entity>, f64)>),
}

/// Why a request (or its fallback) could not get its budgets.
#[derive(Debug)]
pub enum Refusal {
    /// A budget cannot take it.
    Budget(Arc<Entity>, Exceeded),
    /// Redis is needed and unreachable, and `redis_failure_mode` is `closed`.
    Unavailable(String),
    /// A key's per-model rate limit of the fallback model is reached.
    Limited(String),
}

impl Refusal {
    pub fn into_error(self) -> GatewayError {
        match self {
            Refusal::Budget(e, x) => budget_exceeded(&e, x),
            Refusal::Unavailable(why) => GatewayError::StateUnavailable(why),
            Refusal::Limited(why) => GatewayError::Denied(why),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Budget(e, x) if e.kind == Kind::Tokens => write!(
                f,
                "{} {} has used {} of {} tokens",
                e.kind.label(),
                e.id,
                x.spend,
                x.max_budget
            ),
            Refusal::Budget(e, x) => write!(
                f,
                "{} {} has spent ${:.6} of ${}",
                e.kind.label(),
                e.id,
                x.spend,
                x.max_budget
            ),
            Refusal::Unavailable(why) | Refusal::Limited(why) => f.write_str(why),
        }
    }
}

/// Raises every hold of `adm` under a budget to `worst` (in each budget's unit; `limits[i]`
/// are the limits of hold `i`), all or nothing: on any refusal what was added here is given
/// back. With `leased`, the amounts must also fit this replica's leases; every short one is
/// listed.
pub fn raise(
    control: &Control,
    adm: &mut Admission,
    limits: &[Limits],
    worst: Worst,
    leased: bool,
) -> Result<(), Shortfall> {
    let (now, tz) = (now_ms_i64(), control.settings.tz);
    let mut added: Vec<(usize, f64)> = Vec::new();
    let mut short: Vec<(Arc<Entity>, f64)> = Vec::new();
    let give_back = |adm: &Admission, added: &[(usize, f64)]| {
        for &(j, amount) in added {
            adm.holds[j].0.ledger.release(amount);
        }
    };
    for (i, l) in limits.iter().enumerate() {
        let (e, held) = &adm.holds[i];
        let extra = (worst.on(e) - held).max(0.0);
        // A budget the request holds nothing of yet is checked even for nothing (an unpriced
        // model): a used-up budget refuses every request, as LiteLLM's does.
        if l.max_budget.is_none() || (extra == 0.0 && *held > 0.0) {
            continue;
        }
        match e
            .ledger
            .reserve(l.max_budget, extra, leased, l.budget_duration, now, tz)
        {
            Ok(()) => added.push((i, extra)),
            Err(Refused::Short(n)) => short.push((e.clone(), n)),
            Err(Refused::Exceeded(x)) => {
                give_back(adm, &added);
                return Err(Shortfall::Budget(e.clone(), x));
            }
        }
    }
    if !short.is_empty() {
        give_back(adm, &added);
        return Err(Shortfall::Lease(short));
    }
    for (i, amount) in added {
        adm.holds[i].1 += amount;
    }
    adm.worst = adm.worst.max(worst.usd);
    Ok(())
}

/// Takes back the request's count in the rpm/tpm windows (a budget refused it after all).
pub fn undo_rates(adm: &Admission, limits: &[Limits]) {
    let Some(at) = adm.rated_at else { return };
    for ((e, _), l) in adm.holds.iter().zip(limits) {
        if l.rpm.is_some() || l.tpm.is_some() {
            e.window.load.undo_request(at);
        }
    }
}

/// Lease rounds one request may need when other requests of this replica keep taking the
/// slices it leased (each round leases at least what it is short).
const MAX_ROUNDS: usize = 8;

impl Control {
    /// Reserves the request's worst case on every budget it counts toward, as
    /// `budget_enforcement` says: `reserve` refuses a worst case that does not fit; `clamp`
    /// (default) then lowers the output bound to what is left (returned: the new per-completion
    /// `max_tokens`, for the caller to send upstream) while that covers the prompt and
    /// [`MIN_CLAMPED_OUTPUT`] tokens; `soft` reserves nothing and refuses only a used-up budget.
    /// Waits on Redis only when this replica's lease of a budget runs short. A refusal undoes
    /// the request's rate-limit counts.
    pub async fn reserve(
        &self,
        adm: &mut Admission,
        cost: &Cost<'_>,
    ) -> Result<Option<u64>, GatewayError> {
        let limits = std::mem::take(&mut adm.limits);
        let result = self.reserve_with(adm, &limits, cost).await;
        if result.is_err() {
            undo_rates(adm, &limits);
            adm.settled = true;
        }
        adm.limits = limits;
        result
    }

    async fn reserve_with(
        &self,
        adm: &mut Admission,
        limits: &[Limits],
        cost: &Cost<'_>,
    ) -> Result<Option<u64>, GatewayError> {
        let mode = self.settings.enforcement;
        let tokens = adm.counts_tokens();
        let worst = match mode {
            BudgetEnforcement::Soft => Worst::default(),
            _ => cost.requested(tokens),
        };
        let (mut e, mut x) = match self.raise_leasing(adm, limits, worst).await {
            Ok(()) => return Ok(None),
            Err(Refusal::Budget(e, x)) => (e, x),
            Err(other) => return Err(other.into_error()),
        };
        let used_up = |x: &Exceeded| x.spend >= x.max_budget;
        if used_up(&x) || mode == BudgetEnforcement::Soft {
            return Err(budget_exceeded(&e, x));
        }
        if mode == BudgetEnforcement::Clamp && cost.bounded() {
            // A few rounds: another budget of the request (money or tokens), or another
            // request, may leave less.
            for _ in 0..3 {
                let fits = cost.largest_within(&e, x.available);
                if fits < MIN_CLAMPED_OUTPUT {
                    break;
                }
                match self.raise_leasing(adm, limits, cost.at(fits, tokens)).await {
                    Ok(()) => return Ok(Some(fits)),
                    Err(Refusal::Budget(e2, x2)) if !used_up(&x2) => (e, x) = (e2, x2),
                    Err(Refusal::Budget(e2, x2)) => return Err(budget_exceeded(&e2, x2)),
                    Err(other) => return Err(other.into_error()),
                }
            }
        }
        let fits = if cost.bounded() {
            cost.largest_within(&e, x.available)
        } else {
            0
        };
        Err(budget_insufficient(&e, x, worst.on(&e), fits))
    }

    /// A fallback moves the request to model `model`, whose group's worst case is `cost`:
    /// every hold under a budget is raised to it, so a pricier fallback cannot spend past a
    /// budget either, and the key's own budget and limits for `model` (`model_max_budget`,
    /// `model_rpm_limit`, `model_tpm_limit`) join the holds. All or nothing.
    pub async fn cover(
        &self,
        adm: &mut Admission,
        cost: &Cost<'_>,
        model: &str,
    ) -> Result<(), Refusal> {
        let joined = self.join_model_limits(adm, model)?;
        let limits: Vec<Limits> = adm
            .holds
            .iter()
            .map(|(e, _)| self.entity_limits(adm, e))
            .collect();
        let worst = cost.requested(adm.counts_tokens());
        let raised = self.raise_leasing(adm, &limits, worst).await;
        if raised.is_err() {
            if let Some((e, rated)) = joined {
                adm.holds.pop();
                if let Some(at) = rated {
                    e.window.load.undo_request(at);
                }
            }
        }
        raised
    }

    /// Adds the key's per-model counter for `model` to the holds (counting the request in its
    /// rpm/tpm window) if the key has limits for it and the request does not hold it yet.
    /// Returns the entity added and the minute it was counted in.
    #[allow(clippy::type_complexity)]
    fn join_model_limits(
        &self,
        adm: &mut Admission,
        model: &str,
    ) -> Result<Option<(Arc<Entity>, Option<u64>)>, Refusal> {
        let Some(key) = adm.key.clone() else {
            return Ok(None);
        };
        let Some(l) = key.model_limits.get(model) else {
            return Ok(None);
        };
        let id = format!("{}/{model}", key.id);
        if adm.holds.iter().any(|(e, _)| e.id == id) {
            return Ok(None);
        }
        let e = self.get_or_create(super::Kind::KeyModel, &id);
        let mut rated = None;
        if l.rpm.is_some() || l.tpm.is_some() {
            let now = crate::clock::now_ms();
            if e.window.load.try_request(now, l.rpm, l.tpm).is_err() {
                return Err(Refusal::Limited(format!(
                    "the key's rate limit for model {model} is reached"
                )));
            }
            self.touch(&e);
            rated = Some(now);
        }
        adm.holds.push((e.clone(), 0.0));
        Ok(Some((e, rated)))
    }

    async fn raise_leasing(
        &self,
        adm: &mut Admission,
        limits: &[Limits],
        worst: Worst,
    ) -> Result<(), Refusal> {
        let Some(leases) = self.leases.get() else {
            return raise(self, adm, limits, worst, false).map_err(local_refusal);
        };
        // The common case: this replica's slices hold it.
        match raise(self, adm, limits, worst, true) {
            Ok(()) => return Ok(()),
            Err(Shortfall::Budget(e, x)) => return Err(Refusal::Budget(e, x)),
            Err(Shortfall::Lease(_)) => {}
        }
        // One lease request at a time: requests short at once share the slice it brings.
        let mut con = leases.lock().await;
        for _ in 0..MAX_ROUNDS {
            let short = match raise(self, adm, limits, worst, true) {
                Ok(()) => return Ok(()),
                Err(Shortfall::Budget(e, x)) => return Err(Refusal::Budget(e, x)),
                Err(Shortfall::Lease(short)) => short,
            };
            if !leases.usable() {
                return self.without_leases(adm, limits, worst);
            }
            match leases.top_up(&mut con, self, adm, &short).await {
                Ok(None) => continue,
                Ok(Some((e, x))) => return Err(Refusal::Budget(e, x)),
                Err(e) => {
                    log::warn!(
                        "redis: leasing budget failed ({e}); {}",
                        self.fallback_note()
                    );
                    return self.without_leases(adm, limits, worst);
                }
            }
        }
        // Every slice leased was taken by this replica's other requests before this one could
        // use it: the budget is all but spent.
        match raise(self, adm, limits, worst, true) {
            Ok(()) => Ok(()),
            Err(Shortfall::Budget(e, x)) => Err(Refusal::Budget(e, x)),
            Err(Shortfall::Lease(short)) => {
                let (e, _) = short[0].clone();
                let l = self.entity_limits(adm, &e);
                Err(Refusal::Budget(
                    e.clone(),
                    Exceeded {
                        spend: self.spend(&e),
                        max_budget: l.max_budget.unwrap_or_default(),
                        available: 0.0,
                    },
                ))
            }
        }
    }

    /// Redis cannot lease: `redis_failure_mode: open` reserves against this replica's own view
    /// of the budgets, `closed` refuses. Counted in `tollgate_budget_lease_fallbacks_total`.
    fn without_leases(
        &self,
        adm: &mut Admission,
        limits: &[Limits],
        worst: Worst,
    ) -> Result<(), Refusal> {
        let mode = if self.settings.redis_fail_closed {
            "closed"
        } else {
            "open"
        };
        crate::observe::services::lease_fallback(mode);
        if self.settings.redis_fail_closed {
            return Err(Refusal::Unavailable(
                "Budgets cannot be checked: Redis is unreachable and tollgate_settings.redis_failure_mode is closed".into(),
            ));
        }
        raise(self, adm, limits, worst, false).map_err(local_refusal)
    }

    fn fallback_note(&self) -> &'static str {
        if self.settings.redis_fail_closed {
            "requests that need a budget slice are refused (redis_failure_mode: closed)"
        } else {
            "budgets are enforced from this replica's own view (redis_failure_mode: open)"
        }
    }
}

fn local_refusal(s: Shortfall) -> Refusal {
    match s {
        Shortfall::Budget(e, x) => Refusal::Budget(e, x),
        Shortfall::Lease(_) => unreachable!("a reservation without leases is never short"),
    }
}
