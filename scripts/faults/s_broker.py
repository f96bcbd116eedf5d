"""(c) The Kafka broker (tansu, in-memory storage) frozen (SIGSTOP) and killed (SIGKILL) under load.

A consumer reads the relay's topic the whole time and records every event's `globalPosition`.
Freeze: load goes on for FREEZE s while /api/health/detailed is read every half second (goal:
`degraded` while frozen); then SIGCONT. Kill: with the consumer caught up, the broker is killed,
the load goes on against a gateway without a broker for DOWN s, and a new broker (empty: its
storage is memory) starts on the same port; the relay must re-create the topic and publish
again from its checkpoint. At the end a fresh consumer reads the new topic from the start, and
the union of what was consumed is compared with every position in the store (goal: no gap)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import threading
import time

from common import Ctx, Gateway, Mock, free_port, log, port_open, register_cleanup, run_load, session, spawn, stop_proc, table

RATE = 100
FREEZE = 20.0
DOWN = 10.0
TOPIC = "layerr.faults"
DEGRADED_WITHIN_S = 15.0


class Broker:
    def __init__(self, ctx: Ctx, port: int):
        self.ctx = ctx
        self.port = port
        self.proc = None
        self.log = ctx.sub("logs") / "tansu.log"

    def start(self) -> None:
        self.proc = spawn([self.ctx.tansu, "broker", "--listener-url", f"tcp://127.0.0.1:{self.port}",
                           "--advertised-listener-url", f"tcp://127.0.0.1:{self.port}",
                           "--storage-engine", "memory://tansu/"], log_path=self.log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tansu exited with {self.proc.returncode}")
            if port_open(self.port):
                return
            time.sleep(0.1)
        raise RuntimeError("tansu did not listen within 30 s")

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


class Consumer(threading.Thread):
    """Reads TOPIC from the earliest offset into `positions` until stopped."""

    def __init__(self, brokers: str, group: str):
        super().__init__(daemon=True)
        from confluent_kafka import Consumer as KConsumer

        self.c = KConsumer({"bootstrap.servers": brokers, "group.id": group, "auto.offset.reset": "earliest",
                            "enable.auto.commit": False, "topic.metadata.refresh.interval.ms": 1000,
                            "log_level": 0, "socket.timeout.ms": 5000})
        self.c.subscribe([TOPIC])
        self.positions: set[int] = set()
        self.messages = 0
        self.errors = 0
        self.last_message = time.monotonic()
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            msg = self.c.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                self.errors += 1
                continue
            self.messages += 1
            self.last_message = time.monotonic()
            pos = None
            for k, v in msg.headers() or []:
                if k == "layerr-global-position":
                    pos = int(v.decode())
            if pos is None:
                try:
                    pos = int(json.loads(msg.value())["globalPosition"])
                except (ValueError, KeyError, TypeError):
                    continue
            self.positions.add(pos)
        self.c.close()

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=15)


async def kafka_state(s, gw: Gateway) -> dict:
    try:
        st, data, took = await gw.detailed(s, timeout=10)
    except Exception as e:  # noqa: BLE001
        return {"http": -1, "status": type(e).__name__}
    d = data.get("data", {}) if isinstance(data, dict) else {}
    k = d.get("kafka", {})
    return {"http": st, "status": d.get("status"), "connected": k.get("connected"), "lag": k.get("lag"),
            "position": k.get("position"), "took": round(took, 3)}


async def run(ctx: Ctx, mock: Mock) -> None:
    rep = ctx.report
    if not ctx.tansu:
        rep.goal("broker", "tansu available", False, "no tansu binary (PATH or ~/.cargo/bin): scenario not run")
        return
    port = free_port()
    broker = Broker(ctx, port)
    broker.start()
    register_cleanup(lambda: broker.proc and stop_proc(broker.proc))
    brokers = f"127.0.0.1:{port}"
    gw = Gateway(ctx, "broker", kafka_brokers=brokers, kafka_topic=TOPIC)
    await gw.start()
    consumers: list[Consumer] = []
    async with session() as s:
        await gw.add_provider(s, "mock", f"{mock.base}/v1", ["gpt-4o-mini"])
        # Wait until the relay created the topic and delivered.
        ok = False
        for _ in range(100):
            k = await kafka_state(s, gw)
            if k.get("connected") and (k.get("lag") or 0) == 0:
                ok = True
                break
            await asyncio.sleep(0.2)
        c1 = Consumer(brokers, "faults-1")
        c1.start()
        consumers.append(c1)
        await run_load(s, gw, rate=RATE, duration=5.0)

        # Freeze.
        states: list[tuple[float, dict]] = []
        results: list = []
        stop = asyncio.Event()
        load = asyncio.create_task(run_load(s, gw, rate=RATE, duration=FREEZE + 60, stop=stop, results=results))
        t_freeze = time.monotonic()
        broker.signal(signal.SIGSTOP)
        while time.monotonic() - t_freeze < FREEZE:
            states.append((time.monotonic() - t_freeze, await kafka_state(s, gw)))
            await asyncio.sleep(0.5)
        broker.signal(signal.SIGCONT)
        t_thaw = time.monotonic()
        recovered_after = None
        for _ in range(240):
            k = await kafka_state(s, gw)
            if k.get("status") == "healthy" and k.get("connected"):
                recovered_after = time.monotonic() - t_thaw
                break
            await asyncio.sleep(0.25)
        stop.set()
        await load
        degraded_at = next((t for t, k in states if k.get("status") == "degraded"), None)
        disconnected_at = next((t for t, k in states if k.get("connected") is False), None)
        slowest_health = max((k.get("took") or 0 for _, k in states), default=0)
        freeze_statuses = sorted({str(k.get("status")) for _, k in states})
        ok200 = sum(1 for r in results if r.status == 200)
        rep.goal("broker", f"health says degraded while the broker is frozen (within {DEGRADED_WITHIN_S:g} s)",
                 degraded_at is not None and degraded_at <= DEGRADED_WITHIN_S,
                 f"degraded after {degraded_at:.1f} s" if degraded_at is not None
                 else f"never degraded in {FREEZE:g} s (statuses seen: {freeze_statuses})")
        rep.goal("broker", "requests keep being served while the broker is frozen", ok200 == len(results),
                 f"{ok200} of {len(results)} answered 200")

        # Kill: let the consumer catch up with what the relay delivered, then kill the broker.
        async def consumer_caught_up() -> bool:
            k = await kafka_state(s, gw)
            pos = k.get("position") or 0
            return k.get("lag") == 0 and bool(c1.positions) and max(c1.positions) >= pos

        for _ in range(240):
            if await consumer_caught_up():
                break
            await asyncio.sleep(0.25)
        broker.kill()
        t_kill = time.monotonic()
        results_k: list = []
        stop_k = asyncio.Event()
        load_k = asyncio.create_task(run_load(s, gw, rate=RATE, duration=DOWN + 60, stop=stop_k, results=results_k))
        killed_states = []
        while time.monotonic() - t_kill < DOWN:
            killed_states.append(await kafka_state(s, gw))
            await asyncio.sleep(0.5)
        broker.start()
        t_restart = time.monotonic()
        await asyncio.sleep(5.0)
        stop_k.set()
        await load_k
        drained_after = None
        for _ in range(480):
            k = await kafka_state(s, gw)
            if k.get("connected") and k.get("lag") == 0:
                drained_after = time.monotonic() - t_restart
                break
            await asyncio.sleep(0.25)
        c1.stop()
        c2 = Consumer(brokers, "faults-2")
        c2.start()
        consumers.append(c2)
        # Read until nothing new arrives for 5 s (at most 90 s).
        t0 = time.monotonic()
        while time.monotonic() - t0 < 90:
            await asyncio.sleep(0.5)
            if c2.messages and time.monotonic() - c2.last_message > 5:
                break
        c2.stop()
        killed_degraded = any(k.get("status") == "degraded" for k in killed_states)
    await gw.stop()
    broker.proc and stop_proc(broker.proc)
    con = sqlite3.connect(f"file:{gw.db_path}?mode=ro", uri=True)
    store_positions = {row[0] for row in con.execute("SELECT global_position FROM events")}
    con.close()
    consumed = c1.positions | c2.positions
    gaps = sorted(store_positions - consumed)
    served_k = sum(1 for r in results_k if r.status == 200)
    fig = {"store_events": len(store_positions), "consumed_before_kill": len(c1.positions),
           "consumed_after_restart": len(c2.positions), "gaps": len(gaps), "first_gaps": gaps[:10],
           "freeze_s": FREEZE, "degraded_after_s": round(degraded_at, 1) if degraded_at is not None else None,
           "relay_disconnected_after_s": round(disconnected_at, 1) if disconnected_at is not None else None,
           "health_statuses_while_frozen": freeze_statuses, "slowest_health_while_frozen_s": slowest_health,
           "healthy_again_after_thaw_s": round(recovered_after, 1) if recovered_after is not None else None,
           "degraded_while_killed": killed_degraded, "served_while_killed": f"{served_k} of {len(results_k)}",
           "relay_drained_after_restart_s": round(drained_after, 1) if drained_after is not None else None,
           "relay_ready_at_start": ok}
    log(f"broker: {fig}")
    rep.goal("broker", "no gap after recovery (every stored event's position consumed)", not gaps and drained_after is not None,
             f"{len(gaps)} of {len(store_positions)} positions never arrived"
             + ("" if drained_after is not None else "; the relay never drained after the restart"))
    rep.goal("broker", "health says degraded while the broker is down", killed_degraded,
             "degraded seen" if killed_degraded else "never degraded while killed")
    rep.goal("broker", "requests keep being served while the broker is down", served_k == len(results_k),
             f"{served_k} of {len(results_k)} answered 200")
    rep.data["broker"] = fig
    rep.section("c. Kafka broker frozen and killed (tansu, memory storage)",
                f"{RATE} req/s on SQLite with the relay on; freeze {FREEZE:g} s; kill, {DOWN:g} s without a broker, "
                "a new empty broker on the same port.\n\n" + table(["figure", "value"], [[k, v] for k, v in fig.items()]))
