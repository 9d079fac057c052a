//! One budget's money: spend in the current window, in-flight reservations, the part of the
//! spend not yet shared through Redis, and — with Redis — the slice of the budget this replica
//! leased from the cluster. Reservation is check-and-add under one short lock, so however many
//! requests race, admitted worst cases never add up past `max_budget`; with a lease they never
//! add up past this replica's slice either, so the replicas together stay inside the budget.

use std::sync::Mutex;

use chrono_tz::Tz;

use super::period::{self, Every};

#[derive(Debug, Default)]
pub struct Ledger {
    state: Mutex<State>,
}

#[derive(Debug, Default, Clone, Copy)]
struct State {
    /// Start of the window the spend belongs to (Unix ms; 0 for budgets that never reset).
    period: i64,
    /// End of that window (`i64::MAX` for budgets that never reset; 0 = not computed yet).
    end: i64,
    /// Spend known from the database at start or from the cluster at the last Redis sync.
    base: f64,
    /// Spend settled here and not yet added to the cluster total (grows forever without Redis).
    unsent: f64,
    /// Worst cases of requests admitted and not yet settled.
    reserved: f64,
    /// Whether the soft budget was already reported for this window.
    soft_reported: bool,
    /// The slice of the budget leased from the cluster for this window and not yet spent and
    /// shared: reservations plus unshared spend stay inside it (see `control::lease`).
    lease: f64,
    /// Until when (Unix ms, this replica's clock) the lease may be used.
    lease_until: i64,
    /// When a reservation last used the lease (Unix ms): idle slices go back to the cluster.
    lease_used_at: i64,
}

/// Why a reservation was refused: the budget, its settled spend, and what could still be
/// reserved of it (the budget less spend and every reservation in flight).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exceeded {
    pub spend: f64,
    pub max_budget: f64,
    pub available: f64,
}

/// Why a reservation was not made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Refused {
    /// The budget cannot take it.
    Exceeded(Exceeded),
    /// It fits the budget as this replica sees it, but not this replica's lease: `short` more
    /// must be leased from the cluster first.
    Short(f64),
}

/// What a lease request sends for one budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeaseBasis {
    /// The window the lease is for.
    pub period: i64,
    /// The cluster's spend as last seen (seeds a cluster total Redis lost).
    pub shared: f64,
    /// With a lapsed lease: what this replica has committed (reserved and unshared spend),
    /// which the cluster takes as this replica's lease before granting more.
    pub lapsed: Option<f64>,
}

/// What a replica holds of one budget's lease, for the Redis sync.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeaseView {
    /// The window the lease belongs to.
    pub period: i64,
    /// Leased and not yet shared as spend.
    pub lease: f64,
    /// Of it, neither reserved nor spent: what an idle replica gives back.
    pub unused: f64,
    /// When a reservation last used it.
    pub used_at: i64,
}

impl State {
    fn roll(&mut self, every: Option<Every>, now_ms: i64, tz: Tz) {
        if now_ms < self.end {
            return;
        }
        let (start, end) = match every {
            None => (0, i64::MAX),
            Some(e) => period::window(e, now_ms, tz),
        };
        if start != self.period {
            self.base = 0.0;
            self.unsent = 0.0;
            self.soft_reported = false;
            // The lease was of the old window's budget.
            self.lease = 0.0;
            self.lease_until = 0;
        }
        self.period = start;
        self.end = end;
    }

    fn spent(&self) -> f64 {
        self.base + self.unsent
    }
}

impl Ledger {
    /// A ledger starting from `spend` recorded for the window beginning at `period`.
    pub fn restore(&self, spend: f64, period: i64, every: Option<Every>, now_ms: i64, tz: Tz) {
        let mut s = self.state.lock().expect("ledger lock");
        s.roll(every, now_ms, tz);
        if period == s.period {
            s.base = spend;
            s.unsent = 0.0;
        }
    }

