//! Canonical LLM types, OpenAI-shaped: what the router and every provider adapter speak. The
//! public API types (`src/api`) and each provider's wire types convert to and from these.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    Developer,
    User,
    Assistant,
    Tool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    Text {
        text: String,
        /// A prompt-cache breakpoint after this text (Anthropic; other providers cache on
        /// their own and ignore it). The LiteLLM-compatible way to ask for prompt caching.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
    ImageUrl {
        image_url: ImageUrl,
    },
}

/// `{"type": "ephemeral"}`, optionally with `"ttl": "5m" | "1h"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheControl {
    #[serde(rename = "type")]
    pub kind: CacheKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<CacheTtl>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheKind {
    Ephemeral,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CacheTtl {
    #[serde(rename = "5m")]
    FiveMinutes,
    #[serde(rename = "1h")]
    OneHour,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageUrl {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

impl Content {
    /// The text of the content (image parts contribute nothing).
    pub fn text(&self) -> String {
        match self {
            Content::Text(t) => t.clone(),
            Content::Parts(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    Part::Text { text, .. } => Some(text.as_str()),
                    Part::ImageUrl { .. } => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    pub fn has_image(&self) -> bool {
        matches!(self, Content::Parts(p) if p.iter().any(|x| matches!(x, Part::ImageUrl { .. })))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// JSON text, as the model produced it.
    pub arguments: String,
}

/// The model's reasoning, as the upstream gave it: Anthropic's thinking blocks (the text and the
/// `signature` that lets the block be sent back) and redacted thinking (opaque `data`), or the
/// `reasoning_content` text of OpenAI-compatible servers (DeepSeek, vLLM: no signature). Kept
/// byte for byte: Anthropic refuses a thinking block sent back altered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reasoning {
    Thinking {
        thinking: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
        /// Where the block stood: see [`Reasoning::before`].
        #[serde(skip)]
        before: usize,
    },
    RedactedThinking {
        data: String,
        #[serde(skip)]
        before: usize,
    },
}

impl Reasoning {
    /// The index, among the turn's other blocks (its content's, then its tool calls), of the
    /// block this one came before (their count when it came after them all): interleaved
    /// thinking (`[thinking, tool_use, thinking, tool_use]`) keeps its order ([`interleave`]).
    pub fn before(&self) -> usize {
        match self {
            Reasoning::Thinking { before, .. } | Reasoning::RedactedThinking { before, .. } => *before,
        }
    }
}

/// A turn's blocks in the order they came: each reasoning block (`reasoning`, with its
/// [`Reasoning::before`]) put back before the other block at that index, in their order.
pub fn interleave<T>(reasoning: impl IntoIterator<Item = (usize, T)>, others: Vec<T>) -> Vec<T> {
    let mut reasoning = reasoning.into_iter().peekable();
    let mut out = Vec::with_capacity(others.len());
    for (i, block) in others.into_iter().enumerate() {
        while let Some((_, r)) = reasoning.next_if(|(at, _)| *at <= i) {
            out.push(r);
        }
        out.push(block);
    }
    out.extend(reasoning.map(|(_, r)| r));
    out
}

/// One step of streamed reasoning: a thinking block is its text pieces, then (when the upstream
/// signs it) its signature, which ends it; a redacted block comes whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReasoningDelta {
    Thinking(String),
    Signature(String),
    Redacted(String),
}

/// Anthropic's extended thinking, as a Messages request asks for it.
#[derive(Debug, Clone, PartialEq)]
pub enum ThinkingConfig {
    Enabled {
        budget_tokens: u32,
    },
    Disabled,
    /// A type this gateway does not model (Anthropic adds new ones, e.g. `adaptive`): the
    /// client's object as sent, forwarded unchanged to Anthropic and reported elsewhere.
    Other(Value),
}

/// The Anthropic API headers of an inbound Messages request, forwarded unchanged to Anthropic
/// upstreams only.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnthropicHeaders {
    pub version: Option<String>,
    pub beta: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Option<Content>,
    pub name: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    pub tool_call_id: Option<String>,
    /// An assistant turn's reasoning, each block placed among its text and tool calls
    /// (`Reasoning::before`): what the upstream answered, and in a request what the client
    /// sends back of earlier turns (Anthropic wants its signed thinking blocks back, unchanged,
    /// in a tool loop).
    pub reasoning: Vec<Reasoning>,
}

impl Message {
    pub fn text(role: Role, text: impl Into<String>) -> Message {
        Message {
            role,
            content: Some(Content::Text(text.into())),
            name: None,
            tool_calls: vec![],
            tool_call_id: None,
            reasoning: vec![],
        }
    }

    pub fn content_text(&self) -> String {
        self.content.as_ref().map(Content::text).unwrap_or_default()
    }

    /// An assistant turn that holds only reasoning (e.g. an answer stopped at `max_tokens` while
    /// thinking): an upstream that cannot take the reasoning back gets nothing of it, and an
    /// empty assistant message is refused, so such adapters leave it out.
    pub fn reasoning_only(&self) -> bool {
        self.role == Role::Assistant
            && !self.reasoning.is_empty()
            && self.tool_calls.is_empty()
            && self.content.as_ref().is_none_or(|c| match c {
                Content::Text(t) => t.is_empty(),
                Content::Parts(ps) => ps.is_empty(),
            })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    pub parameters: Value,
    pub strict: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoice {
    None,
    Auto,
    Required,
    Function(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema { name: String, schema: Value, strict: Option<bool> },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    /// The model the client asked for (`layerr-auto` lets the router choose).
    pub model: String,
    pub messages: Vec<Message>,
    pub stream: bool,
    pub include_usage: bool,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub response_format: Option<ResponseFormat>,
    pub n: u32,
    pub stop: Vec<String>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub frequency_penalty: Option<f32>,
    pub presence_penalty: Option<f32>,
    pub seed: Option<i64>,
    pub user: Option<String>,
    /// OpenAI's `reasoning_effort` (`none`, `minimal`, `low`, `medium`, `high`, ...), as sent:
    /// forwarded to OpenAI-format upstreams, translated to a thinking budget where the
    /// provider has one.
    pub reasoning_effort: Option<String>,
    /// OpenAI's `metadata` (string keys and values).
    pub metadata: Option<serde_json::Map<String, Value>>,
    /// Top-k sampling (a provider extra: vLLM, Anthropic, Gemini and Ollama have it).
    pub top_k: Option<u32>,
    /// Anthropic's `thinking` (a Messages request): sent as it is to Anthropic; to OpenAI
    /// reasoning models as a `reasoning_effort` and to Gemini thinking models as a
    /// `thinkingBudget` (`providers::passthrough::dropped` says where it is reported).
    pub thinking: Option<ThinkingConfig>,
    /// `anthropic-version` / `anthropic-beta` of a Messages request, for Anthropic upstreams.
    pub anthropic_headers: AnthropicHeaders,
    /// Every other parameter of the inbound request, as sent: documented OpenAI parameters
    /// Layerr does not model (`logprobs`, `logit_bias`, `service_tier`, ...) and provider
    /// extras (what the SDKs' `extra_body` adds). Forwarded as they are to OpenAI-format
    /// upstreams; other adapters translate what they can and report the rest
    /// (`providers::passthrough::dropped`).
    pub extra: serde_json::Map<String, Value>,
}

impl ChatRequest {
    pub fn needs_tools(&self) -> bool {
        !self.tools.is_empty()
    }

    pub fn needs_vision(&self) -> bool {
        self.messages.iter().any(|m| m.content.as_ref().is_some_and(Content::has_image))
    }

    pub fn needs_json(&self) -> bool {
        matches!(self.response_format, Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. }))
    }

    pub fn system_text(&self) -> Option<String> {
        let parts: Vec<String> = self
            .messages
            .iter()
            .filter(|m| matches!(m.role, Role::System | Role::Developer))
            .map(Message::content_text)
            .collect();
        (!parts.is_empty()).then(|| parts.join("\n"))
    }

    pub fn last_user_text(&self) -> String {
        self.messages.iter().rev().find(|m| m.role == Role::User).map(Message::content_text).unwrap_or_default()
    }

    /// A local estimate of prompt tokens (about 4 characters a token, plus framing per message),
    /// used before the upstream reports usage and when it never does.
    /// An upper bound on the prompt's tokens, for reserving a worst-case cost: no byte-level BPE
    /// tokenizer yields more tokens than bytes, each message's framing is counted at 16, and an
    /// image at 2,000 tokens (a high-detail 2048px image is about 1,100 on OpenAI, 1,600 on
    /// Anthropic).
    pub fn prompt_token_ceiling(&self) -> u64 {
        let images: usize = self
            .messages
            .iter()
            .filter(|m| m.content.as_ref().is_some_and(Content::has_image))
            .map(|m| match &m.content {
                Some(Content::Parts(parts)) => parts.iter().filter(|p| !matches!(p, Part::Text { .. })).count(),
                _ => 1,
            })
            .sum();
        self.estimate_prompt_tokens() * 4 + images as u64 * 2_000
    }

    pub fn estimate_prompt_tokens(&self) -> u64 {
        let chars: usize = self
            .messages
            .iter()
            .map(|m| {
                m.content_text().len()
                    + m.tool_calls.iter().map(|t| t.name.len() + t.arguments.len()).sum::<usize>()
                    + m.reasoning
                        .iter()
                        .map(|r| match r {
                            Reasoning::Thinking { thinking, .. } => thinking.len(),
                            Reasoning::RedactedThinking { data, .. } => data.len(),
                        })
                        .sum::<usize>()
                    + 16
            })
            .sum::<usize>()
            + self
                .tools
                .iter()
                .map(|t| t.name.len() + t.description.as_ref().map_or(0, String::len) + t.parameters.to_string().len())
                .sum::<usize>()
            + match &self.response_format {
                Some(ResponseFormat::JsonSchema { name, schema, .. }) => name.len() + schema.to_string().len(),
                _ => 0,
            }
            + self.stop.iter().map(String::len).sum::<usize>();
        (chars as u64).div_ceil(4)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// All input tokens, cached ones included.
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Input tokens read from the provider's prompt cache (a subset of `prompt_tokens`).
    pub cached_tokens: u64,
    /// Input tokens written to the provider's prompt cache (a subset of `prompt_tokens`).
    pub cache_write_tokens: u64,
    /// Reasoning tokens (a subset of `completion_tokens`).
    pub reasoning_tokens: u64,
    /// True when counted locally because the upstream reported none.
    pub estimated: bool,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub index: u32,
    pub message: Message,
    pub finish_reason: Option<FinishReason>,
    /// Token log probabilities, as an OpenAI-format upstream returned them.
    pub logprobs: Option<Value>,
    /// The model's refusal message (OpenAI `message.refusal`).
    pub refusal: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    pub id: String,
    pub model: String,
    pub created: i64,
    pub choices: Vec<Choice>,
    pub usage: Option<Usage>,
    /// The backend configuration that answered (OpenAI `system_fingerprint`).
    pub system_fingerprint: Option<String>,
    /// The processing tier that served the request (OpenAI `service_tier`).
    pub service_tier: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolCallDelta {
    pub index: u32,
    pub id: Option<String>,
    pub name: Option<String>,
    pub arguments: String,
}

/// One step of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The upstream's response id and model, when it says them.
    Start {
        id: Option<String>,
        model: Option<String>,
    },
    Delta {
        index: u32,
        content: Option<String>,
        tool_calls: Vec<ToolCallDelta>,
    },
    Finish {
        index: u32,
        reason: FinishReason,
    },
    Usage(Usage),
    /// What an OpenAI-format chunk carries besides text and tool calls, relayed as it came.
    Extras(StreamExtras),
}

/// Per-chunk facts an upstream streams besides text and tool calls: a choice's reasoning, log
/// probabilities (sent just before the content they describe) and refusal text, and the
/// response's `system_fingerprint` and `service_tier` (sent when first seen or changed).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamExtras {
    pub index: u32,
    /// Reasoning (Anthropic thinking, OpenAI-compatible `reasoning_content`).
    pub reasoning: Option<ReasoningDelta>,
    pub logprobs: Option<Value>,
    pub refusal: Option<String>,
    pub system_fingerprint: Option<String>,
    pub service_tier: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingRequest {
    pub model: String,
    pub inputs: Vec<String>,
    pub dimensions: Option<u32>,
    pub user: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingResponse {
    pub model: String,
    pub vectors: Vec<Vec<f32>>,
    pub usage: Usage,
}

/// A model an upstream says it serves.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteModel {
    pub id: String,
    pub owned_by: Option<String>,
}
