//! The OpenAI Responses API inbound: `POST /v1/responses` (JSON, and OpenAI's streaming event
//! lifecycle), `GET`/`DELETE /v1/responses/{id}` and `GET /v1/responses/{id}/input_items`. A
//! Responses request goes through the same chat service as a chat completion (routing,
//! fallback, budgets, rate limits, the trace with endpoint `/v1/responses`). A stored response
//! (`store`, the default) is a `Response` aggregate in the event store, so
//! `previous_response_id` continues a conversation after a restart and on any node.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use layerr_domain::guardrails::Side;
use layerr_domain::response::{
    Item, ItemRole, ResponseCommand, ResponseError, ResponseStatus, ResponseUsage, Stored, StoredResponse,
};
use layerr_domain::workspace::types::ContentCapture;

use super::auth::resolve_workspace;
use super::envelope::RequestId;
use super::error::{command_failed, ApiError};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::AppState;
use crate::api::responses::{
    input_items, item_json, output_items, response_of_item, token_logprobs, InputItem, ResponsesRequest,
};
use crate::gateway::{self, guard, ChatCtx, Reply};
use crate::llm::{self, FinishReason};
use crate::state::Principal;
use crate::store::CommandContext;

mod stream;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/responses", post(create))
        .route("/v1/responses/{id}", get(retrieve).delete(delete))
        .route("/v1/responses/{id}/input_items", get(list_input_items))
}

/// How far back `previous_response_id` is followed.
const MAX_CHAIN: usize = 200;

#[derive(Deserialize, Default)]
struct Query {
    workspace: Option<String>,
}

/// What one request's answer is, for the response object and for storing it.
struct Answered {
    id: String,
    created_at: i64,
    model: String,
    status: ResponseStatus,
    output: Vec<Item>,
    usage: ResponseUsage,
    finish: Option<FinishReason>,
    /// The answer text's token log probabilities, when the request included them.
    logprobs: Vec<Value>,
}

/// The request's parts the response object echoes.
struct Echo {
    instructions: Option<String>,
    previous_response_id: Option<String>,
    metadata: Value,
    tools: Value,
    tool_choice: Value,
    text: Value,
    temperature: Option<f32>,
    top_p: Option<f32>,
    max_output_tokens: Option<u32>,
    parallel_tool_calls: bool,
    store: bool,
}

impl Echo {
    fn of(b: &ResponsesRequest) -> Echo {
        Echo {
            instructions: b.instructions.clone(),
            previous_response_id: b.previous_response_id.clone(),
            metadata: b.metadata.clone().map_or(json!({}), Value::Object),
            tools: json!(b.tools.clone().unwrap_or_default()),
            tool_choice: b.tool_choice.clone().unwrap_or(json!("auto")),
            text: json!({"format": b.text.as_ref().and_then(|t| t.format.clone()).unwrap_or(json!({"type": "text"}))}),
            temperature: b.temperature,
            top_p: b.top_p,
            max_output_tokens: b.max_output_tokens,
            parallel_tool_calls: b.parallel_tool_calls.unwrap_or(true),
            store: b.store.unwrap_or(true),
        }
    }

    fn from_stored(s: &Stored) -> Echo {
        Echo {
            instructions: s.instructions.clone(),
            previous_response_id: s.previous_response_id.clone(),
            metadata: Value::Object(s.metadata.iter().map(|(k, v)| (k.clone(), json!(v))).collect()),
            tools: json!([]),
            tool_choice: json!("auto"),
            text: json!({"format": {"type": "text"}}),
            temperature: None,
            top_p: None,
            max_output_tokens: None,
            parallel_tool_calls: true,
            store: true,
        }
    }
}

fn usage_json(u: &ResponseUsage) -> Value {
    json!({
        "input_tokens": u.input_tokens, "input_tokens_details": {"cached_tokens": u.cached_tokens},
        "output_tokens": u.output_tokens, "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": u.input_tokens + u.output_tokens,
    })
}

fn incomplete_details(finish: Option<FinishReason>) -> Value {
    match finish {
        Some(FinishReason::Length) => json!({"reason": "max_output_tokens"}),
        Some(FinishReason::ContentFilter) => json!({"reason": "content_filter"}),
        _ => Value::Null,
    }
}

