use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};

use super::*;
use crate::llm::{ImageUrl, ReasoningDelta, StreamEvent, Tool, ToolCallDelta, Usage};
use crate::providers::test_support::{chunked, mid_data_cuts, mock};
use crate::providers::ProviderKind;

const STREAM_TOOL_USE: &[u8] = include_bytes!("../../../tests/fixtures/anthropic/stream_tool_use.sse");
const STREAM_OVERLOADED: &[u8] = include_bytes!("../../../tests/fixtures/anthropic/stream_overloaded.sse");
const RESPONSE: &str = include_str!("../../../tests/fixtures/anthropic/response_tool_use.json");

fn msg(role: Role, content: Option<Content>) -> Message {
    Message { role, content, name: None, tool_calls: vec![], tool_call_id: None, reasoning: vec![] }
}

fn tool_result(id: &str, text: &str) -> Message {
    Message { tool_call_id: Some(id.to_string()), ..Message::text(Role::Tool, text) }
}

fn weather_tool() -> Tool {
    Tool {
        name: "get_weather".into(),
        description: Some("Get the weather".into()),
        parameters: json!({"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}),
        strict: Some(true),
    }
}

/// A conversation with everything the conversion has to handle.
fn representative() -> ChatRequest {
    ChatRequest {
        model: "layerr-auto".into(),
        messages: vec![
            Message::text(Role::System, "You are terse."),
            msg(
                Role::User,
                Some(Content::Parts(vec![
                    Part::Text { text: "What is in this image, and the weather?".into(), cache_control: None },
                    Part::ImageUrl {
                        image_url: ImageUrl { url: "data:image/png;base64,iVBORw0KGgo=".into(), detail: None },
                    },
                    Part::ImageUrl { image_url: ImageUrl { url: "https://example.com/cat.jpg".into(), detail: None } },
                ])),
            ),
            Message::text(Role::Developer, "Use metric units."),
            Message {
                tool_calls: vec![
                    ToolCall {
                        id: "call_1".into(),
                        name: "get_weather".into(),
                        arguments: r#"{"location":"Zürich"}"#.into(),
                    },
                    ToolCall { id: "call_2".into(), name: "get_time".into(), arguments: String::new() },
                ],
                ..Message::text(Role::Assistant, "Let me check.")
            },
            tool_result("call_1", r#"{"temp_c": 21}"#),
            tool_result("call_2", "12:00"),
            Message::text(Role::User, "Thanks! Summarize."),
        ],
        tools: vec![
            weather_tool(),
            Tool {
                name: "get_time".into(),
                description: None,
                parameters: json!({"type": "object", "properties": {}}),
                strict: None,
            },
        ],
        tool_choice: Some(ToolChoice::Function("get_weather".into())),
        parallel_tool_calls: Some(false),
        n: 1,
        stop: vec!["END".into()],
        temperature: Some(0.5),
        top_p: Some(0.9),
        seed: Some(7),
        user: Some("user-42".into()),
        ..Default::default()
    }
}

fn body_json(req: &ChatRequest, stream: bool) -> Value {
    let body = build_request(req, "claude-sonnet-4-5", stream).unwrap();
    serde_json::from_str(&serde_json::to_string(&body).unwrap()).unwrap()
}

#[test]
fn request_body_for_a_representative_conversation() {
    assert_eq!(
        body_json(&representative(), false),
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 4096,
            "system": "You are terse.\n\nUse metric units.",
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "What is in this image, and the weather?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
                ]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"location": "Zürich"}},
                    {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "{\"temp_c\": 21}"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": "12:00"},
                    {"type": "text", "text": "Thanks! Summarize."}
                ]}
            ],
            "stop_sequences": ["END"],
            "temperature": 0.5,
            "top_p": 0.9,
            "tools": [
                {"name": "get_weather", "description": "Get the weather", "input_schema": {
                    "type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}},
                {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}
            ],
            "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": true},
            "metadata": {"user_id": "user-42"}
        })
    );
    assert_eq!(body_json(&representative(), true)["stream"], json!(true));
}

