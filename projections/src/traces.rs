//! Read model `traces`: one row per request, folded from the Trace aggregate's events. The row
//! keeps the columns the list and analytics filter on, and the whole folded view as JSON for the
//! detail, explain, economics, replay and compare routes. What a trace's explanation says (why the
//! primary won, why each other candidate was passed over) is worked out from the view in `explain`.

pub mod explain;

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use layerr_domain::trace::{Attempt, Charge, Decision, Received, TraceEvent};

use crate::db::{Db, DbError};
use crate::feed::{Cursor, Interest, StoredEvent};
use crate::runner::Projector;

pub const NAME: &str = "traces";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    #[serde(flatten)]
    pub attempt: Attempt,
    pub succeeded: bool,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// `completed` or `failed`.
    pub status: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub latency_ms: u64,
    pub finish_reason: Option<String>,
    pub output: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub at: DateTime<Utc>,
}

/// The request's budget reservation and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetHold {
    pub reserved_micros: i64,
    /// `reserved`, `settled` or `released`.
    pub state: String,
    pub actual_micros: Option<i64>,
}

/// Everything recorded about one request, in the order it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceView {
    pub trace_id: String,
    /// The feed position of the trace's first event (its place in history).
    pub cursor: Cursor,
    pub last_sequence: i64,
    pub request_id: Option<String>,
    pub received_at: Option<DateTime<Utc>>,
    pub received: Option<Received>,
    pub decision: Option<Decision>,
    pub attempts: Vec<AttemptView>,
    pub charges: Vec<Charge>,
    #[serde(default)]
    pub budget: Option<BudgetHold>,
    pub outcome: Option<Outcome>,
    /// What the guardrails found and did, input side first (rule ids and offsets only).
    #[serde(default)]
    pub guardrails: Vec<layerr_domain::guardrails::Decision>,
}

impl TraceView {
    pub fn new(trace_id: &str, first: &StoredEvent) -> TraceView {
        TraceView {
            trace_id: trace_id.to_string(),
            cursor: first.cursor,
            last_sequence: 0,
            request_id: first.meta(layerr_domain::meta::REQUEST_ID).map(str::to_string),
            received_at: None,
            received: None,
            decision: None,
            attempts: Vec::new(),
            charges: Vec::new(),
            budget: None,
            outcome: None,
            guardrails: Vec::new(),
        }
    }

    /// Folds one event in. An event at or below the last applied sequence is ignored, so applying
    /// a batch twice changes nothing.
    pub fn apply(&mut self, e: &StoredEvent) -> Result<(), DbError> {
        if e.sequence <= self.last_sequence {
            return Ok(());
        }
        self.last_sequence = e.sequence;
        match e.decode::<TraceEvent>()? {
            TraceEvent::RequestReceived { received, at } => {
                self.cursor = e.cursor;
                self.received = Some(received);
                self.received_at = Some(at);
            }
            TraceEvent::RouteDecided { decision, .. } => self.decision = Some(decision),
            TraceEvent::AttemptSucceeded { attempt, at } => {
                self.attempts.push(AttemptView { attempt, succeeded: true, at })
            }
            TraceEvent::AttemptFailed { attempt, at } => {
                self.attempts.push(AttemptView { attempt, succeeded: false, at })
            }
            TraceEvent::CostCharged { charge, .. } => self.charges.push(charge.bounded()),
            TraceEvent::BudgetReserved { micros, .. } => {
                self.budget =
                    Some(BudgetHold { reserved_micros: micros, state: "reserved".into(), actual_micros: None })
            }
            TraceEvent::BudgetSettled { reserved_micros, actual_micros, .. } => {
                self.budget =
                    Some(BudgetHold { reserved_micros, state: "settled".into(), actual_micros: Some(actual_micros) })
            }
            TraceEvent::BudgetReleased { reserved_micros, .. } => {
                self.budget = Some(BudgetHold { reserved_micros, state: "released".into(), actual_micros: Some(0) })
            }
            TraceEvent::RequestCompleted { provider, model, latency_ms, finish_reason, output, at } => {
                self.outcome = Some(Outcome {
                    status: "completed".into(),
                    provider: Some(provider),
                    model: Some(model),
                    latency_ms,
                    finish_reason,
                    output,
                    error_code: None,
                    error_message: None,
                    at,
                })
            }
            TraceEvent::RequestFailed { code, message, latency_ms, at } => {
                let last = self.attempts.last().map(|a| a.attempt.clone());
                self.outcome = Some(Outcome {
                    status: "failed".into(),
                    provider: last.as_ref().map(|a| a.provider.clone()),
                    model: last.as_ref().map(|a| a.model.clone()),
                    latency_ms,
                    finish_reason: None,
                    output: None,
                    error_code: Some(code),
                    error_message: Some(message),
                    at,
                })
            }
            TraceEvent::GuardrailsApplied { decisions, .. } => self.guardrails.extend(decisions),
        }
        Ok(())
    }

