"""(f) A soak: RATE req/s on SQLite for `--soak-seconds` (default 300 in the full run, 20 with
--short), sampling every SAMPLE_EVERY seconds: the gateway's RSS, the traces read model's lag
(events, from /api/health/detailed) and how long the newest answered request's trace took to
become readable (`GET /api/traces/{id}`: the read model's lag in time), the appender queue
(/metrics), and the log's appender-retry and failed-projection-batch warnings.

Goals (issue 9's "done means"): every request answered 200 at the offered rate, no appender
retries, no failed projection batches, the traces read model never more than MAX_LAG_S behind,
and RSS flat (the last fifth's mean within 25% + 16 MiB of the second fifth's)."""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp

from common import Ctx, Gateway, Mock, log, mean, ms, pct, run_load, session, status_counts, table

RATE = 200
SAMPLE_EVERY = 2.0
# /api/health/detailed and /metrics count events (scans that grow with the store): read them less
# often, so the sampling does not slow down what it measures.
HEAVY_EVERY = 10.0
MAX_LAG_S = 1.0
# Log lines that mean the appender retried a write, or a projection batch failed.
APPENDER_RETRY = r"event append failed|event store still failing|events found already stored|SQLITE_BUSY|database is locked"
PROJECTION_FAIL = r"projection batch failed"


