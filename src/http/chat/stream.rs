//! Streamed turns: the service's typed events are framed as OpenAI chunks while the answer's
//! text is kept; the turn is recorded from the stream's [`Outcome`] (its usage and the cost the
//! trace charged, with no re-parse and no second pricing) before the final `[DONE]`, so a client
//! that has read it finds the answer in the conversation. A stream that ends without an outcome
//! (upstream failure, client gone) records nothing.

use std::collections::VecDeque;

use axum::body::Bytes;
use futures::StreamExt;
use serde_json::json;

use layerr_domain::conversation::NewMessage;

use super::{answer, record, Target};
use crate::gateway::{ChatStream, Explain, Outcome, Streamed};
use crate::http::error::ApiError;
use crate::http::sse::{frame, OpenAiFramer};
use crate::http::AppState;
use crate::state::WorkspaceView;

/// A streamed turn, recorded once the stream has delivered its answer.
pub(super) struct Pending {
    pub(super) app: AppState,
    pub(super) target: Target,
    pub(super) ws: WorkspaceView,
    pub(super) user: Vec<NewMessage>,
    pub(super) explain: Explain,
}

struct Forward {
    stream: ChatStream,
    framer: OpenAiFramer,
    turn: Option<Pending>,
    text: String,
    out: VecDeque<Bytes>,
}

/// The response body: the OpenAI frames, with the turn recorded before `[DONE]`.
pub(super) fn forward(
    stream: ChatStream,
    turn: Pending,
) -> impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> {
    let framer = OpenAiFramer::new(stream.info.clone());
    let out = framer.opening().into();
    let state = Forward { stream, framer, turn: Some(turn), text: String::new(), out };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(b) = st.out.pop_front() {
                return Some((Ok(b), st));
            }
            match st.stream.next().await? {
                Streamed::Done(outcome) => {
                    // The usage chunk, then (if the turn could not be saved) an error event,
                    // then `[DONE]`.
                    let mut closing = st.framer.closing(&outcome);
                    let done = closing.pop();
                    st.out.extend(closing);
                    if let Some(rec) = st.turn.take() {
                        if let Err(e) = st.finish(rec, &outcome).await {
                            tracing::error!(error = %e, "a streamed answer could not be added to its conversation");
                            let err = json!({"error": {"message": "the answer could not be saved to the conversation",
                                                       "type": "api_error", "code": e.parts().1}});
                            st.out.push_back(frame(&err));
                        }
                    }
                    st.out.extend(done);
                }
                ev => {
                    if let Streamed::Delta { index: 0, content: Some(t), .. } = &ev {
                        st.text.push_str(t);
                    }
                    st.out.extend(st.framer.frames(ev));
                }
            }
        }
    })
}

impl Forward {
    /// Records on the task tracker (so a client leaving now cannot cancel it half-way, and
    /// shutdown waits for it), then waits for it.
    async fn finish(&mut self, rec: Pending, outcome: &Outcome) -> Result<(), ApiError> {
        let text = std::mem::take(&mut self.text);
        let (usage, cost) = (outcome.usage, outcome.cost_micros);
        let app = rec.app.clone();
        let task = app.tracker.spawn(async move {
            let mut messages = rec.user;
            messages.push(answer(&rec.explain, text, &usage, cost));
            record(&rec.app, &rec.target, &rec.ws, messages).await
        });
        task.await.map_err(ApiError::internal)?
    }
}
