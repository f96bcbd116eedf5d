//! The Simulation aggregate: a job that re-runs the router over a period of recorded traces under
//! another strategy, budget or price table, without calling any provider. Requested (with its
//! parameters), progressed (coarsely), then completed (with its result) or failed. Pure: the
//! gateway routes and prices each recorded request and hands the outcomes to a [`Tally`]; the
//! result it builds is what `SimulationCompleted` records.

mod tally;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

pub use tally::{Outcome, Request, Tally};

/// The longest period one simulation may cover.
pub const MAX_PERIOD_DAYS: i64 = 366;

/// A model's prices for a simulation, in micro-dollars per million tokens. Without
/// `cached_input_per_mtok`, cached tokens bill at the input rate (the catalog's rule); cache-write
/// tokens always bill at the input rate under an override.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceOverride {
    pub input_per_mtok: u64,
    pub output_per_mtok: u64,
    pub cached_input_per_mtok: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulationParams {
    /// The period of recorded traces: `from` inclusive, `to` exclusive (by request start).
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Route every request under this strategy; `None` keeps each request's recorded strategy.
    pub strategy: Option<String>,
    /// A monthly budget (per UTC calendar month) in micro-dollars.
    pub monthly_budget_micros: Option<i64>,
    /// Price overrides by model id.
    #[serde(default)]
    pub prices: BTreeMap<String, PriceOverride>,
}

impl SimulationParams {
    pub fn validate(&self) -> Result<(), SimulationError> {
        let bad = |m: &str| Err(SimulationError::Invalid(m.to_string()));
        if self.from >= self.to {
            return bad("from must be before to");
        }
        if self.to - self.from > chrono::Duration::days(MAX_PERIOD_DAYS) {
            return bad("the period must be at most 366 days");
        }
        if self.strategy.as_ref().is_some_and(|s| s.trim().is_empty()) {
            return bad("strategy must not be blank");
        }
        if self.monthly_budget_micros.is_some_and(|b| b <= 0) {
            return bad("monthlyBudget must be greater than 0");
        }
        if self.prices.keys().any(|m| m.trim().is_empty()) {
            return bad("prices must be keyed by model id");
        }
        Ok(())
    }
}

/// One side of the comparison (what happened, or what the simulation says would have).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    pub requests: u64,
    /// Requests that got a route and were not rejected.
    pub served: u64,
    /// Refused for the budget (recorded `BUDGET_EXCEEDED`, or over the simulated budget).
    pub rejected: u64,
    /// Recorded: failed for another reason. Simulated: no candidate fits under the new settings.
    pub failed: u64,
    pub cost_micros: i64,
    /// Mean catalog quality prior for the request's intent over the served requests.
    pub avg_quality: Option<f64>,
    /// Mean expected latency (the router's estimate for the chosen candidate) over the served.
    pub avg_latency_ms: Option<f64>,
}

/// Side-by-side figures for one model or intent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Breakdown {
    pub key: String,
    pub actual: Figures,
    pub simulated: Figures,
}

