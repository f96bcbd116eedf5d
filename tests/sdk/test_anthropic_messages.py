"""The Anthropic Messages API inbound, through the official `anthropic` SDK (unmodified, with
its own `x-api-key` auth), once per upstream wire format: any provider answers a Messages
request. Plain, streamed (`messages.stream`), a tool-use round trip both ways, `count_tokens`,
errors raised as the SDK's own exception types, the model list in Anthropic's shape, extended
thinking (blocks and signatures byte for byte from an Anthropic upstream, sent back in a tool
loop), anthropic-version / anthropic-beta forwarded to Anthropic upstreams, and the
Claude Code gateway contract (`HEAD /`, `?beta=true`)."""

from __future__ import annotations

import json

import anthropic
import httpx
import pytest

from conftest import CHAT_MODEL, Gateway

PROMPT = "Say hello to the SDK suite"
REPLY = "mock reply to: Say hello to the SDK suite"
PROMPT_TOKENS, COMPLETION_TOKENS = 9, 9

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}
WEATHER_PROMPT = "What is the weather in Paris today?"
TOOL_RESULT = "Sunny, 22 C"
THINKING = {"type": "enabled", "budget_tokens": 2048}
# Anthropic's documented test string: the answer holds a redacted_thinking block too.
REDACTED_TRIGGER = "ANTHROPIC_MAGIC_STRING_TRIGGER_REDACTED_THINKING_46C9A13E193C177646C7398A98432ECCCE4C1253"


@pytest.fixture(scope="module")
def claude(gateway: Gateway) -> anthropic.Anthropic:
    """The Anthropic SDK with the `sdk` workspace's key, sent as `x-api-key`."""
    return anthropic.Anthropic(base_url=gateway.base, api_key=gateway.keys["sdk"], max_retries=0)


def test_plain_message(claude: anthropic.Anthropic, gateway: Gateway, fmt: str) -> None:
    model = CHAT_MODEL[fmt]
    raw = claude.messages.with_raw_response.create(
        model=model, max_tokens=256, messages=[{"role": "user", "content": PROMPT}]
    )
    m = raw.parse()
    assert m.type == "message" and m.role == "assistant"
    assert m.id.startswith("msg_")
    assert m.model == model
    assert [b.type for b in m.content] == ["text"]
    assert m.content[0].text == REPLY
    assert m.stop_reason == "end_turn"
    assert (m.usage.input_tokens, m.usage.output_tokens) == (PROMPT_TOKENS, COMPLETION_TOKENS)
    # The same trace as a chat completion, its endpoint recorded.
    trace_id = raw.headers["x-layerr-trace-id"]
    events = gateway.trace_events(trace_id)
    received = next(e for e in events if e["type"] == "RequestReceived")
    assert received["payload"]["RequestReceived"]["received"]["endpoint"] == "/v1/messages"
    assert "RequestCompleted" in [e["type"] for e in events]


def test_system_prompt_string_and_blocks(claude: anthropic.Anthropic, fmt: str) -> None:
    for system in ("Be brief.", [{"type": "text", "text": "Be brief."}]):
        m = claude.messages.create(
            model=CHAT_MODEL[fmt], max_tokens=256, system=system, messages=[{"role": "user", "content": PROMPT}]
        )
        assert m.content[0].text == REPLY
        # The system prompt reached the upstream: it is counted in its prompt tokens.
        assert m.usage.input_tokens == PROMPT_TOKENS + 2 + 3


def test_streamed_message(claude: anthropic.Anthropic, fmt: str) -> None:
    model = CHAT_MODEL[fmt]
    seen: list[str] = []
    with claude.messages.stream(
        model=model, max_tokens=256, messages=[{"role": "user", "content": PROMPT}]
    ) as stream:
        for ev in stream:
            seen.append(ev.type)
        final = stream.get_final_message()
    assert seen[0] == "message_start"
    assert seen[-1] == "message_stop"
    assert "content_block_start" in seen and "content_block_stop" in seen and "message_delta" in seen
    assert final.content[0].type == "text"
    assert final.content[0].text == REPLY
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (PROMPT_TOKENS, COMPLETION_TOKENS)


