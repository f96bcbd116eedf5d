//! Keeps a keep-alive connection usable when an answer goes out before the request body was read
//! (a 401, 404, 405 or 429, a 400 on a path parameter, a 413). hyper cannot read the next request
//! on a connection whose previous body is still unread, so it closes the connection once the
//! answer is written, but the answer has not said `Connection: close`: a pooling client (httpx,
//! the OpenAI SDKs) sends its next request on it and sees "server disconnected".
//!
//! So the outermost layer hands the body to the router through a wrapper that gives back
//! whatever the router left unread. That rest is read and thrown away before the answer goes out,
//! up to the body limit (plus the slack the 413 path reads) and for at most `DRAIN_TIMEOUT`; when
//! it cannot be (too big, too slow, or a client waiting for `100 Continue` before it sends),
//! the HTTP/1 answer says `Connection: close`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, BodyDataStream, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{header, HeaderValue, Version};
use axum::middleware::Next;
use axum::response::Response;
use futures::{Stream, StreamExt};
use tokio::sync::oneshot;

use super::extract::DRAIN_BEYOND_LIMIT;

/// How long an unread body may take to arrive before the connection is given up instead.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// What the router left of a body: the stream and how many bytes it had read.
type Rest = (BodyDataStream, usize);

/// The request body as the router sees it; dropped before its end, it sends the rest back.
struct Tracked {
    inner: Option<BodyDataStream>,
    read: usize,
    back: Option<oneshot::Sender<Rest>>,
}

impl Stream for Tracked {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else { return Poll::Ready(None) };
        let item = std::task::ready!(inner.poll_next_unpin(cx));
        match &item {
            Some(Ok(chunk)) => this.read = this.read.saturating_add(chunk.len()),
            // The end, or a broken read (the connection is gone then): nothing to give back.
            None | Some(Err(_)) => {
                this.inner = None;
                this.back = None;
            }
        }
        Poll::Ready(item)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let (Some(inner), Some(back)) = (self.inner.take(), self.back.take()) {
            if !inner.is_end_stream() {
                let _ = back.send((inner, self.read));
            }
        }
    }
}

/// The outermost layer (see the module comment). `limit` is `server.max_body_bytes`.
pub async fn drain_unread_body(req: Request, next: Next, limit: usize) -> Response {
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let http1 = req.version() <= Version::HTTP_11;
    let waits_for_continue =
        req.headers().get(header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    let (parts, body) = req.into_parts();
    let (back, mut rest) = oneshot::channel();
    let tracked = Tracked { inner: Some(body.into_data_stream()), read: 0, back: Some(back) };
    let mut resp = next.run(Request::from_parts(parts, Body::from_stream(tracked))).await;
    // Read to its end, or still held by something the router started: nothing to do.
    let Ok((unread, read)) = rest.try_recv() else { return resp };
    let budget = limit.saturating_add(DRAIN_BEYOND_LIMIT);
    let worth_it = !(waits_for_continue && read == 0) && declared.is_none_or(|n| n <= budget);
    if !(worth_it && drain(unread, budget.saturating_sub(read)).await) && http1 {
        resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// Reads `body` to its end and throws it away: true if it ended within `budget` bytes and
/// `DRAIN_TIMEOUT`.
async fn drain(mut body: BodyDataStream, budget: usize) -> bool {
    let read = async move {
        let mut seen = 0usize;
        while let Some(chunk) = body.next().await {
            let Ok(chunk) = chunk else { return false };
            seen = seen.saturating_add(chunk.len());
            if seen > budget {
                return false;
            }
        }
        true
    };
    tokio::time::timeout(DRAIN_TIMEOUT, read).await.unwrap_or(false)
}
