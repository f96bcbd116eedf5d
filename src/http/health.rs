//! Health: `/api/health` (no auth: is the process up) and `/api/health/detailed` (event store
//! reachability and latency, the appender's writes, feed position, projection, in-memory-state and
//! Kafka relay lag, version). The figures of the whole installation (feed, lags, the appender's
//! counters, the relay) are for admin keys; a workspace key sees the status, version and store
//! reachability. Every store probe has a short deadline: a store that does not answer makes the
//! answer a prompt 503, never a wait for the pool's timeout.

use std::time::Duration;

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{json, Value};

use layerr_projections::runner::load_checkpoint;

use super::envelope::{envelope, RequestId};
use super::error::ApiError;
use super::AppState;
use crate::state::Principal;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The round trip that says whether the store is reachable.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(800);
/// Every lag query together, once the probe has answered.
pub const PIPELINE_TIMEOUT: Duration = Duration::from_millis(1500);

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

/// The appender as health shows it to admin keys.
fn appender(app: &AppState) -> Value {
    let a = app.appender.status();
    json!({
        "durability": a.durability,
        "queued": a.queued,
        "capacity": a.capacity,
        "failing": a.failing_for.is_some(),
        "failingForMs": a.failing_for.map(|d| d.as_millis() as u64),
        "failedWrites": a.failed_writes,
        "shed": a.shed,
    })
}

fn unhealthy(message: &str, mut details: Value, admin: bool, app: &AppState) -> ApiError {
    details["status"] = json!("unhealthy");
    details["version"] = json!(VERSION);
    if admin {
        details["appender"] = appender(app);
    }
    ApiError::StoreUnhealthy { message: message.to_string(), details }
}

async fn detailed(
    State(app): State<AppState>,
    Extension(rid): Extension<RequestId>,
    Extension(p): Extension<Principal>,
) -> Result<Response, ApiError> {
    let db = &app.store.db;
    let admin = p.is_admin();
    let backend = db.backend().as_str();
    let latency = match tokio::time::timeout(PROBE_TIMEOUT, db.ping()).await {
        Ok(Ok(latency)) => latency,
        outcome => {
            let cause = match outcome {
                Ok(Err(e)) => e.to_string(),
                _ => format!("no answer within {} ms", PROBE_TIMEOUT.as_millis()),
            };
            tracing::warn!(error = %cause, "event store unreachable");
            let store = json!({ "store": { "backend": backend, "reachable": false } });
            return Err(unhealthy("the event store is unreachable", store, admin, &app));
        }
    };
    let store = json!({
        "backend": backend, "reachable": true,
        "latencyMs": (latency.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
    });
    let writes = app.appender.status();
    if writes.failing_for.is_some() {
        let details = json!({ "store": store });
        return Err(unhealthy("the event store is reachable but does not take writes", details, admin, &app));
    }
    if !admin {
        let status = if writes.queued >= writes.capacity { "degraded" } else { "healthy" };
        let body = json!({ "status": status, "version": VERSION, "uptimeSeconds": app.started.elapsed().as_secs(),
                           "store": store });
        return Ok(envelope(&rid, None, body));
    }
    let p = match tokio::time::timeout(PIPELINE_TIMEOUT, pipeline(&app)).await {
        Ok(Ok(p)) => p,
        outcome => {
            let cause = match outcome {
                Ok(Err(e)) => e.to_string(),
                _ => format!("no answer within {} ms", PIPELINE_TIMEOUT.as_millis()),
            };
            tracing::warn!(error = %cause, "the feed's positions could not be read");
            let details = json!({ "store": store });
            return Err(unhealthy("the event store does not answer the lag queries", details, admin, &app));
        }
    };
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
    // The relay makes the node degraded when the broker is unreachable or it is far behind; so
    // does a full event queue (requests are being refused).
    let kafka_degraded = p.kafka.as_ref().is_some_and(|k| !k.snapshot.connected || k.lag > 10_000);
    let queue_full = writes.queued >= writes.capacity;
    let status =
        if worst > 10_000 || p.hot_lag > 10_000 || kafka_degraded || queue_full { "degraded" } else { "healthy" };
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
            "appender": appender(&app),
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
