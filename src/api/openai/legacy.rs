//! Legacy text completions (`/v1/completions`): the request, converted to a chat request, and
//! the `text_completion` answer.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::*;

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
                reasoning_content: None,
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
