//! Streaming: the attempt loop runs until an upstream yields its first event (so a failure can
//! still fall back before a byte reaches the client), then the service yields typed events
//! ([`Streamed`]) that each inbound format frames its own way (OpenAI chunks in `http/sse.rs`).
//! The last event is the [`Outcome`] (usage, cost, finish reason), priced once; a failure after
//! the first event ends the stream with [`Streamed::Failed`]. The trace is recorded when the
//! stream ends, or when the client goes away (drop).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};

use layerr_domain::trace::TraceCommand;

use super::attempts::{Limit, Won};
use super::error::ChatError;
use super::guard::{self, Released, StreamGuards};
use super::record::Recorder;
use super::Run;
use crate::llm::{FinishReason, ReasoningDelta, StreamEvent, StreamExtras, ToolCallDelta, Usage};
use crate::providers::{self, ErrorKind, EventStream, ProviderError};
use crate::routing::Target;

/// The live upstream, once it has produced its first event.
pub(crate) struct Live {
    target: Target,
    events: EventStream,
    first: Option<StreamEvent>,
    t0: Instant,
    ttft: Duration,
}

/// Tries the chain until one upstream starts answering within the first-token timeout.
pub(super) async fn start(run: &mut Run) -> Result<Box<Live>, ChatError> {
    let req = std::sync::Arc::clone(&run.req);
    let limit = Limit::FirstEvent { first_event: run.first_token };
    let won = run
        .execute(limit, |up, t, _| {
            Box::pin(async {
                let mut events = providers::stream(up, &req, &t.model).await?;
                match events.next().await {
                    Some(Ok(first)) => Ok((events, first)),
                    Some(Err(e)) => Err(e),
                    None => {
                        Err(ProviderError::new(ErrorKind::StreamCut, "the upstream closed the stream without data"))
                    }
                }
            })
        })
        .await;
    let Won { target: t, value: (events, first), t0 } = won?;
    let ttft = t0.elapsed();
    run.explain.provider = Some(t.provider.id.clone());
    run.explain.model = Some(t.model.clone());
    // The headers go out now; the trace records this attempt when the stream ends.
    run.explain.attempts.push(super::AttemptNote {
        provider: t.provider.id.clone(),
        model: t.model.clone(),
        failure: None,
    });
    Ok(Box::new(Live { target: t, events, first: Some(first), t0, ttft }))
}

/// One step of a streamed answer, as the service yields it.
#[derive(Debug, Clone, PartialEq)]
pub enum Streamed {
    Delta {
        index: u32,
        content: Option<String>,
        tool_calls: Vec<ToolCallDelta>,
    },
    Finish {
        index: u32,
        reason: FinishReason,
    },
    /// What an OpenAI-format upstream streamed besides text and tool calls (log probabilities,
    /// refusal text, `system_fingerprint`, `service_tier`), for framings that carry it.
    Extras(StreamExtras),
    /// The answer is complete: the last event of a stream that did not fail.
    Done(Outcome),
    /// The stream cannot go on: the upstream failed after its first event (too late to fall
    /// back; `STREAM_INTERRUPTED`), or a guardrail blocked the answer (`GUARDRAIL_VIOLATION`,
    /// after the text released before the match). The last event.
    Failed {
        code: &'static str,
        message: String,
    },
}

/// What a finished stream was: who answered, what it used and what it cost (priced once, the
/// figure the trace charges).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub provider: String,
    pub model: String,
    pub usage: Usage,
    pub cost_micros: i64,
    pub finish_reason: Option<FinishReason>,
    /// The request's parameters the answering upstream did not receive (what its attempt
    /// recorded): the `x-layerr-dropped-params` header.
    pub dropped_params: Vec<String>,
}

/// What a framing needs to know before the first event.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    /// The response id (`chatcmpl-` and the trace id).
    pub id: String,
    pub created: i64,
    /// The model that answers.
    pub model: String,
    /// Choices the client asked for.
    pub n: u32,
    /// The client asked for a usage event at the end (`stream_options.include_usage`).
    pub include_usage: bool,
    /// The request's parameters the answering upstream does not receive (its attempt records
    /// the same list when the stream ends), for the response headers.
    pub dropped_params: Vec<String>,
}

/// A streamed answer: typed events, ending with [`Streamed::Done`] or [`Streamed::Failed`].
pub struct ChatStream {
    pub info: StreamInfo,
    inner: Pin<Box<dyn Stream<Item = Streamed> + Send>>,
}

impl ChatStream {
    pub(super) fn new(mut run: Run, live: Box<Live>) -> ChatStream {
        let dropped_params = run.dropped_for(&live.target);
        let info = StreamInfo {
            id: format!("chatcmpl-{}", run.explain.trace_id.replace('-', "")),
            created: chrono::Utc::now().timestamp(),
            model: live.target.model.clone(),
            n: run.req.n.max(1),
            include_usage: run.req.include_usage,
            dropped_params,
        };
        ChatStream { info, inner: Box::pin(events(run, live)) }
    }
}

