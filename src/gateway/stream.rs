//! Streaming: the attempt loop runs until an upstream yields its first event (so a failure can
//! still fall back before a byte reaches the client), then the answer is re-framed as OpenAI
//! `chat.completion.chunk` SSE. A failure after that ends the stream with an error event. The
//! trace is recorded when the stream ends, or when the client goes away (drop).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{Stream, StreamExt};

use layerr_domain::trace::TraceCommand;

use super::attempts::{Limit, Won};
use super::record::Recorder;
use super::Run;
use crate::api::openai::{ChatCompletionChunk, ChunkChoice, ChunkFunction, ChunkToolCall, Delta, WireUsage};
use crate::http::error::ApiError;
use crate::llm::{Role, StreamEvent, Usage};
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
pub(super) async fn start(run: &mut Run) -> Result<(), ApiError> {
    let req = std::mem::take(&mut run.req);
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
    run.req = req;
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
    run.live = Some(Box::new(Live { target: t, events, first: Some(first), t0, ttft }));
    Ok(())
}

/// The response body: OpenAI chunks as SSE, `data: [DONE]` at the end.
pub struct SseBody {
    inner: Pin<Box<dyn Stream<Item = Result<Bytes, std::convert::Infallible>> + Send>>,
}

impl SseBody {
    pub(super) fn new(run: Run) -> SseBody {
        SseBody { inner: Box::pin(body(run)) }
    }
}

impl Stream for SseBody {
    type Item = Result<Bytes, std::convert::Infallible>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

struct State {
    run: Option<Run>,
    live: Box<Live>,
    id: String,
    created: i64,
    model: String,
    out: VecDeque<Bytes>,
    usage: Option<Usage>,
    chars_out: usize,
    /// The answer's text, kept only when the workspace captures `full` content.
    text: Option<String>,
    finish: Option<String>,
    ended: bool,
}

impl Drop for State {
    /// The client went away (or the stream ended): record what happened, once.
    fn drop(&mut self) {
        if let Some(run) = self.run.take() {
            let live_target = self.live.target.clone();
            let (ttft, latency) = (self.live.ttft, self.live.t0.elapsed());
            let usage = self.usage.unwrap_or_else(|| estimate(&run, self.chars_out));
            let err =
                (!self.ended).then(|| ProviderError::new(ErrorKind::Cancelled, "the client disconnected mid-stream"));
            let app = run.app.clone();
            let output = self.text.take();
            app.tracker.clone().spawn(finish(
                run,
                live_target,
                (ttft, latency),
                usage,
                err,
                self.finish.clone(),
                output,
            ));
        }
    }
}

fn estimate(run: &Run, chars_out: usize) -> Usage {
    Usage {
        prompt_tokens: run.req.estimate_prompt_tokens(),
        completion_tokens: (chars_out as u64).div_ceil(4),
        estimated: true,
        ..Usage::default()
    }
}

async fn finish(
    mut run: Run,
    target: Target,
    (ttft, latency): (Duration, Duration),
    usage: Usage,
    err: Option<ProviderError>,
    finish_reason: Option<String>,
    output: Option<String>,
) {
    run.record_attempt(&target, latency, Some(ttft), err.as_ref());
    run.charge(&target, &usage);
    let latency_ms = run.started.elapsed().as_millis() as u64;
    match err {
        None => run.recorder.push(TraceCommand::Complete {
            provider: target.provider.id.clone(),
            model: target.model.clone(),
            latency_ms,
            finish_reason,
            output,
            at: Recorder::now(),
        }),
        Some(e) => run.recorder.push(TraceCommand::Fail {
            code: "STREAM_INTERRUPTED".into(),
            message: e.message.clone(),
            latency_ms,
            at: Recorder::now(),
        }),
    }
    run.recorder.finish().await;
}

fn sse(json: &impl serde::Serialize) -> Bytes {
    let mut v = b"data: ".to_vec();
    serde_json::to_writer(&mut v, json).unwrap_or_default();
    v.extend_from_slice(b"\n\n");
    Bytes::from(v)
}

impl State {
    fn chunk(&self, choices: Vec<ChunkChoice>, usage: Option<WireUsage>) -> Bytes {
        sse(&ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.clone(),
            choices,
            usage,
        })
    }

