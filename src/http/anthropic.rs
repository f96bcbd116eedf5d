//! The Anthropic Messages API inbound: `POST /v1/messages` (JSON and Anthropic's SSE event
//! sequence), `POST /v1/messages/count_tokens`, errors in Anthropic's own shape, and the
//! Claude Code gateway contract (`HEAD /`, `x-api-key`, unknown query parameters ignored). A
//! Messages request goes through the same chat service as a chat completion: routing, fallback,
//! budgets, rate limits and the trace (its endpoint is `/v1/messages`).

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{head, post};
use axum::{Extension, Json, Router};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};

use layerr_domain::workspace::types::ContentCapture;

use super::auth::resolve_workspace;
use super::envelope::RequestId;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use super::AppState;
use crate::api::anthropic::{error_type, stop_reason, CountTokensRequest, MessageResponse, MessagesRequest, OutUsage};
use crate::gateway::{self, ChatCtx, ChatStream, Reply, Streamed};
use crate::llm::ReasoningDelta;
use crate::state::Principal;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/messages", post(messages)).route("/v1/messages/count_tokens", post(count_tokens))
}

/// `HEAD /`: Claude Code checks the gateway is there before it starts.
pub fn public_router() -> Router<AppState> {
    // Only HEAD: any other method on `/` is the unknown route it always was.
    let ok = head(|| async { StatusCode::OK }).fallback(|| async { ApiError::NotFound("no such route".into()) });
    Router::new().route("/", ok)
}

/// The Anthropic SDKs add `?beta=true` (and may add others): ignored, except `workspace`.
#[derive(Deserialize, Default)]
struct LenientQuery {
    workspace: Option<String>,
}

async fn messages(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<LenientQuery>,
    ApiJson(body): ApiJson<MessagesRequest>,
) -> Result<Response, ApiError> {
    let mut opts = super::inbound::options(body.layerr.as_ref(), &headers)?;
    let requested = body.layerr.as_ref().and_then(|l| l.workspace.as_deref()).or(q.workspace.as_deref());
    let ws = resolve_workspace(&app, &p, requested)?;
    let mut converted = body.to_canonical().map_err(|(field, msg)| ApiError::field(field, msg))?;
    converted.request.anthropic_headers = anthropic_headers(&headers)?;
    // What the canonical request could not carry is reported with each attempt's own drops.
    opts.dropped = converted.dropped;
    let content =
        (ws.runtime.content_capture == ContentCapture::Full).then(|| serde_json::to_value(&body).unwrap_or_default());
    let ctx =
        ChatCtx { key_id: p.key_id().to_string(), workspace: ws, request_id: rid.0.clone(), endpoint: "/v1/messages" };
    let (result, explain) = gateway::chat(&app, ctx, converted.request, &opts, content).await;
    let dropped = super::inbound::dropped_params(&result);
    let id = format!("msg_{}", explain.trace_id.replace('-', ""));
    let mut resp = match result {
        Ok(Reply::Full(r, _)) => Json(MessageResponse::from_canonical(id, &r)).into_response(),
        Ok(Reply::Stream(s)) => super::sse::response(sse_body(id, s)),
        Err(e) => ApiError::from(e).into_response(),
    };
    super::explain::headers(&explain, resp.headers_mut());
    super::inbound::dropped_header(&dropped, resp.headers_mut());
    Ok(resp)
}

/// `anthropic-version` and `anthropic-beta` as the client sent them (several `anthropic-beta`
/// headers are one comma-separated list), for Anthropic upstreams.
fn anthropic_headers(h: &HeaderMap) -> Result<crate::llm::AnthropicHeaders, ApiError> {
    let values = |name: &str| -> Result<Option<String>, ApiError> {
        let mut all = Vec::new();
        for v in h.get_all(name) {
            let text = v.to_str().map_err(|_| ApiError::field(name, format!("{name} is not text")))?;
            all.push(text.trim().to_string());
        }
        Ok((!all.is_empty()).then(|| all.join(",")))
    };
    Ok(crate::llm::AnthropicHeaders { version: values("anthropic-version")?, beta: values("anthropic-beta")? })
}

/// A local count (the gateway's estimate of about four characters a token plus framing), the
/// figure routing and budgets use before an upstream reports its own.
async fn count_tokens(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<LenientQuery>,
    ApiJson(body): ApiJson<CountTokensRequest>,
) -> Result<Response, ApiError> {
    resolve_workspace(&app, &p, q.workspace.as_deref())?;
    let req = body.to_canonical().map_err(|(field, msg)| ApiError::field(field, msg))?;
    Ok(Json(json!({ "input_tokens": req.estimate_prompt_tokens() })).into_response())
}

// ------------------------------------------------------------------------------------------
// Anthropic's SSE event sequence
// ------------------------------------------------------------------------------------------

