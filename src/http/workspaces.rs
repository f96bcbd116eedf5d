//! The workspace routes: list, create, get, patch, delete, health, limits, runtime profile,
//! restrictions, and API keys. Each change is a command on the Workspace aggregate; reads come
//! from the in-memory state the events keep current.
//!
//! Deleting a workspace removes what was scoped to it, as events (`ProviderRemoved` and
//! `StrategyDeleted` with reason `workspaceDeleted`), and deletes its providers' secrets. Should
//! that cascade not finish, the leftovers are already disowned (they belong to a life of the slug
//! that has ended: `crate::state`), and creating the slug again sweeps them.

use axum::extract::State;
use axum::response::Response;
use axum::routing::{delete, get};
use axum::{Extension, Router};
use chrono::Utc;
use cqrs_es::AggregateError;
use serde::{Deserialize, Serialize};
use serde_json::json;

use layerr_domain::workspace::types::{LimitsPatch, Profile, RestrictionsPatch, RuntimePatch, Tier};
use layerr_domain::workspace::{WorkspaceCommand, WorkspaceError};

use super::auth::{require_admin, workspace_for, AdminOnly};
use super::envelope::{created, envelope, page, Page, RequestId};
use super::error::{command_failed, ApiError};
use super::extract::{ApiJson, ApiJsonOrDefault, ApiPath, ApiQuery};
use super::AppState;
use crate::state::{KeyInfo, Principal, Scoped, WorkspaceView};
use crate::store::CommandContext;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/workspaces", get(list).post(create))
        .route("/api/workspaces/{slug}", get(show).patch(update).delete(remove))
        .route("/api/workspaces/{slug}/health", get(health))
        .route("/api/workspaces/{slug}/limits", get(limits).patch(change_limits))
        .route("/api/workspaces/{slug}/runtime", get(runtime).patch(change_runtime))
        .route("/api/workspaces/{slug}/restrictions", get(restrictions).patch(change_restrictions))
        .route("/api/workspaces/{slug}/keys", get(list_keys).post(create_key))
        .route("/api/workspaces/{slug}/keys/{key_id}", delete(revoke_key))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WorkspaceBody<'a> {
    id: &'a str,
    slug: &'a str,
    name: &'a str,
    description: Option<&'a str>,
    tier: Tier,
    limits: serde_json::Value,
    runtime: &'a layerr_domain::workspace::types::RuntimeProfile,
    restrictions: &'a layerr_domain::workspace::types::Restrictions,
    created_at: chrono::DateTime<Utc>,
    updated_at: chrono::DateTime<Utc>,
}

fn body(w: &WorkspaceView) -> WorkspaceBody<'_> {
    WorkspaceBody {
        id: &w.slug,
        slug: &w.slug,
        name: &w.profile.name,
        description: w.profile.description.as_deref(),
        tier: w.limits.tier,
        limits: limits_json(w, None),
        runtime: &w.runtime,
        restrictions: &w.restrictions,
        created_at: w.created_at,
        updated_at: w.updated_at,
    }
}

fn limits_json(w: &WorkspaceView, usage: Option<crate::ratelimit::Usage>) -> serde_json::Value {
    let mut v = json!({
        "tier": w.limits.tier,
        "effective": w.limits.effective(),
        "overrides": w.limits.overrides,
    });
    if let Some(u) = usage {
        v["usage"] = json!(u);
    }
    v
}

pub(super) fn ctx(p: &Principal, rid: &RequestId, workspace: &str) -> CommandContext {
    CommandContext {
        actor: p.key_id().to_string(),
        request_id: Some(rid.0.clone()),
        workspace: Some(workspace.to_string()),
    }
}

pub(super) fn command_error(e: AggregateError<WorkspaceError>, slug: &str) -> ApiError {
    command_failed(e, "workspace", |w| match w {
        WorkspaceError::AlreadyExists(_) | WorkspaceError::DefaultUndeletable | WorkspaceError::KeyExists(_) => {
            ApiError::Conflict(w.to_string())
        }
        WorkspaceError::NotFound => ApiError::WorkspaceNotFound(slug.to_string()),
        WorkspaceError::Invalid(m) => ApiError::validation(m),
        WorkspaceError::KeyNotFound(_) => ApiError::NotFound(w.to_string()),
    })
}