#[test]
fn consecutive_same_role_messages_merge_and_empty_ones_drop() {
    let req = ChatRequest {
        messages: vec![
            Message::text(Role::User, "one"),
            Message::text(Role::User, "two"),
            msg(Role::Assistant, Some(Content::Text(String::new()))),
            Message::text(Role::User, "three"),
        ],
        max_tokens: Some(100),
        temperature: Some(1.7),
        ..Default::default()
    };
    let body = body_json(&req, false);
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": [
            {"type": "text", "text": "one"}, {"type": "text", "text": "two"}, {"type": "text", "text": "three"}
        ]}])
    );
    assert_eq!(body["max_tokens"], json!(100));
    assert_eq!(body["temperature"], json!(1.0), "clamped to Anthropic's range");
    assert!(body.get("system").is_none() && body.get("tools").is_none() && body.get("tool_choice").is_none());
}

#[test]
fn tool_choice_mapping() {
    let choice = |c: Option<ToolChoice>, parallel: Option<bool>| {
        let req = ChatRequest {
            messages: vec![Message::text(Role::User, "hi")],
            tools: vec![weather_tool()],
            tool_choice: c,
            parallel_tool_calls: parallel,
            ..Default::default()
        };
        body_json(&req, false).get("tool_choice").cloned()
    };
    assert_eq!(choice(None, None), None);
    assert_eq!(choice(Some(ToolChoice::Auto), None), Some(json!({"type": "auto"})));
    assert_eq!(choice(Some(ToolChoice::Required), None), Some(json!({"type": "any"})));
    assert_eq!(choice(Some(ToolChoice::None), Some(false)), Some(json!({"type": "none"})));
    assert_eq!(choice(None, Some(false)), Some(json!({"type": "auto", "disable_parallel_tool_use": true})));
}

#[test]
fn json_modes_become_system_instructions() {
    let mut req = ChatRequest {
        messages: vec![Message::text(Role::System, "Be brief."), Message::text(Role::User, "Give me a cat")],
        response_format: Some(ResponseFormat::JsonObject),
        ..Default::default()
    };
    assert_eq!(body_json(&req, false)["system"], json!(format!("Be brief.\n\n{JSON_INSTRUCTION}")));
    let schema = json!({"type": "object", "properties": {"name": {"type": "string"}}});
    req.response_format = Some(ResponseFormat::JsonSchema { name: "cat".into(), schema: schema.clone(), strict: None });
    let system = body_json(&req, false)["system"].as_str().unwrap().to_string();
    assert!(system.starts_with(&format!("Be brief.\n\n{JSON_INSTRUCTION}")), "{system}");
    assert!(system.contains(r#"(named "cat")"#) && system.ends_with(&format!(":\n{schema}")), "{system}");
}

#[test]
fn unsupported_requests_are_bad_requests() {
    let base = ChatRequest { messages: vec![Message::text(Role::User, "hi")], ..Default::default() };
    let err = build_request(&ChatRequest { n: 2, ..base.clone() }, "m", false).unwrap_err();
    assert_eq!((err.kind, err.message.as_str()), (ErrorKind::BadRequest, "n > 1 is not supported by Anthropic"));

    let mut bad_args = base.clone();
    bad_args.messages.push(Message {
        tool_calls: vec![ToolCall { id: "c".into(), name: "f".into(), arguments: "[1, 2]".into() }],
        ..msg(Role::Assistant, None)
    });
    assert_eq!(build_request(&bad_args, "m", false).unwrap_err().kind, ErrorKind::BadRequest);

    let svg = ImageUrl { url: "data:image/svg+xml,%3Csvg%3E".into(), detail: None };
    let mut bad_image = base;
    bad_image.messages = vec![msg(Role::User, Some(Content::Parts(vec![Part::ImageUrl { image_url: svg }])))];
    assert_eq!(build_request(&bad_image, "m", false).unwrap_err().kind, ErrorKind::BadRequest);
}

#[test]
fn response_decodes_to_canonical() {
    let parsed: MessagesResponse = decode(RESPONSE.as_bytes()).unwrap();
    let r = to_canonical(parsed, "claude-sonnet-4-5");
    assert_eq!(r.id, "msg_01Aq9w938a90dw8q");
    assert_eq!(r.model, "claude-sonnet-4-5-20250929");
    let c = &r.choices[0];
    assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(c.message.content, Some(Content::Text("I'll check the weather.".into())));
    assert_eq!(c.message.tool_calls.len(), 1);
    assert_eq!(c.message.tool_calls[0].id, "toolu_01A09q90qw90lq917835lq9");
    assert_eq!(c.message.tool_calls[0].name, "get_weather");
    let args: Value = serde_json::from_str(&c.message.tool_calls[0].arguments).unwrap();
    assert_eq!(args, json!({"location": "Paris", "unit": "celsius"}));
    assert_eq!(
        r.usage,
        Some(Usage {
            prompt_tokens: 6095,
            completion_tokens: 503,
            cached_tokens: 3000,
            cache_write_tokens: 1000,
            reasoning_tokens: 0,
            estimated: false
        })
    );
}

#[test]
fn stop_reasons_map() {
    for (wire, want) in [
        ("end_turn", FinishReason::Stop),
        ("stop_sequence", FinishReason::Stop),
        ("max_tokens", FinishReason::Length),
        ("tool_use", FinishReason::ToolCalls),
        ("refusal", FinishReason::ContentFilter),
    ] {
        assert_eq!(finish_reason(wire), want, "{wire}");
    }
    let only_tools = r#"{"id":"m","model":"x","content":[{"type":"tool_use","id":"t","name":"f","input":{}}],
        "stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":1}}"#;
    let r = to_canonical(decode(only_tools.as_bytes()).unwrap(), "x");
    assert_eq!(r.choices[0].message.content, None, "content is null when the answer is only tool calls");
}

