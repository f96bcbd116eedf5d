//! The trace routes: list and `recent` (filters, cursor paging), detail (the spec's trace shape),
//! `explain` (every candidate, its scores and why it was passed over), `economics` (the cost and
//! what the same usage would have cost on the other candidates), `analytics` (time buckets by
//! provider, model or intent), replay (dry-run re-derivation then/now, or a live re-send that
//! records a linked trace) and compare (two traces field by field).

use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use layerr_projections::traces::{bucketize, Filter, TraceSummary, TraceView};

use super::auth::{key_scope, read_scope, resolve_workspace};
use super::envelope::{envelope, next_page, page, usd, Page, RequestId};
use super::error::{unavailable, ApiError};
use super::extract::{parse_time, ApiJsonOrDefault, ApiPath, ApiQuery};
use super::AppState;
use crate::gateway::replay::{differences, rederive, route_refs, Derived};
use crate::gateway::{self, ChatCtx, ChatOptions, Reply};
use crate::llm::Usage;
use crate::state::Principal;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/traces", get(list))
        .route("/api/traces/recent", get(recent))
        .route("/api/traces/analytics", get(analytics))
        .route("/api/traces/{id}", get(detail))
        .route("/api/traces/{id}/explain", get(explain))
        .route("/api/traces/{id}/economics", get(economics))
        .route("/api/traces/{id}/replay", post(replay))
        .route("/api/traces/{id}/compare/{id2}", get(compare))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListQuery {
    workspace: Option<String>,
    /// RFC 3339 bounds: `from` inclusive, `to` exclusive.
    from: Option<String>,
    to: Option<String>,
    /// `recent` only: how far back, e.g. `15m`, `2h`, `7d` (default 1h).
    window: Option<String>,
    provider: Option<String>,
    model: Option<String>,
    intent: Option<String>,
    strategy: Option<String>,
    status: Option<String>,
    /// USD.
    min_cost: Option<f64>,
    max_cost: Option<f64>,
    /// Milliseconds.
    min_latency: Option<i64>,
    max_latency: Option<i64>,
    replay_of: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
    /// Analytics only.
    interval: Option<String>,
    group_by: Option<String>,
}

/// `15m`, `2h`, `7d`, `30s` in milliseconds.
fn parse_span(field: &str, s: &str) -> Result<i64, ApiError> {
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
fn filter_for(p: &Principal, q: &ListQuery) -> Result<Filter, ApiError> {
    let workspace = read_scope(p, q.workspace.as_deref())?;
    if let Some(s) = &q.status {
        if !matches!(s.as_str(), "running" | "completed" | "failed") {
            return Err(ApiError::field("status", "status must be one of running, completed, failed"));
        }
    }
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
        status: q.status.clone(),
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

fn summary_json(t: &TraceSummary) -> Value {
    json!({
        "traceId": t.trace_id,
        "workspaceId": t.workspace,
        "createdAt": DateTime::<Utc>::from_timestamp_millis(t.started_at_ms),
        "status": t.status,
        "intent": t.intent,
        "strategy": t.strategy,
        "provider": t.provider,
        "model": t.model,
        "latencyMs": t.latency_ms,
        "costUsd": usd(t.cost_micros),
        "tokensIn": t.tokens_in,
        "tokensOut": t.tokens_out,
        "attempts": t.attempts,
        "fallback": t.fallback,
        "errorCode": t.error_code,
        "replayOf": t.replay_of,
    })
}

fn limit_of(q: &ListQuery, default: usize, max: usize) -> Result<usize, ApiError> {
    let limit = q.limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::field("limit", format!("limit must be between 1 and {max}")));
    }
    Ok(limit)
}

fn reject(field: &str, present: bool, route: &str) -> Result<(), ApiError> {
    if present {
        return Err(ApiError::field(field, format!("{field} is not a parameter of {route}")));
    }
    Ok(())
}