pub(crate) async fn exec(
    app: &AppState,
    p: &Principal,
    rid: &RequestId,
    slug: &str,
    cmd: WorkspaceCommand,
) -> Result<(), ApiError> {
    app.store.execute(&app.store.workspaces, slug, cmd, &ctx(p, rid, slug)).await.map_err(|e| command_error(e, slug))
}

pub(crate) fn current(app: &AppState, slug: &str) -> Result<WorkspaceView, ApiError> {
    app.hot.workspace(slug).ok_or_else(|| ApiError::WorkspaceNotFound(slug.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn list(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::field("limit", "limit must be between 1 and 500"));
    }
    let all: Vec<WorkspaceView> = match &p {
        Principal::Admin { .. } => app.hot.workspaces(),
        Principal::Workspace { slug, .. } => app.hot.workspace(slug).into_iter().collect(),
    };
    let items: Vec<&WorkspaceView> =
        all.iter().filter(|w| q.cursor.as_deref().is_none_or(|c| w.slug.as_str() > c)).take(limit + 1).collect();
    let next_cursor = (items.len() > limit).then(|| items[limit - 1].slug.clone());
    let data: Vec<_> = items.iter().take(limit).map(|w| body(w)).collect();
    Ok(page(&rid, None, Page { limit, next_cursor }, data))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateBody {
    slug: String,
    name: Option<String>,
    description: Option<String>,
    tier: Option<Tier>,
    /// Name for the first API key (default "default").
    key_name: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IssuedKey {
    id: String,
    /// Shown once; only its hash is kept.
    key: String,
    prefix: String,
    name: String,
    workspace: String,
    created_at: chrono::DateTime<Utc>,
}

async fn issue_key(
    app: &AppState,
    p: &Principal,
    rid: &RequestId,
    slug: &str,
    name: &str,
) -> Result<IssuedKey, ApiError> {
    let new = crate::keys::generate(name);
    let at = Utc::now();
    exec(app, p, rid, slug, WorkspaceCommand::IssueKey { key: new.record.clone(), at }).await?;
    Ok(IssuedKey {
        id: new.record.key_id,
        key: new.plaintext,
        prefix: new.record.prefix,
        name: new.record.name,
        workspace: slug.to_string(),
        created_at: at,
    })
}

async fn create(
    State(app): State<AppState>,
    AdminOnly(p): AdminOnly,
    Extension(rid): Extension<RequestId>,
    ApiJson(b): ApiJson<CreateBody>,
) -> Result<Response, ApiError> {
    // Validate everything before the first event, so a refused request leaves nothing behind.
    layerr_domain::workspace::types::validate_slug(&b.slug).map_err(|m| ApiError::field("slug", m))?;
    let key_name = b.key_name.as_deref().unwrap_or("default");
    if key_name.chars().count() > 100 {
        return Err(ApiError::field("keyName", "keyName must be at most 100 characters"));
    }
    let profile = Profile { name: b.name.unwrap_or_else(|| b.slug.clone()), description: b.description };
    profile.validate().map_err(|m| ApiError::field("name", m))?;
    let cmd = WorkspaceCommand::CreateWorkspace {
        slug: b.slug.clone(),
        profile,
        tier: b.tier.unwrap_or_default(),
        at: Utc::now(),
    };
    let started_ms = Utc::now().timestamp_millis();
    exec(&app, &p, &rid, &b.slug, cmd).await?;
    // Leftovers of an earlier life whose deletion did not finish its cascade: disowned already,
    // removed now.
    let left = app.hot.disowned_of(&b.slug);
    if left != Scoped::default() {
        remove_scoped(&app, &p, &rid, &b.slug, &left).await;
    }
    forget_secrets(&app, &b.slug, started_ms).await;
    let key = issue_key(&app, &p, &rid, &b.slug, key_name).await?;
    let w = current(&app, &b.slug)?;
    let mut data = serde_json::to_value(body(&w)).map_err(ApiError::internal)?;
    data["apiKey"] = serde_json::to_value(key).map_err(ApiError::internal)?;
    Ok(created(&rid, Some(&b.slug), data))
}

async fn show(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath(slug): ApiPath<String>,
) -> Result<Response, ApiError> {
    let w = workspace_for(&app, &p, &slug)?;
    Ok(envelope(&rid, Some(&slug), body(&w)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    name: Option<String>,
    #[serde(default, with = "layerr_domain::workspace::types::double_option")]
    description: Option<Option<String>>,
}

async fn update(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath(slug): ApiPath<String>,
    ApiJson(b): ApiJson<UpdateBody>,
) -> Result<Response, ApiError> {
    workspace_for(&app, &p, &slug)?;
    exec(
        &app,
        &p,
        &rid,
        &slug,
        WorkspaceCommand::UpdateProfile { name: b.name, description: b.description, at: Utc::now() },
    )
    .await?;
    Ok(envelope(&rid, Some(&slug), body(&current(&app, &slug)?)))
}

async fn remove(
    State(app): State<AppState>,
    AdminOnly(p): AdminOnly,
    Extension(rid): Extension<RequestId>,
    ApiPath(slug): ApiPath<String>,
) -> Result<Response, ApiError> {
    workspace_for(&app, &p, &slug)?;
    let at = Utc::now();
    exec(&app, &p, &rid, &slug, WorkspaceCommand::DeleteWorkspace { at }).await?;
    // A workspace created again under this slug starts with no spend (the read models forget the
    // old one's requests too), no providers, no strategies and no stored keys.
    app.ledger.forget(&slug);
    app.limiter.forget(&slug);
    let scoped = app.hot.scoped_to(&slug);
    let (providers, strategies) = remove_scoped(&app, &p, &rid, &slug, &scoped).await;
    forget_secrets(&app, &slug, Utc::now().timestamp_millis() + 1).await;
    Ok(envelope(
        &rid,
        Some(&slug),
        json!({ "slug": slug, "deleted": true, "removed": { "providers": providers, "strategies": strategies } }),
    ))
}

/// Removes a deleted workspace's providers and custom strategies (`reason: workspaceDeleted`).
/// Best effort: what fails stays disowned and is swept when the slug is created again. Returns
/// how many of each were removed.
async fn remove_scoped(app: &AppState, p: &Principal, rid: &RequestId, slug: &str, scoped: &Scoped) -> (usize, usize) {
    use layerr_domain::provider::{ProviderCommand, ProviderError, RemovalReason};
    use layerr_domain::strategy::{StrategyCommand, StrategyError};
    let ctx = ctx(p, rid, slug);
    let reason = Some(RemovalReason::WorkspaceDeleted);
    let mut removed = (0, 0);
    for (id, secret) in &scoped.providers {
        let cmd = ProviderCommand::RemoveProvider { reason, at: Utc::now() };
        match app.store.execute(&app.store.providers, id, cmd, &ctx).await {
            Ok(()) => removed.0 += 1,
            // Removed meanwhile (another node's sweep, or an explicit delete).
            Err(AggregateError::UserError(ProviderError::NotFound)) => {}
            Err(e) => tracing::warn!(error = %e, provider = %id, workspace = %slug,
                "could not remove a deleted workspace's provider; it stays disowned"),
        }
        if let Some(secret) = secret {
            if let Err(e) = app.secrets.delete(&app.store.db, std::slice::from_ref(secret)).await {
                tracing::warn!(error = %e, provider = %id, "could not delete a removed provider's secret");
            }
        }
    }
    for id in &scoped.strategies {
        let cmd = StrategyCommand::DeleteStrategy { reason, at: Utc::now() };
        match app.store.execute(&app.store.strategies, id, cmd, &ctx).await {
            Ok(()) => removed.1 += 1,
            Err(AggregateError::UserError(StrategyError::NotFound)) => {}
            Err(e) => tracing::warn!(error = %e, strategy = %id, workspace = %slug,
                "could not remove a deleted workspace's strategy; it stays disowned"),
        }
    }
    removed
}

/// Deletes the secrets stored for `slug` before `before_ms` (rotated-away keys included).
async fn forget_secrets(app: &AppState, slug: &str, before_ms: i64) {
    if let Err(e) = app.secrets.delete_workspace(&app.store.db, slug, before_ms).await {
        tracing::warn!(error = %e, workspace = %slug, "could not delete a deleted workspace's secrets");
    }
}

async fn health(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath(slug): ApiPath<String>,
) -> Result<Response, ApiError> {
    let w = workspace_for(&app, &p, &slug)?;
    let quota = w.limits.effective();
    let usage = app.limiter.usage(&slug, quota);
    let keys = app.hot.keys_of(Some(&slug));
    let active = keys.iter().filter(|k| k.revoked_at.is_none()).count();
    let rate_status = if usage.remaining_burst == 0 {
        "throttled"
    } else if usage.remaining_burst * 5 < quota.burst {
        "near_limit"
    } else {
        "ok"
    };
    let status = match (active, rate_status) {
        (0, _) => "no_active_keys",
        (_, "throttled") => "degraded",
        _ => "healthy",
    };
    Ok(envelope(
        &rid,
        Some(&slug),
        json!({
            "slug": slug,
            "status": status,
            "rateLimit": { "status": rate_status, "limit": quota, "usage": usage },
            "keys": { "active": active, "revoked": keys.len() - active },
            "runtime": w.runtime,
            "restrictions": {
                "allowedProviders": w.restrictions.allowed_providers.len(),
                "blockedProviders": w.restrictions.blocked_providers.len(),
                "allowedModels": w.restrictions.allowed_models.len(),
                "blockedModels": w.restrictions.blocked_models.len(),
            },
            "updatedAt": w.updated_at,
        }),
    ))
}

async fn limits(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath(slug): ApiPath<String>,
) -> Result<Response, ApiError> {
    let w = workspace_for(&app, &p, &slug)?;
    let usage = app.limiter.usage(&slug, w.limits.effective());
    Ok(envelope(&rid, Some(&slug), limits_json(&w, Some(usage))))
}

async fn change_limits(
    State(app): State<AppState>,
    AdminOnly(p): AdminOnly,
    Extension(rid): Extension<RequestId>,
    ApiPath(slug): ApiPath<String>,
    ApiJson(patch): ApiJson<LimitsPatch>,
) -> Result<Response, ApiError> {
    workspace_for(&app, &p, &slug)?;
    exec(&app, &p, &rid, &slug, WorkspaceCommand::ChangeLimits { patch, at: Utc::now() }).await?;
    let w = current(&app, &slug)?;
    let usage = app.limiter.usage(&slug, w.limits.effective());
    Ok(envelope(&rid, Some(&slug), limits_json(&w, Some(usage))))
}

async fn runtime(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath(slug): ApiPath<String>,
) -> Result<Response, ApiError> {
    let w = workspace_for(&app, &p, &slug)?;
    Ok(envelope(&rid, Some(&slug), w.runtime))
}

async fn change_runtime(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath(slug): ApiPath<String>,
    ApiJson(patch): ApiJson<RuntimePatch>,
) -> Result<Response, ApiError> {
    workspace_for(&app, &p, &slug)?;
    if patch.files_root.is_some() {
        // The directory a workspace's requests may read from is the operator's choice: a
        // workspace key choosing it could point it at the server's own secrets.
        require_admin(&p)?;
    }
    if let Some(Some(root)) = &patch.files_root {
        check_files_root(root, &app.config.store.data_dir).await?;
    }
    exec(&app, &p, &rid, &slug, WorkspaceCommand::ChangeRuntimeProfile { patch, at: Utc::now() }).await?;
    Ok(envelope(&rid, Some(&slug), current(&app, &slug)?.runtime))
}

/// A `filesRoot` must be an absolute path to a directory this node can read (a typo caught now
/// rather than at the first `/api/chat` that names a file).
/// System directories and the gateway's own data directory are refused, whatever links lead there.
async fn check_files_root(root: &str, data_dir: &std::path::Path) -> Result<(), ApiError> {
    layerr_domain::workspace::types::validate_files_root(root).map_err(|m| ApiError::field("filesRoot", m))?;
    let bad = |m: &str| ApiError::field("filesRoot", m.to_string());
    let real = tokio::fs::canonicalize(root)
        .await
        .ok()
        .filter(|r| r.is_dir())
        .ok_or_else(|| bad("filesRoot must be an existing directory on the server"))?;
    const SYSTEM: &[&str] =
        &["/proc", "/sys", "/dev", "/etc", "/boot", "/root", "/run", "/var", "/usr", "/bin", "/sbin", "/lib"];
    if real == std::path::Path::new("/") || SYSTEM.iter().any(|d| real.starts_with(d)) {
        return Err(bad("filesRoot must not be the root or a system directory"));
    }
    if let Ok(data) = tokio::fs::canonicalize(data_dir).await {
        if data.starts_with(&real) || real.starts_with(&data) {
            return Err(bad("filesRoot must not contain or lie inside the gateway's data directory"));
        }
    }
    Ok(())
}

async fn restrictions(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath(slug): ApiPath<String>,
) -> Result<Response, ApiError> {
    let w = workspace_for(&app, &p, &slug)?;
    Ok(envelope(&rid, Some(&slug), w.restrictions))
}

async fn change_restrictions(
    State(app): State<AppState>,
    AdminOnly(p): AdminOnly,
    Extension(rid): Extension<RequestId>,
    ApiPath(slug): ApiPath<String>,
    ApiJson(patch): ApiJson<RestrictionsPatch>,
) -> Result<Response, ApiError> {
    workspace_for(&app, &p, &slug)?;
    exec(&app, &p, &rid, &slug, WorkspaceCommand::ChangeRestrictions { patch, at: Utc::now() }).await?;
    Ok(envelope(&rid, Some(&slug), current(&app, &slug)?.restrictions))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CreateKeyBody {
    name: Option<String>,
}

async fn create_key(
    State(app): State<AppState>,
    AdminOnly(p): AdminOnly,
    Extension(rid): Extension<RequestId>,
    ApiPath(slug): ApiPath<String>,
    ApiJsonOrDefault(b): ApiJsonOrDefault<CreateKeyBody>,
) -> Result<Response, ApiError> {
    workspace_for(&app, &p, &slug)?;
    let key = issue_key(&app, &p, &rid, &slug, b.name.as_deref().unwrap_or("default")).await?;
    Ok(created(&rid, Some(&slug), key))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyListing<'a> {
    #[serde(flatten)]
    key: &'a KeyInfo,
    status: &'static str,
}

async fn list_keys(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath(slug): ApiPath<String>,
) -> Result<Response, ApiError> {
    workspace_for(&app, &p, &slug)?;
    let keys = app.hot.keys_of(Some(&slug));
    let data: Vec<KeyListing> = keys
        .iter()
        .map(|k| KeyListing { key: k, status: if k.revoked_at.is_some() { "revoked" } else { "active" } })
        .collect();
    Ok(envelope(&rid, Some(&slug), data))
}

async fn revoke_key(
    State(app): State<AppState>,
    AdminOnly(p): AdminOnly,
    Extension(rid): Extension<RequestId>,
    ApiPath((slug, key_id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    workspace_for(&app, &p, &slug)?;
    exec(&app, &p, &rid, &slug, WorkspaceCommand::RevokeKey { key_id: key_id.clone(), at: Utc::now() }).await?;
    let key = app.hot.key(&key_id).ok_or_else(|| ApiError::NotFound(format!("API key '{key_id}' does not exist")))?;
    Ok(envelope(&rid, Some(&slug), KeyListing { status: "revoked", key: &key }))
}
