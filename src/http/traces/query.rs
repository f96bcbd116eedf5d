//! The query of the list, `recent` and analytics routes, and the one filter it becomes. Options
//! with a closed set of values are enums: an unknown value is refused by the extractor with a 400
//! `VALIDATION_ERROR` that names the field and the values it takes.

use serde::{Deserialize, Serialize};

use layerr_projections::traces::{Filter, TraceSummary};

use super::super::auth::read_scope;
use super::super::error::ApiError;
use super::super::extract::parse_time;
use crate::state::Principal;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct ListQuery {
    pub workspace: Option<String>,
    /// RFC 3339 bounds: `from` inclusive, `to` exclusive.
    pub from: Option<String>,
    pub to: Option<String>,
    /// `recent` and analytics: how far back, e.g. `15m`, `2h`, `7d`.
    pub window: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub intent: Option<String>,
    pub strategy: Option<String>,
    pub status: Option<TraceStatus>,
    /// USD.
    pub min_cost: Option<f64>,
    pub max_cost: Option<f64>,
    /// Milliseconds.
    pub min_latency: Option<i64>,
    pub max_latency: Option<i64>,
    pub replay_of: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
    /// Analytics only.
    pub interval: Option<String>,
    pub group_by: Option<GroupBy>,
}

/// Where a trace is: the `status` filter.
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(super) enum TraceStatus {
    Running,
    Completed,
    Failed,
}

impl TraceStatus {
    /// The read model's `status` column.
    fn as_str(self) -> &'static str {
        match self {
            TraceStatus::Running => "running",
            TraceStatus::Completed => "completed",
            TraceStatus::Failed => "failed",
        }
    }
}

/// What the analytics groups by (`groupBy`, default `provider`).
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub(super) enum GroupBy {
    #[default]
    Provider,
    Model,
    Intent,
    Strategy,
    /// One group, `all`.
    None,
}

impl GroupBy {
    /// The group a trace falls in.
    pub fn key(self) -> fn(&TraceSummary) -> String {
        match self {
            GroupBy::Provider => |t| t.provider.clone().unwrap_or_else(|| "none".into()),
            GroupBy::Model => |t| t.model.clone().unwrap_or_else(|| "none".into()),
            GroupBy::Intent => |t| t.intent.clone(),
            GroupBy::Strategy => |t| t.strategy.clone(),
            GroupBy::None => |_| "all".into(),
        }
    }
}

/// `15m`, `2h`, `7d`, `30s` in milliseconds.
pub(super) fn parse_span(field: &str, s: &str) -> Result<i64, ApiError> {
    let bad = || ApiError::field(field, format!("{field} must be a duration like 30s, 15m, 2h or 7d"));
    let Some(unit_at) = s.char_indices().last().map(|(i, _)| i) else { return Err(bad()) };
    let (n, unit) = s.split_at(unit_at);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    if n <= 0 || n > 3650 * 86_400 {
        return Err(bad());
    }
    Ok(n * ms)
}

fn micros(field: &str, v: Option<f64>) -> Result<Option<i64>, ApiError> {
    match v {
        Some(x) if !x.is_finite() || x < 0.0 => {
            Err(ApiError::field(field, format!("{field} must be a USD amount ≥ 0")))
        }
        Some(x) => Ok(Some((x * 1_000_000.0).round() as i64)),
        None => Ok(None),
    }
}

/// The filter a caller may run: a workspace key sees its own workspace only.
pub(super) fn filter_for(p: &Principal, q: &ListQuery) -> Result<Filter, ApiError> {
    let workspace = read_scope(p, q.workspace.as_deref())?;
    for (field, v) in [("minLatency", q.min_latency), ("maxLatency", q.max_latency)] {
        if v.is_some_and(|x| x < 0) {
            return Err(ApiError::field(field, format!("{field} must be milliseconds ≥ 0")));
        }
    }
    let f = Filter {
        workspace,
        from_ms: parse_time("from", q.from.as_deref())?,
        to_ms: parse_time("to", q.to.as_deref())?,
        provider: q.provider.clone(),
        model: q.model.clone(),
        intent: q.intent.clone(),
        strategy: q.strategy.clone(),
        status: q.status.map(|s| s.as_str().to_string()),
        min_cost_micros: micros("minCost", q.min_cost)?,
        max_cost_micros: micros("maxCost", q.max_cost)?,
        min_latency_ms: q.min_latency,
        max_latency_ms: q.max_latency,
        replay_of: q.replay_of.clone(),
    };
    if let (Some(a), Some(b)) = (f.min_cost_micros, f.max_cost_micros) {
        if a > b {
            return Err(ApiError::field("minCost", "minCost must not exceed maxCost"));
        }
    }
    if let (Some(a), Some(b)) = (f.min_latency_ms, f.max_latency_ms) {
        if a > b {
            return Err(ApiError::field("minLatency", "minLatency must not exceed maxLatency"));
        }
    }
    if let (Some(a), Some(b)) = (f.from_ms, f.to_ms) {
        if a >= b {
            return Err(ApiError::field("from", "from must be before to"));
        }
    }
    Ok(f)
}

impl ListQuery {
    pub fn limit(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        let limit = self.limit.unwrap_or(default);
        if !(1..=max).contains(&limit) {
            return Err(ApiError::field("limit", format!("limit must be between 1 and {max}")));
        }
        Ok(limit)
    }
}

/// Refuses a parameter the route does not take.
pub(super) fn reject(field: &str, present: bool, route: &str) -> Result<(), ApiError> {
    if present {
        return Err(ApiError::field(field, format!("{field} is not a parameter of {route}")));
    }
    Ok(())
}