async fn list(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    reject("window", q.window.is_some(), "/api/traces (use from and to)")?;
    reject("interval", q.interval.is_some(), "/api/traces")?;
    reject("groupBy", q.group_by.is_some(), "/api/traces")?;
    let filter = filter_for(&p, &q)?;
    let limit = limit_of(&q, 50, 500)?;
    let before = match &q.cursor {
        Some(c) => {
            Some(c.parse::<i64>().map_err(|_| ApiError::field("cursor", "cursor is not one this API returned"))?)
        }
        None => None,
    };
    let mut rows = app.store.db.list_traces(&filter, before, limit as i64 + 1).await.map_err(unavailable)?;
    let next_cursor = next_page(&mut rows, limit, |r| r.position.to_string());
    let data: Vec<Value> = rows.iter().map(summary_json).collect();
    Ok(page(&rid, filter.workspace.as_deref(), Page { limit, next_cursor }, data))
}

async fn recent(
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
    let limit = limit_of(&q, 20, 100)?;
    let rows = app.store.db.list_traces(&filter, None, limit as i64).await.map_err(unavailable)?;
    let data: Vec<Value> = rows.iter().map(summary_json).collect();
    Ok(envelope(
        &rid,
        filter.workspace.as_deref(),
        json!({
            "from": DateTime::<Utc>::from_timestamp_millis(filter.from_ms.unwrap_or(0)),
            "traces": data,
        }),
    ))
}

/// The cap on traces one analytics answer reads.
const ANALYTICS_CAP: i64 = 200_000;

async fn analytics(
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
    let group_by = q.group_by.as_deref().unwrap_or("provider");
    let group_of: fn(&TraceSummary) -> String = match group_by {
        "provider" => |t| t.provider.clone().unwrap_or_else(|| "none".into()),
        "model" => |t| t.model.clone().unwrap_or_else(|| "none".into()),
        "intent" => |t| t.intent.clone(),
        "strategy" => |t| t.strategy.clone(),
        "none" => |_| "all".into(),
        _ => return Err(ApiError::field("groupBy", "groupBy must be one of provider, model, intent, strategy, none")),
    };
    let points = app.store.db.trace_points(&filter, ANALYTICS_CAP).await.map_err(unavailable)?;
    let truncated = points.len() as i64 >= ANALYTICS_CAP;
    let buckets = bucketize(&points, bucket_ms, group_of);
    let totals = bucketize(&points, i64::MAX / 4, group_of);
    let overall = bucketize(&points, i64::MAX / 4, |_| "all".into());
    let cell = |b: &layerr_projections::traces::Bucket, with_start: bool| {
        let mut v = json!({
            "group": b.group,
            "requests": b.requests,
            "errors": b.errors,
            "fallbacks": b.fallbacks,
            "errorRate": b.error_rate,
            "fallbackRate": b.fallback_rate,
            "latencyP50Ms": b.latency_p50_ms,
            "latencyP95Ms": b.latency_p95_ms,
            "latencyP99Ms": b.latency_p99_ms,
            "spendUsd": usd(b.spend_micros),
            "tokensIn": b.tokens_in,
            "tokensOut": b.tokens_out,
        });
        if with_start {
            v["start"] = json!(DateTime::<Utc>::from_timestamp_millis(b.start_ms));
        }
        v
    };
    Ok(envelope(
        &rid,
        filter.workspace.as_deref(),
        json!({
            "from": DateTime::<Utc>::from_timestamp_millis(from),
            "to": DateTime::<Utc>::from_timestamp_millis(to),
            "interval": interval,
            "groupBy": group_by,
            "truncated": truncated,
            "overall": overall.first().map(|b| cell(b, false)),
            "groups": totals.iter().map(|b| cell(b, false)).collect::<Vec<_>>(),
            "buckets": buckets.iter().map(|b| cell(b, true)).collect::<Vec<_>>(),
        }),
    ))
}

