//! Google Gemini API (`{base}/v1beta/models/{model}:generateContent`, key in `x-goog-api-key`).
//!
//! Mapping decisions:
//! - System and developer messages become `systemInstruction`; assistant → role `model`; tool
//!   results → `functionResponse` parts in a `user` turn, named after the matching earlier tool
//!   call, with the result wrapped as `{"result": <parsed JSON, or the text>}`. Consecutive
//!   turns with the same role are merged.
//! - Gemini gives tool calls no ids: they get deterministic ones, `call_<index>_<name>`.
//! - JSON modes: `responseMimeType: application/json`, plus `responseSchema` for `json_schema`.
//!   Schemas (response and tool parameters) are reduced to Gemini's OpenAPI subset: local
//!   `$ref`s inlined, unsupported keywords such as `additionalProperties` dropped.
//! - `n` → `candidateCount`; `seed`, `top_k` (`topK`), presence and frequency penalties are
//!   passed through. `reasoning_effort` sets `thinkingConfig.thinkingBudget` as Google's OpenAI
//!   compatibility layer does (`minimal`/`low` 1,024, `medium` 8,192, `high` 24,576); `none` is
//!   not sent (Gemini 2.5 Pro cannot turn thinking off); without it, a Messages request's
//!   `thinking` budget is the `thinkingBudget`. What has no equivalent (`user`,
//!   `metadata`, `parallel_tool_calls: false`, logprobs and the other extras) is reported in
//!   `x-layerr-dropped-params` ([`dropped`]).
//! - Embeddings use `:batchEmbedContents`; Gemini reports no token counts for them, so usage is
//!   estimated locally (about 4 characters a token) and marked `estimated`.
//! - Not supported: thought signatures are not carried across turns (Gemini 3 models that
//!   require them on replayed function calls will reject such conversations); thought
//!   summaries are not surfaced.

mod stream;
#[cfg(test)]
mod tests;
mod types;

use std::collections::HashMap;

use serde_json::Value;

use super::passthrough::Model;
use super::{decode, now_secs, send, ErrorKind, EventStream, ProviderError, Upstream};
use crate::llm::{
    ChatRequest, ChatResponse, Choice, Content, EmbeddingRequest, EmbeddingResponse, FinishReason, Message, Part,
    RemoteModel, ResponseFormat, Role, ToolCall, ToolChoice, Usage,
};
use types::{
    BatchEmbedRequest, BatchEmbedResponse, Blob, Candidate, EmbedRequest, FileData, FunctionCall,
    FunctionCallingConfig, FunctionDeclaration, FunctionResponse, GenerateContentRequest, GenerateContentResponse,
    GenerationConfig, ModelList, Tool, ToolConfig,
};

/// Pages of `GET /v1beta/models` we follow at most (1000 models each).
const MAX_MODEL_PAGES: usize = 10;

/// The resource path of a model: `models/{id}` (a `models/` prefix is accepted), or a tuned model.
fn model_path(model: &str) -> String {
    if model.starts_with("models/") || model.starts_with("tunedModels/") {
        model.to_string()
    } else {
        format!("models/{model}")
    }
}

fn with_key(up: &Upstream<'_>, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    let rb = rb.timeout(up.timeout);
    match up.api_key {
        Some(key) => rb.header("x-goog-api-key", key),
        None => rb,
    }
}

/// `send`, except that Gemini answers a bad API key with 400 INVALID_ARGUMENT: that is ours to fix.
async fn send_gemini(rb: reqwest::RequestBuilder) -> Result<reqwest::Response, ProviderError> {
    send(rb).await.map_err(|mut e| {
        if e.status == Some(400) && e.message.contains("API key") {
            e.kind = ErrorKind::Auth;
        }
        e
    })
}

