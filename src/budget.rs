//! The budget ledger: per workspace, what was spent this calendar month and ISO week and what
//! requests in flight hold in reservations. Admission reserves a request's worst-case cost under
//! one lock, so concurrent requests cannot together pass the monthly budget; completion replaces
//! the reservation with the real cost, failure releases it. The ledger is seeded at start from the
//! `traces` read model and kept by this node's own settlements (several nodes sharing one budget
//! need a shared ledger: not yet).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;

use layerr_domain::workspace::budget::{month_start, week_start, Budget};

#[derive(Debug, Clone, Default)]
struct Account {
    month: Option<DateTime<Utc>>,
    week: Option<DateTime<Utc>>,
    month_spent: i64,
    week_spent: i64,
    reserved: i64,
    in_flight: u32,
}

impl Account {
    /// Starts a new month or week when `now` has left the current one.
    fn roll(&mut self, now: DateTime<Utc>) {
        let m = month_start(now);
        if self.month != Some(m) {
            self.month = Some(m);
            self.month_spent = 0;
        }
        let w = week_start(now);
        if self.week != Some(w) {
            self.week = Some(w);
            self.week_spent = 0;
        }
    }
}

/// A workspace's figures at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub month_spent: i64,
    pub week_spent: i64,
    pub reserved: i64,
    pub in_flight: u32,
}

/// Why a reservation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub budget: i64,
    pub spent: i64,
    pub reserved: i64,
    pub wanted: i64,
}

/// The weekly alert threshold was crossed by a settlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crossing {
    pub week_start: DateTime<Utc>,
    pub spent: i64,
    pub threshold: i64,
}

#[derive(Default)]
pub struct Ledger {
    accounts: Mutex<HashMap<String, Account>>,
}

impl Ledger {
    /// Sets what the store says was spent this month and week (at start).
    pub fn seed(&self, workspace: &str, month_spent: i64, week_spent: i64, now: DateTime<Utc>) {
        let mut accounts = self.accounts.lock();
        let a = accounts.entry(workspace.to_string()).or_default();
        a.roll(now);
        a.month_spent = month_spent.max(0);
        a.week_spent = week_spent.max(0);
    }

    /// Holds `micros` against the workspace's monthly budget, or refuses when spent plus held
    /// plus this would pass it. Without a budget the hold is only counted.
    pub fn reserve(&self, workspace: &str, budget: &Budget, micros: i64, now: DateTime<Utc>) -> Result<(), Refusal> {
        let mut accounts = self.accounts.lock();
        let a = accounts.entry(workspace.to_string()).or_default();
        a.roll(now);
        if let Some(limit) = budget.monthly_micros {
            if a.month_spent.saturating_add(a.reserved).saturating_add(micros) > limit {
                return Err(Refusal { budget: limit, spent: a.month_spent, reserved: a.reserved, wanted: micros });
            }
        }
        // Saturating: a hold can never wrap the ledger negative (a negative hold is none).
        a.reserved = a.reserved.saturating_add(micros.max(0));
        a.in_flight = a.in_flight.saturating_add(1);
        Ok(())
    }

    /// Replaces a hold of `reserved` by the real cost `actual` (0 for a release). Returns the
    /// crossing when this settlement took the week's spend over the alert threshold.
    pub fn settle(
        &self,
        workspace: &str,
        budget: &Budget,
        reserved: Option<i64>,
        actual: i64,
        now: DateTime<Utc>,
    ) -> Option<Crossing> {
        let mut accounts = self.accounts.lock();
        let a = accounts.entry(workspace.to_string()).or_default();
        a.roll(now);
        if let Some(r) = reserved {
            a.reserved = a.reserved.saturating_sub(r.max(0)).max(0);
            a.in_flight = a.in_flight.saturating_sub(1);
        }
        let before = a.week_spent;
        let actual = actual.max(0);
        a.month_spent = a.month_spent.saturating_add(actual);
        a.week_spent = a.week_spent.saturating_add(actual);
        let threshold = budget.weekly_alert_micros?;
        (before < threshold && a.week_spent >= threshold).then(|| Crossing {
            week_start: a.week.unwrap_or_else(|| week_start(now)),
            spent: a.week_spent,
            threshold,
        })
    }

