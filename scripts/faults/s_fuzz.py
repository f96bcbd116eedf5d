"""(e) A bad-input fuzz of every route, on SQLite and Postgres.

Each request takes a route of the API (README's table), fills its path parameters with real ids
or hostile ones (`%00`, traversal, huge numbers, bad escapes...), adds hostile query parameters,
and sends a body derived from a valid one by mutation (wrong types, NUL characters, huge and
non-finite numbers, missing and unknown fields, deep nesting, invalid UTF-8, truncated JSON, the
wrong content type), with the admin key, a workspace key, a bad key or none. Seeded, so a run can
be repeated. Goals: no 500, no 503 (the store is up: a 503 means a store error reached the client),
and every error response in the envelope `{"error": {"code", "message", ...}}`.

Safety: URL-valued fields (`baseUrl`, discover's `urls`) only ever get loopback or malformed
values, so nothing the fuzzer sends makes the gateway call beyond 127.0.0.1."""

from __future__ import annotations

import asyncio
import copy
import json
import random
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from common import Ctx, Gateway, Mock, is_envelope, log, session, table

SEED = 20261126


@dataclass
class Route:
    method: str
    path: str  # {slug}, {id}, {trace}, {trace2}, {provider}, {strategy}, {conversation}, {key}, {sim}
    body: Any = None  # a valid body (template), or None
    query: dict | None = None  # valid query parameters


