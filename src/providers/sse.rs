//! Line framing for upstream streams: Server-Sent Events (OpenAI, Anthropic, Gemini) and
//! newline-delimited JSON (Ollama), robust to chunks split anywhere, including inside a
//! multi-byte character or between `\r` and `\n`.

use bytes::{Buf, BytesMut};
use futures::{Stream, StreamExt};

use std::collections::VecDeque;

use super::{ErrorKind, EventStream, ProviderError};
use crate::llm::StreamEvent;

/// One SSE event: its `event:` name (if any) and its joined `data:` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

/// Splits a byte stream into complete lines (without the terminator).
pub fn lines(
    body: impl Stream<Item = Result<bytes::Bytes, reqwest::Error>> + Send + 'static,
) -> impl Stream<Item = Result<String, ProviderError>> + Send + 'static {
    let state = (Box::pin(body), BytesMut::new(), false, 0usize);
    futures::stream::unfold(state, |(mut body, mut buf, mut done, mut total)| async move {
        loop {
            if let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                let mut line = buf.split_to(pos + 1);
                line.truncate(pos);
                if line.last() == Some(&b'\r') {
                    line.truncate(pos - 1);
                }
                let text = String::from_utf8_lossy(&line).into_owned();
                return Some((Ok(text), (body, buf, done, total)));
            }
            if done {
                if buf.is_empty() {
                    return None;
                }
                let text = String::from_utf8_lossy(&buf).trim_end_matches('\r').to_string();
                buf.advance(buf.len());
                return Some((Ok(text), (body, buf, done, total)));
            }
            match body.next().await {
                Some(Ok(chunk)) => {
                    // A stream is bounded like a body: past the cap it ends as undecodable.
                    total = total.saturating_add(chunk.len());
                    if total > super::MAX_RESPONSE_BYTES {
                        done = true;
                        buf.clear();
                        let err = ProviderError::new(
                            ErrorKind::Decode,
                            format!("the upstream stream exceeds {} MiB", super::MAX_RESPONSE_BYTES >> 20),
                        );
                        return Some((Err(err), (body, buf, done, total)));
                    }
                    buf.extend_from_slice(&chunk);
                }
                Some(Err(e)) => {
                    done = true;
                    buf.clear();
                    let err =
                        ProviderError::new(ErrorKind::StreamCut, format!("upstream stream broke: {}", e.without_url()));
                    return Some((Err(err), (body, buf, done, total)));
                }
                None => done = true,
            }
        }
    })
}

/// Groups lines into SSE events (blank line = dispatch; comments ignored).
pub fn events(
    body: impl Stream<Item = Result<bytes::Bytes, reqwest::Error>> + Send + 'static,
) -> impl Stream<Item = Result<SseEvent, ProviderError>> + Send + 'static {
    let state = (Box::pin(lines(body).fuse()), None::<String>, Vec::<String>::new());
    futures::stream::unfold(state, |(mut lines, mut event, mut data)| async move {
        loop {
            match lines.next().await {
                Some(Ok(line)) => {
                    if line.is_empty() {
                        if !data.is_empty() {
                            let ev = SseEvent { event: event.take(), data: data.join("\n") };
                            data.clear();
                            return Some((Ok(ev), (lines, event, data)));
                        }
                        event = None;
                        continue;
                    }
                    if line.starts_with(':') {
                        continue;
                    }
                    let (field, value) = match line.split_once(':') {
                        Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                        None => (line.as_str(), ""),
                    };
                    match field {
                        "data" => data.push(value.to_string()),
                        "event" => event = Some(value.to_string()),
                        _ => {}
                    }
                }
                Some(Err(e)) => return Some((Err(e), (lines, event, data))),
                None => {
                    if data.is_empty() {
                        return None;
                    }
                    let ev = SseEvent { event: event.take(), data: data.join("\n") };
                    data.clear();
                    return Some((Ok(ev), (lines, event, data)));
                }
            }
        }
    })
}

/// One provider's stream decoder: turns each frame (an SSE event or an NDJSON line) into
/// canonical events, and says what the end of the body means.
pub(crate) trait FrameDecoder: Send + 'static {
    type Frame: Send + 'static;
    fn frame(&mut self, frame: &Self::Frame) -> Vec<Result<StreamEvent, ProviderError>>;
    /// Nothing meaningful can follow (a final event was seen): stop reading there.
    fn finished(&self) -> bool {
        false
    }
    /// The body ended: final events, and an error when the answer had not finished.
    fn end(&mut self) -> Vec<Result<StreamEvent, ProviderError>>;
}

/// Runs a decoder over a framed body. Stops after the first error or once the decoder has
/// finished; every adapter's stream ends the same way.
pub(crate) fn drive<D: FrameDecoder>(
    frames: impl Stream<Item = Result<D::Frame, ProviderError>> + Send + 'static,
    decoder: D,
) -> EventStream {
    type Item = Result<StreamEvent, ProviderError>;
    let state = (Box::pin(frames), decoder, VecDeque::<Item>::new(), false);
    Box::pin(futures::stream::unfold(state, |(mut frames, mut dec, mut queue, mut done)| async move {
        loop {
            if let Some(item) = queue.pop_front() {
                return Some((item, (frames, dec, queue, done)));
            }
            if done {
                return None;
            }
            match frames.next().await {
                Some(Ok(frame)) => {
                    let out = dec.frame(&frame);
                    done = dec.finished() || out.iter().any(Result::is_err);
                    queue.extend(out);
                }
                Some(Err(e)) => {
                    done = true;
                    queue.push_back(Err(e));
                }
                None => {
                    done = true;
                    queue.extend(dec.end());
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<bytes::Bytes, reqwest::Error>> + Send + 'static {
        futures::stream::iter(parts.iter().map(|p| Ok(bytes::Bytes::from_static(p))).collect::<Vec<_>>())
    }

    #[tokio::test]
    async fn events_survive_awkward_chunk_boundaries() {
        let body = chunks(&[
            b"event: message_start\r",
            b"\ndata: {\"a\":",
            b"1}\r\n\r\n: ping comment\n\nda",
            b"ta: caf\xc3",
            b"\xa9\n\ndata: [DONE]\n",
        ]);
        let got: Vec<SseEvent> = events(body).map(|e| e.unwrap()).collect().await;
        assert_eq!(
            got,
            vec![
                SseEvent { event: Some("message_start".into()), data: "{\"a\":1}".into() },
                SseEvent { event: None, data: "café".into() },
                SseEvent { event: None, data: "[DONE]".into() },
            ]
        );
    }

    #[tokio::test]
    async fn ndjson_lines_split_mid_line() {
        let body = chunks(&[b"{\"x\":", b"1}\n{\"x\"", b":2}\n", b"{\"x\":3}"]);
        let got: Vec<String> = lines(body).map(|l| l.unwrap()).collect().await;
        assert_eq!(got, vec!["{\"x\":1}", "{\"x\":2}", "{\"x\":3}"]);
    }
}
