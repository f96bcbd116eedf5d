use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};

use super::*;
use crate::llm::{ImageUrl, StreamEvent, Tool, ToolCallDelta};
use crate::providers::test_support::{chunked, mock};
use crate::providers::ProviderKind;

const STREAM_TOOL_CALLS: &[u8] = include_bytes!("../../../tests/fixtures/ollama/stream_tool_calls.ndjson");
/// The documented non-streamed tool call answer.
const RESPONSE: &str = include_str!("../../../tests/fixtures/ollama/response_tool_calls.json");

fn tool_result(id: &str, text: &str) -> Message {
    Message { tool_call_id: Some(id.to_string()), ..Message::text(Role::Tool, text) }
}

fn schema() -> Value {
    json!({"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]})
}

fn representative() -> ChatRequest {
    ChatRequest {
        model: "layerr-auto".into(),
        messages: vec![
            Message::text(Role::System, "You are terse."),
            Message {
                content: Some(Content::Parts(vec![
                    Part::Text { text: "What is in this image?".into(), cache_control: None },
                    Part::ImageUrl {
                        image_url: ImageUrl { url: "data:image/png;base64,iVBORw0KGgo=".into(), detail: None },
                    },
                ])),
                ..Message::text(Role::User, "")
            },
            Message::text(Role::Developer, "Use metric units."),
            Message {
                tool_calls: vec![
                    ToolCall {
                        id: "call_a1".into(),
                        name: "get_weather".into(),
                        arguments: r#"{"location":"Zürich"}"#.into(),
                    },
                    ToolCall { id: "call_b2".into(), name: "get_time".into(), arguments: String::new() },
                ],
                ..Message::text(Role::Assistant, "Let me check.")
            },
            tool_result("call_a1", r#"{"temp_c": 21}"#),
            tool_result("call_b2", "12:00"),
            Message::text(Role::User, "Thanks! Summarize."),
        ],
        tools: vec![Tool {
            name: "get_weather".into(),
            description: Some("Get the weather".into()),
            parameters: json!({"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}),
            strict: None,
        }],
        tool_choice: Some(ToolChoice::Auto),
        response_format: Some(ResponseFormat::JsonSchema { name: "answer".into(), schema: schema(), strict: None }),
        n: 1,
        stop: vec!["END".into()],
        max_tokens: Some(256),
        temperature: Some(0.5),
        top_p: Some(0.9),
        seed: Some(7),
        ..Default::default()
    }
}

fn body_json(req: &ChatRequest, stream: bool) -> Value {
    let body = build_request(req, "llama3.2-vision", stream).unwrap();
    serde_json::from_str(&serde_json::to_string(&body).unwrap()).unwrap()
}

#[test]
fn request_body_for_a_representative_conversation() {
    assert_eq!(
        body_json(&representative(), false),
        json!({
            "model": "llama3.2-vision",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "What is in this image?", "images": ["iVBORw0KGgo="]},
                {"role": "system", "content": "Use metric units."},
                {"role": "assistant", "content": "Let me check.", "tool_calls": [
                    {"function": {"name": "get_weather", "arguments": {"location": "Zürich"}}},
                    {"function": {"name": "get_time", "arguments": {}}}
                ]},
                {"role": "tool", "content": "{\"temp_c\": 21}", "tool_name": "get_weather"},
                {"role": "tool", "content": "12:00", "tool_name": "get_time"},
                {"role": "user", "content": "Thanks! Summarize."}
            ],
            "stream": false,
            "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Get the weather",
                "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}],
            "format": schema(),
            "options": {"num_predict": 256, "temperature": 0.5, "top_p": 0.9, "stop": ["END"], "seed": 7}
        })
    );
}

#[test]
fn json_mode_tool_choice_none_and_minimal_requests() {
    let mut req = ChatRequest { messages: vec![Message::text(Role::User, "hi")], ..Default::default() };
    assert_eq!(
        body_json(&req, true),
        json!({"model": "llama3.2-vision", "messages": [{"role": "user", "content": "hi"}], "stream": true})
    );
    req.response_format = Some(ResponseFormat::JsonObject);
    req.tools = representative().tools;
    req.tool_choice = Some(ToolChoice::None);
    let body = body_json(&req, false);
    assert_eq!(body["format"], json!("json"));
    assert!(body.get("tools").is_none(), "tool_choice none leaves the tools out");
}

#[test]
fn unsupported_requests_are_bad_requests() {
    let base = ChatRequest { messages: vec![Message::text(Role::User, "hi")], ..Default::default() };
    let err = build_request(&ChatRequest { n: 3, ..base.clone() }, "m", false).unwrap_err();
    assert_eq!((err.kind, err.message.as_str()), (ErrorKind::BadRequest, "n > 1 is not supported by Ollama"));
    let url = ImageUrl { url: "https://example.com/cat.png".into(), detail: None };
    let mut req = base;
    req.messages[0].content = Some(Content::Parts(vec![Part::ImageUrl { image_url: url }]));
    assert_eq!(build_request(&req, "m", false).unwrap_err().kind, ErrorKind::BadRequest);
}

#[test]
fn response_decodes_to_canonical() {
    let r = to_canonical(decode(RESPONSE.as_bytes()).unwrap(), &representative(), "llama3.2").unwrap();
    assert_eq!((r.model.as_str(), r.created), ("llama3.2", 1_721_680_408));
    let c = &r.choices[0];
    assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(c.message.content, None);
    let ids: Vec<&str> = c.message.tool_calls.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["call_0", "call_1"]);
    let args: Value = serde_json::from_str(&c.message.tool_calls[1].arguments).unwrap();
    assert_eq!(args, json!({"format": "celsius", "location": "Lyon, FR"}));
    assert_eq!(r.usage, Some(Usage { prompt_tokens: 122, completion_tokens: 33, ..Default::default() }));
}

#[test]
fn missing_counts_are_estimated() {
    let body = r#"{"model":"llama3.2","message":{"role":"assistant","content":"Hello there!"},"done":true,"done_reason":"length"}"#;
    let req = representative();
    let r = to_canonical(decode(body.as_bytes()).unwrap(), &req, "llama3.2").unwrap();
    assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Length));
    assert_eq!(
        r.usage,
        Some(Usage {
            prompt_tokens: req.estimate_prompt_tokens(),
            completion_tokens: 3,
            estimated: true,
            ..Default::default()
        })
    );
    let err =
        to_canonical(decode(br#"{"error":"model requires more system memory"}"#).unwrap(), &req, "m").unwrap_err();
    assert_eq!(
        (err.kind, err.message.as_str()),
        (ErrorKind::Server, "Ollama error: model requires more system memory")
    );
}

async fn collect(data: Bytes, size: usize) -> Vec<Result<StreamEvent, ProviderError>> {
    stream::decode(chunked(data, size), 99).collect().await
}

#[tokio::test]
async fn stream_decodes_across_awkward_chunk_splits() {
    let text = |t: &str| StreamEvent::Delta { index: 0, content: Some(t.to_string()), tool_calls: vec![] };
    let call = |index: u32, name: &str, args: &str| StreamEvent::Delta {
        index: 0,
        content: None,
        tool_calls: vec![ToolCallDelta {
            index,
            id: Some(format!("call_{index}")),
            name: Some(name.to_string()),
            arguments: args.to_string(),
        }],
    };
    let want = vec![
        StreamEvent::Start { id: None, model: Some("llama3.2".into()) },
        text("Das Wetter"),
        text(" in Zürich ☀️"),
        call(0, "get_weather", r#"{"location":"Zürich"}"#),
        call(1, "get_time", r#"{"tz":"CET"}"#),
        StreamEvent::Finish { index: 0, reason: FinishReason::ToolCalls },
        StreamEvent::Usage(Usage { prompt_tokens: 122, completion_tokens: 33, ..Default::default() }),
    ];
    let lf = Bytes::from_static(STREAM_TOOL_CALLS);
    let crlf = Bytes::from(String::from_utf8(STREAM_TOOL_CALLS.to_vec()).unwrap().replace('\n', "\r\n"));
    for data in [lf, crlf] {
        for size in [1, 2, 3, 5, 7, 13, 64, 1 << 20] {
            let got: Vec<StreamEvent> = collect(data.clone(), size).await.into_iter().map(Result::unwrap).collect();
            assert_eq!(got, want, "chunk size {size}");
        }
    }
}

#[tokio::test]
async fn stream_without_counts_estimates_usage() {
    let body = "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"Hello th\"},\"done\":false}\n\
                {\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"ere!\"},\"done\":false}\n\
                {\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"length\"}";
    let got: Vec<StreamEvent> =
        collect(Bytes::from_static(body.as_bytes()), 10).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        got[got.len() - 2..],
        [
            StreamEvent::Finish { index: 0, reason: FinishReason::Length },
            StreamEvent::Usage(Usage {
                prompt_tokens: 99,
                completion_tokens: 3,
                estimated: true,
                ..Default::default()
            }),
        ]
    );
}

#[tokio::test]
async fn stream_errors_and_truncation() {
    let body = "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}\n\
                {\"error\":\"an error was encountered while running the model: unexpected EOF\"}\n";
    let got = collect(Bytes::from_static(body.as_bytes()), 3).await;
    assert_eq!(got.len(), 3, "{got:?}");
    let err = got[2].clone().unwrap_err();
    assert_eq!(err.kind, ErrorKind::Server);
    assert!(err.message.ends_with("unexpected EOF"));

    let cut = &STREAM_TOOL_CALLS[..STREAM_TOOL_CALLS.len() - 40];
    let got = collect(Bytes::from_static(cut), 7).await;
    assert_eq!(got.last().unwrap().clone().unwrap_err().kind, ErrorKind::StreamCut);
    let got = collect(Bytes::new(), 7).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].clone().unwrap_err().kind, ErrorKind::Server, "nothing came: retryable");
}

// --- HTTP: a local mock upstream records what we send ---

fn upstream<'a>(client: &'a reqwest::Client, base: &'a str, api_key: Option<&'a str>) -> Upstream<'a> {
    Upstream::new(client, ProviderKind::Ollama, base, api_key, Duration::from_secs(10))
}