pub async fn chat(up: &Upstream<'_>, req: &ChatRequest, model: &str) -> Result<ChatResponse, ProviderError> {
    let body = build_for(req, Model { name: model, reasoning: up.reasoning })?;
    let url = up.url(&format!("/v1beta/{}:generateContent", model_path(model)));
    let resp = send_gemini(with_key(up, up.client.post(url)).json(&body)).await?;
    let bytes = super::read_body(resp).await?;
    to_canonical(decode(&bytes)?, model)
}

pub async fn stream(up: &Upstream<'_>, req: &ChatRequest, model: &str) -> Result<EventStream, ProviderError> {
    let body = build_for(req, Model { name: model, reasoning: up.reasoning })?;
    let url = up.url(&format!("/v1beta/{}:streamGenerateContent?alt=sse", model_path(model)));
    let resp = super::expect_sse(send_gemini(with_key(up, up.client.post(url)).json(&body)).await?).await?;
    Ok(stream::decode(resp.bytes_stream()))
}

pub async fn embed(up: &Upstream<'_>, req: &EmbeddingRequest, model: &str) -> Result<EmbeddingResponse, ProviderError> {
    let path = model_path(model);
    let body = BatchEmbedRequest {
        requests: req
            .inputs
            .iter()
            .map(|text| EmbedRequest {
                model: path.clone(),
                content: types::Content { role: None, parts: vec![types::Part::Text(text.clone())] },
                output_dimensionality: req.dimensions,
            })
            .collect(),
    };
    let url = up.url(&format!("/v1beta/{path}:batchEmbedContents"));
    let resp = send_gemini(with_key(up, up.client.post(url)).json(&body)).await?;
    let bytes = super::read_body(resp).await?;
    let parsed: BatchEmbedResponse = decode(&bytes)?;
    if parsed.embeddings.len() != req.inputs.len() {
        let msg = format!("Gemini returned {} embeddings for {} inputs", parsed.embeddings.len(), req.inputs.len());
        return Err(ProviderError::new(ErrorKind::Decode, msg));
    }
    let chars: usize = req.inputs.iter().map(|s| s.chars().count()).sum();
    Ok(EmbeddingResponse {
        model: model.strip_prefix("models/").unwrap_or(model).to_string(),
        vectors: parsed.embeddings.into_iter().map(|e| e.values).collect(),
        usage: Usage { prompt_tokens: (chars as u64).div_ceil(4), estimated: true, ..Default::default() },
    })
}

pub async fn models(up: &Upstream<'_>) -> Result<Vec<RemoteModel>, ProviderError> {
    let mut out = Vec::new();
    let mut page_token: Option<String> = None;
    for _ in 0..MAX_MODEL_PAGES {
        let mut url = reqwest::Url::parse(&up.url("/v1beta/models"))
            .map_err(|e| ProviderError::new(ErrorKind::Connect, format!("bad base URL: {e}")))?;
        url.query_pairs_mut().append_pair("pageSize", "1000");
        if let Some(t) = &page_token {
            url.query_pairs_mut().append_pair("pageToken", t);
        }
        let resp = send_gemini(with_key(up, up.client.get(url))).await?;
        let bytes = super::read_body(resp).await?;
        let page: ModelList = decode(&bytes)?;
        out.extend(page.models.into_iter().map(|m| RemoteModel {
            id: m.name.strip_prefix("models/").map(str::to_string).unwrap_or(m.name),
            owned_by: Some("google".to_string()),
        }));
        match page.next_page_token {
            Some(t) if !t.is_empty() => page_token = Some(t),
            _ => break,
        }
    }
    Ok(out)
}

fn bad(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::BadRequest, message)
}

/// Our id for the `index`-th tool call of an answer.
pub(super) fn tool_call_id(index: usize, name: &str) -> String {
    format!("call_{index}_{name}")
}

/// The wire request for a model the catalog does not know (taken not to reason).
#[cfg(test)]
pub(super) fn build_request(req: &ChatRequest) -> Result<GenerateContentRequest, ProviderError> {
    build_for(req, Model::default())
}

