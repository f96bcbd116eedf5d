//! Replay re-derives recorded decisions from committed fixtures: a store's history as version 1.0
//! wrote it (`domain/tests/fixtures/trace_1_0.json`) and the same history at the versions written
//! now (`trace_current.json`). The model facts are fixed here, so only routing and the recorded
//! inputs decide.

use chrono::{DateTime, Utc};
use layerr_domain::provider::ProviderEvent;
use layerr_domain::trace::{ErrorKind, Exclusion, Intent};
use layerr_domain::workspace::types::FallbackMode;
use layerr_domain::workspace::WorkspaceEvent;
use layerr_projections::feed::{Cursor, StoredEvent};
use layerr_projections::traces::TraceView;

use super::*;
use crate::routing::health::HealthBook;
use crate::routing::ModelFacts;
use crate::state::{HotState, ProviderView};

const TRACE_1_0: &str = include_str!("../../domain/tests/fixtures/trace_1_0.json");
const TRACE_CURRENT: &str = include_str!("../../domain/tests/fixtures/trace_current.json");

/// `big` (good, slow, dear), `mid`, `small` (weak, fast, cheap, no tools).
fn facts(_: &ProviderView, model: &str, _: &str) -> ModelFacts {
    let (quality, price, ttft, tools) = match model {
        "big" => (0.9, 10_000_000, 900.0, true),
        "mid" => (0.8, 2_000_000, 400.0, true),
        "small" => (0.5, 100_000, 100.0, false),
        _ => (0.5, 0, 500.0, true),
    };
    ModelFacts {
        catalogued: true,
        unusable: None,
        quality,
        input_per_mtok: price,
        output_per_mtok: price * 4,
        context_window: 8_000,
        tools,
        vision: false,
        json: true,
        streaming: true,
        ttft_ms: ttft,
        tokens_per_sec: 100.0,
    }
}

/// The fixture's rows as the feed would return them.
fn rows(fixture: &str) -> Vec<StoredEvent> {
    let rows: Vec<serde_json::Value> = serde_json::from_str(fixture).expect("fixture");
    rows.into_iter()
        .enumerate()
        .map(|(i, r)| {
            let text = |k: &str| r[k].as_str().unwrap_or_else(|| panic!("{k} in {r}")).to_string();
            let body = r["payload"].as_object().and_then(|m| m.values().next()).expect("payload");
            StoredEvent {
                cursor: Cursor { tx_id: 0, position: i as i64 + 1 },
                aggregate_type: text("aggregateType"),
                aggregate_id: text("aggregateId"),
                sequence: r["sequence"].as_i64().expect("sequence"),
                event_type: text("eventType"),
                event_version: text("eventVersion"),
                payload: r["payload"].clone(),
                metadata: serde_json::json!({"workspace": "default", "actor": "env-admin"}),
                recorded_at: body["at"].as_str().and_then(|t| t.parse::<DateTime<Utc>>().ok()).expect("at"),
            }
        })
        .collect()
}

/// The configuration the fixture's history builds and its (one) trace, folded as the read model
/// folds it. Everything is decoded through `StoredEvent::decode`, upcaster included.
fn load(fixture: &str) -> (std::sync::Arc<HotState>, TraceView) {
    let hot = HotState::new();
    let mut view: Option<TraceView> = None;
    for e in rows(fixture) {
        match e.aggregate_type.as_str() {
            "Workspace" => hot.apply_workspace(&e.aggregate_id, e.sequence, &e.decode::<WorkspaceEvent>().unwrap()),
            "Provider" => hot.apply_provider(&e.aggregate_id, e.sequence, &e.decode::<ProviderEvent>().unwrap()),
            "Trace" => view.get_or_insert_with(|| TraceView::new(&e.aggregate_id, &e)).apply(&e).unwrap(),
            other => panic!("unexpected aggregate {other}"),
        }
    }
    (hot, view.expect("a trace"))
}

/// The recorded decision, re-derived against the configuration of the fixture with the
/// latencies and breaker states it recorded (`then`), and with none of this node's health.
fn reproduces_the_recorded_decision(fixture: &str) {
    let (hot, view) = load(fixture);
    let recorded = view.decision.clone().expect("a recorded decision");
    // Nothing live: alpha's recorded 700 ms latencies and beta's open breaker come from the trace.
    let health = HealthBook::default();
    let then = rederive_with(&hot, &health, &view, None, true, &facts).unwrap();
    assert_eq!(then.chain, recorded.chain);
    assert_eq!(then.primary.as_ref(), recorded.chain.first());
    assert_eq!(then.candidates, recorded.candidates);
    assert_eq!((&then.weights, &then.summary), (&recorded.weights, &recorded.summary));
    assert_eq!(differences(&then, &then), Vec::<String>::new());
    // Routed now, beta's breaker is closed and the latencies are the catalog's: another decision.
    let now = rederive_with(&hot, &health, &view, None, false, &facts).unwrap();
    assert_ne!(now.candidates, recorded.candidates);
    assert!(
        differences(&then, &now).iter().any(|d| d == "big/beta: circuit breaker open -> eligible"),
        "{:?}",
        differences(&then, &now)
    );
}

#[test]
fn replay_reproduces_decisions_recorded_at_version_1_0() {
    reproduces_the_recorded_decision(TRACE_1_0);
}

#[test]
fn replay_reproduces_decisions_recorded_at_the_current_versions() {
    reproduces_the_recorded_decision(TRACE_CURRENT);
}

#[test]
fn a_1_0_history_reads_as_the_same_trace_as_the_current_one() {
    let ((_, old), (_, new)) = (load(TRACE_1_0), load(TRACE_CURRENT));
    assert_eq!(old.received, new.received);
    assert_eq!(old.decision, new.decision);
    assert_eq!(old.attempts, new.attempts);
    let received = new.received.expect("received");
    assert_eq!((received.intent, received.fallback_mode), (Intent::Coding, FallbackMode::Relaxed));
    let failed = &new.attempts[0].attempt;
    assert_eq!((failed.error_kind, failed.status), (Some(ErrorKind::Server), Some(503)));
    let decision = new.decision.expect("decision");
    assert_eq!(decision.chain, [RouteRef::new("alpha", "mid"), RouteRef::new("alpha", "big")]);
    assert_eq!(decision.candidates[3].excluded, Some(Exclusion::BreakerOpen));
}