    pub fn status(&self) -> &str {
        self.outcome.as_ref().map_or("running", |o| o.status.as_str())
    }

    pub fn cost_micros(&self) -> i64 {
        layerr_domain::money::sum_micros(self.charges.iter().map(|c| c.cost_micros))
    }

    pub fn tokens_in(&self) -> u64 {
        layerr_domain::money::sum_tokens(self.charges.iter().map(|c| c.tokens_in))
    }

    pub fn tokens_out(&self) -> u64 {
        layerr_domain::money::sum_tokens(self.charges.iter().map(|c| c.tokens_out))
    }

    /// The chain's first entry: what the router chose.
    pub fn primary(&self) -> Option<(&str, &str)> {
        self.decision.as_ref().and_then(|d| d.chain.first()).map(|r| (r.provider.as_str(), r.model.as_str()))
    }

    /// The provider and model that answered (or, for a failure, the last one tried; else the
    /// primary).
    pub fn final_route(&self) -> Option<(String, String)> {
        if let Some(o) = &self.outcome {
            if let (Some(p), Some(m)) = (&o.provider, &o.model) {
                return Some((p.clone(), m.clone()));
            }
        }
        self.primary().map(|(p, m)| (p.to_string(), m.to_string()))
    }

    /// Served by something other than the first attempt, or needed more than one attempt.
    pub fn fell_back(&self) -> bool {
        self.attempts.len() > 1
    }
}

pub struct Traces;

/// The trace of `id` as the read model holds it.
pub async fn load(conn: &mut AnyConnection, id: &str) -> Result<Option<TraceView>, DbError> {
    let row = sqlx::query("SELECT view_json FROM traces WHERE trace_id = $1").bind(id).fetch_optional(conn).await?;
    match row {
        Some(r) => {
            let json: String = r.try_get("view_json")?;
            Ok(Some(serde_json::from_str(&json).map_err(|e| DbError::Data(format!("trace {id}: {e}")))?))
        }
        None => Ok(None),
    }
}