/// The wire request for `model`.
pub(super) fn build_for(req: &ChatRequest, model: Model<'_>) -> Result<GenerateContentRequest, ProviderError> {
    let (system_instruction, contents) = convert_messages(&req.messages)?;
    let declarations: Vec<FunctionDeclaration> = req
        .tools
        .iter()
        .map(|t| FunctionDeclaration {
            name: t.name.clone(),
            description: t.description.clone(),
            parameters: parameters(&t.parameters),
        })
        .collect();
    let tool_config = if declarations.is_empty() {
        None
    } else {
        req.tool_choice.as_ref().map(|c| {
            let (mode, allowed) = match c {
                ToolChoice::Auto => ("AUTO", vec![]),
                ToolChoice::Required => ("ANY", vec![]),
                ToolChoice::None => ("NONE", vec![]),
                ToolChoice::Function(name) => ("ANY", vec![name.clone()]),
            };
            ToolConfig { function_calling_config: FunctionCallingConfig { mode, allowed_function_names: allowed } }
        })
    };
    let (response_mime_type, response_schema) = match &req.response_format {
        Some(ResponseFormat::JsonObject) => (Some("application/json"), None),
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            (Some("application/json"), Some(types::gemini_schema(schema)))
        }
        Some(ResponseFormat::Text) | None => (None, None),
    };
    let generation_config = GenerationConfig {
        max_output_tokens: req.max_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        stop_sequences: req.stop.clone(),
        candidate_count: (req.n > 1).then_some(req.n),
        response_mime_type,
        response_schema,
        seed: req.seed,
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        top_k: req.top_k,
        thinking_config: thinking_budget(req, model).map(|thinking_budget| types::ThinkingConfig { thinking_budget }),
    };
    Ok(GenerateContentRequest {
        contents,
        system_instruction,
        tools: if declarations.is_empty() { vec![] } else { vec![Tool { function_declarations: declarations }] },
        tool_config,
        generation_config: (generation_config != GenerationConfig::default()).then_some(generation_config),
    })
}

/// The thinking budget `reasoning_effort` asks for, else a Messages request's `thinking` budget
/// (Gemini's `thinkingBudget` counts tokens as Anthropic's does).
fn thinking_budget(req: &ChatRequest, model: Model<'_>) -> Option<u32> {
    let Some(effort) = req.reasoning_effort.as_deref() else {
        return match req.thinking {
            Some(crate::llm::ThinkingConfig::Enabled { budget_tokens }) => Some(budget_tokens),
            // Gemini 2.5 models think by default: a budget of 0 turns it off where the model
            // allows it (`can_stop_thinking`).
            Some(crate::llm::ThinkingConfig::Disabled) if model.reasoning && can_stop_thinking(model.name) => Some(0),
            _ => None,
        };
    };
    match effort {
        "minimal" | "low" => Some(1024),
        "medium" => Some(8192),
        "high" => Some(24576),
        _ => None,
    }
}

/// Whether a thinking model can have its thinking turned off (`thinkingBudget` 0): per Gemini's
/// thinking guide, the Flash and Flash-Lite models can, the Pro models cannot.
pub(super) fn can_stop_thinking(model: &str) -> bool {
    !model.contains("-pro")
}

/// The request's parameters this adapter does not send to Gemini for `model` (`thinking` is
/// `passthrough::dropped`'s).
pub(super) fn dropped(req: &ChatRequest, model: Model<'_>) -> Vec<String> {
    let mut out: Vec<String> = [
        ("reasoning_effort", req.reasoning_effort.is_some() && thinking_budget(req, model).is_none()),
        ("user", req.user.is_some()),
        ("metadata", req.metadata.as_ref().is_some_and(|m| !m.is_empty())),
        ("parallel_tool_calls", req.parallel_tool_calls == Some(false)),
    ]
    .into_iter()
    .filter(|(_, dropped)| *dropped)
    .map(|(name, _)| name.to_string())
    .collect();
    out.extend(super::passthrough::requested_extras(req, &[]));
    out
}

