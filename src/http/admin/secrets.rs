//! Named secrets (admin only): `GET/POST /api/admin/secrets`, `POST /api/admin/secrets/{id}/rotate`,
//! `DELETE /api/admin/secrets/{id}`, and the master-key rotation `POST /api/admin/master-key/rotate`.
//! Answers carry metadata and a fingerprint, never a value or a ciphertext. Secrets are
//! installation-level objects: a workspace key gets 403 on every route here and can reference
//! none (`secretRef` on a provider needs an admin key).
//!
//! A value is stored first (its own row, under a fresh data key) and the event then names that
//! row, so the event is the switch: every node moves to the new value when its in-memory state
//! applies it (this node before answering). The replaced row is deleted after the event; a value
//! still in use elsewhere is in that node's memory, not read from the table.

use axum::extract::State;
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::{Extension, Router};
use chrono::{DateTime, Utc};
use cqrs_es::AggregateError;
use serde::{Deserialize, Serialize};

use layerr_domain::installation::{InstallationCommand, INSTALLATION_ID};
use layerr_domain::secret::{self, SecretCommand, SecretError};

use super::super::auth::AdminOnly;
use super::super::envelope::{created, envelope, RequestId};
use super::super::error::{command_failed, ApiError};
use super::super::extract::{ApiJson, ApiPath};
use super::super::AppState;
use crate::state::{Principal, SecretView};
use crate::store::CommandContext;

/// The largest value accepted (bytes): far above any provider key, far below anything that
/// would make a row or a request expensive.
pub const MAX_VALUE_BYTES: usize = 16 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/secrets", get(list).post(create))
        .route("/api/admin/secrets/{id}", delete(remove))
        .route("/api/admin/secrets/{id}/rotate", post(rotate))
        .route("/api/admin/master-key/rotate", post(rotate_master))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SecretBody {
    id: String,
    name: String,
    /// 1 at creation, +1 per rotation.
    version: u32,
    fingerprint: String,
    /// The master key that wraps the value's data key.
    master_key_id: String,
    /// Providers whose credential is this secret.
    referenced_by: Vec<String>,
    created_at: DateTime<Utc>,
    rotated_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

fn body(app: &AppState, v: SecretView) -> SecretBody {
    SecretBody {
        referenced_by: app.hot.secret_referenced_by(&v.id),
        name: v.id.clone(),
        id: v.id,
        version: v.current.version,
        fingerprint: v.current.fingerprint,
        master_key_id: v.current.master_key_id,
        created_at: v.created_at,
        rotated_at: v.rotated_at,
        updated_at: v.updated_at,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// Also the secret's id.
    name: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    value: String,
}

/// A value is text a provider can receive in a header: 1..=16 KiB, not blank, no control
/// characters. The message never repeats the value.
fn check_value(v: &str) -> Result<(), ApiError> {
    if v.trim().is_empty() || v.len() > MAX_VALUE_BYTES {
        return Err(ApiError::field("value", format!("value must be 1..={MAX_VALUE_BYTES} bytes and not blank")));
    }
    if v.chars().any(char::is_control) {
        return Err(ApiError::field("value", "value must not contain control characters (line breaks included)"));
    }
    Ok(())
}

fn ctx(p: &Principal, rid: &RequestId) -> CommandContext {
    CommandContext { actor: p.key_id().into(), request_id: Some(rid.0.clone()), workspace: None }
}

fn command_error(e: AggregateError<SecretError>, id: &str) -> ApiError {
    command_failed(e, "secret", |u| match u {
        SecretError::AlreadyExists(_) => ApiError::Conflict(format!("secret '{id}' already exists")),
        SecretError::NotFound => ApiError::NotFound(format!("secret '{id}' does not exist")),
        SecretError::Moved => ApiError::Conflict(format!("secret '{id}' was rotated concurrently; retry")),
        SecretError::Invalid(m) => ApiError::validation(m),
    })
}

fn found(app: &AppState, id: &str) -> Result<SecretView, ApiError> {
    app.hot.secret(id).ok_or_else(|| ApiError::NotFound(format!("secret '{id}' does not exist")))
}

/// Points this node's named secrets at what the in-memory state names (after a command), so the
/// next request here uses the new value.
async fn follow(app: &AppState) -> Result<(), ApiError> {
    app.secrets
        .sync_named(&app.store.db, &app.hot.secret_rows())
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))
}

/// Deletes a stored value nothing points at. A failure leaves an encrypted row behind: logged.
async fn forget(app: &AppState, row: &str) {
    if let Err(e) = app.secrets.delete(&app.store.db, &[row.to_string()]).await {
        tracing::warn!(error = %e, row = %row, "could not delete a replaced secret value");
    }
}

async fn list(
    State(app): State<AppState>,
    _admin: AdminOnly,
    Extension(rid): Extension<RequestId>,
) -> Result<Response, ApiError> {
    let data: Vec<SecretBody> = app.hot.secrets().into_iter().map(|v| body(&app, v)).collect();
    Ok(envelope(&rid, None, data))
}

