//! Anthropic Messages API (`POST {base}/v1/messages`).
//!
//! Mapping decisions:
//! - System and developer messages, wherever they appear, become the top-level `system` prompt
//!   (joined by blank lines): Anthropic has no system role inside `messages`.
//! - Tool results become `tool_result` blocks in user messages; consecutive messages with the same
//!   Anthropic role are merged into one, since Anthropic requires user/assistant alternation.
//! - JSON mode: Anthropic has no native flag, so `json_object` / `json_schema` add an instruction
//!   to the system prompt to answer with JSON only (quoting the schema for `json_schema`). The
//!   answer is not validated against the schema.
//! - `max_tokens` is required by Anthropic: 4096 when the client gave none. `temperature` is
//!   clamped to Anthropic's 0..=1 range.
//! - `reasoning_effort` becomes extended thinking (`minimal`/`low` 1,024 budget tokens, `medium`
//!   2,048, `high` 4,096; `none` is Anthropic's default), when the request allows it: Anthropic
//!   refuses thinking with a changed `temperature`, `top_k`, `top_p` below 0.95 or a forced tool,
//!   and the budget must stay below `max_tokens` (with no `max_tokens`, the budget is added to
//!   the default). A Messages request's own `thinking` is sent as it came instead, with its
//!   `max_tokens`. A conversation with earlier tool calls whose thinking blocks the client did
//!   not send back is sent without thinking (Anthropic wants them back).
//! - Thinking blocks come back with their `signature` (and `redacted_thinking` with its `data`),
//!   whole and streamed (`thinking_delta`, `signature_delta`), and earlier turns' blocks are sent
//!   back where they stood among the turn's text and tool calls (`Reasoning::before`), byte for byte. Unsigned reasoning (another
//!   upstream's `reasoning_content`) cannot be: Anthropic would refuse it, so it is left out and
//!   reported.
//! - `anthropic-version` and `anthropic-beta` of a Messages request are forwarded unchanged
//!   (the adapter's own version otherwise).
//! - `top_k` is passed through; `metadata.user_id` (else `user`) becomes `metadata.user_id`.
//! - Not supported, rejected: `n > 1`. Not supported, reported in `x-layerr-dropped-params`
//!   ([`dropped`]): `frequency_penalty`, `presence_penalty`, `seed`, other `metadata` keys and
//!   every extra (`logprobs`, `logit_bias`, `service_tier`, ...). Ignored: strict tool schemas.
//!   Embeddings: Anthropic has none (the dispatcher answers that without calling this module).

mod stream;
#[cfg(test)]
mod tests;
mod types;

use serde_json::Value;

use super::{decode, now_secs, send, ErrorKind, EventStream, ProviderError, Upstream};
use crate::llm::{
    AnthropicHeaders, ChatRequest, ChatResponse, Choice, Content, FinishReason, Message, Part, Reasoning, RemoteModel,
    ResponseFormat, Role, ThinkingConfig, ToolCall, ToolChoice,
};
use types::{
    Block, ImageSource, MessagesRequest, MessagesResponse, Metadata, ModelList, ResponseBlock, SystemPrompt, Thinking,
    ToolResultContent, WireMessage, WireRole, WireTool, WireToolChoice,
};

const API_VERSION: &str = "2023-06-01";
const DEFAULT_MAX_TOKENS: u32 = 4096;
/// Pages of `GET /v1/models` we follow at most (1000 models each).
const MAX_MODEL_PAGES: usize = 10;

/// The API headers: a Messages request's own `anthropic-version` and `anthropic-beta`, as the
/// client sent them, else this adapter's version.
fn with_headers(up: &Upstream<'_>, rb: reqwest::RequestBuilder, api: &AnthropicHeaders) -> reqwest::RequestBuilder {
    let version = api.version.as_deref().unwrap_or(API_VERSION);
    let mut rb = rb.timeout(up.timeout).header("anthropic-version", version);
    if let Some(beta) = &api.beta {
        rb = rb.header("anthropic-beta", beta);
    }
    match up.api_key {
        Some(key) => rb.header("x-api-key", key),
        None => rb,
    }
}