    /// Spend in the current window (settled, not reserved).
    pub fn spent(&self, every: Option<Every>, now_ms: i64, tz: Tz) -> f64 {
        let mut s = self.state.lock().expect("ledger lock");
        s.roll(every, now_ms, tz);
        s.spent()
    }

    /// The current window `(start, end)`; `end` is `i64::MAX` for budgets that never reset.
    pub fn window(&self, every: Option<Every>, now_ms: i64, tz: Tz) -> (i64, i64) {
        let mut s = self.state.lock().expect("ledger lock");
        s.roll(every, now_ms, tz);
        (s.period, s.end)
    }

    /// Reserves `amount` unless settled + reserved + amount would pass `max_budget` (or the
    /// budget is already used up). Without a max budget the reservation always succeeds. With
    /// `leased`, the amount must also fit the live lease (reservations + unshared spend inside
    /// it), else it is [`Refused::Short`] by what is missing.
    pub fn reserve(
        &self,
        max_budget: Option<f64>,
        amount: f64,
        leased: bool,
        every: Option<Every>,
        now_ms: i64,
        tz: Tz,
    ) -> Result<(), Refused> {
        let mut s = self.state.lock().expect("ledger lock");
        s.roll(every, now_ms, tz);
        if let Some(max) = max_budget {
            let committed = s.spent() + s.reserved;
            if committed >= max || committed + amount > max {
                return Err(Refused::Exceeded(Exceeded {
                    spend: s.spent(),
                    max_budget: max,
                    available: (max - committed).max(0.0),
                }));
            }
            if leased && amount > 0.0 {
                let needed = s.reserved + s.unsent + amount;
                if s.lease_until <= now_ms {
                    return Err(Refused::Short(needed));
                }
                if needed > s.lease {
                    return Err(Refused::Short(needed - s.lease));
                }
                s.lease_used_at = now_ms;
            }
        }
        s.reserved += amount;
        Ok(())
    }

    /// What a lease request sends for this budget (after `roll`).
    pub fn lease_basis(&self, every: Option<Every>, now_ms: i64, tz: Tz) -> LeaseBasis {
        let mut s = self.state.lock().expect("ledger lock");
        s.roll(every, now_ms, tz);
        LeaseBasis {
            period: s.period,
            shared: s.base,
            lapsed: (s.lease_until <= now_ms).then_some(s.reserved + s.unsent),
        }
    }

    /// The cluster no longer holds this replica's lease (it expired there): it may not be
    /// used until the next lease request re-establishes it.
    pub fn lapse(&self, period: i64) {
        let mut s = self.state.lock().expect("ledger lock");
        if s.period == period {
            s.lease_until = 0;
        }
    }

    /// Adds `amount` granted by the cluster for the window starting at `period`, usable until
    /// `until`. A lapsed lease is first set to what the cluster now holds for this replica
    /// (`floor`: the commitment sent with the request).
    pub fn grant(&self, period: i64, amount: f64, floor: Option<f64>, until: i64) {
        let mut s = self.state.lock().expect("ledger lock");
        if s.period != period {
            return;
        }
        if let Some(f) = floor {
            s.lease = f;
        }
        s.lease += amount;
        s.lease_until = until;
    }

    /// Extends the lease's use after the cluster renewed it.
    pub fn renew(&self, period: i64, until: i64) {
        let mut s = self.state.lock().expect("ledger lock");
        if s.period == period && s.lease > 0.0 {
            s.lease_until = s.lease_until.max(until);
        }
    }

    /// The lease as the sync sees it (after `roll`).
    pub fn lease_view(&self, every: Option<Every>, now_ms: i64, tz: Tz) -> LeaseView {
        let mut s = self.state.lock().expect("ledger lock");
        s.roll(every, now_ms, tz);
        LeaseView {
            period: s.period,
            lease: s.lease,
            unused: (s.lease - s.reserved - s.unsent).max(0.0),
            used_at: s.lease_used_at,
        }
    }

