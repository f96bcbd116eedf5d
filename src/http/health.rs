//! Health: `/api/health` (no auth: is the process up) and `/api/health/detailed` (event store
//! reachability and latency, feed position, projection, in-memory-state and Kafka relay lag, version).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::json;

use layerr_projections::runner::load_checkpoint;

use super::envelope::{envelope, RequestId};
use super::error::{unavailable, ApiError};
use super::AppState;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn public_router() -> Router<AppState> {
    Router::new().route("/api/health", get(health))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/health/detailed", get(detailed))
}

async fn health(State(app): State<AppState>, Extension(rid): Extension<RequestId>) -> Response {
    let body = json!({ "status": "ok", "version": VERSION, "uptimeSeconds": app.started.elapsed().as_secs() });
    envelope(&rid, None, body)
}

async fn detailed(State(app): State<AppState>, Extension(rid): Extension<RequestId>) -> Result<Response, ApiError> {
    let db = &app.store.db;
    let store = match db.ping().await {
        Ok(latency) => json!({
            "backend": db.backend().as_str(), "reachable": true,
            "latencyMs": (latency.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        }),
        Err(e) => {
            tracing::warn!(error = %e, "event store unreachable");
            let body = json!({ "data": { "status": "unhealthy", "version": VERSION,
                "store": { "backend": db.backend().as_str(), "reachable": false } } });
            return Ok((axum::http::StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response());
        }
    };
    let p = pipeline(&app).await.map_err(unavailable)?;
    let worst = p.projections.iter().map(|x| x.lag).max().unwrap_or(0);
    let kafka = match &p.kafka {
        None => json!({ "enabled": false, "topic": app.config.kafka.topic }),
        Some(k) => json!({
            "enabled": true,
            "topic": k.snapshot.topic,
            "position": k.position,
            "lag": k.lag,
            "delivered": k.snapshot.delivered,
            "connected": k.snapshot.connected,
            "lastError": k.snapshot.last_error,
        }),
    };
    // The relay makes the node degraded when the broker is unreachable or it is far behind.
    let kafka_degraded = p.kafka.as_ref().is_some_and(|k| !k.snapshot.connected || k.lag > 10_000);
    let status = if worst > 10_000 || p.hot_lag > 10_000 || kafka_degraded { "degraded" } else { "healthy" };
    let projections: Vec<_> =
        p.projections.iter().map(|x| json!({ "name": x.name, "position": x.position, "lag": x.lag })).collect();
    Ok(envelope(
        &rid,
        None,
        json!({
            "status": status,
            "version": VERSION,
            "uptimeSeconds": app.started.elapsed().as_secs(),
            "store": store,
            "feed": { "position": p.head, "events": p.events },
            "projections": projections,
            "hotState": { "position": p.hot_position, "lag": p.hot_lag },
            "kafka": kafka,
        }),
    ))
}

pub struct ProjectionLag {
    pub name: &'static str,
    pub position: i64,
    pub lag: i64,
}

pub struct RelayLag {
    pub snapshot: layerr_kafka::status::RelaySnapshot,
    pub position: i64,
    pub lag: i64,
}

/// Where every consumer of the feed stands: the projections, the in-memory state and the Kafka
/// relay. Lags count the store's events after each checkpoint (never broker watermarks).
pub struct Pipeline {
    pub head: i64,
    pub events: i64,
    pub projections: Vec<ProjectionLag>,
    pub hot_position: i64,
    pub hot_lag: i64,
    pub kafka: Option<RelayLag>,
}

pub async fn pipeline(app: &AppState) -> Result<Pipeline, layerr_projections::DbError> {
    let db = &app.store.db;
    let (head, events) = db.feed_head().await?;
    let mut projections = Vec::new();
    for projector in crate::projectors() {
        let cp = load_checkpoint(db, projector.name()).await?;
        let lag = db.events_after_matching(cp, &projector.interest()).await?;
        projections.push(ProjectionLag { name: projector.name(), position: cp.position, lag });
    }
    let hot = app.hot.cursor();
    let hot_lag = db.events_after_matching(hot, &crate::state::INTEREST).await?;
    let kafka = match &app.kafka {
        None => None,
        Some(relay) => {
            let cp = load_checkpoint(db, layerr_kafka::CHECKPOINT_NAME).await?;
            let lag = db.events_after(cp).await?;
            Some(RelayLag { snapshot: relay.snapshot(), position: cp.position, lag })
        }
    };
    Ok(Pipeline { head, events, projections, hot_position: hot.position, hot_lag, kafka })
}
