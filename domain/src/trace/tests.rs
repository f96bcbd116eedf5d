use chrono::{TimeZone, Utc};
use cqrs_es::test::TestFramework;

use super::*;

type F = TestFramework<Trace>;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn received() -> Received {
    Received {
        workspace: "default".into(),
        key_id: "k".into(),
        endpoint: "/v1/chat/completions".into(),
        requested_model: "layerr-auto".into(),
        stream: false,
        intent: Intent::Coding,
        intent_confidence: 0.9,
        strategy: "balanced".into(),
        fallback_mode: crate::workspace::types::FallbackMode::Relaxed,
        message_count: 1,
        estimated_prompt_tokens: 10,
        max_tokens: None,
        needs_tools: false,
        needs_vision: false,
        needs_json: false,
        max_cost_micros: None,
        max_latency_ms: None,
        content: None,
        replay_of: None,
    }
}

fn attempt(n: u32) -> Attempt {
    Attempt {
        attempt: n,
        provider: "p".into(),
        model: "m".into(),
        latency_ms: 5,
        ttft_ms: None,
        error_kind: None,
        status: None,
        message: None,
        dropped_params: vec![],
    }
}

#[test]
fn a_trace_starts_with_receipt() {
    F::with(())
        .given_no_previous_events()
        .when(TraceCommand::RecordAttempt { attempt: attempt(1), succeeded: true, at: at() })
        .then_expect_error(TraceError::NotReceived);
    F::with(())
        .given(vec![TraceEvent::RequestReceived { received: received(), at: at() }])
        .when(TraceCommand::Receive { received: received(), at: at() })
        .then_expect_error(TraceError::AlreadyReceived);
}

#[test]
fn attempts_are_numbered_in_order_and_failures_recorded() {
    F::with(())
        .given(vec![TraceEvent::RequestReceived { received: received(), at: at() }])
        .when(TraceCommand::RecordAttempt { attempt: attempt(1), succeeded: false, at: at() })
        .then_expect_events(vec![TraceEvent::AttemptFailed { attempt: attempt(1), at: at() }]);
    F::with(())
        .given(vec![TraceEvent::RequestReceived { received: received(), at: at() }])
        .when(TraceCommand::RecordAttempt { attempt: attempt(2), succeeded: true, at: at() })
        .then_expect_error(TraceError::AttemptOutOfOrder(2));
}

#[test]
fn nothing_follows_completion() {
    F::with(())
        .given(vec![
            TraceEvent::RequestReceived { received: received(), at: at() },
            TraceEvent::RequestCompleted {
                provider: "p".into(),
                model: "m".into(),
                latency_ms: 3,
                finish_reason: Some("stop".into()),
                output: None,
                at: at(),
            },
        ])
        .when(TraceCommand::Fail { code: "TIMEOUT".into(), message: "x".into(), latency_ms: 4, at: at() })
        .then_expect_error(TraceError::Finished);
}

#[test]
fn a_reservation_is_settled_or_released_once() {
    F::with(())
        .given(vec![
            TraceEvent::RequestReceived { received: received(), at: at() },
            TraceEvent::BudgetReserved { micros: 300, at: at() },
        ])
        .when(TraceCommand::SettleBudget { actual_micros: 120, at: at() })
        .then_expect_events(vec![TraceEvent::BudgetSettled { reserved_micros: 300, actual_micros: 120, at: at() }]);
    F::with(())
        .given(vec![
            TraceEvent::RequestReceived { received: received(), at: at() },
            TraceEvent::BudgetReserved { micros: 300, at: at() },
            TraceEvent::BudgetReleased { reserved_micros: 300, at: at() },
        ])
        .when(TraceCommand::ReleaseBudget { at: at() })
        .then_expect_error(TraceError::NotReserved);
    F::with(())
        .given(vec![
            TraceEvent::RequestReceived { received: received(), at: at() },
            TraceEvent::BudgetReserved { micros: 300, at: at() },
        ])
        .when(TraceCommand::ReserveBudget { micros: 10, at: at() })
        .then_expect_error(TraceError::AlreadyReserved);
}
