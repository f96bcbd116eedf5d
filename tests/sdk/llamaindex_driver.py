"""Runs LlamaIndex's `OpenAILike` against a gateway and prints what came back as JSON.

Run by test_llamaindex.py with the interpreter of its own venv (LlamaIndex pins `openai<3`,
the Agents SDK `openai>=3`, so the two cannot share one; see requirements-llamaindex.txt):

    python llamaindex_driver.py BASE_URL API_KEY MODEL

Nothing is asserted here: the test asserts on the printed results and on what the mock
upstream received.
"""

from __future__ import annotations

import json
import sys

import openai
from llama_index.core import __version__ as core_version
from llama_index.core.llms import ChatMessage
from llama_index.llms.openai_like import OpenAILike


def usage(raw: object) -> dict | None:
    """The `usage` of the SDK object (or dict) LlamaIndex keeps as `raw`."""
    if raw is None:
        return None
    data = raw if isinstance(raw, dict) else raw.model_dump()
    u = data.get("usage")
    return None if u is None else {k: u.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}


def main() -> None:
    base, key, model = sys.argv[1:4]
    out: dict = {"versions": {"llama_index_core": core_version, "openai": openai.__version__}}

    # Its defaults: not a chat model, so `complete` is the legacy /v1/completions.
    llm = OpenAILike(model=model, api_base=base, api_key=key, max_retries=0)
    out["defaults"] = {"is_chat_model": llm.metadata.is_chat_model}
    r = llm.complete("Say hello to llama")
    out["complete"] = {"text": r.text, "usage": usage(r.raw)}
    deltas, last = [], None
    for chunk in llm.stream_complete("Say hello to the stream"):
        deltas.append(chunk.delta)
        last = chunk
    out["stream_complete"] = {"deltas": deltas, "text": last.text if last else None}

    # A chat model: /v1/chat/completions.
    chat = OpenAILike(model=model, api_base=base, api_key=key, is_chat_model=True, max_retries=0)
    messages = [ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="Say hello to chat")]
    r = chat.chat(messages)
    out["chat"] = {"role": str(r.message.role.value), "content": r.message.content, "usage": usage(r.raw)}
    deltas, last = [], None
    for chunk in chat.stream_chat(messages):
        deltas.append(chunk.delta)
        last = chunk
    out["stream_chat"] = {"deltas": deltas, "content": last.message.content if last else None}
    # `complete` on a chat model goes through chat.
    out["chat_complete"] = {"text": chat.complete("Say hello once more").text}

    # An error surfaces as the openai SDK's own exception type.
    bad = OpenAILike(model="no-such-model", api_base=base, api_key=key, max_retries=0)
    try:
        bad.complete("hi")
        out["error"] = None
    except openai.APIStatusError as e:
        out["error"] = {"type": type(e).__name__, "status": e.status_code}

    print(json.dumps(out))


if __name__ == "__main__":
    main()