pub async fn chat(up: &Upstream<'_>, req: &ChatRequest, model: &str) -> Result<ChatResponse, ProviderError> {
    let body = build_request(req, model, false)?;
    let resp =
        send(with_headers(up, up.client.post(up.url("/v1/messages")), &req.anthropic_headers).json(&body)).await?;
    let bytes = super::read_body(resp).await?;
    let parsed: MessagesResponse = decode(&bytes)?;
    Ok(to_canonical(parsed, model))
}

pub async fn stream(up: &Upstream<'_>, req: &ChatRequest, model: &str) -> Result<EventStream, ProviderError> {
    let body = build_request(req, model, true)?;
    let post = with_headers(up, up.client.post(up.url("/v1/messages")), &req.anthropic_headers);
    let resp = super::expect_sse(send(post.json(&body)).await?).await?;
    Ok(stream::decode(resp.bytes_stream()))
}

pub async fn models(up: &Upstream<'_>) -> Result<Vec<RemoteModel>, ProviderError> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..MAX_MODEL_PAGES {
        let mut url = reqwest::Url::parse(&up.url("/v1/models"))
            .map_err(|e| ProviderError::new(ErrorKind::Connect, format!("bad base URL: {e}")))?;
        url.query_pairs_mut().append_pair("limit", "1000");
        if let Some(a) = &after {
            url.query_pairs_mut().append_pair("after_id", a);
        }
        let resp = send(with_headers(up, up.client.get(url), &AnthropicHeaders::default())).await?;
        let bytes = super::read_body(resp).await?;
        let page: ModelList = decode(&bytes)?;
        out.extend(page.data.into_iter().map(|m| RemoteModel { id: m.id, owned_by: Some("anthropic".to_string()) }));
        match page.last_id {
            Some(last) if page.has_more => after = Some(last),
            _ => break,
        }
    }
    Ok(out)
}

fn bad(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::BadRequest, message)
}

/// The wire request for a canonical one.
pub(super) fn build_request(req: &ChatRequest, model: &str, stream: bool) -> Result<MessagesRequest, ProviderError> {
    if req.n > 1 {
        return Err(bad("n > 1 is not supported by Anthropic"));
    }
    let tools: Vec<WireTool> = req
        .tools
        .iter()
        .map(|t| WireTool {
            name: t.name.clone(),
            description: t.description.clone(),
            input_schema: t.parameters.clone(),
        })
        .collect();
    let (thinking, max_tokens) = match &req.thinking {
        // A Messages request's own choice, as it came (Anthropic checks it against max_tokens).
        Some(ThinkingConfig::Enabled { budget_tokens }) => {
            (Some(Thinking::Enabled { budget_tokens: *budget_tokens }), req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS))
        }
        Some(ThinkingConfig::Disabled) => (Some(Thinking::Disabled), req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
        Some(ThinkingConfig::Other(v)) => {
            (Some(Thinking::Other(v.clone())), req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS))
        }
        None => match thinking(req) {
            Some((budget_tokens, max)) => (Some(Thinking::Enabled { budget_tokens }), max),
            None => (None, req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
        },
    };
    Ok(MessagesRequest {
        model: model.to_string(),
        max_tokens,
        system: system_prompt(req),
        messages: convert_messages(&req.messages)?,
        stop_sequences: req.stop.clone(),
        temperature: req.temperature.map(|t| t.clamp(0.0, 1.0)),
        top_p: req.top_p,
        top_k: req.top_k,
        thinking,
        tool_choice: if tools.is_empty() { None } else { tool_choice(req) },
        tools,
        metadata: user_id(req).map(|u| Metadata { user_id: u.to_string() }),
        stream,
    })
}

