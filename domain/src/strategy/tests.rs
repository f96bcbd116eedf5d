use chrono::{TimeZone, Utc};
use cqrs_es::test::TestFramework;

use super::*;

type F = TestFramework<Strategy>;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn spec() -> StrategySpec {
    StrategySpec {
        name: "Cheap coder".into(),
        description: None,
        weights: Weights { quality: 0.5, speed: 0.1, cost: 0.4 },
        constraints: Constraints { max_cost_micros: Some(5_000), ..Default::default() },
        workspace: Some("acme".into()),
    }
}

#[test]
fn create_update_delete() {
    F::with(())
        .given_no_previous_events()
        .when(StrategyCommand::CreateStrategy { id: "cheap-coder".into(), spec: spec(), incarnation: None, at: at() })
        .then_expect_events(vec![StrategyEvent::StrategyCreated {
            id: "cheap-coder".into(),
            spec: spec(),
            incarnation: None,
            at: at(),
        }]);
    let mut after = spec();
    after.weights = Weights { quality: 0.9, speed: 0.05, cost: 0.05 };
    F::with(())
        .given(vec![StrategyEvent::StrategyCreated {
            id: "cheap-coder".into(),
            spec: spec(),
            incarnation: None,
            at: at(),
        }])
        .when(StrategyCommand::UpdateStrategy {
            patch: StrategyPatch { weights: Some(after.weights.clone()), ..Default::default() },
            at: at(),
        })
        .then_expect_events(vec![StrategyEvent::StrategyUpdated { before: spec(), after, at: at() }]);
    F::with(())
        .given_no_previous_events()
        .when(StrategyCommand::DeleteStrategy { reason: None, at: at() })
        .then_expect_error(StrategyError::NotFound);
}

#[test]
fn builtins_and_bad_specs_are_refused() {
    F::with(())
        .given_no_previous_events()
        .when(StrategyCommand::CreateStrategy { id: "balanced".into(), spec: spec(), incarnation: None, at: at() })
        .then_expect_error(StrategyError::BuiltIn("balanced".into()));
    let mut bad = spec();
    bad.weights.cost = 1.5;
    F::with(())
        .given_no_previous_events()
        .when(StrategyCommand::CreateStrategy { id: "x1".into(), spec: bad, incarnation: None, at: at() })
        .then_expect_error(StrategyError::Invalid("weights.cost must be between 0 and 1".into()));
    let mut bad = spec();
    bad.constraints.required_capabilities = vec!["telepathy".into()];
    F::with(())
        .given_no_previous_events()
        .when(StrategyCommand::CreateStrategy { id: "x1".into(), spec: bad, incarnation: None, at: at() })
        .then_expect_error(StrategyError::Invalid(
            "constraints.requiredCapabilities: unknown capability 'telepathy'".into(),
        ));
}

#[test]
fn calibration_is_recorded_even_for_builtins() {
    let report = serde_json::json!({"models": []});
    F::with(())
        .given_no_previous_events()
        .when(StrategyCommand::RecordCalibration { report: report.clone(), at: at() })
        .then_expect_events(vec![StrategyEvent::StrategyCalibrated { report, at: at() }]);
}

#[test]
fn qualified_ids_and_a_later_life_of_the_workspace() {
    let create =
        |id: &str, incarnation| StrategyCommand::CreateStrategy { id: id.into(), spec: spec(), incarnation, at: at() };
    F::with(()).given_no_previous_events().when(create("beta.cheap", Some(1))).then_expect_error(
        StrategyError::Invalid(
            "an id qualified with 'beta.' belongs to a provider or strategy of workspace 'beta'".into(),
        ),
    );
    let held = StrategyEvent::StrategyCreated { id: "acme.cheap".into(), spec: spec(), incarnation: Some(1), at: at() };
    F::with(()).given(vec![held.clone()]).when(create("acme.cheap", Some(2))).then_expect_events(vec![
        StrategyEvent::StrategyDeleted { reason: Some(RemovalReason::WorkspaceDeleted), at: at() },
        StrategyEvent::StrategyCreated { id: "acme.cheap".into(), spec: spec(), incarnation: Some(2), at: at() },
    ]);
    F::with(())
        .given(vec![held])
        .when(create("acme.cheap", Some(1)))
        .then_expect_error(StrategyError::AlreadyExists("acme.cheap".into()));
}
