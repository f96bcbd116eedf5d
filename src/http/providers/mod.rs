//! Provider management: the nine `/api/providers…` routes. Admins manage global providers; a
//! workspace key may add providers scoped to its own workspace and sees only those and the global
//! ones. Credentials are write-only: stored encrypted, never returned (only a fingerprint), and
//! refused in `baseUrl` (where they would be stored in plain text).
//!
//! A credential is either the provider's own key (`apiKey`) or a reference to a named secret
//! (`secretRef`, `/api/admin/secrets`). Named secrets are installation-level: only an admin key
//! may reference one, and a provider that references one is admin-managed (a workspace key could
//! otherwise point its base URL elsewhere and receive the secret). Workspace keys see that such a
//! provider has a credential, not which secret it is.
//!
//! Ids a workspace key chooses are qualified by its workspace (`acme.local`), so they never
//! collide with a neighbour's and a `409` reveals nothing about other workspaces. URLs a workspace
//! key sets are held to the egress policy (`crate::egress`); an admin's are not.

use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use chrono::Utc;
use cqrs_es::AggregateError;
use serde::{Deserialize, Serialize};
use serde_json::json;

use layerr_domain::provider::{
    url as provider_url, CredentialRef, ProviderCommand, ProviderError as DomainError, ProviderPatch, ProviderSettings,
    ProviderStatus, UrlSource,
};

use super::auth::{key_scope, scope_for_new};
use super::envelope::{created, envelope, RequestId};
use super::error::{command_failed, ApiError};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::AppState;
use crate::catalog::ModelOverride;
use crate::providers::ProviderKind;
use crate::state::{Principal, ProviderEgress, ProviderView};
use crate::store::CommandContext;

mod probe;
use probe::{capabilities, discover, health, test};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/providers", get(list).post(create))
        .route("/api/providers/discover", get(discover))
        .route("/api/providers/capabilities", get(capabilities))
        .route("/api/providers/{id}", get(show).patch(update).delete(remove))
        .route("/api/providers/{id}/health", get(health))
        .route("/api/providers/{id}/test", post(test))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProviderBody {
    id: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    base_url: String,
    models: Vec<String>,
    status: ProviderStatus,
    workspace: Option<String>,
    health: crate::routing::health::HealthReport,
    credential: serde_json::Value,
    egress: EgressBody,
    model_overrides: Vec<ModelOverride>,
    last_test: Option<serde_json::Value>,
    created_at: chrono::DateTime<Utc>,
    updated_at: chrono::DateTime<Utc>,
}

/// Who set the base URL, and whether the egress policy refuses it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EgressBody {
    url_set_by: UrlSource,
    refused: Option<String>,
}

fn body(app: &AppState, who: &Principal, p: &ProviderView) -> ProviderBody {
    body_with(app, who, p, &app.hot.provider_egress(&p.id))
}

/// What the body says of the credential: never the key; for a named secret, its id and current
/// fingerprint to admin keys only.
fn credential_body(app: &AppState, who: &Principal, c: Option<&CredentialRef>) -> serde_json::Value {
    match c {
        None => json!({ "configured": false }),
        Some(c) if !c.named => json!({ "configured": true, "fingerprint": c.fingerprint }),
        Some(_) if !who.is_admin() => json!({ "configured": true }),
        Some(c) => {
            let current = app.hot.secret(&c.secret_id);
            json!({
                "configured": current.is_some(),
                "secretRef": c.secret_id,
                "fingerprint": current.map(|s| s.current.fingerprint),
            })
        }
    }
}

