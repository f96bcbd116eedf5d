//! `GET/PATCH /api/economics/budget`: the spec's budget object. Spend comes from the `traces`
//! read model (so a rebuild reproduces it); what requests in flight hold comes from the ledger.
//! Only an admin key changes a budget (a workspace must not lift its own ceiling).

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use layerr_domain::workspace::budget::{month_start, next_month_start, week_start, BudgetPatch};
use layerr_domain::workspace::types::double_option;
use layerr_domain::workspace::WorkspaceCommand;

use super::auth::{resolve_workspace, AdminOnly};
use super::envelope::{envelope, usd, RequestId};
use super::error::{unavailable, ApiError};
use super::extract::{ApiJson, ApiQuery};
use super::workspaces::{current, exec};
use super::AppState;
use crate::state::{Principal, WorkspaceView};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/economics/budget", get(show).patch(change))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct WorkspaceQuery {
    workspace: Option<String>,
}

fn to_micros(field: &str, v: f64) -> Result<i64, ApiError> {
    if !v.is_finite() || !(0.0..=10_000_000.0).contains(&v) {
        return Err(ApiError::field(field, format!("{field} must be a USD amount between 0 and 10000000")));
    }
    Ok((v * 1_000_000.0).round() as i64)
}

async fn status_json(app: &AppState, w: &WorkspaceView, now: DateTime<Utc>) -> Result<serde_json::Value, ApiError> {
    let (month, week) = (month_start(now), week_start(now));
    let db = &app.store.db;
    let spent_of = |rows: Vec<(String, i64)>| rows.into_iter().find(|(ws, _)| ws == &w.slug).map_or(0, |r| r.1);
    let spent = spent_of(db.spend_by_workspace(month.timestamp_millis()).await.map_err(unavailable)?);
    let week_spent = spent_of(db.spend_by_workspace(week.timestamp_millis()).await.map_err(unavailable)?);
    let standing = app.ledger.standing(&w.slug, now);
    let end = next_month_start(now);
    let elapsed = (now - month).num_milliseconds().max(1) as f64;
    let length = (end - month).num_milliseconds() as f64;
    let projected = (spent as f64 * length / elapsed).round() as i64;
    let b = w.budget;
    let over_week = b.weekly_alert_micros.is_some_and(|t| week_spent >= t);
    let status = match b.monthly_micros {
        Some(m) if spent >= m => "exceeded",
        Some(m) if projected > m || over_week => "warning",
        None if over_week => "warning",
        _ => "healthy",
    };
    Ok(json!({
        "workspaceId": w.slug,
        "monthlyBudget": b.monthly_micros.map(usd),
        "weeklyAlertThreshold": b.weekly_alert_micros.map(usd),
        "spentThisMonth": usd(spent),
        "remainingBudget": b.monthly_micros.map(|m| usd((m - spent).max(0))),
        "projectedSpend": usd(projected),
        "status": status,
        "spentThisWeek": usd(week_spent),
        "reservedInFlight": usd(standing.reserved),
        "requestsInFlight": standing.in_flight,
        "reserveOutputTokens": b.reserve_output_tokens,
        "period": { "monthStart": month, "monthEnd": end, "weekStart": week },
    }))
}

async fn show(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiQuery(q): ApiQuery<WorkspaceQuery>,
) -> Result<Response, ApiError> {
    let w = resolve_workspace(&app, &p, q.workspace.as_deref())?;
    let body = status_json(&app, &w, Utc::now()).await?;
    Ok(envelope(&rid, Some(&w.slug), body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BudgetBody {
    /// USD; `null` removes the ceiling.
    #[serde(default, with = "double_option")]
    monthly_budget: Option<Option<f64>>,
    /// USD per ISO week; `null` removes the alert.
    #[serde(default, with = "double_option")]
    weekly_alert_threshold: Option<Option<f64>>,
    reserve_output_tokens: Option<u32>,
    workspace: Option<String>,
}

async fn change(
    State(app): State<AppState>,
    AdminOnly(p): AdminOnly,
    Extension(rid): Extension<RequestId>,
    ApiQuery(q): ApiQuery<WorkspaceQuery>,
    ApiJson(body): ApiJson<BudgetBody>,
) -> Result<Response, ApiError> {
    let w = resolve_workspace(&app, &p, body.workspace.as_deref().or(q.workspace.as_deref()))?;
    let convert = |field: &str, v: Option<Option<f64>>| -> Result<Option<Option<i64>>, ApiError> {
        v.map(|inner| inner.map(|x| to_micros(field, x)).transpose()).transpose()
    };
    let patch = BudgetPatch {
        monthly_micros: convert("monthlyBudget", body.monthly_budget)?,
        weekly_alert_micros: convert("weeklyAlertThreshold", body.weekly_alert_threshold)?,
        reserve_output_tokens: body.reserve_output_tokens,
    };
    if patch == BudgetPatch::default() {
        return Err(ApiError::field(
            "monthlyBudget",
            "nothing to change: give monthlyBudget, weeklyAlertThreshold or reserveOutputTokens",
        ));
    }
    exec(&app, &p, &rid, &w.slug, WorkspaceCommand::ChangeBudget { patch, at: Utc::now() }).await?;
    let w = current(&app, &w.slug)?;
    let body = status_json(&app, &w, Utc::now()).await?;
    Ok(envelope(&rid, Some(&w.slug), body))
}
