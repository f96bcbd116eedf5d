//! Recording a request as a Trace: the commands run on a fresh Trace aggregate in memory (a new
//! trace has no history, so nothing is read) and the events it yields go to the group-commit
//! appender with sequences 1…n. The recorder also owns the request's budget reservation: when it
//! finishes, the reservation is settled to the real cost (or released), and the ledger is told.
//! A recorder dropped before it finished (the client went away while the handler awaited) still
//! records the trace, as failed, and still gives its reservation back.

use std::time::Instant;

use chrono::Utc;
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};

use layerr_domain::meta;
use layerr_domain::trace::{Trace, TraceCommand};
use layerr_domain::workspace::budget::Budget;
use layerr_domain::workspace::WorkspaceCommand;

use crate::app::AppState;
use crate::appender::NewEvent;
use crate::state::WorkspaceView;
use crate::store::CommandContext;

pub struct Recorder {
    pub trace_id: String,
    commands: Vec<TraceCommand>,
    metadata: String,
    workspace: String,
    key_id: String,
    app: AppState,
    started: Instant,
    /// The workspace's budget when the request arrived (alerts and holds use it).
    budget: Budget,
    /// The micro-dollars held for this request.
    reservation: Option<i64>,
    finished: bool,
}

impl Recorder {
    pub fn new(
        app: &AppState,
        trace_id: String,
        key_id: &str,
        request_id: &str,
        workspace: &WorkspaceView,
    ) -> Recorder {
        let (budget, workspace) = (workspace.budget, workspace.slug.as_str());
        let metadata = serde_json::json!({
            meta::ACTOR: key_id, meta::REQUEST_ID: request_id, meta::WORKSPACE: workspace,
        })
        .to_string();
        Recorder {
            trace_id,
            commands: Vec::with_capacity(6),
            metadata,
            workspace: workspace.to_string(),
            key_id: key_id.to_string(),
            app: app.clone(),
            started: Instant::now(),
            budget,
            reservation: None,
            finished: false,
        }
    }

    pub fn push(&mut self, command: TraceCommand) {
        self.commands.push(command);
    }

    pub fn now() -> chrono::DateTime<Utc> {
        Utc::now()
    }

    /// Holds `micros` against the workspace's monthly budget (the ledger has already admitted
    /// it); settled or released when the recorder finishes.
    pub fn reserved(&mut self, micros: i64) {
        self.commands.push(TraceCommand::ReserveBudget { micros, at: Self::now() });
        self.reservation = Some(micros);
    }

    /// Settles the reservation against what was charged and tells the ledger; returns the
    /// commands to run.
    fn seal(&mut self) -> Vec<TraceCommand> {
        self.finished = true;
        let mut commands = std::mem::take(&mut self.commands);
        let actual: i64 = commands
            .iter()
            .map(|c| match c {
                TraceCommand::ChargeCost { charge, .. } => charge.cost_micros,
                _ => 0,
            })
            .fold(0, i64::saturating_add);
        let now = Self::now();
        let reserved = match self.reservation.take() {
            Some(micros) => {
                let settle = if actual > 0 {
                    TraceCommand::SettleBudget { actual_micros: actual, at: now }
                } else {
                    TraceCommand::ReleaseBudget { at: now }
                };
                let end = commands
                    .iter()
                    .position(|c| matches!(c, TraceCommand::Complete { .. } | TraceCommand::Fail { .. }))
                    .unwrap_or(commands.len());
                commands.insert(end, settle);
                Some(micros)
            }
            None => None,
        };
        if reserved.is_some() || actual > 0 {
            if let Some(crossing) = self.app.ledger.settle(&self.workspace, &self.budget, reserved, actual, now) {
                let (app, workspace, actor) = (self.app.clone(), self.workspace.clone(), self.key_id.clone());
                self.app.tracker.spawn(async move {
                    let cmd = WorkspaceCommand::RecordBudgetAlert {
                        week_start: crossing.week_start,
                        spent_micros: crossing.spent,
                        threshold_micros: crossing.threshold,
                        at: Utc::now(),
                    };
                    let ctx = CommandContext { actor, request_id: None, workspace: Some(workspace.clone()) };
                    if let Err(e) = app.store.execute(&app.store.workspaces, &workspace, cmd, &ctx).await {
                        tracing::warn!(workspace = %workspace, error = %e, "budget alert not recorded");
                    }
                });
            }
        }
        commands
    }

    /// Runs the commands and queues the events. A command the aggregate refuses is a bug in the
    /// gateway: it is logged and the trace is stored up to that point.
    /// The write runs as its own task: a request future dropped while it waits on a full queue
    /// (or a `sync` commit) cannot take the trace's events with it.
    pub async fn finish(mut self) {
        let commands = self.seal();
        let write = store(self.app.clone(), std::mem::take(&mut self.trace_id), self.metadata.clone(), commands);
        let _ = self.app.tracker.spawn(write).await;
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if self.finished || self.commands.is_empty() {
            return;
        }
        let ended =
            self.commands.iter().any(|c| matches!(c, TraceCommand::Complete { .. } | TraceCommand::Fail { .. }));
        if !ended {
            self.commands.push(TraceCommand::Fail {
                code: "CLIENT_DISCONNECTED".into(),
                message: "the client went away before the answer was ready".into(),
                latency_ms: self.started.elapsed().as_millis() as u64,
                at: Self::now(),
            });
        }
        let commands = self.seal();
        let (app, id, metadata) = (self.app.clone(), std::mem::take(&mut self.trace_id), self.metadata.clone());
        self.app.tracker.spawn(store(app, id, metadata, commands));
    }
}

async fn store(app: AppState, trace_id: String, metadata: String, commands: Vec<TraceCommand>) {
    let mut trace = Trace::default();
    let mut events = Vec::with_capacity(commands.len());
    for cmd in commands {
        let sink: EventSink<Trace> = EventSink::default();
        if let Err(e) = trace.handle(cmd, &(), &sink).await {
            tracing::error!(trace = %trace_id, error = %e, "trace command refused");
            break;
        }
        events.extend(sink.collect().await);
    }
    let rows: Vec<NewEvent> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let payload = serde_json::to_string(e).ok()?;
            Some(NewEvent {
                aggregate_type: Trace::TYPE,
                aggregate_id: trace_id.clone(),
                sequence: i as i64 + 1,
                event_type: e.event_type(),
                event_version: e.event_version(),
                payload,
                metadata: metadata.clone(),
            })
        })
        .collect();
    if let Err(e) = app.appender.append(rows).await {
        tracing::error!(trace = %trace_id, error = %e, "trace events not stored");
    }
}
