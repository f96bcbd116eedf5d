"""Faithful pass-through through the official SDK: documented parameters and `extra_body` extras
reach the OpenAI-format mock as sent, what a non-OpenAI upstream could not take is named in
`x-layerr-dropped-params`, `logprobs` and `system_fingerprint` come back, and the legacy
`client.completions.create` works plain and streamed (answered by a chat model)."""

from __future__ import annotations

import uuid

import openai

from conftest import CHAT_MODEL, Gateway, Mock


def sent_with(mock: Mock, marker: str) -> dict:
    """The one upstream request whose messages mention `marker`."""
    found = [r for r in mock.requests() if isinstance(r.get("body"), dict) and marker in str(r["body"])]
    assert len(found) == 1, found
    return found[0]["body"]


def test_documented_parameters_and_extras_reach_the_upstream(client: openai.OpenAI, mock: Mock) -> None:
    marker = f"passthrough {uuid.uuid4().hex[:8]}"
    r = client.chat.completions.create(
        model=CHAT_MODEL["openai"],
        messages=[{"role": "user", "content": marker}],
        reasoning_effort="low",
        logprobs=True,
        top_logprobs=2,
        metadata={"team": "sdk"},
        seed=11,
        service_tier="flex",
        extra_body={"top_k": 5},
    )
    body = sent_with(mock, marker)
    assert body["reasoning_effort"] == "low"
    assert body["logprobs"] is True
    assert body["top_logprobs"] == 2
    assert body["metadata"] == {"team": "sdk"}
    assert body["seed"] == 11
    assert body["service_tier"] == "flex"
    assert body["top_k"] == 5

    assert r.system_fingerprint == "fp_mock"
    assert r.service_tier == "flex"
    lp = r.choices[0].logprobs
    assert lp is not None and lp.content
    assert "".join(t.token for t in lp.content) == r.choices[0].message.content
    assert len(lp.content[0].top_logprobs) == 2


def test_streamed_logprobs_and_fingerprint(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=CHAT_MODEL["openai"],
        messages=[{"role": "user", "content": "stream my logprobs"}],
        stream=True,
        logprobs=True,
        extra_body={"top_k": 2},
    )
    text, tokens, fingerprints = "", "", set()
    for chunk in stream:
        if chunk.system_fingerprint:
            fingerprints.add(chunk.system_fingerprint)
        for c in chunk.choices:
            text += c.delta.content or ""
            if c.logprobs and c.logprobs.content:
                tokens += "".join(t.token for t in c.logprobs.content)
    assert text.startswith("mock reply to: stream my logprobs")
    assert tokens == text
    assert fingerprints == {"fp_mock"}


def test_a_non_openai_upstream_reports_what_it_did_not_receive(client: openai.OpenAI, mock: Mock) -> None:
    marker = f"dropped {uuid.uuid4().hex[:8]}"
    raw = client.chat.completions.with_raw_response.create(
        model=CHAT_MODEL["anthropic"],
        messages=[{"role": "user", "content": marker}],
        seed=3,
        logit_bias={"1": 1},
        extra_body={"top_k": 5},
    )
    assert raw.http_response.status_code == 200
    dropped = sorted(raw.headers["x-layerr-dropped-params"].split(", "))
    assert dropped == ["logit_bias", "seed"]
    body = sent_with(mock, marker)
    assert body["top_k"] == 5, "Anthropic has top_k"
    assert raw.parse().choices[0].message.content.startswith("mock reply to:")


def test_legacy_completions(client: openai.OpenAI, gateway: Gateway) -> None:
    r = client.completions.create(model=CHAT_MODEL["openai"], prompt="Say hello", max_tokens=40, seed=1)
    assert r.object == "text_completion"
    assert r.id.startswith("cmpl-")
    assert r.choices[0].text.startswith("mock reply to: Say hello")
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None and r.usage.total_tokens > 0

    raw = client.completions.with_raw_response.create(model=CHAT_MODEL["gemini"], prompt=["Hi"], echo=True)
    assert raw.parse().choices[0].text.startswith("Himock reply to: Hi")
    events = gateway.trace_events(raw.headers["x-layerr-trace-id"])
    assert events[0]["payload"]["RequestReceived"]["received"]["endpoint"] == "/v1/completions"


def test_legacy_completions_streamed(client: openai.OpenAI) -> None:
    stream = client.completions.create(
        model=CHAT_MODEL["ollama"],
        prompt="Count to three",
        max_tokens=64,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(c.object == "text_completion" for c in chunks)
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text.startswith("mock reply to: Count to three")
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
