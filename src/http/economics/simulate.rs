//! Cost simulation: `POST /api/economics/simulate` validates, records `SimulationRequested` and
//! runs the job in the background; `GET /api/economics/simulate/{id}` reads the Simulation
//! aggregate (status, progress, result). The job re-runs the router over each finished trace of
//! the period (oldest first) without calling any provider: against the configuration as it is
//! now (providers, restrictions, strategies, catalog with overrides) with the latencies and
//! breaker states recorded at each request's time, under the chosen strategy and with the price
//! overrides in the router's cost estimates. It prices the recorded tokens on the route it picks
//! (overrides applied) and applies the monthly budget in time order; the Simulation aggregate's
//! `Tally` does the arithmetic.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use layerr_domain::simulation::{
    Breakdown, Figures, Outcome, PriceOverride, Request, Simulation, SimulationCommand, SimulationError,
    SimulationParams, SimulationResult, Tally, MAX_PERIOD_DAYS,
};
use layerr_projections::economics::Tokens;
use layerr_projections::traces::TraceView;

use super::super::auth::resolve_workspace;
use super::super::envelope::{envelope, RequestId};
use super::super::error::{command_failed, ApiError};
use super::super::extract::{ApiJson, ApiPath};
use super::super::AppState;
use super::{model_info, parse_time, price_on, usd};
use crate::catalog::Catalog;
use crate::gateway::facts;
use crate::gateway::replay::rederive_with;
use crate::gateway::strategy_in;
use crate::routing::health::HealthBook;
use crate::routing::ModelFacts;
use crate::state::{Principal, ProviderView};
use crate::store::CommandContext;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/api/economics/simulate", post(start)).route("/api/economics/simulate/{id}", get(show))
}

/// Traces read per page.
const PAGE: i64 = 500;
const MAX_PRICE_USD_PER_MTOK: f64 = (layerr_domain::money::MAX_PRICE_PER_MTOK / 1_000_000) as f64;
const MAX_BUDGET_USD: f64 = 1e9;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PriceBody {
    input_per_mtok: f64,
    output_per_mtok: f64,
    cached_input_per_mtok: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SimulateBody {
    from: Option<String>,
    to: Option<String>,
    strategy: Option<String>,
    /// USD per calendar month.
    monthly_budget: Option<f64>,
    /// USD per million tokens, by model id.
    prices: Option<BTreeMap<String, PriceBody>>,
    workspace: Option<String>,
}

/// The catalog's id for a model name (an alias maps to its model).
fn canonical(model: &str) -> String {
    Catalog::builtin().get(model).map_or_else(|| model.to_string(), |m| m.id.clone())
}

fn per_mtok(field: &str, usd: f64) -> Result<u64, ApiError> {
    if !usd.is_finite() || !(0.0..=MAX_PRICE_USD_PER_MTOK).contains(&usd) {
        return Err(ApiError::field(field, format!("{field} must be a USD price per million tokens, 0 to 10000")));
    }
    Ok((usd * 1_000_000.0).round() as u64)
}

fn params_of(app: &AppState, ws: &crate::state::WorkspaceView, b: &SimulateBody) -> Result<SimulationParams, ApiError> {
    let time = |field: &str, v: &Option<String>| -> Result<DateTime<Utc>, ApiError> {
        let ms =
            parse_time(field, v.as_deref())?.ok_or_else(|| ApiError::field(field, format!("{field} is required")))?;
        DateTime::<Utc>::from_timestamp_millis(ms)
            .ok_or_else(|| ApiError::field(field, format!("{field} is out of range")))
    };
    let (from, to) = (time("from", &b.from)?, time("to", &b.to)?);
    if from >= to {
        return Err(ApiError::field("from", "from must be before to"));
    }
    if to - from > chrono::Duration::days(MAX_PERIOD_DAYS) {
        return Err(ApiError::field("to", format!("the period must be at most {MAX_PERIOD_DAYS} days")));
    }
    if let Some(s) = &b.strategy {
        if s.trim().is_empty() {
            return Err(ApiError::field("strategy", "strategy must not be empty"));
        }
        strategy_in(&app.hot, ws, Some(s))?;
    }
    let budget = match b.monthly_budget {
        Some(v) if !v.is_finite() || v <= 0.0 || v > MAX_BUDGET_USD => {
            return Err(ApiError::field("monthlyBudget", "monthlyBudget must be a USD amount greater than 0"));
        }
        Some(v) => Some((v * 1_000_000.0).round() as i64),
        None => None,
    };
    let mut prices = BTreeMap::new();
    let served: Vec<String> =
        app.hot.providers(Some(&ws.slug)).iter().flat_map(|p| p.settings.models.clone()).collect();
    for (model, p) in b.prices.iter().flatten() {
        let field = format!("prices.{model}");
        if Catalog::builtin().get(model).is_none() && !served.contains(model) {
            return Err(ApiError::field(
                field,
                format!("'{model}' is neither in the price table nor served by a provider of this workspace"),
            ));
        }
        let o = PriceOverride {
            input_per_mtok: per_mtok(&format!("{field}.inputPerMtok"), p.input_per_mtok)?,
            output_per_mtok: per_mtok(&format!("{field}.outputPerMtok"), p.output_per_mtok)?,
            cached_input_per_mtok: p
                .cached_input_per_mtok
                .map(|c| per_mtok(&format!("{field}.cachedInputPerMtok"), c))
                .transpose()?,
        };
        prices.insert(canonical(model), o);
    }
    Ok(SimulationParams { from, to, strategy: b.strategy.clone(), monthly_budget_micros: budget, prices })
}

const MAX_RUNNING: usize = 2;
static RUNNING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_RUNNING);