/// Tool parameters as a Gemini schema; an object without properties is left out (Gemini
/// rejects OBJECT schemas with empty `properties`).
fn parameters(schema: &Value) -> Option<Value> {
    let converted = types::gemini_schema(schema);
    let empty_object = converted.get("type").and_then(Value::as_str) == Some("object")
        && converted.get("properties").and_then(Value::as_object).is_none_or(|p| p.is_empty());
    (!empty_object && converted.is_object()).then_some(converted)
}

type Contents = (Option<types::Content>, Vec<types::Content>);

fn convert_messages(messages: &[Message]) -> Result<Contents, ProviderError> {
    let call_names: HashMap<&str, &str> =
        messages.iter().flat_map(|m| &m.tool_calls).map(|c| (c.id.as_str(), c.name.as_str())).collect();
    let mut system = Vec::new();
    let mut contents: Vec<types::Content> = Vec::new();
    for m in messages {
        let (role, parts) = match m.role {
            Role::System | Role::Developer => {
                let text = m.content_text();
                if !text.is_empty() {
                    system.push(types::Part::Text(text));
                }
                continue;
            }
            Role::User => ("user", m.content.as_ref().map(content_parts).transpose()?.unwrap_or_default()),
            Role::Assistant => {
                let mut parts = m.content.as_ref().map(content_parts).transpose()?.unwrap_or_default();
                for call in &m.tool_calls {
                    let args = parse_arguments(&call.arguments)?;
                    parts.push(types::Part::FunctionCall(FunctionCall { name: call.name.clone(), args }));
                }
                ("model", parts)
            }
            Role::Tool => {
                let id = m.tool_call_id.as_deref().unwrap_or_default();
                let name = call_names
                    .get(id)
                    .map(|n| n.to_string())
                    .or_else(|| m.name.clone())
                    .ok_or_else(|| bad(format!("tool result '{id}' matches no earlier tool call")))?;
                let text = m.content_text();
                let result = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
                let response = serde_json::json!({ "result": result });
                ("user", vec![types::Part::FunctionResponse(FunctionResponse { name, response })])
            }
        };
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some(last) if last.role == Some(role) => last.parts.extend(parts),
            _ => contents.push(types::Content { role: Some(role), parts }),
        }
    }
    let system = (!system.is_empty()).then_some(types::Content { role: None, parts: system });
    Ok((system, contents))
}

fn content_parts(content: &Content) -> Result<Vec<types::Part>, ProviderError> {
    let text = |t: &str| (!t.is_empty()).then(|| types::Part::Text(t.to_string()));
    match content {
        Content::Text(t) => Ok(text(t).into_iter().collect()),
        Content::Parts(parts) => {
            let mut out = Vec::with_capacity(parts.len());
            for p in parts {
                match p {
                    Part::Text { text: t, .. } => out.extend(text(t)),
                    Part::ImageUrl { image_url } => out.push(image_part(&image_url.url)?),
                }
            }
            Ok(out)
        }
    }
}

fn image_part(url: &str) -> Result<types::Part, ProviderError> {
    if let Some((mime_type, data)) = data_url(url) {
        return Ok(types::Part::InlineData(Blob { mime_type: mime_type.to_string(), data: data.to_string() }));
    }
    if url.starts_with("data:") {
        return Err(bad("image data URLs must be base64-encoded (data:<type>;base64,…)"));
    }
    if url.starts_with("https://") || url.starts_with("http://") || url.starts_with("gs://") {
        return Ok(types::Part::FileData(FileData { mime_type: image_mime(url), file_uri: url.to_string() }));
    }
    Err(bad("image_url must be an http(s) URL or a base64 data URL"))
}

/// The image type a URL's extension names, if any.
fn image_mime(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
    let mime = match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        _ => return None,
    };
    Some(mime.to_string())
}

