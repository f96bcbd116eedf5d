"""The Anthropic Messages API inbound, through the official `anthropic` SDK (unmodified, with
its own `x-api-key` auth), once per upstream wire format: any provider answers a Messages
request. Plain, streamed (`messages.stream`), a tool-use round trip both ways, `count_tokens`,
errors raised as the SDK's own exception types, the model list in Anthropic's shape, and the
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
    # Extended thinking has no canonical form yet: reported.
    r = send("openai", thinking={"type": "enabled", "budget_tokens": 2048})
    assert "thinking" in r.headers["x-layerr-dropped-params"]


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