#[tokio::test]
async fn chat_and_stream_over_http() {
    let (base, seen) = mock(Arc::new(|_| (200, RESPONSE.to_string()))).await;
    let client = reqwest::Client::new();
    let r = chat(&upstream(&client, &base, None), &representative(), "llama3.2").await.unwrap();
    assert_eq!(r.choices[0].message.tool_calls.len(), 2);
    {
        let seen = seen.lock();
        assert_eq!(seen[0].uri, "/api/chat");
        assert!(seen[0].headers.get("authorization").is_none());
        assert_eq!(serde_json::from_str::<Value>(&seen[0].body).unwrap()["stream"], json!(false));
    }

    let (base, seen) = mock(Arc::new(|_| (200, String::from_utf8(STREAM_TOOL_CALLS.to_vec()).unwrap()))).await;
    let up = upstream(&client, &base, Some("ollama-secret"));
    let events: Vec<_> = stream(&up, &representative(), "llama3.2-vision").await.unwrap().collect().await;
    assert_eq!(events.len(), 7);
    assert!(events.iter().all(Result::is_ok));
    let seen = seen.lock();
    assert_eq!(seen[0].headers["authorization"], "Bearer ollama-secret");
    assert_eq!(serde_json::from_str::<Value>(&seen[0].body).unwrap(), body_json(&representative(), true));
}

