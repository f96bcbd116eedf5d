//! The OpenAI Chat Completions / Embeddings / Models wire format, both directions: what clients
//! send us and what we answer, and (in `crate::providers::openai`) what we send OpenAI-format
//! upstreams and read back. One definition, because it is one format.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::llm::{self, Content, FinishReason, Role};

/// Documented Chat Completions parameters Layerr does not model: kept in the canonical
/// request's `extra` and forwarded to OpenAI-format upstreams as they are; the other adapters
/// translate what they can and report the rest (`x-layerr-dropped-params`). Any other unknown
/// field (a provider extra, what the SDKs' `extra_body` sends) is treated the same way.
pub const PASSTHROUGH_PARAMS: &[&str] = &[
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "store",
    "service_tier",
    "modalities",
    "prediction",
    "audio",
    "web_search_options",
    "safety_identifier",
    "prompt_cache_key",
    "verbosity",
    "functions",
    "function_call",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionDef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireTool {
    #[serde(rename = "type")]
    pub kind: String,
    pub function: FunctionDef,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionCall {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub arguments: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionCall,
}

fn function_type() -> String {
    "function".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireMessage {
    pub role: Role,
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<WireToolCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

/// The `layerr` extension object of the spec.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerrOptions {
    #[serde(default)]
    pub strategy: Option<String>,
    #[serde(default)]
    pub fallback: Option<layerr_domain::workspace::types::FallbackMode>,
    #[serde(default)]
    pub explain: Option<bool>,
    #[serde(default)]
    pub workspace: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatCompletionRequest {
    pub model: String,
    pub messages: Vec<WireMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<WireTool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default, skip_serializing)]
    pub layerr: Option<LayerrOptions>,
    /// Every other field: documented parameters (`PASSTHROUGH_PARAMS`) and provider extras,
    /// forwarded as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A request field that is present but wrong: (field path, message).
pub type FieldError = (String, String);

fn bad(field: impl Into<String>, msg: impl Into<String>) -> FieldError {
    (field.into(), msg.into())
}

impl ChatCompletionRequest {
    /// Validates and converts to the canonical request.
    pub fn to_canonical(&self) -> Result<llm::ChatRequest, FieldError> {
        if self.model.trim().is_empty() {
            return Err(bad("model", "model must not be empty"));
        }
        if self.messages.is_empty() {
            return Err(bad("messages", "messages must contain at least one message"));
        }
        let mut messages = Vec::with_capacity(self.messages.len());
        for (i, m) in self.messages.iter().enumerate() {
            if m.role == Role::Tool && m.tool_call_id.is_none() {
                return Err(bad(format!("messages[{i}].tool_call_id"), "tool messages need tool_call_id"));
            }
            if m.content.is_none() && m.tool_calls.as_ref().is_none_or(Vec::is_empty) && m.role != Role::Assistant {
                return Err(bad(format!("messages[{i}].content"), "content is required"));
            }
            messages.push(llm::Message {
                role: m.role,
                content: m.content.clone(),
                name: m.name.clone(),
                tool_calls: m
                    .tool_calls
                    .iter()
                    .flatten()
                    .map(|t| llm::ToolCall {
                        id: t.id.clone(),
                        name: t.function.name.clone(),
                        arguments: t.function.arguments.clone(),
                    })
                    .collect(),
                tool_call_id: m.tool_call_id.clone(),
            });
        }
        let mut tools = Vec::new();
        for (i, t) in self.tools.iter().flatten().enumerate() {
            if t.kind != "function" {
                return Err(bad(format!("tools[{i}].type"), "only function tools are supported"));
            }
            if t.function.name.is_empty() || t.function.name.len() > 64 {
                return Err(bad(format!("tools[{i}].function.name"), "function name must be 1..=64 characters"));
            }
            tools.push(llm::Tool {
                name: t.function.name.clone(),
                description: t.function.description.clone(),
                parameters: t
                    .function
                    .parameters
                    .clone()
                    .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
                strict: t.function.strict,
            });
        }
        let tool_choice = match &self.tool_choice {
            None => None,
            Some(Value::String(s)) => Some(match s.as_str() {
                "none" => llm::ToolChoice::None,
                "auto" => llm::ToolChoice::Auto,
                "required" => llm::ToolChoice::Required,
                _ => return Err(bad("tool_choice", "tool_choice must be none, auto, required or a function")),
            }),
            Some(v) => match v.pointer("/function/name").and_then(Value::as_str) {
                Some(name) if v.get("type").and_then(Value::as_str) == Some("function") => {
                    if !tools.iter().any(|t| t.name == name) {
                        return Err(bad("tool_choice", format!("tool_choice names '{name}', which is not in tools")));
                    }
                    Some(llm::ToolChoice::Function(name.to_string()))
                }
                _ => return Err(bad("tool_choice", "tool_choice must be none, auto, required or a function")),
            },
        };
        if tool_choice.is_some() && tools.is_empty() && tool_choice != Some(llm::ToolChoice::None) {
            return Err(bad("tool_choice", "tool_choice needs tools"));
        }
        let response_format = match &self.response_format {
            None => None,
            Some(v) => Some(match v.get("type").and_then(Value::as_str) {
                Some("text") => llm::ResponseFormat::Text,
                Some("json_object") => llm::ResponseFormat::JsonObject,
                Some("json_schema") => {
                    let js = v
                        .get("json_schema")
                        .ok_or_else(|| bad("response_format.json_schema", "json_schema is required"))?;
                    let name = js.get("name").and_then(Value::as_str).unwrap_or("response").to_string();
                    llm::ResponseFormat::JsonSchema {
                        name,
                        schema: js.get("schema").cloned().unwrap_or(Value::Object(Map::new())),
                        strict: js.get("strict").and_then(Value::as_bool),
                    }
                }
                _ => return Err(bad("response_format.type", "type must be text, json_object or json_schema")),
            }),
        };
        let n = self.n.unwrap_or(1);
        if !(1..=16).contains(&n) {
            return Err(bad("n", "n must be between 1 and 16"));
        }
        let stop = match &self.stop {
            None => vec![],
            Some(Stop::One(s)) => vec![s.clone()],
            Some(Stop::Many(v)) => v.clone(),
        };
        if stop.len() > 4 {
            return Err(bad("stop", "at most 4 stop sequences"));
        }
        if let Some(t) = self.temperature {
            if !(0.0..=2.0).contains(&t) {
                return Err(bad("temperature", "temperature must be between 0 and 2"));
            }
        }
        if let Some(p) = self.top_p {
            if !(0.0..=1.0).contains(&p) {
                return Err(bad("top_p", "top_p must be between 0 and 1"));
            }
        }
        for (field, v) in [("frequency_penalty", self.frequency_penalty), ("presence_penalty", self.presence_penalty)] {
            if v.is_some_and(|v| !(-2.0..=2.0).contains(&v)) {
                return Err(bad(field, format!("{field} must be between -2 and 2")));
            }
        }
        let max_tokens = self.max_completion_tokens.or(self.max_tokens);
        if max_tokens == Some(0) {
            return Err(bad("max_tokens", "max_tokens must be at least 1"));
        }
        let stream = self.stream.unwrap_or(false);
        let (top_k, extra) = split_top_k(&self.extra);
        Ok(llm::ChatRequest {
            model: self.model.clone(),
            messages,
            stream,
            include_usage: stream && self.stream_options.as_ref().and_then(|o| o.include_usage).unwrap_or(false),
            tools,
            tool_choice,
            parallel_tool_calls: self.parallel_tool_calls,
            response_format,
            n,
            stop,
            max_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            frequency_penalty: self.frequency_penalty,
            presence_penalty: self.presence_penalty,
            seed: self.seed,
            user: self.user.clone(),
            reasoning_effort: self.reasoning_effort.clone(),
            metadata: self.metadata.clone(),
            top_k,
            extra,
        })
    }

    /// The wire request for an OpenAI-format upstream: every parameter the client sent, its
    /// extras (and then `extra`) included.
    pub fn from_canonical(req: &llm::ChatRequest, model: &str, stream: bool, extra: &Map<String, Value>) -> Self {
        let mut extras = req.extra.clone();
        if let Some(k) = req.top_k {
            extras.insert("top_k".into(), k.into());
        }
        extras.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        // A field the wire type models is never duplicated from the extras.
        for modelled in ["model", "messages", "stream", "stream_options", "layerr"] {
            extras.remove(modelled);
        }
        ChatCompletionRequest {
            model: model.to_string(),
            messages: req.messages.iter().map(wire_message).collect(),
            stream: stream.then_some(true),
            // Always ask for usage: streamed answers are charged exactly like the others.
            stream_options: stream.then_some(StreamOptions { include_usage: Some(true) }),
            tools: (!req.tools.is_empty()).then(|| {
                req.tools
                    .iter()
                    .map(|t| WireTool {
                        kind: "function".into(),
                        function: FunctionDef {
                            name: t.name.clone(),
                            description: t.description.clone(),
                            parameters: Some(t.parameters.clone()),
                            strict: t.strict,
                        },
                    })
                    .collect()
            }),
            tool_choice: req.tool_choice.as_ref().map(|c| match c {
                llm::ToolChoice::None => Value::from("none"),
                llm::ToolChoice::Auto => Value::from("auto"),
                llm::ToolChoice::Required => Value::from("required"),
                llm::ToolChoice::Function(name) => serde_json::json!({"type": "function", "function": {"name": name}}),
            }),
            parallel_tool_calls: req.parallel_tool_calls,
            response_format: req.response_format.as_ref().map(|f| match f {
                llm::ResponseFormat::Text => serde_json::json!({"type": "text"}),
                llm::ResponseFormat::JsonObject => serde_json::json!({"type": "json_object"}),
                llm::ResponseFormat::JsonSchema { name, schema, strict } => {
                    let mut js = serde_json::json!({"name": name, "schema": schema});
                    if let Some(s) = strict {
                        js["strict"] = Value::Bool(*s);
                    }
                    serde_json::json!({"type": "json_schema", "json_schema": js})
                }
            }),
            n: (req.n != 1).then_some(req.n),
            stop: (!req.stop.is_empty()).then(|| Stop::Many(req.stop.clone())),
            max_tokens: None,
            max_completion_tokens: req.max_tokens,
            temperature: req.temperature,
            top_p: req.top_p,
            frequency_penalty: req.frequency_penalty,
            presence_penalty: req.presence_penalty,
            seed: req.seed,
            user: req.user.clone(),
            reasoning_effort: req.reasoning_effort.clone(),
            metadata: req.metadata.clone(),
            layerr: None,
            extra: extras,
        }
    }
}

/// `top_k` as a canonical field when it is a positive integer; any other value (vLLM's `-1`
/// disables it) stays an extra, forwarded as it is.
fn split_top_k(extra: &Map<String, Value>) -> (Option<u32>, Map<String, Value>) {
    let mut extra = extra.clone();
    let top_k = extra.get("top_k").and_then(Value::as_u64).filter(|k| *k >= 1).and_then(|k| u32::try_from(k).ok());
    if top_k.is_some() {
        extra.remove("top_k");
    }
    (top_k, extra)
}

pub fn wire_message(m: &llm::Message) -> WireMessage {
    WireMessage {
        role: m.role,
        content: m.content.clone(),
        name: m.name.clone(),
        tool_calls: (!m.tool_calls.is_empty()).then(|| {
            m.tool_calls
                .iter()
                .map(|t| WireToolCall {
                    id: t.id.clone(),
                    kind: "function".into(),
                    function: FunctionCall { name: t.name.clone(), arguments: t.arguments.clone() },
                })
                .collect()
        }),
        tool_call_id: m.tool_call_id.clone(),
        refusal: None,
    }
}

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
                    let message = WireMessage { refusal: c.refusal.clone(), ..wire_message(&c.message) };
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbeddingsRequest {
    pub model: String,
    pub input: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing)]
    pub layerr: Option<LayerrOptions>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingVector {
    Float(Vec<f32>),
    Base64(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbeddingData {
    #[serde(default = "embedding_object")]
    pub object: String,
    pub embedding: EmbeddingVector,
    pub index: u32,
}

fn embedding_object() -> String {
    "embedding".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbeddingsResponse {
    #[serde(default = "list_object")]
    pub object: String,
    pub data: Vec<EmbeddingData>,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub usage: WireUsage,
}

fn list_object() -> String {
    "list".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelObject {
    pub id: String,
    #[serde(default = "model_object")]
    pub object: String,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub owned_by: String,
}

fn model_object() -> String {
    "model".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelList {
    #[serde(default = "list_object")]
    pub object: String,
    pub data: Vec<ModelObject>,
}

/// A legacy `prompt`: one string, or an array of strings (token arrays are not accepted).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Prompt {
    One(String),
    Many(Vec<String>),
}

/// `POST /v1/completions` (legacy text completions), answered by a chat model: the prompt is
/// the user message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompletionRequest {
    pub model: String,
    pub prompt: Prompt,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// How many most likely tokens to return for each position (0..=5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_of: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logit_bias: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing)]
    pub layerr: Option<LayerrOptions>,
    /// Provider extras, forwarded like the chat route's.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The legacy default of `max_tokens` (OpenAI documents 16).
pub const LEGACY_MAX_TOKENS: u32 = 16;

impl CompletionRequest {
    /// The prompt text (one prompt per request).
    pub fn prompt_text(&self) -> Result<&str, FieldError> {
        match &self.prompt {
            Prompt::One(p) => Ok(p),
            Prompt::Many(v) if v.len() == 1 => Ok(&v[0]),
            Prompt::Many(v) if v.is_empty() => Err(bad("prompt", "prompt must not be empty")),
            Prompt::Many(_) => {
                Err(bad("prompt", "one prompt per request is supported: send several prompts as separate requests"))
            }
        }
    }

    /// The chat request that answers it (validated as a chat request is), and the parameters
    /// no chat model can honour: `suffix`, and `best_of` above `n`.
    pub fn to_canonical(&self) -> Result<(llm::ChatRequest, Vec<String>), FieldError> {
        let prompt = self.prompt_text()?.to_string();
        if prompt.is_empty() {
            return Err(bad("prompt", "prompt must not be empty"));
        }
        if let Some(l) = self.logprobs {
            if l > 5 {
                return Err(bad("logprobs", "logprobs must be between 0 and 5"));
            }
        }
        let n = self.n.unwrap_or(1);
        if let Some(b) = self.best_of {
            if b < n {
                return Err(bad("best_of", "best_of must be at least n"));
            }
        }
        let mut extra = self.extra.clone();
        if let Some(l) = self.logprobs {
            extra.insert("logprobs".into(), Value::Bool(true));
            extra.insert("top_logprobs".into(), l.into());
        }
        if let Some(b) = &self.logit_bias {
            extra.insert("logit_bias".into(), b.clone());
        }
        let chat = ChatCompletionRequest {
            model: self.model.clone(),
            messages: vec![WireMessage {
                role: Role::User,
                content: Some(Content::Text(prompt)),
                name: None,
                tool_calls: None,
                tool_call_id: None,
                refusal: None,
            }],
            stream: self.stream,
            stream_options: self.stream_options.clone(),
            tools: None,
            tool_choice: None,
            parallel_tool_calls: None,
            response_format: None,
            n: self.n,
            stop: self.stop.clone(),
            max_tokens: Some(self.max_tokens.unwrap_or(LEGACY_MAX_TOKENS)),
            max_completion_tokens: None,
            temperature: self.temperature,
            top_p: self.top_p,
            frequency_penalty: self.frequency_penalty,
            presence_penalty: self.presence_penalty,
            seed: self.seed,
            user: self.user.clone(),
            reasoning_effort: None,
            metadata: None,
            layerr: None,
            extra,
        };
        let req = chat.to_canonical()?;
        let mut dropped = Vec::new();
        if self.suffix.as_deref().is_some_and(|s| !s.is_empty()) {
            dropped.push("suffix".to_string());
        }
        if self.best_of.is_some_and(|b| b > n) {
            dropped.push("best_of".to_string());
        }
        Ok((req, dropped))
    }
}

/// One legacy choice.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TextChoice {
    pub text: String,
    pub index: u32,
    pub logprobs: Option<LegacyLogprobs>,
    pub finish_reason: Option<String>,
}

/// The legacy `logprobs` object: per token, its text, log probability, the most likely
/// alternatives and its offset in the text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LegacyLogprobs {
    pub tokens: Vec<String>,
    pub token_logprobs: Vec<Option<f64>>,
    pub top_logprobs: Vec<Map<String, Value>>,
    pub text_offset: Vec<usize>,
}

impl LegacyLogprobs {
    /// From chat logprobs (`{"content": [{"token", "logprob", "top_logprobs": [...]}]}`), the
    /// offsets counted from `offset`.
    pub fn from_chat(v: &Value, offset: usize) -> Option<LegacyLogprobs> {
        let content = v.get("content")?.as_array()?;
        let mut out = LegacyLogprobs::default();
        let mut at = offset;
        for t in content {
            let token = t.get("token").and_then(Value::as_str).unwrap_or_default().to_string();
            out.text_offset.push(at);
            at += token.len();
            out.token_logprobs.push(t.get("logprob").and_then(Value::as_f64));
            let mut top = Map::new();
            for alt in t.get("top_logprobs").and_then(Value::as_array).into_iter().flatten() {
                if let (Some(tok), Some(lp)) = (alt.get("token").and_then(Value::as_str), alt.get("logprob")) {
                    top.insert(tok.to_string(), lp.clone());
                }
            }
            out.top_logprobs.push(top);
            out.tokens.push(token);
        }
        Some(out)
    }
}

/// A legacy completion, or one streamed chunk of it (same shape, `object: text_completion`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TextCompletion {
    pub id: String,
    pub object: String,
    pub created: i64,
    pub model: String,
    pub choices: Vec<TextChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<WireUsage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
}

/// The legacy id for a chat response id (`chatcmpl-x` → `cmpl-x`).
pub fn legacy_id(chat_id: &str) -> String {
    format!("cmpl-{}", chat_id.strip_prefix("chatcmpl-").unwrap_or(chat_id))
}

impl TextCompletion {
    /// The legacy answer of a chat response; `echo` puts the prompt before each text.
    pub fn from_chat(r: &llm::ChatResponse, echo: Option<&str>) -> Self {
        let prefix = echo.unwrap_or_default();
        TextCompletion {
            id: legacy_id(&r.id),
            object: "text_completion".into(),
            created: r.created,
            model: r.model.clone(),
            choices: r
                .choices
                .iter()
                .map(|c| TextChoice {
                    text: format!("{prefix}{}", c.message.content_text()),
                    index: c.index,
                    logprobs: c.logprobs.as_ref().and_then(|l| LegacyLogprobs::from_chat(l, prefix.len())),
                    finish_reason: c.finish_reason.map(legacy_finish_reason),
                })
                .collect(),
            usage: r.usage.as_ref().map(|u| WireUsage {
                prompt_tokens_details: None,
                completion_tokens_details: None,
                ..WireUsage::from(u)
            }),
            system_fingerprint: r.system_fingerprint.clone(),
        }
    }
}

/// Legacy finish reasons are `stop`, `length` and `content_filter`.
pub fn legacy_finish_reason(f: FinishReason) -> String {
    match f {
        FinishReason::Length => "length",
        FinishReason::ContentFilter => "content_filter",
        FinishReason::Stop | FinishReason::ToolCalls => "stop",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<llm::ChatRequest, FieldError> {
        serde_json::from_value::<ChatCompletionRequest>(v).unwrap().to_canonical()
    }

    #[test]
    fn a_full_request_converts() {
        let r = parse(serde_json::json!({
            "model": "layerr-auto",
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            "stream": true, "stream_options": {"include_usage": true},
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "response_format": {"type": "json_object"}, "n": 2, "stop": "END", "max_completion_tokens": 50,
            "temperature": 0.2, "top_p": 0.9, "seed": 7, "user": "u1", "metadata": {"a": "b"},
            "layerr": {"strategy": "quality", "fallback": "strict", "explain": true}
        }))
        .unwrap();
        assert!(r.stream && r.include_usage);
        assert_eq!(r.tool_choice, Some(llm::ToolChoice::Function("get_weather".into())));
        assert_eq!(r.stop, vec!["END"]);
        assert_eq!(r.max_tokens, Some(50));
        assert_eq!(r.n, 2);
        assert!(r.needs_json() && r.needs_tools());
        assert_eq!(r.system_text().as_deref(), Some("be brief"));
        assert_eq!(r.last_user_text(), "hi");
    }

    #[test]
    fn bad_fields_are_named() {
        let base = |extra: Value| {
            let mut v = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
            for (k, val) in extra.as_object().unwrap() {
                v[k] = val.clone();
            }
            parse(v).unwrap_err().0
        };
        assert_eq!(base(serde_json::json!({"temperature": 3})), "temperature");
        assert_eq!(base(serde_json::json!({"n": 0})), "n");
        assert_eq!(base(serde_json::json!({"messages": []})), "messages");
        assert_eq!(
            base(serde_json::json!({"metadata": {"a": "b"}, "reasoning_effort": "x", "messages": []})),
            "messages"
        );
        assert_eq!(base(serde_json::json!({"tool_choice": "required"})), "tool_choice");
        assert_eq!(base(serde_json::json!({"response_format": {"type": "xml"}})), "response_format.type");
    }

    #[test]
    fn unknown_fields_are_extras_not_errors() {
        let r = parse(serde_json::json!({
            "model": "m", "messages": [{"role": "user", "content": "x"}],
            "bogus": 1, "top_k": 5, "repetition_penalty": 1.1, "logprobs": true
        }))
        .unwrap();
        assert_eq!(r.top_k, Some(5));
        assert_eq!(r.extra["bogus"], 1);
        assert_eq!(r.extra["repetition_penalty"], 1.1);
        assert_eq!(r.extra["logprobs"], true);
        assert!(!r.extra.contains_key("top_k"));
    }

    #[test]
    fn response_extras_round_trip() {
        let lp = serde_json::json!({"content": [{"token": "a", "logprob": -0.5, "top_logprobs": []}], "refusal": null});
        let wire: ChatCompletion = serde_json::from_value(serde_json::json!({
            "id": "x", "object": "chat.completion", "created": 1, "model": "m",
            "system_fingerprint": "fp_1", "service_tier": "flex",
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": lp,
                         "message": {"role": "assistant", "content": null, "refusal": "I can't"}}]
        }))
        .unwrap();
        let canonical = wire.to_canonical();
        assert_eq!(canonical.system_fingerprint.as_deref(), Some("fp_1"));
        assert_eq!(canonical.choices[0].refusal.as_deref(), Some("I can't"));
        let back = serde_json::to_value(ChatCompletion::from_canonical(&canonical)).unwrap();
        assert_eq!(back["system_fingerprint"], "fp_1");
        assert_eq!(back["service_tier"], "flex");
        assert_eq!(back["choices"][0]["logprobs"], lp);
        assert_eq!(back["choices"][0]["message"]["refusal"], "I can't");
        assert!(back["choices"][0]["message"]["content"].is_null());
    }

    #[test]
    fn a_legacy_completion_becomes_a_chat_request() {
        let body: CompletionRequest = serde_json::from_value(serde_json::json!({
            "model": "m", "prompt": ["Say hi"], "logprobs": 2, "echo": true, "suffix": "!", "best_of": 3, "n": 1,
            "seed": 4, "stop": "\n", "top_k": 3
        }))
        .unwrap();
        let (req, dropped) = body.to_canonical().unwrap();
        assert_eq!(req.last_user_text(), "Say hi");
        assert_eq!(req.max_tokens, Some(LEGACY_MAX_TOKENS));
        assert_eq!(req.extra["logprobs"], true);
        assert_eq!(req.extra["top_logprobs"], 2);
        assert_eq!((req.seed, req.top_k, req.stop.clone()), (Some(4), Some(3), vec!["\n".to_string()]));
        assert_eq!(dropped, ["suffix", "best_of"]);
        let many: CompletionRequest =
            serde_json::from_value(serde_json::json!({"model": "m", "prompt": ["a", "b"]})).unwrap();
        assert_eq!(many.to_canonical().unwrap_err().0, "prompt");
        let bad: CompletionRequest =
            serde_json::from_value(serde_json::json!({"model": "m", "prompt": "a", "logprobs": 9})).unwrap();
        assert_eq!(bad.to_canonical().unwrap_err().0, "logprobs");
    }

    #[test]
    fn chat_logprobs_become_legacy_logprobs() {
        let chat = serde_json::json!({"content": [
            {"token": "Hi", "logprob": -0.1, "top_logprobs": [{"token": "Hi", "logprob": -0.1}, {"token": "Yo", "logprob": -2.0}]},
            {"token": "!", "logprob": -0.3, "top_logprobs": []}
        ]});
        let l = LegacyLogprobs::from_chat(&chat, 4).unwrap();
        assert_eq!(l.tokens, ["Hi", "!"]);
        assert_eq!(l.token_logprobs, [Some(-0.1), Some(-0.3)]);
        assert_eq!(l.text_offset, [4, 6]);
        assert_eq!(l.top_logprobs[0]["Yo"], -2.0);
    }
}