    /// Drops a deleted workspace's figures (holds of its requests still in flight settle into a
    /// fresh account, which its next incarnation would inherit only for those few requests).
    pub fn forget(&self, workspace: &str) {
        self.accounts.lock().remove(workspace);
    }

    pub fn standing(&self, workspace: &str, now: DateTime<Utc>) -> Standing {
        let mut accounts = self.accounts.lock();
        let a = accounts.entry(workspace.to_string()).or_default();
        a.roll(now);
        Standing { month_spent: a.month_spent, week_spent: a.week_spent, reserved: a.reserved, in_flight: a.in_flight }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn budget(monthly: i64, weekly: Option<i64>) -> Budget {
        Budget { monthly_micros: Some(monthly), weekly_alert_micros: weekly, ..Budget::default() }
    }

    #[test]
    fn huge_amounts_saturate_instead_of_wrapping() {
        // Regression (issue 9, defect 1): three huge holds and charges wrapped the ledger
        // negative, after which the workspace could spend far past its budget.
        let l = Ledger::default();
        let none = Budget::default();
        let b = budget(1_000, Some(500));
        let now = at("2026-11-24T10:00:00Z");
        for _ in 0..3 {
            assert!(l.reserve("w", &none, i64::MAX, now).is_ok());
        }
        assert_eq!(l.standing("w", now).reserved, i64::MAX);
        for _ in 0..3 {
            l.settle("w", &none, Some(i64::MAX), i64::MAX, now);
        }
        let s = l.standing("w", now);
        assert_eq!((s.month_spent, s.week_spent, s.reserved), (i64::MAX, i64::MAX, 0));
        // Spent is pinned at the top: a budgeted request is refused, never admitted by a wrap.
        assert!(l.reserve("w", &b, 1, now).is_err());
        // A negative figure is never taken as a credit.
        l.settle("w", &b, None, -5, now);
        assert_eq!(l.standing("w", now).month_spent, i64::MAX);
    }

    #[test]
    fn holds_count_against_the_budget_until_settled() {
        let l = Ledger::default();
        let b = budget(1_000, None);
        let now = at("2026-11-24T10:00:00Z");
        assert!(l.reserve("w", &b, 600, now).is_ok());
        let refused = l.reserve("w", &b, 500, now).unwrap_err();
        assert_eq!((refused.spent, refused.reserved, refused.wanted), (0, 600, 500));
        // The real cost was lower: the rest becomes available again.
        l.settle("w", &b, Some(600), 250, now);
        assert!(l.reserve("w", &b, 700, now).is_ok());
        assert!(l.reserve("w", &b, 51, now).is_err());
        l.settle("w", &b, Some(700), 0, now);
        assert_eq!(l.standing("w", now), Standing { month_spent: 250, week_spent: 250, reserved: 0, in_flight: 0 });
    }

    #[test]
    fn a_new_month_starts_from_zero_and_weeks_alert_once() {
        let l = Ledger::default();
        let b = budget(1_000, Some(300));
        let now = at("2026-11-24T10:00:00Z");
        l.seed("w", 900, 200, now);
        assert!(l.reserve("w", &b, 200, now).is_err());
        let crossing = l.settle("w", &b, None, 150, now).expect("200 -> 350 crosses 300");
        assert_eq!(crossing.week_start, at("2026-11-23T00:00:00Z"));
        assert_eq!(l.settle("w", &b, None, 10, now), None, "already over: no second crossing");
        let next = at("2026-12-01T00:00:01Z");
        assert!(l.reserve("w", &b, 1_000, next).is_ok());
        assert_eq!(l.standing("w", next).month_spent, 0);
    }
}
