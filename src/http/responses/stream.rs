//! The Responses streaming event lifecycle, as OpenAI documents it: `response.created`,
//! `response.in_progress`, an `output_item.added` / `content_part.added` / delta / `.done` run per
//! output item (a message's text, a function call's arguments), then `response.completed`
//! (`.incomplete`, `.failed`), each with its `sequence_number`, `output_index` and
//! `content_index`; a stored response is kept when the stream is done.

use axum::body::Bytes;
use chrono::Utc;
use futures::StreamExt;
use serde_json::{json, Value};

use layerr_domain::response::{Item, ItemRole, ResponseStatus, ResponseUsage};

use super::{object, output_json, status_of, usage_of, Answered, Echo, Keep};
use crate::api::responses::{item_json, token_logprobs};
use crate::gateway::{ChatStream, Outcome, Streamed};
use crate::llm;

enum Open {
    Message { id: String, text: String },
    Call { tool: u32, id: String, call_id: String, name: String, arguments: String },
}

struct Lifecycle {
    seq: u64,
    answered: Answered,
    echo: Echo,
    open: Option<Open>,
    keep: Option<Keep>,
    trace: String,
    /// Whether the text deltas carry log probabilities, and those that arrived (just before
    /// the text they describe) and await it.
    logprobs: bool,
    pending: Vec<Value>,
}

