//! Component schemas of the `/v1` routes, in the providers' documented wire formats: OpenAI Chat
//! Completions, legacy Completions, Embeddings and Models, OpenAI Responses, and Anthropic
//! Messages (with its error object). Requests are open: fields the gateway does not model are
//! forwarded to OpenAI-compatible upstreams (the SDKs' `extra_body`) or reported in
//! `x-layerr-dropped-params`.

use serde_json::Value;

use super::dsl::{any, arr, boolean, en, free, int, map, n, num, obj, one_of, r, s, sd, strict, uint};

fn layerr_options() -> Value {
    strict(&[
        ("?strategy", n(sd("`cost`, `speed`, `quality`, `balanced` or a custom strategy's id."))),
        ("?fallback", n(super::schemas::fallback_mode())),
        ("?explain", n(sd_bool("Add the routing explanation headers (`x-layerr-*`)."))),
        ("?workspace", n(sd("Admin keys: the workspace to act on."))),
    ])
}

fn sd_bool(d: &str) -> Value {
    super::dsl::doc(boolean(), d)
}

fn stop() -> Value {
    n(one_of(vec![s(), arr(s())]))
}

fn usage() -> Value {
    obj(&[
        ("prompt_tokens", uint()),
        ("completion_tokens", uint()),
        ("total_tokens", uint()),
        ("?prompt_tokens_details", obj(&[("cached_tokens", uint())])),
        ("?completion_tokens_details", obj(&[("reasoning_tokens", uint())])),
    ])
}

fn tool_call() -> Value {
    obj(&[("id", s()), ("type", en(&["function"])), ("function", obj(&[("name", s()), ("arguments", s())]))])
}

/// One server-sent event as a client parses it (`event:` and `data:` lines; `data` is JSON text).
fn sse(events: Option<&[&str]>, description: &str) -> Value {
    let event = match events {
        Some(names) => en(names),
        None => sd("Absent: OpenAI's chunks carry no event name."),
    };
    let data = serde_json::json!({"type": "string", "contentMediaType": "application/json"});
    super::dsl::doc(obj(&[("?event", event), ("data", data), ("?id", s()), ("?retry", int())]), description)
}

