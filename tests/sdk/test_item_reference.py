"""`item_reference` input items through the official `openai` SDK: an earlier response's output
items named by id (what the Vercel AI SDK sends for earlier assistant text), or its input items,
resolved from the stored responses of the caller's own workspace only."""

from __future__ import annotations

import openai
import pytest

from conftest import CHAT_MODEL, Gateway

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
}


def test_reference_to_an_earlier_answer(client: openai.OpenAI, gateway: Gateway) -> None:
    model = CHAT_MODEL["openai"]
    first = client.responses.create(model=model, input="Say hello to references")
    [message] = first.output
    gateway.mock.clear_requests()
    second = client.responses.create(
        model=model,
        input=[
            {"role": "user", "content": "Say hello to references"},
            {"type": "item_reference", "id": message.id},
            {"role": "user", "content": "Once more"},
        ],
    )
    assert second.output_text == "mock reply to: Once more"
    [call] = gateway.mock.requests_for(model)
    msgs = call["body"]["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert msgs[1]["content"] == first.output_text
    # The resolved item is stored as the second response's input, in full.
    items = client.responses.input_items.list(second.id, order="asc").data
    assert [i.type for i in items] == ["message"] * 3
    assert items[1].id == message.id and items[1].role == "assistant"


def test_reference_to_a_function_call(client: openai.OpenAI, gateway: Gateway) -> None:
    model = CHAT_MODEL["anthropic"]
    first = client.responses.create(model=model, input="What is the weather in Paris?", tools=[WEATHER_TOOL])
    [fc] = [o for o in first.output if o.type == "function_call"]
    second = client.responses.create(
        model=model,
        tools=[WEATHER_TOOL],
        input=[
            {"role": "user", "content": "What is the weather in Paris?"},
            {"type": "item_reference", "id": fc.id},
            {"type": "function_call_output", "call_id": fc.call_id, "output": "Sunny, 22 C"},
        ],
    )
    assert second.output_text == "mock reply to tool result: Sunny, 22 C"


def test_reference_to_an_earlier_input_item(client: openai.OpenAI, gateway: Gateway) -> None:
    """Input items the client sent without an id are stored under ids of their response, which
    an `item_reference` resolves like an output item (OpenAI resolves any stored item)."""
    model = CHAT_MODEL["openai"]
    first = client.responses.create(
        model=model,
        input=[{"role": "user", "content": "Remember the word: heron"}, {"role": "user", "content": "Say hello"}],
    )
    items = client.responses.input_items.list(first.id, order="asc").data
    assert [i.id.endswith(first.id.removeprefix("resp_")) for i in items] == [True, True], [i.id for i in items]
    assert len({i.id for i in items}) == 2
    gateway.mock.clear_requests()
    second = client.responses.create(
        model=model, input=[{"type": "item_reference", "id": items[0].id}, {"role": "user", "content": "Which word?"}]
    )
    assert second.output_text == "mock reply to: Which word?"
    [call] = gateway.mock.requests_for(model)
    assert [m["content"] for m in call["body"]["messages"]] == ["Remember the word: heron", "Which word?"]


def test_reference_to_another_workspace_is_not_found(client: openai.OpenAI, gateway: Gateway) -> None:
    first = client.responses.create(model=CHAT_MODEL["openai"], input="Say hello to tenancy")
    other = gateway.client(gateway.keys["other"])
    with pytest.raises(openai.BadRequestError) as e:
        other.responses.create(
            model=CHAT_MODEL["openai"], input=[{"type": "item_reference", "id": first.output[0].id}]
        )
    assert e.value.body["param"] == "input[0].id"
    assert f"Item with id '{first.output[0].id}' not found." in e.value.body["message"]


def test_reference_to_an_unknown_or_unstored_item(client: openai.OpenAI) -> None:
    unstored = client.responses.create(model=CHAT_MODEL["openai"], input="Say hello", store=False)
    for ref in (unstored.output[0].id, "msg_nonsense", "rs_0192f0c1a2b34c5d8e9f00112233aabb"):
        with pytest.raises(openai.BadRequestError) as e:
            client.responses.create(model=CHAT_MODEL["openai"], input=[{"type": "item_reference", "id": ref}])
        assert e.value.body["param"] == "input[0].id", ref
