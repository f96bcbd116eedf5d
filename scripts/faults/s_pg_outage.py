"""(b) Postgres stopped under load, on a private cluster (never the machine's shared one).

Phase 1: load at RATE req/s; after BEFORE s the cluster is stopped (`pg_ctl stop -m fast`) for
OUTAGE s, then started again, and the load goes on for AFTER s. Meanwhile /api/health/detailed is
read every second. Then every answered request's trace is looked up. Goals: nothing answered is
lost, once the queue is full requests get a fast 503 with Retry-After in the envelope (no request
hangs), health answers fast, and the gateway recovers without a restart.

Phase 2: the cluster is stopped again under load, and the gateway gets SIGTERM: it must exit
within TERM_BOUND_S and say in its log how many requests' events it could not store."""

from __future__ import annotations

import asyncio
import re
import signal
import time

import aiohttp

from common import Ctx, Gateway, Mock, is_envelope, log, ms, pct, run_load, session, status_counts, table

RATE = 200
BEFORE = 3.0
OUTAGE_FULL, OUTAGE_SHORT = 20.0, 10.0
AFTER = 15.0
FAST_503_S = 1.0   # a shed request is answered within this
HUNG_S = 10.0      # a request slower than this during the outage "hangs"
HEALTH_S = 2.0     # /api/health/detailed answers within this even with the store down
RECOVER_S = 5.0    # after the store is back, requests succeed again within this
TERM_BOUND_S = 20.0


async def watch_health(s: aiohttp.ClientSession, gw: Gateway, stop: asyncio.Event, out: list) -> None:
    while not stop.is_set():
        t = time.monotonic()
        try:
            st, data, took = await gw.detailed(s, timeout=30)
            status = data.get("data", {}).get("status") if isinstance(data, dict) and "data" in data else None
            out.append({"t": t, "status": st, "took": took, "health": status,
                        "enveloped": st < 400 or is_envelope(data)})
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            out.append({"t": t, "status": -1, "took": time.monotonic() - t, "health": type(e).__name__,
                        "enveloped": False})
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - t)))