async fn start(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiJson(body): ApiJson<SimulateBody>,
) -> Result<Response, ApiError> {
    let ws = resolve_workspace(&app, &p, body.workspace.as_deref())?;
    let params = params_of(&app, &ws, &body)?;
    // Simulations are CPU-bound: a node runs a few at a time, so they cannot starve the gateway.
    let permit = RUNNING.try_acquire().map_err(|_| {
        ApiError::Conflict(format!(
            "{MAX_RUNNING} simulations are already running on this node; try again when one has finished"
        ))
    })?;
    let id = uuid::Uuid::now_v7().to_string();
    let ctx = CommandContext {
        actor: p.key_id().to_string(),
        request_id: Some(rid.0.clone()),
        workspace: Some(ws.slug.clone()),
    };
    let cmd =
        SimulationCommand::RequestSimulation { workspace: ws.slug.clone(), params: params.clone(), at: Utc::now() };
    app.store.execute(&app.store.simulations, &id, cmd, &ctx).await.map_err(|e| {
        command_failed(e, "simulation", |e| match e {
            SimulationError::Invalid(m) => ApiError::validation(m),
            other => ApiError::internal(other),
        })
    })?;
    let job = app.clone();
    let work = run(job, id.clone(), ws.slug.clone(), params, ctx);
    app.tracker.spawn(async move {
        work.await;
        drop(permit);
    });
    let mut resp = envelope(
        &rid,
        Some(&ws.slug),
        json!({"id": id, "status": "running", "workspaceId": ws.slug, "location": format!("/api/economics/simulate/{id}")}),
    );
    *resp.status_mut() = StatusCode::ACCEPTED;
    Ok(resp)
}

/// Runs a simulation to its end and records how it ended.
async fn run(app: AppState, id: String, workspace: String, params: SimulationParams, ctx: CommandContext) {
    let cmd = match simulate(&app, &id, &workspace, &params, &ctx).await {
        Ok(result) => SimulationCommand::CompleteSimulation { result, at: Utc::now() },
        Err(reason) => SimulationCommand::FailSimulation { reason, at: Utc::now() },
    };
    if let Err(e) = app.store.execute(&app.store.simulations, &id, cmd, &ctx).await {
        tracing::error!(simulation = %id, error = %e, "simulation outcome not recorded");
    }
}

async fn progress(app: &AppState, id: &str, ctx: &CommandContext, done: u64, total: u64) -> Result<(), String> {
    let cmd = SimulationCommand::RecordProgress { done, total, at: Utc::now() };
    app.store.execute(&app.store.simulations, id, cmd, ctx).await.map_err(|e| format!("progress not recorded: {e}"))
}

async fn simulate(
    app: &AppState,
    id: &str,
    workspace: &str,
    params: &SimulationParams,
    ctx: &CommandContext,
) -> Result<SimulationResult, String> {
    let db = &app.store.db;
    let (from, to) = (params.from.timestamp_millis(), params.to.timestamp_millis());
    let unavailable = |e: layerr_projections::DbError| format!("the trace read model is unavailable: {e}");
    let mut total = db.count_finished_traces(workspace, from, to).await.map_err(unavailable)?.max(0) as u64;
    progress(app, id, ctx, 0, total).await?;
    let health = HealthBook::default();
    let mut tally = Tally::new(params.monthly_budget_micros);
    let (mut done, mut reported_tenth, mut after) = (0u64, 0u64, None);
    loop {
        if app.tracker.is_closed() {
            return Err("interrupted: the gateway shut down".into());
        }
        let page = db.finished_traces_page(workspace, from, to, after, PAGE).await.map_err(unavailable)?;
        let Some(last) = page.last() else { break };
        after = Some((last.0, last.1));
        for (_, _, view) in &page {
            if let Some(r) = request_of(app, &health, view, params) {
                tally.add(&r);
            }
            done += 1;
        }
        // Traces that finished after the count was taken may still fall in the period.
        total = total.max(done);
        let tenth = done * 10 / total.max(1);
        if tenth > reported_tenth && done < total {
            reported_tenth = tenth;
            progress(app, id, ctx, done, total).await?;
        }
        tokio::task::yield_now().await;
    }
    Ok(tally.result())
}

