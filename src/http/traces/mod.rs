//! The trace routes: list and `recent` (filters, cursor paging), `analytics` (time buckets by
//! provider, model, intent or strategy), detail (the spec's trace shape), `explain` (every
//! candidate, its scores and why it was passed over), `economics` (the cost and what the same
//! usage would have cost on the other candidates), replay (dry-run re-derivation then/now, or a
//! live re-send that records a linked trace) and compare (two traces field by field).
//!
//! Handlers parse (the request options are serde enums in `query.rs`, refused with a 400 naming
//! the field), read the `traces` read model and render typed `Serialize` bodies. What an
//! explanation says is worked out beside the read model (`layerr_projections::traces::explain`);
//! re-deriving a decision is the service's (`gateway::replay`). No handler writes an event except
//! through `gateway::chat` (a live replay).

mod compare;
mod detail;
mod economics;
mod explain;
mod list;
mod query;
mod replay;

use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;

use layerr_domain::trace::{Intent, Received};
use layerr_projections::traces::{AttemptView, TraceView};

use super::auth::key_scope;
use super::error::{unavailable, ApiError};
use crate::app::AppState;
use crate::state::Principal;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/traces", get(list::list))
        .route("/api/traces/recent", get(list::recent))
        .route("/api/traces/analytics", get(list::analytics))
        .route("/api/traces/{id}", get(detail::detail))
        .route("/api/traces/{id}/explain", get(explain::explain))
        .route("/api/traces/{id}/economics", get(economics::economics))
        .route("/api/traces/{id}/replay", post(replay::replay))
        .route("/api/traces/{id}/compare/{id2}", get(compare::compare))
}

/// The trace, if the caller may see it (else 404, the same as a trace that does not exist).
async fn visible_trace(app: &AppState, p: &Principal, id: &str) -> Result<TraceView, ApiError> {
    let not_found = || ApiError::NotFound(format!("trace '{id}' does not exist"));
    if id.len() > 100 {
        return Err(not_found());
    }
    let view = app.store.db.trace(id).await.map_err(unavailable)?.ok_or_else(not_found)?;
    match key_scope(p) {
        Some(own) if workspace_of(&view) != Some(own) => Err(not_found()),
        _ => Ok(view),
    }
}

fn workspace_of(v: &TraceView) -> Option<&str> {
    v.received.as_ref().map(|r| r.workspace.as_str())
}

/// The classified intent, as the detail and the explanation show it.
#[derive(Serialize)]
struct IntentBody {
    classification: Option<Intent>,
    confidence: Option<f64>,
}

impl IntentBody {
    fn of(r: Option<&Received>) -> IntentBody {
        IntentBody { classification: r.map(|r| r.intent), confidence: r.map(|r| r.intent_confidence) }
    }
}

/// One attempt, as the explanation lists it (the detail's attempt log adds to it).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AttemptBody<'a> {
    attempt: u32,
    provider: &'a str,
    model: &'a str,
    succeeded: bool,
    error_kind: Option<&'a str>,
    status: Option<u16>,
    latency_ms: u64,
}

impl<'a> From<&'a AttemptView> for AttemptBody<'a> {
    fn from(a: &'a AttemptView) -> Self {
        AttemptBody {
            attempt: a.attempt.attempt,
            provider: &a.attempt.provider,
            model: &a.attempt.model,
            succeeded: a.succeeded,
            error_kind: a.attempt.error_kind.map(|k| k.as_str()),
            status: a.attempt.status,
            latency_ms: a.attempt.latency_ms,
        }
    }
}
