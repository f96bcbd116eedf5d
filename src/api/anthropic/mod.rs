//! The inbound Anthropic Messages API (`POST /v1/messages`, `/v1/messages/count_tokens`): its
//! wire types as Anthropic documents them, converted to the canonical request and back from the
//! canonical answer, so any provider can answer a Messages request. What the canonical request
//! cannot carry, and what the answering upstream does not take, is reported (the handler's
//! `x-layerr-dropped-params`), never silently lost.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::openai::LayerrOptions;
use crate::llm::{self, Content, Part, Reasoning, Role};

pub type FieldError = (String, String);

fn bad(field: impl Into<String>, msg: impl Into<String>) -> FieldError {
    (field.into(), msg.into())
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct MessagesRequest {
    pub model: String,
    pub max_tokens: u32,
    pub messages: Vec<InMessage>,
    #[serde(default)]
    pub system: Option<System>,
    #[serde(default)]
    pub stop_sequences: Option<Vec<String>>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub top_k: Option<u32>,
    #[serde(default)]
    pub tools: Option<Vec<InTool>>,
    #[serde(default)]
    pub tool_choice: Option<InToolChoice>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
    #[serde(default)]
    pub thinking: Option<Value>,
    #[serde(default)]
    pub service_tier: Option<String>,
    /// Layerr's routing extension (clients that cannot add body fields use the
    /// `x-layerr-*` headers instead).
    #[serde(default)]
    pub layerr: Option<LayerrOptions>,
    /// Anything else: reported as not forwarded.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `count_tokens` takes the request without `max_tokens` and the sampling parameters.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CountTokensRequest {
    pub model: String,
    pub messages: Vec<InMessage>,
    #[serde(default)]
    pub system: Option<System>,
    #[serde(default)]
    pub tools: Option<Vec<InTool>>,
    #[serde(default)]
    pub tool_choice: Option<InToolChoice>,
    #[serde(default)]
    pub thinking: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum System {
    Text(String),
    Blocks(Vec<Block>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InRole {
    User,
    Assistant,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct InMessage {
    pub role: InRole,
    pub content: InContent,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum InContent {
    Text(String),
    Blocks(Vec<Block>),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    Text {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<llm::CacheControl>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        citations: Option<Value>,
    },
    Image {
        source: ImageSource,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<llm::CacheControl>,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<llm::CacheControl>,
    },
    ToolResult {
        tool_use_id: String,
        #[serde(default)]
        content: Option<ToolResultContent>,
        #[serde(default)]
        is_error: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<llm::CacheControl>,
    },
    Thinking {
        thinking: String,
        signature: String,
    },
    RedactedThinking {
        data: String,
    },
    Document {
        source: Value,
        #[serde(flatten)]
        rest: Map<String, Value>,
    },
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImageSource {
    Base64 { media_type: String, data: String },
    Url { url: String },
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ToolResultContent {
    Text(String),
    Blocks(Vec<Block>),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct InTool {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Client tools have a schema; Anthropic's server tools (`web_search_...`, `bash_...`) a
    /// `type` instead, which no other upstream can run.
    #[serde(default)]
    pub input_schema: Option<Value>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub cache_control: Option<llm::CacheControl>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InToolChoice {
    Auto {
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    Any {
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    Tool {
        name: String,
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    None,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Metadata {
    #[serde(default)]
    pub user_id: Option<String>,
}

/// A converted request, with the names of what it could not carry.
pub struct Converted {
    pub request: llm::ChatRequest,
    pub dropped: Vec<String>,
}

fn text_of(blocks: &[Block]) -> String {
    blocks
        .iter()
        .filter_map(|b| match b {
            Block::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn system_message(system: &System) -> llm::Message {
    match system {
        System::Text(t) => llm::Message::text(Role::System, t.clone()),
        System::Blocks(blocks) => {
            let parts = blocks
                .iter()
                .filter_map(|b| match b {
                    Block::Text { text, cache_control, .. } => {
                        Some(Part::Text { text: text.clone(), cache_control: cache_control.clone() })
                    }
                    _ => None,
                })
                .collect();
            llm::Message { content: Some(Content::Parts(parts)), ..llm::Message::text(Role::System, "") }
        }
    }
}

fn image_part(source: &ImageSource) -> Part {
    let url = match source {
        ImageSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        ImageSource::Url { url } => url.clone(),
    };
    Part::ImageUrl { image_url: llm::ImageUrl { url, detail: None } }
}

/// Converts the messages: a user turn's `tool_result` blocks become tool messages (before the
/// rest of the turn), an assistant turn's `tool_use` blocks its tool calls.
fn messages(input: &[InMessage], out: &mut Vec<llm::Message>) -> Result<(), FieldError> {
    for (i, m) in input.iter().enumerate() {
        let blocks = match &m.content {
            InContent::Text(t) => {
                let role = if m.role == InRole::User { Role::User } else { Role::Assistant };
                out.push(llm::Message::text(role, t.clone()));
                continue;
            }
            InContent::Blocks(b) => b,
        };
        let mut parts = Vec::new();
        let mut calls = Vec::new();
        let mut reasoning = Vec::new();
        for (j, b) in blocks.iter().enumerate() {
            let field = || format!("messages[{i}].content[{j}]");
            match b {
                Block::Text { text, cache_control, .. } => {
                    parts.push(Part::Text { text: text.clone(), cache_control: cache_control.clone() })
                }
                Block::Image { source, .. } if m.role == InRole::User => parts.push(image_part(source)),
                Block::Image { .. } => return Err(bad(field(), "an assistant message cannot hold an image")),
                Block::ToolUse { id, name, input, .. } if m.role == InRole::Assistant => {
                    calls.push(llm::ToolCall { id: id.clone(), name: name.clone(), arguments: input.to_string() })
                }
                Block::ToolUse { .. } => return Err(bad(field(), "tool_use blocks belong to assistant messages")),
                Block::ToolResult { tool_use_id, content, is_error, .. } if m.role == InRole::User => {
                    let mut text = match content {
                        None => String::new(),
                        Some(ToolResultContent::Text(t)) => t.clone(),
                        Some(ToolResultContent::Blocks(b)) => text_of(b),
                    };
                    if is_error == &Some(true) {
                        text = format!("Error: {text}");
                    }
                    out.push(llm::Message {
                        tool_call_id: Some(tool_use_id.clone()),
                        ..llm::Message::text(Role::Tool, text)
                    });
                }
                Block::ToolResult { .. } => return Err(bad(field(), "tool_result blocks belong to user messages")),
                // Earlier thinking goes back as it came (an Anthropic upstream checks its signature).
                Block::Thinking { thinking, signature } if m.role == InRole::Assistant => {
                    let signature = Some(signature.clone()).filter(|s| !s.is_empty());
                    let before = parts.len() + calls.len();
                    reasoning.push(Reasoning::Thinking { thinking: thinking.clone(), signature, before })
                }
                Block::RedactedThinking { data } if m.role == InRole::Assistant => {
                    let before = parts.len() + calls.len();
                    reasoning.push(Reasoning::RedactedThinking { data: data.clone(), before })
                }
                Block::Thinking { .. } | Block::RedactedThinking { .. } => {
                    return Err(bad(field(), "thinking blocks belong to assistant messages"));
                }
                Block::Document { .. } => {
                    return Err(bad(field(), "document blocks are not supported by this gateway yet"));
                }
            }
        }
        let role = if m.role == InRole::User { Role::User } else { Role::Assistant };
        if parts.is_empty() && calls.is_empty() && reasoning.is_empty() {
            continue;
        }
        let content = match parts.as_slice() {
            [] => None,
            [Part::Text { text, cache_control: None }] => Some(Content::Text(text.clone())),
            _ => Some(Content::Parts(parts)),
        };
        out.push(llm::Message { role, content, name: None, tool_calls: calls, tool_call_id: None, reasoning });
    }
    Ok(())
}

/// Anthropic's `thinking`: `{"type": "enabled", "budget_tokens": n}` or `{"type": "disabled"}`.
/// A type this gateway does not know is kept as sent, not refused (Anthropic adds new ones): an
/// Anthropic upstream gets it unchanged, the others report it (`passthrough::dropped`).
fn thinking(v: &Value) -> Result<Option<llm::ThinkingConfig>, FieldError> {
    match v.get("type").and_then(Value::as_str) {
        Some("enabled") => {
            let budget = v.get("budget_tokens").and_then(Value::as_u64).and_then(|b| u32::try_from(b).ok());
            match budget {
                Some(budget_tokens) if budget_tokens >= 1024 => {
                    Ok(Some(llm::ThinkingConfig::Enabled { budget_tokens }))
                }
                _ => Err(bad(
                    "thinking.budget_tokens",
                    "thinking.budget_tokens: an integer of at least 1024 is required",
                )),
            }
        }
        Some("disabled") => Ok(Some(llm::ThinkingConfig::Disabled)),
        Some(_) => Ok(Some(llm::ThinkingConfig::Other(v.clone()))),
        None => Err(bad("thinking.type", "thinking.type: Field required")),
    }
}

fn tools(input: &[InTool]) -> Result<Vec<llm::Tool>, FieldError> {
    input
        .iter()
        .enumerate()
        .map(|(i, t)| match (&t.input_schema, t.kind.as_deref()) {
            (Some(schema), None | Some("custom")) => Ok(llm::Tool {
                name: t.name.clone(),
                description: t.description.clone(),
                parameters: schema.clone(),
                strict: None,
            }),
            (_, Some(kind)) if kind != "custom" => Err(bad(
                format!("tools[{i}].type"),
                format!(
                    "the server tool '{kind}' cannot be run by this gateway's upstreams; only client tools with an input_schema are supported"
                ),
            )),
            _ => Err(bad(format!("tools[{i}].input_schema"), "a tool needs an input_schema")),
        })
        .collect()
}

fn tool_choice(c: &InToolChoice) -> (llm::ToolChoice, Option<bool>) {
    let parallel = |d: &Option<bool>| d.map(|disable| !disable);
    match c {
        InToolChoice::Auto { disable_parallel_tool_use } => {
            (llm::ToolChoice::Auto, parallel(disable_parallel_tool_use))
        }
        InToolChoice::Any { disable_parallel_tool_use } => {
            (llm::ToolChoice::Required, parallel(disable_parallel_tool_use))
        }
        InToolChoice::Tool { name, disable_parallel_tool_use } => {
            (llm::ToolChoice::Function(name.clone()), parallel(disable_parallel_tool_use))
        }
        InToolChoice::None => (llm::ToolChoice::None, None),
    }
}

impl MessagesRequest {
    pub fn to_canonical(&self) -> Result<Converted, FieldError> {
        if self.model.trim().is_empty() {
            return Err(bad("model", "model: field required"));
        }
        if self.max_tokens == 0 {
            return Err(bad("max_tokens", "max_tokens: must be greater than or equal to 1"));
        }
        if self.messages.is_empty() {
            return Err(bad("messages", "messages: at least one message is required"));
        }
        if let Some(t) = self.temperature.filter(|t| !(0.0..=1.0).contains(t)) {
            return Err(bad("temperature", format!("temperature: {t} is not between 0 and 1")));
        }
        let mut msgs = Vec::new();
        if let Some(s) = &self.system {
            msgs.push(system_message(s));
        }
        messages(&self.messages, &mut msgs)?;
        let (choice, parallel) = match &self.tool_choice {
            Some(c) => {
                let (c, p) = tool_choice(c);
                (Some(c), p)
            }
            None => (None, None),
        };
        let thinking = match &self.thinking {
            Some(t) => thinking(t)?,
            None => None,
        };
        // `service_tier` and unknown fields ride as extras: forwarded to OpenAI-format
        // upstreams, reported (per upstream) for the others.
        let mut extra = self.extra.clone();
        if let Some(t) = &self.service_tier {
            extra.insert("service_tier".into(), Value::String(t.clone()));
        }
        let request = llm::ChatRequest {
            model: self.model.clone(),
            messages: msgs,
            stream: self.stream.unwrap_or(false),
            include_usage: true,
            tools: tools(self.tools.as_deref().unwrap_or_default())?,
            tool_choice: choice,
            parallel_tool_calls: parallel,
            n: 1,
            stop: self.stop_sequences.clone().unwrap_or_default(),
            max_tokens: Some(self.max_tokens),
            temperature: self.temperature,
            top_p: self.top_p,
            user: self.metadata.as_ref().and_then(|m| m.user_id.clone()),
            top_k: self.top_k,
            thinking,
            extra,
            ..llm::ChatRequest::default()
        };
        // Everything a Messages request holds reaches the canonical request; what an upstream
        // does not take is reported per attempt.
        Ok(Converted { request, dropped: Vec::new() })
    }
}

impl CountTokensRequest {
    pub fn to_canonical(&self) -> Result<llm::ChatRequest, FieldError> {
        if self.messages.is_empty() {
            return Err(bad("messages", "messages: at least one message is required"));
        }
        let mut msgs = Vec::new();
        if let Some(s) = &self.system {
            msgs.push(system_message(s));
        }
        messages(&self.messages, &mut msgs)?;
        Ok(llm::ChatRequest {
            model: self.model.clone(),
            messages: msgs,
            tools: tools(self.tools.as_deref().unwrap_or_default())?,
            n: 1,
            ..llm::ChatRequest::default()
        })
    }
}

// ------------------------------------------------------------------------------------------
// The answer
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutBlock {
    /// The upstream's thinking and its signature, as it sent them (empty for reasoning text from
    /// an upstream that does not sign it).
    Thinking {
        thinking: String,
        signature: String,
    },
    RedactedThinking {
        data: String,
    },
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
}

impl OutBlock {
    pub fn of_reasoning(r: &Reasoning) -> OutBlock {
        match r {
            Reasoning::Thinking { thinking, signature, .. } => {
                OutBlock::Thinking { thinking: thinking.clone(), signature: signature.clone().unwrap_or_default() }
            }
            Reasoning::RedactedThinking { data, .. } => OutBlock::RedactedThinking { data: data.clone() },
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct OutUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
}

impl From<&llm::Usage> for OutUsage {
    /// Anthropic counts cached input apart: `input_tokens` is what was neither read from nor
    /// written to the cache.
    fn from(u: &llm::Usage) -> Self {
        OutUsage {
            input_tokens: u.prompt_tokens.saturating_sub(u.cached_tokens + u.cache_write_tokens),
            output_tokens: u.completion_tokens,
            cache_creation_input_tokens: u.cache_write_tokens,
            cache_read_input_tokens: u.cached_tokens,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageResponse {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub role: String,
    pub model: String,
    pub content: Vec<OutBlock>,
    pub stop_reason: Option<String>,
    pub stop_sequence: Option<String>,
    pub usage: OutUsage,
}

pub fn stop_reason(f: Option<llm::FinishReason>) -> &'static str {
    match f {
        None | Some(llm::FinishReason::Stop) => "end_turn",
        Some(llm::FinishReason::Length) => "max_tokens",
        Some(llm::FinishReason::ToolCalls) => "tool_use",
        Some(llm::FinishReason::ContentFilter) => "refusal",
    }
}

/// A tool call's arguments as the `input` object Anthropic clients expect (arguments that are
/// not a JSON object are passed as `{"arguments": "<text>"}` rather than lost).
pub fn tool_input(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ if arguments.trim().is_empty() => Value::Object(Map::new()),
        _ => serde_json::json!({ "arguments": arguments }),
    }
}

impl MessageResponse {
    pub fn from_canonical(id: String, r: &llm::ChatResponse) -> MessageResponse {
        let choice = r.choices.first();
        let mut content = Vec::new();
        if let Some(c) = choice {
            let text = c.message.content_text();
            if !text.is_empty() || c.message.tool_calls.is_empty() {
                content.push(OutBlock::Text { text });
            }
            for t in &c.message.tool_calls {
                content.push(OutBlock::ToolUse {
                    id: t.id.clone(),
                    name: t.name.clone(),
                    input: tool_input(&t.arguments),
                });
            }
            // Thinking where the upstream put it (interleaved thinking keeps its order).
            let reasoning = c.message.reasoning.iter().map(|r| (r.before(), OutBlock::of_reasoning(r)));
            content = llm::interleave(reasoning, content);
        }
        MessageResponse {
            id,
            kind: "message".into(),
            role: "assistant".into(),
            model: r.model.clone(),
            content,
            stop_reason: Some(stop_reason(choice.and_then(|c| c.finish_reason)).to_string()),
            stop_sequence: None,
            usage: r.usage.as_ref().map(OutUsage::from).unwrap_or_default(),
        }
    }
}

/// The Anthropic error type for an HTTP status (what the Anthropic SDKs map to exceptions).
pub fn error_type(status: u16) -> &'static str {
    match status {
        400 | 422 => "invalid_request_error",
        401 => "authentication_error",
        402 | 403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        504 => "timeout_error",
        _ => "api_error",
    }
}

#[cfg(test)]
mod tests;
