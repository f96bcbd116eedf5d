"""Chat completions through the official SDK, once per upstream wire format: plain, streamed,
tool calls (both ways), JSON mode. The mock's answers are deterministic (`mock/src/text.rs`):
the reply is "mock reply to: " + the first 40 characters of the last user message; prompt
tokens are the words of every message + 3 per message; completion tokens the reply's words."""

from __future__ import annotations

import json

import openai
import pytest

from conftest import CHAT_MODEL, Gateway

PROMPT = "Say hello to the SDK suite"
REPLY = "mock reply to: Say hello to the SDK suite"
# 6 words + 3 for the one message; the reply has 9 words.
PROMPT_TOKENS, COMPLETION_TOKENS = 9, 9

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}
WEATHER_PROMPT = "What is the weather in Paris today?"
TOOL_RESULT = "Sunny, 22 C"


def test_plain_completion(client: openai.OpenAI, fmt: str) -> None:
    model = CHAT_MODEL[fmt]
    r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": PROMPT}])
    assert r.object == "chat.completion"
    assert r.id.startswith("chatcmpl-")
    assert r.model == model
    assert len(r.choices) == 1
    choice = r.choices[0]
    assert choice.index == 0
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == REPLY
    assert not choice.message.tool_calls
    assert r.usage is not None
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (
        PROMPT_TOKENS,
        COMPLETION_TOKENS,
        PROMPT_TOKENS + COMPLETION_TOKENS,
    )


def test_system_prompt_counts(client: openai.OpenAI, fmt: str) -> None:
    """A system message reaches every format (it is counted in the upstream's prompt tokens)."""
    r = client.chat.completions.create(
        model=CHAT_MODEL[fmt],
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": PROMPT}],
    )
    assert r.choices[0].message.content == REPLY
    assert r.usage is not None and r.usage.prompt_tokens == PROMPT_TOKENS + 2 + 3


def test_streamed_completion_matches(client: openai.OpenAI, fmt: str) -> None:
    model = CHAT_MODEL[fmt]
    messages = [{"role": "user", "content": PROMPT}]
    full = client.chat.completions.create(model=model, messages=messages)

    stream = client.chat.completions.create(
        model=model, messages=messages, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks, "no chunks"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert all(c.model == model for c in chunks)
    # The last chunk carries the usage and no choices; the others carry no usage.
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    assert full.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (
        full.usage.prompt_tokens,
        full.usage.completion_tokens,
        full.usage.total_tokens,
    )
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert deltas[0].role == "assistant"
    text = "".join(d.content or "" for d in deltas)
    assert text == full.choices[0].message.content == REPLY
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]


def test_stream_without_usage_option(client: openai.OpenAI, fmt: str) -> None:
    """Without `stream_options.include_usage` no chunk carries usage (as with OpenAI)."""
    chunks = list(
        client.chat.completions.create(
            model=CHAT_MODEL[fmt], messages=[{"role": "user", "content": PROMPT}], stream=True
        )
    )
    assert all(c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY


def test_tool_call_round_trip(client: openai.OpenAI, fmt: str) -> None:
    model = CHAT_MODEL[fmt]
    messages: list[dict] = [{"role": "user", "content": WEATHER_PROMPT}]
    r = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL])
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls and len(calls) == 1
    call = calls[0]
    assert call.type == "function"
    assert call.id
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"location": "Paris"}

    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT})
    r2 = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL])
    answer = r2.choices[0]
    assert answer.finish_reason == "stop"
    assert not answer.message.tool_calls
    assert answer.message.content is not None
    assert answer.message.content.startswith("mock reply to tool result: ")
    assert TOOL_RESULT in answer.message.content


def test_streamed_tool_call(client: openai.OpenAI, fmt: str) -> None:
    model = CHAT_MODEL[fmt]
    messages: list[dict] = [{"role": "user", "content": WEATHER_PROMPT}]
    stream = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL], stream=True)
    calls: dict[int, dict] = {}
    finish = None
    for chunk in stream:
        if not chunk.choices:
            continue
        c = chunk.choices[0]
        for tc in c.delta.tool_calls or []:
            acc = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
            if tc.id:
                acc["id"] = tc.id
            if tc.function and tc.function.name:
                acc["name"] += tc.function.name
            if tc.function and tc.function.arguments:
                acc["arguments"] += tc.function.arguments
        if c.finish_reason:
            finish = c.finish_reason
    assert finish == "tool_calls"
    assert list(calls) == [0]
    call = calls[0]
    assert call["id"]
    assert call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"location": "Paris"}

    # The accumulated call goes back like any other assistant message.
    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": call["arguments"]}}
            ],
        }
    )
    messages.append({"role": "tool", "tool_call_id": call["id"], "content": TOOL_RESULT})
    text = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL], stream=True)
        if c.choices
    )
    assert text.startswith("mock reply to tool result: ")
    assert TOOL_RESULT in text


def test_tool_choice_none_answers_with_text(client: openai.OpenAI, fmt: str) -> None:
    r = client.chat.completions.create(
        model=CHAT_MODEL[fmt],
        messages=[{"role": "user", "content": WEATHER_PROMPT}],
        tools=[WEATHER_TOOL],
        tool_choice="none",
    )
    assert r.choices[0].finish_reason == "stop"
    assert not r.choices[0].message.tool_calls
    assert r.choices[0].message.content == "mock reply to: " + WEATHER_PROMPT


