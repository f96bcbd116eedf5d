//! `GET /metrics` (admin key): the pipeline's lag and the gateway's counters in the Prometheus
//! text format, for a scraper configured with a bearer token. With the store unreachable it
//! still answers (within the health probe's deadline), without the figures read from the store.

use std::fmt::Write;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::auth::AdminOnly;
use super::error::ApiError;
use super::health::{pipeline, PIPELINE_TIMEOUT, PROBE_TIMEOUT};
use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// One metric: its help line, type, and samples (label set, value).
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

/// A label value with `\`, `"` and newlines escaped as the text format requires.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

async fn metrics(State(app): State<AppState>, _admin: AdminOnly) -> Result<Response, ApiError> {
    let pl = match tokio::time::timeout(PROBE_TIMEOUT + PIPELINE_TIMEOUT, pipeline(&app)).await {
        Ok(Ok(pl)) => Some(pl),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "metrics: the feed's positions could not be read");
            None
        }
        Err(_) => {
            tracing::warn!("metrics: the event store did not answer in time");
            None
        }
    };
    let mut out = String::with_capacity(2048);
    let one = |v: f64| vec![(String::new(), v)];
    family(&mut out, "layerr_up", "gauge", "1 while the process serves.", &one(1.0));
    family(
        &mut out,
        "layerr_uptime_seconds",
        "gauge",
        "Seconds since the process started.",
        &one(app.started.elapsed().as_secs_f64()),
    );
    let a = app.appender.status();
    family(
        &mut out,
        "layerr_appender_queued_batches",
        "gauge",
        "Request batches waiting for the group-commit appender.",
        &one(a.queued as f64),
    );
    family(
        &mut out,
        "layerr_appender_capacity_batches",
        "gauge",
        "Batches the appender's queue holds.",
        &one(a.capacity as f64),
    );
    family(
        &mut out,
        "layerr_appender_store_failing",
        "gauge",
        "1 while event writes fail (new requests are refused with 503).",
        &one(if a.failing_for.is_some() { 1.0 } else { 0.0 }),
    );
    family(
        &mut out,
        "layerr_appender_failed_writes_total",
        "counter",
        "Event write attempts that failed (each is retried).",
        &one(a.failed_writes as f64),
    );
    family(
        &mut out,
        "layerr_appender_shed_requests_total",
        "counter",
        "Requests refused with 503 because the store failed or the queue was full.",
        &one(a.shed as f64),
    );
    family(
        &mut out,
        "layerr_store_reachable",
        "gauge",
        "1 when the store answered the lag queries of this scrape.",
        &one(if pl.is_some() { 1.0 } else { 0.0 }),
    );
    let Some(pl) = pl else {
        return Ok(text(out));
    };
    family(
        &mut out,
        "layerr_feed_head_position",
        "gauge",
        "Highest global position in the store.",
        &one(pl.head as f64),
    );
    family(&mut out, "layerr_feed_events", "gauge", "Events in the store.", &one(pl.events as f64));
    let by_projection = |f: fn(&super::health::ProjectionLag) -> i64| -> Vec<(String, f64)> {
        pl.projections.iter().map(|x| (format!("projection=\"{}\"", label(x.name)), f(x) as f64)).collect()
    };
    family(
        &mut out,
        "layerr_projection_lag_events",
        "gauge",
        "Events a projection still has to apply.",
        &by_projection(|x| x.lag),
    );
    family(
        &mut out,
        "layerr_projection_position",
        "gauge",
        "Global position a projection has applied up to.",
        &by_projection(|x| x.position),
    );
    family(
        &mut out,
        "layerr_hot_state_lag_events",
        "gauge",
        "Configuration events the in-memory state has not read yet.",
        &one(pl.hot_lag as f64),
    );
    if let Some(k) = &pl.kafka {
        let topic = format!("topic=\"{}\"", label(&k.snapshot.topic));
        family(
            &mut out,
            "layerr_kafka_relay_lag_events",
            "gauge",
            "Events in the store after the relay's checkpoint.",
            &[(topic.clone(), k.lag as f64)],
        );
        family(
            &mut out,
            "layerr_kafka_relay_position",
            "gauge",
            "Global position the relay has delivered up to.",
            &[(topic.clone(), k.position as f64)],
        );
        family(
            &mut out,
            "layerr_kafka_relay_delivered_total",
            "counter",
            "Events this process has delivered to Kafka.",
            &[(topic.clone(), k.snapshot.delivered as f64)],
        );
        family(
            &mut out,
            "layerr_kafka_relay_connected",
            "gauge",
            "1 while the broker accepts deliveries.",
            &[(topic, if k.snapshot.connected { 1.0 } else { 0.0 })],
        );
    }
    Ok(text(out))
}

fn text(out: String) -> Response {
    let mut resp = out.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    resp
}
