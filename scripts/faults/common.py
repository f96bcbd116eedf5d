"""Shared pieces of the fault suite: the processes it starts (gateway, mock upstream, a private
Postgres cluster, the tansu broker), an HTTP load generator, and the report it writes.

Every process is started in its own session and registered, so `cleanup()` (run on exit and on
SIGINT/SIGTERM) stops each one by its own pid; nothing is ever stopped by name.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;]*m")

# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------
_T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[faults {time.monotonic() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


@dataclass
class Goal:
    scenario: str
    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    sections: list[tuple[str, str]] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def goal(self, scenario: str, name: str, ok: bool, detail: str) -> bool:
        ok = bool(ok)
        self.goals.append(Goal(scenario, name, ok, detail))
        log(f"goal {'PASS' if ok else 'FAIL'} [{scenario}] {name}: {detail}")
        return ok

    def section(self, title: str, markdown: str) -> None:
        self.sections.append((title, markdown))

    def failed(self) -> list[Goal]:
        return [g for g in self.goals if not g.ok]


def table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            v = f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) < 1000 else f"{v:.0f}"
        return str(v).replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100 * (len(s) - 1)))))
    return s[k]


def ms(seconds: float) -> int:
    return int(round(seconds * 1000))


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------
_PROCS: list[subprocess.Popen] = []
_CLEANUPS: list[Callable[[], None]] = []


def register_cleanup(fn: Callable[[], None]) -> None:
    _CLEANUPS.append(fn)


def spawn(args: list[str], *, log_path: Path, env: dict[str, str] | None = None, cwd: Path | None = None,
          stdout_pipe: bool = False) -> subprocess.Popen:
    out = open(log_path, "ab")
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE if stdout_pipe else out,
        stderr=out,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    out.close()
    _PROCS.append(proc)
    return proc


def stop_proc(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stops one process we started, by its own pid (SIGCONT first, in case it was frozen)."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGCONT, signal.SIGTERM):
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def cleanup() -> None:
    for proc in reversed(_PROCS):
        try:
            stop_proc(proc, timeout=5)
        except Exception as e:  # noqa: BLE001 - cleanup must go on
            log(f"cleanup: pid {proc.pid}: {e}")
    _PROCS.clear()
    for fn in reversed(_CLEANUPS):
        try:
            fn()
        except Exception as e:  # noqa: BLE001
            log(f"cleanup: {e}")
    _CLEANUPS.clear()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class Ctx:
    """What every scenario gets: binaries, a scratch directory, the mode and the report."""

    bin_dir: Path
    work: Path
    short: bool
    report: Report
    soak_seconds: float
    tansu: str | None = None
    pg_bin: Path | None = None
    _pg: "PrivatePg | None" = None

    def sub(self, name: str) -> Path:
        d = self.work / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    def pg(self) -> "PrivatePg":
        if self._pg is None:
            if self.pg_bin is None:
                raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
            self._pg = PrivatePg(self.pg_bin, self.sub("pg"))
            self._pg.init_and_start()
        return self._pg


# --------------------------------------------------------------------------------------------
# A private Postgres cluster (initdb + pg_ctl as the `postgres` user, a free port, a temp dir)
# --------------------------------------------------------------------------------------------
def find_pg_bin() -> Path | None:
    base = Path("/usr/lib/postgresql")
    if not base.is_dir():
        return None
    versions = sorted((p for p in base.iterdir() if (p / "bin" / "initdb").exists()),
                      key=lambda p: [int(x) for x in re.findall(r"\d+", p.name)] or [0])
    return versions[-1] / "bin" if versions else None


class PrivatePg:
    def __init__(self, bin_dir: Path, work: Path):
        self.bin = bin_dir
        self.work = work
        self.data = work / "data"
        self.sock = work / "sock"
        self.logfile = work / "postgres.log"
        self.port = free_port()
        self.running = False

    def _as_pg(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=timeout)

    def init_and_start(self) -> None:
        # The cluster's files belong to `postgres`; every directory above them must be traversable.
        os.chmod(self.work, 0o755)
        p = self.work
        while p != p.parent:
            p = p.parent
            if p.exists() and (p.stat().st_mode & 0o001) == 0 and str(p).startswith(("/tmp", "/var/tmp")):
                os.chmod(p, p.stat().st_mode | 0o001)
        for d in (self.data, self.sock):
            d.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.work, "postgres", "postgres")
            for d in (self.data, self.sock):
                shutil.chown(d, "postgres", "postgres")
        os.chmod(self.data, 0o700)
        log(f"private postgres: initdb in {self.data} (port {self.port})")
        self._as_pg(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                    "-E", "UTF8", "--no-instructions")
        register_cleanup(self.destroy)
        self.start()

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c max_connections=200 "
                f"-c shared_buffers=64MB")
        self._as_pg(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.logfile), "-o", opts,
                    "-w", "-t", "60", "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        self._as_pg(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop",
                    check=False)
        self.running = False

    def destroy(self) -> None:
        if self.running:
            self.stop("immediate")
        shutil.rmtree(self.work, ignore_errors=True)

    def psql(self, sql: str, db: str = "postgres") -> str:
        r = self._as_pg(str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                        "-d", db, "-At", "-c", sql)
        return r.stdout

    def createdb(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def url(self, db: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"


# --------------------------------------------------------------------------------------------
# The mock upstream
# --------------------------------------------------------------------------------------------
class Mock:
    def __init__(self, ctx: Ctx, name: str, record: bool = True):
        self.ctx = ctx
        self.name = name
        self.log = ctx.sub("logs") / f"{name}.log"
        args = [str(ctx.bin_dir / "layerr-mock"), "--port", "0", "--no-split", "--threads", "1"]
        if not record:
            args.append("--no-record")
        self.proc = spawn(args, log_path=self.log, stdout_pipe=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"mock {name} did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])
        self.base = f"http://127.0.0.1:{self.port}"

    async def control(self, s: aiohttp.ClientSession, method: str, path: str, body: Any = None) -> Any:
        async with s.request(method, f"{self.base}/_mock{path}", json=body) as r:
            data = await r.json(content_type=None)
            if r.status != 200:
                raise RuntimeError(f"mock control {method} {path}: {r.status} {data}")
            return data

    def stop(self) -> None:
        stop_proc(self.proc)


# --------------------------------------------------------------------------------------------
# The gateway
# --------------------------------------------------------------------------------------------
class Gateway:
    """`layerr serve` over one store; restartable on the same store, port and keys."""

    def __init__(self, ctx: Ctx, name: str, *, database_url: str | None = None, durability: str = "batched",
                 kafka_brokers: str | None = None, kafka_topic: str | None = None, log_level: str = "info",
                 extra_toml: str = ""):
        self.ctx = ctx
        self.name = name
        self.dir = ctx.sub(name)
        self.data_dir = self.dir / "data"
        self.data_dir.mkdir(exist_ok=True)
        self.log = ctx.sub("logs") / f"{name}.log"
        self.admin_key = "lyr_faults_admin_" + secrets.token_hex(16)
        self.master_key = secrets.token_hex(32)
        self.database_url = database_url
        self.durability = durability
        self.kafka_brokers = kafka_brokers
        self.kafka_topic = kafka_topic
        self.log_level = log_level
        self.extra_toml = extra_toml
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def store(self) -> str:
        return "postgres" if self.database_url else "sqlite"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "layerr.db"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LAYERR_") or k.startswith("LAYERR_TEST_")}
        env.update({
            "LAYERR_ADMIN_KEY": self.admin_key,
            "LAYERR_MASTER_KEY": self.master_key,
            "LAYERR_DATA_DIR": str(self.data_dir),
            "LAYERR_DURABILITY": self.durability,
            "LAYERR_LOG": self.log_level,
            "LAYERR_LISTEN": f"127.0.0.1:{self.port}",
        })
        if self.database_url:
            env["LAYERR_DATABASE_URL"] = self.database_url
        if self.kafka_brokers:
            env["LAYERR_KAFKA_BROKERS"] = self.kafka_brokers
        if self.kafka_topic:
            env["LAYERR_KAFKA_TOPIC"] = self.kafka_topic
        if self.extra_toml:
            cfg = self.dir / "layerr.toml"
            cfg.write_text(self.extra_toml)
            env["LAYERR_CONFIG"] = str(cfg)
        return env

    async def start(self, timeout: float = 90.0) -> None:
        self.starts += 1
        with open(self.log, "ab") as f:
            f.write(f"\n===== start #{self.starts} =====\n".encode())
        self.proc = spawn([str(self.ctx.bin_dir / "layerr"), "serve"], log_path=self.log, env=self.env(),
                          cwd=self.dir)
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as s:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name}: layerr serve exited with {self.proc.returncode}:\n"
                                       + self.log_tail())
                try:
                    async with s.get(f"{self.base}/api/health", timeout=aiohttp.ClientTimeout(total=2)) as r:
                        if r.status == 200:
                            return
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name}: not healthy within {timeout} s:\n" + self.log_tail())

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    async def wait_exit(self, timeout: float) -> float | None:
        """Seconds until the process exited, or None (then it was SIGKILLed) past `timeout`."""
        assert self.proc is not None
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                return time.monotonic() - t0
            await asyncio.sleep(0.02)
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        return None

    async def stop(self) -> float | None:
        if not self.alive():
            return 0.0
        self.signal(signal.SIGTERM)
        return await self.wait_exit(60)

    def rss(self) -> int:
        return rss_bytes(self.pid) if self.alive() else 0

    def log_text(self) -> str:
        """The log without terminal colour codes."""
        try:
            return ANSI.sub("", self.log.read_text(errors="replace"))
        except OSError:
            return ""

    def log_tail(self, n: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    def log_count(self, pattern: str, text: str | None = None) -> int:
        rx = re.compile(pattern)
        return sum(1 for line in (text if text is not None else self.log_text()).splitlines() if rx.search(line))

    # ---- HTTP helpers -----------------------------------------------------------------------
    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {key or self.admin_key}"}

    async def call(self, s: aiohttp.ClientSession, method: str, path: str, body: Any = None,
                   key: str | None = None, timeout: float = 30) -> tuple[int, Any, float]:
        t0 = time.monotonic()
        async with s.request(method, self.base + path, json=body, headers=self.headers(key),
                             timeout=aiohttp.ClientTimeout(total=timeout)) as r:
            raw = await r.read()
            try:
                data = json.loads(raw) if raw else None
            except ValueError:
                data = raw.decode(errors="replace")
            return r.status, data, time.monotonic() - t0

    async def admin(self, s: aiohttp.ClientSession, method: str, path: str, body: Any = None,
                    key: str | None = None) -> Any:
        status, data, _ = await self.call(s, method, path, body, key)
        if status not in (200, 201):
            raise RuntimeError(f"{self.name}: {method} {path}: {status} {data}")
        return data["data"] if isinstance(data, dict) and "data" in data else data

    async def add_provider(self, s: aiohttp.ClientSession, pid: str, base_url: str, models: list[str],
                           kind: str = "openai", **extra: Any) -> Any:
        body = {"id": pid, "name": pid, "type": kind, "baseUrl": base_url, "models": models,
                "apiKey": f"sk-faults-{secrets.token_hex(4)}", **extra}
        return await self.admin(s, "POST", "/api/providers", body)

    async def detailed(self, s: aiohttp.ClientSession, timeout: float = 30) -> tuple[int, Any, float]:
        return await self.call(s, "GET", "/api/health/detailed", timeout=timeout)

    async def projection_lag(self, s: aiohttp.ClientSession, name: str = "traces") -> int | None:
        status, data, _ = await self.detailed(s)
        if status != 200 or not isinstance(data, dict):
            return None
        for p in data.get("data", {}).get("projections", []):
            if p.get("name") == name:
                return int(p.get("lag", 0))
        return None

    async def wait_projection(self, s: aiohttp.ClientSession, name: str = "traces", timeout: float = 90) -> bool:
        """Waits until the read model `name` has read every event (lag 0 twice in a row)."""
        deadline = time.monotonic() + timeout
        zeros = 0
        while time.monotonic() < deadline:
            try:
                lag = await self.projection_lag(s, name)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                lag = None
            zeros = zeros + 1 if lag == 0 else 0
            if zeros >= 2:
                return True
            await asyncio.sleep(0.25)
        return False

    async def missing_traces(self, s: aiohttp.ClientSession, trace_ids: list[str]) -> list[str]:
        """The ids among `trace_ids` that `GET /api/traces/{id}` does not find (404)."""
        missing: list[str] = []
        sem = asyncio.Semaphore(16)

        async def one(tid: str) -> None:
            async with sem:
                for attempt in range(5):
                    try:
                        status, _, _ = await self.call(s, "GET", f"/api/traces/{tid}", timeout=30)
                    except (aiohttp.ClientError, asyncio.TimeoutError):
                        status = -1
                    if status in (200, 404):
                        break
                    await asyncio.sleep(0.2 * (attempt + 1))
                if status != 200:
                    missing.append(tid)

        await asyncio.gather(*(one(t) for t in trace_ids))
        return missing


# --------------------------------------------------------------------------------------------
# Load
# --------------------------------------------------------------------------------------------
CHAT_MODEL = "gpt-4o-mini"


def chat_body(i: int = 0, model: str = CHAT_MODEL, stream: bool = False, **extra: Any) -> dict:
    body = {"model": model, "messages": [{"role": "user", "content": f"fault suite request {i}: say hi"}],
            "max_tokens": 16}
    if stream:
        body["stream"] = True
    body.update(extra)
    return body


@dataclass
class Result:
    i: int
    sent: float
    done: float
    status: int  # -1: no HTTP answer (connection refused/reset, client timeout)
    trace_id: str | None = None
    retry_after: str | None = None
    error: str | None = None
    enveloped: bool | None = None
    code: str | None = None
    reason: str | None = None  # the envelope's details.reason (a 503's storeFailing / queueFull)

    @property
    def latency(self) -> float:
        return self.done - self.sent


def is_envelope(data: Any) -> bool:
    """The error envelope: `{"error": {"code": str, "message": str, ...}}`."""
    return (isinstance(data, dict) and isinstance(data.get("error"), dict)
            and isinstance(data["error"].get("code"), str) and isinstance(data["error"].get("message"), str))


async def one_request(s: aiohttp.ClientSession, url: str, body: dict, headers: dict, i: int,
                      timeout: float) -> Result:
    t0 = time.monotonic()
    try:
        async with s.post(url, json=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)) as r:
            raw = await r.read()
            res = Result(i, t0, time.monotonic(), r.status, r.headers.get("x-layerr-trace-id"),
                         r.headers.get("retry-after"))
            if r.status >= 400:
                try:
                    data = json.loads(raw)
                except ValueError:
                    data = None
                res.enveloped = is_envelope(data)
                if res.enveloped:
                    res.code = data["error"]["code"]
                    details = data["error"].get("details")
                    if isinstance(details, dict) and isinstance(details.get("reason"), str):
                        res.reason = details["reason"]
            return res
    except asyncio.TimeoutError:
        return Result(i, t0, time.monotonic(), -1, error="client timeout")
    except aiohttp.ClientError as e:
        return Result(i, t0, time.monotonic(), -1, error=type(e).__name__)


async def run_load(s: aiohttp.ClientSession, gw: Gateway, *, rate: float, duration: float,
                   stop: asyncio.Event | None = None, max_inflight: int = 256, timeout: float = 30,
                   body: Callable[[int], dict] = chat_body, start_index: int = 0,
                   results: list[Result] | None = None) -> list[Result]:
    """Open-loop load: request i is sent at t0 + i/rate (fewer when `max_inflight` are pending),
    until `duration` seconds passed or `stop` is set; then waits for those in flight."""
    out = results if results is not None else []
    url = gw.base + "/v1/chat/completions"
    headers = gw.headers()
    sem = asyncio.Semaphore(max_inflight)
    tasks: set[asyncio.Task] = set()
    t0 = time.monotonic()
    i = 0

    async def fire(n: int) -> None:
        try:
            out.append(await one_request(s, url, body(n), headers, n, timeout))
        finally:
            sem.release()

    while time.monotonic() - t0 < duration and not (stop and stop.is_set()):
        due = t0 + i / rate
        now = time.monotonic()
        if due > now:
            await asyncio.sleep(due - now)
            continue
        await sem.acquire()
        t = asyncio.create_task(fire(start_index + i))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
        i += 1
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
    return out


def session(limit: int = 512) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit, force_close=False))


def status_counts(results: list[Result]) -> str:
    counts: dict[str, int] = {}
    for r in results:
        k = str(r.status) if r.status >= 0 else (r.error or "no answer")
        counts[k] = counts.get(k, 0) + 1
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))


def to_jsonable(x: Any) -> Any:
    if dataclasses.is_dataclass(x):
        return dataclasses.asdict(x)
    return x


async def poll_until(pred: Callable[[], Awaitable[bool]], timeout: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await pred():
            return True
        await asyncio.sleep(every)
    return False


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else 0.0