async def visible_after(s: aiohttp.ClientSession, gw: Gateway, trace_id: str, answered_at: float,
                        timeout: float = 30) -> float | None:
    """Seconds from the answer until GET /api/traces/{id} finds the trace."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            st, _, _ = await gw.call(s, "GET", f"/api/traces/{trace_id}", timeout=10)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            st = -1
        if st == 200:
            return time.monotonic() - answered_at
        await asyncio.sleep(0.02)
    return None


async def metric(s: aiohttp.ClientSession, gw: Gateway, name: str) -> float | None:
    try:
        async with s.get(gw.base + "/metrics", headers=gw.headers(), timeout=aiohttp.ClientTimeout(total=10)) as r:
            text = await r.text()
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return None
    m = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.eE+-]+)$", text, re.M)
    return float(m.group(1)) if m else None


async def run(ctx: Ctx, mock: Mock) -> None:
    rep = ctx.report
    duration = ctx.soak_seconds
    gw = Gateway(ctx, "soak")
    await gw.start()
    samples: list[dict] = []
    results: list = []
    async with session() as s:
        await gw.add_provider(s, "mock", f"{mock.base}/v1", ["gpt-4o-mini"])
        await run_load(s, gw, rate=50, duration=2.0)  # warm-up, not counted
        await gw.wait_projection(s, "traces", timeout=30)
        log_start = len(gw.log_text().splitlines())
        t0 = time.monotonic()
        stop = asyncio.Event()
        load = asyncio.create_task(run_load(s, gw, rate=RATE, duration=duration, stop=stop, results=results,
                                            start_index=1_000_000, timeout=30))
        probes: list[asyncio.Task] = []
        last_heavy = -1e9
        while not load.done():
            await asyncio.sleep(SAMPLE_EVERY)
            now = time.monotonic()
            newest = max((r for r in results if r.status == 200 and r.trace_id), key=lambda r: r.done, default=None)
            sample = {"t": round(now - t0, 1), "rss_mib": round(gw.rss() / 2**20, 1),
                      "load1": float(open("/proc/loadavg").read().split()[0])}
            if now - last_heavy >= HEAVY_EVERY - 0.1:
                last_heavy = now
                try:
                    sample["lag_events"] = await gw.projection_lag(s, "traces")
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    sample["lag_events"] = None
                sample["health_s"] = round(time.monotonic() - now, 3)
                sample["queued"] = await metric(s, gw, "layerr_appender_queued_batches")
            sample["answered"] = sum(1 for r in results if r.status == 200)
            samples.append(sample)
            # Probe only an answer that is fresh (at 200 req/s the newest is a few ms old): once the
            # load has ended the newest answer can be seconds old, and a probe of it would count
            # that age as read-model lag.
            if newest is not None and not load.done() and now - newest.done < 0.25:
                async def probe(smp: dict = sample, tid: str = newest.trace_id, at: float = newest.done) -> None:
                    smp["visible_s"] = await visible_after(s, gw, tid, at)

                probes.append(asyncio.create_task(probe()))
        await load
        wall = time.monotonic() - t0
        await asyncio.gather(*probes)
        caught_up = await gw.wait_projection(s, "traces", timeout=60)
    log_lines = gw.log_text().splitlines()[log_start:]
    text = "\n".join(log_lines)
    retries = gw.log_count(APPENDER_RETRY, text)
    proj_fail = gw.log_count(PROJECTION_FAIL, text)
    warnings = sum(1 for line in log_lines if " WARN " in line or " ERROR " in line)
    await gw.stop()

    ok200 = [r for r in results if r.status == 200]
    lat = [r.latency for r in ok200]
    achieved = len(results) / wall if wall else 0
    vis = [x["visible_s"] for x in samples if x.get("visible_s") is not None]
    unseen = sum(1 for x in samples if "visible_s" in x and x["visible_s"] is None)
    lags = [x["lag_events"] for x in samples if x.get("lag_events") is not None]
    rss = [x["rss_mib"] for x in samples]
    fifth = max(1, len(rss) // 5)
    early, late = mean(rss[fifth: 2 * fifth]), mean(rss[-fifth:])
    summary = {"seconds": round(wall, 1), "offered_rps": RATE, "sent": len(results), "achieved_rps": round(achieved, 1),
               "statuses": status_counts(results), "p50_ms": ms(pct(lat, 50)), "p99_ms": ms(pct(lat, 99)),
               "max_ms": ms(max(lat) if lat else 0), "rss_first_mib": rss[0] if rss else None,
               "rss_max_mib": max(rss) if rss else None, "rss_last_mib": rss[-1] if rss else None,
               "lag_events_max": max(lags) if lags else None, "visible_max_s": round(max(vis), 3) if vis else None,
               "visible_p50_s": round(pct(vis, 50), 3) if vis else None, "probes_never_visible": unseen,
               "appender_retry_lines": retries, "projection_failures": proj_fail, "warn_or_error_lines": warnings,
               "caught_up_after": caught_up,
               "health_detailed_max_s": max((x["health_s"] for x in samples if "health_s" in x), default=None),
               "load_average_1m_mean": round(mean([x["load1"] for x in samples]), 2)}
    # Each refused request, so that a missed goal says why (code, reason, when, how fast).
    refused = [{"t": round(r.sent - t0, 2), "status": r.status, "code": r.code, "reason": r.reason,
                "latency_ms": ms(r.latency), "error": r.error} for r in results if r.status != 200]
    summary["refused_first"] = refused[:5]
    rep.data["soak"] = {"summary": summary, "samples": samples, "refused": refused}
    log(f"soak: {summary}")
    rep.goal("soak", f"every request answered 200 at {RATE} req/s",
             len(ok200) == len(results) and achieved >= 0.95 * RATE,
             f"{len(ok200)} of {len(results)} answered 200 ({summary['statuses']}); {achieved:.1f} req/s sent")
    rep.goal("soak", "no appender retries", retries == 0, f"{retries} log lines of appender retries")
    rep.goal("soak", "no failed projection batches", proj_fail == 0, f"{proj_fail} failed projection batches")
    rep.goal("soak", f"traces read model never more than {MAX_LAG_S:g} s behind",
             bool(vis) and max(vis) <= MAX_LAG_S and unseen == 0,
             f"newest answer readable after at most {summary['visible_max_s']} s (p50 {summary['visible_p50_s']} s) "
             f"over {len(vis)} probes, {unseen} never readable; lag at most {summary['lag_events_max']} events")
    if len(rss) >= 10:
        rep.goal("soak", "memory flat", late <= early * 1.25 + 16,
                 f"RSS {early:.1f} MiB in the second fifth, {late:.1f} MiB in the last (max {max(rss):.1f})")
    step = max(1, len(samples) // 12)
    rows = [[x["t"], x["rss_mib"], x.get("lag_events", ""), x.get("visible_s") if x.get("visible_s") is None
             else round(x["visible_s"], 3), x.get("queued", ""), x["load1"], x["answered"]] for x in samples[::step]]
    rep.section(
        f"f. Soak: {RATE} req/s on SQLite for {duration:g} s",
        table(["figure", "value"], [[k, v] for k, v in summary.items()])
        + f"\n\nSamples (RSS and the trace probe every {SAMPLE_EVERY:g} s, health and metrics every "
        f"{HEAVY_EVERY:g} s; about every {SAMPLE_EVERY * step:g} s shown):\n\n"
        + table(["t (s)", "RSS (MiB)", "traces lag (events)", "newest trace readable after (s)", "appender queue",
                 "load avg (1 min)", "answered so far"], rows),
    )
