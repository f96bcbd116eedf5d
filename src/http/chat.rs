//! The native chat routes: `POST /api/chat` and `POST /api/conversations/{id}/messages`. A turn
//! is validated, its `context.files` resolved, the conversation's stored history prepended, and
//! the request run through the gateway (routing, fallback, trace). The user's messages and the
//! answer are then appended to the Conversation aggregate in one command, so a conversation only
//! ever holds complete turns. Streams are framed as OpenAI chunks and record the turn from the
//! service's typed outcome before the final `[DONE]`, so a client that has read it finds the
//! answer in the conversation.

mod files;
mod stream;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use layerr_domain::conversation::{
    Conversation, ConversationCommand, ConversationError, MessageRole, NewMessage, Tokens,
};
use layerr_domain::guardrails::Side;
use layerr_domain::workspace::types::{ContentCapture, FallbackMode};

use super::auth::resolve_workspace;
use super::conversations::{find, not_found};
use super::envelope::{envelope, usd, RequestId};
use super::error::{command_failed, ApiError};
use super::extract::{ApiJson, ApiPath};
use super::AppState;
use crate::api::openai::ChatCompletionRequest;
use crate::gateway::{self, ChatCtx, ChatOptions, Explain, Outcome, Reply};
use crate::llm::{ChatRequest, ChatResponse, Message, Role, Usage};
use crate::routing::AUTO_MODEL;
use crate::state::{Principal, WorkspaceView};
use crate::store::CommandContext;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/chat", post(chat)).route("/api/conversations/{id}/messages", post(add_messages))
}

