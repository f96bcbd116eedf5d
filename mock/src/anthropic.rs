//! Anthropic Messages API.

use axum::body::Body;
use axum::http::{Response, StatusCode};
use serde_json::{json, Value};

use crate::stream::{self, event_frame};
use crate::text::{self, Finish, Prompt, Reply, ToolChoice, TOOL_ARGS};
use crate::{Api, Ctx};

/// Tool input as streamed in `input_json_delta`s (the API starts with an empty one), concatenating to [`TOOL_ARGS`].
const ARG_PIECES: [&str; 3] = ["", "{\"location\":", " \"Paris\"}"];

pub fn error_body(status: u16, etype: Option<&str>, msg: Option<&str>) -> Value {
    let (t, default) = match status {
        400 => ("invalid_request_error", "Invalid request"),
        401 => ("authentication_error", "invalid x-api-key"),
        402 => ("billing_error", "Your credit balance is too low"),
        403 => ("permission_error", "Your API key does not have permission to use the specified resource"),
        404 => ("not_found_error", "The requested resource could not be found"),
        413 => ("request_too_large", "Request exceeds the maximum allowed number of bytes"),
        429 => ("rate_limit_error", "Number of requests has exceeded your rate limit"),
        504 => ("timeout_error", "Request timed out"),
        529 => ("overloaded_error", "Overloaded"),
        500..=599 => ("api_error", "Internal server error"),
        _ => ("invalid_request_error", "Invalid request"),
    };
    json!({"type": "error", "error": {"type": etype.unwrap_or(t), "message": msg.unwrap_or(default)}})
}

fn has_cache_control(v: &Value) -> bool {
    v.as_array().is_some_and(|blocks| blocks.iter().any(|b| b.get("cache_control").is_some()))
}

/// Text of a content value (string or blocks); tool_result blocks contribute their content.
fn block_texts(content: &Value) -> Vec<&str> {
    match content {
        Value::Array(blocks) => blocks
            .iter()
            .flat_map(|b| match b["type"].as_str() {
                Some("text") => b["text"].as_str().into_iter().collect(),
                Some("tool_use") => b["name"].as_str().into_iter().collect(),
                Some("tool_result") => text::texts(&b["content"]),
                _ => Vec::new(),
            })
            .collect(),
        other => text::texts(other),
    }
}

/// The prompt and whether any block asks for prompt caching.
fn prompt(req: &Value, need_max_tokens: bool) -> Result<(Prompt<'_>, bool), String> {
    let msgs = req.get("messages").and_then(Value::as_array).ok_or("messages: Field required")?;
    let last = msgs.last().ok_or("messages: at least one message is required")?;
    let mut p = Prompt::default();
    let mut cache = false;
    if let Some(system) = req.get("system") {
        p.message(text::texts(system));
        cache |= has_cache_control(system);
    }
    for m in msgs {
        let content = &m["content"];
        cache |= has_cache_control(content);
        p.message(block_texts(content));
        if m["role"] == "user" {
            let texts: Vec<&str> = match content {
                Value::Array(blocks) => {
                    blocks.iter().filter(|b| b["type"] == "text").filter_map(|b| b["text"].as_str()).collect()
                }
                other => text::texts(other),
            };
            if !texts.is_empty() {
                p.last_user = text::joined(&texts);
            }
        }
    }
    if last["role"] == "user" {
        let mut results = last["content"].as_array().into_iter().flatten().filter(|b| b["type"] == "tool_result");
        if let Some(result) = results.next_back() {
            p.tool_result = Some(text::joined(&text::texts(&result["content"])).into_owned().into());
        }
    }
    let tools = req.get("tools").and_then(Value::as_array);
    cache |= tools.is_some_and(|t| t.iter().any(|t| t.get("cache_control").is_some()));
    p.tools = tools.map(|ts| ts.iter().filter_map(|t| t["name"].as_str()).collect()).unwrap_or_default();
    p.tool_choice = match req["tool_choice"]["type"].as_str() {
        Some("none") => ToolChoice::None,
        Some("any") => ToolChoice::Required,
        Some("tool") => req["tool_choice"]["name"].as_str().map_or(ToolChoice::Required, ToolChoice::Named),
        _ => ToolChoice::Auto,
    };
    p.max_tokens = req.get("max_tokens").and_then(Value::as_u64);
    if need_max_tokens && p.max_tokens.is_none() {
        return Err("max_tokens: Field required".into());
    }
    p.stop =
        req.get("stop_sequences").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    Ok((p, cache))
}

