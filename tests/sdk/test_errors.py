"""Errors as the official SDK sees them: the usual exception class for the status, with the
spec's code in `e.code` and the whole `error` object in `e.body`."""

from __future__ import annotations

import time

import openai
import pytest

from conftest import CHAT_MODEL, SLOW_MODEL, UNAVAILABLE_MODEL, Gateway

MESSAGES = [{"role": "user", "content": "hello there"}]


def check_envelope(e: openai.APIStatusError, status: int, code: str) -> dict:
    assert e.status_code == status, e
    assert e.code == code, e.body
    body = e.body
    assert isinstance(body, dict)
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["type"], str) and body["type"]
    assert e.response.headers.get("x-request-id")
    return body


# --- authentication and workspaces ----------------------------------------------------------
def test_bad_key(gateway: Gateway) -> None:
    bad = gateway.client("lyr_not_a_real_key_0123456789")
    with pytest.raises(openai.AuthenticationError) as ei:
        bad.chat.completions.create(model=CHAT_MODEL["openai"], messages=MESSAGES)
    body = check_envelope(ei.value, 401, "UNAUTHORIZED")
    assert body["type"] == "authentication_error"
    with pytest.raises(openai.AuthenticationError) as ei:
        bad.models.list()
    check_envelope(ei.value, 401, "UNAUTHORIZED")


@pytest.mark.parametrize("other", ["other", "does-not-exist"])
def test_workspace_key_naming_another_workspace(client: openai.OpenAI, other: str) -> None:
    """Whether the other workspace exists or not, a workspace key learns nothing about it."""
    with pytest.raises(openai.NotFoundError) as ei:
        client.chat.completions.create(
            model=CHAT_MODEL["openai"], messages=MESSAGES, extra_body={"layerr": {"workspace": other}}
        )
    body = check_envelope(ei.value, 404, "WORKSPACE_NOT_FOUND")
    assert other in body["message"]


def test_workspace_key_naming_its_own_workspace(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(
        model=CHAT_MODEL["openai"], messages=MESSAGES, extra_body={"layerr": {"workspace": "sdk"}}
    )
    assert r.choices[0].message.content == "mock reply to: hello there"


def test_admin_key_acts_on_a_named_workspace(gateway: Gateway) -> None:
    admin = gateway.client()
    r = admin.chat.completions.create(
        model=CHAT_MODEL["openai"], messages=MESSAGES, extra_body={"layerr": {"workspace": "sdk"}}
    )
    assert r.choices[0].message.content == "mock reply to: hello there"
    with pytest.raises(openai.NotFoundError) as ei:
        admin.chat.completions.create(
            model=CHAT_MODEL["openai"], messages=MESSAGES, extra_body={"layerr": {"workspace": "nope"}}
        )
    check_envelope(ei.value, 404, "WORKSPACE_NOT_FOUND")


# --- request validation ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"temperature": 5}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"n": 0}, "n"),
        ({"response_format": {"type": "xml"}}, "response_format.type"),
        ({"tool_choice": "required"}, "tool_choice"),
    ],
)
def test_validation_error(client: openai.OpenAI, kwargs: dict, param: str) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(model=CHAT_MODEL["openai"], messages=MESSAGES, **kwargs)
    body = check_envelope(ei.value, 400, "VALIDATION_ERROR")
    assert body["type"] == "invalid_request_error"
    assert ei.value.param == param
    assert body["details"] == {"field": param}


