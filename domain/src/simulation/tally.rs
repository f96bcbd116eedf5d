//! The simulation's arithmetic: each recorded request with its recorded outcome and its
//! simulated one goes in, in time order; the side-by-side result comes out. The monthly budget
//! is applied here: a simulated request that would push its UTC month's spend over the budget is
//! rejected and costs nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};

use super::{Breakdown, Figures, RouteCount, SimulationResult};

/// One side's outcome for one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// (provider, model); `None`: no route.
    pub route: Option<(String, String)>,
    pub cost_micros: i64,
    /// The catalog prior of the route's model for the request's intent.
    pub quality: Option<f64>,
    /// The router's expected latency for the route.
    pub latency_ms: Option<f64>,
}

/// One recorded request, as the simulation saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub at: DateTime<Utc>,
    pub intent: String,
    /// It completed. A request that did not has no usage to re-price: it counts as failed (or
    /// rejected) on both sides, its recorded tokens (if any) priced on the simulated route.
    pub completed: bool,
    /// It was refused with `BUDGET_EXCEEDED`.
    pub budget_rejected: bool,
    pub actual: Outcome,
    /// The recorded tokens on the recorded route at the simulation's prices.
    pub actual_repriced_micros: i64,
    pub measured_latency_ms: Option<u64>,
    pub simulated: Outcome,
}

#[derive(Debug, Clone, Default)]
struct Acc {
    requests: u64,
    served: u64,
    rejected: u64,
    failed: u64,
    cost_micros: i64,
    quality: (f64, u64),
    latency: (f64, u64),
}

#[derive(Clone, Copy)]
enum Fate {
    Served,
    Rejected,
    Failed,
}

impl Acc {
    fn add(&mut self, o: &Outcome, fate: Fate) {
        self.requests += 1;
        match fate {
            Fate::Served => {
                self.served += 1;
                self.cost_micros += o.cost_micros;
                if let Some(q) = o.quality {
                    self.quality.0 += q;
                    self.quality.1 += 1;
                }
                if let Some(l) = o.latency_ms {
                    self.latency.0 += l;
                    self.latency.1 += 1;
                }
            }
            Fate::Rejected => self.rejected += 1,
            Fate::Failed => {
                self.failed += 1;
                self.cost_micros += o.cost_micros;
            }
        }
    }

    fn figures(&self) -> Figures {
        let mean = |(sum, n): (f64, u64), scale: f64| (n > 0).then(|| (sum / n as f64 * scale).round() / scale);
        Figures {
            requests: self.requests,
            served: self.served,
            rejected: self.rejected,
            failed: self.failed,
            cost_micros: self.cost_micros,
            avg_quality: mean(self.quality, 10_000.0),
            avg_latency_ms: mean(self.latency, 10.0),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Pair {
    actual: Acc,
    simulated: Acc,
}

/// Accumulates a simulation's result.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    budget_micros: Option<i64>,
    month_spend: BTreeMap<(i32, u32), i64>,
    total: Pair,
    by_model: BTreeMap<String, Pair>,
    by_intent: BTreeMap<String, Pair>,
    routes: BTreeMap<(String, String), (u64, u64)>,
    repriced_micros: i64,
    measured: (f64, u64),
    rerouted: u64,
}

const NO_ROUTE: &str = "(none)";

fn model_key(o: &Outcome) -> String {
    o.route.as_ref().map_or_else(|| NO_ROUTE.to_string(), |(_, m)| m.clone())
}

impl Tally {
    pub fn new(monthly_budget_micros: Option<i64>) -> Tally {
        Tally { budget_micros: monthly_budget_micros, ..Tally::default() }
    }

    /// Adds a request. Requests must come in time order (the budget is spent in that order).
    pub fn add(&mut self, r: &Request) {
        let actual_fate = if r.completed {
            Fate::Served
        } else if r.budget_rejected {
            Fate::Rejected
        } else {
            Fate::Failed
        };
        let sim_fate = match (&r.simulated.route, r.completed) {
            (None, _) | (Some(_), false) => Fate::Failed,
            (Some(_), true) => match self.budget_micros {
                None => Fate::Served,
                Some(budget) => {
                    let spent = self.month_spend.entry((r.at.year(), r.at.month())).or_insert(0);
                    if *spent + r.simulated.cost_micros > budget {
                        Fate::Rejected
                    } else {
                        *spent += r.simulated.cost_micros;
                        Fate::Served
                    }
                }
            },
        };
        let sim_served = matches!(sim_fate, Fate::Served);
        if r.completed {
            if let Some(route) = &r.actual.route {
                self.routes.entry(route.clone()).or_default().0 += 1;
            }
            if let Some(ms) = r.measured_latency_ms {
                self.measured.0 += ms as f64;
                self.measured.1 += 1;
            }
            if r.simulated.route.is_some() && r.simulated.route != r.actual.route {
                self.rerouted += 1;
            }
        }
        if sim_served {
            if let Some(route) = &r.simulated.route {
                self.routes.entry(route.clone()).or_default().1 += 1;
            }
        }
        self.repriced_micros += r.actual_repriced_micros;
        self.total.actual.add(&r.actual, actual_fate);
        self.total.simulated.add(&r.simulated, sim_fate);
        let intent = self.by_intent.entry(r.intent.clone()).or_default();
        intent.actual.add(&r.actual, actual_fate);
        intent.simulated.add(&r.simulated, sim_fate);
        self.by_model.entry(model_key(&r.actual)).or_default().actual.add(&r.actual, actual_fate);
        self.by_model.entry(model_key(&r.simulated)).or_default().simulated.add(&r.simulated, sim_fate);
    }

    pub fn result(&self) -> SimulationResult {
        let rows = |m: &BTreeMap<String, Pair>| -> Vec<Breakdown> {
            m.iter()
                .map(|(k, p)| Breakdown {
                    key: k.clone(),
                    actual: p.actual.figures(),
                    simulated: p.simulated.figures(),
                })
                .collect()
        };
        SimulationResult {
            actual: self.total.actual.figures(),
            simulated: self.total.simulated.figures(),
            actual_at_simulated_prices_micros: self.repriced_micros,
            measured_latency_ms: (self.measured.1 > 0)
                .then(|| (self.measured.0 / self.measured.1 as f64 * 10.0).round() / 10.0),
            rerouted: self.rerouted,
            by_model: rows(&self.by_model),
            by_intent: rows(&self.by_intent),
            routes: self
                .routes
                .iter()
                .map(|((p, m), (a, s))| RouteCount { provider: p.clone(), model: m.clone(), actual: *a, simulated: *s })
                .collect(),
        }
    }
}
