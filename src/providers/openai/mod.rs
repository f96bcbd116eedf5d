//! OpenAI Chat Completions and OpenAI-compatible upstreams (vLLM, LM Studio, Groq, Together,
//! Mistral, DeepSeek, Azure-style deployments). Wire types are shared with the inbound API
//! (`crate::api::openai`): it is one format.

use futures::StreamExt;

use super::{decode, send, sse, ErrorKind, EventStream, ProviderError, Upstream};
use crate::api::openai::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, EmbeddingsResponse, ModelList};
use crate::llm::{
    ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, RemoteModel, StreamEvent, StreamExtras,
    ThinkingConfig, ToolCallDelta, Usage,
};

/// Azure-style deployments put the model in the path: a base URL containing `{model}` gets it
/// substituted, and such deployments authenticate with `api-key`.
fn endpoint(up: &Upstream<'_>, model: &str, path: &str) -> (String, bool) {
    if up.base_url.contains("{model}") {
        let base = up.base_url.replace("{model}", model);
        let (base, query) = match base.split_once('?') {
            Some((b, q)) => (b.to_string(), format!("?{q}")),
            None => (base, String::new()),
        };
        (format!("{}{path}{query}", base.trim_end_matches('/')), true)
    } else {
        (up.url(path), false)
    }
}

fn request(up: &Upstream<'_>, model: &str, path: &str) -> reqwest::RequestBuilder {
    let (url, azure) = endpoint(up, model, path);
    let mut rb = up.client.post(url).timeout(up.timeout);
    if let Some(key) = up.api_key {
        rb = if azure { rb.header("api-key", key) } else { rb.bearer_auth(key) };
    }
    rb
}

/// The wire request. Every OpenAI parameter the client sent reaches the upstream as sent (its
/// own `reasoning_effort` included): the modelled ones, and the documented and extra ones the
/// canonical request carries in `extra` (OpenAI-compatible servers honour their own extras,
/// such as vLLM's `top_k` and `repetition_penalty`). What is not an OpenAI parameter is
/// translated or reported (`passthrough::dropped`): a Messages request's `thinking` becomes the
/// matching `reasoning_effort` for an OpenAI reasoning model only ([`thinking_effort`]; other
/// models refuse the parameter), and is reported for the rest and for OpenAI-compatible
/// servers (no common equivalent); earlier turns' thinking blocks are reported too.
fn wire(up: &Upstream<'_>, req: &ChatRequest, model: &str, stream: bool) -> ChatCompletionRequest {
    let mut body = ChatCompletionRequest::from_canonical(req, model, stream, &Default::default());
    if up.kind == super::ProviderKind::OpenAi && body.reasoning_effort.is_none() {
        body.reasoning_effort = thinking_effort(req, model, up.reasoning).map(str::to_string);
    }
    body
}

/// The `reasoning_effort` a Messages request's `thinking` asks of an OpenAI model, if it
/// reasons: a budget's matching effort ([`effort`]), and for `disabled` the least effort the
/// model takes ([`least_effort`]). None for a model that does not reason, or a thinking type
/// the gateway does not know.
pub(crate) fn thinking_effort(req: &ChatRequest, model: &str, reasoning: bool) -> Option<&'static str> {
    match req.thinking.as_ref()? {
        _ if !reasoning => None,
        ThinkingConfig::Enabled { budget_tokens } => Some(effort(*budget_tokens)),
        ThinkingConfig::Disabled => Some(least_effort(model)),
        ThinkingConfig::Other(_) => None,
    }
}

/// The lowest `reasoning_effort` an OpenAI reasoning model accepts, per OpenAI's reasoning guide:
/// `none` (no reasoning) for GPT-5.1 and later, `minimal` for GPT-5, `low` for the Codex
/// models and the o-series (which cannot turn reasoning off).
pub(crate) fn least_effort(model: &str) -> &'static str {
    let Some(rest) = model.strip_prefix("gpt-5") else { return "low" };
    if model.contains("codex") {
        "low"
    } else if rest.strip_prefix('.').is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit() && c != '0')) {
        "none"
    } else {
        "minimal"
    }
}

/// The `reasoning_effort` for a thinking budget: the inverse of the Anthropic adapter's
/// budgets (low 1,024, medium 2,048, high 4,096 tokens).
pub(crate) fn effort(budget_tokens: u32) -> &'static str {
    match budget_tokens {
        0..2048 => "low",
        2048..4096 => "medium",
        _ => "high",
    }
}