/// The trace, if the caller may see it (else 404, the same as a trace that does not exist).
async fn visible_trace(app: &AppState, p: &Principal, id: &str) -> Result<TraceView, ApiError> {
    let not_found = || ApiError::NotFound(format!("trace '{id}' does not exist"));
    if id.len() > 100 {
        return Err(not_found());
    }
    let view = app.store.db.trace(id).await.map_err(unavailable)?.ok_or_else(not_found)?;
    let ws = view.received.as_ref().map(|r| r.workspace.as_str());
    match key_scope(p) {
        Some(own) if ws != Some(own) => Err(not_found()),
        _ => Ok(view),
    }
}

fn workspace_of(v: &TraceView) -> Option<&str> {
    v.received.as_ref().map(|r| r.workspace.as_str())
}

/// Why the primary won, in a sentence.
fn rationale(v: &TraceView) -> String {
    let Some(d) = &v.decision else { return "No routing decision was recorded".into() };
    let Some((pp, pm)) = v.primary() else {
        return "No candidate could serve the request".into();
    };
    let scored: Vec<_> = d.candidates.iter().filter(|c| c.scores.is_some()).collect();
    let Some(s) = d.candidates.iter().find(|c| c.provider == pp && c.model == pm).and_then(|c| c.scores.as_ref())
    else {
        return "The requested model was routed as asked".into();
    };
    let w = &d.weights;
    let (dim, value) = [("quality", w.quality, s.quality), ("speed", w.speed, s.speed), ("cost", w.cost, s.cost)]
        .into_iter()
        .max_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal))
        .map(|(n, _, v)| (n, v))
        .unwrap_or(("quality", s.quality));
    let intent = v.received.as_ref().map_or("this", |r| r.intent.as_str());
    format!(
        "Top total score ({:.2}) of {} eligible candidate(s); {dim} score {value:.2} weighs most for {intent} workloads",
        s.total,
        scored.len()
    )
}

fn detail_json(v: &TraceView, replays: &[String]) -> Value {
    let r = v.received.as_ref();
    let d = v.decision.as_ref();
    let primary = v.primary();
    let scores = d.and_then(|d| {
        let (pp, pm) = primary?;
        d.candidates.iter().find(|c| c.provider == pp && c.model == pm).and_then(|c| c.scores.clone())
    });
    let fallback_chain: Vec<&str> =
        d.map(|d| d.chain.iter().skip(1).map(|(p, _)| p.as_str()).collect()).unwrap_or_default();
    let o = v.outcome.as_ref();
    let final_route = v.final_route();
    json!({
        "traceId": v.trace_id,
        "workspaceId": r.map(|r| &r.workspace),
        "status": v.status(),
        "createdAt": v.received_at,
        "finishedAt": o.map(|o| o.at),
        "requestId": v.request_id,
        "endpoint": r.map(|r| &r.endpoint),
        "requestedModel": r.map(|r| &r.requested_model),
        "stream": r.map(|r| r.stream),
        "replayOf": r.and_then(|r| r.replay_of.clone()),
        "replays": replays,
        "intent": {
            "classification": r.map(|r| &r.intent),
            "confidence": r.map(|r| r.intent_confidence),
        },
        "strategy": r.map(|r| &r.strategy),
        "routingDecision": {
            "primaryProvider": primary.map(|p| p.0),
            "primaryModel": primary.map(|p| p.1),
            "fallbackChain": fallback_chain,
            "chain": d.map(|d| route_refs(&d.chain)).unwrap_or_default(),
            "fallbackMode": r.map(|r| &r.fallback_mode),
            "scores": scores.as_ref().map(|s| json!({
                "quality": s.quality, "speed": s.speed, "cost": s.cost, "total": s.total,
            })),
            "weights": d.map(|d| &d.weights),
        },
        "execution": {
            "attempts": v.attempts.len(),
            "finalProvider": final_route.as_ref().map(|f| &f.0),
            "finalModel": final_route.as_ref().map(|f| &f.1),
            "latencyMs": o.map(|o| o.latency_ms),
            "tokensIn": v.tokens_in(),
            "tokensOut": v.tokens_out(),
            "costUsd": usd(v.cost_micros()),
            "costMicros": v.cost_micros(),
            "finishReason": o.and_then(|o| o.finish_reason.clone()),
            // Only when the workspace captures `full` content.
            "output": o.and_then(|o| o.output.clone()),
            "attemptLog": v.attempts.iter().map(|a| json!({
                "attempt": a.attempt.attempt, "provider": a.attempt.provider, "model": a.attempt.model,
                "succeeded": a.succeeded, "latencyMs": a.attempt.latency_ms, "ttftMs": a.attempt.ttft_ms,
                "errorKind": a.attempt.error_kind, "status": a.attempt.status, "message": a.attempt.message,
                "at": a.at,
            })).collect::<Vec<_>>(),
            "error": o.and_then(|o| o.error_code.as_ref().map(|c| json!({"code": c, "message": o.error_message}))),
        },
        "explanation": {
            "summary": d.map(|d| d.summary.clone()),
            "providerRationale": rationale(v),
        },
    })
}