/// (name, schema) of every `/v1` component.
pub fn all() -> Vec<(&'static str, Value)> {
    vec![
        ("LayerrOptions", layerr_options()),
        // ---- OpenAI Chat Completions -------------------------------------------------------
        (
            "ChatMessage",
            obj(&[
                ("role", en(&["system", "developer", "user", "assistant", "tool"])),
                ("?content", n(one_of(vec![s(), arr(free("A content part: `{type: text, text}` or `{type: image_url, image_url: {url}}`."))]))),
                ("?name", s()),
                ("?tool_calls", arr(tool_call())),
                ("?tool_call_id", s()),
                ("?refusal", n(s())),
                ("?reasoning_content", n(s())),
            ]),
        ),
        (
            "ChatCompletionRequest",
            obj(&[
                ("model", sd("A model id, or `layerr-auto` to let the router choose.")),
                ("messages", arr(r("ChatMessage"))),
                ("?stream", n(boolean())),
                ("?stream_options", n(obj(&[("?include_usage", n(boolean()))]))),
                ("?tools", n(arr(obj(&[
                    ("type", en(&["function"])),
                    ("function", obj(&[("name", s()), ("?description", n(s())), ("?parameters", any("A JSON Schema.")), ("?strict", n(boolean()))])),
                ])))),
                ("?tool_choice", any("`none`, `auto`, `required` or `{type: function, function: {name}}`.")),
                ("?parallel_tool_calls", n(boolean())),
                ("?response_format", any("`{type: text}`, `{type: json_object}` or `{type: json_schema, json_schema}`.")),
                ("?n", n(uint())),
                ("?stop", stop()),
                ("?max_tokens", n(uint())),
                ("?max_completion_tokens", n(uint())),
                ("?temperature", n(num())),
                ("?top_p", n(num())),
                ("?frequency_penalty", n(num())),
                ("?presence_penalty", n(num())),
                ("?seed", n(int())),
                ("?user", n(s())),
                ("?reasoning_effort", n(s())),
                ("?metadata", n(map(s()))),
                ("?logprobs", n(boolean())),
                ("?top_logprobs", n(uint())),
                ("?layerr", n(r("LayerrOptions"))),
            ]),
        ),
        (
            "ChatCompletion",
            obj(&[
                ("id", s()),
                ("object", en(&["chat.completion"])),
                ("created", int()),
                ("model", s()),
                (
                    "choices",
                    arr(obj(&[
                        ("index", uint()),
                        ("message", r("ChatMessage")),
                        ("finish_reason", n(s())),
                        ("?logprobs", any("Token log probabilities, as the upstream returned them.")),
                    ])),
                ),
                ("?usage", n(usage())),
                ("?system_fingerprint", n(s())),
                ("?service_tier", n(s())),
            ]),
        ),
        (
            "ChatCompletionChunks",
            sse(
                None,
                "One server-sent event: `data:` holds a `chat.completion.chunk` (each with `choices[].delta`); an optional usage chunk comes last, then `data: [DONE]`. A failure after the first chunk is a `data: {\"error\": ...}` event.",
            ),
        ),
        // ---- legacy Completions ------------------------------------------------------------
        (
            "CompletionRequest",
            obj(&[
                ("model", s()),
                ("prompt", one_of(vec![s(), arr(s())])),
                ("?suffix", n(s())),
                ("?max_tokens", n(uint())),
                ("?temperature", n(num())),
                ("?top_p", n(num())),
                ("?n", n(uint())),
                ("?stream", n(boolean())),
                ("?stream_options", n(obj(&[("?include_usage", n(boolean()))]))),
                ("?logprobs", n(uint())),
                ("?echo", n(boolean())),
                ("?stop", stop()),
                ("?presence_penalty", n(num())),
                ("?frequency_penalty", n(num())),
                ("?best_of", n(uint())),
                ("?logit_bias", any("Token id to bias.")),
                ("?seed", n(int())),
                ("?user", n(s())),
                ("?layerr", n(r("LayerrOptions"))),
            ]),
        ),
        (
            "TextCompletion",
            obj(&[
                ("id", s()),
                ("object", en(&["text_completion"])),
                ("created", int()),
                ("model", s()),
                ("choices", arr(obj(&[("text", s()), ("index", uint()), ("logprobs", any("Legacy log probabilities, or null.")), ("finish_reason", n(s()))]))),
                ("?usage", n(usage())),
                ("?system_fingerprint", n(s())),
            ]),
        ),
        // ---- Embeddings and Models ---------------------------------------------------------
        (
            "EmbeddingsRequest",
            obj(&[
                ("model", s()),
                ("input", one_of(vec![s(), arr(s()), arr(int()), arr(arr(int()))])),
                ("?encoding_format", n(en(&["float", "base64"]))),
                ("?dimensions", n(serde_json::json!({"type": "integer", "minimum": 1, "maximum": 16_384}))),
                ("?user", n(s())),
                ("?layerr", n(r("LayerrOptions"))),
            ]),
        ),
        (
            "Embeddings",
            obj(&[
                ("object", en(&["list"])),
                ("data", arr(obj(&[("object", en(&["embedding"])), ("embedding", one_of(vec![arr(num()), sd("base64")])), ("index", uint())]))),
                ("model", s()),
                ("usage", obj(&[("prompt_tokens", uint()), ("total_tokens", uint())])),
            ]),
        ),
        ("Model", obj(&[("id", s()), ("object", en(&["model"])), ("created", int()), ("owned_by", s())])),
        ("ModelList", obj(&[("object", en(&["list"])), ("data", arr(r("Model")))])),
        (
            "AnthropicModel",
            obj(&[("type", en(&["model"])), ("id", s()), ("display_name", s()), ("created_at", s())]),
        ),
        (
            "AnthropicModelList",
            obj(&[("data", arr(r("AnthropicModel"))), ("has_more", boolean()), ("first_id", n(s())), ("last_id", n(s()))]),
        ),
        // ---- OpenAI Responses --------------------------------------------------------------
        (
            "ResponseCreate",
            obj(&[
                ("?model", n(s())),
                ("?input", n(one_of(vec![s(), arr(free("An input item: a message (`role`, `content`), `function_call`, `function_call_output`, or an `item_reference` (`{type: item_reference, id}`) to an output item of a stored response."))]))),
                ("?instructions", n(s())),
                ("?tools", n(arr(free("A tool: `{type: function, name, parameters}`; hosted tools are refused with 400.")))),
                ("?tool_choice", any("`none`, `auto`, `required` or a named function.")),
                ("?text", n(obj(&[("?format", any("`{type: text}` or `{type: json_schema, name, schema}`."))]))),
                ("?reasoning", n(obj(&[("?effort", n(s())), ("?summary", n(s()))]))),
                ("?max_output_tokens", n(uint())),
                ("?temperature", n(num())),
                ("?top_p", n(num())),
                ("?metadata", n(map(s()))),
                ("?store", n(boolean())),
                ("?previous_response_id", n(s())),
                ("?stream", n(boolean())),
                ("?stream_options", n(obj(&[("?include_obfuscation", n(boolean()))]))),
                ("?top_logprobs", n(uint())),
                ("?include", n(arr(s()))),
                ("?truncation", n(en(&["auto", "disabled"]))),
                ("?max_tool_calls", n(uint())),
                ("?layerr", n(r("LayerrOptions"))),
            ]),
        ),
        (
            "Response",
            obj(&[
                ("id", s()),
                ("object", en(&["response"])),
                ("created_at", int()),
                ("status", en(&["completed", "failed", "in_progress", "incomplete", "cancelled", "queued"])),
                ("model", s()),
                ("output", arr(free("An output item: `message` (with `output_text` parts), `function_call` (`id`, `call_id`, `name`, `arguments`) or `reasoning`."))),
                ("?usage", n(free("`input_tokens`, `output_tokens`, `total_tokens` and their details."))),
                ("?error", n(free("`code` and `message` of a failed response."))),
                ("?incomplete_details", n(free("Why the response is incomplete."))),
                ("?previous_response_id", n(s())),
                ("?metadata", any("The request's metadata.")),
                ("?instructions", n(s())),
                ("?max_output_tokens", n(uint())),
                ("?parallel_tool_calls", n(boolean())),
                ("?reasoning", n(obj(&[("?effort", n(s())), ("?summary", n(s()))]))),
                ("?store", n(boolean())),
                ("?temperature", n(num())),
                ("?top_p", n(num())),
                ("?text", n(obj(&[("?format", any("`{type: text}` or `{type: json_schema, name, schema}`."))]))),
                ("?tool_choice", any("As the request gave it (`auto` by default).")),
                ("?tools", n(arr(free("A function tool as the request gave it.")))),
                ("?truncation", n(en(&["auto", "disabled"]))),
            ]),
        ),
        (
            "ResponseEvents",
            sse(
                Some(&[
                    "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
                    "response.output_text.delta", "response.output_text.done", "response.function_call_arguments.delta",
                    "response.function_call_arguments.done", "response.content_part.done", "response.output_item.done",
                    "response.reasoning_summary_text.delta", "response.reasoning_summary_text.done",
                    "response.completed", "response.failed", "response.incomplete", "error",
                ]),
                "One server-sent event of the Responses lifecycle; `data:` holds the event object (`type` as the event name, `sequence_number`, and `output_index`/`content_index` where they apply).",
            ),
        ),
        ("ResponseDeleted", obj(&[("id", s()), ("object", en(&["response"])), ("deleted", boolean())])),
        (
            "ResponseInputItems",
            obj(&[
                ("object", en(&["list"])),
                ("data", arr(free("An input item as the request gave it, with its `id`."))),
                ("first_id", n(s())),
                ("last_id", n(s())),
                ("has_more", boolean()),
            ]),
        ),
        // ---- Anthropic Messages ------------------------------------------------------------
        (
            "AnthropicMessage",
            obj(&[
                ("role", en(&["user", "assistant"])),
                ("content", one_of(vec![s(), arr(free("A content block: `text`, `image`, `tool_use`, `tool_result`, `thinking`, `redacted_thinking`."))])),
            ]),
        ),
        (
            "MessagesRequest",
            obj(&[
                ("model", s()),
                ("max_tokens", uint()),
                ("messages", arr(r("AnthropicMessage"))),
                ("?system", n(one_of(vec![s(), arr(free("A text block."))]))),
                ("?stop_sequences", n(arr(s()))),
                ("?stream", n(boolean())),
                ("?temperature", n(num())),
                ("?top_p", n(num())),
                ("?top_k", n(uint())),
                ("?tools", n(arr(obj(&[("name", s()), ("?description", n(s())), ("?input_schema", any("A JSON Schema."))])))),
                ("?tool_choice", n(free("`{type: auto|any|none}` or `{type: tool, name}`."))),
                ("?metadata", n(obj(&[("?user_id", n(s()))]))),
                ("?thinking", any("`{type: enabled, budget_tokens}` or `{type: disabled}`.")),
                ("?service_tier", n(s())),
                ("?layerr", n(r("LayerrOptions"))),
            ]),
        ),
        (
            "MessagesResponse",
            obj(&[
                ("id", s()),
                ("type", en(&["message"])),
                ("role", en(&["assistant"])),
                ("model", s()),
                ("content", arr(free("A content block: `text`, `tool_use`, `thinking` (with `signature`), `redacted_thinking`."))),
                ("stop_reason", n(en(&["end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"]))),
                ("stop_sequence", n(s())),
                ("usage", obj(&[
                    ("input_tokens", uint()),
                    ("output_tokens", uint()),
                    ("?cache_creation_input_tokens", n(uint())),
                    ("?cache_read_input_tokens", n(uint())),
                ])),
            ]),
        ),
        (
            "MessagesEvents",
            sse(
                Some(&[
                    "message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta",
                    "message_stop", "ping", "error",
                ]),
                "One server-sent event of Anthropic's stream; `data:` holds the event object (text, `input_json_delta` and thinking deltas; `message_delta` carries `stop_reason` and usage).",
            ),
        ),
        (
            "CountTokensRequest",
            obj(&[
                ("model", s()),
                ("messages", arr(r("AnthropicMessage"))),
                ("?system", n(one_of(vec![s(), arr(free("A text block."))]))),
                ("?tools", n(arr(free("A tool.")))),
                ("?tool_choice", n(free("A tool choice."))),
                ("?thinking", any("Thinking settings.")),
            ]),
        ),
        ("CountTokens", obj(&[("input_tokens", uint())])),
        (
            "AnthropicError",
            obj(&[
                ("type", en(&["error"])),
                (
                    "error",
                    obj(&[
                        ("type", sd("`invalid_request_error`, `authentication_error`, `permission_error`, `not_found_error`, `request_too_large`, `rate_limit_error`, `api_error`, `overloaded_error`.")),
                        ("message", s()),
                        ("?code", sd("The gateway's error code.")),
                        ("?param", s()),
                        ("?details", free("As in the error envelope.")),
                    ]),
                ),
            ]),
        ),
    ]
}