async fn collect(data: Bytes, size: usize) -> Vec<Result<StreamEvent, ProviderError>> {
    stream::decode(chunked(data, size)).collect().await
}

fn tool_delta(index: u32, id: Option<&str>, name: Option<&str>, arguments: &str) -> StreamEvent {
    StreamEvent::Delta {
        index: 0,
        content: None,
        tool_calls: vec![ToolCallDelta {
            index,
            id: id.map(str::to_string),
            name: name.map(str::to_string),
            arguments: arguments.to_string(),
        }],
    }
}

#[tokio::test]
async fn stream_decodes_across_awkward_chunk_splits() {
    let text = |t: &str| StreamEvent::Delta { index: 0, content: Some(t.to_string()), tool_calls: vec![] };
    let want = vec![
        StreamEvent::Start {
            id: Some("msg_014p7gG3wDgGV9EUtLvnow3U".into()),
            model: Some("claude-opus-4-1-20250805".into()),
        },
        text("Okay, checking the weather for Zürich"),
        text(" ☀️:"),
        tool_delta(0, Some("toolu_01T1x1fJ34qAmk2tNTrN7Up6"), Some("get_weather"), ""),
        tool_delta(0, None, None, "{\"location\":"),
        tool_delta(0, None, None, " \"Zürich\"}"),
        tool_delta(1, Some("toolu_02"), Some("get_time"), ""),
        tool_delta(1, None, None, "{\"tz\": \"CET\"}"),
        StreamEvent::Finish { index: 0, reason: FinishReason::ToolCalls },
        StreamEvent::Usage(Usage {
            prompt_tokens: 582,
            completion_tokens: 89,
            cached_tokens: 100,
            cache_write_tokens: 10,
            reasoning_tokens: 0,
            estimated: false,
        }),
    ];
    let lf = Bytes::from_static(STREAM_TOOL_USE);
    let crlf = Bytes::from(String::from_utf8(STREAM_TOOL_USE.to_vec()).unwrap().replace('\n', "\r\n"));
    for data in [lf, crlf] {
        for size in [1, 2, 3, 5, 7, 13, 64, 1 << 20] {
            let got: Vec<StreamEvent> = collect(data.clone(), size).await.into_iter().map(Result::unwrap).collect();
            assert_eq!(got, want, "chunk size {size}");
        }
    }
}

#[tokio::test]
async fn stream_error_event_ends_the_stream() {
    let got = collect(Bytes::from_static(STREAM_OVERLOADED), 4).await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(matches!(&got[1], Ok(StreamEvent::Delta { content: Some(t), .. }) if t == "Hel"));
    let err = got[2].clone().unwrap_err();
    assert_eq!(err.kind, ErrorKind::Server);
    assert_eq!(err.message, "overloaded_error in stream: Overloaded");
}

