"""A request made with the official SDK is found again through the trace API: the trace id the
SDK sees in the response headers (`with_raw_response`) names a trace whose detail, explanation
and economics agree with what the SDK received, streamed or not, for every upstream format; and
a live replay of it, made through the trace API, answers the same question again."""

from __future__ import annotations

import time

import pytest

from conftest import CHAT_MODEL, Gateway

PROMPT = "Describe the trace API briefly"


def wait_trace(gateway: Gateway, trace_id: str, key: str, timeout: float = 10.0) -> dict:
    """The trace's detail once the read model has it finished."""
    deadline = time.monotonic() + timeout
    while True:
        r = gateway.api("GET", f"/api/traces/{trace_id}", key=key)
        if r.status_code == 200 and r.json()["data"]["status"] != "running":
            return r.json()["data"]
        assert time.monotonic() < deadline, f"trace {trace_id} never finished: {r.status_code} {r.text}"
        time.sleep(0.05)


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "ollama", "gemini"])
@pytest.mark.parametrize("stream", [False, True])
def test_the_sdk_response_is_its_trace(gateway: Gateway, fmt: str, stream: bool) -> None:
    key = gateway.keys["sdk"]
    client = gateway.client(key)
    model = CHAT_MODEL[fmt]
    messages = [{"role": "user", "content": PROMPT}]
    if stream:
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=messages, stream=True, stream_options={"include_usage": True}
        )
        trace_id = raw.headers["x-layerr-trace-id"]
        usage = None
        for chunk in raw.parse():
            if chunk.usage is not None:
                usage = chunk.usage
        assert usage is not None
    else:
        raw = client.chat.completions.with_raw_response.create(model=model, messages=messages)
        trace_id = raw.headers["x-layerr-trace-id"]
        usage = raw.parse().usage

    t = wait_trace(gateway, trace_id, key)
    assert t["traceId"] == trace_id
    assert t["workspaceId"] == "sdk"
    assert t["status"] == "completed"
    assert t["stream"] is stream
    assert t["requestedModel"] == model
    assert t["execution"]["finalModel"] == model
    assert t["execution"]["tokensIn"] == usage.prompt_tokens
    assert t["execution"]["tokensOut"] == usage.completion_tokens
    assert t["routingDecision"]["primaryModel"] == model
    assert isinstance(t["routingDecision"]["scores"]["quality"], float)
    assert t["explanation"]["summary"]

    econ = gateway.api("GET", f"/api/traces/{trace_id}/economics", key=key).json()["data"]
    assert econ["costMicros"] == t["execution"]["costMicros"]
    assert econ["tokens"] == {
        "in": usage.prompt_tokens,
        "out": usage.completion_tokens,
        "cached": econ["tokens"]["cached"],
        "cacheWrite": econ["tokens"]["cacheWrite"],
        "reasoning": econ["tokens"]["reasoning"],
        "estimated": False,
    }

    listed = gateway.api("GET", f"/api/traces?model={model}&limit=500", key=key).json()["data"]
    assert trace_id in [x["traceId"] for x in listed]


def test_a_dry_run_replay_of_an_sdk_request_reproduces_its_route(gateway: Gateway) -> None:
    key = gateway.keys["sdk"]
    raw = gateway.client(key).chat.completions.with_raw_response.create(
        model=CHAT_MODEL["openai"], messages=[{"role": "user", "content": PROMPT}]
    )
    trace_id = raw.headers["x-layerr-trace-id"]
    wait_trace(gateway, trace_id, key)
    r = gateway.api("POST", f"/api/traces/{trace_id}/replay", {"mode": "dry-run"}, key=key)
    assert r.status_code == 200, r.text
    d = r.json()["data"]
    assert d["then"]["reproducesRecorded"] is True
    assert d["then"]["primary"] == {"provider": d["recorded"]["primary"]["provider"], "model": CHAT_MODEL["openai"]}
    assert d["now"]["primary"]["model"] == CHAT_MODEL["openai"]