def routes(mock_base: str) -> list[Route]:
    weights = {"quality": 0.5, "speed": 0.3, "cost": 0.2}
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8,
            "temperature": 0.5, "stream": False, "layerr": {"strategy": "cost", "explain": True}}
    provider = {"id": "fz-prov", "name": "Fuzz", "type": "openai", "baseUrl": f"{mock_base}/v1",
                "models": ["gpt-4o-mini"], "apiKey": "sk-fuzz",
                "modelOverrides": [{"id": "gpt-4o-mini", "inputPerMtok": 1.0, "outputPerMtok": 2.0}]}
    api_chat = {"messages": [{"role": "user", "content": "hi"}], "model": "gpt-4o-mini", "stream": False,
                "temperature": 0.2, "maxTokens": 8, "preferences": {"strategy": "cost", "maxCost": 1.0,
                                                                      "maxLatency": 5000, "fallback": "strict"},
                "context": {"files": [{"path": "a.txt", "content": "x"}, "notes/b.md"]}}
    runtime = {"timeouts": {"totalMs": 60000, "firstTokenMs": 10000, "connectMs": 2000},
               "retries": {"maxAttempts": 2}, "fallback": "strict"}
    window = {"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z", "limit": "10"}
    return [
        Route("GET", "/api/health"),
        Route("GET", "/api/health/detailed"),
        Route("GET", "/metrics"),
        Route("GET", "/api/workspaces", query={"limit": "5", "cursor": "abc"}),
        Route("POST", "/api/workspaces", {"slug": "fz-ws", "name": "Fuzz", "description": "d", "tier": "standard",
                                          "keyName": "k"}),
        Route("GET", "/api/workspaces/{slug}"),
        Route("PATCH", "/api/workspaces/{slug}", {"name": "N", "description": "D"}),
        Route("DELETE", "/api/workspaces/{badslug}"),
        Route("GET", "/api/workspaces/{slug}/health"),
        Route("GET", "/api/workspaces/{slug}/limits"),
        Route("PATCH", "/api/workspaces/{slug}/limits", {"tier": "enterprise", "overrides": {"requestsPerMinute": 5000,
                                                                                           "burst": 500}}),
        Route("GET", "/api/workspaces/{slug}/runtime"),
        Route("PATCH", "/api/workspaces/{slug}/runtime", runtime),
        Route("GET", "/api/workspaces/{slug}/restrictions"),
        Route("PATCH", "/api/workspaces/{slug}/restrictions", {"blockedProviders": ["zz"], "allowedModels": None,
                                                               "blockedModels": ["m"]}),
        Route("GET", "/api/workspaces/{slug}/keys"),
        Route("POST", "/api/workspaces/{slug}/keys", {"name": "fz-key"}),
        Route("DELETE", "/api/workspaces/{slug}/keys/{badid}"),
        Route("GET", "/api/workspaces/{slug}/strategy"),
        Route("PUT", "/api/workspaces/{slug}/strategy", {"strategy": "balanced"}),
        Route("GET", "/api/admin/audit", query={"workspace": "fuzz", "actor": "x", "action": "y", **window,
                                                "cursor": "c"}),
        Route("POST", "/v1/chat/completions", chat),
        Route("GET", "/v1/models"),
        Route("GET", "/v1/models/{model}"),
        Route("POST", "/v1/embeddings", {"model": "text-embedding-3-small", "input": ["a", "b"],
                                         "encoding_format": "float"}),
        Route("GET", "/api/providers", query={"workspace": "fuzz"}),
        Route("POST", "/api/providers", provider),
        Route("GET", "/api/providers/discover", query={"urls": "SAFE"}),
        Route("GET", "/api/providers/capabilities"),
        Route("GET", "/api/providers/{provider}"),
        Route("PATCH", "/api/providers/{provider}", {"name": "n", "models": ["gpt-4o-mini"], "status": "active",
                                                      "baseUrl": f"{mock_base}/v1", "apiKey": "sk-2"}),
        Route("DELETE", "/api/providers/{badid}"),
        Route("GET", "/api/providers/{provider}/health"),
        Route("POST", "/api/providers/{provider}/test", {"model": "gpt-4o-mini"}),
        Route("GET", "/api/strategies"),
        Route("POST", "/api/strategies", {"id": "fz-strat", "name": "S", "description": "D", "weights": weights,
                                          "constraints": {"maxCost": 0.5, "maxLatency": 2000}}),
        Route("GET", "/api/strategies/{strategy}"),
        Route("PATCH", "/api/strategies/{strategy}", {"name": "S2", "weights": weights}),
        Route("DELETE", "/api/strategies/{badid}"),
        Route("POST", "/api/strategies/{strategy}/calibrate", None, {"days": "7"}),
        Route("GET", "/api/traces", query={"workspace": "default", **window, "provider": "mock", "model": "m",
                                           "intent": "code", "strategy": "cost", "status": "success",
                                           "minCost": "0", "maxCost": "1", "minLatency": "0", "maxLatency": "9",
                                           "replayOf": "t", "cursor": "c"}),
        Route("GET", "/api/traces/recent", query={"window": "15m", "limit": "5"}),
        Route("GET", "/api/traces/analytics", query={**window, "window": "24h", "interval": "1h",
                                                     "groupBy": "provider"}),
        Route("GET", "/api/traces/{trace}"),
        Route("GET", "/api/traces/{trace}/explain"),
        Route("GET", "/api/traces/{trace}/economics"),
        Route("POST", "/api/traces/{trace}/replay", {"mode": "dry-run", "against": "both", "strategy": "cost"}),
        Route("GET", "/api/traces/{trace}/compare/{trace2}"),
        Route("POST", "/api/chat", api_chat),
        Route("GET", "/api/conversations", query={"workspace": "default", "limit": "5", "cursor": "c"}),
        Route("GET", "/api/conversations/{conversation}"),
        Route("DELETE", "/api/conversations/{badid}"),
        Route("POST", "/api/conversations/{conversation}/messages", {k: v for k, v in api_chat.items()}),
        Route("GET", "/api/economics/budget", query={"workspace": "fuzz"}),
        Route("PATCH", "/api/economics/budget", {"monthlyBudget": 100.0, "weeklyAlertThreshold": 10.0,
                                                 "reserveOutputTokens": 1000, "workspace": "fuzz"}),
        Route("GET", "/api/economics/summary", query={"workspace": "fuzz", **window}),
        Route("GET", "/api/economics/providers", query={"workspace": "fuzz", **window}),
        Route("GET", "/api/economics/categories", query={"workspace": "fuzz", **window}),
        Route("GET", "/api/economics/savings", query={"workspace": "fuzz", **window}),
        Route("GET", "/api/economics/insights", query={"workspace": "fuzz", **window}),
        Route("POST", "/api/economics/simulate", {"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z",
                                                  "strategy": "cost", "monthlyBudget": 10.0,
                                                  "prices": {"gpt-4o-mini": {"inputPerMtok": 1.0,
                                                                             "outputPerMtok": 2.0}},
                                                  "workspace": "fuzz"}),
        Route("GET", "/api/economics/simulate/{sim}"),
    ]