fn event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

#[derive(Clone, Copy, PartialEq)]
enum Open {
    Text,
    /// A tool_use block, for the canonical tool call of this index.
    Tool(u32),
    /// A thinking block; `signed` once its signature went out (which ends it).
    Thinking {
        signed: bool,
    },
    Redacted,
}

/// Turns the service's events into content blocks: thinking, text and each tool call get their
/// own block, opened at their first delta and closed when another begins or the message ends
/// (a signed thinking block is followed by a new one if more thinking comes; a redacted one
/// opens and closes at once).
struct Framer {
    id: String,
    model: String,
    open: Option<(Open, usize)>,
    next: usize,
    finish: Option<crate::llm::FinishReason>,
}

impl Framer {
    fn start(&self) -> Vec<Bytes> {
        let message = json!({
            "id": self.id, "type": "message", "role": "assistant", "model": self.model, "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        });
        vec![
            event("message_start", &json!({"type": "message_start", "message": message})),
            event("ping", &json!({"type": "ping"})),
        ]
    }

    fn close(&mut self, out: &mut Vec<Bytes>) {
        if let Some((_, index)) = self.open.take() {
            out.push(event("content_block_stop", &json!({"type": "content_block_stop", "index": index})));
        }
    }

    fn open(&mut self, kind: Open, block: Value, out: &mut Vec<Bytes>) -> usize {
        self.close(out);
        let index = self.next;
        self.next += 1;
        self.open = Some((kind, index));
        out.push(event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        ));
        index
    }

    /// The open thinking block that can still take text or its signature, else a new one.
    fn thinking(&mut self, out: &mut Vec<Bytes>) -> usize {
        match self.open {
            Some((Open::Thinking { signed: false }, i)) => i,
            _ => {
                let block = json!({"type": "thinking", "thinking": "", "signature": ""});
                self.open(Open::Thinking { signed: false }, block, out)
            }
        }
    }

    fn reasoning(&mut self, delta: ReasoningDelta, out: &mut Vec<Bytes>) {
        let delta_event = |index: usize, delta: Value| {
            event("content_block_delta", &json!({"type": "content_block_delta", "index": index, "delta": delta}))
        };
        match delta {
            ReasoningDelta::Thinking(text) => {
                let index = self.thinking(out);
                out.push(delta_event(index, json!({"type": "thinking_delta", "thinking": text})));
            }
            ReasoningDelta::Signature(signature) => {
                let index = self.thinking(out);
                self.open = Some((Open::Thinking { signed: true }, index));
                out.push(delta_event(index, json!({"type": "signature_delta", "signature": signature})));
            }
            ReasoningDelta::Redacted(data) => {
                self.open(Open::Redacted, json!({"type": "redacted_thinking", "data": data}), out);
                self.close(out);
            }
        }
    }

    fn frames(&mut self, ev: Streamed) -> Vec<Bytes> {
        let mut out = Vec::new();
        match ev {
            Streamed::Extras(x) if x.index == 0 && x.reasoning.is_some() => {
                if let Some(r) = x.reasoning {
                    self.reasoning(r, &mut out);
                }
            }
            Streamed::Delta { index: 0, content, tool_calls } => {
                if let Some(text) = content.filter(|t| !t.is_empty()) {
                    let index = match self.open {
                        Some((Open::Text, i)) => i,
                        _ => self.open(Open::Text, json!({"type": "text", "text": ""}), &mut out),
                    };
                    out.push(event(
                        "content_block_delta",
                        &json!({"type": "content_block_delta", "index": index,
                                "delta": {"type": "text_delta", "text": text}}),
                    ));
                }
                for call in tool_calls {
                    let index = match self.open {
                        Some((Open::Tool(t), i)) if t == call.index && call.id.is_none() => i,
                        _ => {
                            let id =
                                call.id.clone().unwrap_or_else(|| format!("toolu_{}", uuid::Uuid::now_v7().simple()));
                            let block = json!({"type": "tool_use", "id": id,
                                               "name": call.name.clone().unwrap_or_default(), "input": {}});
                            self.open(Open::Tool(call.index), block, &mut out)
                        }
                    };
                    if !call.arguments.is_empty() {
                        out.push(event(
                            "content_block_delta",
                            &json!({"type": "content_block_delta", "index": index,
                                    "delta": {"type": "input_json_delta", "partial_json": call.arguments}}),
                        ));
                    }
                }
            }
            // A Messages request asks for one choice; OpenAI's stream extras (log probabilities,
            // `system_fingerprint`) have no place in Anthropic's events.
            Streamed::Delta { .. } | Streamed::Extras(_) => {}
            Streamed::Finish { index, reason } => {
                if index == 0 {
                    self.finish = Some(reason);
                }
            }
            Streamed::Done(outcome) => {
                self.close(&mut out);
                let usage = OutUsage::from(&outcome.usage);
                out.push(event(
                    "message_delta",
                    &json!({"type": "message_delta",
                            "delta": {"stop_reason": stop_reason(self.finish.or(outcome.finish_reason)), "stop_sequence": null},
                            "usage": usage}),
                ));
                out.push(event("message_stop", &json!({"type": "message_stop"})));
            }
            Streamed::Failed { code, message } => {
                let kind = if code == "GUARDRAIL_VIOLATION" { "invalid_request_error" } else { "api_error" };
                out.push(event("error", &json!({"type": "error", "error": {"type": kind, "message": message}})));
            }
        }
        out
    }
}

fn sse_body(id: String, stream: ChatStream) -> impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> {
    let mut framer = Framer { id, model: stream.info.model.clone(), open: None, next: 0, finish: None };
    let start = futures::stream::iter(framer.start());
    let rest = stream.flat_map(move |ev| futures::stream::iter(framer.frames(ev)));
    start.chain(rest).map(Ok)
}

// ------------------------------------------------------------------------------------------
// Errors in Anthropic's shape
// ------------------------------------------------------------------------------------------

/// On `/v1/messages*`, every error answer (auth, rate limit, validation, the service's) is
/// re-shaped as Anthropic's `{"type": "error", "error": {"type", "message"}}`, keeping our
/// `code` and `details` beside them, so the Anthropic SDKs raise their own exception types.
pub async fn errors(req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/v1/messages") {
        return next.run(req).await;
    }
    let resp = next.run(req).await;
    let status = resp.status();
    if status.is_success() {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let e = &v["error"];
    let mut error = json!({
        "type": error_type(status.as_u16()),
        "message": e["message"].as_str().unwrap_or("error"),
    });
    for k in ["code", "param", "details"] {
        if let Some(x) = e.get(k) {
            error[k] = x.clone();
        }
    }
    let body = json!({"type": "error", "error": error});
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body.to_string()))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::gateway::Outcome;
    use crate::llm::{FinishReason, StreamExtras};

    fn reasoning(r: ReasoningDelta) -> Streamed {
        Streamed::Extras(StreamExtras { reasoning: Some(r), ..StreamExtras::default() })
    }

    /// (event name, data) of each frame.
    fn parse(frames: &[Bytes]) -> Vec<(String, Value)> {
        frames
            .iter()
            .map(|b| {
                let text = std::str::from_utf8(b).unwrap();
                let (name, data) = text.trim_end().split_once('\n').unwrap();
                let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                assert_eq!(name.strip_prefix("event: ").unwrap(), data["type"]);
                (data["type"].as_str().unwrap().to_string(), data)
            })
            .collect()
    }

    #[test]
    fn thinking_streams_as_anthropic_sequences_it() {
        let mut f = Framer { id: "msg_1".into(), model: "m".into(), open: None, next: 0, finish: None };
        let mut frames = f.start();
        for ev in [
            reasoning(ReasoningDelta::Thinking("Let me ".into())),
            reasoning(ReasoningDelta::Thinking("think.".into())),
            reasoning(ReasoningDelta::Signature("EqQB+/x==".into())),
            reasoning(ReasoningDelta::Thinking("More.".into())),
            reasoning(ReasoningDelta::Signature("Ep2==".into())),
            reasoning(ReasoningDelta::Redacted("EmwK==".into())),
            Streamed::Delta { index: 0, content: Some("Hi".into()), tool_calls: vec![] },
            Streamed::Finish { index: 0, reason: FinishReason::Stop },
            Streamed::Done(Outcome {
                provider: "p".into(),
                model: "m".into(),
                usage: crate::llm::Usage::default(),
                cost_micros: 0,
                finish_reason: Some(FinishReason::Stop),
                dropped_params: vec![],
            }),
        ] {
            frames.extend(f.frames(ev));
        }
        let events = parse(&frames);
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        let data = |i: usize| &events[i].1;
        assert_eq!(data(2)["content_block"], json!({"type": "thinking", "thinking": "", "signature": ""}));
        assert_eq!(data(3)["delta"], json!({"type": "thinking_delta", "thinking": "Let me "}));
        assert_eq!(data(5)["delta"], json!({"type": "signature_delta", "signature": "EqQB+/x=="}));
        assert_eq!((data(6)["index"].clone(), data(7)["index"].clone()), (json!(0), json!(1)));
        assert_eq!(data(9)["delta"]["signature"], "Ep2==");
        assert_eq!(data(11)["content_block"], json!({"type": "redacted_thinking", "data": "EmwK=="}));
        assert_eq!(data(13)["content_block"]["type"], "text");
        assert_eq!(data(13)["index"], 3);
    }
}