    fn on_event(&mut self, ev: StreamEvent) {
        match ev {
            StreamEvent::Start { .. } => {}
            StreamEvent::Delta { index, content, tool_calls } => {
                self.chars_out += content.as_deref().map_or(0, str::len)
                    + tool_calls.iter().map(|t| t.arguments.len()).sum::<usize>();
                if let (Some(text), Some(c)) = (self.text.as_mut(), content.as_deref()) {
                    text.push_str(c);
                }
                let calls: Vec<ChunkToolCall> = tool_calls
                    .into_iter()
                    .map(|t| ChunkToolCall {
                        index: t.index,
                        kind: t.id.as_ref().map(|_| "function".to_string()),
                        id: t.id,
                        function: ChunkFunction { name: t.name, arguments: Some(t.arguments) },
                    })
                    .collect();
                let delta = Delta { role: None, content, tool_calls: (!calls.is_empty()).then_some(calls) };
                let b = self.chunk(vec![ChunkChoice { index, delta, finish_reason: None, logprobs: None }], None);
                self.out.push_back(b);
            }
            StreamEvent::Finish { index, reason } => {
                self.finish = Some(reason.as_str().to_string());
                let b = self.chunk(
                    vec![ChunkChoice {
                        index,
                        delta: Delta::default(),
                        finish_reason: Some(reason.as_str().to_string()),
                        logprobs: None,
                    }],
                    None,
                );
                self.out.push_back(b);
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
}

fn body(mut run: Run) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    let live = run.live.take().expect("start() succeeded");
    let include_usage = run.req.include_usage;
    let n = run.req.n.max(1);
    let mut state = State {
        id: format!("chatcmpl-{}", run.explain.trace_id.replace('-', "")),
        created: chrono::Utc::now().timestamp(),
        model: live.target.model.clone(),
        run: Some(run),
        live,
        out: VecDeque::new(),
        usage: None,
        chars_out: 0,
        text: None,
        finish: None,
        ended: false,
    };
    if state.run.as_ref().is_some_and(|r| r.capture) {
        state.text = Some(String::new());
    }
    for index in 0..n {
        let delta = Delta { role: Some(Role::Assistant), content: Some(String::new()), tool_calls: None };
        let b = state.chunk(vec![ChunkChoice { index, delta, finish_reason: None, logprobs: None }], None);
        state.out.push_back(b);
    }
    if let Some(first) = state.live.first.take() {
        state.on_event(first);
    }
    futures::stream::unfold(state, move |mut st| async move {
        loop {
            if let Some(b) = st.out.pop_front() {
                return Some((Ok(b), st));
            }
            if st.ended {
                return None;
            }
            match st.live.events.next().await {
                Some(Ok(ev)) => st.on_event(ev),
                Some(Err(e)) => {
                    // Mid-stream failure: too late to fall back. Tell the client in the stream.
                    let body = serde_json::json!({"error": {
                        "message": format!("upstream stream failed: {}", e.message),
                        "type": "api_error", "code": "STREAM_INTERRUPTED",
                    }});
                    st.out.push_back(sse(&body));
                    st.ended = true;
                    if let Some(run) = st.run.take() {
                        let usage = st.usage.unwrap_or_else(|| estimate(&run, st.chars_out));
                        let (t, ttft, lat) = (st.live.target.clone(), st.live.ttft, st.live.t0.elapsed());
                        let app = run.app.clone();
                        let output = st.text.take();
                        app.tracker.clone().spawn(finish(
                            run,
                            t,
                            (ttft, lat),
                            usage,
                            Some(e),
                            st.finish.clone(),
                            output,
                        ));
                    }
                }
                None => {
                    if include_usage {
                        let u = st
                            .usage
                            .unwrap_or_else(|| st.run.as_ref().map(|r| estimate(r, st.chars_out)).unwrap_or_default());
                        let b = st.chunk(vec![], Some(WireUsage::from(&u)));
                        st.out.push_back(b);
                    }
                    st.out.push_back(Bytes::from_static(b"data: [DONE]\n\n"));
                    st.ended = true;
                    // Recorded by Drop, once the body is finished.
                }
            }
        }
    })
}