HOSTILE_SEGMENTS = [
    "%00", "a%00b", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "..", "%ZZ", "%", "x" * 3000, "%F0%9F%92%A9", "%C0%AE",
    "%FF%FE", "null", "-1", "0", "99999999999999999999999999", "1e999", "%20", "%0A%0D", "'%3B--", "%22%7B%7D",
    "%5B%5D", "a%2Fb", "%C3%A9t%C3%A9", "%E2%80%AE", "*", "~",
]
HOSTILE_QUERY = [
    "%00", "a%00", "-1", "0", "1e999", "NaN", "Infinity", "99999999999999999999999999", "", "%ZZ", "true",
    "[]", "%7B%7D", "2026-13-45", "2026-01-01T25:61:00Z", "x" * 5000, "-99999999999999999999", "0.000000001",
    "%F0%9F%92%A9", "%FF", "15q", "1h%00", "none", "..%2F..%2F",
]
SAFE_URLS = ["http://127.0.0.1:9/v1", "http://127.0.0.1:1", "not a url", "http://127.0.0.1:9/v1?api_key=sk-x",
             "http://user:secret@127.0.0.1:9/v1", "ftp://127.0.0.1/x", "http://[::1]:9/", "http://127.0.0.1:9/\u0000",
             "", "http://localhost:9", "file:///etc/passwd", "http://0.0.0.0:9", "http://127.0.0.1:99999"]
WEIRD_VALUES: list[Any] = [
    None, True, False, 0, -1, 1.5, -0.0, 1e308, -1e308, 2**63, 2**64, -(2**63) - 1, 10**40, -(10**40),
    "", "\u0000", "a\u0000b", "x" * 70_000, "\ud7ff\ue000", "🙂" * 100, " ", "null", "1e999", [], {}, [1, 2],
    {"a": {"b": {"c": None}}}, ["\u0000"], [None], 4294967296, 65536, 0.1, -2147483649,
]
URL_KEYS = {"baseUrl", "base_url", "url", "urls"}