fn sse(name: &str, mut data: Value, seq: &mut u64) -> Bytes {
    data["type"] = json!(name);
    data["sequence_number"] = json!(*seq);
    *seq += 1;
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

impl Lifecycle {
    fn emit(&mut self, name: &str, data: Value, out: &mut Vec<Bytes>) {
        out.push(sse(name, data, &mut self.seq));
    }

    fn start(&mut self) -> Vec<Bytes> {
        let mut out = Vec::new();
        let o = object(&self.answered, &self.echo, "in_progress");
        self.emit("response.created", json!({"response": o}), &mut out);
        self.emit("response.in_progress", json!({"response": o}), &mut out);
        out
    }

    fn close(&mut self, out: &mut Vec<Bytes>) {
        let index = self.answered.output.len();
        match self.open.take() {
            None => {}
            Some(Open::Message { id, text }) => {
                let logprobs = json!(self.answered.logprobs);
                self.emit(
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "text": text, "logprobs": logprobs}),
                    out,
                );
                let part = json!({"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs});
                self.emit(
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "part": part}),
                    out,
                );
                let item = Item::Message { id, role: ItemRole::Assistant, text, images: vec![] };
                let shown = output_json(&item, &self.answered.logprobs);
                self.emit("response.output_item.done", json!({"output_index": index, "item": shown}), out);
                self.answered.output.push(item);
            }
            Some(Open::Call { id, call_id, name, arguments, .. }) => {
                self.emit(
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": index, "arguments": arguments}),
                    out,
                );
                let item = Item::FunctionCall { id, call_id, name, arguments };
                self.emit("response.output_item.done", json!({"output_index": index, "item": item_json(&item)}), out);
                self.answered.output.push(item);
            }
        }
    }

    fn text(&mut self, delta: String, out: &mut Vec<Bytes>) {
        let index = self.answered.output.len();
        if !matches!(self.open, Some(Open::Message { .. })) {
            self.close(out);
            let index = self.answered.output.len();
            let id = format!("msg_{}", self.trace);
            let item =
                json!({"id": id, "type": "message", "status": "in_progress", "role": "assistant", "content": []});
            self.emit("response.output_item.added", json!({"output_index": index, "item": item}), out);
            let part = json!({"type": "output_text", "text": "", "annotations": [], "logprobs": []});
            self.emit(
                "response.content_part.added",
                json!({"item_id": id, "output_index": index, "content_index": 0, "part": part}),
                out,
            );
            self.open = Some(Open::Message { id, text: String::new() });
        }
        if let Some(Open::Message { id, text }) = &mut self.open {
            text.push_str(&delta);
            let logprobs = std::mem::take(&mut self.pending);
            self.answered.logprobs.extend(logprobs.iter().cloned());
            let data =
                json!({"item_id": id, "output_index": index, "content_index": 0, "delta": delta, "logprobs": logprobs});
            out.push(sse("response.output_text.delta", data, &mut self.seq));
        }
    }

    fn call(&mut self, c: llm::ToolCallDelta, out: &mut Vec<Bytes>) {
        let same = matches!(&self.open, Some(Open::Call { tool, .. }) if *tool == c.index) && c.id.is_none();
        if !same {
            self.close(out);
            let index = self.answered.output.len();
            let id = format!("fc_{index}_{}", self.trace);
            let call_id = c.id.clone().unwrap_or_else(|| format!("call_{}", uuid::Uuid::now_v7().simple()));
            let name = c.name.clone().unwrap_or_default();
            let item = json!({"id": id, "type": "function_call", "status": "in_progress",
                              "call_id": call_id, "name": name, "arguments": ""});
            self.emit("response.output_item.added", json!({"output_index": index, "item": item}), out);
            self.open = Some(Open::Call { tool: c.index, id, call_id, name, arguments: String::new() });
        }
        let index = self.answered.output.len();
        if let Some(Open::Call { id, arguments, .. }) = &mut self.open {
            if !c.arguments.is_empty() {
                arguments.push_str(&c.arguments);
                let data = json!({"item_id": id, "output_index": index, "delta": c.arguments});
                out.push(sse("response.function_call_arguments.delta", data, &mut self.seq));
            }
        }
    }

    async fn frames(&mut self, ev: Streamed) -> Vec<Bytes> {
        let mut out = Vec::new();
        match ev {
            Streamed::Delta { index: 0, content, tool_calls } => {
                if let Some(t) = content.filter(|t| !t.is_empty()) {
                    self.text(t, &mut out);
                }
                for c in tool_calls {
                    self.call(c, &mut out);
                }
            }
            Streamed::Finish { index: 0, reason } => self.answered.finish = Some(reason),
            Streamed::Extras(x) if x.index == 0 && self.logprobs => {
                self.pending.extend(token_logprobs(x.logprobs.as_ref()));
            }
            Streamed::Delta { .. } | Streamed::Finish { .. } | Streamed::Extras(_) => {}
            Streamed::Done(Outcome { usage, finish_reason, .. }) => {
                self.close(&mut out);
                let finish = self.answered.finish.or(finish_reason);
                self.answered.finish = finish;
                self.answered.status = status_of(finish);
                self.answered.usage = usage_of(&usage);
                if let Some(k) = self.keep.take() {
                    k.store(&self.answered).await;
                }
                let status = self.answered.status.as_str();
                let o = object(&self.answered, &self.echo, status);
                let name = if status == "completed" { "response.completed" } else { "response.incomplete" };
                self.emit(name, json!({"response": o}), &mut out);
            }
            Streamed::Failed { code, message } => {
                let mut o = object(&self.answered, &self.echo, "failed");
                let code = if code == "GUARDRAIL_VIOLATION" { "guardrail_violation" } else { "server_error" };
                o["error"] = json!({"code": code, "message": message});
                self.emit("response.failed", json!({"response": o}), &mut out);
            }
        }
        out
    }
}

pub(super) fn sse_body(
    trace: String,
    stream: ChatStream,
    echo: Echo,
    keep: Option<Keep>,
    logprobs: bool,
) -> impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> {
    let answered = Answered {
        id: format!("resp_{trace}"),
        created_at: Utc::now().timestamp(),
        model: stream.info.model.clone(),
        status: ResponseStatus::Completed,
        output: Vec::new(),
        usage: ResponseUsage::default(),
        finish: None,
        logprobs: Vec::new(),
    };
    let mut life = Lifecycle { seq: 0, answered, echo, open: None, keep, trace, logprobs, pending: Vec::new() };
    let start = life.start();
    let state = (life, stream, std::collections::VecDeque::from(start));
    futures::stream::unfold(state, |(mut life, mut stream, mut out)| async move {
        loop {
            if let Some(b) = out.pop_front() {
                return Some((Ok(b), (life, stream, out)));
            }
            let ev = stream.next().await?;
            out.extend(life.frames(ev).await);
        }
    })
}
