use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};

use super::*;
use crate::llm::{ImageUrl, StreamEvent, Tool, ToolCallDelta};
use crate::providers::test_support::{chunked, mid_data_cuts, mock};
use crate::providers::ProviderKind;

const STREAM_TOOL_CALLS: &[u8] = include_bytes!("../../../tests/fixtures/gemini/stream_tool_calls.sse");
const STREAM_ERROR: &[u8] = include_bytes!("../../../tests/fixtures/gemini/stream_error.sse");
const RESPONSE: &str = include_str!("../../../tests/fixtures/gemini/response_candidates.json");

fn tool_result(id: &str, text: &str) -> Message {
    Message { tool_call_id: Some(id.to_string()), ..Message::text(Role::Tool, text) }
}

fn representative() -> ChatRequest {
    ChatRequest {
        model: "layerr-auto".into(),
        messages: vec![
            Message::text(Role::System, "You are terse."),
            Message {
                content: Some(Content::Parts(vec![
                    Part::Text { text: "What is in this image, and the weather?".into(), cache_control: None },
                    Part::ImageUrl {
                        image_url: ImageUrl { url: "data:image/png;base64,iVBORw0KGgo=".into(), detail: None },
                    },
                    Part::ImageUrl {
                        image_url: ImageUrl { url: "https://example.com/cat.JPG?s=1".into(), detail: None },
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
        tools: vec![
            Tool {
                name: "get_weather".into(),
                description: Some("Get the weather".into()),
                parameters: json!({"type": "object", "properties": {"location": {"type": "string"}},
                    "required": ["location"], "additionalProperties": false}),
                strict: Some(true),
            },
            Tool {
                name: "get_time".into(),
                description: None,
                parameters: json!({"type": "object", "properties": {}}),
                strict: None,
            },
        ],
        tool_choice: Some(ToolChoice::Function("get_weather".into())),
        n: 2,
        stop: vec!["END".into()],
        max_tokens: Some(512),
        temperature: Some(0.5),
        top_p: Some(0.9),
        seed: Some(7),
        ..Default::default()
    }
}

fn body_json(req: &ChatRequest) -> Value {
    serde_json::from_str(&serde_json::to_string(&build_request(req).unwrap()).unwrap()).unwrap()
}

#[test]
fn request_body_for_a_representative_conversation() {
    assert_eq!(
        body_json(&representative()),
        json!({
            "contents": [
                {"role": "user", "parts": [
                    {"text": "What is in this image, and the weather?"},
                    {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                    {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.JPG?s=1"}}
                ]},
                {"role": "model", "parts": [
                    {"text": "Let me check."},
                    {"functionCall": {"name": "get_weather", "args": {"location": "Zürich"}}},
                    {"functionCall": {"name": "get_time", "args": {}}}
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"result": {"temp_c": 21}}}},
                    {"functionResponse": {"name": "get_time", "response": {"result": "12:00"}}},
                    {"text": "Thanks! Summarize."}
                ]}
            ],
            "systemInstruction": {"parts": [{"text": "You are terse."}, {"text": "Use metric units."}]},
            "tools": [{"functionDeclarations": [
                {"name": "get_weather", "description": "Get the weather", "parameters": {
                    "type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}},
                {"name": "get_time"}
            ]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
            "generationConfig": {
                "maxOutputTokens": 512, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"],
                "candidateCount": 2, "seed": 7
            }
        })
    );
}

#[test]
fn minimal_request_and_tool_modes() {
    let mut req = ChatRequest { messages: vec![Message::text(Role::User, "hi")], n: 1, ..Default::default() };
    assert_eq!(body_json(&req), json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}));
    req.tools = representative().tools;
    for (choice, want) in [
        (None, None),
        (Some(ToolChoice::Auto), Some(json!({"functionCallingConfig": {"mode": "AUTO"}}))),
        (Some(ToolChoice::Required), Some(json!({"functionCallingConfig": {"mode": "ANY"}}))),
        (Some(ToolChoice::None), Some(json!({"functionCallingConfig": {"mode": "NONE"}}))),
    ] {
        req.tool_choice = choice;
        assert_eq!(body_json(&req).get("toolConfig").cloned(), want);
    }
}

#[test]
fn json_modes_and_schema_cleanup() {
    let mut req = ChatRequest {
        messages: vec![Message::text(Role::User, "a cat")],
        response_format: Some(ResponseFormat::JsonObject),
        ..Default::default()
    };
    assert_eq!(body_json(&req)["generationConfig"], json!({"responseMimeType": "application/json"}));
    req.response_format = Some(ResponseFormat::JsonSchema {
        name: "cat".into(),
        strict: Some(true),
        schema: json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "name": {"type": "string", "description": "Its name"},
                "nickname": {"type": ["string", "null"]},
                "owner": {"$ref": "#/$defs/person", "description": "Who feeds it"},
                "age": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]},
                "type": {"type": "string", "enum": ["cat"], "const": "cat"}
            },
            "required": ["name", "type"],
            "$defs": {"person": {"type": "object", "properties": {"name": {"type": "string"}}, "additionalProperties": false}}
        }),
    });
    assert_eq!(
        body_json(&req)["generationConfig"],
        json!({
            "responseMimeType": "application/json",
            "responseSchema": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "Its name"},
                    "nickname": {"type": "string", "nullable": true},
                    "owner": {"type": "object", "properties": {"name": {"type": "string"}}, "description": "Who feeds it"},
                    "age": {"type": "integer", "minimum": 0, "nullable": true},
                    "type": {"type": "string", "enum": ["cat"]}
                },
                "required": ["name", "type"]
            }
        })
    );
}