impl Stream for ChatStream {
    type Item = Streamed;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Streamed>> {
        self.inner.as_mut().poll_next(cx)
    }
}

struct State {
    run: Option<Run>,
    live: Box<Live>,
    out: VecDeque<Streamed>,
    usage: Option<Usage>,
    chars_out: usize,
    /// The answer's text, kept only when the workspace captures `full` content.
    text: Option<String>,
    finish: Option<FinishReason>,
    /// How the upstream ended: `None` while it runs.
    ended: Option<Ended>,
    /// The guardrails streamed output passes through before it is sent.
    guards: Option<StreamGuards>,
}

enum Ended {
    /// Answered to the end: the attempt and the charge are on the trace; `Complete` follows.
    Answered,
    /// Failed after its first event: recorded already.
    Failed,
}

impl Drop for State {
    /// The stream ended, or the client went away: record what happened, once.
    fn drop(&mut self) {
        let Some(mut run) = self.run.take() else { return };
        let target = self.live.target.clone();
        let latency_ms = run.started.elapsed().as_millis() as u64;
        self.record_guardrails(&mut run);
        if self.ended.is_none() {
            let err = ProviderError::new(ErrorKind::Cancelled, "the client disconnected mid-stream");
            self.settle(&mut run, Some(&err));
            run.recorder.push(TraceCommand::Fail {
                code: "STREAM_INTERRUPTED".into(),
                message: err.message.clone(),
                latency_ms,
                at: Recorder::now(),
            });
        } else {
            run.recorder.push(TraceCommand::Complete {
                provider: target.provider.id.clone(),
                model: target.model.clone(),
                latency_ms,
                finish_reason: self.finish.map(|f| f.as_str().to_string()),
                output: self.stored_text(),
                at: Recorder::now(),
            });
        }
        let app = run.app.clone();
        app.tracker.spawn(async move { run.recorder.finish().await });
    }
}

impl State {
    /// The guardrails' decisions so far, on the trace (once).
    fn record_guardrails(&mut self, run: &mut Run) {
        let Some(g) = self.guards.as_mut() else { return };
        let decisions = std::mem::take(&mut g.checked.decisions);
        if !decisions.is_empty() {
            run.recorder.push(TraceCommand::ApplyGuardrails {
                side: layerr_domain::guardrails::Side::Output,
                decisions,
                at: Recorder::now(),
            });
        }
    }

    /// The captured answer as the trace stores it: what was sent, with every match masked.
    fn stored_text(&mut self) -> Option<String> {
        let text = self.text.take()?;
        Some(match &self.guards {
            Some(g) => guard::mask_text(g.policy(), layerr_domain::guardrails::Side::Output, &text),
            None => text,
        })
    }

    /// Queues what the guards released; on a block, ends the stream after it.
    fn release(&mut self, index: u32, r: Released) {
        if let (Some(text), Some(c)) = (self.text.as_mut(), r.content.as_deref()) {
            text.push_str(c);
        }
        if r.content.is_some() || !r.tool_calls.is_empty() {
            self.out.push_back(Streamed::Delta { index, content: r.content, tool_calls: r.tool_calls });
        }
        if let Some(d) = r.blocked {
            self.block(&d);
        }
    }

    /// A guardrail blocked the answer: the attempt (it answered) and its charge are recorded,
    /// the trace fails with `GUARDRAIL_VIOLATION`, and the client gets an in-stream error.
    fn block(&mut self, d: &layerr_domain::guardrails::Decision) {
        let Some(mut run) = self.run.take() else { return };
        self.settle(&mut run, None);
        self.record_guardrails(&mut run);
        self.ended = Some(Ended::Failed);
        let err = guard::violation(d);
        run.recorder.push(TraceCommand::Fail {
            code: err.code().into(),
            message: err.to_string(),
            latency_ms: run.started.elapsed().as_millis() as u64,
            at: Recorder::now(),
        });
        let app = run.app.clone();
        app.tracker.spawn(async move { run.recorder.finish().await });
        self.out.push_back(Streamed::Failed { code: err.code(), message: err.to_string() });
    }

    /// Records the live attempt (`err`: how it failed) and its charge; returns the outcome.
    fn settle(&mut self, run: &mut Run, err: Option<&ProviderError>) -> Outcome {
        let target = self.live.target.clone();
        let usage = self.usage.unwrap_or_else(|| Usage {
            prompt_tokens: run.req.estimate_prompt_tokens(),
            completion_tokens: (self.chars_out as u64).div_ceil(4),
            estimated: true,
            ..Usage::default()
        });
        let dropped_params = run.record_attempt(&target, self.live.t0.elapsed(), Some(self.live.ttft), err);
        let cost_micros = run.charge(&target, &usage);
        Outcome {
            provider: target.provider.id.clone(),
            model: target.model.clone(),
            usage,
            cost_micros,
            finish_reason: self.finish,
            dropped_params,
        }
    }