#[tokio::test]
async fn truncated_streams_are_errors() {
    let cut = &STREAM_TOOL_USE[..STREAM_TOOL_USE.len() / 2];
    let got = collect(Bytes::from_static(cut), 9).await;
    assert_eq!(got.last().unwrap().clone().unwrap_err().kind, ErrorKind::StreamCut);

    let first_event_end = STREAM_TOOL_USE.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    let start_only = &STREAM_TOOL_USE[..first_event_end];
    let got = collect(Bytes::from_static(start_only), 9).await;
    assert!(matches!(got[0], Ok(StreamEvent::Start { .. })));
    assert_eq!(got.last().unwrap().clone().unwrap_err().kind, ErrorKind::Server, "no output yet: retryable");
}

#[tokio::test]
async fn streams_cut_mid_event_are_cut_not_undecodable() {
    let cuts = mid_data_cuts(STREAM_TOOL_USE);
    assert!(cuts.len() > 2);
    for cut in cuts {
        let got = collect(Bytes::from_static(&STREAM_TOOL_USE[..cut]), 5).await;
        let err = got.last().unwrap().clone().unwrap_err();
        let output = got.iter().any(|e| matches!(e, Ok(StreamEvent::Delta { .. })));
        let want = if output { ErrorKind::StreamCut } else { ErrorKind::Server };
        assert_eq!(err.kind, want, "cut at byte {cut}: {got:?}");
        assert_eq!(got.iter().filter(|e| e.is_err()).count(), 1);
    }
}

// --- HTTP: a local mock upstream records what we send ---

fn upstream<'a>(client: &'a reqwest::Client, base: &'a str) -> Upstream<'a> {
    Upstream::new(client, ProviderKind::Anthropic, base, Some("sk-ant-secret"), Duration::from_secs(10))
}

#[tokio::test]
async fn chat_over_http_sends_documented_headers() {
    let (base, seen) = mock(Arc::new(|_| (200, RESPONSE.to_string()))).await;
    let client = reqwest::Client::new();
    let r = chat(&upstream(&client, &base), &representative(), "claude-sonnet-4-5").await.unwrap();
    assert_eq!(r.choices[0].message.tool_calls[0].name, "get_weather");
    let seen = seen.lock()[0].clone();
    assert_eq!(seen.uri, "/v1/messages");
    assert_eq!(seen.headers["x-api-key"], "sk-ant-secret");
    assert_eq!(seen.headers["anthropic-version"], "2023-06-01");
    assert_eq!(seen.headers["content-type"], "application/json");
    assert_eq!(serde_json::from_str::<Value>(&seen.body).unwrap(), body_json(&representative(), false));
}

#[tokio::test]
async fn http_errors_map_to_kinds() {
    let overloaded = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    let (base, _) = mock(Arc::new(move |_| (529, overloaded.to_string()))).await;
    let client = reqwest::Client::new();
    let err = stream(&upstream(&client, &base), &representative(), "m").await.err().unwrap();
    assert_eq!((err.kind, err.status, err.message.as_str()), (ErrorKind::Server, Some(529), "Overloaded"));

    let invalid = r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too large"}}"#;
    let (base, _) = mock(Arc::new(move |_| (400, invalid.to_string()))).await;
    let err = chat(&upstream(&client, &base), &representative(), "m").await.unwrap_err();
    assert_eq!((err.kind, err.message.as_str()), (ErrorKind::BadRequest, "max_tokens: too large"));
    assert!(!err.to_string().contains("sk-ant-secret"));
}

#[tokio::test]
async fn stream_over_http() {
    let (base, seen) = mock(Arc::new(|_| (200, String::from_utf8(STREAM_TOOL_USE.to_vec()).unwrap()))).await;
    let client = reqwest::Client::new();
    let events: Vec<_> = stream(&upstream(&client, &base), &representative(), "m").await.unwrap().collect().await;
    assert_eq!(events.len(), 10);
    assert!(events.iter().all(Result::is_ok));
    let body: Value = serde_json::from_str(&seen.lock()[0].body).unwrap();
    assert_eq!(body["stream"], json!(true));
}

