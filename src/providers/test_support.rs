//! Helpers shared by the adapters' tests: byte streams split at chosen sizes, cut points inside
//! SSE events, and a local HTTP server that records what an adapter sends.

use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;

pub fn chunked(data: Bytes, size: usize) -> impl Stream<Item = Result<Bytes, reqwest::Error>> + Send + 'static {
    let chunks: Vec<_> = (0..data.len()).step_by(size).map(|i| Ok(data.slice(i..(i + size).min(data.len())))).collect();
    futures::stream::iter(chunks)
}

/// Cut points in the middle of each `data:` line of an SSE fixture.
pub fn mid_data_cuts(data: &[u8]) -> Vec<usize> {
    let mut cuts = Vec::new();
    let mut start = 0;
    for line in data.split(|&b| b == b'\n') {
        if line.starts_with(b"data:") && line.len() > 12 {
            cuts.push(start + line.len() / 2);
        }
        start += line.len() + 1;
    }
    cuts
}

#[derive(Debug, Clone)]
pub struct Seen {
    pub uri: String,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

pub type Reply = Arc<dyn Fn(&str) -> (u16, String) + Send + Sync>;

pub async fn mock(reply: Reply) -> (String, Arc<parking_lot::Mutex<Vec<Seen>>>) {
    use axum::http::{HeaderMap, StatusCode, Uri};
    let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: String| {
        let (log, reply) = (log.clone(), reply.clone());
        async move {
            let uri = uri.to_string();
            let (status, body_out) = reply(&uri);
            log.lock().push(Seen { uri, headers, body });
            (StatusCode::from_u16(status).unwrap(), body_out)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    #[allow(clippy::disallowed_methods, reason = "a test server, gone with the test's runtime")]
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}
