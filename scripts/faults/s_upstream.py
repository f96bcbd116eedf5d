"""(d) Upstream fault modes with fallback and breakers.

Per mode, a chain of two OpenAI-format providers serving one model of its own: `a-MODE` on a
faulty mock (the mode's behaviour, forever, for that model) and `b-MODE` on a healthy one (ids
sort a < b, so with equal scores the router tries the faulty one first; each mode has its own
providers, so one mode's breaker never affects the next). The default workspace's runtime
profile bounds a request at TOTAL_MS (first token: FIRST_TOKEN_MS). Per mode: the statuses seen,
which provider served (`x-layerr-provider`, from `layerr.explain`), latency, and how many
requests reached the faulty provider (once its breaker is open, none should)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import aiohttp

from common import Ctx, Gateway, Mock, log, ms, pct, session, table

TOTAL_MS = 20_000
FIRST_TOKEN_MS = 3_000
HUGE = 100_000_000
BUDGET_USD = 1_000_000


@dataclass
class Mode:
    name: str
    behavior: dict
    stream: bool
    expect: str  # fallback | told | bounded | usage
    model: str = ""
    concurrent: bool = False
    what: str = ""


MODES = [
    Mode("5xx", {"status": 500}, False, "fallback", what="500 with the provider's error body"),
    Mode("429-retry-after", {"status": 429, "retry_after": 30}, False, "fallback", what="429, Retry-After: 30"),
    Mode("reset", {"drop": True}, False, "fallback", what="connection closed without a response"),
    Mode("hang", {"hang": True}, False, "fallback", what="request read, no response ever"),
    Mode("slow-first-byte", {"delay_ms": 8_000}, True, "fallback",
         what=f"stream, headers after 8 s (firstTokenMs {FIRST_TOKEN_MS})"),
    Mode("mid-stream-cut", {"cut_after_chunks": 3}, True, "told", what="stream aborted after 3 events"),
    Mode("malformed-sse", {"malformed": True}, True, "told", what="stream: one valid event, then junk"),
    Mode("malformed-json", {"malformed": True}, False, "fallback", what="200 with a body that is not JSON"),
    Mode("empty-choices", {"empty_choices": True}, False, "fallback", what="200 with `choices: []`"),
    Mode("non-sse-body", {"plain_body": True}, True, "fallback", what="stream request answered with a JSON body"),
    Mode("huge-body", {"body_bytes": HUGE}, False, "bounded", what="a 100 MB JSON answer"),
    Mode("huge-stream", {"body_bytes": HUGE}, True, "bounded", what="a 100 MB stream"),
    Mode("absurd-usage-i64", {"usage_tokens": 2**63 - 1}, False, "usage", model="gpt-4.1", concurrent=True,
         what="usage of i64::MAX tokens, 3+ concurrent requests"),
    Mode("absurd-usage-u64", {"usage_tokens": 2**64 - 1}, False, "usage", model="claude-sonnet-4", concurrent=True,
         what="usage of u64::MAX tokens"),
]
SHORT_MODES = {"5xx", "hang", "malformed-json", "empty-choices", "mid-stream-cut", "absurd-usage-i64"}


@dataclass
class Outcome:
    status: int
    provider: str | None
    latency: float
    content: str = ""
    bytes: int = 0
    done: bool = False
    error_event: bool = False
    error: str | None = None
    trace_id: str | None = None


def parse_sse(text: str) -> tuple[str, bool, bool]:
    content, done, error = [], False, False
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            done = True
            continue
        try:
            v = json.loads(data)
        except ValueError:
            continue
        if isinstance(v, dict) and "error" in v:
            error = True
        for c in (v.get("choices") or []) if isinstance(v, dict) else []:
            piece = (c.get("delta") or {}).get("content")
            if isinstance(piece, str):
                content.append(piece)
    return "".join(content), done, error


async def request(s: aiohttp.ClientSession, gw: Gateway, mode: Mode, i: int) -> Outcome:
    body = {"model": mode.model, "messages": [{"role": "user", "content": f"upstream fault {mode.name} #{i}"}],
            "max_tokens": 16, "layerr": {"explain": True}}
    if mode.stream:
        body["stream"] = True
    t0 = time.monotonic()
    try:
        async with s.post(gw.base + "/v1/chat/completions", json=body, headers=gw.headers(),
                          timeout=aiohttp.ClientTimeout(total=TOTAL_MS / 1000 + 30)) as r:
            o = Outcome(r.status, r.headers.get("x-layerr-provider"), 0.0, trace_id=r.headers.get("x-layerr-trace-id"))
            n = 0
            chunks = []
            tail = b""
            try:
                async for chunk in r.content.iter_chunked(1 << 16):
                    n += len(chunk)
                    if n <= 1 << 20:
                        chunks.append(chunk)
                    else:
                        # Past the first MiB only the last 64 KiB are kept (how the body ended).
                        tail = (tail + chunk)[-(1 << 16):]
            except aiohttp.ClientError as e:
                o.error = f"body: {type(e).__name__}"
            o.bytes = n
            head = b"".join(chunks)
            if tail:
                # Drop the partial first line of the tail.
                tail = tail[tail.find(b"\n") + 1:]
            text = (head + (b"\n\n" + tail if tail else b"")).decode(errors="replace")
            if mode.stream and r.status == 200 and "text/event-stream" in r.headers.get("content-type", ""):
                o.content, o.done, o.error_event = parse_sse(text)
            elif r.status >= 400:
                try:
                    o.error = json.loads(text)["error"]["code"]
                except (ValueError, KeyError, TypeError):
                    o.error = "not enveloped"
            elif r.status == 200:
                try:
                    v = json.loads(text)
                    o.content = ((v.get("choices") or [{}])[0].get("message") or {}).get("content") or ""
                    o.done = True
                except (ValueError, AttributeError, IndexError):
                    o.error = o.error or "200 with a body that is not a chat completion"
            o.latency = time.monotonic() - t0
            return o
    except asyncio.TimeoutError:
        return Outcome(-1, None, time.monotonic() - t0, error="client timeout")
    except aiohttp.ClientError as e:
        return Outcome(-1, None, time.monotonic() - t0, error=type(e).__name__)


async def faulty_calls(s: aiohttp.ClientSession, mock: Mock, model: str) -> int:
    reqs = await mock.control(s, "GET", "/requests")
    return sum(1 for r in reqs if isinstance(r.get("body"), dict) and r["body"].get("model") == model)


def judge(mode: Mode, outs: list[Outcome], rss_growth: int) -> tuple[bool, str]:
    served_b = sum(1 for o in outs if o.status == 200 and o.provider == f"b-{mode.name}" and o.content)
    n = len(outs)
    if mode.expect == "fallback":
        return served_b == n, f"{served_b} of {n} answered 200 with content by the fallback"
    if mode.expect == "told":
        # After the first event a stream cannot fall back: the client must be told (an error
        # event), never a silent truncated success, never a hang.
        ok = [o for o in outs if (o.status == 200 and o.provider == f"b-{mode.name}" and o.content and o.done)
              or o.error_event or (o.status >= 400)]
        silent = [o for o in outs if o.status == 200 and o.done and not o.error_event and o.provider != f"b-{mode.name}"]
        return len(ok) == n, (f"{len(ok)} of {n} served by the fallback or ended with an error event; "
                              f"{len(silent)} ended as a success from the faulty provider")
    if mode.expect == "bounded":
        relayed = max((o.bytes for o in outs), default=0)
        # A stream cut for its size must say so (an error event), not end as a success.
        silent = [o for o in outs if o.status == 200 and o.provider != f"b-{mode.name}" and not o.error_event]
        ok = relayed < HUGE and rss_growth < 64 << 20 and all(o.status >= 0 for o in outs) and not silent
        return ok, (f"largest body relayed {relayed / 1e6:.1f} MB (goal < {HUGE / 1e6:.0f} MB), "
                    f"gateway RSS +{rss_growth / 2**20:.0f} MiB (goal < 64), {served_b} of {n} served by the fallback, "
                    f"{len(silent)} cut without an error event")
    return True, ""


async def run(ctx: Ctx, healthy: Mock) -> None:
    rep = ctx.report
    modes = [m for m in MODES if not ctx.short or m.name in SHORT_MODES]
    per_mode = 3 if ctx.short else 8
    faulty = Mock(ctx, "mock-faulty", record=True)
    gw = Gateway(ctx, "upstream")
    await gw.start()
    rows = []
    async with session() as s:
        await gw.admin(s, "PATCH", "/api/workspaces/default/runtime",
                       {"timeouts": {"totalMs": TOTAL_MS, "firstTokenMs": FIRST_TOKEN_MS}})
        await gw.admin(s, "PATCH", "/api/economics/budget", {"monthlyBudget": BUDGET_USD, "workspace": "default"})
        for m in modes:
            m.model = m.model or f"fault-{m.name}"
            await gw.add_provider(s, f"a-{m.name}", f"{faulty.base}/v1", [m.model])
            await gw.add_provider(s, f"b-{m.name}", f"{healthy.base}/v1", [m.model])
            await faulty.control(s, "POST", "/behavior", {**m.behavior, "model": m.model, "forever": True})
        for m in modes:
            rss0 = gw.rss()
            peak = [rss0]

            async def sample_rss() -> None:
                while True:
                    peak[0] = max(peak[0], gw.rss())
                    await asyncio.sleep(0.05)

            sampler = asyncio.create_task(sample_rss())
            if m.concurrent:
                outs = list(await asyncio.gather(*(request(s, gw, m, i) for i in range(max(3, per_mode)))))
            else:
                outs = [await request(s, gw, m, i) for i in range(per_mode)]
            sampler.cancel()
            growth = max(0, peak[0] - rss0)
            calls = await faulty_calls(s, faulty, m.model)
            ok, detail = judge(m, outs, growth)
            statuses: dict[str, int] = {}
            for o in outs:
                k = str(o.status) if o.status >= 0 else (o.error or "none")
                if o.status >= 400 and o.error:
                    k += f" {o.error}"
                if o.status == 200 and o.error_event:
                    k += "+error event"
                statuses[k] = statuses.get(k, 0) + 1
            served = {}
            for o in outs:
                served[o.provider or "-"] = served.get(o.provider or "-", 0) + 1
            lat = [o.latency for o in outs]
            row = {"mode": m.name, "what": m.what, "stream": m.stream, "requests": len(outs),
                   "statuses": ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())),
                   "served_by": ", ".join(f"{k}: {v}" for k, v in sorted(served.items())),
                   "faulty_calls": calls, "p50_ms": ms(pct(lat, 50)), "max_ms": ms(max(lat)),
                   "rss_growth_mib": round(growth / 2**20, 1), "ok": ok, "detail": detail}
            if m.expect == "usage":
                st, data, _ = await gw.call(s, "GET", "/api/economics/budget?workspace=default")
                spent = data.get("data", {}).get("spentThisMonth") if st == 200 and isinstance(data, dict) else None
                sane = isinstance(spent, (int, float)) and 0 <= spent <= BUDGET_USD
                served = all(o.status == 200 and o.content for o in outs)
                ok = sane and served
                detail = (f"statuses {row['statuses']} (goal: all 200, by either provider); budget route {st}, "
                          f"spentThisMonth {spent} (goal: 0 <= spent <= the ${BUDGET_USD:,} budget)")
                row.update(ok=ok, detail=detail, spent=spent)
            rows.append(row)
            rep.goal("upstream", f"{m.name}: {m.what}", ok, detail)
            log(f"upstream {m.name}: {row['statuses']} served by {row['served_by']}; faulty calls {calls}; "
                f"p50 {row['p50_ms']} ms max {row['max_ms']} ms")
        # The ledger and the economics read models must survive what the modes recorded: restart.
        await gw.stop()
        t0 = time.monotonic()
        restarted, why = True, ""
        try:
            await gw.start(timeout=60)
        except RuntimeError as e:
            restarted, why = False, str(e).splitlines()[0]
        up_s = time.monotonic() - t0
        econ = {}
        if restarted:
            for path in ("/api/economics/budget?workspace=default", "/api/economics/summary?workspace=default"):
                st, _, _ = await gw.call(s, "GET", path)
                econ[path.split("?")[0]] = st
        ok = restarted and all(v == 200 for v in econ.values())
        rep.goal("upstream", "gateway restarts after the fault modes; economics routes answer", ok,
                 f"restart {'ok in %.1f s' % up_s if restarted else 'FAILED: ' + why}; "
                 + ", ".join(f"{k} {v}" for k, v in econ.items()))
        if restarted:
            await gw.stop()
    faulty.stop()
    rep.data["upstream"] = rows
    rep.section(
        "d. Upstream fault modes (chain of two providers, the first faulty)",
        f"{per_mode} requests per mode, one after the other (the absurd-usage modes: concurrently); runtime "
        f"`timeouts.totalMs` {TOTAL_MS}, `firstTokenMs` {FIRST_TOKEN_MS}, default retries; a ${BUDGET_USD:,} "
        "monthly budget on the workspace. *faulty calls*: requests that reached the faulty provider "
        "(retries included); the breaker opens after 5 consecutive failures.\n\n"
        + table(["mode", "fault", "stream", "statuses", "served by", "faulty calls", "p50 (ms)", "max (ms)",
                 "RSS growth (MiB)", "goal"],
                [[r["mode"], r["what"], "yes" if r["stream"] else "no", r["statuses"], r["served_by"],
                  r["faulty_calls"], r["p50_ms"], r["max_ms"], r["rss_growth_mib"],
                  "met" if r["ok"] else "**missed**"] for r in rows]),
    )
