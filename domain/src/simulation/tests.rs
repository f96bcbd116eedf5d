use chrono::{Duration, TimeZone, Utc};
use cqrs_es::test::TestFramework;

use super::*;

type F = TestFramework<Simulation>;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 31, 23, 0, 0).unwrap()
}

fn params() -> SimulationParams {
    SimulationParams {
        from: at() - Duration::days(7),
        to: at(),
        strategy: Some("quality".into()),
        monthly_budget_micros: Some(5_000_000),
        prices: BTreeMap::from([(
            "gpt-4o".to_string(),
            PriceOverride { input_per_mtok: 1_000_000, output_per_mtok: 4_000_000, cached_input_per_mtok: None },
        )]),
    }
}

fn requested() -> SimulationEvent {
    SimulationEvent::SimulationRequested { workspace: "acme".into(), params: params(), at: at() }
}

#[test]
fn a_request_is_recorded_with_its_parameters() {
    F::with(())
        .given_no_previous_events()
        .when(SimulationCommand::RequestSimulation { workspace: "acme".into(), params: params(), at: at() })
        .then_expect_events(vec![requested()]);
}

#[test]
fn invalid_parameters_are_refused() {
    let cases: Vec<(SimulationParams, &str)> = vec![
        (SimulationParams { from: at(), ..params() }, "from must be before to"),
        (SimulationParams { from: at() - Duration::days(400), ..params() }, "the period must be at most 366 days"),
        (SimulationParams { strategy: Some(" ".into()), ..params() }, "strategy must not be blank"),
        (SimulationParams { monthly_budget_micros: Some(0), ..params() }, "monthlyBudget must be greater than 0"),
    ];
    for (p, msg) in cases {
        F::with(())
            .given_no_previous_events()
            .when(SimulationCommand::RequestSimulation { workspace: "acme".into(), params: p, at: at() })
            .then_expect_error(SimulationError::Invalid(msg.into()));
    }
    F::with(())
        .given_no_previous_events()
        .when(SimulationCommand::RequestSimulation { workspace: "".into(), params: params(), at: at() })
        .then_expect_error(SimulationError::Invalid("workspace must not be blank".into()));
}

#[test]
fn a_simulation_is_requested_once() {
    F::with(())
        .given(vec![requested()])
        .when(SimulationCommand::RequestSimulation { workspace: "acme".into(), params: params(), at: at() })
        .then_expect_error(SimulationError::AlreadyExists);
}

#[test]
fn progress_moves_forward_within_the_total() {
    let progressed = |done, total| SimulationEvent::SimulationProgressed { done, total, at: at() };
    F::with(())
        .given(vec![requested(), progressed(10, 100)])
        .when(SimulationCommand::RecordProgress { done: 20, total: 100, at: at() })
        .then_expect_events(vec![progressed(20, 100)]);
    F::with(())
        .given(vec![requested(), progressed(10, 100)])
        .when(SimulationCommand::RecordProgress { done: 5, total: 100, at: at() })
        .then_expect_error(SimulationError::Invalid("progress cannot go back from 10 to 5".into()));
    F::with(())
        .given(vec![requested()])
        .when(SimulationCommand::RecordProgress { done: 101, total: 100, at: at() })
        .then_expect_error(SimulationError::Invalid("progress 101 exceeds the total 100".into()));
    F::with(())
        .given_no_previous_events()
        .when(SimulationCommand::RecordProgress { done: 1, total: 2, at: at() })
        .then_expect_error(SimulationError::NotFound);
}

#[test]
fn a_finished_simulation_takes_no_more_commands() {
    let done = SimulationEvent::SimulationCompleted { result: SimulationResult::default(), at: at() };
    let failed = SimulationEvent::SimulationFailed { reason: "shutdown".into(), at: at() };
    for end in [done, failed] {
        F::with(())
            .given(vec![requested(), end.clone()])
            .when(SimulationCommand::RecordProgress { done: 1, total: 2, at: at() })
            .then_expect_error(SimulationError::Finished);
        F::with(())
            .given(vec![requested(), end])
            .when(SimulationCommand::FailSimulation { reason: "again".into(), at: at() })
            .then_expect_error(SimulationError::Finished);
    }
}

#[test]
fn state_follows_the_events() {
    let mut s = Simulation::default();
    s.apply(requested());
    assert_eq!((s.status, s.workspace.as_deref()), (SimulationStatus::Running, Some("acme")));
    s.apply(SimulationEvent::SimulationProgressed { done: 3, total: 10, at: at() });
    assert_eq!((s.done, s.total), (3, 10));
    s.apply(SimulationEvent::SimulationCompleted { result: SimulationResult::default(), at: at() });
    assert_eq!((s.status, s.done, s.finished_at), (SimulationStatus::Completed, 10, Some(at())));
    assert_eq!(s.status.as_str(), "completed");
}

