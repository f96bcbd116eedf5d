//! The OpenAI-compatible routes: chat completions (JSON and SSE), models, embeddings. Bodies and
//! errors are what the official OpenAI SDKs parse; every chat response carries
//! `x-layerr-trace-id`, and `layerr.explain` adds the routing explanation headers.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;

use layerr_domain::workspace::types::ContentCapture;

use super::auth::resolve_workspace;
use super::envelope::RequestId;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::AppState;
use crate::api::openai::{
    ChatCompletion, ChatCompletionRequest, EmbeddingData, EmbeddingVector, EmbeddingsRequest, EmbeddingsResponse,
    ModelList, ModelObject, WireUsage,
};
use crate::gateway::{self, ChatCtx, Reply};
use crate::llm::EmbeddingRequest;
use crate::routing::AUTO_MODEL;
use crate::state::Principal;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/completions", post(super::completions::completions))
        .route("/v1/models", get(list_models))
        .route("/v1/models/{*model}", get(get_model))
        .route("/v1/embeddings", post(embeddings))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct WorkspaceQuery {
    workspace: Option<String>,
}

async fn chat_completions(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<WorkspaceQuery>,
    ApiJson(body): ApiJson<ChatCompletionRequest>,
) -> Response {
    let opts = match super::inbound::options(body.layerr.as_ref(), &headers) {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    let requested = body.layerr.as_ref().and_then(|l| l.workspace.as_deref()).or(q.workspace.as_deref());
    let ws = match resolve_workspace(&app, &p, requested) {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    let req = match body.to_canonical() {
        Ok(r) => r,
        Err((field, msg)) => return ApiError::field(field, msg).into_response(),
    };
    let content =
        (ws.runtime.content_capture == ContentCapture::Full).then(|| serde_json::to_value(&body).unwrap_or_default());
    let ctx = ChatCtx {
        key_id: p.key_id().to_string(),
        workspace: ws,
        request_id: rid.0.clone(),
        endpoint: "/v1/chat/completions",
    };
    let (result, explain) = gateway::chat(&app, ctx, req, &opts, content).await;
    let dropped = super::inbound::dropped_params(&result);
    let mut resp = match result {
        Ok(Reply::Full(r, _)) => Json(ChatCompletion::from_canonical(&r)).into_response(),
        Ok(Reply::Stream(s)) => super::sse::response(super::sse::openai_body(s)),
        Err(e) => ApiError::from(e).into_response(),
    };
    super::explain::headers(&explain, resp.headers_mut());
    super::inbound::dropped_header(&dropped, resp.headers_mut());
    resp
}

/// Models the caller's workspace can reach: each once, with `layerr-auto` first.
fn visible_models(app: &AppState, workspace: &crate::state::WorkspaceView) -> Vec<ModelObject> {
    let mut out =
        vec![ModelObject { id: AUTO_MODEL.into(), object: "model".into(), created: 0, owned_by: "layerr".into() }];
    for prov in app.hot.providers(Some(&workspace.slug)) {
        if prov.settings.status != layerr_domain::provider::ProviderStatus::Active
            || !workspace.restrictions.permits_provider(&prov.id)
        {
            continue;
        }
        for m in &prov.settings.models {
            if workspace.restrictions.permits_model(m) && !out.iter().any(|o| &o.id == m) {
                out.push(ModelObject {
                    id: m.clone(),
                    object: "model".into(),
                    created: prov.created_at.timestamp(),
                    owned_by: prov.id.clone(),
                });
            }
        }
    }
    out
}

/// The model routes' query: `workspace`, Anthropic's paging (`limit`, `after_id`, `before_id`)
/// when the caller speaks Anthropic; anything else a client adds is ignored, not refused.
#[derive(Deserialize, Default)]
struct ModelsQuery {
    workspace: Option<String>,
    limit: Option<String>,
    after_id: Option<String>,
    before_id: Option<String>,
}

/// The caller is an Anthropic client (it sends `anthropic-version`): answer in its list shape.
fn anthropic_client(h: &HeaderMap) -> bool {
    h.contains_key("anthropic-version")
}

fn anthropic_model(m: &ModelObject) -> serde_json::Value {
    let created = chrono::DateTime::from_timestamp(m.created, 0).unwrap_or_default();
    serde_json::json!({
        "type": "model", "id": m.id, "display_name": m.id,
        "created_at": created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}

fn anthropic_page(models: Vec<ModelObject>, q: &ModelsQuery) -> Result<serde_json::Value, ApiError> {
    let limit = match q.limit.as_deref() {
        None => 20,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ApiError::field("limit", "limit must be an integer from 1 to 1000"))?,
    };
    let position = |id: &str| models.iter().position(|m| m.id == id);
    let (from, to) = match (&q.after_id, &q.before_id) {
        (Some(a), _) => {
            let start = position(a).map_or(models.len(), |i| i + 1);
            (start, (start + limit).min(models.len()))
        }
        (None, Some(b)) => {
            let end = position(b).unwrap_or(0);
            (end.saturating_sub(limit), end)
        }
        (None, None) => (0, limit.min(models.len())),
    };
    let page = &models[from..to];
    let has_more = if q.before_id.is_some() && q.after_id.is_none() { from > 0 } else { to < models.len() };
    Ok(serde_json::json!({
        "data": page.iter().map(anthropic_model).collect::<Vec<_>>(),
        "has_more": has_more,
        "first_id": page.first().map(|m| m.id.clone()),
        "last_id": page.last().map(|m| m.id.clone()),
    }))
}

async fn list_models(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<ModelsQuery>,
) -> Result<Response, ApiError> {
    let ws = resolve_workspace(&app, &p, q.workspace.as_deref())?;
    let models = visible_models(&app, &ws);
    if anthropic_client(&headers) {
        return Ok(Json(anthropic_page(models, &q)?).into_response());
    }
    Ok(Json(ModelList { object: "list".into(), data: models }).into_response())
}

async fn get_model(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    ApiPath(model): ApiPath<String>,
    ApiQuery(q): ApiQuery<ModelsQuery>,
) -> Result<Response, ApiError> {
    let ws = resolve_workspace(&app, &p, q.workspace.as_deref())?;
    let found = visible_models(&app, &ws).into_iter().find(|m| m.id == model).ok_or_else(|| {
        ApiError::ModelNotFound(format!("The model '{model}' does not exist or you do not have access to it."))
    })?;
    if anthropic_client(&headers) {
        return Ok(Json(anthropic_model(&found)).into_response());
    }
    Ok(Json(found).into_response())
}

fn inputs(v: &serde_json::Value) -> Result<Vec<String>, ApiError> {
    let bad = || ApiError::field("input", "input must be a non-empty string or array of non-empty strings");
    let list = match v {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(items) => {
            items.iter().map(|i| i.as_str().map(str::to_string).ok_or_else(bad)).collect::<Result<Vec<_>, _>>()?
        }
        _ => return Err(bad()),
    };
    if list.is_empty() || list.len() > 2048 || list.iter().any(String::is_empty) {
        return Err(bad());
    }
    Ok(list)
}

async fn embeddings(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiQuery(q): ApiQuery<WorkspaceQuery>,
    ApiJson(body): ApiJson<EmbeddingsRequest>,
) -> Response {
    let trace_id = uuid::Uuid::now_v7().to_string();
    let mut resp = embed(app, p, rid, q, body, trace_id.clone()).await.unwrap_or_else(IntoResponse::into_response);
    if let Ok(v) = HeaderValue::from_str(&trace_id) {
        resp.headers_mut().insert("x-layerr-trace-id", v);
    }
    resp
}

/// The most dimensions an embedding may be asked for (the widest models give 4,096; a larger
/// figure is a mistake that would only make the upstream's answer huge).
const MAX_DIMENSIONS: u32 = 16_384;

async fn embed(
    app: AppState,
    p: Principal,
    rid: RequestId,
    q: WorkspaceQuery,
    body: EmbeddingsRequest,
    trace_id: String,
) -> Result<Response, ApiError> {
    let requested = body.layerr.as_ref().and_then(|l| l.workspace.as_deref()).or(q.workspace.as_deref());
    let ws = resolve_workspace(&app, &p, requested)?;
    let texts = inputs(&body.input)?;
    let base64 = match body.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(_) => return Err(ApiError::field("encoding_format", "encoding_format must be 'float' or 'base64'")),
    };
    if let Some(d) = body.dimensions.filter(|d| !(1..=MAX_DIMENSIONS).contains(d)) {
        return Err(ApiError::field(
            "dimensions",
            format!("dimensions must be between 1 and {MAX_DIMENSIONS}, not {d}"),
        ));
    }
    let req = EmbeddingRequest {
        model: body.model.clone(),
        inputs: texts,
        dimensions: body.dimensions,
        user: body.user.clone(),
    };
    let ctx = gateway::ChatCtx {
        key_id: p.key_id().to_string(),
        workspace: ws,
        request_id: rid.0.clone(),
        endpoint: "/v1/embeddings",
    };
    let out = gateway::embed::embed(&app, ctx, req, trace_id).await?;
    let data = out
        .vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| EmbeddingData {
            object: "embedding".into(),
            embedding: if base64 { EmbeddingVector::Base64(encode_vector(&v)) } else { EmbeddingVector::Float(v) },
            index: i as u32,
        })
        .collect();
    let usage = WireUsage {
        prompt_tokens: out.usage.prompt_tokens,
        completion_tokens: 0,
        total_tokens: out.usage.prompt_tokens,
        prompt_tokens_details: None,
        completion_tokens_details: None,
    };
    Ok(Json(EmbeddingsResponse { object: "list".into(), data, model: out.model, usage }).into_response())
}

/// OpenAI's `encoding_format: "base64"`: the little-endian f32 bytes, base64-encoded.
fn encode_vector(v: &[f32]) -> String {
    use base64::Engine;
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