    /// Gives back up to `amount` of the unused lease (an idle replica, or one stopping);
    /// returns what was given back.
    pub fn give_back(&self, period: i64, amount: f64) -> f64 {
        let mut s = self.state.lock().expect("ledger lock");
        if s.period != period {
            return 0.0;
        }
        let unused = (s.lease - s.reserved - s.unsent).max(0.0);
        let back = amount.min(unused);
        s.lease -= back;
        back
    }

    /// Releases a reservation and records the real cost; returns (spend after, window start) —
    /// the window the cost belongs to, for the database delta.
    pub fn settle(
        &self,
        reserved: f64,
        cost: f64,
        every: Option<Every>,
        now_ms: i64,
        tz: Tz,
    ) -> (f64, i64) {
        let mut s = self.state.lock().expect("ledger lock");
        s.roll(every, now_ms, tz);
        s.reserved = (s.reserved - reserved).max(0.0);
        s.unsent += cost;
        (s.spent(), s.period)
    }

    /// Gives a reservation back unspent.
    pub fn release(&self, reserved: f64) {
        if reserved > 0.0 {
            let mut s = self.state.lock().expect("ledger lock");
            s.reserved = (s.reserved - reserved).max(0.0);
        }
    }

    /// Whether spend just crossed `soft_budget` for the first time this window.
    pub fn soft_crossed(&self, soft_budget: f64) -> bool {
        let mut s = self.state.lock().expect("ledger lock");
        if !s.soft_reported && s.spent() >= soft_budget {
            s.soft_reported = true;
            return true;
        }
        false
    }

    /// Hands the spend not yet shared to the Redis sync: (window start, amount, spend known
    /// before it — the seed for a cluster total Redis does not have). Shared spend leaves the
    /// lease: the cluster counts it as spend from then on.
    pub fn take_unsent(&self, every: Option<Every>, now_ms: i64, tz: Tz) -> (i64, f64, f64) {
        let mut s = self.state.lock().expect("ledger lock");
        s.roll(every, now_ms, tz);
        let amount = std::mem::take(&mut s.unsent);
        let seed = s.base;
        s.base += amount;
        s.lease = (s.lease - amount).max(0.0);
        (s.period, amount, seed)
    }

    /// Records the cluster's total for the window starting at `period` (this replica's shared
    /// spend included). Totals only grow inside a window, so an older total arriving after a
    /// newer one (a sync reply and another replica's announcement cross) is ignored: the view
    /// never moves backwards. Resets go through [`Ledger::set_spent`].
    pub fn set_cluster(&self, period: i64, total: f64) {
        let mut s = self.state.lock().expect("ledger lock");
        if s.period == period && total > s.base {
            s.base = total;
        }
    }

