"""The OpenAI Responses API inbound, through the official `openai` SDK's `responses.*`, once
per upstream wire format: plain, streamed (the documented event lifecycle), a function-call
round trip (by `previous_response_id` and by passing the items back), `json_schema`, stored
responses (retrieve, input items, delete) and hosted tools refused."""

from __future__ import annotations

import json

import openai
import pytest

from conftest import CHAT_MODEL, Gateway

PROMPT = "Say hello to the SDK suite"
REPLY = "mock reply to: Say hello to the SDK suite"
PROMPT_TOKENS, COMPLETION_TOKENS = 9, 9

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
}
WEATHER_PROMPT = "What is the weather in Paris today?"
TOOL_RESULT = "Sunny, 22 C"


def test_plain_response(client: openai.OpenAI, gateway: Gateway, fmt: str) -> None:
    model = CHAT_MODEL[fmt]
    raw = client.responses.with_raw_response.create(model=model, input=PROMPT, instructions="Be brief.")
    r = raw.parse()
    assert r.object == "response" and r.status == "completed"
    assert r.id.startswith("resp_")
    assert r.model == model
    assert r.output_text == REPLY
    assert [o.type for o in r.output] == ["message"]
    assert r.usage is not None
    # The instructions reached the upstream as a system message (2 words + 3).
    assert (r.usage.input_tokens, r.usage.output_tokens) == (PROMPT_TOKENS + 5, COMPLETION_TOKENS)
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    events = gateway.trace_events(raw.headers["x-layerr-trace-id"])
    received = next(e for e in events if e["type"] == "RequestReceived")
    assert received["payload"]["RequestReceived"]["received"]["endpoint"] == "/v1/responses"


def test_streamed_response_lifecycle(client: openai.OpenAI, fmt: str) -> None:
    events = list(client.responses.create(model=CHAT_MODEL[fmt], input=PROMPT, stream=True))
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[2:4] == ["response.output_item.added", "response.content_part.added"]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert set(types[4:-4]) == {"response.output_text.delta"}
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == REPLY
    done = events[-1].response
    assert done.status == "completed" and done.output_text == REPLY
    assert done.usage is not None and done.usage.output_tokens == COMPLETION_TOKENS


def test_stream_helper_accumulates(client: openai.OpenAI, fmt: str) -> None:
    with client.responses.stream(model=CHAT_MODEL[fmt], input=PROMPT) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert final.output_text == REPLY


def test_function_call_round_trip(client: openai.OpenAI, fmt: str) -> None:
    model = CHAT_MODEL[fmt]
    r = client.responses.create(model=model, input=WEATHER_PROMPT, tools=[WEATHER_TOOL])
    calls = [o for o in r.output if o.type == "function_call"]
    assert len(calls) == 1
    call = calls[0]
    assert call.id and call.call_id and call.name == "get_weather"
    assert json.loads(call.arguments) == {"location": "Paris"}

    # Continued by previous_response_id: the stored call is the history.
    r2 = client.responses.create(
        model=model,
        previous_response_id=r.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": TOOL_RESULT}],
        tools=[WEATHER_TOOL],
    )
    assert r2.output_text.startswith("mock reply to tool result: ")
    assert TOOL_RESULT in r2.output_text
    assert r2.previous_response_id == r.id

    # The same turn without storage: the items passed back by hand.
    r3 = client.responses.create(
        model=model,
        store=False,
        input=[
            {"role": "user", "content": WEATHER_PROMPT},
            call.model_dump(exclude_none=True),
            {"type": "function_call_output", "call_id": call.call_id, "output": TOOL_RESULT},
        ],
        tools=[WEATHER_TOOL],
    )
    assert TOOL_RESULT in r3.output_text
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r3.id)


def test_streamed_function_call(client: openai.OpenAI, fmt: str) -> None:
    events = list(client.responses.create(model=CHAT_MODEL[fmt], input=WEATHER_PROMPT, tools=[WEATHER_TOOL], stream=True))
    types = [e.type for e in events]
    assert "response.function_call_arguments.delta" in types
    assert "response.function_call_arguments.done" in types
    added = next(e for e in events if e.type == "response.output_item.added" and e.item.type == "function_call")
    assert added.item.call_id and added.item.name == "get_weather"
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert json.loads(done.arguments) == {"location": "Paris"}
    final = events[-1].response
    assert [o.type for o in final.output] == ["function_call"]


def test_json_schema(client: openai.OpenAI) -> None:
    schema = {"type": "object", "properties": {"greeting": {"type": "string"}}, "required": ["greeting"]}
    r = client.responses.create(
        model=CHAT_MODEL["openai"],
        input="Give me a greeting as JSON",
        text={"format": {"type": "json_schema", "name": "greeting", "schema": schema, "strict": True}},
    )
    assert isinstance(json.loads(r.output_text), dict)


def test_stored_responses(client: openai.OpenAI, gateway: Gateway) -> None:
    r = client.responses.create(model=CHAT_MODEL["openai"], input=PROMPT, metadata={"suite": "sdk"})
    got = client.responses.retrieve(r.id)
    assert got.id == r.id and got.output_text == REPLY and got.metadata == {"suite": "sdk"}
    items = client.responses.input_items.list(r.id)
    assert [i.type for i in items.data] == ["message"]
    assert items.data[0].content[0].text == PROMPT
    # Another workspace's key cannot see it.
    other = gateway.client(gateway.keys["other"])
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(r.id)
    deleted = client.responses.delete(r.id)
    assert deleted is None or getattr(deleted, "deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r.id)
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model=CHAT_MODEL["openai"], input="again", previous_response_id=r.id)
    assert e.value.body["param"] == "previous_response_id"


def test_hosted_tools_are_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model=CHAT_MODEL["openai"], input=PROMPT, tools=[{"type": "web_search"}])
    assert "web_search" in e.value.body["message"]