class Fuzzer:
    def __init__(self, gw: Gateway, rng: random.Random, mock_base: str, ids: dict[str, list[str]],
                 ws_key: str):
        self.gw = gw
        self.rng = rng
        self.routes = routes(mock_base)
        self.ids = ids
        self.ws_key = ws_key

    def segment(self, kind: str) -> str:
        r = self.rng
        real = self.ids.get(kind, [])
        if kind.startswith("bad") or not real or r.random() < 0.6:
            return r.choice(HOSTILE_SEGMENTS)
        return r.choice(real)

    def path(self, route: Route) -> str:
        out = route.path
        for kind in ("slug", "badslug", "badid", "trace2", "trace", "provider", "strategy", "conversation",
                     "model", "sim"):
            while "{" + kind + "}" in out:
                out = out.replace("{" + kind + "}", self.segment(kind), 1)
        return out

    def query(self, route: Route) -> str:
        r = self.rng
        q = dict(route.query or {})
        for k in list(q):
            if k in URL_KEYS:
                q[k] = _enc(r.choice(SAFE_URLS))
            elif r.random() < 0.5:
                q[k] = r.choice(HOSTILE_QUERY)
            else:
                q[k] = _enc(str(q[k]))
        if r.random() < 0.3:
            q[r.choice(["zzz", "limit", "cursor", "workspace", "%00", "from"])] = r.choice(HOSTILE_QUERY)
        if not q:
            return ""
        parts = [f"{k}={v}" for k, v in q.items()]
        if r.random() < 0.1:
            parts.append(parts[0])  # a repeated parameter
        return "?" + "&".join(parts)

    def mutate_value(self, key: str | None, v: Any, depth: int = 0) -> Any:
        r = self.rng
        if key in URL_KEYS:
            return r.choice(SAFE_URLS) if r.random() < 0.8 else r.choice([None, 0, [], {}])
        if isinstance(v, dict) and v and r.random() < 0.7 and depth < 4:
            return self.mutate_dict(v, depth + 1)
        if isinstance(v, list) and v and r.random() < 0.5 and depth < 4:
            i = r.randrange(len(v))
            out = list(v)
            out[i] = self.mutate_value(None, v[i], depth + 1)
            if r.random() < 0.2:
                out = out * r.choice([50, 1000])
            return out
        if isinstance(v, str) and r.random() < 0.4:
            i = r.randrange(len(v) + 1)
            return v[:i] + r.choice(["\u0000", "\u202e", "\ufffd", "%00", "\\", "\"", "\n"]) + v[i:]
        if isinstance(v, (int, float)) and not isinstance(v, bool) and r.random() < 0.5:
            return r.choice([2**63, 2**64 + 1, -(2**63) - 1, 1e308, -1e308, 10**30, -1, 0, 1e-320, 2**53 + 1])
        return r.choice(WEIRD_VALUES)

    def mutate_dict(self, d: dict, depth: int = 0) -> dict:
        r = self.rng
        out = copy.deepcopy(d)
        for _ in range(r.choice([1, 1, 2, 3])):
            op = r.random()
            if op < 0.55 and out:
                k = r.choice(list(out))
                out[k] = self.mutate_value(k, out[k], depth)
            elif op < 0.7 and out:
                del out[r.choice(list(out))]
            elif op < 0.85:
                out[r.choice(["zzz", "\u0000", "id", "workspace", "slug", "stream", "n", "layerr"])] = \
                    r.choice(WEIRD_VALUES)
            elif out:
                k = r.choice(list(out))
                out[k] = r.choice(WEIRD_VALUES)
        return out

    def body(self, route: Route) -> tuple[bytes | None, str | None]:
        """(raw body, content type)."""
        r = self.rng
        tpl = route.body if route.body is not None else {}
        if route.method in ("GET", "DELETE") and r.random() < 0.8:
            return None, None
        x = r.random()
        if x < 0.55:
            v: Any = self.mutate_dict(tpl) if isinstance(tpl, dict) else tpl
            return json.dumps(v).encode(), "application/json"
        if x < 0.65:
            v = r.choice([[], "str", 123, None, {}, [tpl], 1e308, True])
            return json.dumps(v).encode(), "application/json"
        if x < 0.7:
            depth = r.choice([200, 5000])
            return (b"[" * depth + b"]" * depth), "application/json"
        if x < 0.77:
            raw = json.dumps(tpl).encode()
            return raw[: r.randrange(max(1, len(raw)))], "application/json"
        if x < 0.82:
            raw = json.dumps(tpl).encode()
            i = r.randrange(len(raw) + 1)
            return raw[:i] + r.choice([b"\xff\xfe", b"\xc0\x80", b"\xed\xa0\x80", b"\x00"]) + raw[i:], "application/json"
        if x < 0.86:
            raw = json.dumps(tpl)
            return r.choice([raw.replace("0.5", "NaN", 1), raw.replace("8", "1e999", 1), "\ufeff" + raw,
                             raw[:-1] + ', "a": 1, "a": 2}' if raw.endswith("}") else raw]).encode(), "application/json"
        if x < 0.9:
            return json.dumps(tpl).encode(), r.choice(["text/plain", "application/x-www-form-urlencoded",
                                                       "multipart/form-data", None, "application/json; charset=latin1"])
        if x < 0.92:
            return b"", "application/json"
        if x < 0.925:
            return b'{"a": "' + b"x" * (5 << 20) + b'"}', "application/json"
        return json.dumps(tpl).encode(), "application/json"

    def key(self) -> str | None:
        x = self.rng.random()
        if x < 0.6:
            return self.gw.admin_key
        if x < 0.85:
            return self.ws_key
        if x < 0.95:
            return self.rng.choice(["lyr_" + "0" * 40, "garbage", "lyr_%00", "", "Basic eA=="])
        return None


def _enc(s: str) -> str:
    from urllib.parse import quote

    return quote(s, safe="")


