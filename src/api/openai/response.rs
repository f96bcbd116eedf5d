//! The Chat Completions answer: usage, the completion, and the streamed chunks.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::*;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PromptDetails {
    #[serde(default)]
    pub cached_tokens: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CompletionDetails {
    #[serde(default)]
    pub reasoning_tokens: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WireUsage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionDetails>,
}

impl From<&WireUsage> for llm::Usage {
    fn from(u: &WireUsage) -> Self {
        llm::Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            cached_tokens: u.prompt_tokens_details.as_ref().map_or(0, |d| d.cached_tokens),
            cache_write_tokens: 0,
            reasoning_tokens: u.completion_tokens_details.as_ref().map_or(0, |d| d.reasoning_tokens),
            estimated: false,
        }
    }
}

impl From<&llm::Usage> for WireUsage {
    fn from(u: &llm::Usage) -> Self {
        WireUsage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.total(),
            prompt_tokens_details: Some(PromptDetails { cached_tokens: u.cached_tokens }),
            completion_tokens_details: Some(CompletionDetails { reasoning_tokens: u.reasoning_tokens }),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireChoice {
    #[serde(default)]
    pub index: u32,
    pub message: WireMessage,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub logprobs: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatCompletion {
    #[serde(default)]
    pub id: String,
    #[serde(default = "completion_object")]
    pub object: String,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub model: String,
    pub choices: Vec<WireChoice>,
    #[serde(default)]
    pub usage: Option<WireUsage>,
    #[serde(default)]
    pub system_fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
}

fn completion_object() -> String {
    "chat.completion".into()
}

pub fn finish_reason(s: &str) -> Option<FinishReason> {
    Some(match s {
        "stop" | "end_turn" | "stop_sequence" => FinishReason::Stop,
        "length" | "max_tokens" => FinishReason::Length,
        "tool_calls" | "function_call" | "tool_use" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        _ => return None,
    })
}

impl ChatCompletion {
    pub fn to_canonical(&self) -> llm::ChatResponse {
        llm::ChatResponse {
            id: self.id.clone(),
            model: self.model.clone(),
            created: self.created,
            choices: self
                .choices
                .iter()
                .map(|c| llm::Choice {
                    index: c.index,
                    message: llm::Message {
                        role: Role::Assistant,
                        content: c.message.content.clone(),
                        name: None,
                        tool_calls: c
                            .message
                            .tool_calls
                            .iter()
                            .flatten()
                            .map(|t| llm::ToolCall {
                                id: t.id.clone(),
                                name: t.function.name.clone(),
                                arguments: t.function.arguments.clone(),
                            })
                            .collect(),
                        tool_call_id: None,
                        reasoning: c
                            .message
                            .reasoning_content
                            .iter()
                            .filter(|r| !r.is_empty())
                            .map(|r| llm::Reasoning::Thinking { thinking: r.clone(), signature: None, before: 0 })
                            .collect(),
                    },
                    finish_reason: c.finish_reason.as_deref().and_then(finish_reason),
                    logprobs: c.logprobs.clone().filter(|l| !l.is_null()),
                    refusal: c.message.refusal.clone(),
                })
                .collect(),
            usage: self.usage.as_ref().map(llm::Usage::from),
            system_fingerprint: self.system_fingerprint.clone(),
            service_tier: self.service_tier.clone(),
        }
    }

    pub fn from_canonical(r: &llm::ChatResponse) -> Self {
        ChatCompletion {
            id: r.id.clone(),
            object: completion_object(),
            created: r.created,
            model: r.model.clone(),
            choices: r
                .choices
                .iter()
                .map(|c| {
                    // OpenAI always sends `content` (null with tool calls).
                    let message = WireMessage {
                        refusal: c.refusal.clone(),
                        reasoning_content: reasoning_text(&c.message.reasoning),
                        ..wire_message(&c.message)
                    };
                    WireChoice {
                        index: c.index,
                        message,
                        finish_reason: c.finish_reason.map(|f| f.as_str().to_string()),
                        logprobs: c.logprobs.clone(),
                    }
                })
                .collect(),
            usage: r.usage.as_ref().map(WireUsage::from),
            system_fingerprint: r.system_fingerprint.clone(),
            service_tier: r.service_tier.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChunkFunction {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChunkToolCall {
    #[serde(default)]
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub function: ChunkFunction,
}

/// The text of an answer's reasoning, as `reasoning_content` (redacted thinking has none).
pub fn reasoning_text(reasoning: &[llm::Reasoning]) -> Option<String> {
    let texts: Vec<&str> = reasoning
        .iter()
        .filter_map(|r| match r {
            llm::Reasoning::Thinking { thinking, .. } => Some(thinking.as_str()),
            llm::Reasoning::RedactedThinking { .. } => None,
        })
        .collect();
    (!texts.is_empty()).then(|| texts.concat())
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ChunkToolCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Reasoning text (OpenAI-compatible servers: DeepSeek, vLLM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChunkChoice {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub delta: Delta,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub logprobs: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatCompletionChunk {
    #[serde(default)]
    pub id: String,
    #[serde(default = "chunk_object")]
    pub object: String,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    #[serde(default)]
    pub usage: Option<WireUsage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
}

fn chunk_object() -> String {
    "chat.completion.chunk".into()
}