pub async fn chat(up: &Upstream<'_>, req: &ChatRequest, model: &str) -> Result<ChatResponse, ProviderError> {
    let body = wire(up, req, model, false);
    let resp = send(request(up, model, "/chat/completions").json(&body)).await?;
    let bytes = super::read_body(resp).await?;
    let parsed: ChatCompletion = decode(&bytes)?;
    Ok(parsed.to_canonical())
}

pub async fn stream(up: &Upstream<'_>, req: &ChatRequest, model: &str) -> Result<EventStream, ProviderError> {
    let body = wire(up, req, model, true);
    let resp = super::expect_sse(send(request(up, model, "/chat/completions").json(&body)).await?).await?;
    let mut started = false;
    // The response-level facts last relayed, so they are sent again only when they change.
    let mut seen: (Option<String>, Option<String>) = (None, None);
    // `[DONE]` ends the answer: stop there rather than wait for the upstream to close the body.
    let events = sse::events(resp.bytes_stream())
        .take_while(|ev| futures::future::ready(!matches!(ev, Ok(e) if e.data == "[DONE]")))
        .flat_map(move |ev| {
            let out: Vec<Result<StreamEvent, ProviderError>> = match ev {
                Err(e) => vec![Err(e)],
                Ok(ev) if ev.data == "[DONE]" => vec![],
                // An error inside the stream: `{"error": {...}}` (it would parse as an empty chunk).
                Ok(ev)
                    if ev.data.contains("\"error\"")
                        && serde_json::from_str::<serde_json::Value>(&ev.data)
                            .is_ok_and(|v| v.get("error").is_some_and(|e| !e.is_null())) =>
                {
                    vec![Err(ProviderError::new(
                        ErrorKind::Server,
                        format!("upstream error in stream: {}", super::upstream_message(ev.data.as_bytes())),
                    ))]
                }
                Ok(ev) => match serde_json::from_str::<ChatCompletionChunk>(&ev.data) {
                    Err(e) => {
                        // Some servers send `{"error": …}` inside the stream.
                        let msg = super::upstream_message(ev.data.as_bytes());
                        vec![Err(ProviderError::new(ErrorKind::Decode, format!("bad stream chunk: {e}; {msg}")))]
                    }
                    Ok(chunk) => {
                        let mut out = Vec::new();
                        if !started {
                            started = true;
                            out.push(Ok(StreamEvent::Start {
                                id: (!chunk.id.is_empty()).then(|| chunk.id.clone()),
                                model: (!chunk.model.is_empty()).then(|| chunk.model.clone()),
                            }));
                        }
                        out.extend(chunk_events(&chunk, &mut seen).into_iter().map(Ok));
                        out
                    }
                },
            };
            futures::stream::iter(out)
        });
    Ok(Box::pin(events))
}

/// The canonical events of one chunk. `seen` holds the `system_fingerprint` and `service_tier`
/// already relayed.
fn chunk_events(chunk: &ChatCompletionChunk, seen: &mut (Option<String>, Option<String>)) -> Vec<StreamEvent> {
    let mut out = Vec::new();
    let fingerprint = chunk.system_fingerprint.clone().filter(|f| seen.0.as_ref() != Some(f));
    let tier = chunk.service_tier.clone().filter(|t| seen.1.as_ref() != Some(t));
    if fingerprint.is_some() || tier.is_some() {
        seen.0 = fingerprint.clone().or(seen.0.take());
        seen.1 = tier.clone().or(seen.1.take());
        out.push(StreamEvent::Extras(StreamExtras {
            index: chunk.choices.first().map_or(0, |c| c.index),
            system_fingerprint: fingerprint,
            service_tier: tier,
            ..StreamExtras::default()
        }));
    }
    for c in &chunk.choices {
        let tool_calls: Vec<ToolCallDelta> = c
            .delta
            .tool_calls
            .iter()
            .flatten()
            .map(|t| ToolCallDelta {
                index: t.index,
                id: t.id.clone(),
                name: t.function.name.clone(),
                arguments: t.function.arguments.clone().unwrap_or_default(),
            })
            .collect();
        // A choice's log probabilities go just before its content, so framings can put them on
        // the same chunk.
        let logprobs = c.logprobs.clone().filter(|l| !l.is_null());
        let refusal = c.delta.refusal.clone().filter(|r| !r.is_empty());
        // Reasoning text (DeepSeek, vLLM) comes before the answer's content.
        if let Some(r) = c.delta.reasoning_content.clone().filter(|r| !r.is_empty()) {
            out.push(StreamEvent::Extras(StreamExtras {
                index: c.index,
                reasoning: Some(crate::llm::ReasoningDelta::Thinking(r)),
                ..StreamExtras::default()
            }));
        }
        if logprobs.is_some() || refusal.is_some() {
            out.push(StreamEvent::Extras(StreamExtras {
                index: c.index,
                logprobs,
                refusal,
                ..StreamExtras::default()
            }));
        }
        // Empty content is no content: a tool call's delta keeps `content` null.
        let content = c.delta.content.clone().filter(|s| !s.is_empty());
        if content.is_some() || !tool_calls.is_empty() {
            out.push(StreamEvent::Delta { index: c.index, content, tool_calls });
        }
        if let Some(reason) = c.finish_reason.as_deref().and_then(crate::api::openai::finish_reason) {
            out.push(StreamEvent::Finish { index: c.index, reason });
        }
    }
    if let Some(u) = &chunk.usage {
        out.push(StreamEvent::Usage(Usage::from(u)));
    }
    out
}

