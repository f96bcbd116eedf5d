//! Providers on mock upstreams, and chat requests through the OpenAI-compatible route.

use layerr_mock::MockServer;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};

use super::{Gateway, ADMIN_KEY};

/// The credential every test provider is registered with: tests assert that it never leaves the
/// gateway (no event, no answer, no log line, no Kafka message holds it).
pub const PROVIDER_KEY: &str = "sk-test-secret-value";

/// The registration body of a provider `id` of type `kind` at `base` serving `models`.
pub fn provider_body(id: &str, kind: &str, base: &str, models: &[&str]) -> Value {
    json!({"id": id, "name": id, "type": kind, "baseUrl": base, "models": models, "apiKey": PROVIDER_KEY})
}

/// Registers (as admin) a provider of type `kind`; it must be created.
pub async fn provider_of(gw: &Gateway, id: &str, kind: &str, base: &str, models: &[&str]) {
    let (s, v) = gw.admin("POST", "/api/providers", Some(provider_body(id, kind, base, models))).await;
    assert_eq!(s, 201, "{v}");
}

/// Registers (as admin) an OpenAI provider `id` at `base` (`…/v1`) serving `models`.
pub async fn provider(gw: &Gateway, id: &str, base: &str, models: &[&str]) {
    provider_of(gw, id, "openai", base, models).await;
}

/// A fresh mock upstream behind the OpenAI provider `oa` (gpt-4o-mini and gpt-4o).
pub async fn mock_provider(gw: &Gateway) -> MockServer {
    let mock = layerr_mock::spawn().await;
    provider(gw, "oa", &format!("{}/v1", mock.base_url()), &["gpt-4o-mini", "gpt-4o"]).await;
    mock
}

/// `POST /v1/chat/completions` with `key`.
pub async fn chat(gw: &Gateway, key: &str, body: Value) -> (u16, HeaderMap, Value) {
    gw.call("POST", "/v1/chat/completions", Some(key), Some(body)).await
}

/// [`chat`] with the admin key.
pub async fn admin_chat(gw: &Gateway, body: Value) -> (u16, HeaderMap, Value) {
    chat(gw, ADMIN_KEY, body).await
}

/// A chat body: one user message `text` to `model`, with a Layerr `strategy` if given.
pub fn ask(model: &str, strategy: Option<&str>, text: &str) -> Value {
    let mut b = json!({"model": model, "messages": [{"role": "user", "content": text}]});
    if let Some(s) = strategy {
        b["layerr"] = json!({"strategy": s});
    }
    b
}

/// A header's text, or "" when it is absent.
pub fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
}

/// The answer's `x-layerr-trace-id` ("" when it has none).
pub fn trace_id(h: &HeaderMap) -> String {
    header(h, "x-layerr-trace-id").to_string()
}

/// `POST /v1/chat/completions` with `key`, the response as it comes (for streams, and for tasks
/// that read only some of it).
pub async fn post_chat(gw: &Gateway, key: &str, body: &Value) -> reqwest::Response {
    gw.client.post(format!("{}/v1/chat/completions", gw.base)).bearer_auth(key).json(body).send().await.unwrap()
}