async fn store(conn: &mut AnyConnection, v: &TraceView) -> Result<(), DbError> {
    let Some(r) = &v.received else {
        // Events of a trace whose first event is missing cannot be placed: a store defect.
        return Err(DbError::Data(format!("trace {} has no RequestReceived", v.trace_id)));
    };
    let (provider, model) = v.final_route().map_or((None, None), |(p, m)| (Some(p), Some(m)));
    let view = serde_json::to_string(v).map_err(|e| DbError::Data(e.to_string()))?;
    sqlx::query(
        "INSERT INTO traces (trace_id, position, workspace, started_at_ms, status, intent, strategy, provider, model,
                             latency_ms, cost_micros, tokens_in, tokens_out, attempts, fallback, error_code,
                             replay_of, view_json)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
         ON CONFLICT (trace_id) DO UPDATE SET
             position = excluded.position, workspace = excluded.workspace,
             started_at_ms = excluded.started_at_ms, status = excluded.status, intent = excluded.intent,
             strategy = excluded.strategy, provider = excluded.provider, model = excluded.model,
             latency_ms = excluded.latency_ms, cost_micros = excluded.cost_micros,
             tokens_in = excluded.tokens_in, tokens_out = excluded.tokens_out, attempts = excluded.attempts,
             fallback = excluded.fallback, error_code = excluded.error_code, replay_of = excluded.replay_of,
             view_json = excluded.view_json",
    )
    .bind(&v.trace_id)
    .bind(v.cursor.position)
    .bind(&r.workspace)
    .bind(v.received_at.map_or(0, |t| t.timestamp_millis()))
    .bind(v.status())
    .bind(r.intent.as_str())
    .bind(&r.strategy)
    .bind(provider)
    .bind(model)
    .bind(v.outcome.as_ref().map(|o| o.latency_ms as i64))
    .bind(v.cost_micros())
    .bind(layerr_domain::money::tokens_i64(v.tokens_in()))
    .bind(layerr_domain::money::tokens_i64(v.tokens_out()))
    .bind(v.attempts.len() as i32)
    .bind(i32::from(v.fell_back()))
    .bind(v.outcome.as_ref().and_then(|o| o.error_code.clone()))
    .bind(r.replay_of.clone())
    .bind(view)
    .execute(conn)
    .await?;
    Ok(())
}

#[async_trait]
impl Projector for Traces {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn apply(&self, conn: &mut AnyConnection, events: &[StoredEvent]) -> Result<(), DbError> {
        // A request's events usually arrive together: fold each trace's events of the batch,
        // then write its row once.
        let mut views: BTreeMap<&str, TraceView> = BTreeMap::new();
        let mut order: Vec<&str> = Vec::new();
        for e in events {
            if let Some((workspace, at_ms)) = e.workspace_deleted() {
                for id in order.drain(..) {
                    if let Some(v) = views.remove(id) {
                        store(conn, &v).await?;
                    }
                }
                sqlx::query("DELETE FROM traces WHERE workspace = $1 AND started_at_ms <= $2")
                    .bind(workspace)
                    .bind(at_ms)
                    .execute(&mut *conn)
                    .await?;
                continue;
            }
            if e.aggregate_type != "Trace" {
                continue;
            }
            let id = e.aggregate_id.as_str();
            if !views.contains_key(id) {
                let existing = if e.sequence > 1 { load(conn, id).await? } else { None };
                views.insert(id, existing.unwrap_or_else(|| TraceView::new(id, e)));
                order.push(id);
            }
            if let Some(v) = views.get_mut(id) {
                v.apply(e)?;
            }
        }
        for id in order {
            if let Some(v) = views.get(id) {
                store(conn, v).await?;
            }
        }
        Ok(())
    }

    async fn truncate(&self, conn: &mut AnyConnection) -> Result<(), DbError> {
        sqlx::query("DELETE FROM traces").execute(conn).await?;
        Ok(())
    }

    fn interest(&self) -> Interest {
        Interest { column: "aggregate_type", values: &["Trace", "Workspace"] }
    }
}

/// What the list, `recent` and analytics routes filter on. Costs are micro-dollars.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub workspace: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub intent: Option<String>,
    pub strategy: Option<String>,
    pub status: Option<String>,
    pub min_cost_micros: Option<i64>,
    pub max_cost_micros: Option<i64>,
    pub min_latency_ms: Option<i64>,
    pub max_latency_ms: Option<i64>,
    pub replay_of: Option<String>,
}

enum Arg {
    I(i64),
    S(String),
}

