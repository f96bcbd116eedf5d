//! Streamed turns: the gateway's OpenAI chunks are forwarded unchanged (each item is one `data:`
//! frame of our own framing) while the answer's text and usage are kept; the turn is recorded
//! before the final `[DONE]`, so a client that has read it finds the answer in the conversation.
//! A stream that ends without `[DONE]` (upstream failure, client gone) records nothing.

use axum::body::Bytes;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;

use layerr_domain::conversation::NewMessage;

use super::{answer, cost_micros, record, Target};
use crate::api::openai::WireUsage;
use crate::gateway::{Explain, SseBody};
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::llm::Usage;
use crate::state::WorkspaceView;

/// A streamed turn, recorded once the stream has delivered its answer.
pub(super) struct Pending {
    pub(super) app: AppState,
    pub(super) target: Target,
    pub(super) ws: WorkspaceView,
    pub(super) user: Vec<NewMessage>,
    pub(super) explain: Explain,
}

/// The parts of our own chunks the recorded answer needs.
#[derive(Deserialize)]
struct SeenChunk {
    #[serde(default)]
    choices: Vec<SeenChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct SeenChoice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: SeenDelta,
}

#[derive(Deserialize, Default)]
struct SeenDelta {
    content: Option<String>,
}

struct Forward {
    body: SseBody,
    turn: Option<Pending>,
    text: String,
    usage: Option<Usage>,
    /// Sent after the frame in hand (the `[DONE]` after a recording failure's error event).
    pending: Option<Bytes>,
}

const DONE: &[u8] = b"data: [DONE]\n\n";

/// The response body: the gateway's frames, with the turn recorded before `[DONE]`.
pub(super) fn forward(
    body: SseBody,
    turn: Pending,
) -> impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> {
    let state = Forward { body, turn: Some(turn), text: String::new(), usage: None, pending: None };
    futures::stream::unfold(state, |mut st| async move {
        if let Some(b) = st.pending.take() {
            return Some((Ok(b), st));
        }
        let Ok(frame) = st.body.next().await?;
        if frame.as_ref() != DONE {
            st.observe(&frame);
            return Some((Ok(frame), st));
        }
        let Some(rec) = st.turn.take() else { return Some((Ok(frame), st)) };
        match st.finish(rec).await {
            Ok(()) => Some((Ok(frame), st)),
            Err(e) => {
                tracing::error!(error = %e, "a streamed answer could not be added to its conversation");
                st.pending = Some(frame);
                let err = json!({"error": {"message": "the answer could not be saved to the conversation",
                                           "type": "api_error", "code": e.parts().1}});
                Some((Ok(Bytes::from(format!("data: {err}\n\n"))), st))
            }
        }
    })
}

impl Forward {
    fn observe(&mut self, frame: &[u8]) {
        let Some(json) = frame.strip_prefix(b"data: ") else { return };
        let Ok(chunk) = serde_json::from_slice::<SeenChunk>(json) else { return };
        for c in chunk.choices.iter().filter(|c| c.index == 0) {
            if let Some(t) = &c.delta.content {
                self.text.push_str(t);
            }
        }
        if let Some(u) = &chunk.usage {
            self.usage = Some(Usage::from(u));
        }
    }

    /// Records on the task tracker (so a client leaving now cannot cancel it half-way, and
    /// shutdown waits for it), then waits for it.
    async fn finish(&mut self, rec: Pending) -> Result<(), ApiError> {
        let text = std::mem::take(&mut self.text);
        let usage = self.usage.unwrap_or_default();
        let app = rec.app.clone();
        let task = app.tracker.spawn(async move {
            let provider = rec.explain.provider.clone().unwrap_or_default();
            let model = rec.explain.model.clone().unwrap_or_default();
            let cost = cost_micros(&rec.app, &provider, &model, &usage);
            let mut messages = rec.user;
            messages.push(answer(&rec.explain, text, &usage, cost));
            record(&rec.app, &rec.target, &rec.ws, messages).await
        });
        task.await.map_err(ApiError::internal)?
    }
}
