//! `POST /v1/completions`, the legacy text completions API, answered by any chat model: the
//! prompt becomes a user message and the request goes through the chat service exactly as a
//! chat completion does (routing, fallback, budgets, traces, endpoint `/v1/completions`). The
//! answer is a `text_completion`, streamed as `text_completion` chunks ending with
//! `data: [DONE]`. Also here: the `x-layerr-dropped-params` header both OpenAI routes send.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use layerr_domain::workspace::types::ContentCapture;

use super::auth::resolve_workspace;
use super::envelope::RequestId;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use super::sse::{failure_type, frame, DONE};
use super::AppState;
use crate::api::openai::{
    legacy_finish_reason, legacy_id, ChatCompletionRequest, CompletionRequest, LegacyLogprobs, TextChoice,
    TextCompletion, WireUsage,
};
use crate::gateway::{self, ChatCtx, ChatStream, Outcome, Reply, StreamInfo, Streamed};
use crate::state::Principal;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct WorkspaceQuery {
    workspace: Option<String>,
}

pub(super) async fn completions(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<WorkspaceQuery>,
    ApiJson(body): ApiJson<CompletionRequest>,
) -> Response {
    let mut opts = match super::inbound::options(body.layerr.as_ref(), &headers) {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    let requested = body.layerr.as_ref().and_then(|l| l.workspace.as_deref()).or(q.workspace.as_deref());
    let ws = match resolve_workspace(&app, &p, requested) {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    let (req, legacy_dropped) = match body.to_canonical() {
        Ok(r) => r,
        Err((field, msg)) => return ApiError::field(field, msg).into_response(),
    };
    let echo = body.echo.unwrap_or(false).then(|| body.prompt_text().unwrap_or_default().to_string());
    // The content captured is the chat request the service runs, so a live replay can re-send it.
    let content = (ws.runtime.content_capture == ContentCapture::Full).then(|| {
        serde_json::to_value(ChatCompletionRequest::from_canonical(&req, &req.model, req.stream, &Default::default()))
            .unwrap_or_default()
    });
    // The legacy parameters the chat request could not carry are reported with each attempt's;
    // the chat parameters the legacy ones became are reported in the legacy names (`logprobs`
    // is both `logprobs` and `top_logprobs`), on the trace and the header alike.
    opts.dropped = legacy_dropped;
    if body.logprobs.is_some() {
        opts.unreported.push("top_logprobs".to_string());
    }
    let ctx = ChatCtx {
        key_id: p.key_id().to_string(),
        workspace: ws,
        request_id: rid.0.clone(),
        endpoint: "/v1/completions",
    };
    let (result, explain) = gateway::chat(&app, ctx, req, &opts, content).await;
    let dropped = super::inbound::dropped_params(&result);
    let mut resp = match result {
        Ok(Reply::Full(r, _)) => Json(TextCompletion::from_chat(&r, echo.as_deref())).into_response(),
        Ok(Reply::Stream(s)) => super::sse::response(text_body(s, echo)),
        Err(e) => ApiError::from(e).into_response(),
    };
    super::explain::headers(&explain, resp.headers_mut());
    super::inbound::dropped_header(&dropped, resp.headers_mut());
    resp
}

/// Frames one stream's events as legacy `text_completion` chunks. The upstream's
/// `system_fingerprint` is stamped on every chunk once known; a choice's log probabilities
/// (which the adapter sends just before their text) ride on that choice's next chunk.
pub struct TextFramer {
    info: StreamInfo,
    echo: Option<String>,
    fingerprint: Option<String>,
    /// Per choice: the length of the text sent (the offset of the next token).
    sent: Vec<usize>,
    logprobs: Vec<(u32, serde_json::Value)>,
}

impl TextFramer {
    pub fn new(info: StreamInfo, echo: Option<String>) -> TextFramer {
        let sent = vec![echo.as_ref().map_or(0, String::len); info.n as usize];
        TextFramer { info, echo, fingerprint: None, sent, logprobs: Vec::new() }
    }

    fn chunk(&self, choices: Vec<TextChoice>, usage: Option<WireUsage>) -> Bytes {
        frame(&TextCompletion {
            id: legacy_id(&self.info.id),
            object: "text_completion".into(),
            created: self.info.created,
            model: self.info.model.clone(),
            choices,
            usage,
            system_fingerprint: self.fingerprint.clone(),
        })
    }

    /// Choice `index`'s next chunk: `text`, with the log probabilities waiting for it.
    fn choice(&mut self, index: u32, text: String, finish_reason: Option<String>) -> TextChoice {
        let offset = self.sent.get(index as usize).copied().unwrap_or_default();
        let logprobs = self
            .logprobs
            .iter()
            .position(|(i, _)| *i == index)
            .map(|at| self.logprobs.remove(at).1)
            .and_then(|l| LegacyLogprobs::from_chat(&l, offset));
        if let Some(n) = self.sent.get_mut(index as usize) {
            *n += text.len();
        }
        TextChoice { text, index, logprobs, finish_reason }
    }

    /// With `echo`, each choice opens with the prompt.
    pub fn opening(&self) -> Vec<Bytes> {
        let Some(prompt) = &self.echo else { return vec![] };
        (0..self.info.n)
            .map(|index| {
                let choice = TextChoice { text: prompt.clone(), index, logprobs: None, finish_reason: None };
                self.chunk(vec![choice], None)
            })
            .collect()
    }

    /// The frames of one event (the last event's frames end with `[DONE]`).
    pub fn frames(&mut self, ev: Streamed) -> Vec<Bytes> {
        match ev {
            // Tool calls are not part of a text completion (none are offered to the model).
            Streamed::Delta { index, content: Some(text), .. } if !text.is_empty() => {
                let choice = self.choice(index, text, None);
                vec![self.chunk(vec![choice], None)]
            }
            Streamed::Delta { .. } => vec![],
            Streamed::Finish { index, reason } => {
                let choice = self.choice(index, String::new(), Some(legacy_finish_reason(reason)));
                vec![self.chunk(vec![choice], None)]
            }
            Streamed::Extras(x) => {
                self.fingerprint = x.system_fingerprint.or(self.fingerprint.take());
                let mut out = Vec::new();
                if let Some(lp) = x.logprobs {
                    if self.logprobs.iter().any(|(i, _)| *i == x.index) {
                        out.extend(self.flush_logprobs());
                    }
                    self.logprobs.push((x.index, lp));
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

    /// Log probabilities no chunk took, each on an empty chunk of its choice.
    fn flush_logprobs(&mut self) -> Vec<Bytes> {
        let waiting: Vec<u32> = self.logprobs.iter().map(|(i, _)| *i).collect();
        waiting
            .into_iter()
            .map(|index| {
                let choice = self.choice(index, String::new(), None);
                self.chunk(vec![choice], None)
            })
            .collect()
    }

    /// The usage chunk (when asked for) and `[DONE]`.
    pub fn closing(&self, outcome: &Outcome) -> Vec<Bytes> {
        let mut out = Vec::with_capacity(2);
        if self.info.include_usage {
            let usage = WireUsage {
                prompt_tokens_details: None,
                completion_tokens_details: None,
                ..WireUsage::from(&outcome.usage)
            };
            out.push(self.chunk(vec![], Some(usage)));
        }
        out.push(Bytes::from_static(DONE));
        out
    }
}

/// The whole `text_completion` SSE body of a stream.
pub fn text_body(
    stream: ChatStream,
    echo: Option<String>,
) -> impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    use futures::StreamExt;
    let mut framer = TextFramer::new(stream.info.clone(), echo);
    let opening = futures::stream::iter(framer.opening());
    let rest = stream.flat_map(move |ev| futures::stream::iter(framer.frames(ev)));
    opening.chain(rest).map(Ok)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::http::sse::OpenAiFramer;
    use crate::llm::{FinishReason, StreamExtras, Usage};

    fn info() -> StreamInfo {
        StreamInfo {
            id: "chatcmpl-abc".into(),
            created: 1,
            model: "m".into(),
            n: 1,
            include_usage: true,
            dropped_params: vec![],
        }
    }

    fn data(frames: &[Bytes]) -> Vec<Value> {
        frames
            .iter()
            .map(|b| std::str::from_utf8(b).unwrap().strip_prefix("data: ").unwrap().trim_end().to_string())
            .filter(|d| d != "[DONE]")
            .map(|d| serde_json::from_str(&d).unwrap())
            .collect()
    }

    /// An upstream's events: the fingerprint, then two tokens each preceded by its logprobs.
    fn events() -> Vec<Streamed> {
        let lp = |t: &str| json!({"content": [{"token": t, "logprob": -0.5, "top_logprobs": []}]});
        vec![
            Streamed::Extras(StreamExtras { system_fingerprint: Some("fp_1".into()), ..StreamExtras::default() }),
            Streamed::Extras(StreamExtras { logprobs: Some(lp("Hi")), ..StreamExtras::default() }),
            Streamed::Delta { index: 0, content: Some("Hi".into()), tool_calls: vec![] },
            Streamed::Extras(StreamExtras { logprobs: Some(lp(" there")), ..StreamExtras::default() }),
            Streamed::Delta { index: 0, content: Some(" there".into()), tool_calls: vec![] },
            Streamed::Finish { index: 0, reason: FinishReason::Stop },
            Streamed::Done(Outcome {
                provider: "p".into(),
                model: "m".into(),
                usage: Usage { prompt_tokens: 3, completion_tokens: 2, ..Usage::default() },
                cost_micros: 1,
                finish_reason: Some(FinishReason::Stop),
                dropped_params: vec![],
            }),
        ]
    }

    #[test]
    fn text_chunks_carry_their_logprobs_offsets_and_the_fingerprint() {
        let mut f = TextFramer::new(info(), Some("Say".into()));
        let mut frames = f.opening();
        for ev in events() {
            frames.extend(f.frames(ev));
        }
        assert_eq!(frames.last().unwrap().as_ref(), DONE);
        let chunks = data(&frames);
        assert!(chunks.iter().all(|c| c["object"] == "text_completion" && c["id"] == "cmpl-abc"));
        let texts: Vec<&str> = chunks.iter().filter_map(|c| c["choices"][0]["text"].as_str()).collect();
        assert_eq!(texts, ["Say", "Hi", " there", ""]);
        assert_eq!(chunks[1]["choices"][0]["logprobs"]["tokens"], json!(["Hi"]));
        assert_eq!(chunks[1]["choices"][0]["logprobs"]["text_offset"], json!([3]));
        assert_eq!(chunks[2]["choices"][0]["logprobs"]["text_offset"], json!([5]));
        assert_eq!(chunks[1]["system_fingerprint"], "fp_1");
        assert!(chunks[0].get("system_fingerprint").is_none());
        assert_eq!(chunks[3]["choices"][0]["finish_reason"], "stop");
        assert_eq!(chunks[4]["choices"], json!([]));
        assert_eq!(chunks[4]["usage"]["total_tokens"], 5);
    }

    #[test]
    fn chat_chunks_carry_their_logprobs_and_the_fingerprint() {
        let mut f = OpenAiFramer::new(info());
        let mut frames = f.opening();
        for ev in events() {
            frames.extend(f.frames(ev));
        }
        let chunks = data(&frames);
        // The role, two tokens, the finish, the usage: no chunk of its own for the extras.
        assert_eq!(chunks.len(), 5, "{chunks:?}");
        assert_eq!(chunks[0]["choices"][0]["delta"], json!({"role": "assistant"}), "no content yet");
        assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "Hi");
        assert_eq!(chunks[1]["choices"][0]["logprobs"]["content"][0]["token"], "Hi");
        assert_eq!(chunks[2]["choices"][0]["logprobs"]["content"][0]["token"], " there");
        assert!(chunks[1..].iter().all(|c| c["system_fingerprint"] == "fp_1"));
        assert!(chunks[3]["choices"][0]["logprobs"].is_null());
    }

    #[test]
    fn reasoning_text_streams_as_reasoning_content() {
        let mut f = OpenAiFramer::new(info());
        let ev = Streamed::Extras(StreamExtras {
            reasoning: Some(crate::llm::ReasoningDelta::Thinking("Hm.".into())),
            ..StreamExtras::default()
        });
        let chunks = data(&f.frames(ev));
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0]["choices"][0]["delta"], json!({"reasoning_content": "Hm."}));
        // A signature has no place in an OpenAI chunk.
        let sig = Streamed::Extras(StreamExtras {
            reasoning: Some(crate::llm::ReasoningDelta::Signature("s".into())),
            ..StreamExtras::default()
        });
        assert!(f.frames(sig).is_empty());
    }
}