/// An output item as the response shows it: the answer's message with its log probabilities.
fn output_json(item: &Item, logprobs: &[Value]) -> Value {
    let mut v = item_json(item);
    if !logprobs.is_empty() && matches!(item, Item::Message { role: ItemRole::Assistant, .. }) {
        v["content"][0]["logprobs"] = json!(logprobs);
    }
    v
}

/// The response object; `status` `in_progress` (no output yet) while a stream starts.
fn object(a: &Answered, e: &Echo, status: &str) -> Value {
    let done = status != "in_progress";
    json!({
        "id": a.id, "object": "response", "created_at": a.created_at, "status": status,
        "error": null,
        "incomplete_details": if done { incomplete_details(a.finish) } else { Value::Null },
        "instructions": e.instructions, "max_output_tokens": e.max_output_tokens, "model": a.model,
        "output": if done { a.output.iter().map(|i| output_json(i, &a.logprobs)).collect::<Vec<_>>() } else { vec![] },
        "parallel_tool_calls": e.parallel_tool_calls, "previous_response_id": e.previous_response_id,
        "reasoning": {"effort": null, "summary": null}, "store": e.store,
        "temperature": e.temperature.unwrap_or(1.0), "text": e.text, "tool_choice": e.tool_choice,
        "tools": e.tools, "top_p": e.top_p.unwrap_or(1.0), "truncation": "disabled",
        "usage": if done { usage_json(&a.usage) } else { Value::Null },
        "metadata": e.metadata,
    })
}

fn usage_of(u: &llm::Usage) -> ResponseUsage {
    ResponseUsage {
        input_tokens: u.prompt_tokens,
        output_tokens: u.completion_tokens,
        cached_tokens: u.cached_tokens,
        reasoning_tokens: u.reasoning_tokens,
    }
}

fn status_of(finish: Option<FinishReason>) -> ResponseStatus {
    match finish {
        Some(FinishReason::Length | FinishReason::ContentFilter) => ResponseStatus::Incomplete,
        _ => ResponseStatus::Completed,
    }
}

/// A stored response the caller may see (a workspace key sees its own workspace's only).
async fn load(app: &AppState, p: &Principal, id: &str, requested: Option<&str>) -> Result<Stored, ApiError> {
    let not_found = || ApiError::NotFound(format!("Response with id '{id}' not found."));
    let agg: StoredResponse =
        app.store.load(id).await.map_err(|e| command_failed(e, "the response could not be read", |_| not_found()))?;
    let stored = agg.live().map_err(|_| not_found())?;
    let ws = resolve_workspace(app, p, requested.or(Some(&stored.workspace))).map_err(|_| not_found())?;
    if ws.slug != stored.workspace {
        return Err(not_found());
    }
    Ok(stored.clone())
}

/// The items of the responses before `previous` (oldest first): each one's input and output.
async fn history(app: &AppState, p: &Principal, workspace: &str, previous: &str) -> Result<Vec<Item>, ApiError> {
    let mut chain = Vec::new();
    let mut next = Some(previous.to_string());
    while let Some(id) = next {
        if chain.len() >= MAX_CHAIN {
            return Err(ApiError::field(
                "previous_response_id",
                format!("the conversation is longer than {MAX_CHAIN} responses"),
            ));
        }
        let stored = load(app, p, &id, Some(workspace)).await.map_err(|e| match e {
            ApiError::NotFound(_) => {
                ApiError::field("previous_response_id", format!("Previous response with id '{id}' not found."))
            }
            other => other,
        })?;
        next = stored.previous_response_id.clone();
        chain.push(stored);
    }
    Ok(chain.into_iter().rev().flat_map(|s| s.input.into_iter().chain(s.output)).collect())
}

/// The request's input with every `item_reference` replaced by the stored item it names (an
/// output item of a stored response of this workspace; each response is read once).
async fn resolve(app: &AppState, p: &Principal, workspace: &str, input: Vec<InputItem>) -> Result<Vec<Item>, ApiError> {
    let mut loaded: Vec<(String, Stored)> = Vec::new();
    let mut out = Vec::with_capacity(input.len());
    for (i, entry) in input.into_iter().enumerate() {
        let id = match entry {
            InputItem::Given(item) => {
                out.push(item);
                continue;
            }
            InputItem::Reference(id) => id,
        };
        let not_found = || ApiError::field(format!("input[{i}].id"), format!("Item with id '{id}' not found."));
        let Some(resp) = response_of_item(&id) else { return Err(not_found()) };
        if !loaded.iter().any(|(r, _)| *r == resp) {
            let stored = match load(app, p, &resp, Some(workspace)).await {
                Ok(s) => s,
                Err(ApiError::NotFound(_)) => return Err(not_found()),
                Err(e) => return Err(e),
            };
            loaded.push((resp.clone(), stored));
        }
        let found = loaded
            .iter()
            .filter(|(r, _)| *r == resp)
            .flat_map(|(_, s)| s.input.iter().chain(&s.output))
            .find(|item| item_id(item) == id);
        out.push(found.cloned().ok_or_else(not_found)?);
    }
    Ok(out)
}