fn outcome(model: &str, cost: i64, quality: f64, latency: f64) -> Outcome {
    Outcome {
        route: Some(("p".into(), model.into())),
        cost_micros: cost,
        quality: Some(quality),
        latency_ms: Some(latency),
    }
}

fn request(at: DateTime<Utc>, intent: &str, actual: Outcome, simulated: Outcome) -> Request {
    Request {
        at,
        intent: intent.into(),
        completed: true,
        budget_rejected: false,
        actual_repriced_micros: actual.cost_micros,
        actual,
        measured_latency_ms: Some(100),
        simulated,
    }
}

#[test]
fn the_budget_rejects_what_would_overspend_each_month() {
    let mut t = Tally::new(Some(250));
    let jan = at();
    let feb = at() + Duration::hours(2);
    // 100 + 100 fit in January's 250; the third (100) would make 300: rejected; a cheaper one
    // (50) still fits; February starts again.
    for (when, sim_cost) in [(jan, 100), (jan, 100), (jan, 100), (jan, 50), (feb, 100)] {
        t.add(&request(when, "chat", outcome("mini", 10, 0.5, 400.0), outcome("big", sim_cost, 0.7, 600.0)));
    }
    let r = t.result();
    assert_eq!(r.actual.cost_micros, 50);
    assert_eq!((r.actual.requests, r.actual.served, r.actual.rejected), (5, 5, 0));
    assert_eq!(r.simulated.cost_micros, 350);
    assert_eq!((r.simulated.requests, r.simulated.served, r.simulated.rejected), (5, 4, 1));
    assert_eq!(r.simulated.avg_quality, Some(0.7));
    assert_eq!(r.actual.avg_latency_ms, Some(400.0));
    assert_eq!(r.rerouted, 5);
    assert_eq!(r.routes.len(), 2);
    assert_eq!((r.routes[0].model.as_str(), r.routes[0].actual, r.routes[0].simulated), ("big", 0, 4));
    assert_eq!((r.routes[1].model.as_str(), r.routes[1].actual, r.routes[1].simulated), ("mini", 5, 0));
    assert_eq!(r.measured_latency_ms, Some(100.0));
}

#[test]
fn breakdowns_split_by_model_and_intent_and_failures_are_failures_on_both_sides() {
    let mut t = Tally::new(None);
    t.add(&request(at(), "chat", outcome("mini", 10, 0.5, 400.0), outcome("mini", 10, 0.5, 400.0)));
    t.add(&request(at(), "coding", outcome("mini", 20, 0.4, 400.0), outcome("big", 70, 0.8, 900.0)));
    let mut failed = request(at(), "coding", Outcome::default(), outcome("big", 0, 0.8, 900.0));
    failed.completed = false;
    t.add(&failed);
    let mut refused = request(at(), "chat", Outcome::default(), outcome("big", 0, 0.8, 900.0));
    refused.completed = false;
    refused.budget_rejected = true;
    t.add(&refused);
    let mut unroutable = request(at(), "chat", outcome("mini", 5, 0.5, 400.0), Outcome::default());
    unroutable.simulated.route = None;
    t.add(&unroutable);

    let r = t.result();
    assert_eq!((r.actual.served, r.actual.failed, r.actual.rejected, r.actual.cost_micros), (3, 1, 1, 35));
    assert_eq!((r.simulated.served, r.simulated.failed, r.simulated.rejected, r.simulated.cost_micros), (2, 3, 0, 80));
    assert_eq!(r.actual.avg_quality, Some(0.4667));
    assert_eq!(r.simulated.avg_quality, Some(0.65));
    assert_eq!(r.rerouted, 1);
    let coding = r.by_intent.iter().find(|b| b.key == "coding").unwrap();
    assert_eq!((coding.actual.requests, coding.actual.cost_micros), (2, 20));
    assert_eq!((coding.simulated.requests, coding.simulated.cost_micros), (2, 70));
    let big = r.by_model.iter().find(|b| b.key == "big").unwrap();
    assert_eq!((big.actual.requests, big.simulated.requests, big.simulated.served), (0, 3, 1));
    let none = r.by_model.iter().find(|b| b.key == "(none)").unwrap();
    assert_eq!((none.actual.requests, none.simulated.requests), (2, 1));
}