/// The thinking budget `reasoning_effort` asks for.
fn thinking_budget(effort: &str) -> Option<u32> {
    match effort {
        "minimal" | "low" => Some(1024),
        "medium" => Some(2048),
        "high" => Some(4096),
        _ => None,
    }
}

/// Extended thinking for `reasoning_effort`, as (budget, `max_tokens`), when Anthropic accepts it
/// with the rest of the request.
fn thinking(req: &ChatRequest) -> Option<(u32, u32)> {
    let budget = thinking_budget(req.reasoning_effort.as_deref()?)?;
    let conflicts = req.temperature.is_some_and(|t| t != 1.0)
        || req.top_k.is_some()
        || req.top_p.is_some_and(|p| p < 0.95)
        || matches!(req.tool_choice, Some(ToolChoice::Required | ToolChoice::Function(_)))
        // A tool loop needs the earlier turns' thinking blocks back: not without them.
        || req.messages.iter().any(|m| m.role == Role::Assistant && !m.tool_calls.is_empty() && !signed(m));
    if conflicts {
        return None;
    }
    match req.max_tokens {
        None => Some((budget, budget + DEFAULT_MAX_TOKENS)),
        Some(max) if max > budget => Some((budget, max)),
        Some(_) => None,
    }
}

/// Whether an assistant turn carries reasoning Anthropic can take back (signed or redacted).
fn signed(m: &Message) -> bool {
    m.reasoning.iter().any(|r| wire_reasoning(r).is_some())
}

/// A reasoning block as Anthropic takes it back: thinking only with its signature.
fn wire_reasoning(r: &Reasoning) -> Option<Block> {
    match r {
        Reasoning::Thinking { thinking, signature: Some(signature), .. } if !signature.is_empty() => {
            Some(Block::Thinking { thinking: thinking.clone(), signature: signature.clone() })
        }
        Reasoning::Thinking { .. } => None,
        Reasoning::RedactedThinking { data, .. } => Some(Block::RedactedThinking { data: data.clone() }),
    }
}

/// The end user: `metadata.user_id`, else `user`.
fn user_id(req: &ChatRequest) -> Option<&str> {
    let meta = req.metadata.as_ref().and_then(|m| m.get("user_id")).and_then(Value::as_str);
    meta.or(req.user.as_deref())
}

/// The request's parameters this adapter does not send to Anthropic.
pub(super) fn dropped(req: &ChatRequest) -> Vec<String> {
    let mut out: Vec<String> = [
        ("frequency_penalty", req.frequency_penalty.is_some()),
        ("presence_penalty", req.presence_penalty.is_some()),
        ("seed", req.seed.is_some()),
        ("reasoning_effort", req.reasoning_effort.as_deref().is_some_and(|e| e != "none") && thinking(req).is_none()),
        ("user", req.user.is_some() && user_id(req) != req.user.as_deref()),
    ]
    .into_iter()
    .filter(|(_, dropped)| *dropped)
    .map(|(name, _)| name.to_string())
    .collect();
    for (k, v) in req.metadata.iter().flatten() {
        if k != "user_id" || !v.is_string() {
            out.push(format!("metadata.{k}"));
        }
    }
    let unsigned = req.messages.iter().flat_map(|m| &m.reasoning).any(|r| wire_reasoning(r).is_none());
    if unsigned {
        out.push("thinking blocks".to_string());
    }
    out.extend(super::passthrough::requested_extras(req, &[]));
    out
}

