//! `GET /api/economics/insights`: re-routing recommendations computed from recorded traffic.
//! For each (workspace, intent, strategy, served model) with charged requests in the window, the
//! same recorded tokens are priced on every other model the workspace can route to now (its
//! providers, restrictions and the capabilities the traffic needed); the cheapest one whose
//! catalog quality prior for the intent is at most `maxQualityDrop` below the current model's is
//! the recommendation. The window's saving is scaled to a 30-day month. No traffic, no insight.

use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use layerr_domain::provider::ProviderStatus;
use layerr_projections::economics::{Dim, SpendFilter, SpendRow};

use super::super::envelope::{envelope, RequestId};
use super::super::error::ApiError;
use super::super::extract::ApiQuery;
use super::super::AppState;
use super::{model_info, parse_time, price_on, spend, usd};
use crate::catalog::{ModelInfo, ModelStatus};
use crate::gateway::facts;
use crate::http::auth::read_scope;
use crate::state::Principal;

/// The month a saving is scaled to.
const MONTH_MS: i64 = 30 * 86_400_000;
const DEFAULT_MAX_DROP: f64 = 0.05;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct InsightsQuery {
    workspace: Option<String>,
    /// Default: the 30 days up to now.
    from: Option<String>,
    to: Option<String>,
    max_quality_drop: Option<f64>,
    limit: Option<usize>,
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// USD for a sentence: cents when it is at least a dollar, else enough digits to show it.
fn money(micros: i64) -> String {
    let v = usd(micros);
    if v.abs() >= 1.0 {
        format!("${v:.2}")
    } else {
        format!("${v:.6}")
    }
}

struct Alternative {
    provider: String,
    model: String,
    quality: f64,
    cost: i64,
}

fn serves(m: &ModelInfo, row: &SpendRow) -> bool {
    m.is_chat()
        && m.status != ModelStatus::Retired
        && (!row.needs_tools || m.tools)
        && (!row.needs_vision || m.vision)
        && (!row.needs_json || m.json_mode)
}

/// The best cheaper route for the row's traffic, if any.
fn best_alternative(app: &AppState, row: &SpendRow, current_quality: f64, max_drop: f64) -> Option<Alternative> {
    let (ws, intent) = (row.workspace.as_deref()?, row.intent.as_deref()?);
    let (cur_p, cur_m) = (row.provider.as_deref()?, row.model.as_deref()?);
    let view = app.hot.workspace(ws)?;
    let mut best: Option<Alternative> = None;
    for p in app.hot.providers(Some(ws)) {
        if p.settings.status != ProviderStatus::Active || !view.restrictions.permits_provider(&p.id) {
            continue;
        }
        for model in &p.settings.models {
            if (p.id.as_str(), model.as_str()) == (cur_p, cur_m) || !view.restrictions.permits_model(model) {
                continue;
            }
            let Some(info) = facts::model_info(&p, model).filter(|m| serves(m, row)) else { continue };
            let quality = f64::from(info.quality_for(intent));
            if quality < current_quality - max_drop - 1e-9 {
                continue;
            }
            let cost = price_on(&info, &row.tokens);
            if cost >= row.cost_micros {
                continue;
            }
            let better = best.as_ref().is_none_or(|b| {
                (cost, -quality, p.id.as_str(), model.as_str()) < (b.cost, -b.quality, b.provider.as_str(), &b.model)
            });
            if better {
                best = Some(Alternative { provider: p.id.clone(), model: model.clone(), quality, cost });
            }
        }
    }
    best
}

pub(super) async fn insights(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiQuery(q): ApiQuery<InsightsQuery>,
) -> Result<Response, ApiError> {
    let workspace = read_scope(&p, q.workspace.as_deref())?;
    let now = Utc::now().timestamp_millis();
    let to_ms = parse_time("to", q.to.as_deref())?.unwrap_or(now + 1);
    let from_ms = parse_time("from", q.from.as_deref())?.unwrap_or(to_ms - MONTH_MS);
    if from_ms >= to_ms {
        return Err(ApiError::field("from", "from must be before to"));
    }
    let max_drop = q.max_quality_drop.unwrap_or(DEFAULT_MAX_DROP);
    if !max_drop.is_finite() || !(0.0..=1.0).contains(&max_drop) {
        return Err(ApiError::field("maxQualityDrop", "maxQualityDrop must be between 0 and 1"));
    }
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::field("limit", "limit must be between 1 and 100"));
    }
    let f = SpendFilter { workspace: workspace.clone(), from_ms, to_ms, charged_only: true };
    let rows = spend(&app, &f, &[Dim::Workspace, Dim::Intent, Dim::Strategy, Dim::Provider, Dim::Model]).await?;
    let window = to_ms - from_ms;
    let mut found: Vec<(i64, Value)> = Vec::new();
    for row in &rows {
        let (Some(ws), Some(intent), Some(strategy), Some(provider), Some(model)) =
            (&row.workspace, &row.intent, &row.strategy, &row.provider, &row.model)
        else {
            continue;
        };
        // A model the catalog does not know has no quality prior to weigh a move against.
        let Some(current) = model_info(&app, provider, model).filter(|m| m.quality.is_some()) else { continue };
        let q_now = f64::from(current.quality_for(intent));
        let Some(alt) = best_alternative(&app, row, q_now, max_drop) else { continue };
        let saved = row.cost_micros - alt.cost;
        let monthly = i64::try_from(i128::from(saved) * i128::from(MONTH_MS) / i128::from(window)).unwrap_or(i64::MAX);
        let delta = round4(alt.quality - q_now);
        let message = format!(
            "Route {intent} requests on strategy '{strategy}' from {model} ({provider}) to {} ({}): saves about {}/month at quality {delta:+.2} ({} requests, {} in the window)",
            alt.model,
            alt.provider,
            money(monthly),
            row.requests,
            money(saved),
        );
        found.push((
            monthly,
            json!({
                "kind": "reroute",
                "workspaceId": ws,
                "intent": intent,
                "strategy": strategy,
                "current": {"provider": provider, "model": model, "qualityPrior": round4(q_now)},
                "recommended": {"provider": alt.provider, "model": alt.model, "qualityPrior": round4(alt.quality)},
                "requests": row.requests,
                "tokens": {
                    "in": row.tokens.tokens_in, "out": row.tokens.tokens_out,
                    "cached": row.tokens.cached, "cacheWrite": row.tokens.cache_write,
                },
                "currentCostUsd": usd(row.cost_micros),
                "currentCostMicros": row.cost_micros,
                "alternativeCostUsd": usd(alt.cost),
                "alternativeCostMicros": alt.cost,
                "windowSavingUsd": usd(saved),
                "windowSavingMicros": saved,
                "estimatedMonthlySavingUsd": usd(monthly),
                "estimatedMonthlySavingMicros": monthly,
                "qualityChange": delta,
                "message": message,
            }),
        ));
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    let total: i64 = found.iter().take(limit).map(|f| f.0).fold(0, i64::saturating_add);
    let list: Vec<Value> = found.into_iter().take(limit).map(|f| f.1).collect();
    Ok(envelope(
        &rid,
        workspace.as_deref(),
        json!({
            "workspaceId": workspace,
            "from": chrono::DateTime::<Utc>::from_timestamp_millis(from_ms),
            "to": chrono::DateTime::<Utc>::from_timestamp_millis(to_ms),
            "windowDays": round4(window as f64 / 86_400_000.0),
            "maxQualityDrop": max_drop,
            "method": "recorded tokens per (intent, strategy, model) priced on every model the workspace can route to now; the cheapest within maxQualityDrop of the current catalog quality prior for the intent; window saving scaled to 30 days",
            "estimatedMonthlySavingUsd": usd(total),
            "insights": list,
        }),
    ))
}