#[tokio::test]
async fn http_errors_map_to_kinds() {
    let (base, _) =
        mock(Arc::new(|_| (404, r#"{"error":"model \"llama9\" not found, try pulling it first"}"#.into()))).await;
    let client = reqwest::Client::new();
    let err = chat(&upstream(&client, &base, Some("ollama-secret")), &representative(), "llama9").await.unwrap_err();
    assert_eq!(
        (err.kind, err.message.as_str()),
        (ErrorKind::NotFound, "model \"llama9\" not found, try pulling it first")
    );
    assert!(!err.to_string().contains("ollama-secret"));
}

#[tokio::test]
async fn embeddings_and_models_over_http() {
    let (base, seen) = mock(Arc::new(|uri| {
        let body = if uri == "/api/tags" {
            r#"{"models":[{"name":"codellama:13b","size":7365960935},{"name":"llama3:latest","size":3825819519}]}"#
        } else {
            r#"{"model":"all-minilm","embeddings":[[0.010071029,-0.0017594862],[-0.0098027075,0.06042469]],"total_duration":14143917,"prompt_eval_count":8}"#
        };
        (200, body.to_string())
    }))
    .await;
    let client = reqwest::Client::new();
    let up = upstream(&client, &base, None);
    let req =
        EmbeddingRequest { model: "x".into(), inputs: vec!["a".into(), "b".into()], dimensions: None, user: None };
    let r = embed(&up, &req, "all-minilm").await.unwrap();
    assert_eq!(r.vectors, vec![vec![0.010071029, -0.0017594862], vec![-0.0098027075, 0.06042469]]);
    assert_eq!(r.usage, Usage { prompt_tokens: 8, ..Default::default() });
    let got = models(&up).await.unwrap();
    let ids: Vec<&str> = got.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["codellama:13b", "llama3:latest"]);
    let seen = seen.lock();
    assert_eq!(seen[0].uri, "/api/embed");
    assert_eq!(
        serde_json::from_str::<Value>(&seen[0].body).unwrap(),
        json!({"model": "all-minilm", "input": ["a", "b"]})
    );
    assert_eq!(seen[1].uri, "/api/tags");
}

#[test]
fn futures_are_send() {
    fn send<T: Send>(_: T) {}
    let client = reqwest::Client::new();
    let up = upstream(&client, "http://127.0.0.1:9", None);
    let req = representative();
    let e = EmbeddingRequest { model: "x".into(), inputs: vec![], dimensions: None, user: None };
    send(chat(&up, &req, "m"));
    send(stream(&up, &req, "m"));
    send(embed(&up, &e, "m"));
    send(models(&up));
}