/// `data:<media type>[;params];base64,<data>` → (media type, data).
fn data_url(url: &str) -> Option<(&str, &str)> {
    let (meta, data) = url.strip_prefix("data:")?.split_once(',')?;
    let meta = meta.strip_suffix(";base64")?;
    let media_type = meta.split(';').next().unwrap_or_default();
    Some((if media_type.is_empty() { "application/octet-stream" } else { media_type }, data))
}

fn parse_arguments(arguments: &str) -> Result<Value, ProviderError> {
    if arguments.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(bad("tool call arguments must be a JSON object")),
    }
}

/// Gemini's finish reason; a candidate that called functions finished with `tool_calls`.
pub(super) fn finish_reason(reason: &str, called_tools: bool) -> FinishReason {
    match reason {
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => FinishReason::ContentFilter,
        _ if called_tools => FinishReason::ToolCalls,
        // STOP, LANGUAGE, OTHER, MALFORMED_FUNCTION_CALL, …
        _ => FinishReason::Stop,
    }
}

/// A candidate's answer text (thought summaries excluded) and tool calls.
pub(super) fn candidate_output(c: &Candidate) -> (String, Vec<ToolCall>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    for part in c.content.iter().flat_map(|c| &c.parts) {
        if part.thought == Some(true) {
            continue;
        }
        if let Some(t) = &part.text {
            text.push_str(t);
        }
        if let Some(f) = &part.function_call {
            let args = if f.args.is_null() { "{}".to_string() } else { f.args.to_string() };
            calls.push(ToolCall { id: tool_call_id(calls.len(), &f.name), name: f.name.clone(), arguments: args });
        }
    }
    (text, calls)
}

/// An error object Gemini sent in a 200 body (streams mostly).
pub(super) fn api_error(e: &types::ApiError) -> ProviderError {
    let message = if e.message.is_empty() { e.status.clone() } else { e.message.clone() };
    let message = if message.is_empty() { "no error message".to_string() } else { message };
    match e.code {
        0 => ProviderError::new(ErrorKind::Server, message),
        code => ProviderError::from_status(code, message, None),
    }
}

pub(super) fn to_canonical(resp: GenerateContentResponse, model: &str) -> Result<ChatResponse, ProviderError> {
    if let Some(e) = &resp.error {
        return Err(api_error(e));
    }
    let mut choices: Vec<Choice> = resp
        .candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (text, tool_calls) = candidate_output(c);
            let reason = c.finish_reason.as_deref().map(|r| finish_reason(r, !tool_calls.is_empty()));
            let content = (!text.is_empty() || tool_calls.is_empty()).then_some(Content::Text(text));
            Choice {
                index: c.index.unwrap_or(i as u32),
                message: Message {
                    role: Role::Assistant,
                    content,
                    name: None,
                    tool_calls,
                    tool_call_id: None,
                    reasoning: vec![],
                },
                finish_reason: reason,
                logprobs: None,
                refusal: None,
            }
        })
        .collect();
    if choices.is_empty() {
        // No candidates: the prompt itself was blocked (promptFeedback.blockReason).
        if resp.prompt_feedback.as_ref().and_then(|f| f.block_reason.as_ref()).is_none() {
            return Err(ProviderError::new(ErrorKind::Decode, "Gemini returned no candidates"));
        }
        choices.push(Choice {
            index: 0,
            message: Message::text(Role::Assistant, ""),
            finish_reason: Some(FinishReason::ContentFilter),
            logprobs: None,
            refusal: None,
        });
    }
    choices.sort_by_key(|c| c.index);
    Ok(ChatResponse {
        id: resp.response_id.unwrap_or_default(),
        model: resp.model_version.unwrap_or_else(|| model.strip_prefix("models/").unwrap_or(model).to_string()),
        created: now_secs(),
        choices,
        usage: resp.usage_metadata.map(|u| u.to_canonical()),
        system_fingerprint: None,
        service_tier: None,
    })
}
