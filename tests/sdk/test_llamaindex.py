"""LlamaIndex's `OpenAILike` (`llama-index-llms-openai-like`), unmodified, against the gateway
(once per upstream wire format):
with its defaults (not a chat model, so `complete` and `stream_complete` call the legacy
`/v1/completions`), and with `is_chat_model=True` (`chat`, `stream_chat`, and `complete` through
chat). LlamaIndex needs `openai<3` and the Agents SDK `openai>=3`, so it runs in a venv of its
own (created here from requirements-llamaindex.txt, reinstalled when that file changes) through
llamaindex_driver.py, which prints the results as JSON; this test asserts on them and on what
the mock upstream and the trace recorded."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import CHAT_MODEL, FORMATS, Gateway

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements-llamaindex.txt"


def words(s: str) -> int:
    return len(s.split())


def llamaindex_python() -> Path:
    """The LlamaIndex venv's interpreter, creating or refreshing the venv when needed."""
    main = Path(os.environ.get("LAYERR_TEST_VENV", Path.home() / ".cache/layerr/venv"))
    venv = main.parent / f"{main.name}-llamaindex"
    python = venv / "bin" / "python"
    stamp = venv / ".layerr-requirements.sha256"
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.is_file() and stamp.is_file() and stamp.read_text().strip() == want:
        return python
    if not python.is_file():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=300)
    stamp.unlink(missing_ok=True)
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if pip.returncode != 0:
        pytest.fail(f"installing {REQUIREMENTS.name} into {venv} failed:\n{pip.stdout[-2000:]}\n{pip.stderr[-4000:]}")
    stamp.write_text(want + "\n")
    return python


def endpoints_since(gw: Gateway, position: int) -> list[str]:
    """The `endpoint` of every request the gateway received after event `position`."""
    conn = sqlite3.connect(f"file:{gw.db_path}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute(
            "SELECT payload FROM events WHERE event_type = 'RequestReceived' AND global_position > ? "
            "ORDER BY global_position",
            (position,),
        ).fetchall()
    finally:
        conn.close()
    return [json.loads(p)["RequestReceived"]["received"]["endpoint"] for (p,) in rows]


def last_position(gw: Gateway) -> int:
    conn = sqlite3.connect(f"file:{gw.db_path}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute("SELECT COALESCE(MAX(global_position), 0) FROM events").fetchone()[0]
    finally:
        conn.close()


def max_tokens(fmt: str, body: dict) -> Any:
    """The output token limit in the upstream's own wire format."""
    return {
        "openai": lambda: body.get("max_completion_tokens"),
        "anthropic": lambda: body.get("max_tokens"),
        "ollama": lambda: body.get("options", {}).get("num_predict"),
        "gemini": lambda: body.get("generationConfig", {}).get("maxOutputTokens"),
    }[fmt]()


def temperature(fmt: str, body: dict) -> Any:
    return {
        "openai": lambda: body.get("temperature"),
        "anthropic": lambda: body.get("temperature"),
        "ollama": lambda: body.get("options", {}).get("temperature"),
        "gemini": lambda: body.get("generationConfig", {}).get("temperature"),
    }[fmt]()


@pytest.fixture(scope="module", params=FORMATS)
def run(gateway: Gateway, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Runs the driver once against one upstream format and returns its results, the upstream
    calls the mock saw and the endpoints the gateway's traces recorded."""
    python = llamaindex_python()
    fmt = request.param
    model = CHAT_MODEL[fmt]
    gateway.mock.clear_requests()
    start = last_position(gateway)
    p = subprocess.run(
        [str(python), str(HERE / "llamaindex_driver.py"), f"{gateway.base}/v1", gateway.keys["sdk"], model],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, f"driver failed:\n{p.stderr[-4000:]}"
    out = json.loads(p.stdout.strip().splitlines()[-1])
    # Traces are written after each answer; wait until all six requests are recorded.
    expected = ["/v1/completions"] * 2 + ["/v1/chat/completions"] * 3 + ["/v1/completions"]
    for _ in range(100):
        endpoints = endpoints_since(gateway, start)
        if len(endpoints) >= len(expected):
            break
        time.sleep(0.05)
    return {
        "fmt": fmt,
        "out": out,
        "upstream": gateway.mock.requests_for(model),
        "endpoints": endpoints,
        "expected": expected,
    }


def test_versions_and_defaults(run: dict[str, Any]) -> None:
    out = run["out"]
    assert out["versions"] == {"llama_index_core": "0.14.25", "openai": "2.54.0"}
    assert out["defaults"] == {"is_chat_model": False}
    # Its defaults reached the gateway's legacy completions; is_chat_model=True reached chat.
    assert run["endpoints"] == run["expected"]


def test_complete_with_defaults(run: dict[str, Any]) -> None:
    c = run["out"]["complete"]
    prompt, reply = "Say hello to llama", "mock reply to: Say hello to llama"
    assert c["text"] == reply
    assert c["usage"] == {
        "prompt_tokens": words(prompt) + 3,
        "completion_tokens": words(reply),
        "total_tokens": words(prompt) + 3 + words(reply),
    }
    fmt, up = run["fmt"], run["upstream"][0]["body"]
    # One user message, the legacy API's documented default of 16 tokens, LlamaIndex's
    # temperature 0.1, in the upstream's own format.
    assert prompt in json.dumps(up)
    assert max_tokens(fmt, up) == 16 and temperature(fmt, up) == 0.1


def test_stream_complete_with_defaults(run: dict[str, Any]) -> None:
    s = run["out"]["stream_complete"]
    reply = "mock reply to: Say hello to the stream"
    assert s["text"] == reply
    assert "".join(s["deltas"]) == reply
    assert len([d for d in s["deltas"] if d]) == words(reply), "one delta per word, as the mock streams"
    up = run["upstream"][1]
    assert up["body"].get("stream") is True or ":streamGenerateContent" in up["path"]


def test_chat_model(run: dict[str, Any]) -> None:
    c = run["out"]["chat"]
    reply = "mock reply to: Say hello to chat"
    assert c["role"] == "assistant" and c["content"] == reply
    # System and user message: (2 + 3) + (4 + 3).
    assert c["usage"] == {"prompt_tokens": 12, "completion_tokens": words(reply), "total_tokens": 12 + words(reply)}
    # The system message reached the upstream (as its format carries one).
    assert "Be brief." in json.dumps(run["upstream"][2]["body"])
    s = run["out"]["stream_chat"]
    assert s["content"] == reply and "".join(s["deltas"]) == reply
    assert len([d for d in s["deltas"] if d]) == words(reply)
    assert run["out"]["chat_complete"] == {"text": "mock reply to: Say hello once more"}


def test_error_is_the_sdk_exception(run: dict[str, Any]) -> None:
    assert run["out"]["error"] == {"type": "NotFoundError", "status": 404}