/// System and developer messages, plus the JSON-mode instruction: one text, or blocks when a
/// system part marks a cache breakpoint (kept where the client put it).
fn system_prompt(req: &ChatRequest) -> Option<SystemPrompt> {
    let system = || req.messages.iter().filter(|m| matches!(m.role, Role::System | Role::Developer));
    let cached = system().any(|m| {
        matches!(&m.content, Some(Content::Parts(ps)) if ps.iter().any(|p| matches!(p, Part::Text { cache_control: Some(_), .. })))
    });
    let mut parts: Vec<String> = system().map(Message::content_text).filter(|t| !t.trim().is_empty()).collect();
    let instruction = json_instruction(req);
    if cached {
        let mut blocks = Vec::new();
        for m in system() {
            if let Some(c) = &m.content {
                blocks.extend(content_blocks(c).ok()?.into_iter().filter(|b| matches!(b, Block::Text { .. })));
            }
        }
        blocks.extend(instruction.map(|text| Block::Text { text, cache_control: None }));
        return Some(SystemPrompt::Blocks(blocks));
    }
    parts.extend(instruction);
    (!parts.is_empty()).then(|| SystemPrompt::Text(parts.join("\n\n")))
}

/// What JSON mode adds to the system prompt (Anthropic has no native flag).
fn json_instruction(req: &ChatRequest) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    match &req.response_format {
        Some(ResponseFormat::JsonObject) => parts.push(JSON_INSTRUCTION.to_string()),
        Some(ResponseFormat::JsonSchema { name, schema, .. }) => parts.push(format!(
            "{JSON_INSTRUCTION} The JSON value must conform to this JSON Schema (named \"{name}\"):\n{schema}"
        )),
        Some(ResponseFormat::Text) | None => {}
    }
    parts.pop()
}

const JSON_INSTRUCTION: &str = "Respond only with valid JSON: no text before or after it and no Markdown code fences.";

fn convert_messages(messages: &[Message]) -> Result<Vec<WireMessage>, ProviderError> {
    let mut out: Vec<WireMessage> = Vec::new();
    for m in messages {
        let (role, blocks) = match m.role {
            Role::System | Role::Developer => continue,
            Role::User => (WireRole::User, m.content.as_ref().map(content_blocks).transpose()?.unwrap_or_default()),
            Role::Assistant => {
                // Thinking where Anthropic answered it (interleaved thinking between tool calls).
                let mut blocks = m.content.as_ref().map(content_blocks).transpose()?.unwrap_or_default();
                for call in &m.tool_calls {
                    blocks.push(Block::ToolUse {
                        id: call.id.clone(),
                        name: call.name.clone(),
                        input: parse_arguments(&call.arguments)?,
                    });
                }
                let reasoning = m.reasoning.iter().filter_map(|r| Some((r.before(), wire_reasoning(r)?)));
                (WireRole::Assistant, crate::llm::interleave(reasoning, blocks))
            }
            Role::Tool => {
                let id = m.tool_call_id.clone().ok_or_else(|| bad("tool messages need tool_call_id"))?;
                let content = match &m.content {
                    Some(c) if c.has_image() => ToolResultContent::Blocks(content_blocks(c)?),
                    _ => ToolResultContent::Text(m.content_text()),
                };
                (WireRole::User, vec![Block::ToolResult { tool_use_id: id, content }])
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => out.push(WireMessage { role, content: blocks }),
        }
    }
    Ok(out)
}

/// Text and image blocks; empty text is dropped (Anthropic rejects empty text blocks).
fn content_blocks(content: &Content) -> Result<Vec<Block>, ProviderError> {
    let text = |t: &str, cache_control: &Option<crate::llm::CacheControl>| {
        (!t.is_empty()).then(|| Block::Text { text: t.to_string(), cache_control: cache_control.clone() })
    };
    match content {
        Content::Text(t) => Ok(text(t, &None).into_iter().collect()),
        Content::Parts(parts) => {
            let mut out = Vec::with_capacity(parts.len());
            for p in parts {
                match p {
                    Part::Text { text: t, cache_control } => out.extend(text(t, cache_control)),
                    Part::ImageUrl { image_url } => out.push(Block::Image { source: image_source(&image_url.url)? }),
                }
            }
            Ok(out)
        }
    }
}

fn image_source(url: &str) -> Result<ImageSource, ProviderError> {
    if let Some((media_type, data)) = data_url(url) {
        return Ok(ImageSource::Base64 { media_type: media_type.to_string(), data: data.to_string() });
    }
    if url.starts_with("data:") {
        return Err(bad("image data URLs must be base64-encoded (data:<type>;base64,…)"));
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(ImageSource::Url { url: url.to_string() });
    }
    Err(bad("image_url must be an http(s) URL or a base64 data URL"))
}

/// `data:<media type>[;params];base64,<data>` → (media type, data).
fn data_url(url: &str) -> Option<(&str, &str)> {
    let (meta, data) = url.strip_prefix("data:")?.split_once(',')?;
    let meta = meta.strip_suffix(";base64")?;
    let media_type = meta.split(';').next().unwrap_or_default();
    Some((if media_type.is_empty() { "application/octet-stream" } else { media_type }, data))
}

/// Tool call arguments (JSON text) as the object Anthropic wants in `input`.
fn parse_arguments(arguments: &str) -> Result<Value, ProviderError> {
    if arguments.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(bad("tool call arguments must be a JSON object")),
    }
}

