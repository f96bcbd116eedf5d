//! Ollama's native API (`POST {base}/api/chat`, NDJSON streaming).
//!
//! Mapping decisions:
//! - Messages keep their roles (developer → system). Images must be base64 `data:` URLs (Ollama
//!   takes raw base64 and cannot fetch URLs). Tool call arguments go as JSON objects; tool
//!   results carry `tool_name`, found from the matching earlier tool call.
//! - Ollama gives tool calls no ids: they get `call_<index>`.
//! - JSON modes: `format: "json"`, or `format: <schema>` for `json_schema`.
//! - `max_tokens`, `temperature`, `top_p`, `stop`, `seed`, the penalties, `top_k` and the extra
//!   `min_p` (same name and meaning as vLLM's) go in `options`. What has no equivalent
//!   (`reasoning_effort`, `user`, `metadata`, a forced `tool_choice`, `parallel_tool_calls:
//!   false`, logprobs and the other extras) is reported in `x-layerr-dropped-params`
//!   ([`dropped`]).
//! - Usage: `prompt_eval_count` / `eval_count`; Ollama leaves them out (e.g. when the prompt was
//!   fully cached), in which case they are estimated locally and marked `estimated`.
//! - Not supported: `n > 1` (rejected); `tool_choice` other than `none` (Ollama has no such
//!   control: `none` leaves the tools out, the rest are ignored); http image URLs (rejected);
//!   thinking output is not surfaced.

mod stream;
#[cfg(test)]
mod tests;
mod types;

use std::collections::HashMap;

use serde_json::Value;

use super::{decode, now_secs, send, ErrorKind, EventStream, ProviderError, Upstream};
use crate::llm::{
    ChatRequest, ChatResponse, Choice, Content, EmbeddingRequest, EmbeddingResponse, FinishReason, Message, Part,
    RemoteModel, ResponseFormat, Role, ToolCall, ToolChoice, Usage,
};
use types::{
    ChatBody, ChatChunk, EmbedBody, EmbedResponse, FunctionDef, Options, TagList, WireFunctionCall, WireMessage,
    WireTool, WireToolCall,
};

/// Ollama needs no key; one is sent as a bearer token when configured (proxies, hosted Ollama).
fn with_auth(up: &Upstream<'_>, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    let rb = rb.timeout(up.timeout);
    match up.api_key {
        Some(key) => rb.bearer_auth(key),
        None => rb,
    }
}

pub async fn chat(up: &Upstream<'_>, req: &ChatRequest, model: &str) -> Result<ChatResponse, ProviderError> {
    let body = build_request(req, model, false)?;
    let resp = send(with_auth(up, up.client.post(up.url("/api/chat"))).json(&body)).await?;
    let bytes = super::read_body(resp).await?;
    to_canonical(decode(&bytes)?, req, model)
}

pub async fn stream(up: &Upstream<'_>, req: &ChatRequest, model: &str) -> Result<EventStream, ProviderError> {
    let body = build_request(req, model, true)?;
    let resp = send(with_auth(up, up.client.post(up.url("/api/chat"))).json(&body)).await?;
    Ok(stream::decode(resp.bytes_stream(), req.estimate_prompt_tokens()))
}

pub async fn embed(up: &Upstream<'_>, req: &EmbeddingRequest, model: &str) -> Result<EmbeddingResponse, ProviderError> {
    let body = EmbedBody { model: model.to_string(), input: req.inputs.clone(), dimensions: req.dimensions };
    let resp = send(with_auth(up, up.client.post(up.url("/api/embed"))).json(&body)).await?;
    let bytes = super::read_body(resp).await?;
    let parsed: EmbedResponse = decode(&bytes)?;
    if parsed.embeddings.len() != req.inputs.len() {
        let msg = format!("Ollama returned {} embeddings for {} inputs", parsed.embeddings.len(), req.inputs.len());
        return Err(ProviderError::new(ErrorKind::Decode, msg));
    }
    let usage = match parsed.prompt_eval_count {
        Some(n) => Usage { prompt_tokens: n, ..Default::default() },
        None => {
            let chars: usize = req.inputs.iter().map(|s| s.chars().count()).sum();
            Usage { prompt_tokens: (chars as u64).div_ceil(4), estimated: true, ..Default::default() }
        }
    };
    Ok(EmbeddingResponse {
        model: if parsed.model.is_empty() { model.to_string() } else { parsed.model },
        vectors: parsed.embeddings,
        usage,
    })
}