/// Most messages one turn may carry.
const MAX_MESSAGES: usize = 500;
/// Characters of the first user message kept as a new conversation's title.
const TITLE_CHARS: usize = 80;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ChatBody {
    messages: Option<Vec<InMessage>>,
    conversation_id: Option<String>,
    context: Option<ChatContext>,
    preferences: Option<Preferences>,
    model: Option<String>,
    stream: Option<bool>,
    temperature: Option<f32>,
    max_tokens: Option<u32>,
    /// Admin keys: the workspace to act on (a workspace key may only name its own).
    workspace: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InMessage {
    role: MessageRole,
    content: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatContext {
    files: Option<Vec<files::FileRef>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Preferences {
    strategy: Option<String>,
    /// USD: the hard ceiling on a candidate's estimated cost.
    max_cost: Option<f64>,
    /// Milliseconds: the request's time budget.
    max_latency: Option<u64>,
    fallback: Option<FallbackMode>,
}

/// A validated turn.
struct Turn {
    messages: Vec<(MessageRole, String)>,
    files: Vec<files::FileRef>,
    opts: ChatOptions,
    model: String,
    stream: bool,
    temperature: Option<f32>,
    max_tokens: Option<u32>,
}

fn validate(body: ChatBody) -> Result<Turn, ApiError> {
    let messages = body.messages.ok_or_else(|| ApiError::field("messages", "messages is required"))?;
    if messages.is_empty() || messages.len() > MAX_MESSAGES {
        return Err(ApiError::field("messages", format!("messages must hold 1..={MAX_MESSAGES} messages")));
    }
    for (i, m) in messages.iter().enumerate() {
        if m.role != MessageRole::Assistant && m.content.trim().is_empty() {
            return Err(ApiError::field(format!("messages[{i}].content"), "content must not be blank"));
        }
    }
    let last = messages.len() - 1;
    if messages[last].role != MessageRole::User {
        return Err(ApiError::field(format!("messages[{last}].role"), "the last message must be the user's"));
    }
    if body.model.as_ref().is_some_and(|m| m.trim().is_empty() || m.chars().count() > 200) {
        return Err(ApiError::field("model", "model must be 1..=200 characters"));
    }
    if body.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
        return Err(ApiError::field("temperature", "temperature must be between 0 and 2"));
    }
    if body.max_tokens == Some(0) {
        return Err(ApiError::field("maxTokens", "maxTokens must be at least 1"));
    }
    let prefs = body.preferences.unwrap_or_default();
    if prefs.strategy.as_ref().is_some_and(|s| s.trim().is_empty() || s.chars().count() > 100) {
        return Err(ApiError::field("preferences.strategy", "strategy must be 1..=100 characters"));
    }
    let max_cost_micros = match prefs.max_cost {
        None => None,
        Some(usd) if !usd.is_finite() || usd <= 0.0 || usd > 1_000_000.0 => {
            return Err(ApiError::field(
                "preferences.maxCost",
                "maxCost must be a USD amount above 0 (at most 1000000)",
            ));
        }
        Some(usd) => {
            let micros = (usd * 1_000_000.0).round() as i64;
            if micros < 1 {
                return Err(ApiError::field("preferences.maxCost", "maxCost must be at least 0.000001 USD"));
            }
            Some(micros)
        }
    };
    if prefs.max_latency.is_some_and(|ms| !(1..=3_600_000).contains(&ms)) {
        return Err(ApiError::field("preferences.maxLatency", "maxLatency must be 1..=3600000 milliseconds"));
    }
    Ok(Turn {
        messages: messages.into_iter().map(|m| (m.role, m.content)).collect(),
        files: body.context.and_then(|c| c.files).unwrap_or_default(),
        opts: ChatOptions {
            strategy: prefs.strategy,
            fallback: prefs.fallback,
            max_cost_micros,
            max_latency_ms: prefs.max_latency,
            ..ChatOptions::default()
        },
        model: body.model.unwrap_or_else(|| AUTO_MODEL.to_string()),
        stream: body.stream.unwrap_or(false),
        temperature: body.temperature,
        max_tokens: body.max_tokens,
    })
}

/// The conversation a turn goes to: a stored one (with its history) or a new one.
struct Target {
    id: String,
    existing: Option<Conversation>,
    ctx: CommandContext,
}

async fn chat(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiJson(body): ApiJson<ChatBody>,
) -> Response {
    let id = body.conversation_id.clone();
    if let Some(id) = &id {
        if uuid::Uuid::parse_str(id).is_err() {
            return ApiError::field("conversationId", "conversationId must be an id this API returned").into_response();
        }
    }
    turn(app, p, rid, body, id, "/api/chat").await.unwrap_or_else(IntoResponse::into_response)
}

async fn add_messages(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ChatBody>,
) -> Response {
    if body.conversation_id.is_some() {
        return ApiError::field(
            "conversationId",
            "the conversation is the one in the path; conversationId is not accepted here",
        )
        .into_response();
    }
    if uuid::Uuid::parse_str(&id).is_err() {
        return not_found(&id).into_response();
    }
    turn(app, p, rid, body, Some(id), "/api/conversations/{id}/messages")
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn turn(
    app: AppState,
    p: Principal,
    rid: RequestId,
    body: ChatBody,
    conversation: Option<String>,
    endpoint: &'static str,
) -> Result<Response, ApiError> {
    let requested = body.workspace.clone();
    let mut turn = validate(body)?;
    let (ws, existing) = match &conversation {
        Some(id) => {
            let c = find(&app, &p, id, requested.as_deref()).await?;
            let slug = c.workspace.clone().unwrap_or_default();
            (resolve_workspace(&app, &p, Some(&slug))?, Some(c))
        }
        None => (resolve_workspace(&app, &p, requested.as_deref())?, None),
    };
    let target = Target {
        id: conversation.unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
        existing,
        ctx: CommandContext {
            actor: p.key_id().to_string(),
            request_id: Some(rid.0.clone()),
            workspace: Some(ws.slug.clone()),
        },
    };
    let context = files::resolve(std::mem::take(&mut turn.files), ws.runtime.files_root.clone()).await?;
    let req = canonical(&turn, target.existing.as_ref(), &context);
    let content = (ws.runtime.content_capture == ContentCapture::Full).then(|| {
        serde_json::to_value(ChatCompletionRequest::from_canonical(&req, &req.model, req.stream, &Default::default()))
            .unwrap_or_default()
    });
    let ctx = ChatCtx { key_id: p.key_id().to_string(), workspace: ws.clone(), request_id: rid.0.clone(), endpoint };
    let (result, explain) = gateway::chat(&app, ctx, req, &turn.opts, content).await;
    let user: Vec<NewMessage> = turn
        .messages
        .into_iter()
        .map(|(role, c)| NewMessage { trace_id: Some(explain.trace_id.clone()), ..NewMessage::text(role, c) })
        .collect();
    let conversation_id = target.id.clone();
    let known = target.existing.is_some();
    let outcome = match result {
        Ok(Reply::Full(r, outcome)) => full_reply(&app, &rid, &ws, target, user, &explain, &r, &outcome).await,
        Ok(Reply::Stream(s)) => {
            let rec = stream::Pending { app: app.clone(), target, ws, user, explain: explain.clone() };
            Ok(super::sse::response(stream::forward(s, rec)))
        }
        Err(e) => Err(ApiError::from(e)),
    };
    // A failed first turn records nothing, so it names no conversation.
    let mut resp = outcome.unwrap_or_else(IntoResponse::into_response);
    if resp.status().is_success() || known {
        conversation_header(resp.headers_mut(), &conversation_id);
    }
    super::explain::headers(&explain, resp.headers_mut());
    Ok(resp)
}

/// Records the answered turn and builds the response body.
#[allow(clippy::too_many_arguments, reason = "the turn's parts, each used once")]
async fn full_reply(
    app: &AppState,
    rid: &RequestId,
    ws: &WorkspaceView,
    target: Target,
    mut messages: Vec<NewMessage>,
    explain: &Explain,
    r: &ChatResponse,
    outcome: &Outcome,
) -> Result<Response, ApiError> {
    let choice = r.choices.first();
    let content = choice.map(|c| c.message.content_text()).unwrap_or_default();
    let (usage, cost) = (outcome.usage, outcome.cost_micros);
    let (provider, model) = (outcome.provider.clone(), outcome.model.clone());
    messages.push(answer(explain, content.clone(), &usage, cost));
    // The answer was paid for: if the conversation cannot take it (deleted meanwhile, a store
    // failure), the client still gets it, with a warning instead of the conversation update.
    let warning = match record(app, &target, ws, messages).await {
        Ok(()) => None,
        Err(e) => {
            tracing::warn!(conversation = %target.id, error = %e, "answer not added to its conversation");
            Some(format!("the answer could not be added to the conversation: {e}"))
        }
    };
    let mut message = json!({"role": "assistant", "content": content});
    if let Some(c) = choice.filter(|c| !c.message.tool_calls.is_empty()) {
        let calls =
            c.message.tool_calls.iter().map(
                |t| json!({"id": t.id, "type": "function", "function": {"name": t.name, "arguments": t.arguments}}),
            );
        message["toolCalls"] = Value::Array(calls.collect());
    }
    Ok(envelope(
        rid,
        Some(&ws.slug),
        json!({
            "conversationId": target.id,
            "traceId": explain.trace_id,
            "message": message,
            "provider": provider,
            "model": model,
            "usage": {"tokensIn": usage.prompt_tokens, "tokensOut": usage.completion_tokens},
            "costUsd": usd(cost),
            "finishReason": choice.and_then(|c| c.finish_reason).map(|f| f.as_str()),
            "routing": routing(explain),
            "warning": warning,
        }),
    ))
}

fn conversation_header(h: &mut HeaderMap, id: &str) {
    if let Ok(v) = HeaderValue::from_str(id) {
        h.insert("x-layerr-conversation-id", v);
    }
}

fn llm_role(r: MessageRole) -> Role {
    match r {
        MessageRole::System => Role::System,
        MessageRole::User => Role::User,
        MessageRole::Assistant => Role::Assistant,
    }
}

/// The prompt: the files section, the stored history, then the turn's own messages.
fn canonical(turn: &Turn, history: Option<&Conversation>, context: &[files::ContextFile]) -> ChatRequest {
    let mut messages = Vec::new();
    if !context.is_empty() {
        messages.push(Message::text(Role::System, files::prompt_section(context)));
    }
    for m in history.map(|c| c.messages.as_slice()).unwrap_or_default() {
        messages.push(Message::text(llm_role(m.message.role), m.message.content.clone()));
    }
    for (role, content) in &turn.messages {
        messages.push(Message::text(llm_role(*role), content.clone()));
    }
    ChatRequest {
        model: turn.model.clone(),
        messages,
        stream: turn.stream,
        // A streamed turn's client gets the usage chunk, as the recorded answer has it.
        include_usage: turn.stream,
        n: 1,
        max_tokens: turn.max_tokens,
        temperature: turn.temperature,
        ..ChatRequest::default()
    }
}

fn answer(explain: &Explain, content: String, usage: &Usage, cost: i64) -> NewMessage {
    NewMessage {
        role: MessageRole::Assistant,
        content,
        trace_id: Some(explain.trace_id.clone()),
        model: explain.model.clone(),
        provider: explain.provider.clone(),
        tokens: Some(Tokens { tokens_in: usage.prompt_tokens, tokens_out: usage.completion_tokens }),
        cost_micros: Some(cost),
    }
}

fn title(messages: &[NewMessage]) -> Option<String> {
    let first = messages.iter().find(|m| m.role == MessageRole::User)?;
    let line = first.content.trim().lines().next().unwrap_or_default().trim();
    let mut t: String = line.chars().take(TITLE_CHARS).collect();
    if line.chars().count() > TITLE_CHARS {
        t.push('…');
    }
    (!t.is_empty()).then_some(t)
}

/// Appends a whole turn (the user's messages and the answer) in one command.
async fn record(
    app: &AppState,
    target: &Target,
    ws: &WorkspaceView,
    messages: Vec<NewMessage>,
) -> Result<(), ApiError> {
    let at = Utc::now();
    // What the guardrails matched is masked in what the conversation keeps.
    let messages: Vec<NewMessage> = messages
        .into_iter()
        .map(|mut m| {
            let side = if m.role == MessageRole::Assistant { Side::Output } else { Side::Input };
            m.content = crate::gateway::guard::masked_text_for_storage(&app.hot, &ws.slug, side, m.content);
            m
        })
        .collect();
    let cmd = match target.existing {
        Some(_) => ConversationCommand::AddMessages { messages, at },
        None => {
            ConversationCommand::StartConversation { workspace: ws.slug.clone(), title: title(&messages), messages, at }
        }
    };
    app.store.execute(&app.store.conversations, &target.id, cmd, &target.ctx).await.map_err(|e| {
        command_failed(e, "conversation", |e| match e {
            ConversationError::NotFound | ConversationError::Deleted => not_found(&target.id),
            ConversationError::AlreadyExists => ApiError::Conflict("the conversation already exists".into()),
            ConversationError::Invalid(m) => ApiError::validation(m),
        })
    })
}

fn routing(explain: &Explain) -> Value {
    let attempts: Vec<Value> = explain
        .attempts
        .iter()
        .map(|a| json!({"provider": a.provider, "model": a.model, "outcome": a.outcome()}))
        .collect();
    json!({
        "intent": explain.intent,
        "intentConfidence": explain.confidence,
        "strategy": explain.strategy,
        "summary": explain.summary,
        "attempts": attempts,
    })
}
