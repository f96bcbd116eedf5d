//! Trace events as earlier versions stored them still decode: committed fixtures of a store's
//! history at version 1.0 (`fixtures/trace_1_0.json`), a `RouteDecided` at 1.1, and the same
//! history at the versions written now (`fixtures/trace_current.json`), read the way
//! `StoredEvent::decode` reads them (through `layerr_domain::upcast`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

use cqrs_es::DomainEvent;
use layerr_domain::trace::{ErrorKind, Intent, TraceEvent};
use layerr_domain::workspace::types::FallbackMode;
use serde_json::Value;

const TRACE_1_0: &str = include_str!("fixtures/trace_1_0.json");
const TRACE_CURRENT: &str = include_str!("fixtures/trace_current.json");
const ROUTE_DECIDED_1_1: &str = include_str!("fixtures/route_decided_1_1.json");

/// The Trace rows of a fixture.
fn trace_rows(fixture: &str) -> Vec<Value> {
    let rows: Vec<Value> = serde_json::from_str(fixture).expect("fixture");
    rows.into_iter().filter(|r| r["aggregateType"] == "Trace").collect()
}

fn text(row: &Value, key: &str) -> String {
    row[key].as_str().unwrap_or_else(|| panic!("{key} in {row}")).to_string()
}

/// Upcasts and decodes a stored row; says whether the upcaster rewrote it.
fn decode(row: &Value) -> (TraceEvent, bool) {
    let mut payload = row["payload"].clone();
    let upcast = layerr_domain::upcast("Trace", &text(row, "eventType"), &text(row, "eventVersion"), &mut payload);
    let event = serde_json::from_value(payload).unwrap_or_else(|e| panic!("{e}: {row}"));
    (event, upcast)
}

#[test]
fn version_1_0_rows_decode_as_the_events_written_now() {
    let (old, new) = (trace_rows(TRACE_1_0), trace_rows(TRACE_CURRENT));
    assert_eq!(old.len(), 6);
    assert_eq!(old.len(), new.len());
    for (o, n) in old.iter().zip(&new) {
        assert_eq!(text(o, "eventVersion"), "1.0");
        let ((from_old, _), (from_new, _)) = (decode(o), decode(n));
        assert_eq!(from_old, from_new, "{}", text(o, "eventType"));
    }
    let changed: Vec<String> = old.iter().filter(|o| decode(o).1).map(|o| text(o, "eventType")).collect();
    assert_eq!(changed, ["RequestReceived", "RouteDecided", "AttemptFailed", "AttemptSucceeded"]);
}

#[test]
fn the_current_rows_are_what_the_code_writes_now() {
    for row in trace_rows(TRACE_CURRENT) {
        let (event, upcast) = decode(&row);
        assert!(!upcast, "a current row passes the upcaster untouched: {row}");
        assert_eq!(event.event_type(), text(&row, "eventType"));
        assert_eq!(event.event_version(), text(&row, "eventVersion"));
        assert_eq!(serde_json::to_value(&event).unwrap(), row["payload"], "written as stored");
    }
}

#[test]
fn route_decided_1_1_pairs_read_as_route_refs() {
    let old = trace_rows(ROUTE_DECIDED_1_1);
    let new = trace_rows(TRACE_CURRENT).into_iter().find(|r| r["eventType"] == "RouteDecided").unwrap();
    assert_eq!(text(&old[0], "eventVersion"), "1.1");
    assert!(old[0]["payload"]["RouteDecided"]["decision"]["chain"][0].is_array(), "1.1 wrote pairs");
    assert_eq!(
        new["payload"]["RouteDecided"]["decision"]["chain"][0],
        serde_json::json!({"provider": "alpha", "model": "mid"})
    );
    assert_eq!(decode(&old[0]).0, decode(&new).0);
}

#[test]
fn values_1_0_never_wrote_still_decode() {
    let rows = trace_rows(TRACE_1_0);
    let mut received = rows[0].clone();
    received["payload"]["RequestReceived"]["received"]["intent"] = "Poetry".into();
    received["payload"]["RequestReceived"]["received"]["fallbackMode"] = " Strict".into();
    let TraceEvent::RequestReceived { received: r, .. } = decode(&received).0 else { panic!() };
    assert_eq!((r.intent, r.fallback_mode), (Intent::Chat, FallbackMode::Strict));

    let mut failed = rows.iter().find(|r| r["eventType"] == "AttemptFailed").unwrap().clone();
    failed["payload"]["AttemptFailed"]["attempt"]["errorKind"] = "exploded".into();
    let TraceEvent::AttemptFailed { attempt, .. } = decode(&failed).0 else { panic!() };
    assert_eq!(attempt.error_kind, Some(ErrorKind::Server));
    failed["payload"]["AttemptFailed"]["attempt"]["errorKind"] = "client_cancelled".into();
    let TraceEvent::AttemptFailed { attempt, .. } = decode(&failed).0 else { panic!() };
    assert_eq!(attempt.error_kind, Some(ErrorKind::Cancelled));
}

#[test]
fn attempts_1_1_read_with_no_dropped_params() {
    for new in trace_rows(TRACE_CURRENT).into_iter().filter(|r| text(r, "eventType").starts_with("Attempt")) {
        let kind = text(&new, "eventType");
        let mut old = new.clone();
        old["eventVersion"] = "1.1".into();
        old["payload"][&kind]["attempt"].as_object_mut().unwrap().remove("droppedParams");
        let (from_old, upcast) = decode(&old);
        assert!(upcast, "a 1.1 attempt is an older version");
        assert_eq!(from_old, decode(&new).0);
        let (TraceEvent::AttemptSucceeded { attempt, .. } | TraceEvent::AttemptFailed { attempt, .. }) = from_old
        else {
            panic!("{kind}")
        };
        assert!(attempt.dropped_params.is_empty());
    }
    // The field round-trips when there is something in it.
    let mut row = trace_rows(TRACE_CURRENT).into_iter().find(|r| r["eventType"] == "AttemptSucceeded").unwrap();
    row["payload"]["AttemptSucceeded"]["attempt"]["droppedParams"] = serde_json::json!(["seed", "metadata.tag"]);
    let (event, upcast) = decode(&row);
    assert!(!upcast);
    let TraceEvent::AttemptSucceeded { attempt, .. } = &event else { panic!() };
    assert_eq!(attempt.dropped_params, ["seed", "metadata.tag"]);
    assert_eq!(serde_json::to_value(&event).unwrap(), row["payload"]);
}