async fn create(
    State(app): State<AppState>,
    AdminOnly(p): AdminOnly,
    Extension(rid): Extension<RequestId>,
    ApiJson(b): ApiJson<CreateBody>,
) -> Result<Response, ApiError> {
    secret::validate_id(&b.name).map_err(|m| ApiError::field("name", m.replacen("id", "name", 1)))?;
    check_value(&b.value)?;
    if app.hot.secret(&b.name).is_some() {
        return Err(ApiError::Conflict(format!("secret '{}' already exists", b.name)));
    }
    let stored =
        app.secrets.store_named(&app.store.db, &b.value).await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
    drop(b.value);
    let cmd = SecretCommand::CreateSecret {
        id: b.name.clone(),
        fingerprint: stored.fingerprint,
        storage_id: stored.storage_id.clone(),
        master_key_id: stored.master_key_id,
        at: Utc::now(),
    };
    if let Err(e) = app.store.execute(&app.store.secrets, &b.name, cmd, &ctx(&p, &rid)).await {
        forget(&app, &stored.storage_id).await;
        return Err(command_error(e, &b.name));
    }
    follow(&app).await?;
    Ok(created(&rid, None, body(&app, found(&app, &b.name)?)))
}

async fn rotate(
    State(app): State<AppState>,
    AdminOnly(p): AdminOnly,
    Extension(rid): Extension<RequestId>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<RotateBody>,
) -> Result<Response, ApiError> {
    let before = found(&app, &id)?;
    check_value(&b.value)?;
    let stored =
        app.secrets.store_named(&app.store.db, &b.value).await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
    drop(b.value);
    let cmd = SecretCommand::RotateSecret {
        fingerprint: stored.fingerprint,
        storage_id: stored.storage_id.clone(),
        master_key_id: stored.master_key_id,
        at: Utc::now(),
    };
    if let Err(e) = app.store.execute(&app.store.secrets, &id, cmd, &ctx(&p, &rid)).await {
        forget(&app, &stored.storage_id).await;
        return Err(command_error(e, &id));
    }
    follow(&app).await?;
    forget(&app, &before.current.storage_id).await;
    Ok(envelope(&rid, None, body(&app, found(&app, &id)?)))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Deleted {
    id: String,
    deleted: bool,
}

async fn remove(
    State(app): State<AppState>,
    AdminOnly(p): AdminOnly,
    Extension(rid): Extension<RequestId>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let v = found(&app, &id)?;
    let users = app.hot.secret_referenced_by(&id);
    if !users.is_empty() {
        return Err(ApiError::Conflict(format!(
            "secret '{id}' is referenced by provider(s) {}; change their credential first",
            users.join(", ")
        )));
    }
    let cmd = SecretCommand::DeleteSecret { at: Utc::now() };
    app.store.execute(&app.store.secrets, &id, cmd, &ctx(&p, &rid)).await.map_err(|e| command_error(e, &id))?;
    follow(&app).await?;
    forget(&app, &v.current.storage_id).await;
    Ok(envelope(&rid, None, Deleted { id, deleted: true }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MasterKeyRotation {
    /// The master key that now wraps every data key.
    master_key_id: String,
    /// The master keys held, current first (older ones still open wraps made with them).
    master_key_ids: Vec<String>,
    /// The keys data keys were wrapped by before (`legacy`: rows from before envelopes).
    rotated_from: Vec<String>,
    /// Stored values whose data key was re-wrapped.
    rewrapped: usize,
    /// Stored values no master key held here opens (left as they are).
    unreadable: usize,
    /// `file` (a new key was generated into the key file) or `environment` (re-wrapped onto the
    /// current `LAYERR_MASTER_KEY`).
    source: &'static str,
    generated: bool,
}

async fn rotate_master(
    State(app): State<AppState>,
    AdminOnly(p): AdminOnly,
    Extension(rid): Extension<RequestId>,
) -> Result<Response, ApiError> {
    let done = app.secrets.rotate_master(&app.store.db).await.map_err(ApiError::internal)?;
    let ctx = ctx(&p, &rid);
    // Each named secret whose value moved records it (ids only); one rotated meanwhile has a new
    // value, already under the new key.
    for v in app.hot.secrets() {
        if v.current.master_key_id == done.to || done.unreadable.contains(&v.current.storage_id) {
            continue;
        }
        let cmd = SecretCommand::RecordRewrap {
            storage_id: v.current.storage_id.clone(),
            master_key_id: done.to.clone(),
            at: Utc::now(),
        };
        match app.store.execute(&app.store.secrets, &v.id, cmd, &ctx).await {
            Ok(()) | Err(AggregateError::UserError(SecretError::Moved | SecretError::NotFound)) => {}
            Err(e) => return Err(command_error(e, &v.id)),
        }
    }
    let cmd = InstallationCommand::RecordMasterKeyRotation {
        from: done.from.clone(),
        to: done.to.clone(),
        rewrapped: u32::try_from(done.rows.len()).unwrap_or(u32::MAX),
        at: Utc::now(),
    };
    app.store
        .execute(&app.store.installation, INSTALLATION_ID, cmd, &ctx)
        .await
        .map_err(|e| command_failed(e, "installation", |u| ApiError::validation(u.to_string())))?;
    Ok(envelope(
        &rid,
        None,
        MasterKeyRotation {
            master_key_id: done.to,
            master_key_ids: app.secrets.key_ids(),
            rotated_from: done.from,
            rewrapped: done.rows.len(),
            unreadable: done.unreadable.len(),
            source: app.secrets.key_source(),
            generated: done.generated,
        },
    ))
}