def test_raw_event_sequence(gateway: Gateway, fmt: str) -> None:
    """Anthropic's exact SSE framing: `event:` lines naming each `data:` payload's type."""
    with gateway.http.stream(
        "POST",
        f"{gateway.base}/v1/messages?beta=true",
        headers={"x-api-key": gateway.keys["sdk"], "anthropic-version": "2023-06-01"},
        json={"model": CHAT_MODEL[fmt], "max_tokens": 64, "stream": True, "messages": [{"role": "user", "content": PROMPT}]},
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        body = "".join(r.iter_text())
    names, types = [], []
    for frame in body.strip().split("\n\n"):
        lines = frame.split("\n")
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), frame
        names.append(lines[0][len("event: ") :])
        types.append(json.loads(lines[1][len("data: ") :])["type"])
    assert names == types
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}


def test_tool_use_round_trip(claude: anthropic.Anthropic, fmt: str) -> None:
    model = CHAT_MODEL[fmt]
    messages: list[dict] = [{"role": "user", "content": WEATHER_PROMPT}]
    m = claude.messages.create(model=model, max_tokens=256, messages=messages, tools=[WEATHER_TOOL])
    assert m.stop_reason == "tool_use"
    uses = [b for b in m.content if b.type == "tool_use"]
    assert len(uses) == 1
    use = uses[0]
    assert use.id and use.name == "get_weather"
    assert use.input == {"location": "Paris"}

    messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in m.content]})
    messages.append(
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": TOOL_RESULT}]}
    )
    answer = claude.messages.create(model=model, max_tokens=256, messages=messages, tools=[WEATHER_TOOL])
    assert answer.stop_reason == "end_turn"
    assert answer.content[0].type == "text"
    assert answer.content[0].text.startswith("mock reply to tool result: ")
    assert TOOL_RESULT in answer.content[0].text