async fn detail(
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
    Ok(envelope(&rid, workspace_of(&v), detail_json(&v, &replays)))
}

/// Why a candidate was not the one used.
fn passed_over(v: &TraceView, c: &layerr_domain::trace::Candidate, rank: Option<usize>) -> Option<String> {
    if let Some(why) = &c.excluded {
        return Some(format!("excluded: {why}"));
    }
    let d = v.decision.as_ref()?;
    let pos = d.chain.iter().position(|(p, m)| p == &c.provider && m == &c.model);
    let served = v.outcome.as_ref().and_then(|o| o.provider.clone().zip(o.model.clone()));
    let is_served = served.as_ref().is_some_and(|(p, m)| p == &c.provider && m == &c.model);
    match pos {
        Some(_) if is_served => None,
        Some(0) => Some("primary, but its attempts failed".into()),
        Some(i) => {
            let tried = v.attempts.iter().any(|a| a.attempt.provider == c.provider && a.attempt.model == c.model);
            Some(if tried {
                format!("fallback #{i}, its attempts failed")
            } else {
                format!("fallback #{i}, not needed")
            })
        }
        None => {
            let primary_total = d
                .candidates
                .iter()
                .find(|x| d.chain.first().is_some_and(|(p, m)| &x.provider == p && &x.model == m))
                .and_then(|x| x.scores.as_ref().map(|s| s.total));
            let total = c.scores.as_ref().map(|s| s.total);
            Some(match (total, primary_total, rank) {
                (Some(t), Some(pt), Some(r)) => format!(
                    "ranked #{r} (total {t:.4} vs the primary's {pt:.4}) and outside the {} fallback chain",
                    v.received.as_ref().map_or("", |r| r.fallback_mode.as_str())
                ),
                _ => "not scored".into(),
            })
        }
    }
}