fn tokens_of(v: &TraceView) -> Tokens {
    let mut t = Tokens::default();
    for c in &v.charges {
        t.tokens_in = t.tokens_in.saturating_add(layerr_domain::money::tokens_i64(c.tokens_in));
        t.tokens_out = t.tokens_out.saturating_add(layerr_domain::money::tokens_i64(c.tokens_out));
        t.cached = t.cached.saturating_add(layerr_domain::money::tokens_i64(c.cached_tokens));
        t.cache_write = t.cache_write.saturating_add(layerr_domain::money::tokens_i64(c.cache_write_tokens));
        t.reasoning = t.reasoning.saturating_add(layerr_domain::money::tokens_i64(c.reasoning_tokens));
    }
    t
}

/// The recorded tokens on `provider`/`model` at the simulation's prices (an override, else the
/// catalog as the provider serves it now; a model neither knows costs 0, as at charge time).
fn price(app: &AppState, provider: &str, model: &str, t: &Tokens, prices: &BTreeMap<String, PriceOverride>) -> i64 {
    if let Some(o) = prices.get(&canonical(model)) {
        let n = |x: i64| x.max(0) as u128;
        let cached = o.cached_input_per_mtok.unwrap_or(o.input_per_mtok);
        let sum = n(t.uncached_in()) * u128::from(o.input_per_mtok)
            + n(t.tokens_out) * u128::from(o.output_per_mtok)
            + n(t.cached) * u128::from(cached)
            + n(t.cache_write) * u128::from(o.input_per_mtok);
        return i64::try_from((sum + 500_000) / 1_000_000).unwrap_or(i64::MAX);
    }
    model_info(app, provider, model).map_or(0, |m| price_on(&m, t))
}

/// The catalog prior of a model for an intent, as the provider serves it now; else the prior
/// recorded in the decision.
fn quality(app: &AppState, provider: &str, model: &str, intent: &str, recorded: Option<f64>) -> Option<f64> {
    model_info(app, provider, model)
        .filter(|m| m.quality.is_some())
        .map(|m| (f64::from(m.quality_for(intent)) * 10_000.0).round() / 10_000.0)
        .or(recorded)
}

fn request_of(app: &AppState, health: &HealthBook, v: &TraceView, params: &SimulationParams) -> Option<Request> {
    let r = v.received.as_ref()?;
    let at = v.received_at?;
    let tokens = tokens_of(v);
    let completed = v.status() == "completed";
    let error = v.outcome.as_ref().and_then(|o| o.error_code.as_deref());
    // The route that was charged (or that answered).
    let route = v.charges.last().map(|c| (c.provider.clone(), c.model.clone())).or_else(|| {
        if completed {
            v.final_route()
        } else {
            None
        }
    });
    let recorded = |p: &str, m: &str| {
        v.decision.as_ref().and_then(|d| d.candidates.iter().find(|c| c.provider == p && c.model == m))
    };
    let actual = match &route {
        Some((p, m)) => Outcome {
            route: route.clone(),
            cost_micros: v.cost_micros(),
            quality: quality(app, p, m, r.intent.as_str(), recorded(p, m).and_then(|c| c.quality_prior)),
            latency_ms: recorded(p, m).and_then(|c| c.expected_latency_ms),
        },
        None => Outcome { cost_micros: v.cost_micros(), ..Outcome::default() },
    };
    let actual_repriced = route.as_ref().map_or(0, |(p, m)| price(app, p, m, &tokens, &params.prices));
    // The router sees the simulation's prices too, so a price change can change the route.
    let with_prices = |p: &ProviderView, model: &str, intent: &str| -> ModelFacts {
        let mut f = facts::facts(p, model, intent);
        if let Some(o) = params.prices.get(&canonical(model)) {
            f.input_per_mtok = o.input_per_mtok as i64;
            f.output_per_mtok = o.output_per_mtok as i64;
        }
        f
    };
    let simulated = match rederive_with(&app.hot, health, v, params.strategy.as_deref(), true, &with_prices) {
        Ok(d) => match &d.primary {
            Some(pr) => {
                let cand = d.candidates.iter().find(|c| c.provider == pr.provider && c.model == pr.model);
                Outcome {
                    route: Some((pr.provider.clone(), pr.model.clone())),
                    cost_micros: price(app, &pr.provider, &pr.model, &tokens, &params.prices),
                    quality: quality(
                        app,
                        &pr.provider,
                        &pr.model,
                        r.intent.as_str(),
                        cand.and_then(|c| c.quality_prior),
                    ),
                    latency_ms: cand.and_then(|c| c.expected_latency_ms),
                }
            }
            None => Outcome::default(),
        },
        // The workspace or the recorded strategy is gone: no route under today's configuration.
        Err(_) => Outcome::default(),
    };
    Some(Request {
        at,
        intent: r.intent.to_string(),
        completed,
        budget_rejected: error == Some("BUDGET_EXCEEDED"),
        actual,
        actual_repriced_micros: actual_repriced,
        measured_latency_ms: if completed { v.outcome.as_ref().map(|o| o.latency_ms) } else { None },
        simulated,
    })
}