@pytest.mark.parametrize("fmt", ["openai", "ollama", "gemini"])
def test_json_mode(client: openai.OpenAI, fmt: str) -> None:
    r = client.chat.completions.create(
        model=CHAT_MODEL[fmt],
        messages=[{"role": "user", "content": "List three colours as JSON"}],
        response_format={"type": "json_object"},
    )
    content = r.choices[0].message.content
    assert content is not None
    assert json.loads(content) == {"answer": "mock reply to: List three colours as JSON"}


def test_json_mode_anthropic(client: openai.OpenAI, gateway: Gateway) -> None:
    """Anthropic has no JSON switch: the gateway asks for JSON in the system prompt. The mock
    does not play a model that follows instructions, so check what reached the upstream."""
    gateway.mock.clear_requests()
    r = client.chat.completions.create(
        model=CHAT_MODEL["anthropic"],
        messages=[{"role": "user", "content": "List three colours as JSON"}],
        response_format={"type": "json_object"},
    )
    assert r.choices[0].finish_reason == "stop"
    sent = gateway.mock.requests_for(CHAT_MODEL["anthropic"])
    assert len(sent) == 1
    assert sent[0]["path"] == "/v1/messages"
    assert "valid JSON" in json.dumps(sent[0]["body"].get("system"))


def test_layerr_auto_routes(client: openai.OpenAI) -> None:
    """`layerr-auto` lets the router pick one of the registered chat models."""
    r = client.chat.completions.with_raw_response.create(
        model="layerr-auto",
        messages=[{"role": "user", "content": PROMPT}],
        extra_body={"layerr": {"explain": True}},
    )
    completion = r.parse()
    assert completion.choices[0].message.content == REPLY
    assert r.headers["x-layerr-provider"]
    assert r.headers["x-layerr-model"] == completion.model
    assert r.headers["x-layerr-trace-id"]


def test_max_tokens_cuts_with_length(client: openai.OpenAI, fmt: str) -> None:
    r = client.chat.completions.create(
        model=CHAT_MODEL[fmt], messages=[{"role": "user", "content": PROMPT}], max_tokens=2
    )
    assert r.choices[0].message.content == "mock reply"
    assert r.choices[0].finish_reason == "length"
    assert r.usage is not None and r.usage.completion_tokens == 2


def test_streamed_max_tokens(client: openai.OpenAI, fmt: str) -> None:
    chunks = list(
        client.chat.completions.create(
            model=CHAT_MODEL[fmt],
            messages=[{"role": "user", "content": PROMPT}],
            max_completion_tokens=2,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "mock reply"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["length"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 2


def test_stop_sequence(client: openai.OpenAI, fmt: str) -> None:
    r = client.chat.completions.create(
        model=CHAT_MODEL[fmt], messages=[{"role": "user", "content": PROMPT}], stop=["SDK"]
    )
    assert r.choices[0].message.content == "mock reply to: Say hello to the "
    assert r.choices[0].finish_reason == "stop"


def test_multi_turn(client: openai.OpenAI, fmt: str) -> None:
    """Earlier turns reach the upstream (they count in its prompt tokens); the last user turn
    is the one answered."""
    r = client.chat.completions.create(
        model=CHAT_MODEL[fmt],
        messages=[
            {"role": "user", "content": "first question here"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": PROMPT},
        ],
    )
    assert r.choices[0].message.content == REPLY
    assert r.usage is not None and r.usage.prompt_tokens == (3 + 3) + (2 + 3) + PROMPT_TOKENS


def test_n_choices_openai(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(
        model=CHAT_MODEL["openai"], messages=[{"role": "user", "content": PROMPT}], n=2
    )
    assert [c.index for c in r.choices] == [0, 1]
    assert all(c.message.content == REPLY for c in r.choices)
    assert r.usage is not None and r.usage.completion_tokens == 2 * COMPLETION_TOKENS


@pytest.mark.parametrize("fmt", ["anthropic", "ollama"])
def test_n_choices_unsupported(client: openai.OpenAI, fmt: str) -> None:
    """Formats without several choices refuse `n > 1` as the client's mistake (400)."""
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(model=CHAT_MODEL[fmt], messages=[{"role": "user", "content": PROMPT}], n=2)
    assert ei.value.code == "INVALID_REQUEST"
    assert "n > 1" in ei.value.message


def test_success_carries_rate_limit_headers(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model=CHAT_MODEL["openai"], messages=[{"role": "user", "content": PROMPT}]
    )
    raw.parse()
    assert raw.headers["x-ratelimit-limit"] == "200"  # enterprise tier: the burst
    assert raw.headers["x-ratelimit-limit-per-minute"] == "2000"
    assert int(raw.headers["x-ratelimit-remaining"]) >= 0
    assert raw.headers["x-request-id"]
    assert raw.headers["x-layerr-trace-id"]


def test_auto_routing_never_picks_an_embedding_model(gateway: Gateway) -> None:
    gateway.create_workspace("openai-only", "standard")
    gateway.admin(
        "PATCH", "/api/workspaces/openai-only/restrictions", {"allowedProviders": ["openai-main"]}
    )
    client = gateway.client(gateway.keys["openai-only"])
    raw = client.chat.completions.with_raw_response.create(
        model="layerr-auto",
        messages=[{"role": "user", "content": PROMPT}],
        extra_body={"layerr": {"strategy": "cost", "explain": True}},
    )
    raw.parse()
    assert raw.headers["x-layerr-provider"] == "openai-main"
    assert raw.headers["x-layerr-model"] == CHAT_MODEL["openai"]
