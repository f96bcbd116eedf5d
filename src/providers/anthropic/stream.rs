//! Anthropic SSE stream → canonical stream events.
//!
//! Event flow: `message_start` (id, model, input usage), then per content block
//! `content_block_start` / `content_block_delta`* / `content_block_stop`, then `message_delta`
//! (stop reason, cumulative usage) and `message_stop`; `ping` may come anywhere and `error`
//! replaces the rest.

use std::collections::HashMap;

use futures::Stream;

use super::types::{BlockDelta, ErrorBody, StartBlock, StreamPayload, WireUsage};
use crate::llm::{ReasoningDelta, StreamEvent, StreamExtras, ToolCallDelta};
use crate::providers::sse::{self, SseEvent};
use crate::providers::{ErrorKind, EventStream, ProviderError};

type Item = Result<StreamEvent, ProviderError>;

/// Decodes an Anthropic SSE body. Stops after the first error; a body that ends before
/// `message_stop` yields an error too (`StreamCut` once output has started).
pub(super) fn decode(body: impl Stream<Item = Result<bytes::Bytes, reqwest::Error>> + Send + 'static) -> EventStream {
    sse::drive(sse::events(body), Decoder::default())
}

#[derive(Default)]
struct Decoder {
    /// Content or tool call deltas have been emitted.
    output: bool,
    stopped: bool,
    /// Content block index → tool call index (the order of `tool_use` blocks).
    tools: HashMap<u32, u32>,
    usage: WireUsage,
}

impl sse::FrameDecoder for Decoder {
    type Frame = SseEvent;

    fn frame(&mut self, frame: &SseEvent) -> Vec<Item> {
        self.event(frame)
    }

    fn finished(&self) -> bool {
        self.stopped
    }

    fn end(&mut self) -> Vec<Item> {
        Decoder::end(self).map(Err).into_iter().collect()
    }
}

impl Decoder {
    fn event(&mut self, ev: &SseEvent) -> Vec<Item> {
        let payload: StreamPayload = match serde_json::from_str(&ev.data) {
            Ok(p) => p,
            // Cut off mid-event: the body ended inside the JSON.
            Err(e) if e.is_eof() => return vec![Err(self.cut())],
            Err(e) => {
                let msg = format!("bad Anthropic stream event: {e}");
                return vec![Err(ProviderError::new(ErrorKind::Decode, msg))];
            }
        };
        match payload {
            StreamPayload::MessageStart { message } => {
                self.usage.merge(&message.usage);
                vec![Ok(StreamEvent::Start {
                    id: (!message.id.is_empty()).then_some(message.id),
                    model: (!message.model.is_empty()).then_some(message.model),
                })]
            }
            StreamPayload::ContentBlockStart { index, content_block } => match content_block {
                StartBlock::Text { text } if !text.is_empty() => self.content(text),
                StartBlock::Thinking(super::types::ThinkingFields { thinking, signature }) => {
                    let mut out = Vec::new();
                    if !thinking.is_empty() {
                        out.extend(self.reasoning(ReasoningDelta::Thinking(thinking)));
                    }
                    if !signature.is_empty() {
                        out.extend(self.reasoning(ReasoningDelta::Signature(signature)));
                    }
                    out
                }
                StartBlock::RedactedThinking(super::types::RedactedFields { data }) => {
                    self.reasoning(ReasoningDelta::Redacted(data))
                }
                StartBlock::ToolUse { id, name } => {
                    let tool = self.tools.len() as u32;
                    self.tools.insert(index, tool);
                    self.tool(ToolCallDelta { index: tool, id: Some(id), name: Some(name), arguments: String::new() })
                }
                _ => vec![],
            },
            StreamPayload::ContentBlockDelta { index, delta } => match delta {
                BlockDelta::TextDelta { text } if !text.is_empty() => self.content(text),
                BlockDelta::ThinkingDelta { thinking } if !thinking.is_empty() => {
                    self.reasoning(ReasoningDelta::Thinking(thinking))
                }
                BlockDelta::SignatureDelta { signature } => self.reasoning(ReasoningDelta::Signature(signature)),
                BlockDelta::InputJsonDelta { partial_json } if !partial_json.is_empty() => {
                    match self.tools.get(&index) {
                        Some(&tool) => {
                            self.tool(ToolCallDelta { index: tool, id: None, name: None, arguments: partial_json })
                        }
                        None => vec![Err(ProviderError::new(
                            ErrorKind::Decode,
                            format!(
                                "Anthropic stream sent tool input for block {index}, which is not a tool_use block"
                            ),
                        ))],
                    }
                }
                _ => vec![],
            },
            StreamPayload::MessageDelta { delta, usage } => {
                let mut out = Vec::new();
                if let Some(reason) = delta.stop_reason.as_deref() {
                    out.push(Ok(StreamEvent::Finish { index: 0, reason: super::finish_reason(reason) }));
                }
                if let Some(u) = usage {
                    self.usage.merge(&u);
                    out.push(Ok(StreamEvent::Usage(self.usage.to_canonical())));
                }
                out
            }
            StreamPayload::MessageStop => {
                self.stopped = true;
                vec![]
            }
            StreamPayload::Error { error } => vec![Err(stream_error(error))],
            StreamPayload::ContentBlockStop | StreamPayload::Ping | StreamPayload::Unknown => vec![],
        }
    }

    fn content(&mut self, text: String) -> Vec<Item> {
        self.output = true;
        vec![Ok(StreamEvent::Delta { index: 0, content: Some(text), tool_calls: vec![] })]
    }

    /// Thinking text, a thinking block's signature (which ends it), a redacted block: relayed as
    /// they came, for the Messages API to send back byte for byte.
    fn reasoning(&mut self, delta: ReasoningDelta) -> Vec<Item> {
        self.output = true;
        vec![Ok(StreamEvent::Extras(StreamExtras { index: 0, reasoning: Some(delta), ..StreamExtras::default() }))]
    }

    fn tool(&mut self, delta: ToolCallDelta) -> Vec<Item> {
        self.output = true;
        vec![Ok(StreamEvent::Delta { index: 0, content: None, tool_calls: vec![delta] })]
    }

    fn end(&self) -> Option<ProviderError> {
        (!self.stopped).then(|| self.cut())
    }

    /// The body ended early: `StreamCut` once output has started, else a retryable `Server` error.
    fn cut(&self) -> ProviderError {
        let kind = if self.output { ErrorKind::StreamCut } else { ErrorKind::Server };
        ProviderError::new(kind, "Anthropic stream ended before message_stop")
    }
}

/// An `error` event: the error types Anthropic documents, mapped as their HTTP statuses would be.
fn stream_error(error: ErrorBody) -> ProviderError {
    let kind = match error.kind.as_str() {
        "invalid_request_error" | "request_too_large" => ErrorKind::BadRequest,
        "authentication_error" | "permission_error" => ErrorKind::Auth,
        "not_found_error" => ErrorKind::NotFound,
        "rate_limit_error" => ErrorKind::RateLimited,
        "timeout_error" => ErrorKind::Timeout,
        // overloaded_error (529), api_error (500) and unknown types.
        _ => ErrorKind::Server,
    };
    let message = if error.message.is_empty() { "no error message".to_string() } else { error.message };
    ProviderError::new(kind, format!("{} in stream: {message}", error.kind))
}
