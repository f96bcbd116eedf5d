//! `GET /api/traces` (newest first, cursor paging), `/api/traces/recent` (a window back from now)
//! and `/api/traces/analytics` (time buckets and totals per group).

use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use chrono::{DateTime, Utc};
use serde::Serialize;

use layerr_projections::traces::{bucketize, Bucket, TraceSummary};

use super::super::envelope::{envelope, next_page, page, usd, Page, RequestId};
use super::super::error::{unavailable, ApiError};
use super::super::extract::ApiQuery;
use super::query::{filter_for, parse_span, reject, GroupBy, ListQuery};
use crate::app::AppState;
use crate::state::Principal;

/// A list entry.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SummaryBody<'a> {
    trace_id: &'a str,
    workspace_id: &'a str,
    created_at: Option<DateTime<Utc>>,
    status: &'a str,
    intent: &'a str,
    strategy: &'a str,
    provider: Option<&'a str>,
    model: Option<&'a str>,
    latency_ms: Option<i64>,
    cost_usd: f64,
    tokens_in: i64,
    tokens_out: i64,
    attempts: i64,
    fallback: bool,
    error_code: Option<&'a str>,
    replay_of: Option<&'a str>,
}

impl<'a> From<&'a TraceSummary> for SummaryBody<'a> {
    fn from(t: &'a TraceSummary) -> Self {
        SummaryBody {
            trace_id: &t.trace_id,
            workspace_id: &t.workspace,
            created_at: DateTime::<Utc>::from_timestamp_millis(t.started_at_ms),
            status: &t.status,
            intent: &t.intent,
            strategy: &t.strategy,
            provider: t.provider.as_deref(),
            model: t.model.as_deref(),
            latency_ms: t.latency_ms,
            cost_usd: usd(t.cost_micros),
            tokens_in: t.tokens_in,
            tokens_out: t.tokens_out,
            attempts: t.attempts,
            fallback: t.fallback,
            error_code: t.error_code.as_deref(),
            replay_of: t.replay_of.as_deref(),
        }
    }
}

pub(super) async fn list(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    reject("window", q.window.is_some(), "/api/traces (use from and to)")?;
    reject("interval", q.interval.is_some(), "/api/traces")?;
    reject("groupBy", q.group_by.is_some(), "/api/traces")?;
    let filter = filter_for(&p, &q)?;
    let limit = q.limit(50, 500)?;
    let before = match &q.cursor {
        Some(c) => {
            Some(c.parse::<i64>().map_err(|_| ApiError::field("cursor", "cursor is not one this API returned"))?)
        }
        None => None,
    };
    let mut rows = app.store.db.list_traces(&filter, before, limit as i64 + 1).await.map_err(unavailable)?;
    let next_cursor = next_page(&mut rows, limit, |r| r.position.to_string());
    let data: Vec<SummaryBody> = rows.iter().map(SummaryBody::from).collect();
    Ok(page(&rid, filter.workspace.as_deref(), Page { limit, next_cursor }, data))
}

#[derive(Serialize)]
struct RecentBody<'a> {
    from: Option<DateTime<Utc>>,
    traces: Vec<SummaryBody<'a>>,
}

pub(super) async fn recent(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    reject("cursor", q.cursor.is_some(), "/api/traces/recent (use /api/traces to page)")?;
    reject("interval", q.interval.is_some(), "/api/traces/recent")?;
    reject("groupBy", q.group_by.is_some(), "/api/traces/recent")?;
    let mut filter = filter_for(&p, &q)?;
    let window = parse_span("window", q.window.as_deref().unwrap_or("1h"))?;
    if filter.from_ms.is_none() {
        filter.from_ms = Some(filter.to_ms.unwrap_or_else(|| Utc::now().timestamp_millis()) - window);
    }
    let limit = q.limit(20, 100)?;
    let rows = app.store.db.list_traces(&filter, None, limit as i64).await.map_err(unavailable)?;
    let body = RecentBody {
        from: DateTime::<Utc>::from_timestamp_millis(filter.from_ms.unwrap_or(0)),
        traces: rows.iter().map(SummaryBody::from).collect(),
    };
    Ok(envelope(&rid, filter.workspace.as_deref(), body))
}