    /// Sets the spend of the current window (admin reset, or a reset pushed by another replica).
    pub fn set_spent(&self, spend: f64, every: Option<Every>, now_ms: i64, tz: Tz) {
        let mut s = self.state.lock().expect("ledger lock");
        s.roll(every, now_ms, tz);
        s.base = spend;
        s.unsent = 0.0;
        s.soft_reported = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const UTC: Tz = chrono_tz::UTC;

    #[test]
    fn reservations_never_add_up_past_the_budget() {
        let l = Arc::new(Ledger::default());
        l.restore(9.0, 0, None, 0, UTC);
        let admitted: usize = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| {
                    let l = l.clone();
                    s.spawn(move || {
                        (0..100)
                            .filter(|_| l.reserve(Some(10.0), 0.01, false, None, 0, UTC).is_ok())
                            .count()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(admitted, 100, "1.00 of headroom / 0.01 each");
        for _ in 0..admitted {
            l.settle(0.01, 0.01, None, 0, UTC);
        }
        assert!((l.spent(None, 0, UTC) - 10.0).abs() < 1e-9);
        assert!(
            l.reserve(Some(10.0), 0.0, false, None, 0, UTC).is_err(),
            "used up"
        );
    }

    #[test]
    fn spend_resets_when_the_window_rolls_over() {
        let l = Ledger::default();
        let day = Some(Every::Days(1));
        let t0 = 1_000 * 86_400_000 + 5_000;
        l.settle(0.0, 3.0, day, t0, UTC);
        assert_eq!(l.spent(day, t0 + 1000, UTC), 3.0);
        assert_eq!(l.spent(day, t0 + 86_400_000, UTC), 0.0);
        let (_, period) = l.settle(0.0, 1.0, day, t0 + 86_400_000, UTC);
        assert_eq!(period, 1_001 * 86_400_000);
        // A restore for an older window is ignored; for the current one it applies.
        l.restore(50.0, 1_000 * 86_400_000, day, t0 + 86_400_000, UTC);
        assert_eq!(l.spent(day, t0 + 86_400_000, UTC), 1.0);
    }

    #[test]
    fn cluster_totals_replace_the_shared_part() {
        let l = Ledger::default();
        l.settle(0.0, 2.0, None, 0, UTC);
        let (p, sent, seed) = l.take_unsent(None, 0, UTC);
        assert_eq!(seed, 0.0);
        assert_eq!(sent, 2.0);
        l.settle(0.0, 0.5, None, 0, UTC); // arrives while the sync is in flight
        l.set_cluster(p, 7.0); // another replica spent 5
        assert_eq!(l.spent(None, 0, UTC), 7.5);
        // An older total, published before the newer one but delivered after it, is ignored.
        l.set_cluster(p, 4.0);
        assert_eq!(l.spent(None, 0, UTC), 7.5);
        l.set_cluster(p + 1, 99.0); // another window's
        assert_eq!(l.spent(None, 0, UTC), 7.5);
    }

    #[test]
    fn a_lease_bounds_reservations_and_unshared_spend() {
        let l = Ledger::default();
        let max = Some(10.0);
        // No lease yet: everything is short.
        assert_eq!(
            l.reserve(max, 1.0, true, None, 0, UTC),
            Err(Refused::Short(1.0))
        );
        assert_eq!(l.lease_basis(None, 0, UTC).lapsed, Some(0.0));
        l.grant(0, 2.5, Some(0.0), 1_000);
        assert!(l.reserve(max, 1.0, true, None, 0, UTC).is_ok());
        assert!(l.reserve(max, 1.0, true, None, 0, UTC).is_ok());
        assert_eq!(
            l.reserve(max, 1.0, true, None, 0, UTC),
            Err(Refused::Short(0.5))
        );
        // Settled spend stays inside the lease until shared.
        l.settle(1.0, 0.75, None, 0, UTC);
        let v = l.lease_view(None, 0, UTC);
        assert_eq!((v.lease, v.unused), (2.5, 0.75));
        let (_, sent, _) = l.take_unsent(None, 0, UTC);
        assert_eq!(sent, 0.75);
        assert_eq!(l.lease_view(None, 0, UTC).lease, 1.75);
        // Giving back keeps what is reserved.
        assert_eq!(l.give_back(0, 5.0), 0.75);
        assert_eq!(l.lease_view(None, 0, UTC).lease, 1.0);
        // A lease past its time is short whatever it holds; without leasing it is not.
        assert!(matches!(
            l.reserve(max, 0.1, true, None, 1_000, UTC),
            Err(Refused::Short(_))
        ));
        assert!(l.reserve(max, 0.1, false, None, 1_000, UTC).is_ok());
        // Never past the budget, lease or not.
        l.grant(0, 100.0, None, 5_000);
        assert!(matches!(
            l.reserve(max, 9.0, true, None, 1_000, UTC),
            Err(Refused::Exceeded(_))
        ));
    }

    #[test]
    fn soft_budget_is_reported_once_per_window() {
        let l = Ledger::default();
        l.settle(0.0, 5.0, None, 0, UTC);
        assert!(l.soft_crossed(4.0));
        assert!(!l.soft_crossed(4.0));
    }
}