def test_empty_messages(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(model=CHAT_MODEL["openai"], messages=[])
    check_envelope(ei.value, 400, "VALIDATION_ERROR")
    assert ei.value.param == "messages"


def test_unknown_layerr_option(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(
            model=CHAT_MODEL["openai"], messages=MESSAGES, extra_body={"layerr": {"explian": True}}
        )
    check_envelope(ei.value, 400, "VALIDATION_ERROR")


def test_unknown_strategy(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(
            model=CHAT_MODEL["openai"], messages=MESSAGES, extra_body={"layerr": {"strategy": "no-such-strategy"}}
        )
    body = check_envelope(ei.value, 400, "INVALID_STRATEGY")
    assert "no-such-strategy" in body["message"]


@pytest.mark.parametrize("strategy", ["cost", "speed", "quality", "balanced"])
def test_builtin_strategies(client: openai.OpenAI, strategy: str) -> None:
    r = client.chat.completions.with_raw_response.create(
        model=CHAT_MODEL["openai"],
        messages=MESSAGES,
        extra_body={"layerr": {"strategy": strategy, "explain": True}},
    )
    assert r.headers["x-layerr-strategy"] == strategy
    assert r.parse().choices[0].message.content == "mock reply to: hello there"


def test_unknown_model(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as ei:
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    body = check_envelope(ei.value, 404, "MODEL_NOT_FOUND")
    assert "no-such-model" in body["message"]


# --- rate limits ----------------------------------------------------------------------------
def test_rate_limited(gateway: Gateway) -> None:
    """The free tier allows a burst of 10: quick requests past it get 429 RATE_LIMITED."""
    limited = gateway.client(gateway.keys["limited"])
    ok = 0
    error: openai.RateLimitError | None = None
    for _ in range(30):
        try:
            limited.models.list()
            ok += 1
        except openai.RateLimitError as e:
            error = e
            break
    assert error is not None, f"{ok} requests passed without a 429"
    # A burst of 10 (plus whatever refilled meanwhile at 1 per second).
    assert 5 <= ok <= 12
    body = check_envelope(error, 429, "RATE_LIMITED")
    assert body["type"] == "rate_limit_error"
    assert body["details"]["limit"] == 60
    assert body["details"]["burst"] == 10
    assert int(error.response.headers["retry-after"]) >= 1
    assert error.response.headers["x-ratelimit-limit"] == "10"  # free tier: the burst
    assert error.response.headers["x-ratelimit-limit-per-minute"] == "60"
    assert error.response.headers["x-ratelimit-remaining"] == "0"
    # Chat completions are throttled just the same.
    with pytest.raises(openai.RateLimitError):
        limited.chat.completions.create(model=CHAT_MODEL["openai"], messages=MESSAGES)


# --- upstream failures ----------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_all_providers_failing(client: openai.OpenAI, gateway: Gateway, stream: bool) -> None:
    mock = gateway.mock
    mock.push({"model": UNAVAILABLE_MODEL, "status": 503, "forever": True})
    mock.clear_requests()
    with pytest.raises(openai.InternalServerError) as ei:
        r = client.chat.completions.create(model=UNAVAILABLE_MODEL, messages=MESSAGES, stream=stream)
        if stream:
            list(r)
    body = check_envelope(ei.value, 502, "PROVIDER_UNAVAILABLE")
    details = body["details"]
    tried = len(mock.requests_for(UNAVAILABLE_MODEL))
    assert tried >= 1
    assert details["attempts"] == tried
    assert details["providers"] == ["openai-unavailable"]
    assert all(e["status"] == 503 and e["kind"] == "server" for e in details["errors"])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_upstream_slower_than_the_timeout(gateway: Gateway, stream: bool) -> None:
    """The `slow` workspace allows 300 ms in total; the upstream takes 2 s."""
    gateway.mock.push({"model": SLOW_MODEL, "delay_ms": 2000, "times": 5})
    slow = gateway.client(gateway.keys["slow"])
    t0 = time.monotonic()
    with pytest.raises(openai.APIStatusError) as ei:
        r = slow.chat.completions.create(model=SLOW_MODEL, messages=MESSAGES, stream=stream)
        if stream:
            list(r)
    elapsed = time.monotonic() - t0
    body = check_envelope(ei.value, 504, "TIMEOUT")
    assert body["type"] == "timeout_error"
    assert elapsed < 1.8, f"the gateway waited {elapsed:.2f}s, past its 0.3s budget"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_upstream_bad_request_is_passed_back(
    client: openai.OpenAI, gateway: Gateway, fmt: str, stream: bool
) -> None:
    model = CHAT_MODEL[fmt]
    message = f"mock {fmt} upstream rejects this request"
    gateway.mock.push({"model": model, "status": 400, "message": message, "times": 1})
    with pytest.raises(openai.BadRequestError) as ei:
        r = client.chat.completions.create(model=model, messages=MESSAGES, stream=stream)
        if stream:
            list(r)
    body = check_envelope(ei.value, 400, "INVALID_REQUEST")
    assert message in body["message"]
    assert body["type"] == "invalid_request_error"
