//! Guardrail policies: `GET /api/admin/guardrails` and `PATCH /api/admin/guardrails`. The
//! installation has a default policy; a workspace may have its own, which replaces the default
//! for its requests. Only an admin key changes a policy; a workspace key reads the policy its
//! requests run under (its own workspace's only).
//!
//! A policy is compiled under the installation's limits (`[guardrails]`) before its event is
//! written: a malformed or hostile one (a pattern over the compiled-size limit, a list over the
//! count or byte limits) is a 400 naming the field, and the policy in force stays as it was.

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use layerr_domain::guardrails::Policy;
use layerr_domain::installation::{InstallationCommand, InstallationError, INSTALLATION_ID};
use layerr_domain::workspace::WorkspaceCommand;

use super::super::auth::AdminOnly;
use super::super::envelope::{envelope, RequestId};
use super::super::error::{command_failed, ApiError};
use super::super::extract::{ApiJson, ApiQuery};
use super::super::workspaces::{current, exec};
use super::super::AppState;
use crate::state::{LoadedPolicy, Principal};
use crate::store::CommandContext;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/admin/guardrails", get(show).patch(change))
}

/// A stored policy and whether this node can run it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PolicyState {
    policy: Policy,
    /// `active`, or `broken`: it does not compile under this node's limits, and its fail mode
    /// decides what requests meet.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    updated_at: DateTime<Utc>,
}

fn state(p: &LoadedPolicy) -> PolicyState {
    PolicyState {
        policy: p.policy.clone(),
        status: if p.compiled.is_ok() { "active" } else { "broken" },
        error: p.compiled.as_ref().err().cloned(),
        updated_at: p.changed_at,
    }
}

/// One workspace's view: its own policy, the default, and which applies.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WorkspaceGuardrails {
    workspace: String,
    policy: Option<PolicyState>,
    default_policy: Option<PolicyState>,
    /// `workspace`, `default` or `none`.
    effective: &'static str,
}

/// The installation's view (admin keys, no `workspace`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AllGuardrails {
    default_policy: Option<PolicyState>,
    /// The workspaces that have a policy of their own.
    workspaces: Vec<WorkspaceGuardrails>,
    limits: layerr_guardrails::Limits,
}

fn workspace_view(app: &AppState, slug: &str) -> Result<WorkspaceGuardrails, ApiError> {
    let ws = current(app, slug)?;
    let default_policy = app.hot.guardrail_default();
    let effective = match (&ws.guardrails, &default_policy) {
        (Some(_), _) => "workspace",
        (None, Some(_)) => "default",
        (None, None) => "none",
    };
    Ok(WorkspaceGuardrails {
        workspace: ws.slug.clone(),
        policy: ws.guardrails.as_deref().map(state),
        default_policy: default_policy.as_deref().map(state),
        effective,
    })
}

fn all_view(app: &AppState) -> Result<AllGuardrails, ApiError> {
    let mut workspaces = Vec::new();
    for ws in app.hot.workspaces().into_iter().filter(|w| w.guardrails.is_some()) {
        workspaces.push(workspace_view(app, &ws.slug)?);
    }
    Ok(AllGuardrails {
        default_policy: app.hot.guardrail_default().as_deref().map(state),
        workspaces,
        limits: app.hot.guardrail_limits(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShowQuery {
    workspace: Option<String>,
}

async fn show(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiQuery(q): ApiQuery<ShowQuery>,
) -> Result<Response, ApiError> {
    match (&p, q.workspace) {
        (Principal::Workspace { slug, .. }, asked) => {
            if asked.as_deref().is_some_and(|a| a != slug) {
                return Err(ApiError::Forbidden("a workspace key reads its own workspace's guardrails only".into()));
            }
            Ok(envelope(&rid, Some(slug.as_str()), workspace_view(&app, slug)?))
        }
        (Principal::Admin { .. }, Some(slug)) => Ok(envelope(&rid, Some(slug.as_str()), workspace_view(&app, &slug)?)),
        (Principal::Admin { .. }, None) => Ok(envelope(&rid, None, all_view(&app)?)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeBody {
    /// The workspace whose own policy this sets; absent: the installation's default.
    #[serde(default)]
    workspace: Option<String>,
    /// The whole new policy, or `null` to remove it (a workspace then follows the default).
    policy: Value,
}

/// The policy of a body: `null`, or one that parses and compiles under the installation's limits.
fn parse(app: &AppState, v: Value) -> Result<Option<Policy>, ApiError> {
    if v.is_null() {
        return Ok(None);
    }
    let policy: Policy = serde_json::from_value(v).map_err(|e| ApiError::field("policy", e.to_string()))?;
    layerr_guardrails::compile(&policy, &app.hot.guardrail_limits())
        .map_err(|e| ApiError::field(format!("policy.{}", e.field), e.message))?;
    Ok(Some(policy))
}

async fn change(
    State(app): State<AppState>,
    AdminOnly(p): AdminOnly,
    Extension(rid): Extension<RequestId>,
    ApiJson(b): ApiJson<ChangeBody>,
) -> Result<Response, ApiError> {
    let policy = parse(&app, b.policy)?;
    let at = Utc::now();
    match b.workspace {
        Some(slug) => {
            current(&app, &slug)?;
            exec(&app, &p, &rid, &slug, WorkspaceCommand::SetGuardrails { policy, at }).await?;
            Ok(envelope(&rid, Some(slug.as_str()), workspace_view(&app, &slug)?))
        }
        None => {
            let ctx = CommandContext { actor: p.key_id().into(), request_id: Some(rid.0.clone()), workspace: None };
            let cmd = InstallationCommand::SetGuardrails { policy, at };
            app.store.execute(&app.store.installation, INSTALLATION_ID, cmd, &ctx).await.map_err(|e| {
                command_failed(e, "installation", |u: InstallationError| ApiError::validation(u.to_string()))
            })?;
            Ok(envelope(&rid, None, all_view(&app)?))
        }
    }
}
