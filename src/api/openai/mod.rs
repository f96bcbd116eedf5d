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
    /// The reasoning text of OpenAI-compatible servers (DeepSeek, vLLM), in an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
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
                // Earlier reasoning is not sent back to OpenAI-format upstreams (DeepSeek refuses it).
                reasoning: vec![],
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
            thinking: None,
            anthropic_headers: llm::AnthropicHeaders::default(),
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
            // A turn of reasoning alone has nothing OpenAI takes back (`llm::Message::reasoning_only`).
            messages: req.messages.iter().filter(|m| !m.reasoning_only()).map(wire_message).collect(),
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
        reasoning_content: None,
    }
}

mod embeddings;
mod legacy;
mod response;
#[cfg(test)]
mod tests;

pub use embeddings::*;
pub use legacy::*;
pub use response::*;