fn figures_json(f: &Figures) -> Value {
    json!({
        "requests": f.requests,
        "served": f.served,
        "rejected": f.rejected,
        "failed": f.failed,
        "costUsd": usd(f.cost_micros),
        "costMicros": f.cost_micros,
        "avgQuality": f.avg_quality,
        "avgLatencyMs": f.avg_latency_ms,
    })
}

fn breakdown_json(key: &str, b: &Breakdown) -> Value {
    json!({ key: b.key, "actual": figures_json(&b.actual), "simulated": figures_json(&b.simulated) })
}

fn result_json(r: &SimulationResult) -> Value {
    let (a, s) = (&r.actual, &r.simulated);
    let diff = |x: Option<f64>, y: Option<f64>, scale: f64| x.zip(y).map(|(x, y)| ((y - x) * scale).round() / scale);
    json!({
        "actual": figures_json(a),
        "simulated": figures_json(s),
        "difference": {
            "costUsd": usd(s.cost_micros - a.cost_micros),
            "costMicros": s.cost_micros - a.cost_micros,
            "costPercent": (a.cost_micros > 0)
                .then(|| ((s.cost_micros - a.cost_micros) as f64 / a.cost_micros as f64 * 10_000.0).round() / 100.0),
            "avgQuality": diff(a.avg_quality, s.avg_quality, 10_000.0),
            "avgLatencyMs": diff(a.avg_latency_ms, s.avg_latency_ms, 10.0),
        },
        "actualAtSimulatedPricesUsd": usd(r.actual_at_simulated_prices_micros),
        "actualAtSimulatedPricesMicros": r.actual_at_simulated_prices_micros,
        "measuredLatencyMs": r.measured_latency_ms,
        "rerouted": r.rerouted,
        "byModel": r.by_model.iter().map(|b| breakdown_json("model", b)).collect::<Vec<_>>(),
        "byIntent": r.by_intent.iter().map(|b| breakdown_json("intent", b)).collect::<Vec<_>>(),
        "routes": r.routes,
    })
}

fn params_json(p: &SimulationParams) -> Value {
    let prices: serde_json::Map<String, Value> = p
        .prices
        .iter()
        .map(|(m, o)| {
            let v = json!({
                "inputPerMtok": usd(o.input_per_mtok as i64),
                "outputPerMtok": usd(o.output_per_mtok as i64),
                "cachedInputPerMtok": o.cached_input_per_mtok.map(|c| usd(c as i64)),
            });
            (m.clone(), v)
        })
        .collect();
    json!({
        "from": p.from,
        "to": p.to,
        "strategy": p.strategy,
        "monthlyBudget": p.monthly_budget_micros.map(usd),
        "prices": prices,
    })
}

async fn show(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound(format!("simulation '{id}' does not exist"));
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(not_found());
    }
    let s: Simulation = app
        .store
        .load(&id)
        .await
        .map_err(|e| command_failed(e, "simulation", |e: SimulationError| ApiError::internal(e)))?;
    let Some(ws) = s.workspace.as_deref() else { return Err(not_found()) };
    if let Principal::Workspace { slug, .. } = &p {
        if slug != ws {
            return Err(not_found());
        }
    }
    let percent = if s.total == 0 {
        if s.status.as_str() == "running" {
            0.0
        } else {
            100.0
        }
    } else {
        (s.done as f64 / s.total as f64 * 1000.0).round() / 10.0
    };
    Ok(envelope(
        &rid,
        Some(ws),
        json!({
            "id": id,
            "workspaceId": ws,
            "status": s.status.as_str(),
            "progress": {"done": s.done, "total": s.total, "percent": percent},
            "params": s.params.as_ref().map(params_json),
            "basis": "the router re-run on each finished trace of the period against the configuration now (providers, restrictions, strategies, price table), with the latencies and circuit-breaker states recorded at the request's time; recorded tokens priced on the chosen route; no provider called",
            "requestedAt": s.requested_at,
            "updatedAt": s.updated_at,
            "finishedAt": s.finished_at,
            "error": s.error,
            "result": s.result.as_ref().map(result_json),
        }),
    ))
}
