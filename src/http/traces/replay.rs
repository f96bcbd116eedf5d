//! `POST /api/traces/{id}/replay`: a dry run re-derives the recorded decision from the recorded
//! inputs against the configuration of the time (`then`) and of now (`now`), calling no
//! provider; a live replay sends the recorded request again (it needs `full` content capture)
//! through `gateway::chat`, which records a new trace linked to this one.

use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use serde::{Deserialize, Serialize};

use layerr_domain::trace::{RouteRef, Weights};
use layerr_projections::traces::TraceView;

use super::super::auth::resolve_workspace;
use super::super::envelope::{envelope, RequestId};
use super::super::error::{unavailable, ApiError};
use super::super::extract::{ApiJsonOrDefault, ApiPath};
use super::{visible_trace, workspace_of};
use crate::app::AppState;
use crate::gateway::replay::{differences, rederive, Derived};
use crate::gateway::{self, ChatCtx, ChatError, ChatOptions, Reply};
use crate::state::{HotState, Principal};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct ReplayBody {
    /// Default `dry-run`.
    mode: Option<ReplayMode>,
    /// Dry-run only: default `both`.
    against: Option<Against>,
    strategy: Option<String>,
    /// Live only: send to this model instead of letting the router choose as recorded.
    model: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum ReplayMode {
    DryRun,
    Live,
}

/// Which configuration a dry run routes against.
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Against {
    /// As it was when the trace was received (rebuilt from the feed).
    Then,
    /// As this node has it now.
    Now,
    Both,
}

pub(super) async fn replay(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath(id): ApiPath<String>,
    ApiJsonOrDefault(body): ApiJsonOrDefault<ReplayBody>,
) -> Result<Response, ApiError> {
    let v = visible_trace(&app, &p, &id).await?;
    if v.received.is_none() {
        return Err(ApiError::Conflict("the trace has no recorded request".into()));
    }
    if body.strategy.as_ref().is_some_and(|s| s.trim().is_empty()) {
        return Err(ApiError::field("strategy", "strategy must not be empty"));
    }
    let ws = workspace_of(&v);
    match body.mode.unwrap_or(ReplayMode::DryRun) {
        ReplayMode::DryRun => {
            if body.model.is_some() {
                return Err(ApiError::field("model", "model applies to live replays only"));
            }
            let data = dry_run(&app, &v, &body).await?;
            Ok(envelope(&rid, ws, data))
        }
        ReplayMode::Live => {
            if body.against.is_some() {
                return Err(ApiError::field("against", "against applies to dry-run replays only"));
            }
            let data = live(&app, &p, &rid, &v, &body).await?;
            Ok(envelope(&rid, ws, data))
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DryRunBody<'a> {
    trace_id: &'a str,
    mode: ReplayMode,
    strategy_override: Option<&'a str>,
    recorded: Option<RecordedBody<'a>>,
    then: Option<ThenBody>,
    now: Option<Derived>,
    changes: Vec<String>,
    /// Whether routing now would choose another chain than the recorded one.
    would_change: bool,
}

/// The decision as the trace recorded it.
#[derive(Serialize)]
struct RecordedBody<'a> {
    strategy: Option<&'a str>,
    weights: &'a Weights,
    primary: Option<&'a RouteRef>,
    chain: &'a [RouteRef],
    summary: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ThenBody {
    #[serde(flatten)]
    derived: Derived,
    /// With the recorded inputs and the configuration of the time, the router must land where it
    /// did (unless a strategy override asks otherwise).
    reproduces_recorded: bool,
}

async fn dry_run<'a>(app: &AppState, v: &'a TraceView, body: &'a ReplayBody) -> Result<DryRunBody<'a>, ApiError> {
    let against = body.against.unwrap_or(Against::Both);
    let strategy = body.strategy.as_deref();
    let recorded_chain = v.decision.as_ref().map(|d| d.chain.as_slice()).unwrap_or_default();
    let reproduces = |d: &Derived| {
        d.chain.iter().map(|r| (&r.provider, &r.model)).eq(recorded_chain.iter().map(|r| (&r.provider, &r.model)))
    };
    let mut then = None;
    let mut now = None;
    if against != Against::Now {
        let past = HotState::as_of(&app.store.db, v.cursor).await.map_err(unavailable)?;
        then = Some(rederive(&past, &Default::default(), v, strategy, true)?);
    }
    if against != Against::Then {
        now = Some(rederive(&app.hot, &app.health, v, strategy, false)?);
    }
    let changes = match (&then, &now) {
        (Some(a), Some(b)) => differences(a, b),
        _ => Vec::new(),
    };
    Ok(DryRunBody {
        trace_id: &v.trace_id,
        mode: ReplayMode::DryRun,
        strategy_override: strategy,
        recorded: v.decision.as_ref().map(|d| RecordedBody {
            strategy: v.received.as_ref().map(|r| r.strategy.as_str()),
            weights: &d.weights,
            primary: d.chain.first(),
            chain: &d.chain,
            summary: &d.summary,
        }),
        would_change: now.as_ref().is_some_and(|n| !reproduces(n)),
        then: then.map(|t| ThenBody { reproduces_recorded: reproduces(&t), derived: t }),
        now,
        changes,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LiveBody {
    mode: ReplayMode,
    replay_of: String,
    trace_id: String,
    strategy: String,
    provider: Option<String>,
    model: Option<String>,
    /// `provider:model:outcome`, in order.
    attempts: Vec<String>,
    #[serde(flatten)]
    result: LiveResult,
}

/// How the re-sent request ended (`status`).
#[derive(Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
enum LiveResult {
    Completed { output: Option<String>, usage: Option<UsageBody> },
    Failed { error: ErrorBody },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UsageBody {
    tokens_in: u64,
    tokens_out: u64,
}

#[derive(Serialize)]
struct ErrorBody {
    code: &'static str,
    message: String,
}

async fn live(
    app: &AppState,
    p: &Principal,
    rid: &RequestId,
    v: &TraceView,
    body: &ReplayBody,
) -> Result<LiveBody, ApiError> {
    let r = v.received.as_ref().ok_or_else(|| ApiError::Conflict("the trace has no recorded request".into()))?;
    let Some(content) = &r.content else {
        return Err(ApiError::Conflict(format!(
            "trace '{}' was recorded without its content (workspace content capture was not 'full'): \
             only a dry-run replay is possible",
            v.trace_id
        )));
    };
    let wire: crate::api::openai::ChatCompletionRequest = serde_json::from_value(content.clone())
        .map_err(|e| ApiError::Conflict(format!("the recorded request cannot be re-sent: {e}")))?;
    let mut req = wire
        .to_canonical()
        .map_err(|(f, m)| ApiError::Conflict(format!("the recorded request cannot be re-sent: {f}: {m}")))?;
    req.stream = false;
    if let Some(m) = &body.model {
        if m.trim().is_empty() || m.len() > 200 {
            return Err(ApiError::field("model", "model must be a model id"));
        }
        req.model = m.clone();
    }
    let ws = resolve_workspace(app, p, Some(&r.workspace))?;
    let ctx = ChatCtx {
        key_id: p.key_id().to_string(),
        workspace: ws,
        request_id: rid.0.clone(),
        endpoint: "/api/traces/{id}/replay",
    };
    let opts = ChatOptions {
        strategy: body.strategy.clone().or_else(|| Some(r.strategy.clone())),
        max_cost_micros: r.max_cost_micros,
        max_latency_ms: r.max_latency_ms,
        replay_of: Some(v.trace_id.clone()),
        ..ChatOptions::default()
    };
    let (result, explain) = gateway::chat(app, ctx, req, &opts, Some(content.clone())).await;
    let result = match result {
        Ok(Reply::Full(resp, ..)) => LiveResult::Completed {
            output: resp.choices.first().map(|c| c.message.content_text()),
            usage: resp.usage.map(|u| UsageBody { tokens_in: u.prompt_tokens, tokens_out: u.completion_tokens }),
        },
        Ok(Reply::Stream(_)) => return Err(ApiError::internal("a live replay never streams")),
        Err(e @ ChatError::InvalidStrategy(_)) => return Err(e.into()),
        Err(e) => {
            let e = ApiError::from(e);
            LiveResult::Failed { error: ErrorBody { code: e.parts().1, message: e.to_string() } }
        }
    };
    Ok(LiveBody {
        mode: ReplayMode::Live,
        replay_of: v.trace_id.clone(),
        attempts: explain.attempts.iter().map(ToString::to_string).collect(),
        trace_id: explain.trace_id,
        strategy: explain.strategy,
        provider: explain.provider,
        model: explain.model,
        result,
    })
}
