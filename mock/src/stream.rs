//! Response bodies: JSON, SSE / NDJSON frame streams with optional splitting, delays and cuts.

use std::io;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

/// Sizes (in bytes) of the pieces a split frame is written in, cycled: small and irregular so that
/// `data:` prefixes, `\n\n` / `\r\n\r\n` terminators and multi-byte UTF-8 characters straddle writes.
const PIECES: [usize; 7] = [3, 1, 4, 1, 5, 9, 2];

/// How a frame stream is written.
#[derive(Clone, Copy, Debug, Default)]
pub struct StreamPlan {
    /// Sleep between two frames.
    pub chunk_delay: Duration,
    /// Abort the connection once this many frames were written.
    pub cut_after: Option<usize>,
    /// Write every frame in small pieces, each one its own HTTP chunk.
    pub split: bool,
}

struct State {
    frames: std::vec::IntoIter<Bytes>,
    plan: StreamPlan,
    sent: usize,
    rest: Bytes,
    piece: usize,
    done: bool,
}

impl State {
    fn next_piece(&mut self, mut frame: Bytes) -> Bytes {
        let n = PIECES[self.piece % PIECES.len()];
        self.piece += 1;
        if frame.len() <= n {
            return frame;
        }
        let head = frame.split_to(n);
        self.rest = frame;
        head
    }
}

/// A body writing `frames` according to `plan`.
pub fn body(frames: Vec<Bytes>, plan: StreamPlan) -> Body {
    let st = State { frames: frames.into_iter(), plan, sent: 0, rest: Bytes::new(), piece: 0, done: false };
    Body::from_stream(futures::stream::unfold(st, |mut st| async move {
        if st.done {
            return None;
        }
        if !st.rest.is_empty() {
            // Let the connection flush the previous piece on its own.
            tokio::task::yield_now().await;
            let rest = std::mem::take(&mut st.rest);
            let piece = st.next_piece(rest);
            return Some((Ok(piece), st));
        }
        if st.plan.cut_after.is_some_and(|n| st.sent >= n) {
            st.done = true;
            // Give the connection a chance to flush what was written before the cut.
            tokio::time::sleep(Duration::from_millis(5)).await;
            return Some((Err(io::Error::new(io::ErrorKind::ConnectionAborted, "layerr-mock: cut mid-stream")), st));
        }
        let frame = st.frames.next()?;
        if st.sent > 0 && !st.plan.chunk_delay.is_zero() {
            tokio::time::sleep(st.plan.chunk_delay).await;
        }
        st.sent += 1;
        let out = if st.plan.split { st.next_piece(frame) } else { frame };
        Some((Ok::<_, io::Error>(out), st))
    }))
}

/// `data: <json>\n\n` (OpenAI); Gemini uses `\r\n\r\n` terminators.
pub fn data_frame<T: Serialize + ?Sized>(v: &T, crlf: bool) -> Bytes {
    let mut out = BytesMut::with_capacity(256).writer();
    out.get_mut().put_slice(b"data: ");
    let _ = serde_json::to_writer(&mut out, v);
    out.get_mut().put_slice(if crlf { b"\r\n\r\n" } else { b"\n\n" });
    out.into_inner().freeze()
}

/// `event: <name>\ndata: <json>\n\n` (Anthropic).
pub fn event_frame<T: Serialize + ?Sized>(event: &str, v: &T) -> Bytes {
    let mut out = BytesMut::with_capacity(256).writer();
    out.get_mut().put_slice(b"event: ");
    out.get_mut().put_slice(event.as_bytes());
    out.get_mut().put_slice(b"\ndata: ");
    let _ = serde_json::to_writer(&mut out, v);
    out.get_mut().put_slice(b"\n\n");
    out.into_inner().freeze()
}

/// `<json>\n` (Ollama NDJSON).
pub fn ndjson_line<T: Serialize + ?Sized>(v: &T) -> Bytes {
    let mut out = BytesMut::with_capacity(256).writer();
    let _ = serde_json::to_writer(&mut out, v);
    out.get_mut().put_u8(b'\n');
    out.into_inner().freeze()
}

pub const SSE: &str = "text/event-stream; charset=utf-8";
pub const NDJSON: &str = "application/x-ndjson";
pub const JSON: &str = "application/json";

pub fn response(status: StatusCode, content_type: &'static str, body: Body) -> Response<Body> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if content_type != JSON {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    resp
}

/// A JSON response; with `cut` the headers and the first half of the body are sent, then the connection is aborted.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, v: &T, cut: bool) -> Response<Body> {
    let mut buf = Vec::with_capacity(1024);
    let _ = serde_json::to_writer(&mut buf, v);
    let bytes = Bytes::from(buf);
    let body = if cut {
        let mut rest = bytes;
        let head = rest.split_to(rest.len() / 2);
        body(vec![head, rest], StreamPlan { cut_after: Some(1), ..Default::default() })
    } else {
        Body::from(bytes)
    };
    response(status, JSON, body)
}