async def run(ctx: Ctx, mock: Mock) -> None:
    rep = ctx.report
    pg = ctx.pg()
    outage = OUTAGE_SHORT if ctx.short else OUTAGE_FULL
    gw = Gateway(ctx, "pg-outage", database_url=pg.createdb("pg_outage"))
    await gw.start()
    async with session() as s:
        await gw.add_provider(s, "mock", f"{mock.base}/v1", ["gpt-4o-mini"])
        await run_load(s, gw, rate=50, duration=1.0)
        results: list = []
        health: list = []
        stop = asyncio.Event()
        hstop = asyncio.Event()
        load = asyncio.create_task(run_load(s, gw, rate=RATE, duration=BEFORE + outage + AFTER + 30, stop=stop,
                                            results=results, start_index=100_000, timeout=60, max_inflight=2048))
        watcher = asyncio.create_task(watch_health(s, gw, hstop, health))
        await asyncio.sleep(BEFORE)
        t_down = time.monotonic()
        await asyncio.to_thread(pg.stop, "fast")
        t_stopped = time.monotonic()
        log(f"pg-outage: cluster stopped ({t_stopped - t_down:.1f} s)")
        await asyncio.sleep(outage)
        t_up0 = time.monotonic()
        await asyncio.to_thread(pg.start)
        t_up = time.monotonic()
        log(f"pg-outage: cluster started ({t_up - t_up0:.1f} s)")
        await asyncio.sleep(AFTER)
        stop.set()
        await load
        hstop.set()
        await watcher
        caught_up = await gw.wait_projection(s, "traces", timeout=120)
        answered = [r for r in results if r.status == 200 and r.trace_id]
        missing = await gw.missing_traces(s, [r.trace_id for r in answered])

        during = [r for r in results if t_down <= r.sent < t_up0]
        shed = [r for r in during if r.status == 503]
        first_503 = min((r.done for r in shed), default=None)
        hung = [r for r in during if r.latency > HUNG_S or r.status == -1]
        shed_lat = [r.latency for r in shed]
        with_ra = sum(1 for r in shed if r.retry_after)
        env = sum(1 for r in shed if r.enveloped)
        other_err = [r for r in during if r.status not in (200, 503)]
        after = [r for r in results if r.sent >= t_up]
        first_ok_after = min((r.done for r in after if r.status == 200), default=None)
        recover_s = (first_ok_after - t_up) if first_ok_after else None
        late = [r for r in after if r.sent >= t_up + RECOVER_S]
        late_ok = sum(1 for r in late if r.status == 200)
        h_down = [h for h in health if t_stopped <= h["t"] < t_up0]
        h_max = max((h["took"] for h in h_down), default=0.0)
        h_bare = sum(1 for h in h_down if not h["enveloped"])
        h_states = sorted({f"{h['status']} {h['health']}" for h in h_down})

        phase1 = {"answered": len(answered), "missing": len(missing), "during": len(during),
                  "during_statuses": status_counts(during), "first_503_after_s": round(first_503 - t_down, 2)
                  if first_503 else None, "shed": len(shed), "shed_p50_ms": ms(pct(shed_lat, 50)),
                  "shed_p99_ms": ms(pct(shed_lat, 99)), "shed_with_retry_after": with_ra, "shed_enveloped": env,
                  "hung": len(hung), "other_errors": len(other_err), "recover_s": round(recover_s, 2)
                  if recover_s is not None else None, "late_ok": late_ok, "late": len(late),
                  "health_max_s": round(h_max, 2), "health_states": h_states, "health_bare": h_bare,
                  "caught_up": caught_up}
        log(f"pg-outage phase 1: {phase1}")
        rep.goal("pg_outage", "nothing answered is lost", not missing and caught_up,
                 f"{len(missing)} of {len(answered)} answered requests without a trace"
                 + ("" if caught_up else "; the traces read model never caught up"))
        rep.goal("pg_outage", "a clear 503 with Retry-After, in the envelope, once the queue is full",
                 bool(shed) and with_ra == len(shed) and env == len(shed),
                 f"{len(shed)} requests shed with 503 (first {phase1['first_503_after_s']} s into the outage); "
                 f"{with_ra} with Retry-After, {env} enveloped")
        rep.goal("pg_outage", f"shedding is fast (p99 <= {FAST_503_S:g} s) and nothing hangs (> {HUNG_S:g} s)",
                 bool(shed) and pct(shed_lat, 99) <= FAST_503_S and not hung,
                 f"503 p50 {phase1['shed_p50_ms']} ms, p99 {phase1['shed_p99_ms']} ms; {len(hung)} of "
                 f"{len(during)} requests sent during the outage took > {HUNG_S:g} s or got no answer")
        rep.goal("pg_outage", f"/api/health/detailed answers within {HEALTH_S:g} s, enveloped, during the outage",
                 bool(h_down) and h_max <= HEALTH_S and h_bare == 0,
                 f"slowest {h_max:.2f} s over {len(h_down)} reads, {h_bare} without the envelope; seen: {h_states}")
        rep.goal("pg_outage", f"recovers without a restart (all 200 from {RECOVER_S:g} s after the store is back)",
                 recover_s is not None and bool(late) and late_ok == len(late),
                 f"first 200 {phase1['recover_s']} s after the store was back; {late_ok} of {len(late)} later "
                 f"requests 200")

        # Phase 2: SIGTERM with the store down.
        results2: list = []
        stop2 = asyncio.Event()
        await asyncio.to_thread(pg.stop, "fast")
        load2 = asyncio.create_task(run_load(s, gw, rate=RATE, duration=30, stop=stop2, results=results2,
                                             start_index=500_000, timeout=40, max_inflight=2048))
        await asyncio.sleep(3.0)
        gw.signal(signal.SIGTERM)
        exit_s = await gw.wait_exit(60)
        stop2.set()
        await load2
        log_text = gw.log_text().split(f"===== start #{gw.starts} =====")[-1]
        m = re.search(r"event appender stopped: (\d+) events of (\d+) requests could not be stored", log_text)
        said = int(m.group(2)) if m else sum(
            int(x) for x in re.findall(r"shutting down: \d+ events of (\d+) requests could not be stored", log_text))
        answered2 = [r for r in results2 if r.status == 200 and r.trace_id]
        await asyncio.to_thread(pg.start)
        await gw.start()
        await gw.wait_projection(s, "traces", timeout=120)
        missing2 = await gw.missing_traces(s, [r.trace_id for r in answered2])
        await gw.stop()
    phase2 = {"answered": len(answered2), "missing": len(missing2), "exit_s": round(exit_s, 2) if exit_s else None,
              "logged_unstored_requests": said, "statuses": status_counts(results2)}
    log(f"pg-outage phase 2: {phase2}")
    rep.goal("pg_outage", f"SIGTERM with the store down exits within {TERM_BOUND_S:g} s",
             exit_s is not None and exit_s <= TERM_BOUND_S,
             f"exit after {exit_s:.2f} s" if exit_s is not None else "still running after 60 s (SIGKILLed)")
    rep.goal("pg_outage", "the shutdown says what it could not store",
             said >= len(missing2),
             f"{len(missing2)} of {len(answered2)} answered requests lost; the log names {said} requests")
    rep.data["pg_outage"] = {"phase1": phase1, "phase2": phase2}
    rep.section(
        "b. Postgres stopped under load (private cluster)",
        f"{RATE} req/s; the cluster stopped (`pg_ctl stop -m fast`) after {BEFORE:g} s for {outage:g} s, then "
        f"started; {AFTER:g} s more load. Phase 2: stopped again, SIGTERM after 3 s of load.\n\n"
        + table(["figure", "value"], [[f"phase 1: {k}", v] for k, v in phase1.items()]
                + [[f"phase 2: {k}", v] for k, v in phase2.items()]),
    )
