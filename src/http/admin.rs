//! Admin routes: the audit log of every configuration change (filters and cursor paging), the
//! tenancy diagnostics (`tenancy.rs`), named secrets with master-key rotation (`secrets.rs`) and
//! the guardrail policies (`guardrails.rs`).

mod guardrails;
mod secrets;
mod tenancy;

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use serde::Deserialize;

use layerr_projections::audit_log::{self, AuditFilter};

use super::auth::AdminOnly;
use super::envelope::{next_page, page, Page, RequestId};
use super::error::ApiError;
use super::extract::{parse_time, ApiQuery};
use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/audit", get(audit))
        .merge(tenancy::router())
        .merge(secrets::router())
        .merge(guardrails::router())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    workspace: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    /// RFC 3339 bounds, inclusive.
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

fn parse_cursor(v: &Option<String>) -> Result<Option<(i64, i64)>, ApiError> {
    let Some(c) = v else { return Ok(None) };
    let bad = || ApiError::field("cursor", "cursor is not one this API returned");
    let (a, b) = c.split_once('_').ok_or_else(bad)?;
    Ok(Some((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?)))
}

async fn audit(
    State(app): State<AppState>,
    _admin: AdminOnly,
    Extension(rid): Extension<RequestId>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::field("limit", "limit must be between 1 and 1000"));
    }
    let filter = AuditFilter {
        workspace: q.workspace.clone(),
        actor: q.actor.clone(),
        action: q.action.clone(),
        from_ms: parse_time("from", q.from.as_deref())?,
        to_ms: parse_time("to", q.to.as_deref())?,
        before: parse_cursor(&q.cursor)?,
        limit: limit as i64 + 1,
    };
    let mut entries =
        audit_log::list(&app.store.db, &filter).await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let next_cursor = next_page(&mut entries, limit, |e| format!("{}_{}", e.at.timestamp_millis(), e.id));
    Ok(page(&rid, q.workspace.as_deref(), Page { limit, next_cursor }, entries))
}