/// Placed after the reply text of a padded non-streaming answer; [`padded_json`] replaces it with the padding.
/// Plain ASCII, so it is serialized unchanged inside a JSON string.
pub const PAD_MARKER: &str = "<<layerr-mock-pad>>";

/// Size of the shared padding buffer, and of the text of one padding stream event.
const PAD_CHUNK: usize = 64 << 10;

/// Padding text: `" pad"` repeated (ASCII, JSON-safe), [`PAD_CHUNK`] bytes, allocated once per process.
pub fn pad_text() -> &'static str {
    static PAD: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PAD.get_or_init(|| " pad".repeat(PAD_CHUNK / 4))
}

/// A JSON response of at least `min_bytes`: the serialized `v` with the padding streamed at [`PAD_MARKER`]
/// (from one shared buffer, 64 KiB per chunk). Without the marker the body is padded with trailing spaces.
pub fn padded_json<T: Serialize + ?Sized>(v: &T, min_bytes: usize) -> Response<Body> {
    let buf = serde_json::to_vec(v).unwrap_or_default();
    let marker = PAD_MARKER.as_bytes();
    let (head, tail, fill) = match buf.windows(marker.len()).rposition(|w| w == marker) {
        Some(i) => (Bytes::copy_from_slice(&buf[..i]), Bytes::copy_from_slice(&buf[i + marker.len()..]), None),
        // Whitespace after a JSON value is still valid JSON.
        None => (Bytes::from(buf), Bytes::new(), Some(Bytes::from(vec![b' '; PAD_CHUNK]))),
    };
    let chunk = fill.unwrap_or_else(|| Bytes::from_static(pad_text().as_bytes()));
    let pad = min_bytes.saturating_sub(head.len() + tail.len());
    let (full, rest) = (pad / PAD_CHUNK, pad % PAD_CHUNK);
    let last = chunk.slice(..rest);
    let pieces = std::iter::once(head)
        .chain(std::iter::repeat_n(chunk, full))
        .chain(std::iter::once(last))
        .chain(std::iter::once(tail))
        .filter(|b| !b.is_empty())
        .map(Ok::<_, io::Error>);
    response(StatusCode::OK, JSON, Body::from_stream(futures::stream::iter(pieces)))
}

/// A 200 `application/json` body that is not JSON: the first part of the serialized `v`, then junk.
pub fn malformed_json<T: Serialize + ?Sized>(v: &T) -> Response<Body> {
    let mut buf = serde_json::to_vec(v).unwrap_or_default();
    buf.truncate(buf.len() * 2 / 3);
    buf.extend_from_slice(b"<<layerr-mock: malformed>> ,,}]{");
    response(StatusCode::OK, JSON, Body::from(buf))
}

/// Stream frames following the first valid event of a `malformed` stream: a truncated JSON payload, a line
/// that is no SSE field (or, for NDJSON, no JSON), a `data:` that is not JSON; no end-of-stream marker.
pub fn malformed_frames(api: crate::Api) -> Vec<Bytes> {
    use crate::Api;
    let frames: &[&'static [u8]] = match api {
        Api::OpenAi => &[
            b"data: {\"id\":\"chatcmpl-mock\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tru\n\n",
            b"<<layerr-mock: not an SSE line>> {]\n",
            b"data: {]}\n\n",
        ],
        Api::Anthropic => &[
            b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"te\n\n",
            b"<<layerr-mock: not an SSE line>> {]\n",
            b"event: message_stop\ndata: {]}\n\n",
        ],
        Api::Gemini => &[
            b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"tru\r\n\r\n",
            b"<<layerr-mock: not an SSE line>> {]\r\n",
            b"data: {]}\r\n\r\n",
        ],
        Api::Ollama => &[
            b"{\"model\":\"mock\",\"message\":{\"role\":\"assistant\",\"content\":\"tru\n",
            b"<<layerr-mock: not JSON>> {]\n",
        ],
    };
    frames.iter().map(|f| Bytes::from_static(f)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    async fn collect(b: Body) -> (Vec<Bytes>, bool) {
        let mut s = b.into_data_stream();
        let (mut out, mut err) = (Vec::new(), false);
        while let Some(r) = s.next().await {
            match r {
                Ok(b) => out.push(b),
                Err(_) => err = true,
            }
        }
        (out, err)
    }

    #[tokio::test]
    async fn split_and_cut() {
        let frames = vec![Bytes::from_static(b"data: {\"a\":1}\n\n"), Bytes::from_static(b"data: [DONE]\n\n")];
        let (out, err) = collect(body(frames.clone(), StreamPlan { split: true, ..Default::default() })).await;
        assert!(!err);
        assert!(out.len() > 5 && out.iter().all(|b| b.len() <= 9));
        assert_eq!(out.concat(), frames.concat());
        let (out, err) = collect(body(frames.clone(), StreamPlan { cut_after: Some(1), ..Default::default() })).await;
        assert!(err);
        assert_eq!(out, vec![frames[0].clone()]);
    }
}