fn item_id(i: &Item) -> &str {
    match i {
        Item::Message { id, .. } | Item::FunctionCall { id, .. } | Item::FunctionCallOutput { id, .. } => id,
    }
}

/// Everything `store` needs to keep a response, once it is answered.
struct Keep {
    app: AppState,
    ctx: CommandContext,
    workspace: String,
    trace_id: String,
    body_model: String,
    previous: Option<String>,
    instructions: Option<String>,
    input: Vec<Item>,
    metadata: Vec<(String, String)>,
}

impl Keep {
    async fn store(self, a: &Answered) {
        let mut input = self.input;
        crate::api::responses::name_input_items(&mut input, &self.trace_id.replace('-', ""));
        // What the guardrails matched is masked in what the response keeps.
        let hot = &self.app.hot;
        let input = guard::masked_for_storage(hot, &self.workspace, Side::Input, input);
        let output = guard::masked_for_storage(hot, &self.workspace, Side::Output, a.output.clone());
        let instructions =
            self.instructions.map(|i| guard::masked_text_for_storage(hot, &self.workspace, Side::Input, i));
        let stored = Stored {
            workspace: self.workspace,
            trace_id: self.trace_id,
            model: if a.model.is_empty() { self.body_model } else { a.model.clone() },
            previous_response_id: self.previous,
            instructions,
            status: a.status,
            input,
            output,
            usage: a.usage,
            metadata: self.metadata,
        };
        let (app, tracker) = (self.app.clone(), self.app.tracker.clone());
        let (id, ctx) = (a.id.clone(), self.ctx);
        // On the tracker: a client leaving cannot cancel it half-way, and shutdown waits for it.
        let task = tracker.spawn(async move {
            let cmd = ResponseCommand::Store { stored: Box::new(stored), at: Utc::now() };
            app.store.execute(&app.store.responses, &id, cmd, &ctx).await
        });
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(response = %a.id, error = %e, "a response could not be stored"),
            Err(e) => tracing::error!(response = %a.id, error = %e, "storing a response failed"),
        }
    }
}

async fn create(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<Query>,
    ApiJson(body): ApiJson<ResponsesRequest>,
) -> Result<Response, ApiError> {
    let mut opts = super::inbound::options(body.layerr.as_ref(), &headers)?;
    opts.dropped.extend(body.dropped());
    let requested = body.layerr.as_ref().and_then(|l| l.workspace.as_deref()).or(q.workspace.as_deref());
    let ws = resolve_workspace(&app, &p, requested)?;
    let input = input_items(body.input.as_ref()).map_err(|(f, m)| ApiError::field(f, m))?;
    let input = resolve(&app, &p, &ws.slug, input).await?;
    let history = match &body.previous_response_id {
        Some(prev) => history(&app, &p, &ws.slug, prev).await?,
        None => Vec::new(),
    };
    let req = body.to_canonical(&history, &input).map_err(|(f, m)| ApiError::field(f, m))?;
    let content =
        (ws.runtime.content_capture == ContentCapture::Full).then(|| serde_json::to_value(&body).unwrap_or_default());
    let slug = ws.slug.clone();
    let ctx =
        ChatCtx { key_id: p.key_id().to_string(), workspace: ws, request_id: rid.0.clone(), endpoint: "/v1/responses" };
    let (result, explain) = gateway::chat(&app, ctx, req, &opts, content).await;
    let dropped = super::inbound::dropped_params(&result);
    let trace = explain.trace_id.replace('-', "");
    let echo = Echo::of(&body);
    let keep = echo.store.then(|| Keep {
        app: app.clone(),
        ctx: CommandContext {
            actor: p.key_id().to_string(),
            request_id: Some(rid.0.clone()),
            workspace: Some(slug.clone()),
        },
        workspace: slug.clone(),
        trace_id: explain.trace_id.clone(),
        body_model: body.model.clone(),
        previous: body.previous_response_id.clone(),
        instructions: body.instructions.clone(),
        input,
        metadata: body
            .metadata
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect(),
    });
    let mut resp = match result {
        Ok(Reply::Full(r, outcome)) => {
            let finish = r.choices.first().and_then(|c| c.finish_reason);
            let a = Answered {
                id: format!("resp_{trace}"),
                created_at: Utc::now().timestamp(),
                model: r.model.clone(),
                status: status_of(finish),
                output: output_items(&r, &trace),
                usage: usage_of(&outcome.usage),
                finish,
                logprobs: if body.wants_logprobs() {
                    token_logprobs(r.choices.first().and_then(|c| c.logprobs.as_ref()))
                } else {
                    Vec::new()
                },
            };
            if let Some(k) = keep {
                k.store(&a).await;
            }
            Json(object(&a, &echo, a.status.as_str())).into_response()
        }
        Ok(Reply::Stream(s)) => super::sse::response(stream::sse_body(trace, s, echo, keep, body.wants_logprobs())),
        Err(e) => ApiError::from(e).into_response(),
    };
    super::explain::headers(&explain, resp.headers_mut());
    super::inbound::dropped_header(&dropped, resp.headers_mut());
    Ok(resp)
}

