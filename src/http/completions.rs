//! `POST /v1/completions`, the legacy text completions API, answered by any chat model: the
//! prompt becomes a user message and the request goes through the chat service exactly as a
//! chat completion does (routing, fallback, budgets, traces, endpoint `/v1/completions`). The
//! answer is a `text_completion`, streamed as `text_completion` chunks ending with
//! `data: [DONE]`. Also here: the `x-layerr-dropped-params` header both OpenAI routes send.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use layerr_domain::workspace::types::ContentCapture;

use super::auth::resolve_workspace;
use super::envelope::RequestId;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use super::sse::{frame, DONE};
use super::AppState;
use crate::api::openai::{
    legacy_finish_reason, legacy_id, CompletionRequest, LegacyLogprobs, TextChoice, TextCompletion, WireUsage,
};
use crate::gateway::{self, ChatCtx, ChatStream, Explain, Outcome, Reply, StreamInfo, Streamed};
use crate::providers::passthrough::{header_value, DroppedByKind};
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
    ApiQuery(q): ApiQuery<WorkspaceQuery>,
    ApiJson(body): ApiJson<CompletionRequest>,
) -> Response {
    let opts = body.layerr.clone().unwrap_or_default();
    let requested = opts.workspace.as_deref().or(q.workspace.as_deref());
    let ws = match resolve_workspace(&app, &p, requested) {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    let (req, legacy_dropped) = match body.to_canonical() {
        Ok(r) => r,
        Err((field, msg)) => return ApiError::field(field, msg).into_response(),
    };
    let echo = body.echo.unwrap_or(false).then(|| body.prompt_text().unwrap_or_default().to_string());
    let content =
        (ws.runtime.content_capture == ContentCapture::Full).then(|| serde_json::to_value(&body).unwrap_or_default());
    let report = DroppedByKind::of(&req);
    let slug = ws.slug.clone();
    let ctx = ChatCtx {
        key_id: p.key_id().to_string(),
        workspace: ws,
        request_id: rid.0.clone(),
        endpoint: "/v1/completions",
    };
    let (result, explain) = gateway::chat(&app, ctx, req, &gateway::ChatOptions::from(&opts), content).await;
    let mut resp = match result {
        Ok(Reply::Full(r, _)) => Json(TextCompletion::from_chat(&r, echo.as_deref())).into_response(),
        Ok(Reply::Stream(s)) => {
            let mut r = Response::new(Body::from_stream(text_body(s, echo)));
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        Err(e) => ApiError::from(e).into_response(),
    };
    super::explain::headers(&explain, resp.headers_mut());
    if explain.provider.is_some() {
        // The chat parameters the legacy ones became are reported in the legacy names.
        let mut dropped = legacy_dropped;
        let upstream = dropped_params(&app, &slug, &explain, &report);
        dropped.extend(upstream.into_iter().filter(|p| !(body.logprobs.is_some() && p == "top_logprobs")));
        dropped_header(&dropped, resp.headers_mut());
    }
    resp
}

/// What the upstream that answered did not receive of the request, from `report` (worked out
/// before the request was sent); nothing before one has answered.
pub(super) fn dropped_params(
    app: &AppState,
    workspace: &str,
    explain: &Explain,
    report: &DroppedByKind,
) -> Vec<String> {
    let Some(id) = explain.provider.as_deref() else { return vec![] };
    let kind = app.hot.providers(Some(workspace)).iter().find(|p| p.id == id).and_then(|p| p.resolved.kind());
    kind.map_or_else(Vec::new, |k| report.for_kind(k).to_vec())
}

/// `x-layerr-dropped-params: a, b`, when anything was dropped.
pub(super) fn dropped_header(dropped: &[String], h: &mut HeaderMap) {
    if let Some(v) = header_value(dropped).and_then(|v| HeaderValue::from_str(&v).ok()) {
        h.insert("x-layerr-dropped-params", v);
    }
}

/// Frames one stream's events as legacy `text_completion` chunks.
pub struct TextFramer {
    info: StreamInfo,
    echo: Option<String>,
    /// Per choice: the text length sent, and where the last delta's text began (the offsets of
    /// log probabilities, which follow their delta).
    offsets: Vec<(usize, usize)>,
}

impl TextFramer {
    pub fn new(info: StreamInfo, echo: Option<String>) -> TextFramer {
        let start = echo.as_ref().map_or(0, String::len);
        let offsets = vec![(start, start); info.n as usize];
        TextFramer { info, echo, offsets }
    }

    fn chunk(&self, choices: Vec<TextChoice>, usage: Option<WireUsage>, fingerprint: Option<String>) -> Bytes {
        frame(&TextCompletion {
            id: legacy_id(&self.info.id),
            object: "text_completion".into(),
            created: self.info.created,
            model: self.info.model.clone(),
            choices,
            usage,
            system_fingerprint: fingerprint,
        })
    }

    fn text(&self, index: u32, text: String) -> TextChoice {
        TextChoice { text, index, logprobs: None, finish_reason: None }
    }

    /// With `echo`, each choice opens with the prompt.
    pub fn opening(&self) -> Vec<Bytes> {
        let Some(prompt) = &self.echo else { return vec![] };
        (0..self.info.n).map(|i| self.chunk(vec![self.text(i, prompt.clone())], None, None)).collect()
    }

    /// The frames of one event (the last event's frames end with `[DONE]`).
    pub fn frames(&mut self, ev: Streamed) -> Vec<Bytes> {
        match ev {
            // Tool calls are not part of a text completion (none are offered to the model).
            Streamed::Delta { index, content: Some(text), .. } if !text.is_empty() => {
                if let Some(o) = self.offsets.get_mut(index as usize) {
                    *o = (o.0 + text.len(), o.0);
                }
                vec![self.chunk(vec![self.text(index, text)], None, None)]
            }
            Streamed::Delta { .. } => vec![],
            Streamed::Finish { index, reason } => {
                let choice =
                    TextChoice { finish_reason: Some(legacy_finish_reason(reason)), ..self.text(index, String::new()) };
                vec![self.chunk(vec![choice], None, None)]
            }
            Streamed::Extras(x) => {
                let at = self.offsets.get(x.index as usize).map_or(0, |o| o.1);
                let logprobs = x.logprobs.as_ref().and_then(|l| LegacyLogprobs::from_chat(l, at));
                if logprobs.is_none() && x.system_fingerprint.is_none() {
                    return vec![];
                }
                let choice = TextChoice { logprobs, ..self.text(x.index, String::new()) };
                vec![self.chunk(vec![choice], None, x.system_fingerprint)]
            }
            Streamed::Done(outcome) => self.closing(&outcome),
            // Too late to fall back: the client is told in the stream (no `[DONE]`).
            Streamed::Failed { message } => vec![frame(&serde_json::json!({"error": {
                "message": message, "type": "api_error", "code": "STREAM_INTERRUPTED",
            }}))],
        }
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
            out.push(self.chunk(vec![], Some(usage), None));
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