impl Filter {
    fn clause(&self) -> (String, Vec<Arg>) {
        let mut sql = String::from(" WHERE 1 = 1");
        let mut args = Vec::new();
        let mut add = |col: &str, op: &str, arg: Arg| {
            args.push(arg);
            sql.push_str(&format!(" AND {col} {op} ${}", args.len()));
        };
        let strings = [
            ("workspace", &self.workspace),
            ("provider", &self.provider),
            ("model", &self.model),
            ("intent", &self.intent),
            ("strategy", &self.strategy),
            ("status", &self.status),
            ("replay_of", &self.replay_of),
        ];
        for (col, v) in strings {
            if let Some(v) = v {
                add(col, "=", Arg::S(v.clone()));
            }
        }
        let numbers = [
            ("started_at_ms", ">=", self.from_ms),
            ("started_at_ms", "<", self.to_ms),
            ("cost_micros", ">=", self.min_cost_micros),
            ("cost_micros", "<=", self.max_cost_micros),
            ("latency_ms", ">=", self.min_latency_ms),
            ("latency_ms", "<=", self.max_latency_ms),
        ];
        for (col, op, v) in numbers {
            if let Some(v) = v {
                add(col, op, Arg::I(v));
            }
        }
        (sql, args)
    }
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    args: Vec<Arg>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for a in args {
        q = match a {
            Arg::I(i) => q.bind(i),
            Arg::S(s) => q.bind(s),
        };
    }
    q
}

/// A list entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceSummary {
    pub trace_id: String,
    pub position: i64,
    pub workspace: String,
    pub started_at_ms: i64,
    pub status: String,
    pub intent: String,
    pub strategy: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub latency_ms: Option<i64>,
    pub cost_micros: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub attempts: i64,
    pub fallback: bool,
    pub error_code: Option<String>,
    pub replay_of: Option<String>,
}

fn summary(r: &sqlx::any::AnyRow) -> Result<TraceSummary, DbError> {
    Ok(TraceSummary {
        trace_id: r.try_get("trace_id")?,
        position: r.try_get("position")?,
        workspace: r.try_get("workspace")?,
        started_at_ms: r.try_get("started_at_ms")?,
        status: r.try_get("status")?,
        intent: r.try_get("intent")?,
        strategy: r.try_get("strategy")?,
        provider: r.try_get("provider")?,
        model: r.try_get("model")?,
        latency_ms: r.try_get("latency_ms")?,
        cost_micros: r.try_get("cost_micros")?,
        tokens_in: r.try_get("tokens_in")?,
        tokens_out: r.try_get("tokens_out")?,
        attempts: i64::from(r.try_get::<i32, _>("attempts")?),
        fallback: r.try_get::<i32, _>("fallback")? != 0,
        error_code: r.try_get("error_code")?,
        replay_of: r.try_get("replay_of")?,
    })
}

const SUMMARY_COLUMNS: &str = "trace_id, position, workspace, started_at_ms, status, intent, strategy, provider, model,
     latency_ms, cost_micros, tokens_in, tokens_out, attempts, fallback, error_code, replay_of";

