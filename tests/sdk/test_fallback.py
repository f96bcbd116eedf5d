"""Fallback and broken streams, seen through the SDK and checked against the recorded trace.

The `fallback` workspace allows one attempt per provider and has two OpenAI-format providers
serving the same model: `primary` points at a mock that answers 503 to everything, `secondary`
at the working mock (and a `-stream` pair on another model for the streamed case, so the first
test's health statistics cannot reorder the second test's chain).

Broken streams use the `*-cut` providers (one per format, own model names): the mock cuts the
connection (`cut_after_chunks`) or sends its format's in-stream error (`error_after_chunks`)
after a few events, or the client hangs up."""

from __future__ import annotations

import openai
import pytest

from conftest import CUT_MODEL, FALLBACK_MODEL, STREAM_FALLBACK_MODEL, Gateway

PROMPT = "Tell me a story about fallbacks"
REPLY = "mock reply to: Tell me a story about fallbacks"


def event_types(events: list[dict]) -> list[str]:
    return [e["type"] for e in events]


def check_fallback_trace(gateway: Gateway, trace_id: str, model: str, primary: str, secondary: str, stream: bool) -> None:
    events = gateway.trace_events(trace_id)
    assert event_types(events) == [
        "RequestReceived",
        "RouteDecided",
        "AttemptFailed",
        "AttemptSucceeded",
        "CostCharged",
        "RequestCompleted",
    ]
    received, decided, failed, succeeded, charged, completed = (e["payload"] for e in events)
    assert received["RequestReceived"]["received"]["stream"] is stream
    assert received["RequestReceived"]["received"]["fallbackMode"] == "strict"
    assert received["RequestReceived"]["received"]["workspace"] == "fallback"
    assert decided["RouteDecided"]["decision"]["chain"] == [
        {"provider": primary, "model": model},
        {"provider": secondary, "model": model},
    ]
    a1 = failed["AttemptFailed"]["attempt"]
    assert (a1["attempt"], a1["provider"], a1["model"], a1["status"], a1["errorKind"]) == (1, primary, model, 503, "server")
    a2 = succeeded["AttemptSucceeded"]["attempt"]
    assert (a2["attempt"], a2["provider"], a2["model"], a2["errorKind"]) == (2, secondary, model, None)
    assert charged["CostCharged"]["charge"]["provider"] == secondary
    assert charged["CostCharged"]["charge"]["tokensOut"] == 9
    done = completed["RequestCompleted"]
    assert (done["provider"], done["model"], done["finishReason"]) == (secondary, model, "stop")
    assert all(e["metadata"].get("workspace") == "fallback" for e in events)


def check_explain_headers(headers, model: str, primary: str, secondary: str) -> str:
    trace_id = headers["x-layerr-trace-id"]
    assert trace_id
    assert headers["x-layerr-attempts"] == "2"
    attempts = headers["x-layerr-fallback-attempts"].split("; ")
    assert len(attempts) == 2
    assert attempts[0].startswith(f"{primary}:{model}:") and "503" in attempts[0]
    assert attempts[1] == f"{secondary}:{model}:ok"
    assert headers["x-layerr-provider"] == secondary
    assert headers["x-layerr-model"] == model
    assert headers["x-layerr-strategy"]
    assert headers["x-layerr-summary"]
    return trace_id


def test_fallback_to_secondary(gateway: Gateway) -> None:
    client = gateway.client(gateway.keys["fallback"])
    raw = client.chat.completions.with_raw_response.create(
        model=FALLBACK_MODEL,
        messages=[{"role": "user", "content": PROMPT}],
        extra_body={"layerr": {"explain": True, "fallback": "strict"}},
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == REPLY
    trace_id = check_explain_headers(raw.headers, FALLBACK_MODEL, "primary", "secondary")
    check_fallback_trace(gateway, trace_id, FALLBACK_MODEL, "primary", "secondary", stream=False)


@pytest.fixture(scope="module")
def streamed_fallback(gateway: Gateway) -> dict:
    """One streamed request whose primary fails before the first byte (shared by the tests
    below: once the secondary has answered, its live latency puts it first in later chains)."""
    client = gateway.client(gateway.keys["fallback"])
    raw = client.chat.completions.with_raw_response.create(
        model=STREAM_FALLBACK_MODEL,
        messages=[{"role": "user", "content": PROMPT}],
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"layerr": {"explain": True, "fallback": "strict"}},
    )
    return {"headers": raw.headers, "chunks": list(raw.parse())}


def test_streamed_fallback_before_first_byte(gateway: Gateway, streamed_fallback: dict) -> None:
    headers, chunks = streamed_fallback["headers"], streamed_fallback["chunks"]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 9
    assert all(c.model == STREAM_FALLBACK_MODEL for c in chunks)
    assert headers["x-layerr-provider"] == "secondary-stream"
    assert headers["x-layerr-model"] == STREAM_FALLBACK_MODEL
    check_fallback_trace(
        gateway, headers["x-layerr-trace-id"], STREAM_FALLBACK_MODEL, "primary-stream", "secondary-stream", stream=True
    )


def test_streamed_fallback_explain_headers(streamed_fallback: dict) -> None:
    check_explain_headers(streamed_fallback["headers"], STREAM_FALLBACK_MODEL, "primary-stream", "secondary-stream")