pub async fn embed(up: &Upstream<'_>, req: &EmbeddingRequest, model: &str) -> Result<EmbeddingResponse, ProviderError> {
    let mut body = serde_json::json!({ "model": model, "input": req.inputs });
    if let Some(d) = req.dimensions {
        body["dimensions"] = d.into();
    }
    if let Some(u) = &req.user {
        body["user"] = u.clone().into();
    }
    let resp = send(request(up, model, "/embeddings").json(&body)).await?;
    let bytes = super::read_body(resp).await?;
    let mut parsed: EmbeddingsResponse = decode(&bytes)?;
    parsed.data.sort_by_key(|d| d.index);
    Ok(EmbeddingResponse {
        model: if parsed.model.is_empty() { model.to_string() } else { parsed.model },
        vectors: parsed
            .data
            .into_iter()
            .map(|d| match d.embedding {
                crate::api::openai::EmbeddingVector::Float(v) => Ok(v),
                crate::api::openai::EmbeddingVector::Base64(_) => Err(ProviderError::new(
                    ErrorKind::Decode,
                    "the upstream answered base64 embeddings to a float request",
                )),
            })
            .collect::<Result<_, _>>()?,
        usage: Usage::from(&parsed.usage),
    })
}

pub async fn models(up: &Upstream<'_>) -> Result<Vec<RemoteModel>, ProviderError> {
    let mut rb = up.client.get(up.url("/models")).timeout(up.timeout);
    if let Some(key) = up.api_key {
        rb = rb.bearer_auth(key);
    }
    let resp = send(rb).await?;
    let bytes = super::read_body(resp).await?;
    let list: ModelList = decode(&bytes)?;
    Ok(list.data.into_iter().map(|m| RemoteModel { id: m.id, owned_by: Some(m.owned_by) }).collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn chunk(v: serde_json::Value) -> ChatCompletionChunk {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_tool_call_keeps_null_content_and_extras_are_relayed_once() {
        let mut seen = (None, None);
        let first = chunk(json!({"id": "c", "model": "m", "system_fingerprint": "fp_1", "service_tier": "default",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": "", "tool_calls": [
                {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}]}}]}));
        let evs = chunk_events(&first, &mut seen);
        assert_eq!(
            evs[0],
            StreamEvent::Extras(StreamExtras {
                system_fingerprint: Some("fp_1".into()),
                service_tier: Some("default".into()),
                ..StreamExtras::default()
            })
        );
        match &evs[1] {
            StreamEvent::Delta { content, tool_calls, .. } => {
                assert_eq!(*content, None, "empty content is no content");
                assert_eq!(tool_calls[0].id.as_deref(), Some("call_1"));
            }
            other => panic!("{other:?}"),
        }
        let lp = json!({"content": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105], "top_logprobs": []}]});
        let next = chunk(json!({"id": "c", "model": "m", "system_fingerprint": "fp_1", "service_tier": "default",
            "choices": [{"index": 0, "delta": {"content": "Hi"}, "logprobs": lp}]}));
        let evs = chunk_events(&next, &mut seen);
        assert_eq!(evs.len(), 2, "the fingerprint is not repeated: {evs:?}");
        assert_eq!(evs[0], StreamEvent::Extras(StreamExtras { logprobs: Some(lp), ..StreamExtras::default() }));
        assert!(matches!(&evs[1], StreamEvent::Delta { content: Some(c), .. } if c == "Hi"));
    }

    #[test]
    fn reasoning_content_is_thinking_text_both_ways() {
        // Streamed (DeepSeek, vLLM): before the answer's content.
        let c = chunk(json!({"id": "c", "model": "m", "choices": [{"index": 0,
            "delta": {"reasoning_content": "Let me think.", "content": null}}]}));
        let evs = chunk_events(&c, &mut (None, None));
        assert_eq!(
            evs,
            [StreamEvent::Extras(StreamExtras {
                reasoning: Some(crate::llm::ReasoningDelta::Thinking("Let me think.".into())),
                ..StreamExtras::default()
            })]
        );
        // Whole: the message's reasoning, unsigned, and back out as `reasoning_content`.
        let body = json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": "42", "reasoning_content": "Hm."}}]});
        let r = serde_json::from_value::<ChatCompletion>(body).unwrap().to_canonical();
        assert_eq!(
            r.choices[0].message.reasoning,
            [crate::llm::Reasoning::Thinking { thinking: "Hm.".into(), signature: None, before: 0 }]
        );
        let out = serde_json::to_value(ChatCompletion::from_canonical(&r)).unwrap();
        assert_eq!(out["choices"][0]["message"]["reasoning_content"], "Hm.");
        // Never sent back upstream.
        let wire = serde_json::to_value(crate::api::openai::wire_message(&r.choices[0].message)).unwrap();
        assert!(wire.get("reasoning_content").is_none());
    }

    #[test]
    fn a_thinking_budget_asks_an_openai_reasoning_model_for_an_effort_only() {
        let client = reqwest::Client::new();
        let req = ChatRequest {
            messages: vec![crate::llm::Message::text(crate::llm::Role::User, "hi")],
            thinking: Some(ThinkingConfig::Enabled { budget_tokens: 2048 }),
            n: 1,
            ..ChatRequest::default()
        };
        let up = |kind| Upstream::new(&client, kind, "http://x", None, std::time::Duration::from_secs(1));
        let reasoning = |kind| up(kind).with_reasoning(true);
        let openai = wire(&reasoning(super::super::ProviderKind::OpenAi), &req, "o3", false);
        assert_eq!(openai.reasoning_effort.as_deref(), Some("medium"));
        let compatible = wire(&reasoning(super::super::ProviderKind::OpenAiCompatible), &req, "m", false);
        assert_eq!(compatible.reasoning_effort, None);
        // A model that does not reason (gpt-4o, gpt-4.1) refuses the parameter: not sent.
        assert_eq!(wire(&up(super::super::ProviderKind::OpenAi), &req, "gpt-4o", false).reasoning_effort, None);
        // The client's own effort wins, and is forwarded as asked, whatever the model.
        let asked = ChatRequest { reasoning_effort: Some("high".into()), ..req.clone() };
        for up in [reasoning(super::super::ProviderKind::OpenAi), up(super::super::ProviderKind::OpenAi)] {
            assert_eq!(wire(&up, &asked, "o3", false).reasoning_effort.as_deref(), Some("high"));
        }
        // Disabled: the least effort the reasoning model takes; nothing for the others.
        let off = ChatRequest { thinking: Some(ThinkingConfig::Disabled), ..req.clone() };
        let effort_of = |up: &Upstream<'_>, model| wire(up, &off, model, false).reasoning_effort;
        let openai = reasoning(super::super::ProviderKind::OpenAi);
        assert_eq!(effort_of(&openai, "gpt-5").as_deref(), Some("minimal"));
        assert_eq!(effort_of(&openai, "gpt-5-mini").as_deref(), Some("minimal"));
        assert_eq!(effort_of(&openai, "gpt-5.1").as_deref(), Some("none"));
        assert_eq!(effort_of(&openai, "gpt-5.1-codex").as_deref(), Some("low"));
        assert_eq!(effort_of(&openai, "o4-mini").as_deref(), Some("low"));
        assert_eq!(effort_of(&up(super::super::ProviderKind::OpenAi), "gpt-4.1"), None);
        // A thinking type the gateway does not know has no effort.
        let other = ChatRequest { thinking: Some(ThinkingConfig::Other(json!({"type": "adaptive"}))), ..req };
        assert_eq!(wire(&openai, &other, "o3", false).reasoning_effort, None);
    }
}