def directed(mock_base: str) -> list[tuple[str, str, Any, str]]:
    """The probe's own findings (issue 9, item 5 and 10), sent as they were: (method, path, body, key)
    with key "admin" or "ws". Each must answer without 500/503 and in the envelope when an error."""
    w = {"quality": 1.0, "speed": 0.0, "cost": 0.0}
    nul = "a\u0000b"
    return [
        ("POST", "/api/workspaces", {"slug": "nul-a", "name": nul}, "admin"),
        ("POST", "/api/workspaces", {"slug": "nul-b", "description": nul}, "admin"),
        ("POST", "/api/workspaces", {"slug": "nul\u0000c"}, "admin"),
        ("PATCH", "/api/workspaces/fuzz", {"name": nul}, "ws"),
        ("PATCH", "/api/workspaces/fuzz", {"description": nul}, "ws"),
        ("POST", "/api/workspaces/fuzz/keys", {"name": nul}, "admin"),
        ("POST", "/api/providers", {"id": "nul-p", "name": nul, "type": "openai", "baseUrl": f"{mock_base}/v1",
                                    "models": ["gpt-4o-mini"], "apiKey": "sk-x"}, "admin"),
        ("POST", "/api/providers", {"id": "nul-q", "name": "q", "type": "openai", "baseUrl": f"{mock_base}/v1",
                                    "models": [nul], "apiKey": "sk-x"}, "admin"),
        ("PATCH", "/api/providers/mock", {"name": nul}, "admin"),
        ("POST", "/api/providers/mock/test", {"model": nul}, "admin"),
        ("POST", "/api/strategies", {"id": "nul-s", "name": nul, "weights": w}, "admin"),
        ("POST", "/api/strategies", {"id": "nul-t", "description": nul, "weights": w}, "ws"),
        ("POST", "/api/chat", {"messages": [{"role": "user", "content": f"hello {nul}"}]}, "admin"),
        ("POST", "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": nul}],
                                          "user": nul}, "ws"),
        ("POST", "/v1/embeddings", {"model": "text-embedding-3-small", "input": nul}, "ws"),
        ("GET", "/api/workspaces/%00", None, "admin"),
        ("GET", "/api/workspaces/a%00b/keys", None, "admin"),
        ("GET", "/api/traces/%00", None, "admin"),
        ("GET", "/api/traces/%00/explain", None, "ws"),
        ("GET", "/api/traces/x/compare/%00", None, "admin"),
        ("GET", "/api/traces?workspace=%00", None, "admin"),
        ("GET", "/api/traces?provider=%00&model=%00&cursor=%00", None, "ws"),
        ("GET", "/api/traces/recent?window=%00", None, "admin"),
        ("GET", "/api/traces/analytics?groupBy=%00", None, "admin"),
        ("GET", "/api/providers/%00", None, "admin"),
        ("GET", "/api/providers/%00/health", None, "ws"),
        ("GET", "/api/strategies/%00", None, "admin"),
        ("GET", "/api/conversations/%00", None, "admin"),
        ("GET", "/api/conversations?cursor=%00", None, "ws"),
        ("GET", "/api/admin/audit?actor=%00&action=%00&workspace=%00", None, "admin"),
        ("GET", "/api/admin/audit?cursor=%00", None, "admin"),
        ("GET", "/api/economics/budget?workspace=%00", None, "admin"),
        ("GET", "/api/economics/summary?workspace=%00", None, "admin"),
        ("GET", "/api/economics/simulate/%00", None, "admin"),
        ("GET", "/v1/models/%00", None, "ws"),
        ("DELETE", "/api/conversations/%00", None, "ws"),
        ("DELETE", "/api/workspaces/fuzz/keys/%00", None, "admin"),
    ]


@dataclass
class Hit:
    method: str
    route: str
    url: str
    status: int
    body: str
    response: str
    reason: str