def test_explain_off_has_trace_id_only(gateway: Gateway) -> None:
    client = gateway.client(gateway.keys["sdk"])
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}]
    )
    raw.parse()
    assert raw.headers["x-layerr-trace-id"]
    assert "x-layerr-provider" not in raw.headers
    assert "x-layerr-attempts" not in raw.headers


def test_mid_stream_cut(client: openai.OpenAI, gateway: Gateway, fmt: str) -> None:
    """The upstream breaks its stream after a few events: too late to fall back, so the client
    gets the text so far and then the SDK raises the in-stream error; the trace says so."""
    model = CUT_MODEL[fmt]
    # Pad the reply so the stream has many more events than the cut lets through.
    gateway.mock.push({"model": model, "words": 40, "times": 1})
    full = client.chat.completions.create(model=model, messages=[{"role": "user", "content": PROMPT}])
    padded = full.choices[0].message.content
    assert padded is not None and padded.startswith(REPLY) and len(padded.split()) == 40
    gateway.mock.push({"model": model, "cut_after_chunks": 4, "words": 40, "times": 1})
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": PROMPT}], stream=True
    )
    trace_id = raw.headers["x-layerr-trace-id"]
    received: list[str] = []
    with pytest.raises(openai.APIError) as ei:
        for chunk in raw.parse():
            if chunk.choices:
                received.append(chunk.choices[0].delta.content or "")
    err = ei.value
    assert not isinstance(err, openai.APIStatusError)  # the status was 200: the error is in the stream
    assert err.code == "STREAM_INTERRUPTED"
    assert isinstance(err.body, dict) and err.body["type"] == "api_error"
    text = "".join(received)
    # What arrived is the start of the reply, never all of it.
    assert padded.startswith(text) and len(text) < len(padded)

    events = gateway.trace_events(trace_id)
    types = event_types(events)
    assert types[:2] == ["RequestReceived", "RouteDecided"]
    assert types[-1] == "RequestFailed"
    assert "RequestCompleted" not in types
    failed = events[-1]["payload"]["RequestFailed"]
    assert failed["code"] == "STREAM_INTERRUPTED"
    attempts = [e for e in events if e["type"] in ("AttemptFailed", "AttemptSucceeded")]
    assert [e["type"] for e in attempts] == ["AttemptFailed"]
    attempt = attempts[0]["payload"]["AttemptFailed"]["attempt"]
    assert attempt["provider"] == f"{fmt}-cut"
    assert attempt["errorKind"] == "stream_cut"
    assert attempt["ttftMs"] is not None
    # What was streamed is still charged (estimated if the upstream never sent usage).
    assert "CostCharged" in types


@pytest.mark.parametrize(
    "fmt",
    [
        "openai",
        "anthropic",
        "ollama",
        "gemini",
    ],
)
def test_upstream_error_event_mid_stream(client: openai.OpenAI, gateway: Gateway, fmt: str) -> None:
    """The upstream sends its own in-stream error event after a few events (`error_after_chunks`)."""
    model = CUT_MODEL[fmt]
    gateway.mock.push({"model": model, "error_after_chunks": 4, "words": 40, "times": 1})
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": PROMPT}], stream=True
    )
    trace_id = raw.headers["x-layerr-trace-id"]
    received: list[str] = []
    with pytest.raises(openai.APIError) as ei:
        for chunk in raw.parse():
            if chunk.choices:
                received.append(chunk.choices[0].delta.content or "")
    assert ei.value.code == "STREAM_INTERRUPTED"
    text = "".join(received)
    assert REPLY.startswith(text) or text.startswith(REPLY)
    events = gateway.trace_events(trace_id)
    assert event_types(events)[-1] == "RequestFailed"
    assert events[-1]["payload"]["RequestFailed"]["code"] == "STREAM_INTERRUPTED"
    assert [e["type"] for e in events if e["type"].startswith("Attempt")] == ["AttemptFailed"]


@pytest.fixture(scope="module")
def disconnected(client: openai.OpenAI, gateway: Gateway) -> dict:
    """A client that reads two chunks of a slow stream and hangs up. Returns the trace id and
    the provider's health failure count before and after."""
    model, provider = CUT_MODEL["openai"], "openai-cut"

    def failures() -> int:
        return gateway.admin("GET", f"/api/providers/{provider}/health")["health"]["failures"]

    before = failures()
    gateway.mock.push({"model": model, "chunk_delay_ms": 100, "words": 40, "times": 1})
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": PROMPT}], stream=True
    )
    stream = raw.parse()
    it = iter(stream)
    first, second = next(it), next(it)
    assert first.choices[0].delta.role == "assistant"
    assert second.choices[0].delta.content == "mock "
    stream.close()
    trace_id = raw.headers["x-layerr-trace-id"]
    events = gateway.trace_events(trace_id)
    return {"events": events, "before": before, "after": failures()}


def test_client_disconnect_is_traced(disconnected: dict) -> None:
    events = disconnected["events"]
    types = event_types(events)
    assert types[-1] == "RequestFailed"
    failed = events[-1]["payload"]["RequestFailed"]
    assert failed["code"] == "STREAM_INTERRUPTED"
    assert "client disconnected" in failed["message"]
    charge = next(e for e in events if e["type"] == "CostCharged")["payload"]["CostCharged"]["charge"]
    assert charge["estimated"] is True and charge["tokensOut"] >= 1


def test_client_disconnect_does_not_count_against_the_provider(disconnected: dict) -> None:
    assert disconnected["after"] == disconnected["before"]