fn tool_choice(req: &ChatRequest) -> Option<WireToolChoice> {
    let no_parallel = (req.parallel_tool_calls == Some(false)).then_some(true);
    Some(match &req.tool_choice {
        Some(ToolChoice::None) => WireToolChoice::None,
        Some(ToolChoice::Auto) => WireToolChoice::Auto { disable_parallel_tool_use: no_parallel },
        Some(ToolChoice::Required) => WireToolChoice::Any { disable_parallel_tool_use: no_parallel },
        Some(ToolChoice::Function(name)) => {
            WireToolChoice::Tool { name: name.clone(), disable_parallel_tool_use: no_parallel }
        }
        None if no_parallel.is_some() => WireToolChoice::Auto { disable_parallel_tool_use: no_parallel },
        None => return None,
    })
}

pub(super) fn finish_reason(stop_reason: &str) -> FinishReason {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        // end_turn, stop_sequence, pause_turn and anything newer.
        _ => FinishReason::Stop,
    }
}

pub(super) fn to_canonical(resp: MessagesResponse, model: &str) -> ChatResponse {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    let mut reasoning = Vec::new();
    for block in resp.content {
        // The canonical blocks before this one: the text (one block), then the tool calls.
        let before = usize::from(!text.is_empty()) + tool_calls.len();
        match block {
            ResponseBlock::Text { text: t } => text.push_str(&t),
            ResponseBlock::Thinking(types::ThinkingFields { thinking, signature }) => reasoning
                .push(Reasoning::Thinking { thinking, signature: Some(signature).filter(|s| !s.is_empty()), before }),
            ResponseBlock::RedactedThinking(types::RedactedFields { data }) => {
                reasoning.push(Reasoning::RedactedThinking { data, before })
            }
            ResponseBlock::ToolUse { id, name, input } => {
                let input = if input.is_null() { Value::Object(Default::default()) } else { input };
                tool_calls.push(ToolCall { id, name, arguments: input.to_string() });
            }
            ResponseBlock::Other => {}
        }
    }
    let content = (!text.is_empty() || tool_calls.is_empty()).then_some(Content::Text(text));
    ChatResponse {
        id: resp.id,
        model: if resp.model.is_empty() { model.to_string() } else { resp.model },
        created: now_secs(),
        choices: vec![Choice {
            index: 0,
            message: Message { role: Role::Assistant, content, name: None, tool_calls, tool_call_id: None, reasoning },
            finish_reason: resp.stop_reason.as_deref().map(finish_reason),
            logprobs: None,
            refusal: None,
        }],
        usage: Some(resp.usage.to_canonical()),
        system_fingerprint: None,
        service_tier: None,
    }
}