async def fuzz_store(ctx: Ctx, mock: Mock, store: str, n: int, seed: int) -> dict:
    db_url = ctx.pg().createdb(f"fuzz_{store}") if store == "postgres" else None
    gw = Gateway(ctx, f"fuzz-{store}", database_url=db_url)
    await gw.start()
    statuses: dict[int, int] = {}
    offenders: list[Hit] = []
    per_route: dict[str, int] = {}
    async with session(limit=32) as s:
        await gw.add_provider(s, "mock", f"{mock.base}/v1", ["gpt-4o-mini", "text-embedding-3-small"])
        ws = await gw.admin(s, "POST", "/api/workspaces", {"slug": "fuzz", "name": "Fuzz", "tier": "enterprise"})
        ws_key = ws["apiKey"]["key"]
        await gw.admin(s, "POST", "/api/strategies", {"id": "fz-base", "weights": {"quality": 1, "speed": 0, "cost": 0}})
        trace_ids = []
        async with s.post(gw.base + "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": [
                {"role": "user", "content": "hello"}]}, headers=gw.headers()) as r:
            await r.read()
            if r.headers.get("x-layerr-trace-id"):
                trace_ids.append(r.headers["x-layerr-trace-id"])
        chat = await gw.admin(s, "POST", "/api/chat", {"messages": [{"role": "user", "content": "hi"}]})
        conv = (chat or {}).get("conversationId") if isinstance(chat, dict) else None
        keys = await gw.admin(s, "GET", "/api/workspaces/fuzz/keys")
        key_ids = [k.get("id") for k in (keys if isinstance(keys, list) else []) if isinstance(k, dict)]
        ids = {"slug": ["default", "fuzz"], "trace": trace_ids, "trace2": trace_ids, "provider": ["mock"],
               "strategy": ["fz-base", "balanced"], "conversation": [conv] if conv else [], "model": ["gpt-4o-mini"],
               "key": [k for k in key_ids if k], "sim": []}
        await gw.wait_projection(s, "traces", timeout=30)
        # The probe's findings first, then the random requests.
        directed_bad: list[str] = []
        for method, path, body, who in directed(mock.base):
            key = gw.admin_key if who == "admin" else ws_key
            headers = {"authorization": f"Bearer {key}"}
            raw = json.dumps(body).encode() if body is not None else None
            if raw is not None:
                headers["content-type"] = "application/json"
            try:
                async with s.request(method, URL(gw.base + path, encoded=True), data=raw, headers=headers,
                                     timeout=aiohttp.ClientTimeout(total=60)) as r:
                    resp = await r.read()
                    status = r.status
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                status, resp = -1, type(e).__name__.encode()
            try:
                data = json.loads(resp)
            except ValueError:
                data = None
            why = None
            if status in (-1, 500, 503):
                why = f"{status}"
            elif status >= 400 and not is_envelope(data):
                why = f"{status} without the envelope"
            elif path == "/api/chat" and status == 200:
                # A conversation answered 200 must be stored.
                cid = (data or {}).get("data", {}).get("conversationId") if isinstance(data, dict) else None
                st2 = -1
                for _ in range(40):
                    st2, _, _ = await gw.call(s, "GET", f"/api/conversations/{cid}")
                    if st2 == 200:
                        break
                    await asyncio.sleep(0.1)
                if st2 != 200:
                    why = f"200 but GET /api/conversations/{cid} answers {st2}"
            statuses[status] = statuses.get(status, 0) + 1
            if why:
                directed_bad.append(f"`{method} {path[:60]}` {json.dumps(body)[:60] if body else ''}: {why} "
                                    f"{resp[:100].decode(errors='replace')}")
                offenders.append(Hit(method, "(directed) " + path.split("?")[0], path, status,
                                     json.dumps(body)[:160] if body else "", resp[:200].decode(errors="replace"),
                                     why))
        fz = Fuzzer(gw, random.Random(seed), mock.base, ids, ws_key)
        sem = asyncio.Semaphore(8)
        t0 = time.monotonic()

        async def one(i: int) -> None:
            route = fz.rng.choice(fz.routes)
            path = fz.path(route) + fz.query(route)
            raw, ctype = fz.body(route)
            key = fz.key()
            headers = {}
            if key is not None:
                headers["authorization"] = f"Bearer {key}"
            if ctype:
                headers["content-type"] = ctype
            async with sem:
                try:
                    async with s.request(route.method, URL(gw.base + path, encoded=True), data=raw, headers=headers,
                                         timeout=aiohttp.ClientTimeout(total=60)) as r:
                        resp = await r.read()
                        status = r.status
                except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as e:
                    status, resp = -1, f"{type(e).__name__}: {e}".encode()
            statuses[status] = statuses.get(status, 0) + 1
            per_route[f"{route.method} {route.path}"] = per_route.get(f"{route.method} {route.path}", 0) + 1
            reason = None
            if status == -1:
                reason = "no HTTP answer"
            elif status == 500:
                reason = "500"
            elif status == 503:
                reason = "503 with the store up"
            elif status >= 400:
                try:
                    ok = is_envelope(json.loads(resp))
                except ValueError:
                    ok = False
                if not ok:
                    reason = f"{status} without the error envelope"
            if reason:
                offenders.append(Hit(route.method, route.path, path[:200], status,
                                     (raw or b"")[:160].decode(errors="replace"),
                                     resp[:200].decode(errors="replace"), reason))

        await asyncio.gather(*(one(i) for i in range(n)))
        wall = time.monotonic() - t0
        alive = gw.alive()
        st, _, _ = await gw.call(s, "GET", "/api/health")
    await gw.stop()
    log(f"fuzz {store}: {n} requests in {wall:.0f} s; statuses {dict(sorted(statuses.items()))}; "
        f"{len(offenders)} offenders")
    return {"store": store, "requests": n + len(directed(mock.base)), "directed": len(directed(mock.base)),
            "directed_bad": directed_bad, "seed": seed, "seconds": round(wall, 1), "statuses": statuses,
            "offenders": offenders, "alive": alive and st == 200, "routes": len(per_route)}


