//! A workspace's budget: a monthly ceiling on spend, a weekly alert threshold, and the output
//! tokens a request without `max_tokens` is assumed to produce when its worst-case cost is
//! reserved. Money is integer micro-dollars.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::types::double_option;

/// Output tokens reserved for a request that sets no `max_tokens`.
pub const DEFAULT_RESERVE_OUTPUT_TOKENS: u32 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Budget {
    /// None: no ceiling (spend is still tracked and reported).
    pub monthly_micros: Option<i64>,
    pub weekly_alert_micros: Option<i64>,
    pub reserve_output_tokens: u32,
}

impl Default for Budget {
    fn default() -> Self {
        Budget { monthly_micros: None, weekly_alert_micros: None, reserve_output_tokens: DEFAULT_RESERVE_OUTPUT_TOKENS }
    }
}

/// A ceiling of $10M a month is far beyond any real budget and keeps sums far from overflow.
const MAX_MICROS: i64 = 10_000_000 * 1_000_000;

impl Budget {
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [("monthlyBudget", self.monthly_micros), ("weeklyAlertThreshold", self.weekly_alert_micros)] {
            if let Some(v) = v {
                if !(0..=MAX_MICROS).contains(&v) {
                    return Err(format!("{name} must be between 0 and 10000000 USD"));
                }
            }
        }
        if !(1..=1_000_000).contains(&self.reserve_output_tokens) {
            return Err("reserveOutputTokens must be between 1 and 1000000".into());
        }
        Ok(())
    }
}

/// Absent fields leave a setting as it is; `null` removes a ceiling or threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BudgetPatch {
    #[serde(default, with = "double_option", skip_serializing_if = "Option::is_none")]
    pub monthly_micros: Option<Option<i64>>,
    #[serde(default, with = "double_option", skip_serializing_if = "Option::is_none")]
    pub weekly_alert_micros: Option<Option<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserve_output_tokens: Option<u32>,
}

impl BudgetPatch {
    pub fn apply(&self, base: &Budget) -> Budget {
        let mut out = *base;
        if let Some(v) = self.monthly_micros {
            out.monthly_micros = v;
        }
        if let Some(v) = self.weekly_alert_micros {
            out.weekly_alert_micros = v;
        }
        if let Some(v) = self.reserve_output_tokens {
            out.reserve_output_tokens = v;
        }
        out
    }
}

/// The start (UTC midnight) of the calendar month holding `t`.
pub fn month_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let d = NaiveDate::from_ymd_opt(t.year(), t.month(), 1).unwrap_or_default();
    Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// The start of the next calendar month after `t`'s.
pub fn next_month_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let (y, m) = if t.month() == 12 { (t.year() + 1, 1) } else { (t.year(), t.month() + 1) };
    let d = NaiveDate::from_ymd_opt(y, m, 1).unwrap_or_default();
    Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// The start (Monday, UTC midnight) of the ISO week holding `t`.
pub fn week_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let day = t.date_naive() - Duration::days(i64::from(t.weekday().num_days_from_monday()));
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn periods_are_utc_calendar_months_and_iso_weeks() {
        assert_eq!(month_start(at("2026-11-24T23:10:00Z")), at("2026-11-01T00:00:00Z"));
        assert_eq!(next_month_start(at("2026-12-31T23:59:59Z")), at("2027-01-01T00:00:00Z"));
        // 2026-11-24 is a Tuesday.
        assert_eq!(week_start(at("2026-11-24T08:00:00Z")), at("2026-11-23T00:00:00Z"));
        assert_eq!(week_start(at("2026-11-23T00:00:00Z")), at("2026-11-23T00:00:00Z"));
    }

    #[test]
    fn patch_sets_clears_and_validates() {
        let b = Budget::default();
        let p: BudgetPatch = serde_json::from_str(r#"{"monthlyMicros": 5000000, "weeklyAlertMicros": 100}"#).unwrap();
        let b = p.apply(&b);
        assert_eq!((b.monthly_micros, b.weekly_alert_micros), (Some(5_000_000), Some(100)));
        let clear: BudgetPatch = serde_json::from_str(r#"{"monthlyMicros": null}"#).unwrap();
        let b = clear.apply(&b);
        assert_eq!((b.monthly_micros, b.weekly_alert_micros), (None, Some(100)));
        assert!(Budget { monthly_micros: Some(-1), ..b }.validate().is_err());
        assert!(Budget { reserve_output_tokens: 0, ..b }.validate().is_err());
        assert!(serde_json::from_str::<BudgetPatch>(r#"{"monthly": 1}"#).is_err());
    }
}
