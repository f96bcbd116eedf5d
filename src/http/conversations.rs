//! Conversation routes: list (the `conversations` read model, newest first, cursor paging), get
//! and delete (the Conversation aggregate itself, so a turn just answered is always there). A
//! workspace key sees its own workspace's conversations only; anything else is a 404, whether it
//! exists or not. Admin keys see every workspace's (`?workspace=` narrows).

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use layerr_domain::conversation::{Conversation, ConversationCommand, ConversationError};
use layerr_projections::conversations::{self, ConversationFilter};

use super::auth::resolve_workspace;
use super::envelope::{envelope, next_page, page, usd, Page, RequestId};
use super::error::{command_failed, ApiError};
use super::extract::{ApiPath, ApiQuery};
use super::AppState;
use crate::state::Principal;
use crate::store::CommandContext;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/conversations", get(list)).route("/api/conversations/{id}", get(show).delete(remove))
}

pub fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("conversation '{id}' does not exist"))
}

/// A live conversation the caller may see (`requested`: an admin's or a key's `workspace`).
pub async fn find(app: &AppState, p: &Principal, id: &str, requested: Option<&str>) -> Result<Conversation, ApiError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(not_found(id));
    }
    let c: Conversation = app
        .store
        .load(id)
        .await
        .map_err(|e| command_failed(e, "conversation", |e: ConversationError| ApiError::internal(e)))?;
    let Some(ws) = c.workspace.as_deref().filter(|_| c.is_live()) else { return Err(not_found(id)) };
    let visible = match p {
        Principal::Workspace { slug, .. } => ws == slug && requested.is_none_or(|r| r == slug),
        Principal::Admin { .. } => requested.is_none_or(|r| r == ws),
    };
    if visible {
        Ok(c)
    } else {
        Err(not_found(id))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkspaceQuery {
    workspace: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    workspace: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

fn parse_cursor(v: &Option<String>) -> Result<Option<(i64, String)>, ApiError> {
    let Some(c) = v else { return Ok(None) };
    let bad = || ApiError::field("cursor", "cursor is not one this API returned");
    let (at, id) = c.split_once('_').ok_or_else(bad)?;
    uuid::Uuid::parse_str(id).map_err(|_| bad())?;
    Ok(Some((at.parse().map_err(|_| bad())?, id.to_string())))
}

async fn list(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let ws = resolve_workspace(&app, &p, q.workspace.as_deref())?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::field("limit", "limit must be between 1 and 200"));
    }
    let filter =
        ConversationFilter { workspace: ws.slug.clone(), before: parse_cursor(&q.cursor)?, limit: limit as i64 + 1 };
    let mut rows =
        conversations::list(&app.store.db, &filter).await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let next_cursor = next_page(&mut rows, limit, |c| format!("{}_{}", c.created_at.timestamp_millis(), c.id));
    let data: Vec<Value> = rows
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "title": c.title,
                "createdAt": c.created_at,
                "updatedAt": c.updated_at,
                "messageCount": c.message_count,
                "usage": {"tokensIn": c.tokens_in, "tokensOut": c.tokens_out},
                "costUsd": usd(c.cost_micros),
                "lastMessage": c.last_message,
            })
        })
        .collect();
    Ok(page(&rid, Some(&ws.slug), Page { limit, next_cursor }, data))
}

fn detail(id: &str, c: &Conversation) -> Value {
    let (mut tokens_in, mut tokens_out, mut cost) = (0u64, 0u64, 0i64);
    let messages: Vec<Value> = c
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let m_ = &m.message;
            if let Some(t) = m_.tokens {
                tokens_in = tokens_in.saturating_add(t.tokens_in);
                tokens_out = tokens_out.saturating_add(t.tokens_out);
            }
            cost = cost.saturating_add(m_.cost_micros.unwrap_or(0));
            json!({
                "index": i,
                "role": m_.role,
                "content": m_.content,
                "traceId": m_.trace_id,
                "provider": m_.provider,
                "model": m_.model,
                "usage": m_.tokens.map(|t| json!({"tokensIn": t.tokens_in, "tokensOut": t.tokens_out})),
                "costUsd": m_.cost_micros.map(usd),
                "at": m.at,
            })
        })
        .collect();
    json!({
        "id": id,
        "workspace": c.workspace,
        "title": c.title,
        "createdAt": c.created_at,
        "updatedAt": c.updated_at,
        "messageCount": messages.len(),
        "usage": {"tokensIn": tokens_in, "tokensOut": tokens_out},
        "costUsd": usd(cost),
        "messages": messages,
    })
}

async fn show(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<WorkspaceQuery>,
) -> Result<Response, ApiError> {
    let c = find(&app, &p, &id, q.workspace.as_deref()).await?;
    Ok(envelope(&rid, c.workspace.as_deref(), detail(&id, &c)))
}

async fn remove(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<WorkspaceQuery>,
) -> Result<Response, ApiError> {
    let c = find(&app, &p, &id, q.workspace.as_deref()).await?;
    let ctx = CommandContext { actor: p.key_id().to_string(), request_id: Some(rid.0.clone()), workspace: c.workspace };
    let cmd = ConversationCommand::DeleteConversation { at: Utc::now() };
    app.store.execute(&app.store.conversations, &id, cmd, &ctx).await.map_err(|e| {
        command_failed(e, "conversation", |e| match e {
            ConversationError::NotFound | ConversationError::Deleted => not_found(&id),
            other => ApiError::validation(other.to_string()),
        })
    })?;
    Ok(envelope(&rid, ctx.workspace.as_deref(), json!({ "id": id, "deleted": true })))
}
