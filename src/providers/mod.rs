//! Provider adapters: each folder translates the canonical types (`crate::llm`) to one upstream's
//! wire format and back, streams included, and maps its errors to a typed `ProviderError`.
//! Dispatch is a static match on the provider kind; one pooled HTTP client serves them all.

pub mod anthropic;
pub mod gemini;
pub mod ollama;
pub mod openai;
pub mod passthrough;
mod sse;
#[cfg(test)]
mod test_support;

use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use serde::{Deserialize, Serialize};

use crate::llm::{ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, RemoteModel, StreamEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    #[serde(rename = "openai")]
    OpenAi,
    Anthropic,
    Ollama,
    Gemini,
    #[serde(rename = "openai-compatible")]
    OpenAiCompatible,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Ollama => "ollama",
            ProviderKind::Gemini => "gemini",
            ProviderKind::OpenAiCompatible => "openai-compatible",
        }
    }

    pub fn parse(s: &str) -> Option<ProviderKind> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }

    /// The catalog's provider type for price and capability lookups.
    pub fn catalog_type(self) -> &'static str {
        self.as_str()
    }

    /// Whether the provider type has an embeddings API (Anthropic has none).
    pub fn has_embeddings(self) -> bool {
        self != ProviderKind::Anthropic
    }

    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            ProviderKind::OpenAi => Some("https://api.openai.com/v1"),
            ProviderKind::Anthropic => Some("https://api.anthropic.com"),
            ProviderKind::Ollama => Some("http://127.0.0.1:11434"),
            ProviderKind::Gemini => Some("https://generativelanguage.googleapis.com"),
            ProviderKind::OpenAiCompatible => None,
        }
    }
}

/// How an upstream call failed: the domain's vocabulary, recorded on every failed attempt.
pub use layerr_domain::trace::ErrorKind;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{kind:?} from upstream{}: {message}", status.map(|s| format!(" ({s})")).unwrap_or_default())]
pub struct ProviderError {
    pub kind: ErrorKind,
    pub status: Option<u16>,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl ProviderError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProviderError { kind, status: None, message: message.into(), retry_after: None }
    }

    pub fn from_status(status: u16, message: String, retry_after: Option<Duration>) -> Self {
        let kind = match status {
            429 => ErrorKind::RateLimited,
            401 | 403 => ErrorKind::Auth,
            404 => ErrorKind::NotFound,
            408 => ErrorKind::Timeout,
            400..=499 => ErrorKind::BadRequest,
            _ => ErrorKind::Server,
        };
        ProviderError { kind, status: Some(status), message, retry_after }
    }

    pub fn from_reqwest(e: reqwest::Error) -> Self {
        let kind = if e.is_timeout() {
            ErrorKind::Timeout
        } else if e.is_decode() {
            ErrorKind::Decode
        } else {
            ErrorKind::Connect
        };
        // reqwest's Display includes the URL, never headers: no credentials leak here.
        ProviderError::new(kind, e.without_url().to_string())
    }
}

pub type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, ProviderError>> + Send>>;

/// Where and how to reach one upstream.
#[derive(Clone, Copy)]
pub struct Upstream<'a> {
    pub client: &'a reqwest::Client,
    pub kind: ProviderKind,
    pub base_url: &'a str,
    pub api_key: Option<&'a str>,
    /// Total time allowed for one attempt.
    pub timeout: Duration,
    /// The target model reasons (the catalog's `reasoning` for it, as this provider serves it):
    /// only then does an adapter translate a Messages `thinking` into the provider's reasoning
    /// control (a non-reasoning OpenAI model refuses `reasoning_effort`). False unless set.
    pub reasoning: bool,
}

impl<'a> Upstream<'a> {
    /// The one way an upstream is made (the gateway's is `gateway::facts::upstream`, from a
    /// provider's resolved facts).
    pub fn new(
        client: &'a reqwest::Client,
        kind: ProviderKind,
        base_url: &'a str,
        api_key: Option<&'a str>,
        timeout: Duration,
    ) -> Self {
        Upstream { client, kind, base_url, api_key, timeout, reasoning: false }
    }

    /// The same upstream, for a model that reasons or not (`reasoning`).
    pub fn with_reasoning(self, reasoning: bool) -> Self {
        Upstream { reasoning, ..self }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url.trim_end_matches('/'), path)
    }
}

pub async fn chat(up: &Upstream<'_>, req: &ChatRequest, model: &str) -> Result<ChatResponse, ProviderError> {
    let resp = match up.kind {
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => openai::chat(up, req, model).await,
        ProviderKind::Anthropic => anthropic::chat(up, req, model).await,
        ProviderKind::Ollama => ollama::chat(up, req, model).await,
        ProviderKind::Gemini => gemini::chat(up, req, model).await,
    }?;
    check_answer(&resp)?;
    Ok(resp)
}

/// The most bytes taken from one upstream response: a JSON body, or a whole stream. Past it the
/// answer is refused as undecodable (it is never buffered or relayed whole).
pub const MAX_RESPONSE_BYTES: usize = 32 << 20;
/// The most bytes of an upstream's error body read for its message.
const MAX_ERROR_BODY_BYTES: usize = 64 << 10;

/// A success that carries no answer, or usage no real model can have, is the upstream's fault:
/// refused as undecodable (the chain moves on; nothing is charged).
pub(crate) fn check_answer(resp: &ChatResponse) -> Result<(), ProviderError> {
    if resp.choices.is_empty() {
        return Err(ProviderError::new(ErrorKind::Decode, "the upstream answered with no choices"));
    }
    match &resp.usage {
        Some(u) => check_usage(u),
        None => Ok(()),
    }
}