#[test]
fn recursive_refs_are_cut_off() {
    let schema = json!({"$ref": "#/$defs/node", "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}}}});
    let mut depth = 0;
    let mut node = types::gemini_schema(&schema);
    while let Some(next) = node.pointer("/properties/next").cloned() {
        depth += 1;
        node = next;
    }
    assert_eq!((depth, node), (8, json!({"type": "object"})));
}

#[test]
fn unmatched_tool_results_and_bad_arguments_are_rejected() {
    let req = ChatRequest { messages: vec![tool_result("call_x", "1")], ..Default::default() };
    assert_eq!(build_request(&req).unwrap_err().kind, ErrorKind::BadRequest);
    let req = ChatRequest {
        messages: vec![Message {
            tool_calls: vec![ToolCall { id: "c".into(), name: "f".into(), arguments: "not json".into() }],
            ..Message::text(Role::Assistant, "")
        }],
        ..Default::default()
    };
    assert_eq!(build_request(&req).unwrap_err().message, "tool call arguments must be a JSON object");
}

#[test]
fn response_decodes_to_canonical() {
    let r = to_canonical(decode(RESPONSE.as_bytes()).unwrap(), "gemini-2.5-pro").unwrap();
    assert_eq!((r.id.as_str(), r.model.as_str()), ("resp-1", "gemini-2.5-pro"));
    let first = &r.choices[0];
    assert_eq!(first.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(first.message.content, Some(Content::Text("Let me look that up. ".into())));
    assert_eq!(
        first.message.tool_calls,
        vec![
            ToolCall {
                id: "call_0_get_weather".into(),
                name: "get_weather".into(),
                arguments: r#"{"location":"Paris"}"#.into()
            },
            ToolCall {
                id: "call_1_get_weather".into(),
                name: "get_weather".into(),
                arguments: r#"{"location":"Lyon"}"#.into()
            },
        ]
    );
    assert_eq!(r.choices[1].index, 1);
    assert_eq!(r.choices[1].finish_reason, Some(FinishReason::Length));
    assert_eq!(
        r.usage,
        Some(Usage {
            prompt_tokens: 120,
            completion_tokens: 50,
            cached_tokens: 100,
            cache_write_tokens: 0,
            reasoning_tokens: 20,
            estimated: false
        })
    );
}

#[test]
fn finish_reasons_and_blocked_prompts() {
    for (wire, tools, want) in [
        ("STOP", false, FinishReason::Stop),
        ("STOP", true, FinishReason::ToolCalls),
        ("MAX_TOKENS", true, FinishReason::Length),
        ("SAFETY", false, FinishReason::ContentFilter),
        ("RECITATION", false, FinishReason::ContentFilter),
        ("PROHIBITED_CONTENT", false, FinishReason::ContentFilter),
        ("SPII", false, FinishReason::ContentFilter),
        ("OTHER", false, FinishReason::Stop),
    ] {
        assert_eq!(finish_reason(wire, tools), want, "{wire}");
    }
    let blocked = r#"{"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 8}}"#;
    let r = to_canonical(decode(blocked.as_bytes()).unwrap(), "models/gemini-2.5-flash").unwrap();
    assert_eq!(r.model, "gemini-2.5-flash");
    assert_eq!(r.choices[0].finish_reason, Some(FinishReason::ContentFilter));
    assert_eq!(r.usage.unwrap().prompt_tokens, 8);
}

async fn collect(data: Bytes, size: usize) -> Vec<Result<StreamEvent, ProviderError>> {
    stream::decode(chunked(data, size)).collect().await
}

#[tokio::test]
async fn stream_decodes_across_awkward_chunk_splits() {
    let text = |t: &str| StreamEvent::Delta { index: 0, content: Some(t.to_string()), tool_calls: vec![] };
    let call = |index: u32, name: &str, args: &str| ToolCallDelta {
        index,
        id: Some(format!("call_{index}_{name}")),
        name: Some(name.to_string()),
        arguments: args.to_string(),
    };
    let want = vec![
        StreamEvent::Start { id: Some("mBZ0aKfAJ8u2nvgPnJnLwQ8".into()), model: Some("gemini-2.5-flash".into()) },
        text("Das Wetter in Zürich"),
        text(" ist sonnig ☀️."),
        StreamEvent::Delta {
            index: 0,
            content: None,
            tool_calls: vec![
                call(0, "get_weather", r#"{"location":"Zürich"}"#),
                call(1, "get_time", r#"{"tz":"CET"}"#),
            ],
        },
        StreamEvent::Finish { index: 0, reason: FinishReason::ToolCalls },
        StreamEvent::Usage(Usage {
            prompt_tokens: 31,
            completion_tokens: 69,
            cached_tokens: 8,
            cache_write_tokens: 0,
            reasoning_tokens: 44,
            estimated: false,
        }),
    ];
    let crlf = Bytes::from_static(STREAM_TOOL_CALLS);
    let lf = Bytes::from(String::from_utf8(STREAM_TOOL_CALLS.to_vec()).unwrap().replace("\r\n", "\n"));
    for data in [crlf, lf] {
        for size in [1, 2, 3, 5, 7, 13, 64, 1 << 20] {
            let got: Vec<StreamEvent> = collect(data.clone(), size).await.into_iter().map(Result::unwrap).collect();
            assert_eq!(got, want, "chunk size {size}");
        }
    }
}

#[tokio::test]
async fn stream_error_chunk_ends_the_stream() {
    let got = collect(Bytes::from_static(STREAM_ERROR), 6).await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(matches!(&got[1], Ok(StreamEvent::Delta { content: Some(t), .. }) if t == "Once upon"));
    let err = got[2].clone().unwrap_err();
    assert_eq!((err.kind, err.status), (ErrorKind::Server, Some(503)));
    assert_eq!(err.message, "The model is overloaded. Please try again later.");
}

#[tokio::test]
async fn truncated_stream_is_cut() {
    let first_event_end = STREAM_TOOL_CALLS.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let got = collect(Bytes::from_static(&STREAM_TOOL_CALLS[..first_event_end]), 5).await;
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(matches!(got[2], Ok(StreamEvent::Usage(_))), "usage so far is still reported");
    assert_eq!(got[3].clone().unwrap_err().kind, ErrorKind::StreamCut);
}

#[tokio::test]
async fn streams_cut_mid_event_are_cut_not_undecodable() {
    let cuts = mid_data_cuts(STREAM_TOOL_CALLS);
    assert!(cuts.len() > 2);
    for cut in cuts {
        let got = collect(Bytes::from_static(&STREAM_TOOL_CALLS[..cut]), 5).await;
        let err = got.last().unwrap().clone().unwrap_err();
        let output = got.iter().any(|e| matches!(e, Ok(StreamEvent::Delta { .. })));
        let want = if output { ErrorKind::StreamCut } else { ErrorKind::Server };
        assert_eq!(err.kind, want, "cut at byte {cut}: {got:?}");
        assert_eq!(got.iter().filter(|e| e.is_err()).count(), 1);
    }
}

// --- HTTP: a local mock upstream records what we send ---

fn upstream<'a>(client: &'a reqwest::Client, base: &'a str) -> Upstream<'a> {
    Upstream::new(client, ProviderKind::Gemini, base, Some("AIza-secret"), Duration::from_secs(10))
}

#[tokio::test]
async fn chat_and_stream_over_http() {
    let (base, seen) = mock(Arc::new(|uri| {
        let body = if uri.contains("stream") {
            String::from_utf8(STREAM_TOOL_CALLS.to_vec()).unwrap()
        } else {
            RESPONSE.into()
        };
        (200, body)
    }))
    .await;
    let client = reqwest::Client::new();
    let up = upstream(&client, &base);
    let r = chat(&up, &representative(), "gemini-2.5-pro").await.unwrap();
    assert_eq!(r.choices.len(), 2);
    let events: Vec<_> = stream(&up, &representative(), "models/gemini-2.5-flash").await.unwrap().collect().await;
    assert_eq!(events.len(), 6);
    assert!(events.iter().all(Result::is_ok));
    let seen = seen.lock();
    assert_eq!(seen[0].uri, "/v1beta/models/gemini-2.5-pro:generateContent");
    assert_eq!(seen[0].headers["x-goog-api-key"], "AIza-secret");
    assert_eq!(seen[0].headers["content-type"], "application/json");
    assert_eq!(serde_json::from_str::<Value>(&seen[0].body).unwrap(), body_json(&representative()));
    assert_eq!(seen[1].uri, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
}

#[tokio::test]
async fn http_errors_map_to_kinds() {
    let client = reqwest::Client::new();
    let bad_key = r#"{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT"}}"#;
    let (base, _) = mock(Arc::new(move |_| (400, bad_key.to_string()))).await;
    let err = chat(&upstream(&client, &base), &representative(), "gemini-2.5-pro").await.unwrap_err();
    assert_eq!((err.kind, err.status), (ErrorKind::Auth, Some(400)));
    assert!(!err.to_string().contains("AIza-secret"));

    let quota = r#"{"error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED"}}"#;
    let (base, _) = mock(Arc::new(move |_| (429, quota.to_string()))).await;
    let err = stream(&upstream(&client, &base), &representative(), "gemini-2.5-pro").await.err().unwrap();
    assert_eq!((err.kind, err.message.as_str()), (ErrorKind::RateLimited, "Resource has been exhausted"));
}

#[tokio::test]
async fn embeddings_over_http() {
    let (base, seen) = mock(Arc::new(|_| {
        (200, r#"{"embeddings": [{"values": [0.1, -0.2, 0.3]}, {"values": [0.4, 0.5, -0.6]}]}"#.to_string())
    }))
    .await;
    let client = reqwest::Client::new();
    let req = EmbeddingRequest {
        model: "x".into(),
        inputs: vec!["hello world".into(), "Zürich".into()],
        dimensions: Some(3),
        user: None,
    };
    let r = embed(&upstream(&client, &base), &req, "gemini-embedding-001").await.unwrap();
    assert_eq!(r.vectors, vec![vec![0.1, -0.2, 0.3], vec![0.4, 0.5, -0.6]]);
    assert_eq!(r.model, "gemini-embedding-001");
    assert_eq!(r.usage, Usage { prompt_tokens: 5, estimated: true, ..Default::default() }, "17 chars ≈ 5 tokens");
    let seen = seen.lock();
    assert_eq!(seen[0].uri, "/v1beta/models/gemini-embedding-001:batchEmbedContents");
    assert_eq!(
        serde_json::from_str::<Value>(&seen[0].body).unwrap(),
        json!({"requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "hello world"}]}, "outputDimensionality": 3},
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "Zürich"}]}, "outputDimensionality": 3}
        ]})
    );
}

#[tokio::test]
async fn models_strip_prefix_and_follow_pages() {
    let (base, seen) = mock(Arc::new(|uri| {
        let page = if uri.contains("pageToken=p2") {
            r#"{"models": [{"name": "models/text-embedding-004"}]}"#
        } else {
            r#"{"models": [{"name": "models/gemini-2.5-pro", "displayName": "Gemini 2.5 Pro"}, {"name": "models/gemini-2.5-flash"}], "nextPageToken": "p2"}"#
        };
        (200, page.to_string())
    }))
    .await;
    let client = reqwest::Client::new();
    let got = models(&upstream(&client, &base)).await.unwrap();
    let ids: Vec<&str> = got.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["gemini-2.5-pro", "gemini-2.5-flash", "text-embedding-004"]);
    let seen = seen.lock();
    assert_eq!(seen[0].uri, "/v1beta/models?pageSize=1000");
    assert_eq!(seen[1].uri, "/v1beta/models?pageSize=1000&pageToken=p2");
    assert_eq!(seen[1].headers["x-goog-api-key"], "AIza-secret");
}

#[test]
fn futures_are_send() {
    fn send<T: Send>(_: T) {}
    let client = reqwest::Client::new();
    let up = upstream(&client, "http://127.0.0.1:9");
    let req = representative();
    let e = EmbeddingRequest { model: "x".into(), inputs: vec![], dimensions: None, user: None };
    send(chat(&up, &req, "m"));
    send(stream(&up, &req, "m"));
    send(embed(&up, &e, "m"));
    send(models(&up));
}
