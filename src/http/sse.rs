//! The OpenAI framing of the chat service's typed stream: `chat.completion.chunk` SSE frames, a
//! usage chunk when the client asked for one, an error event when the upstream failed after its
//! first event, and `data: [DONE]`. `/v1/chat/completions` sends it as it is; `/api/chat` sends
//! it too, recording its turn from the typed [`Outcome`] before `[DONE]`.

use axum::body::Bytes;

use crate::api::openai::{ChatCompletionChunk, ChunkChoice, ChunkFunction, ChunkToolCall, Delta, WireUsage};
use crate::gateway::{Outcome, StreamInfo, Streamed};
use crate::llm::Role;

pub const DONE: &[u8] = b"data: [DONE]\n\n";

/// A streamed answer: `text/event-stream`, not cached (every inbound format's stream).
pub fn response<S>(body: S) -> axum::response::Response
where
    S: futures::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static,
{
    use axum::http::{header, HeaderValue};
    let mut r = axum::response::Response::new(axum::body::Body::from_stream(body));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// One `data:` frame.
/// The OpenAI error `type` of an in-stream failure, by its code.
pub fn failure_type(code: &str) -> &'static str {
    if code == "GUARDRAIL_VIOLATION" {
        "invalid_request_error"
    } else {
        "api_error"
    }
}

pub fn frame(json: &impl serde::Serialize) -> Bytes {
    let mut v = b"data: ".to_vec();
    serde_json::to_writer(&mut v, json).unwrap_or_default();
    v.extend_from_slice(b"\n\n");
    Bytes::from(v)
}

/// Frames one stream's events as OpenAI chunks. The upstream's `system_fingerprint` and
/// `service_tier` are stamped on every chunk once known; a choice's log probabilities (which the
/// adapter sends just before their content) ride on that choice's next chunk.
pub struct OpenAiFramer {
    info: StreamInfo,
    fingerprint: Option<String>,
    tier: Option<String>,
    logprobs: Vec<(u32, serde_json::Value)>,
}

impl OpenAiFramer {
    pub fn new(info: StreamInfo) -> OpenAiFramer {
        OpenAiFramer { info, fingerprint: None, tier: None, logprobs: Vec::new() }
    }

    fn chunk(&self, choices: Vec<ChunkChoice>, usage: Option<WireUsage>) -> Bytes {
        frame(&ChatCompletionChunk {
            id: self.info.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.info.created,
            model: self.info.model.clone(),
            choices,
            usage,
            system_fingerprint: self.fingerprint.clone(),
            service_tier: self.tier.clone(),
        })
    }

    /// The log probabilities waiting for choice `index`'s next chunk.
    fn take_logprobs(&mut self, index: u32) -> Option<serde_json::Value> {
        let at = self.logprobs.iter().position(|(i, _)| *i == index)?;
        Some(self.logprobs.remove(at).1)
    }

    /// Log probabilities no chunk took, each as its own chunk.
    fn flush_logprobs(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.logprobs)
            .into_iter()
            .map(|(index, lp)| {
                self.chunk(
                    vec![ChunkChoice { index, delta: Delta::default(), finish_reason: None, logprobs: Some(lp) }],
                    None,
                )
            })
            .collect()
    }

    /// The frames that open the stream: each choice's assistant role (no content yet: an answer
    /// that is a tool call keeps `content` null).
    pub fn opening(&self) -> Vec<Bytes> {
        (0..self.info.n)
            .map(|index| {
                let delta = Delta { role: Some(Role::Assistant), ..Delta::default() };
                self.chunk(vec![ChunkChoice { index, delta, finish_reason: None, logprobs: None }], None)
            })
            .collect()
    }

    /// The frames of one event (the last event's frames end with `[DONE]`).
    pub fn frames(&mut self, ev: Streamed) -> Vec<Bytes> {
        match ev {
            Streamed::Delta { index, content, tool_calls } => {
                let calls: Vec<ChunkToolCall> = tool_calls
                    .into_iter()
                    .map(|t| ChunkToolCall {
                        index: t.index,
                        kind: t.id.as_ref().map(|_| "function".to_string()),
                        id: t.id,
                        function: ChunkFunction { name: t.name, arguments: Some(t.arguments) },
                    })
                    .collect();
                let delta = Delta { content, tool_calls: (!calls.is_empty()).then_some(calls), ..Delta::default() };
                let logprobs = self.take_logprobs(index);
                vec![self.chunk(vec![ChunkChoice { index, delta, finish_reason: None, logprobs }], None)]
            }
            Streamed::Finish { index, reason } => {
                let logprobs = self.take_logprobs(index);
                vec![self.chunk(
                    vec![ChunkChoice {
                        index,
                        delta: Delta::default(),
                        finish_reason: Some(reason.as_str().to_string()),
                        logprobs,
                    }],
                    None,
                )]
            }
            Streamed::Extras(x) => {
                self.fingerprint = x.system_fingerprint.or(self.fingerprint.take());
                self.tier = x.service_tier.or(self.tier.take());
                let mut out = Vec::new();
                // Reasoning text goes out as `reasoning_content` (DeepSeek's and vLLM's name).
                if let Some(crate::llm::ReasoningDelta::Thinking(text)) = x.reasoning {
                    let delta = Delta { reasoning_content: Some(text), ..Delta::default() };
                    let choice = ChunkChoice { index: x.index, delta, finish_reason: None, logprobs: None };
                    out.push(self.chunk(vec![choice], None));
                }
                if let Some(lp) = x.logprobs {
                    if self.logprobs.iter().any(|(i, _)| *i == x.index) {
                        out.extend(self.flush_logprobs());
                    }
                    self.logprobs.push((x.index, lp));
                }
                if let Some(refusal) = x.refusal {
                    let delta = Delta { refusal: Some(refusal), ..Delta::default() };
                    let logprobs = self.take_logprobs(x.index);
                    out.push(
                        self.chunk(vec![ChunkChoice { index: x.index, delta, finish_reason: None, logprobs }], None),
                    );
                }
                out
            }
            Streamed::Done(outcome) => {
                let mut out = self.flush_logprobs();
                out.extend(self.closing(&outcome));
                out
            }
            // Too late to fall back: the client is told in the stream (no `[DONE]`).
            Streamed::Failed { code, message } => vec![frame(&serde_json::json!({"error": {
                "message": message, "type": failure_type(code), "code": code,
            }}))],
        }
    }

    /// The usage chunk (when asked for) and `[DONE]`.
    pub fn closing(&self, outcome: &Outcome) -> Vec<Bytes> {
        let mut out = Vec::with_capacity(2);
        if self.info.include_usage {
            out.push(self.chunk(vec![], Some(WireUsage::from(&outcome.usage))));
        }
        out.push(Bytes::from_static(DONE));
        out
    }
}

/// The whole OpenAI SSE body of a stream.
pub fn openai_body(
    stream: crate::gateway::ChatStream,
) -> impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    use futures::StreamExt;
    let mut framer = OpenAiFramer::new(stream.info.clone());
    let opening = futures::stream::iter(framer.opening());
    let rest = stream.flat_map(move |ev| futures::stream::iter(framer.frames(ev)));
    opening.chain(rest).map(Ok)
}