async fn retrieve(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<Query>,
) -> Result<Response, ApiError> {
    let agg: StoredResponse = app
        .store
        .load(&id)
        .await
        .map_err(|e| command_failed(e, "the response could not be read", |_| ApiError::NotFound(id.clone())))?;
    let stored = load(&app, &p, &id, q.workspace.as_deref()).await?;
    let a = Answered {
        id: id.clone(),
        created_at: agg.created_at.map_or(0, |t| t.timestamp()),
        model: stored.model.clone(),
        status: stored.status,
        output: stored.output.clone(),
        usage: stored.usage,
        finish: None,
        logprobs: Vec::new(),
    };
    Ok(Json(object(&a, &Echo::from_stored(&stored), stored.status.as_str())).into_response())
}

async fn delete(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<Query>,
) -> Result<Response, ApiError> {
    let stored = load(&app, &p, &id, q.workspace.as_deref()).await?;
    let ctx = CommandContext {
        actor: p.key_id().to_string(),
        request_id: Some(rid.0.clone()),
        workspace: Some(stored.workspace),
    };
    app.store.execute(&app.store.responses, &id, ResponseCommand::Delete { at: Utc::now() }, &ctx).await.map_err(
        |e| {
            command_failed(e, "the response could not be deleted", |e| match e {
                ResponseError::NotFound | ResponseError::Deleted => {
                    ApiError::NotFound(format!("Response with id '{id}' not found."))
                }
                other => ApiError::validation(other.to_string()),
            })
        },
    )?;
    Ok(Json(json!({"id": id, "object": "response", "deleted": true})).into_response())
}

#[derive(Deserialize, Default)]
struct ItemsQuery {
    workspace: Option<String>,
    limit: Option<u32>,
    order: Option<Order>,
    after: Option<String>,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Order {
    Asc,
    Desc,
}

async fn list_input_items(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ItemsQuery>,
) -> Result<Response, ApiError> {
    let stored = load(&app, &p, &id, q.workspace.as_deref()).await?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::field("limit", "limit must be from 1 to 100"));
    }
    let mut items: Vec<&Item> = stored.input.iter().collect();
    if q.order.unwrap_or(Order::Desc) == Order::Desc {
        items.reverse();
    }
    let id_of = |i: &Item| item_id(i).to_string();
    let start = match &q.after {
        Some(a) => items.iter().position(|i| &id_of(i) == a).map_or(items.len(), |p| p + 1),
        None => 0,
    };
    let page: Vec<&Item> = items.iter().skip(start).take(limit as usize).copied().collect();
    let has_more = start + page.len() < items.len();
    Ok(Json(json!({
        "object": "list",
        "data": page.iter().map(|i| item_json(i)).collect::<Vec<_>>(),
        "first_id": page.first().map(|i| id_of(i)),
        "last_id": page.last().map(|i| id_of(i)),
        "has_more": has_more,
    }))
    .into_response())
}