#[tokio::test]
async fn models_follow_pagination() {
    let (base, seen) = mock(Arc::new(|uri| {
        let page = if uri.contains("after_id=claude-b") {
            r#"{"data":[{"id":"claude-c","type":"model"}],"has_more":false,"first_id":"claude-c","last_id":"claude-c"}"#
        } else {
            r#"{"data":[{"id":"claude-a","type":"model"},{"id":"claude-b","type":"model"}],"has_more":true,"first_id":"claude-a","last_id":"claude-b"}"#
        };
        (200, page.to_string())
    }))
    .await;
    let client = reqwest::Client::new();
    let got = models(&upstream(&client, &base)).await.unwrap();
    let ids: Vec<&str> = got.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["claude-a", "claude-b", "claude-c"]);
    let seen = seen.lock();
    assert_eq!(seen[0].uri, "/v1/models?limit=1000");
    assert_eq!(seen[1].uri, "/v1/models?limit=1000&after_id=claude-b");
    assert_eq!(seen[1].headers["anthropic-version"], "2023-06-01");
}

#[test]
fn futures_are_send() {
    fn send<T: Send>(_: T) {}
    let client = reqwest::Client::new();
    let up = upstream(&client, "http://127.0.0.1:9");
    let req = representative();
    send(chat(&up, &req, "m"));
    send(stream(&up, &req, "m"));
    send(models(&up));
}

/// An assistant turn of a tool loop as a Messages client sends it back: its thinking (signed),
/// a redacted block, and one from another upstream with no signature.
fn thinking_turn() -> ChatRequest {
    let mut turn = msg(Role::Assistant, Some(Content::Text("Let me check.".into())));
    turn.tool_calls = vec![ToolCall { id: "toolu_1".into(), name: "get_weather".into(), arguments: "{}".into() }];
    turn.reasoning = vec![
        Reasoning::Thinking {
            thinking: "I need the weather.\n".into(),
            signature: Some("EqQB+/sig==".into()),
            before: 0,
        },
        Reasoning::RedactedThinking { data: "EmwKAhgB==".into(), before: 0 },
        Reasoning::Thinking { thinking: "unsigned".into(), signature: None, before: 0 },
    ];
    ChatRequest {
        messages: vec![msg(Role::User, Some(Content::Text("weather?".into()))), turn, tool_result("toolu_1", "18C")],
        tools: vec![weather_tool()],
        max_tokens: Some(4000),
        thinking: Some(ThinkingConfig::Enabled { budget_tokens: 2048 }),
        anthropic_headers: AnthropicHeaders { version: Some("2023-06-01".into()), beta: Some("b-1,b-2".into()) },
        ..Default::default()
    }
}

#[test]
fn thinking_is_sent_as_asked_and_earlier_blocks_go_back_first_and_unchanged() {
    let req = thinking_turn();
    let body = body_json(&req, false);
    assert_eq!(body["thinking"], json!({"type": "enabled", "budget_tokens": 2048}));
    assert_eq!(body["max_tokens"], 4000);
    assert_eq!(
        body["messages"][1]["content"],
        json!([
            {"type": "thinking", "thinking": "I need the weather.\n", "signature": "EqQB+/sig=="},
            {"type": "redacted_thinking", "data": "EmwKAhgB=="},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}
        ])
    );
    // The unsigned block cannot go back to Anthropic: reported.
    assert_eq!(dropped(&req), ["thinking blocks"]);
    let off = ChatRequest { thinking: Some(ThinkingConfig::Disabled), ..req };
    assert_eq!(body_json(&off, false)["thinking"], json!({"type": "disabled"}));
    // reasoning_effort may now think in a tool loop whose thinking came back.
    let effort = ChatRequest { thinking: None, reasoning_effort: Some("low".into()), ..off };
    assert_eq!(body_json(&effort, false)["thinking"]["budget_tokens"], 1024);
}

#[test]
fn thinking_blocks_come_back_with_their_signatures() {
    let body = json!({"id": "msg_1", "model": "claude", "stop_reason": "end_turn",
    "usage": {"input_tokens": 3, "output_tokens": 9},
    "content": [
        {"type": "thinking", "thinking": "Let me think.", "signature": "EqQB+/x=="},
        {"type": "redacted_thinking", "data": "EmwK=="},
        {"type": "text", "text": "Hi"}
    ]});
    let r = to_canonical(decode(body.to_string().as_bytes()).unwrap(), "claude");
    let m = &r.choices[0].message;
    assert_eq!(m.content_text(), "Hi");
    assert_eq!(
        m.reasoning,
        [
            Reasoning::Thinking { thinking: "Let me think.".into(), signature: Some("EqQB+/x==".into()), before: 0 },
            Reasoning::RedactedThinking { data: "EmwK==".into(), before: 0 },
        ]
    );
}

