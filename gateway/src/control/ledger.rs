//! One budget's money: spend in the current window, in-flight reservations, and the part of the
//! spend not yet shared through Redis. Reservation is check-and-add under one short lock, so
//! however many requests race, admitted worst cases never add up past `max_budget`.

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
}

/// Why a reservation was refused: the spend (settled + reserved) it would have exceeded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exceeded {
    pub spend: f64,
    pub max_budget: f64,
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
    /// budget is already used up). Without a max budget the reservation always succeeds.
    pub fn reserve(
        &self,
        max_budget: Option<f64>,
        amount: f64,
        every: Option<Every>,
        now_ms: i64,
        tz: Tz,
    ) -> Result<(), Exceeded> {
        let mut s = self.state.lock().expect("ledger lock");
        s.roll(every, now_ms, tz);
        if let Some(max) = max_budget {
            let committed = s.spent() + s.reserved;
            if committed >= max || committed + amount > max {
                return Err(Exceeded {
                    spend: s.spent(),
                    max_budget: max,
                });
            }
        }
        s.reserved += amount;
        Ok(())
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
    /// before it — the seed for a cluster total Redis does not have).
    pub fn take_unsent(&self, every: Option<Every>, now_ms: i64, tz: Tz) -> (i64, f64, f64) {
        let mut s = self.state.lock().expect("ledger lock");
        s.roll(every, now_ms, tz);
        let amount = std::mem::take(&mut s.unsent);
        let seed = s.base;
        s.base += amount;
        (s.period, amount, seed)
    }

    /// Records the cluster's total for the window starting at `period` (this replica's shared
    /// spend included).
    pub fn set_cluster(&self, period: i64, total: f64) {
        let mut s = self.state.lock().expect("ledger lock");
        if s.period == period {
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
                            .filter(|_| l.reserve(Some(10.0), 0.01, None, 0, UTC).is_ok())
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
        assert!(l.reserve(Some(10.0), 0.0, None, 0, UTC).is_err(), "used up");
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
    }

    #[test]
    fn soft_budget_is_reported_once_per_window() {
        let l = Ledger::default();
        l.settle(0.0, 5.0, None, 0, UTC);
        assert!(l.soft_crossed(4.0));
        assert!(!l.soft_crossed(4.0));
    }
}