def test_streamed_tool_use(claude: anthropic.Anthropic, fmt: str) -> None:
    with claude.messages.stream(
        model=CHAT_MODEL[fmt],
        max_tokens=256,
        messages=[{"role": "user", "content": WEATHER_PROMPT}],
        tools=[WEATHER_TOOL],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    uses = [b for b in final.content if b.type == "tool_use"]
    assert len(uses) == 1
    assert uses[0].name == "get_weather"
    assert uses[0].input == {"location": "Paris"}


def test_count_tokens(claude: anthropic.Anthropic) -> None:
    short = claude.messages.count_tokens(model=CHAT_MODEL["anthropic"], messages=[{"role": "user", "content": "hi"}])
    long = claude.messages.count_tokens(
        model=CHAT_MODEL["anthropic"],
        system="You are a careful assistant.",
        messages=[{"role": "user", "content": PROMPT * 20}],
        tools=[WEATHER_TOOL],
    )
    assert isinstance(short.input_tokens, int) and short.input_tokens > 0
    assert long.input_tokens > short.input_tokens


def test_errors_raise_the_sdks_own_exceptions(claude: anthropic.Anthropic, gateway: Gateway) -> None:
    with pytest.raises(anthropic.NotFoundError) as nf:
        claude.messages.create(model="no-such-model", max_tokens=16, messages=[{"role": "user", "content": "hi"}])
    assert nf.value.body["type"] == "error"
    assert nf.value.body["error"]["type"] == "not_found_error"
    assert nf.value.body["error"]["code"] == "MODEL_NOT_FOUND"

    bad = anthropic.Anthropic(base_url=gateway.base, api_key="lyr_not_a_key", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as au:
        bad.messages.create(model=CHAT_MODEL["openai"], max_tokens=16, messages=[{"role": "user", "content": "hi"}])
    assert au.value.body["error"]["type"] == "authentication_error"

    with pytest.raises(anthropic.BadRequestError) as br:
        claude.messages.create(model=CHAT_MODEL["openai"], max_tokens=0, messages=[{"role": "user", "content": "hi"}])
    assert br.value.body["error"]["type"] == "invalid_request_error"
    assert br.value.body["error"]["param"] == "max_tokens"

    # A hosted tool no upstream can run is refused, not ignored.
    with pytest.raises(anthropic.BadRequestError) as ht:
        claude.messages.create(
            model=CHAT_MODEL["openai"],
            max_tokens=16,
            messages=[{"role": "user", "content": "hi"}],
            tools=[{"type": "web_search_20250305", "name": "web_search"}],
        )
    assert "web_search_20250305" in ht.value.body["error"]["message"]


def test_parameters_are_translated_or_reported(gateway: Gateway) -> None:
    def send(fmt: str, **extra: object) -> httpx.Response:
        r = gateway.http.post(
            f"{gateway.base}/v1/messages",
            headers={"x-api-key": gateway.keys["sdk"], "anthropic-version": "2023-06-01"},
            json={"model": CHAT_MODEL[fmt], "max_tokens": 32, "messages": [{"role": "user", "content": PROMPT}], **extra},
        )
        assert r.status_code == 200, r.text
        return r

    # top_k reaches an Anthropic upstream natively, and the OpenAI-format one as an extra.
    for fmt in ("anthropic", "openai"):
        gateway.mock.clear_requests()
        r = send(fmt, top_k=5)
        assert "x-layerr-dropped-params" not in r.headers, r.headers
        assert gateway.mock.requests_for(CHAT_MODEL[fmt])[-1]["body"]["top_k"] == 5
    # Extended thinking becomes a reasoning_effort for OpenAI reasoning models only: gpt-4o-mini
    # does not reason (OpenAI refuses the parameter there), so it is not sent and is reported
    # (tests/dropped_params.rs has the reasoning model's side).
    gateway.mock.clear_requests()
    r = send("openai", max_tokens=4096, thinking={"type": "enabled", "budget_tokens": 2048})
    assert r.headers["x-layerr-dropped-params"] == "thinking", r.headers
    sent = gateway.mock.requests_for(CHAT_MODEL["openai"])[-1]["body"]
    assert "reasoning_effort" not in sent and "thinking" not in sent


def test_layerr_headers_for_clients_without_body_fields(gateway: Gateway) -> None:
    r = gateway.http.post(
        f"{gateway.base}/v1/messages",
        headers={
            "x-api-key": gateway.keys["sdk"],
            "anthropic-version": "2023-06-01",
            "x-layerr-strategy": "cost",
            "x-layerr-explain": "true",
        },
        json={"model": "layerr-auto", "max_tokens": 32, "messages": [{"role": "user", "content": PROMPT}]},
    )
    assert r.status_code == 200, r.text
    assert r.headers["x-layerr-strategy"] == "cost"
    assert r.headers["x-layerr-provider"]
    bad = gateway.http.post(
        f"{gateway.base}/v1/messages",
        headers={"x-api-key": gateway.keys["sdk"], "x-layerr-fallback": "sideways"},
        json={"model": "layerr-auto", "max_tokens": 32, "messages": [{"role": "user", "content": PROMPT}]},
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "x-layerr-fallback"


def test_models_in_anthropic_shape(claude: anthropic.Anthropic) -> None:
    page = claude.models.list(limit=1000)
    ids = [m.id for m in page.data]
    assert CHAT_MODEL["anthropic"] in ids and CHAT_MODEL["openai"] in ids
    assert all(m.type == "model" for m in page.data)
    one = claude.models.retrieve(CHAT_MODEL["anthropic"])
    assert one.id == CHAT_MODEL["anthropic"]
    first = claude.models.list(limit=1)
    assert len(first.data) == 1 and first.has_more


def test_claude_code_gateway_contract(gateway: Gateway) -> None:
    assert httpx.head(f"{gateway.base}/").status_code == 200
    # OpenAI clients still get the OpenAI list shape, and unknown query parameters are ignored.
    r = gateway.http.get(
        f"{gateway.base}/v1/models?limit=5&beta=true", headers={"Authorization": f"Bearer {gateway.keys['sdk']}"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["object"] == "list"


# --------------------------------------------------------------------------------------------
# Extended thinking through an Anthropic upstream: thinking blocks and their signatures come
# back byte for byte, streamed and not, and go back to the upstream unchanged in a tool loop.
# --------------------------------------------------------------------------------------------
def mock_answer(gateway: Gateway, model: str) -> dict:
    """What the mock answers to the last request the gateway sent it for `model`, asked again
    directly (the mock is deterministic): the bytes the gateway received."""
    sent = gateway.mock.requests_for(model)[-1]
    body = dict(sent["body"], stream=False)
    headers = {"anthropic-version": "2023-06-01"}
    if "anthropic-beta" in sent["headers"]:
        headers["anthropic-beta"] = sent["headers"]["anthropic-beta"]
    r = gateway.mock.http.post(f"{gateway.mock.base}/v1/messages", json=body, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def reasoning_blocks(content: list[dict]) -> list[dict]:
    return [b for b in content if b["type"] in ("thinking", "redacted_thinking")]


def test_thinking_blocks_and_signatures_are_byte_identical(claude: anthropic.Anthropic, gateway: Gateway) -> None:
    model = CHAT_MODEL["anthropic"]
    gateway.mock.clear_requests()
    raw = claude.messages.with_raw_response.create(
        model=model,
        max_tokens=4096,
        thinking=THINKING,
        messages=[{"role": "user", "content": f"Think first. {REDACTED_TRIGGER}"}],
    )
    sent = gateway.mock.requests_for(model)[-1]["body"]
    assert sent["thinking"] == THINKING, "thinking reaches the upstream as sent"
    upstream = reasoning_blocks(mock_answer(gateway, model)["content"])
    assert [b["type"] for b in upstream] == ["thinking", "redacted_thinking"]
    # The raw JSON the client got holds the upstream's blocks exactly, first.
    got = json.loads(raw.http_response.text)
    assert got["content"][: len(upstream)] == upstream
    assert got["content"][len(upstream)]["type"] == "text"
    m = raw.parse()
    assert m.content[0].type == "thinking"
    assert (m.content[0].thinking, m.content[0].signature) == (upstream[0]["thinking"], upstream[0]["signature"])
    assert m.content[1].type == "redacted_thinking" and m.content[1].data == upstream[1]["data"]
    assert "x-layerr-dropped-params" not in raw.headers


def test_redacted_thinking_goes_back_unchanged_and_altered_data_is_refused(
    claude: anthropic.Anthropic, gateway: Gateway
) -> None:
    model = CHAT_MODEL["anthropic"]
    question = {"role": "user", "content": f"Think first. {REDACTED_TRIGGER}"}
    first = claude.messages.create(model=model, max_tokens=4096, thinking=THINKING, messages=[question])
    blocks = [b.model_dump() for b in first.content]
    assert [b["type"] for b in blocks[:2]] == ["thinking", "redacted_thinking"]

    def again(content: list[dict]) -> httpx.Response:
        return gateway.http.post(
            f"{gateway.base}/v1/messages",
            headers={"x-api-key": gateway.keys["sdk"], "anthropic-version": "2023-06-01"},
            json={
                "model": model,
                "max_tokens": 4096,
                "thinking": THINKING,
                "messages": [question, {"role": "assistant", "content": content}, {"role": "user", "content": "More?"}],
            },
        )

    gateway.mock.clear_requests()
    r = again(blocks)
    assert r.status_code == 200, r.text
    assert gateway.mock.requests_for(model)[-1]["body"]["messages"][1]["content"][1] == blocks[1]
    # The mock refuses altered redacted data, as Anthropic does: the gateway relays the 400.
    data = blocks[1]["data"]
    altered = dict(blocks[1], data=data[:10] + ("A" if data[10] != "A" else "B") + data[11:])
    r = again([blocks[0], altered, *blocks[2:]])
    assert r.status_code == 400, r.text
    assert "redacted_thinking" in r.text, r.text


def test_streamed_thinking_blocks_and_signatures_are_byte_identical(
    claude: anthropic.Anthropic, gateway: Gateway
) -> None:
    model = CHAT_MODEL["anthropic"]
    gateway.mock.clear_requests()
    seen: list[str] = []
    thinking_text, signatures = "", []
    with claude.messages.stream(
        model=model,
        max_tokens=4096,
        thinking=THINKING,
        messages=[{"role": "user", "content": f"Think first. {REDACTED_TRIGGER}"}],
    ) as stream:
        for ev in stream:
            seen.append(ev.type)
            if ev.type == "thinking":
                thinking_text += ev.thinking
            elif ev.type == "signature":
                signatures.append(ev.signature)
        final = stream.get_final_message()
    upstream = reasoning_blocks(mock_answer(gateway, model)["content"])
    assert "thinking" in seen and "signature" in seen
    assert thinking_text == upstream[0]["thinking"]
    assert signatures == [upstream[0]["signature"]]
    blocks = [b.model_dump() for b in final.content]
    assert blocks[:2] == upstream, blocks
    assert final.content[2].type == "text" and final.stop_reason == "end_turn"


def test_raw_thinking_event_sequence(gateway: Gateway) -> None:
    """Anthropic's event sequence for thinking: the block opens empty (`thinking` and `signature`
    ""), `thinking_delta`s, one `signature_delta`, stop; a redacted block opens whole and stops."""
    with gateway.http.stream(
        "POST",
        f"{gateway.base}/v1/messages",
        headers={"x-api-key": gateway.keys["sdk"], "anthropic-version": "2023-06-01"},
        json={
            "model": CHAT_MODEL["anthropic"],
            "max_tokens": 4096,
            "stream": True,
            "thinking": THINKING,
            "messages": [{"role": "user", "content": f"Think first. {REDACTED_TRIGGER}"}],
        },
    ) as r:
        assert r.status_code == 200
        body = "".join(r.iter_text())
    data = [json.loads(f.split("\n")[1][len("data: ") :]) for f in body.strip().split("\n\n")]
    assert [d["type"] for d in data[:3]] == ["message_start", "ping", "content_block_start"]
    assert data[2]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    block0 = [d for d in data if d.get("index") == 0]
    kinds = [d["delta"]["type"] for d in block0 if d["type"] == "content_block_delta"]
    assert set(kinds[:-1]) == {"thinking_delta"} and kinds[-1] == "signature_delta"
    assert block0[-1]["type"] == "content_block_stop"
    block1 = [d for d in data if d.get("index") == 1]
    assert [d["type"] for d in block1] == ["content_block_start", "content_block_stop"]
    assert block1[0]["content_block"]["type"] == "redacted_thinking"
    assert [d for d in data if d.get("index") == 2][0]["content_block"]["type"] == "text"


@pytest.mark.parametrize("streamed", [False, True])
def test_tool_use_with_thinking_sends_the_thinking_back_unchanged(
    claude: anthropic.Anthropic, gateway: Gateway, streamed: bool
) -> None:
    model = CHAT_MODEL["anthropic"]
    messages: list[dict] = [{"role": "user", "content": WEATHER_PROMPT}]
    args = dict(model=model, max_tokens=4096, thinking=THINKING, tools=[WEATHER_TOOL])
    if streamed:
        with claude.messages.stream(messages=messages, **args) as stream:
            m = stream.get_final_message()
    else:
        m = claude.messages.create(messages=messages, **args)
    assert m.stop_reason == "tool_use"
    assert [b.type for b in m.content] == ["thinking", "tool_use"]
    thinking = m.content[0].model_dump()
    use = m.content[1]

    messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in m.content]})
    messages.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": TOOL_RESULT}]})
    gateway.mock.clear_requests()
    answer = claude.messages.create(messages=messages, **args)
    # The mock checks the signature as Anthropic does: an altered block would be a 400.
    assert answer.stop_reason == "end_turn"
    assert answer.content[0].type == "thinking" and answer.content[-1].type == "text"
    assert TOOL_RESULT in answer.content[-1].text
    sent = gateway.mock.requests_for(model)[-1]["body"]["messages"]
    assert sent[1]["role"] == "assistant"
    assert sent[1]["content"][0] == thinking, "the thinking block went back byte for byte, first"
    assert [b["type"] for b in sent[1]["content"]] == ["thinking", "tool_use"]


def test_interleaved_thinking_keeps_its_order_there_and_back(claude: anthropic.Anthropic, gateway: Gateway) -> None:
    """With the interleaved-thinking beta and tools the model thinks between tool calls
    (`[thinking, tool_use, thinking, tool_use]`): the client gets the upstream's content array
    as it is, and sends it back in that order."""
    model = CHAT_MODEL["anthropic"]
    beta = {"anthropic-beta": "interleaved-thinking-2025-05-14"}
    messages: list[dict] = [{"role": "user", "content": WEATHER_PROMPT}]
    args = dict(model=model, max_tokens=4096, thinking=THINKING, tools=[WEATHER_TOOL], extra_headers=beta)
    gateway.mock.clear_requests()
    raw = claude.messages.with_raw_response.create(messages=messages, **args)
    upstream = mock_answer(gateway, model)["content"]
    assert [b["type"] for b in upstream] == ["thinking", "tool_use", "thinking", "tool_use"]
    got = json.loads(raw.http_response.text)["content"]
    # The same blocks in the same order (tool ids differ between the mock's two answers).
    assert [b["type"] for b in got] == ["thinking", "tool_use", "thinking", "tool_use"], got
    assert reasoning_blocks(got) == reasoning_blocks(upstream)
    assert [(b["name"], b["input"]) for b in got[1::2]] == [(b["name"], b["input"]) for b in upstream[1::2]]
    m = raw.parse()
    messages.append({"role": "assistant", "content": got})
    uses = [b for b in m.content if b.type == "tool_use"]
    results = [{"type": "tool_result", "tool_use_id": b.id, "content": TOOL_RESULT} for b in uses]
    messages.append({"role": "user", "content": results})
    gateway.mock.clear_requests()
    answer = claude.messages.create(messages=messages, **args)
    assert answer.stop_reason == "end_turn"
    sent = gateway.mock.requests_for(model)[-1]["body"]["messages"]
    assert sent[1]["content"] == got, "sent back byte for byte, in the upstream's order"


def test_anthropic_headers_are_forwarded_to_anthropic_upstreams_only(
    claude: anthropic.Anthropic, gateway: Gateway
) -> None:
    beta = "interleaved-thinking-2025-05-14,token-efficient-tools-2025-02-19"
    # Not the adapter's own default (2023-06-01), so only forwarding can make it arrive.
    version = "2023-01-01"
    for fmt in ("anthropic", "openai"):
        gateway.mock.clear_requests()
        claude.messages.create(
            model=CHAT_MODEL[fmt],
            max_tokens=64,
            messages=[{"role": "user", "content": PROMPT}],
            extra_headers={"anthropic-beta": beta, "anthropic-version": version},
        )
        headers = gateway.mock.requests_for(CHAT_MODEL[fmt])[-1]["headers"]
        if fmt == "anthropic":
            assert headers["anthropic-beta"] == beta
            assert headers["anthropic-version"] == version
        else:
            assert "anthropic-beta" not in headers and "anthropic-version" not in headers, headers