fn body_with(app: &AppState, who: &Principal, p: &ProviderView, egress: &ProviderEgress) -> ProviderBody {
    ProviderBody {
        id: p.id.clone(),
        name: p.settings.name.clone(),
        kind: p.settings.kind.clone(),
        // Stored before credentials in URLs were refused: shown without them.
        base_url: provider_url::redact(&p.settings.base_url),
        models: p.settings.models.clone(),
        status: p.settings.status,
        workspace: p.settings.workspace.clone(),
        health: app.health.report(&p.id),
        credential: credential_body(app, who, p.settings.credential.as_ref()),
        egress: EgressBody {
            url_set_by: if egress.url_trusted { UrlSource::Admin } else { UrlSource::Workspace },
            refused: egress.refused.clone(),
        },
        model_overrides: p.settings.model_overrides.clone(),
        last_test: p.last_test.as_ref().map(|(o, at)| json!({ "outcome": o, "at": at })),
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

/// The provider, if the caller may see it (workspace keys: global or their own).
fn visible(app: &AppState, p: &Principal, id: &str) -> Result<std::sync::Arc<ProviderView>, ApiError> {
    app.hot
        .provider(id)
        .filter(|v| v.visible_to(key_scope(p)))
        .ok_or_else(|| ApiError::NotFound(format!("provider '{id}' does not exist")))
}

/// Global providers are admin-managed; a workspace key manages only its own, and not one whose
/// credential is a named secret (an admin's).
fn may_manage(p: &Principal, v: &ProviderView) -> Result<(), ApiError> {
    if !p.is_admin() && v.settings.credential.as_ref().is_some_and(|c| c.named) {
        return Err(ApiError::Forbidden("a provider that references a secret is managed with an admin key".into()));
    }
    match (p, &v.settings.workspace) {
        (Principal::Admin { .. }, _) => Ok(()),
        (Principal::Workspace { slug, .. }, Some(own)) if own == slug => Ok(()),
        _ => Err(ApiError::Forbidden("global providers are managed with an admin key".into())),
    }
}

fn command_error(e: AggregateError<DomainError>, id: &str) -> ApiError {
    command_failed(e, "provider", |u| match u {
        DomainError::AlreadyExists(_) => ApiError::Conflict(format!("provider '{id}' already exists")),
        DomainError::NotFound => ApiError::NotFound(format!("provider '{id}' does not exist")),
        DomainError::Invalid(m) => ApiError::validation(m),
    })
}

async fn exec(
    app: &AppState,
    p: &Principal,
    rid: &RequestId,
    id: &str,
    ws: Option<&str>,
    cmd: ProviderCommand,
) -> Result<(), ApiError> {
    let ctx =
        CommandContext { actor: p.key_id().into(), request_id: Some(rid.0.clone()), workspace: ws.map(str::to_string) };
    app.store.execute(&app.store.providers, id, cmd, &ctx).await.map_err(|e| command_error(e, id))
}

/// The typed overrides of a request body, each checked strictly (unknown fields, bad priors,
/// aliases of other models, incomplete new models are refused, naming the entry).
fn validate_overrides(overrides: Vec<serde_json::Value>) -> Result<Vec<ModelOverride>, ApiError> {
    let parsed: Vec<ModelOverride> = overrides
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value(v).map_err(|e| ApiError::field(format!("modelOverrides[{i}]"), e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    crate::catalog::Catalog::builtin()
        .try_with_overrides(&parsed)
        .map_err(|e| ApiError::field("modelOverrides", e.to_string()))?;
    Ok(parsed)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    workspace: Option<String>,
}

async fn list(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let filter = match (&p, q.workspace.as_deref()) {
        (Principal::Workspace { slug, .. }, Some(w)) if w != slug => return Err(ApiError::WorkspaceNotFound(w.into())),
        (Principal::Workspace { slug, .. }, _) => Some(slug.as_str()),
        (Principal::Admin { .. }, w) => w,
    };
    let data: Vec<ProviderBody> =
        app.hot.provider_listing(filter).iter().map(|(v, e)| body_with(&app, &p, v, e)).collect();
    Ok(envelope(&rid, filter, data))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateBody {
    id: Option<String>,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    base_url: Option<String>,
    #[serde(default)]
    models: Vec<String>,
    /// Write-only; stored encrypted.
    api_key: Option<String>,
    /// The id of a named secret to use as the credential (admin keys only), instead of `apiKey`.
    secret_ref: Option<String>,
    workspace: Option<String>,
    /// Checked entry by entry (`validate_overrides`), so an error names the entry.
    #[serde(default)]
    model_overrides: Vec<serde_json::Value>,
    status: Option<ProviderStatus>,
}

/// The id of a new provider or strategy. A workspace key's ids are qualified by its workspace
/// (`local` becomes `acme.local`); a qualified id must name the resource's own workspace. Whether
/// it is taken can then only depend on resources the caller may see.
pub(super) fn new_id(p: &Principal, id: String, workspace: Option<&str>) -> Result<String, ApiError> {
    let id = match (p, layerr_domain::provider::id_qualifier(&id)) {
        (Principal::Workspace { slug, .. }, None) => format!("{slug}.{id}"),
        _ => id,
    };
    layerr_domain::provider::validate_id(&id).map_err(|m| ApiError::field("id", m))?;
    layerr_domain::provider::check_qualifier(&id, workspace).map_err(|m| ApiError::field("id", m))?;
    Ok(id)
}

/// The life of `workspace` a new scoped resource belongs to.
pub(super) fn incarnation_of(app: &AppState, workspace: Option<&str>) -> Result<Option<u32>, ApiError> {
    workspace
        .map(|ws| app.hot.workspace(ws).map(|w| w.incarnation).ok_or_else(|| ApiError::WorkspaceNotFound(ws.into())))
        .transpose()
}

/// Refuses credentials in a base URL, and (for a workspace key) destinations the egress policy
/// refuses. Returns who vouches for the URL.
async fn check_url(app: &AppState, p: &Principal, url: &str) -> Result<UrlSource, ApiError> {
    if let Some(why) = provider_url::credential_in(url) {
        return Err(ApiError::field("baseUrl", why));
    }
    if p.is_admin() {
        return Ok(UrlSource::Admin);
    }
    app.hot.egress_policy().check_url(url).await.map_err(|r| ApiError::field("baseUrl", r.to_string()))?;
    Ok(UrlSource::Workspace)
}

fn slugify(name: &str) -> String {
    let mut s: String = name.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    s.trim_matches('-').chars().take(50).collect()
}

async fn create(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiJson(b): ApiJson<CreateBody>,
) -> Result<Response, ApiError> {
    if b.secret_ref.is_some() && !p.is_admin() {
        return Err(ApiError::Forbidden("secrets are installation-level: only an admin key may reference one".into()));
    }
    let workspace = scope_for_new(&app, &p, b.workspace)?;
    let kind = ProviderKind::parse(&b.kind).ok_or_else(|| {
        ApiError::field("type", "type must be one of openai, anthropic, ollama, gemini, openai-compatible")
    })?;
    let base_url = match b.base_url.or_else(|| kind.default_base_url().map(str::to_string)) {
        Some(u) => u,
        None => return Err(ApiError::field("baseUrl", "baseUrl is required for openai-compatible providers")),
    };
    let model_overrides = validate_overrides(b.model_overrides)?;
    let id = new_id(&p, b.id.unwrap_or_else(|| slugify(&b.name)), workspace.as_deref())?;
    let source = check_url(&app, &p, &base_url).await?;
    let incarnation = incarnation_of(&app, workspace.as_deref())?;
    if app.hot.provider(&id).is_some() {
        return Err(ApiError::Conflict(format!("provider '{id}' already exists")));
    }
    if b.api_key.as_deref().is_some_and(|k| k.trim().is_empty() || k.len() > 4096) {
        return Err(ApiError::field("apiKey", "apiKey must be 1..=4096 characters"));
    }
    let credential = match (&b.api_key, &b.secret_ref) {
        (Some(_), Some(_)) => return Err(ApiError::field("secretRef", "give apiKey or secretRef, not both")),
        (Some(k), None) => Some(
            app.secrets
                .store(&app.store.db, k, workspace.as_deref())
                .await
                .map_err(|e| ApiError::Unavailable(e.to_string()))?,
        ),
        (None, Some(r)) => Some(secret_ref(&app, &p, r)?),
        (None, None) => None,
    };
    let settings = ProviderSettings {
        name: b.name,
        kind: kind.as_str().to_string(),
        base_url,
        models: b.models,
        status: b.status.unwrap_or_default(),
        workspace: workspace.clone(),
        credential,
        model_overrides,
    };
    exec(
        &app,
        &p,
        &rid,
        &id,
        workspace.as_deref(),
        ProviderCommand::RegisterProvider { id: id.clone(), settings, incarnation, source, at: Utc::now() },
    )
    .await?;
    let v = visible(&app, &p, &id)?;
    Ok(created(&rid, workspace.as_deref(), body(&app, &p, &v)))
}

async fn show(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let v = visible(&app, &p, &id)?;
    Ok(envelope(&rid, v.settings.workspace.as_deref(), body(&app, &p, &v)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UpdateBody {
    name: Option<String>,
    base_url: Option<String>,
    models: Option<Vec<String>>,
    status: Option<ProviderStatus>,
    model_overrides: Option<Vec<serde_json::Value>>,
    /// A new credential (rotation), or null to remove it.
    #[serde(default, with = "layerr_domain::workspace::types::double_option")]
    api_key: Option<Option<String>>,
    /// A named secret to use as the credential instead (admin keys only).
    secret_ref: Option<String>,
}

async fn update(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<UpdateBody>,
) -> Result<Response, ApiError> {
    let v = visible(&app, &p, &id)?;
    may_manage(&p, &v)?;
    if b.api_key.is_some() && b.secret_ref.is_some() {
        return Err(ApiError::field("secretRef", "give apiKey or secretRef, not both"));
    }
    let named = b.secret_ref.as_deref().map(|r| secret_ref(&app, &p, r)).transpose()?;
    let model_overrides = b.model_overrides.map(validate_overrides).transpose()?;
    let source = match &b.base_url {
        Some(url) => check_url(&app, &p, url).await?,
        None if p.is_admin() => UrlSource::Admin,
        None => UrlSource::Workspace,
    };
    let ws = v.settings.workspace.clone();
    let patch =
        ProviderPatch { name: b.name, base_url: b.base_url, models: b.models, status: b.status, model_overrides };
    exec(&app, &p, &rid, &id, ws.as_deref(), ProviderCommand::UpdateProvider { patch, source, at: Utc::now() }).await?;
    if let Some(credential) = named {
        exec(
            &app,
            &p,
            &rid,
            &id,
            ws.as_deref(),
            ProviderCommand::SetCredential { credential: Some(credential), at: Utc::now() },
        )
        .await?;
        forget_secret(&app, v.settings.credential.as_ref()).await;
    }
    if let Some(key) = b.api_key {
        let credential = match key {
            Some(k) if !k.trim().is_empty() => Some(
                app.secrets
                    .store(&app.store.db, &k, ws.as_deref())
                    .await
                    .map_err(|e| ApiError::Unavailable(e.to_string()))?,
            ),
            Some(_) => return Err(ApiError::field("apiKey", "apiKey must not be blank")),
            None => None,
        };
        exec(&app, &p, &rid, &id, ws.as_deref(), ProviderCommand::SetCredential { credential, at: Utc::now() }).await?;
        // The replaced key is no longer needed at rest.
        forget_secret(&app, v.settings.credential.as_ref()).await;
    }
    let v = visible(&app, &p, &id)?;
    Ok(envelope(&rid, ws.as_deref(), body(&app, &p, &v)))
}

async fn remove(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let v = visible(&app, &p, &id)?;
    may_manage(&p, &v)?;
    let ws = v.settings.workspace.clone();
    exec(&app, &p, &rid, &id, ws.as_deref(), ProviderCommand::RemoveProvider { reason: None, at: Utc::now() }).await?;
    forget_secret(&app, v.settings.credential.as_ref()).await;
    Ok(envelope(&rid, ws.as_deref(), json!({ "id": id, "deleted": true })))
}

/// The credential referencing named secret `id`: admin keys only; the secret must exist.
fn secret_ref(app: &AppState, p: &Principal, id: &str) -> Result<CredentialRef, ApiError> {
    if !p.is_admin() {
        return Err(ApiError::Forbidden("secrets are installation-level: only an admin key may reference one".into()));
    }
    let s = app.hot.secret(id).ok_or_else(|| ApiError::field("secretRef", format!("secret '{id}' does not exist")))?;
    Ok(CredentialRef { secret_id: s.id, fingerprint: s.current.fingerprint, named: true })
}

/// Deletes a provider's own key no provider references any more (a named secret is not the
/// provider's to delete). A failure leaves an encrypted row no provider points at: logged, not
/// the caller's problem.
async fn forget_secret(app: &AppState, credential: Option<&CredentialRef>) {
    let Some(c) = credential.filter(|c| !c.named) else { return };
    if let Err(e) = app.secrets.delete(&app.store.db, std::slice::from_ref(&c.secret_id)).await {
        tracing::warn!(error = %e, secret = %c.secret_id, "could not delete a provider's replaced secret");
    }
}