/// The cap on traces one analytics answer reads.
const ANALYTICS_CAP: i64 = 200_000;

/// One group's figures, over a bucket or the whole range.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CellBody<'a> {
    group: &'a str,
    requests: u64,
    errors: u64,
    fallbacks: u64,
    error_rate: f64,
    fallback_rate: f64,
    latency_p50_ms: Option<i64>,
    latency_p95_ms: Option<i64>,
    latency_p99_ms: Option<i64>,
    spend_usd: f64,
    tokens_in: i64,
    tokens_out: i64,
}

impl<'a> From<&'a Bucket> for CellBody<'a> {
    fn from(b: &'a Bucket) -> Self {
        CellBody {
            group: &b.group,
            requests: b.requests,
            errors: b.errors,
            fallbacks: b.fallbacks,
            error_rate: b.error_rate,
            fallback_rate: b.fallback_rate,
            latency_p50_ms: b.latency_p50_ms,
            latency_p95_ms: b.latency_p95_ms,
            latency_p99_ms: b.latency_p99_ms,
            spend_usd: usd(b.spend_micros),
            tokens_in: b.tokens_in,
            tokens_out: b.tokens_out,
        }
    }
}

/// A time bucket of one group.
#[derive(Serialize)]
struct BucketBody<'a> {
    start: Option<DateTime<Utc>>,
    #[serde(flatten)]
    cell: CellBody<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AnalyticsBody<'a> {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    interval: &'a str,
    group_by: GroupBy,
    truncated: bool,
    overall: Option<CellBody<'a>>,
    groups: Vec<CellBody<'a>>,
    buckets: Vec<BucketBody<'a>>,
}

pub(super) async fn analytics(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    reject("cursor", q.cursor.is_some(), "/api/traces/analytics")?;
    reject("limit", q.limit.is_some(), "/api/traces/analytics")?;
    let mut filter = filter_for(&p, &q)?;
    let now = Utc::now().timestamp_millis();
    let to = filter.to_ms.unwrap_or(now);
    let from = filter.from_ms.unwrap_or(to - parse_span("window", q.window.as_deref().unwrap_or("24h"))?);
    if from >= to {
        return Err(ApiError::field("from", "from must be before to"));
    }
    filter.from_ms = Some(from);
    filter.to_ms = Some(to);
    let interval = q.interval.as_deref().unwrap_or(if to - from <= 6 * 3_600_000 { "5m" } else { "1h" });
    let bucket_ms = parse_span("interval", interval)?;
    if (to - from) / bucket_ms > 2_000 {
        return Err(ApiError::field("interval", "interval too small for the range (at most 2000 buckets)"));
    }
    let group_by = q.group_by.unwrap_or_default();
    let points = app.store.db.trace_points(&filter, ANALYTICS_CAP).await.map_err(unavailable)?;
    let buckets = bucketize(&points, bucket_ms, group_by.key());
    let totals = bucketize(&points, i64::MAX / 4, group_by.key());
    let overall = bucketize(&points, i64::MAX / 4, |_| "all".into());
    let body = AnalyticsBody {
        from: DateTime::<Utc>::from_timestamp_millis(from),
        to: DateTime::<Utc>::from_timestamp_millis(to),
        interval,
        group_by,
        truncated: points.len() as i64 >= ANALYTICS_CAP,
        overall: overall.first().map(CellBody::from),
        groups: totals.iter().map(CellBody::from).collect(),
        buckets: buckets
            .iter()
            .map(|b| BucketBody { start: DateTime::<Utc>::from_timestamp_millis(b.start_ms), cell: b.into() })
            .collect(),
    };
    Ok(envelope(&rid, filter.workspace.as_deref(), body))
}
