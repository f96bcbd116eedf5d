"""The OpenAI Agents SDK (`openai-agents`), unmodified, against the gateway: an `Agent` with a
function tool on the SDK's default model API (Responses), through `Runner.run` and
`Runner.run_streamed`, with the gateway as the default client
(`set_default_openai_client(AsyncOpenAI(base_url=..., api_key=...))`) and tracing export off
(it would try to reach OpenAI's own tracing endpoint). Once per upstream wire format: the
gateway translates the Responses request to whichever format answers it."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest
from agents import (
    Agent,
    ItemHelpers,
    ModelSettings,
    OpenAIChatCompletionsModel,
    Runner,
    function_tool,
    set_default_openai_client,
    set_tracing_disabled,
)
from agents.items import MessageOutputItem, ToolCallItem, ToolCallOutputItem

from conftest import CHAT_MODEL, Gateway

INSTRUCTIONS = "You answer weather questions."
WEATHER_PROMPT = "What is the weather in Paris today?"
FORECAST = "Sunny, 22 C in Paris"


def words(s: str) -> int:
    return len(s.split())


# The mock's accounting: words of every message + 3 per message; a tool call is 2 tokens.
STEP1_INPUT = (words(INSTRUCTIONS) + 3) + (words(WEATHER_PROMPT) + 3)


def tool_result_text(fmt: str) -> str:
    """The tool's output as the upstream sees it: Gemini's `functionResponse.response` is an
    object, so the gateway sends `{"result": <output>}` there and the mock echoes that object."""
    return json.dumps({"result": FORECAST}, separators=(",", ":")) if fmt == "gemini" else FORECAST


def reply(fmt: str) -> str:
    return f"mock reply to tool result: {tool_result_text(fmt)}"


def step2_input(fmt: str) -> int:
    """The second call adds the assistant's call and the tool's output; the mock counts a call
    as its name plus, where the format carries arguments as a string (OpenAI), the arguments."""
    call_words = 2 if fmt == "openai" else 1
    return STEP1_INPUT + (call_words + 3) + (words(tool_result_text(fmt)) + 3)


def make_agent(model: str, calls: list[str]) -> Agent:
    @function_tool
    def get_weather(location: str) -> str:
        """Current weather for a city.

        Args:
            location: The city.
        """
        calls.append(location)
        return f"Sunny, 22 C in {location}"

    return Agent(name="Weather", instructions=INSTRUCTIONS, model=model, tools=[get_weather])


@pytest.fixture
def agents_client(gateway: Gateway) -> openai.AsyncOpenAI:
    client = openai.AsyncOpenAI(base_url=f"{gateway.base}/v1", api_key=gateway.keys["sdk"], max_retries=0)
    set_default_openai_client(client, use_for_tracing=False)
    set_tracing_disabled(True)
    return client


def check_items(fmt: str, items: list, calls: list[str]) -> None:
    kinds = [type(i) for i in items]
    assert kinds == [ToolCallItem, ToolCallOutputItem, MessageOutputItem], kinds
    call = items[0].raw_item
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"location": "Paris"}
    assert call.call_id and call.id
    assert items[1].output == FORECAST
    assert items[1].raw_item["call_id"] == call.call_id
    assert ItemHelpers.text_message_output(items[2]) == reply(fmt)
    assert calls == ["Paris"]


def check_usage(fmt: str, usage, raw_responses: list) -> None:
    assert usage.requests == 2
    assert [r.usage.input_tokens for r in raw_responses] == [STEP1_INPUT, step2_input(fmt)]
    assert [r.usage.output_tokens for r in raw_responses] == [2, words(reply(fmt))]
    assert usage.input_tokens == STEP1_INPUT + step2_input(fmt)
    assert usage.output_tokens == 2 + words(reply(fmt))
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert all(r.response_id and r.response_id.startswith("resp_") for r in raw_responses)


def test_runner_run_with_function_tool(agents_client: openai.AsyncOpenAI, gateway: Gateway, fmt: str) -> None:
    model = CHAT_MODEL[fmt]
    gateway.mock.clear_requests()
    calls: list[str] = []
    result = asyncio.run(Runner.run(make_agent(model, calls), WEATHER_PROMPT))
    assert result.final_output == reply(fmt)
    check_items(fmt, result.new_items, calls)
    check_usage(fmt, result.context_wrapper.usage, result.raw_responses)
    # Two upstream calls; the second carried the tool's output.
    upstream = gateway.mock.requests_for(model)
    assert len(upstream) == 2
    assert FORECAST in json.dumps(upstream[1]["body"])
    if fmt == "openai":
        # The SDK sends `include: []`, a Responses-only parameter: a Chat Completions upstream
        # would refuse it as unknown, so it must not be forwarded as an extra.
        assert all("include" not in r["body"] for r in upstream), upstream[0]["body"]


def test_runner_run_streamed_with_function_tool(
    agents_client: openai.AsyncOpenAI, gateway: Gateway, fmt: str
) -> None:
    model = CHAT_MODEL[fmt]
    calls: list[str] = []

    async def run() -> tuple[list, object]:
        result = Runner.run_streamed(make_agent(model, calls), WEATHER_PROMPT)
        events = [e async for e in result.stream_events()]
        return events, result

    events, result = asyncio.run(run())
    raw_types = [e.data.type for e in events if e.type == "raw_response_event"]
    # Both calls streamed the documented lifecycle; the answer arrived in several text deltas.
    assert raw_types.count("response.created") == 2 and raw_types.count("response.completed") == 2
    assert "response.function_call_arguments.delta" in raw_types
    deltas = [e.data.delta for e in events if e.type == "raw_response_event" and e.data.type == "response.output_text.delta"]
    assert len(deltas) > 1 and "".join(deltas) == reply(fmt)
    run_items = [e.name for e in events if e.type == "run_item_stream_event"]
    assert run_items == ["tool_called", "tool_output", "message_output_created"]
    assert result.is_complete and result.final_output == reply(fmt)
    check_items(fmt, result.new_items, calls)
    check_usage(fmt, result.context_wrapper.usage, result.raw_responses)


def test_responses_chained_by_previous_response_id(
    agents_client: openai.AsyncOpenAI, gateway: Gateway, fmt: str
) -> None:
    """`auto_previous_response_id`: after the first call the SDK sends only the new items (the
    tool's output) with `previous_response_id`, so the gateway must rebuild the history from
    the stored responses; a second turn continues with `previous_response_id` alone."""
    model = CHAT_MODEL[fmt]
    calls: list[str] = []
    agent = make_agent(model, calls)

    async def run() -> tuple:
        first = await Runner.run(agent, WEATHER_PROMPT, auto_previous_response_id=True)
        gateway.mock.clear_requests()
        second = await Runner.run(agent, "Thanks, and tomorrow?", previous_response_id=first.last_response_id)
        return first, second

    first, second = asyncio.run(run())
    assert first.final_output == reply(fmt)
    check_items(fmt, first.new_items, calls)
    check_usage(fmt, first.context_wrapper.usage, first.raw_responses)
    assert second.final_output == "mock reply to: Thanks, and tomorrow?"
    [call] = gateway.mock.requests_for(model)
    # The whole conversation reached the upstream: the first turn's call, the tool's output and
    # the answer came from the stored responses.
    texts = list(strings(call["body"]))
    for part in (WEATHER_PROMPT, reply(fmt), "Thanks, and tomorrow?"):
        assert part in texts, (part, texts)
    assert any(FORECAST in t for t in texts), texts


def strings(v: object):
    """Every string inside a JSON value."""
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for x in v.values():
            yield from strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from strings(x)


def test_chat_completions_model_streamed_with_function_tool(agents_client: openai.AsyncOpenAI, fmt: str) -> None:
    """The SDK's other model class, `OpenAIChatCompletionsModel`, streamed (Chat Completions).
    For a base URL that is not OpenAI's it asks for streamed usage only when told to
    (`include_usage`, as its docs say)."""
    calls: list[str] = []
    agent = make_agent(CHAT_MODEL[fmt], calls)
    agent.model = OpenAIChatCompletionsModel(model=CHAT_MODEL[fmt], openai_client=agents_client)
    agent.model_settings = ModelSettings(include_usage=True)

    async def run() -> tuple[list, object]:
        result = Runner.run_streamed(agent, WEATHER_PROMPT)
        events = [e async for e in result.stream_events()]
        return events, result

    events, result = asyncio.run(run())
    assert [e.name for e in events if e.type == "run_item_stream_event"] == [
        "tool_called",
        "tool_output",
        "message_output_created",
    ]
    assert result.final_output == reply(fmt)
    check_items(fmt, result.new_items, calls)
    usage = result.context_wrapper.usage
    assert (usage.requests, usage.input_tokens, usage.output_tokens) == (
        2,
        STEP1_INPUT + step2_input(fmt),
        2 + words(reply(fmt)),
    )


def test_runner_plain_answer_without_tool_call(agents_client: openai.AsyncOpenAI) -> None:
    calls: list[str] = []
    result = asyncio.run(Runner.run(make_agent(CHAT_MODEL["openai"], calls), "Say hello to the agent"))
    assert result.final_output == "mock reply to: Say hello to the agent"
    assert calls == []
    assert result.context_wrapper.usage.requests == 1


def test_responses_only_settings_are_reported_not_forwarded(
    agents_client: openai.AsyncOpenAI, client: openai.OpenAI, gateway: Gateway
) -> None:
    model = CHAT_MODEL["openai"]
    gateway.mock.clear_requests()
    settings = ModelSettings(truncation="auto", response_include=["reasoning.encrypted_content"])
    agent = Agent(name="Plain", instructions=INSTRUCTIONS, model=model, model_settings=settings)
    result = asyncio.run(Runner.run(agent, "Say hello to the agent"))
    assert result.final_output == "mock reply to: Say hello to the agent"
    [call] = gateway.mock.requests_for(model)
    assert "include" not in call["body"] and "truncation" not in call["body"]
    # What the gateway could not honour is named in the pass-through report.
    raw = client.responses.with_raw_response.create(
        model=model, input="Say hello", include=["reasoning.encrypted_content"], truncation="auto", max_tool_calls=2
    )
    assert raw.headers["x-layerr-dropped-params"] == "include, truncation, max_tool_calls"
    assert raw.parse().output_text == "mock reply to: Say hello"
    # ... and on the trace, with the answering attempt.
    events = gateway.trace_events(raw.headers["x-layerr-trace-id"])
    [attempt] = [e["payload"]["AttemptSucceeded"] for e in events if e["type"] == "AttemptSucceeded"]
    assert json.dumps(attempt).count("droppedParams") == 1, attempt
    assert find_key(attempt, "droppedParams") == ["include", "truncation", "max_tool_calls"]


def find_key(v: object, key: str) -> object:
    """The first value under `key` anywhere inside a JSON value."""
    if isinstance(v, dict):
        if key in v:
            return v[key]
        v = list(v.values())
    if isinstance(v, list):
        for x in v:
            found = find_key(x, key)
            if found is not None:
                return found
    return None


def test_agent_error_is_the_sdk_exception(agents_client: openai.AsyncOpenAI) -> None:
    calls: list[str] = []
    with pytest.raises(openai.NotFoundError) as e:
        asyncio.run(Runner.run(make_agent("no-such-model", calls), WEATHER_PROMPT))
    assert e.value.status_code == 404