pub async fn models(up: &Upstream<'_>) -> Result<Vec<RemoteModel>, ProviderError> {
    let resp = send(with_auth(up, up.client.get(up.url("/api/tags")))).await?;
    let bytes = super::read_body(resp).await?;
    let list: TagList = decode(&bytes)?;
    Ok(list.models.into_iter().map(|m| RemoteModel { id: m.name, owned_by: None }).collect())
}

fn bad(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::BadRequest, message)
}

/// Our id for the `index`-th tool call of an answer.
pub(super) fn tool_call_id(index: usize) -> String {
    format!("call_{index}")
}

pub(super) fn build_request(req: &ChatRequest, model: &str, stream: bool) -> Result<ChatBody, ProviderError> {
    if req.n > 1 {
        return Err(bad("n > 1 is not supported by Ollama"));
    }
    let tools = if req.tool_choice == Some(ToolChoice::None) {
        vec![]
    } else {
        req.tools
            .iter()
            .map(|t| WireTool {
                kind: "function",
                function: FunctionDef {
                    name: t.name.clone(),
                    description: t.description.clone(),
                    parameters: t.parameters.clone(),
                },
            })
            .collect()
    };
    let format = match &req.response_format {
        Some(ResponseFormat::JsonObject) => Some(Value::String("json".into())),
        Some(ResponseFormat::JsonSchema { schema, .. }) => Some(schema.clone()),
        Some(ResponseFormat::Text) | None => None,
    };
    let options = Options {
        num_predict: req.max_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        stop: req.stop.clone(),
        seed: req.seed,
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        top_k: req.top_k,
        min_p: min_p(req),
    };
    Ok(ChatBody {
        model: model.to_string(),
        messages: convert_messages(&req.messages)?,
        stream,
        tools,
        format,
        options: (options != Options::default()).then_some(options),
    })
}

/// The extra `min_p`, when it is a number.
fn min_p(req: &ChatRequest) -> Option<f32> {
    req.extra.get("min_p").and_then(Value::as_f64).map(|p| p as f32)
}

/// The request's parameters this adapter does not send to Ollama.
pub(super) fn dropped(req: &ChatRequest) -> Vec<String> {
    let forced = matches!(req.tool_choice, Some(ToolChoice::Required | ToolChoice::Function(_)));
    let mut out: Vec<String> = [
        ("reasoning_effort", req.reasoning_effort.is_some()),
        ("user", req.user.is_some()),
        ("metadata", req.metadata.as_ref().is_some_and(|m| !m.is_empty())),
        ("tool_choice", forced && !req.tools.is_empty()),
        ("parallel_tool_calls", req.parallel_tool_calls == Some(false)),
    ]
    .into_iter()
    .filter(|(_, dropped)| *dropped)
    .map(|(name, _)| name.to_string())
    .collect();
    let translated: &[&str] = if min_p(req).is_some() { &["min_p"] } else { &[] };
    out.extend(super::passthrough::requested_extras(req, translated));
    out
}