impl Db {
    /// Newest first; `before` is the cursor (a position) of the previous page's last entry.
    pub async fn list_traces(
        &self,
        filter: &Filter,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<TraceSummary>, DbError> {
        let (mut clause, mut args) = filter.clause();
        if let Some(b) = before {
            args.push(Arg::I(b));
            clause.push_str(&format!(" AND position < ${}", args.len()));
        }
        args.push(Arg::I(limit));
        let sql = format!("SELECT {SUMMARY_COLUMNS} FROM traces{clause} ORDER BY position DESC LIMIT ${}", args.len());
        let rows = bind_all(sqlx::query(&sql), args).fetch_all(&self.any).await?;
        rows.iter().map(summary).collect()
    }

    pub async fn trace(&self, id: &str) -> Result<Option<TraceView>, DbError> {
        let mut conn = self.any.acquire().await?;
        load(&mut conn, id).await
    }

    /// Every trace's view in feed order (for comparing a rebuilt model with a live one).
    pub async fn all_trace_views(&self) -> Result<Vec<TraceView>, DbError> {
        let rows = sqlx::query("SELECT view_json FROM traces ORDER BY position").fetch_all(&self.any).await?;
        rows.iter()
            .map(|r| {
                let json: String = r.try_get("view_json")?;
                serde_json::from_str(&json).map_err(|e| DbError::Data(e.to_string()))
            })
            .collect()
    }

    /// Each workspace's spend (micro-dollars) over the traces received since `from_ms`.
    pub async fn spend_by_workspace(&self, from_ms: i64) -> Result<Vec<(String, i64)>, DbError> {
        let sql = format!(
            "SELECT workspace, {} AS spent FROM traces WHERE started_at_ms >= $1 GROUP BY workspace",
            crate::sql::sat_sum(self.backend(), "cost_micros")
        );
        let rows = sqlx::query(&sql).bind(from_ms).fetch_all(&self.any).await?;
        rows.iter().map(|r| Ok((r.try_get("workspace")?, r.try_get("spent")?))).collect()
    }

    /// The finished traces matching `filter`, oldest first, at most `cap` of them (analytics).
    pub async fn trace_points(&self, filter: &Filter, cap: i64) -> Result<Vec<TraceSummary>, DbError> {
        let (mut clause, mut args) = filter.clause();
        clause.push_str(" AND status <> 'running'");
        args.push(Arg::I(cap));
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM traces{clause} ORDER BY started_at_ms, position LIMIT ${}",
            args.len()
        );
        let rows = bind_all(sqlx::query(&sql), args).fetch_all(&self.any).await?;
        rows.iter().map(summary).collect()
    }
}

/// One analytics cell: a time bucket and a group (provider, model or intent).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bucket {
    pub start_ms: i64,
    pub group: String,
    pub requests: u64,
    pub errors: u64,
    pub fallbacks: u64,
    pub error_rate: f64,
    pub fallback_rate: f64,
    pub latency_p50_ms: Option<i64>,
    pub latency_p95_ms: Option<i64>,
    pub latency_p99_ms: Option<i64>,
    pub spend_micros: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
}

/// The nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Groups points into `bucket_ms`-wide buckets (aligned to the epoch) per `group_of`.
pub fn bucketize(points: &[TraceSummary], bucket_ms: i64, group_of: impl Fn(&TraceSummary) -> String) -> Vec<Bucket> {
    let mut cells: BTreeMap<(i64, String), Vec<&TraceSummary>> = BTreeMap::new();
    for p in points {
        let start = p.started_at_ms.div_euclid(bucket_ms) * bucket_ms;
        cells.entry((start, group_of(p))).or_default().push(p);
    }
    cells
        .into_iter()
        .map(|((start_ms, group), ps)| {
            let mut lat: Vec<i64> = ps.iter().filter_map(|p| p.latency_ms).collect();
            lat.sort_unstable();
            let n = ps.len() as u64;
            let errors = ps.iter().filter(|p| p.status == "failed").count() as u64;
            let fallbacks = ps.iter().filter(|p| p.fallback).count() as u64;
            let rate = |x: u64| ((x as f64 / n as f64) * 10_000.0).round() / 10_000.0;
            Bucket {
                start_ms,
                group,
                requests: n,
                errors,
                fallbacks,
                error_rate: rate(errors),
                fallback_rate: rate(fallbacks),
                latency_p50_ms: percentile(&lat, 50.0),
                latency_p95_ms: percentile(&lat, 95.0),
                latency_p99_ms: percentile(&lat, 99.0),
                spend_micros: layerr_domain::money::sum_micros(ps.iter().map(|p| p.cost_micros)),
                tokens_in: ps.iter().map(|p| p.tokens_in).fold(0, i64::saturating_add),
                tokens_out: ps.iter().map(|p| p.tokens_out).fold(0, i64::saturating_add),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