/// Interleaved thinking (`[thinking, tool_use, thinking, tool_use]`): the client gets the blocks
/// in the upstream's order, and sending them back reaches Anthropic in that order, unchanged.
#[test]
fn interleaved_thinking_keeps_its_place_there_and_back() {
    let blocks = json!([
        {"type": "thinking", "thinking": "First the weather.", "signature": "EqQB+/a=="},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "thinking", "thinking": "Then the time.", "signature": "EqQB+/b=="},
        {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {"city": "Paris"}}
    ]);
    let body = json!({"id": "msg_1", "model": "claude", "stop_reason": "tool_use",
        "usage": {"input_tokens": 3, "output_tokens": 9}, "content": blocks});
    let r = to_canonical(decode(body.to_string().as_bytes()).unwrap(), "claude");
    let out = serde_json::to_value(crate::api::anthropic::MessageResponse::from_canonical("msg_1".into(), &r)).unwrap();
    assert_eq!(out["content"], blocks, "the client's content array is the upstream's");

    let mut req = ChatRequest {
        messages: vec![crate::llm::Message::text(Role::User, "weather and time?")],
        n: 1,
        ..ChatRequest::default()
    };
    req.messages.push(r.choices[0].message.clone());
    for id in ["toolu_1", "toolu_2"] {
        req.messages
            .push(crate::llm::Message { tool_call_id: Some(id.into()), ..crate::llm::Message::text(Role::Tool, "ok") });
    }
    assert_eq!(body_json(&req, false)["messages"][1]["content"], blocks, "sent back byte for byte, in order");
}

#[tokio::test]
async fn streamed_thinking_and_signatures_are_relayed_in_order() {
    let events = [
        json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude", "usage": {"input_tokens": 3}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me "}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "think."}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQB+/x=="}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": "EmwK=="}}),
        json!({"type": "content_block_stop", "index": 1}),
        json!({"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "Hi"}}),
        json!({"type": "content_block_stop", "index": 2}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}}),
        json!({"type": "message_stop"}),
    ];
    let sse: String = events.iter().map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap())).collect();
    for size in [1, 7, 4096] {
        let evs = collect(Bytes::from(sse.clone()), size).await;
        let reasoning: Vec<ReasoningDelta> = evs
            .iter()
            .filter_map(|e| match e.as_ref().unwrap() {
                StreamEvent::Extras(x) => x.reasoning.clone(),
                _ => None,
            })
            .collect();
        assert_eq!(
            reasoning,
            [
                ReasoningDelta::Thinking("Let me ".into()),
                ReasoningDelta::Thinking("think.".into()),
                ReasoningDelta::Signature("EqQB+/x==".into()),
                ReasoningDelta::Redacted("EmwK==".into()),
            ],
            "split {size}"
        );
        assert!(evs.iter().any(|e| matches!(e, Ok(StreamEvent::Delta { content: Some(t), .. }) if t == "Hi")));
    }
}

#[tokio::test]
async fn a_messages_requests_anthropic_headers_are_forwarded_unchanged() {
    let (base, seen) = mock(Arc::new(|_| (200, RESPONSE.to_string()))).await;
    let client = reqwest::Client::new();
    let mut req = representative();
    req.anthropic_headers = AnthropicHeaders { version: Some("2099-01-01".into()), beta: Some("x-1,y-2".into()) };
    chat(&upstream(&client, &base), &req, "claude").await.unwrap();
    let first = seen.lock()[0].clone();
    assert_eq!(first.headers["anthropic-version"], "2099-01-01");
    assert_eq!(first.headers["anthropic-beta"], "x-1,y-2");
    // Without them: the adapter's own version and no beta.
    chat(&upstream(&client, &base), &representative(), "claude").await.unwrap();
    let plain = seen.lock()[1].clone();
    assert_eq!(plain.headers["anthropic-version"], API_VERSION);
    assert!(plain.headers.get("anthropic-beta").is_none());
}