async def run(ctx: Ctx, mock: Mock) -> None:
    rep = ctx.report
    stores = ["sqlite"] if ctx.short else ["sqlite", "postgres"]
    n = 400 if ctx.short else 4000
    results = []
    for store in stores:
        r = await fuzz_store(ctx, mock, store, n, SEED)
        results.append(r)
        offs = r["offenders"]
        n500 = sum(1 for o in offs if o.status == 500)
        n503 = sum(1 for o in offs if o.status == 503)
        bare = sum(1 for o in offs if "envelope" in o.reason)
        noans = sum(1 for o in offs if o.status == -1)
        rep.goal("fuzz", f"{store}: the probe's {r['directed']} directed cases (NUL, %00) answered cleanly",
                 not r["directed_bad"], f"{len(r['directed_bad'])} failed" + (": " + "; ".join(r["directed_bad"][:5])
                                                                           if r["directed_bad"] else ""))
        rep.goal("fuzz", f"{store}: no 500", n500 == 0, f"{n500} of {r['requests']} requests answered 500")
        rep.goal("fuzz", f"{store}: no 503 with the store up", n503 == 0, f"{n503} answered 503")
        rep.goal("fuzz", f"{store}: every error in the envelope", bare == 0, f"{bare} error responses without it")
        rep.goal("fuzz", f"{store}: every request answered, process alive", noans == 0 and r["alive"],
                 f"{noans} without an HTTP answer; alive after: {r['alive']}")
    rows = [[r["store"], r["requests"], r["routes"], r["seconds"],
             ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items())), len(r["offenders"])] for r in results]
    md = (f"Each run: the probe's directed cases (NUL characters in names and descriptions, `%00` in ids and "
          f"parameters), then random requests. Seed {SEED}; concurrency 8; keys: admin 60%, workspace 25%, "
          "bad 10%, none 5%.\n\n"
          + table(["store", "requests", "routes hit", "seconds", "statuses", "offenders"], rows))
    for r in results:
        if not r["offenders"]:
            continue
        seen: dict[tuple, Hit] = {}
        counts: dict[tuple, int] = {}
        for o in r["offenders"]:
            k = (o.method, o.route, o.reason)
            seen.setdefault(k, o)
            counts[k] = counts.get(k, 0) + 1
        md += f"\n\nOffenders on {r['store']} ({len(r['offenders'])}; one example per route and kind):\n\n" + table(
            ["route", "kind", "count", "example request", "example response"],
            [[f"`{k[0]} {k[1]}`", k[2], counts[k], f"`{o.url[:90]}` {o.body[:80]!r}", o.response[:120]]
             for k, o in sorted(seen.items())])
    rep.data["fuzz"] = [{**r, "offenders": [o.__dict__ for o in r["offenders"][:200]]} for r in results]
    rep.section("e. Bad-input fuzz of every route", md)