fn convert_messages(messages: &[Message]) -> Result<Vec<WireMessage>, ProviderError> {
    let call_names: HashMap<&str, &str> =
        messages.iter().flat_map(|m| &m.tool_calls).map(|c| (c.id.as_str(), c.name.as_str())).collect();
    let mut out = Vec::with_capacity(messages.len());
    for m in messages {
        // Ollama takes no reasoning back: a turn of reasoning alone would be an empty message.
        if m.reasoning_only() {
            continue;
        }
        let role = match m.role {
            Role::System | Role::Developer => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        };
        let mut images = Vec::new();
        if let Some(Content::Parts(parts)) = &m.content {
            for p in parts {
                if let Part::ImageUrl { image_url } = p {
                    images.push(image_data(&image_url.url)?);
                }
            }
        }
        let tool_calls = m
            .tool_calls
            .iter()
            .map(|c| {
                Ok(WireToolCall {
                    function: WireFunctionCall { name: c.name.clone(), arguments: parse_arguments(&c.arguments)? },
                })
            })
            .collect::<Result<Vec<_>, ProviderError>>()?;
        let tool_name = match m.role {
            Role::Tool => {
                m.tool_call_id.as_deref().and_then(|id| call_names.get(id)).map(|n| n.to_string()).or(m.name.clone())
            }
            _ => None,
        };
        out.push(WireMessage { role, content: m.content_text(), images, tool_calls, tool_name });
    }
    Ok(out)
}

/// The base64 payload of a `data:` URL image.
fn image_data(url: &str) -> Result<String, ProviderError> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Err(bad("Ollama accepts images only as base64 data URLs (data:<type>;base64,…)"));
    };
    match rest.split_once(',') {
        Some((meta, data)) if meta.ends_with(";base64") => Ok(data.to_string()),
        _ => Err(bad("image data URLs must be base64-encoded (data:<type>;base64,…)")),
    }
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

/// Canonical tool calls for Ollama's, numbered from `first`.
pub(super) fn tool_calls(calls: &[WireToolCall], first: usize) -> Vec<ToolCall> {
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| ToolCall {
            id: tool_call_id(first + i),
            name: c.function.name.clone(),
            arguments: if c.function.arguments.is_null() { "{}".into() } else { c.function.arguments.to_string() },
        })
        .collect()
}

pub(super) fn finish_reason(done_reason: Option<&str>, called_tools: bool) -> FinishReason {
    match done_reason {
        Some("length") => FinishReason::Length,
        _ if called_tools => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

/// Reported counts, or local estimates (about 4 characters a token) where Ollama gave none.
pub(super) fn usage(chunk: &ChatChunk, prompt_estimate: u64, completion_chars: usize) -> Usage {
    Usage {
        prompt_tokens: chunk.prompt_eval_count.unwrap_or(prompt_estimate),
        completion_tokens: chunk.eval_count.unwrap_or((completion_chars as u64).div_ceil(4)),
        estimated: chunk.prompt_eval_count.is_none() || chunk.eval_count.is_none(),
        ..Default::default()
    }
}

/// An `error` Ollama sent with a 200 status (streams mostly).
pub(super) fn chunk_error(message: &str) -> ProviderError {
    ProviderError::new(ErrorKind::Server, format!("Ollama error: {message}"))
}

pub(super) fn to_canonical(chunk: ChatChunk, req: &ChatRequest, model: &str) -> Result<ChatResponse, ProviderError> {
    if let Some(e) = &chunk.error {
        return Err(chunk_error(e));
    }
    let message = chunk.message.as_ref();
    let text = message.map(|m| m.content.clone()).unwrap_or_default();
    let calls = tool_calls(message.map(|m| m.tool_calls.as_slice()).unwrap_or_default(), 0);
    let completion_chars = text.chars().count() + calls.iter().map(|c| c.name.len() + c.arguments.len()).sum::<usize>();
    let usage = usage(&chunk, req.estimate_prompt_tokens(), completion_chars);
    let created = chunk
        .created_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or_else(now_secs, |t| t.timestamp());
    let finish = finish_reason(chunk.done_reason.as_deref(), !calls.is_empty());
    let content = (!text.is_empty() || calls.is_empty()).then_some(Content::Text(text));
    Ok(ChatResponse {
        id: String::new(),
        model: if chunk.model.is_empty() { model.to_string() } else { chunk.model },
        created,
        choices: vec![Choice {
            index: 0,
            message: Message {
                role: Role::Assistant,
                content,
                name: None,
                tool_calls: calls,
                tool_call_id: None,
                reasoning: vec![],
            },
            finish_reason: Some(finish),
            logprobs: None,
            refusal: None,
        }],
        usage: Some(usage),
        system_fingerprint: None,
        service_tier: None,
    })
}