async fn explain(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let v = visible_trace(&app, &p, &id).await?;
    let r = v.received.as_ref();
    let d = v.decision.as_ref();
    let mut ranked: Vec<&layerr_domain::trace::Candidate> =
        d.map(|d| d.candidates.iter().filter(|c| c.scores.is_some()).collect()).unwrap_or_default();
    ranked.sort_by(|a, b| {
        let t = |c: &layerr_domain::trace::Candidate| c.scores.as_ref().map_or(0.0, |s| s.total);
        t(b).partial_cmp(&t(a)).unwrap_or(std::cmp::Ordering::Equal)
    });
    let candidates: Vec<Value> = d
        .map(|d| {
            d.candidates
                .iter()
                .map(|c| {
                    let rank =
                        ranked.iter().position(|x| x.provider == c.provider && x.model == c.model).map(|i| i + 1);
                    let chain_pos = d.chain.iter().position(|(p, m)| p == &c.provider && m == &c.model);
                    json!({
                        "provider": c.provider,
                        "model": c.model,
                        "eligible": c.excluded.is_none(),
                        "rank": rank,
                        "chainPosition": chain_pos,
                        "selected": chain_pos == Some(0),
                        "scores": c.scores,
                        "inputs": {
                            "qualityPrior": c.quality_prior,
                            "expectedLatencyMs": c.expected_latency_ms,
                            "estimatedCostUsd": c.estimated_cost_micros.map(usd),
                            "estimatedCostMicros": c.estimated_cost_micros,
                        },
                        "excluded": c.excluded.as_ref().map(ToString::to_string),
                        "passedOver": passed_over(&v, c, rank),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(envelope(
        &rid,
        workspace_of(&v),
        json!({
            "traceId": v.trace_id,
            "intent": { "classification": r.map(|r| &r.intent), "confidence": r.map(|r| r.intent_confidence) },
            "strategy": r.map(|r| &r.strategy),
            "weights": d.map(|d| &d.weights),
            "fallbackMode": r.map(|r| &r.fallback_mode),
            "requestedModel": r.map(|r| &r.requested_model),
            "inputs": r.map(|r| json!({
                "estimatedPromptTokens": r.estimated_prompt_tokens,
                "maxTokens": r.max_tokens,
                "stream": r.stream,
                "needsTools": r.needs_tools,
                "needsVision": r.needs_vision,
                "needsJson": r.needs_json,
                "maxCostUsd": r.max_cost_micros.map(usd),
                "maxLatencyMs": r.max_latency_ms,
            })),
            "summary": d.map(|d| &d.summary),
            "rationale": rationale(&v),
            "chain": d.map(|d| route_refs(&d.chain)).unwrap_or_default(),
            "candidates": candidates,
            "attempts": v.attempts.iter().map(|a| json!({
                "attempt": a.attempt.attempt, "provider": a.attempt.provider, "model": a.attempt.model,
                "succeeded": a.succeeded, "errorKind": a.attempt.error_kind, "status": a.attempt.status,
                "latencyMs": a.attempt.latency_ms,
            })).collect::<Vec<_>>(),
        }),
    ))
}

fn usage_of(v: &TraceView) -> Usage {
    let mut u = Usage::default();
    for c in &v.charges {
        u.prompt_tokens = u.prompt_tokens.saturating_add(c.tokens_in);
        u.completion_tokens = u.completion_tokens.saturating_add(c.tokens_out);
        u.cached_tokens = u.cached_tokens.saturating_add(c.cached_tokens);
        u.cache_write_tokens = u.cache_write_tokens.saturating_add(c.cache_write_tokens);
        u.reasoning_tokens = u.reasoning_tokens.saturating_add(c.reasoning_tokens);
        u.estimated |= c.estimated;
    }
    u
}

async fn economics(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let v = visible_trace(&app, &p, &id).await?;
    let usage = usage_of(&v);
    let actual = v.cost_micros();
    let served = v.outcome.as_ref().and_then(|o| o.provider.clone().zip(o.model.clone()));
    let estimated = v.decision.as_ref().and_then(|d| {
        let (pp, pm) = v.primary()?;
        d.candidates.iter().find(|c| c.provider == pp && c.model == pm).and_then(|c| c.estimated_cost_micros)
    });
    // The same usage priced on every candidate the router considered, at today's prices.
    let mut alternatives: Vec<Value> = Vec::new();
    let mut cheapest: Option<(i64, String, String)> = None;
    for c in v.decision.as_ref().map(|d| d.candidates.as_slice()).unwrap_or(&[]) {
        let priced = app.hot.provider(&c.provider).map(|pv| gateway::facts::charge_micros(&pv, &c.model, &usage));
        let is_served = served.as_ref().is_some_and(|(p, m)| p == &c.provider && m == &c.model);
        if let Some((cost, _)) = &priced {
            if c.excluded.is_none() && cheapest.as_ref().is_none_or(|x| *cost < x.0) {
                cheapest = Some((*cost, c.provider.clone(), c.model.clone()));
            }
        }
        alternatives.push(json!({
            "provider": c.provider,
            "model": c.model,
            "served": is_served,
            "eligible": c.excluded.is_none(),
            "excluded": c.excluded.as_ref().map(ToString::to_string),
            "costUsd": priced.as_ref().map(|p| usd(p.0)),
            "costMicros": priced.as_ref().map(|p| p.0),
            "deltaUsd": priced.as_ref().map(|p| usd(p.0 - actual)),
            "priceVersion": priced.as_ref().map(|p| p.1.clone()),
            "note": if priced.is_none() { Some("provider no longer configured") } else { None },
        }));
    }
    let charges: Vec<Value> = v
        .charges
        .iter()
        .map(|c| {
            json!({
                "provider": c.provider, "model": c.model, "tokensIn": c.tokens_in, "tokensOut": c.tokens_out,
                "cachedTokens": c.cached_tokens, "cacheWriteTokens": c.cache_write_tokens,
                "reasoningTokens": c.reasoning_tokens, "costUsd": usd(c.cost_micros), "costMicros": c.cost_micros,
                "priceVersion": c.price_version, "usageEstimated": c.estimated,
            })
        })
        .collect();
    Ok(envelope(
        &rid,
        workspace_of(&v),
        json!({
            "traceId": v.trace_id,
            "costUsd": usd(actual),
            "costMicros": actual,
            "estimatedCostUsd": estimated.map(usd),
            "tokens": {
                "in": usage.prompt_tokens, "out": usage.completion_tokens, "cached": usage.cached_tokens,
                "cacheWrite": usage.cache_write_tokens, "reasoning": usage.reasoning_tokens,
                "estimated": usage.estimated,
            },
            "charges": charges,
            "alternatives": alternatives,
            "cheapestEligible": cheapest.as_ref().map(|(c, p, m)| json!({
                "provider": p, "model": m, "costUsd": usd(*c), "savingsUsd": usd(actual - c),
            })),
        }),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ReplayBody {
    mode: Option<String>,
    /// Dry-run: `then`, `now` or `both` (default).
    against: Option<String>,
    strategy: Option<String>,
    /// Live: send to this model instead of letting the router choose as recorded.
    model: Option<String>,
}

async fn replay(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath(id): ApiPath<String>,
    ApiJsonOrDefault(body): ApiJsonOrDefault<ReplayBody>,
) -> Result<Response, ApiError> {
    let v = visible_trace(&app, &p, &id).await?;
    if v.received.is_none() {
        return Err(ApiError::Conflict("the trace has no recorded request".into()));
    }
    let ws = workspace_of(&v).map(str::to_string);
    if let Some(s) = &body.strategy {
        if s.trim().is_empty() {
            return Err(ApiError::field("strategy", "strategy must not be empty"));
        }
    }
    match body.mode.as_deref().unwrap_or("dry-run") {
        "dry-run" => {
            if body.model.is_some() {
                return Err(ApiError::field("model", "model applies to live replays only"));
            }
            let data = dry_run(&app, &v, &body).await?;
            Ok(envelope(&rid, ws.as_deref(), data))
        }
        "live" => {
            if body.against.is_some() {
                return Err(ApiError::field("against", "against applies to dry-run replays only"));
            }
            let data = live(&app, &p, &rid, &v, &body).await?;
            Ok(envelope(&rid, ws.as_deref(), data))
        }
        _ => Err(ApiError::field("mode", "mode must be dry-run or live")),
    }
}

fn derived_json(d: &Derived) -> Value {
    serde_json::to_value(d).unwrap_or(Value::Null)
}

async fn dry_run(app: &AppState, v: &TraceView, body: &ReplayBody) -> Result<Value, ApiError> {
    let against = body.against.as_deref().unwrap_or("both");
    if !matches!(against, "then" | "now" | "both") {
        return Err(ApiError::field("against", "against must be then, now or both"));
    }
    let strategy = body.strategy.as_deref();
    let recorded = v.decision.as_ref().map(|d| {
        json!({
            "strategy": v.received.as_ref().map(|r| &r.strategy),
            "weights": d.weights,
            "primary": route_refs(&d.chain).first(),
            "chain": route_refs(&d.chain),
            "summary": d.summary,
        })
    });
    let recorded_chain = v.decision.as_ref().map(|d| route_refs(&d.chain)).unwrap_or_default();
    let mut then = None;
    let mut now = None;
    if against != "now" {
        let past = crate::state::HotState::as_of(&app.store.db, v.cursor).await.map_err(unavailable)?;
        then = Some(rederive(&past, &Default::default(), v, strategy, true)?);
    }
    if against != "then" {
        now = Some(rederive(&app.hot, &app.health, v, strategy, false)?);
    }
    let changes = match (&then, &now) {
        (Some(a), Some(b)) => differences(a, b),
        _ => Vec::new(),
    };
    let now_chain_differs = now.as_ref().is_some_and(|n| n.chain != recorded_chain);
    Ok(json!({
        "traceId": v.trace_id,
        "mode": "dry-run",
        "strategyOverride": strategy,
        "recorded": recorded,
        "then": then.as_ref().map(|t| {
            let mut j = derived_json(t);
            // With the recorded inputs and the configuration of the time, the router must land
            // where it did (unless a strategy override asks otherwise).
            j["reproducesRecorded"] = json!(t.chain == recorded_chain);
            j
        }),
        "now": now.as_ref().map(derived_json),
        "changes": changes,
        "wouldChange": now_chain_differs,
    }))
}

async fn live(
    app: &AppState,
    p: &Principal,
    rid: &RequestId,
    v: &TraceView,
    body: &ReplayBody,
) -> Result<Value, ApiError> {
    let r = v.received.as_ref().ok_or_else(|| ApiError::Conflict("the trace has no recorded request".into()))?;
    let Some(content) = &r.content else {
        return Err(ApiError::Conflict(format!(
            "trace '{}' was recorded without its content (workspace content capture was not 'full'): \
             only a dry-run replay is possible",
            v.trace_id
        )));
    };
    let wire: crate::api::openai::ChatCompletionRequest = serde_json::from_value(content.clone())
        .map_err(|e| ApiError::Conflict(format!("the recorded request cannot be re-sent: {e}")))?;
    let mut req = wire
        .to_canonical()
        .map_err(|(f, m)| ApiError::Conflict(format!("the recorded request cannot be re-sent: {f}: {m}")))?;
    req.stream = false;
    if let Some(m) = &body.model {
        if m.trim().is_empty() || m.len() > 200 {
            return Err(ApiError::field("model", "model must be a model id"));
        }
        req.model = m.clone();
    }
    let ws = resolve_workspace(app, p, Some(&r.workspace))?;
    let ctx = ChatCtx {
        key_id: p.key_id().to_string(),
        workspace: ws,
        request_id: rid.0.clone(),
        endpoint: "/api/traces/{id}/replay",
    };
    let opts = ChatOptions {
        strategy: body.strategy.clone().or_else(|| Some(r.strategy.clone())),
        max_cost_micros: r.max_cost_micros,
        max_latency_ms: r.max_latency_ms,
        replay_of: Some(v.trace_id.clone()),
        ..ChatOptions::default()
    };
    let (result, explain) = gateway::chat(app, ctx, req, &opts, Some(content.clone())).await;
    let base = json!({
        "mode": "live",
        "replayOf": v.trace_id,
        "traceId": explain.trace_id,
        "strategy": explain.strategy,
        "provider": explain.provider,
        "model": explain.model,
        "attempts": explain.attempts.iter().map(ToString::to_string).collect::<Vec<_>>(),
    });
    match result {
        Ok(Reply::Full(resp)) => {
            let mut out = base;
            out["status"] = json!("completed");
            out["output"] = json!(resp.choices.first().map(|c| c.message.content_text()));
            out["usage"] =
                json!(resp.usage.map(|u| json!({"tokensIn": u.prompt_tokens, "tokensOut": u.completion_tokens})));
            Ok(out)
        }
        Ok(Reply::Stream(_)) => Err(ApiError::internal("a live replay never streams")),
        Err(e @ (ApiError::InvalidStrategy(_) | ApiError::Validation { .. })) => Err(e),
        Err(e) => {
            let (_, code, _) = e.parts();
            let mut out = base;
            out["status"] = json!("failed");
            out["error"] = json!({"code": code, "message": e.to_string()});
            Ok(out)
        }
    }
}

fn compare_fields(a: &TraceView, b: &TraceView) -> Vec<Value> {
    let facts = |v: &TraceView| -> Vec<(&'static str, Value)> {
        let r = v.received.as_ref();
        let o = v.outcome.as_ref();
        let fin = v.final_route();
        vec![
            ("workspaceId", json!(r.map(|r| &r.workspace))),
            ("status", json!(v.status())),
            ("intent", json!(r.map(|r| &r.intent))),
            ("strategy", json!(r.map(|r| &r.strategy))),
            ("requestedModel", json!(r.map(|r| &r.requested_model))),
            ("primaryProvider", json!(v.primary().map(|p| p.0))),
            ("primaryModel", json!(v.primary().map(|p| p.1))),
            ("chain", json!(v.decision.as_ref().map(|d| route_refs(&d.chain)))),
            ("finalProvider", json!(fin.as_ref().map(|f| &f.0))),
            ("finalModel", json!(fin.as_ref().map(|f| &f.1))),
            ("attempts", json!(v.attempts.len())),
            (
                "attemptRoutes",
                json!(v
                    .attempts
                    .iter()
                    .map(|x| format!(
                        "{}/{}:{}",
                        x.attempt.provider,
                        x.attempt.model,
                        if x.succeeded { "ok" } else { x.attempt.error_kind.as_deref().unwrap_or("failed") }
                    ))
                    .collect::<Vec<_>>()),
            ),
            ("latencyMs", json!(o.map(|o| o.latency_ms))),
            ("tokensIn", json!(v.tokens_in())),
            ("tokensOut", json!(v.tokens_out())),
            ("costUsd", json!(usd(v.cost_micros()))),
            ("finishReason", json!(o.and_then(|o| o.finish_reason.clone()))),
            ("errorCode", json!(o.and_then(|o| o.error_code.clone()))),
            ("output", json!(o.and_then(|o| o.output.clone()))),
        ]
    };
    let (fa, fb) = (facts(a), facts(b));
    fa.into_iter()
        .zip(fb)
        .map(|((name, x), (_, y))| {
            let mut row = json!({ "field": name, "a": x, "b": y, "same": x == y });
            if let (Some(x), Some(y)) = (x.as_f64(), y.as_f64()) {
                if !matches!(name, "attempts") || x != y {
                    row["delta"] = json!(((y - x) * 1_000_000.0).round() / 1_000_000.0);
                }
            }
            row
        })
        .collect()
}

async fn compare(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath((id, id2)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let a = visible_trace(&app, &p, &id).await?;
    let b = visible_trace(&app, &p, &id2).await?;
    let fields = compare_fields(&a, &b);
    let differing: Vec<&str> =
        fields.iter().filter(|f| f["same"] == json!(false)).filter_map(|f| f["field"].as_str()).collect();
    let link =
        |x: &TraceView, y: &TraceView| x.received.as_ref().and_then(|r| r.replay_of.as_deref()) == Some(&y.trace_id);
    let relation = if link(&b, &a) {
        "b replays a"
    } else if link(&a, &b) {
        "a replays b"
    } else {
        "unrelated"
    };
    Ok(envelope(
        &rid,
        workspace_of(&a),
        json!({
            "a": a.trace_id,
            "b": b.trace_id,
            "relation": relation,
            "sameRoute": a.final_route() == b.final_route(),
            "differing": differing,
            "fields": fields,
        }),
    ))
}
