//! `GET /api/traces/{id}`: the spec's trace shape (intent, strategy, routing decision, execution,
//! explanation) plus what the read model adds (the attempt log, the replays of this trace).

use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use chrono::{DateTime, Utc};
use serde::Serialize;

use layerr_domain::trace::{RouteRef, Scores, Weights};
use layerr_domain::workspace::types::FallbackMode;
use layerr_projections::traces::{explain, AttemptView, Filter, TraceView};

use super::super::envelope::{envelope, usd, RequestId};
use super::super::error::{unavailable, ApiError};
use super::super::extract::ApiPath;
use super::{visible_trace, workspace_of, AttemptBody, IntentBody};
use crate::app::AppState;
use crate::state::Principal;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DetailBody<'a> {
    trace_id: &'a str,
    workspace_id: Option<&'a str>,
    status: &'a str,
    created_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    request_id: Option<&'a str>,
    endpoint: Option<&'a str>,
    requested_model: Option<&'a str>,
    stream: Option<bool>,
    replay_of: Option<&'a str>,
    replays: &'a [String],
    intent: IntentBody,
    strategy: Option<&'a str>,
    routing_decision: RoutingBody<'a>,
    execution: ExecutionBody<'a>,
    explanation: ExplanationBody<'a>,
    /// What the guardrails found and did (rule ids, kinds and offsets; never the text).
    guardrails: &'a [layerr_domain::guardrails::Decision],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RoutingBody<'a> {
    primary_provider: Option<&'a str>,
    primary_model: Option<&'a str>,
    /// The providers after the primary, in order.
    fallback_chain: Vec<&'a str>,
    chain: &'a [RouteRef],
    fallback_mode: Option<FallbackMode>,
    scores: Option<&'a Scores>,
    weights: Option<&'a Weights>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecutionBody<'a> {
    attempts: usize,
    final_provider: Option<String>,
    final_model: Option<String>,
    latency_ms: Option<u64>,
    tokens_in: u64,
    tokens_out: u64,
    cost_usd: f64,
    cost_micros: i64,
    finish_reason: Option<&'a str>,
    /// Only when the workspace captures `full` content.
    output: Option<&'a str>,
    attempt_log: Vec<AttemptLogBody<'a>>,
    error: Option<ErrorBody<'a>>,
}

/// One attempt, as the detail's attempt log shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AttemptLogBody<'a> {
    #[serde(flatten)]
    attempt: AttemptBody<'a>,
    ttft_ms: Option<u64>,
    message: Option<&'a str>,
    /// The request's parameters this attempt's upstream did not receive.
    dropped_params: &'a [String],
    at: DateTime<Utc>,
}

impl<'a> From<&'a AttemptView> for AttemptLogBody<'a> {
    fn from(a: &'a AttemptView) -> Self {
        AttemptLogBody {
            attempt: a.into(),
            ttft_ms: a.attempt.ttft_ms,
            message: a.attempt.message.as_deref(),
            dropped_params: &a.attempt.dropped_params,
            at: a.at,
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExplanationBody<'a> {
    summary: Option<&'a str>,
    provider_rationale: String,
}

fn body<'a>(v: &'a TraceView, replays: &'a [String]) -> DetailBody<'a> {
    let r = v.received.as_ref();
    let d = v.decision.as_ref();
    let o = v.outcome.as_ref();
    let primary = d.and_then(|d| d.chain.first());
    let (final_provider, final_model) = v.final_route().unzip();
    DetailBody {
        trace_id: &v.trace_id,
        workspace_id: workspace_of(v),
        status: v.status(),
        created_at: v.received_at,
        finished_at: o.map(|o| o.at),
        request_id: v.request_id.as_deref(),
        endpoint: r.map(|r| r.endpoint.as_str()),
        requested_model: r.map(|r| r.requested_model.as_str()),
        stream: r.map(|r| r.stream),
        replay_of: r.and_then(|r| r.replay_of.as_deref()),
        replays,
        intent: IntentBody::of(r),
        strategy: r.map(|r| r.strategy.as_str()),
        routing_decision: RoutingBody {
            primary_provider: primary.map(|p| p.provider.as_str()),
            primary_model: primary.map(|p| p.model.as_str()),
            fallback_chain: d
                .map(|d| d.chain.iter().skip(1).map(|r| r.provider.as_str()).collect())
                .unwrap_or_default(),
            chain: d.map(|d| d.chain.as_slice()).unwrap_or_default(),
            fallback_mode: r.map(|r| r.fallback_mode),
            scores: explain::primary_candidate(v).and_then(|c| c.scores.as_ref()),
            weights: d.map(|d| &d.weights),
        },
        execution: ExecutionBody {
            attempts: v.attempts.len(),
            final_provider,
            final_model,
            latency_ms: o.map(|o| o.latency_ms),
            tokens_in: v.tokens_in(),
            tokens_out: v.tokens_out(),
            cost_usd: usd(v.cost_micros()),
            cost_micros: v.cost_micros(),
            finish_reason: o.and_then(|o| o.finish_reason.as_deref()),
            output: o.and_then(|o| o.output.as_deref()),
            attempt_log: v.attempts.iter().map(AttemptLogBody::from).collect(),
            error: o.and_then(|o| {
                o.error_code.as_deref().map(|code| ErrorBody { code, message: o.error_message.as_deref() })
            }),
        },
        explanation: ExplanationBody {
            summary: d.map(|d| d.summary.as_str()),
            provider_rationale: explain::rationale(v),
        },
        guardrails: &v.guardrails,
    }
}

pub(super) async fn detail(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let v = visible_trace(&app, &p, &id).await?;
    let filter = Filter { replay_of: Some(id.clone()), ..Filter::default() };
    let replays: Vec<String> = app
        .store
        .db
        .list_traces(&filter, None, 100)
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(|t| t.trace_id)
        .collect();
    Ok(envelope(&rid, workspace_of(&v), body(&v, &replays)))
}