fn stop_reason(r: &Reply) -> (&'static str, Value) {
    match &r.finish {
        Finish::Stop => ("end_turn", Value::Null),
        Finish::Length => ("max_tokens", Value::Null),
        Finish::StopSequence(s) => ("stop_sequence", Value::String(s.clone())),
        Finish::ToolCall => ("tool_use", Value::Null),
    }
}

/// Input usage: with `cache_control` anywhere, half of the prompt is reported as read from the cache.
fn input_usage(r: &Reply, cache: bool) -> (u64, u64) {
    let cached = if cache { r.prompt_tokens / 2 } else { 0 };
    (r.prompt_tokens - cached, cached)
}

pub fn messages(ctx: &Ctx<'_>, req: &Value) -> Response<Body> {
    let (p, cache) = match prompt(req, true) {
        Ok(p) => p,
        Err(e) => return Api::Anthropic.error(400, &e),
    };
    let r = text::reply(&p, ctx.words);
    let model = req["model"].as_str().unwrap_or("mock-claude");
    let id = format!("msg_mock{}", ctx.id);
    let tool_id = format!("toolu_mock{}", ctx.id);
    let (input, cached) = input_usage(&r, cache);
    // `usage_tokens` replaces the uncached input and the output counts.
    let (input, output) = ctx.tokens(input, r.completion_tokens);
    let (reason, stop_sequence) = stop_reason(&r);
    if !ctx.streaming(req.get("stream").and_then(Value::as_bool) == Some(true)) {
        let content = match &r.tool {
            _ if ctx.b.empty_choices => json!([]),
            Some(name) => json!([{
                "type": "tool_use", "id": tool_id, "name": name,
                "input": serde_json::from_str::<Value>(TOOL_ARGS).unwrap_or_default()
            }]),
            None => json!([{"type": "text", "text": ctx.text(&r.text)}]),
        };
        return ctx.json(&json!({
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": reason,
            "stop_sequence": stop_sequence,
            "usage": {
                "input_tokens": input,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": cached,
                "output_tokens": output,
            },
        }));
    }

    let mut frames = Vec::with_capacity(8 + r.completion_tokens as usize);
    frames.push(event_frame(
        "message_start",
        &json!({"type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": input, "cache_creation_input_tokens": 0, "cache_read_input_tokens": cached,
                      "output_tokens": 1}
        }}),
    ));
    let block = match &r.tool {
        Some(name) => json!({"type": "tool_use", "id": tool_id, "name": name, "input": {}}),
        None => json!({"type": "text", "text": ""}),
    };
    if ctx.b.empty_choices {
        // No content block at all.
        frames.push(event_frame("ping", &json!({"type": "ping"})));
    } else {
        frames.push(event_frame(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0, "content_block": block}),
        ));
        frames.push(event_frame("ping", &json!({"type": "ping"})));
        let delta = |d: Value| {
            event_frame("content_block_delta", &json!({"type": "content_block_delta", "index": 0, "delta": d}))
        };
        if r.tool.is_some() {
            frames.extend(
                ARG_PIECES.iter().map(|piece| delta(json!({"type": "input_json_delta", "partial_json": piece}))),
            );
        } else {
            frames.extend(r.pieces().into_iter().map(|piece| delta(json!({"type": "text_delta", "text": piece}))));
            let at = frames.len();
            ctx.pad(&mut frames, at, |pad| delta(json!({"type": "text_delta", "text": pad})));
        }
        frames.push(event_frame("content_block_stop", &json!({"type": "content_block_stop", "index": 0})));
    }
    frames.push(event_frame(
        "message_delta",
        &json!({"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": stop_sequence},
                "usage": {"output_tokens": output}}),
    ));
    frames.push(event_frame("message_stop", &json!({"type": "message_stop"})));
    let body = ctx.stream(frames, |ctx, _| {
        let (status, etype, msg) = ctx.stream_error();
        event_frame("error", &error_body(status, etype, msg))
    });
    stream::response(StatusCode::OK, stream::SSE, body)
}

pub fn count_tokens(ctx: &Ctx<'_>, req: &Value) -> Response<Body> {
    match prompt(req, false) {
        Ok((p, _)) => ctx.json(&json!({"input_tokens": p.prompt_tokens})),
        Err(e) => Api::Anthropic.error(400, &e),
    }
}