/// Usage beyond [`layerr_domain::money::MAX_USAGE_TOKENS`] of any kind is implausible.
pub(crate) fn check_usage(u: &crate::llm::Usage) -> Result<(), ProviderError> {
    let max = layerr_domain::money::MAX_USAGE_TOKENS;
    let kinds = [
        ("prompt", u.prompt_tokens),
        ("completion", u.completion_tokens),
        ("cached", u.cached_tokens),
        ("cache write", u.cache_write_tokens),
        ("reasoning", u.reasoning_tokens),
    ];
    match kinds.iter().find(|(_, n)| *n > max) {
        Some((kind, n)) => Err(ProviderError::new(
            ErrorKind::Decode,
            format!("the upstream reported an implausible usage ({n} {kind} tokens; at most {max} are accepted)"),
        )),
        None => Ok(()),
    }
}

/// Reads a response body, refusing one larger than [`MAX_RESPONSE_BYTES`].
pub(crate) async fn read_body(resp: reqwest::Response) -> Result<bytes::Bytes, ProviderError> {
    read_capped(resp, MAX_RESPONSE_BYTES).await.map_err(|e| e.unwrap_or_else(|| too_large(MAX_RESPONSE_BYTES)))
}

fn too_large(cap: usize) -> ProviderError {
    ProviderError::new(ErrorKind::Decode, format!("the upstream response exceeds {} MiB", cap >> 20))
}

/// The body, or `Err(None)` past `cap` bytes (the rest is not read), or the transport's error.
async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<bytes::Bytes, Option<ProviderError>> {
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(None);
    }
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| Some(ProviderError::from_reqwest(e)))? {
        if buf.len() + chunk.len() > cap {
            return Err(None);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// A stream request must be answered with an event stream. A 200 with a JSON body (a server that
/// ignored `stream: true`, or an error dressed as a success) is refused before anything reaches
/// the client, so the chain can still fall back.
pub(crate) async fn expect_sse(resp: reqwest::Response) -> Result<reqwest::Response, ProviderError> {
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.to_ascii_lowercase())
        .unwrap_or_default();
    if content_type.starts_with("application/json") {
        let body = read_capped(resp, MAX_ERROR_BODY_BYTES).await.unwrap_or_default();
        return Err(ProviderError::new(
            ErrorKind::Decode,
            format!("the upstream answered a stream request with a non-stream body: {}", upstream_message(&body)),
        ));
    }
    Ok(resp)
}

/// Starts a stream: returns once the upstream has accepted the request (status known), so a
/// failure here can still fall back before anything reaches the client.
pub async fn stream(up: &Upstream<'_>, req: &ChatRequest, model: &str) -> Result<EventStream, ProviderError> {
    use futures::StreamExt;
    let events = match up.kind {
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => openai::stream(up, req, model).await,
        ProviderKind::Anthropic => anthropic::stream(up, req, model).await,
        ProviderKind::Ollama => ollama::stream(up, req, model).await,
        ProviderKind::Gemini => gemini::stream(up, req, model).await,
    }?;
    // Implausible usage ends the stream as an upstream fault instead of being charged.
    Ok(Box::pin(events.map(|ev| match ev {
        Ok(StreamEvent::Usage(u)) => check_usage(&u).map(|()| StreamEvent::Usage(u)),
        other => other,
    })))
}

pub async fn embed(up: &Upstream<'_>, req: &EmbeddingRequest, model: &str) -> Result<EmbeddingResponse, ProviderError> {
    match up.kind {
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => openai::embed(up, req, model).await,
        ProviderKind::Ollama => ollama::embed(up, req, model).await,
        ProviderKind::Gemini => gemini::embed(up, req, model).await,
        ProviderKind::Anthropic => {
            Err(ProviderError::new(ErrorKind::NotFound, "Anthropic has no embeddings API".to_string()))
        }
    }
}

pub async fn models(up: &Upstream<'_>) -> Result<Vec<RemoteModel>, ProviderError> {
    match up.kind {
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => openai::models(up).await,
        ProviderKind::Anthropic => anthropic::models(up).await,
        ProviderKind::Ollama => ollama::models(up).await,
        ProviderKind::Gemini => gemini::models(up).await,
    }
}

/// Sends a request and turns a non-2xx answer into a `ProviderError` with the upstream's message.
pub(crate) async fn send(rb: reqwest::RequestBuilder) -> Result<reqwest::Response, ProviderError> {
    let resp = rb.send().await.map_err(ProviderError::from_reqwest)?;
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|s| Duration::from_secs_f64(s.clamp(0.0, 3600.0)));
    let body = read_capped(resp, MAX_ERROR_BODY_BYTES).await.unwrap_or_default();
    Err(ProviderError::from_status(status.as_u16(), upstream_message(&body), retry_after))
}

/// The human message inside an upstream error body (OpenAI, Anthropic, Gemini and Ollama shapes).
pub(crate) fn upstream_message(body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let found = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.get("error").filter(|e| e.is_string()))
            .or_else(|| v.get("message"))
            .and_then(|m| m.as_str())
            .map(str::to_string)
    });
    found.unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let t = text.trim();
        if t.is_empty() {
            "no error message".to_string()
        } else {
            t.chars().take(500).collect()
        }
    })
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ProviderError::new(ErrorKind::Decode, format!("unexpected upstream response: {e}")))
}

pub(crate) fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}
