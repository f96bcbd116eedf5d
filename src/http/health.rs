//! Health: `/api/health` (no auth: is the process up) and `/api/health/detailed` (event store
//! reachability and latency, feed position, projection, in-memory-state and Kafka relay lag, version).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::json;

use layerr_projections::runner::load_checkpoint;

use super::envelope::{envelope, RequestId};
use super::error::ApiError;
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
    let unavailable = |e: layerr_projections::DbError| ApiError::Unavailable(e.to_string());
    let (head, events) = db.feed_head().await.map_err(unavailable)?;
    let mut projections = Vec::new();
    let mut worst = 0;
    for projector in crate::projectors() {
        let name = projector.name();
        let cp = load_checkpoint(db, name).await.map_err(unavailable)?;
        let lag = db.events_after_matching(cp, &projector.interest()).await.map_err(unavailable)?;
        worst = worst.max(lag);
        projections.push(json!({ "name": name, "position": cp.position, "lag": lag }));
    }
    let hot = app.hot.cursor();
    let hot_lag = db.events_after_matching(hot, &crate::state::INTEREST).await.map_err(unavailable)?;
    let (kafka, kafka_degraded) = kafka_health(&app).await.map_err(unavailable)?;
    let status = if worst > 10_000 || hot_lag > 10_000 || kafka_degraded { "degraded" } else { "healthy" };
    Ok(envelope(
        &rid,
        None,
        json!({
            "status": status,
            "version": VERSION,
            "uptimeSeconds": app.started.elapsed().as_secs(),
            "store": store,
            "feed": { "position": head, "events": events },
            "projections": projections,
            "hotState": { "position": hot.position, "lag": hot_lag },
            "kafka": kafka,
        }),
    ))
}

/// The relay's part of the detailed health, and whether it makes the node degraded (broker
/// unreachable, or far behind). Lag counts the store's events after the relay's checkpoint;
/// broker watermarks are never used.
async fn kafka_health(app: &AppState) -> Result<(serde_json::Value, bool), layerr_projections::DbError> {
    let Some(relay) = &app.kafka else {
        return Ok((json!({ "enabled": false, "topic": app.config.kafka.topic }), false));
    };
    let db = &app.store.db;
    let snap = relay.snapshot();
    let cp = load_checkpoint(db, layerr_kafka::CHECKPOINT_NAME).await?;
    let lag = db.events_after(cp).await?;
    let body = json!({
        "enabled": true,
        "topic": snap.topic,
        "position": cp.position,
        "lag": lag,
        "delivered": snap.delivered,
        "connected": snap.connected,
        "lastError": snap.last_error,
    });
    Ok((body, !snap.connected || lag > 10_000))
}