    fn on_event(&mut self, ev: StreamEvent) {
        if self.ended.is_some() {
            return;
        }
        match ev {
            StreamEvent::Start { .. } => {}
            StreamEvent::Delta { index, content, tool_calls } => {
                self.chars_out += content.as_deref().map_or(0, str::len)
                    + tool_calls.iter().map(|t| t.arguments.len()).sum::<usize>();
                let released = match self.guards.as_mut() {
                    Some(g) => g.push(index, content.as_deref(), tool_calls),
                    None => Released { content, tool_calls, blocked: None },
                };
                self.release(index, released);
            }
            StreamEvent::Finish { index, reason } => {
                if let Some(released) = self.guards.as_mut().map(|g| g.finish(index)) {
                    self.release(index, released);
                    if self.ended.is_some() {
                        return;
                    }
                }
                self.finish = Some(reason);
                self.out.push_back(Streamed::Finish { index, reason });
            }
            StreamEvent::Extras(x) => {
                self.chars_out += x.refusal.as_deref().map_or(0, str::len)
                    + match &x.reasoning {
                        Some(ReasoningDelta::Thinking(t)) => t.len(),
                        Some(ReasoningDelta::Signature(_) | ReasoningDelta::Redacted(_)) | None => 0,
                    };
                self.out.push_back(Streamed::Extras(x));
            }
            StreamEvent::Usage(u) => {
                // Some upstreams report usage in parts (input first, output at the end).
                self.usage = Some(match self.usage {
                    None => u,
                    Some(prev) => Usage {
                        prompt_tokens: u.prompt_tokens.max(prev.prompt_tokens),
                        completion_tokens: u.completion_tokens.max(prev.completion_tokens),
                        cached_tokens: u.cached_tokens.max(prev.cached_tokens),
                        cache_write_tokens: u.cache_write_tokens.max(prev.cache_write_tokens),
                        reasoning_tokens: u.reasoning_tokens.max(prev.reasoning_tokens),
                        estimated: u.estimated && prev.estimated,
                    },
                });
            }
        }
    }

    /// The upstream ended: the attempt and the charge are recorded now, so the outcome the
    /// client sees is the one the trace charges.
    fn end(&mut self, failure: Option<ProviderError>) {
        // What the guards still hold goes out (or blocks) before the end.
        let open = self.guards.as_ref().map(StreamGuards::open_choices).unwrap_or_default();
        for index in open {
            if let Some(released) = self.guards.as_mut().map(|g| g.finish(index)) {
                self.release(index, released);
            }
            if self.ended.is_some() {
                return;
            }
        }
        let Some(mut run) = self.run.take() else { return };
        let outcome = self.settle(&mut run, failure.as_ref());
        self.record_guardrails(&mut run);
        match failure {
            None => {
                self.ended = Some(Ended::Answered);
                self.run = Some(run);
                self.out.push_back(Streamed::Done(outcome));
            }
            Some(e) => {
                self.ended = Some(Ended::Failed);
                run.recorder.push(TraceCommand::Fail {
                    code: "STREAM_INTERRUPTED".into(),
                    message: e.message.clone(),
                    latency_ms: run.started.elapsed().as_millis() as u64,
                    at: Recorder::now(),
                });
                let app = run.app.clone();
                app.tracker.spawn(async move { run.recorder.finish().await });
                self.out.push_back(Streamed::Failed {
                    code: "STREAM_INTERRUPTED",
                    message: format!("upstream stream failed: {}", e.message),
                });
            }
        }
    }
}

fn events(run: Run, live: Box<Live>) -> impl Stream<Item = Streamed> + Send {
    let capture = run.capture;
    let guards = run.guard.clone().and_then(StreamGuards::new);
    let mut state = State {
        run: Some(run),
        live,
        out: VecDeque::new(),
        usage: None,
        chars_out: 0,
        text: capture.then(String::new),
        finish: None,
        ended: None,
        guards,
    };
    if let Some(first) = state.live.first.take() {
        state.on_event(first);
    }
    futures::stream::unfold(state, move |mut st| async move {
        loop {
            if let Some(ev) = st.out.pop_front() {
                return Some((ev, st));
            }
            if st.ended.is_some() {
                return None;
            }
            match st.live.events.next().await {
                Some(Ok(ev)) => st.on_event(ev),
                Some(Err(e)) => st.end(Some(e)),
                None => st.end(None),
            }
        }
    })
}