/// How many requests a route served, recorded and simulated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteCount {
    pub provider: String,
    pub model: String,
    pub actual: u64,
    pub simulated: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulationResult {
    pub actual: Figures,
    pub simulated: Figures,
    /// The recorded tokens on the recorded routes at the simulation's prices (isolates the
    /// effect of the routing change from that of the prices).
    pub actual_at_simulated_prices_micros: i64,
    /// Mean measured end-to-end latency of the recorded requests.
    pub measured_latency_ms: Option<f64>,
    /// Requests whose simulated route differs from the recorded one.
    pub rerouted: u64,
    pub by_model: Vec<Breakdown>,
    pub by_intent: Vec<Breakdown>,
    pub routes: Vec<RouteCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum SimulationCommand {
    RequestSimulation { workspace: String, params: SimulationParams, at: DateTime<Utc> },
    RecordProgress { done: u64, total: u64, at: DateTime<Utc> },
    CompleteSimulation { result: SimulationResult, at: DateTime<Utc> },
    FailSimulation { reason: String, at: DateTime<Utc> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum SimulationEvent {
    SimulationRequested { workspace: String, params: SimulationParams, at: DateTime<Utc> },
    SimulationProgressed { done: u64, total: u64, at: DateTime<Utc> },
    SimulationCompleted { result: SimulationResult, at: DateTime<Utc> },
    SimulationFailed { reason: String, at: DateTime<Utc> },
}

impl DomainEvent for SimulationEvent {
    fn event_type(&self) -> String {
        match self {
            SimulationEvent::SimulationRequested { .. } => "SimulationRequested",
            SimulationEvent::SimulationProgressed { .. } => "SimulationProgressed",
            SimulationEvent::SimulationCompleted { .. } => "SimulationCompleted",
            SimulationEvent::SimulationFailed { .. } => "SimulationFailed",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1.0".to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimulationError {
    #[error("the simulation already exists")]
    AlreadyExists,
    #[error("the simulation does not exist")]
    NotFound,
    #[error("the simulation has already finished")]
    Finished,
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SimulationStatus {
    #[default]
    Running,
    Completed,
    Failed,
}

impl SimulationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SimulationStatus::Running => "running",
            SimulationStatus::Completed => "completed",
            SimulationStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Simulation {
    /// `None` until requested.
    pub workspace: Option<String>,
    pub params: Option<SimulationParams>,
    pub status: SimulationStatus,
    pub done: u64,
    pub total: u64,
    pub result: Option<SimulationResult>,
    pub error: Option<String>,
    pub requested_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Simulation {
    fn running(&self) -> Result<(), SimulationError> {
        match (&self.workspace, self.status) {
            (None, _) => Err(SimulationError::NotFound),
            (Some(_), SimulationStatus::Running) => Ok(()),
            (Some(_), _) => Err(SimulationError::Finished),
        }
    }
}

impl Aggregate for Simulation {
    const TYPE: &'static str = "Simulation";
    type Command = SimulationCommand;
    type Event = SimulationEvent;
    type Error = SimulationError;
    type Services = ();

    async fn handle(&mut self, command: Self::Command, _: &(), sink: &EventSink<Self>) -> Result<(), Self::Error> {
        use SimulationCommand as C;
        use SimulationEvent as E;
        let event = match command {
            C::RequestSimulation { workspace, params, at } => {
                if self.workspace.is_some() {
                    return Err(SimulationError::AlreadyExists);
                }
                if workspace.trim().is_empty() {
                    return Err(SimulationError::Invalid("workspace must not be blank".into()));
                }
                params.validate()?;
                E::SimulationRequested { workspace, params, at }
            }
            C::RecordProgress { done, total, at } => {
                self.running()?;
                if done > total {
                    return Err(SimulationError::Invalid(format!("progress {done} exceeds the total {total}")));
                }
                if done < self.done {
                    return Err(SimulationError::Invalid(format!(
                        "progress cannot go back from {} to {done}",
                        self.done
                    )));
                }
                E::SimulationProgressed { done, total, at }
            }
            C::CompleteSimulation { result, at } => {
                self.running()?;
                E::SimulationCompleted { result, at }
            }
            C::FailSimulation { reason, at } => {
                self.running()?;
                E::SimulationFailed { reason, at }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            SimulationEvent::SimulationRequested { workspace, params, at } => {
                self.workspace = Some(workspace);
                self.params = Some(params);
                self.status = SimulationStatus::Running;
                self.requested_at = Some(at);
                self.updated_at = Some(at);
            }
            SimulationEvent::SimulationProgressed { done, total, at } => {
                self.done = done;
                self.total = total;
                self.updated_at = Some(at);
            }
            SimulationEvent::SimulationCompleted { result, at } => {
                self.done = self.total;
                self.result = Some(result);
                self.status = SimulationStatus::Completed;
                self.updated_at = Some(at);
                self.finished_at = Some(at);
            }
            SimulationEvent::SimulationFailed { reason, at } => {
                self.error = Some(reason);
                self.status = SimulationStatus::Failed;
                self.updated_at = Some(at);
                self.finished_at = Some(at);
            }
        }
    }
}
