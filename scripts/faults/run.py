"""The fault suite's driver (started by scripts/faults.sh; see docs/RELIABILITY.md).

    python scripts/faults/run.py --bin-dir target/faults [--short] [--only crash,upstream] \
        [--soak-seconds 300] [--out target/faults-report]

Writes OUT/results.md (the figures, as they go into docs/RELIABILITY.md) and OUT/results.json,
and exits 1 when a goal was missed, 2 when the suite itself broke.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import Ctx, Mock, Report, log, table  # noqa: E402

SCENARIOS = ["crash", "pg_outage", "broker", "upstream", "fuzz", "soak"]
SHORT = ["crash", "upstream", "fuzz", "soak"]


def git_rev() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(common.ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(common.ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return rev + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


async def main_async(args: argparse.Namespace, ctx: Ctx) -> None:
    import importlib

    chosen = args.only.split(",") if args.only else (SHORT if ctx.short else SCENARIOS)
    for name in chosen:
        if name not in SCENARIOS:
            raise SystemExit(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})")
    mods = {name: importlib.import_module(f"s_{name}") for name in chosen}
    mock = Mock(ctx, "mock", record=False)
    for name in chosen:
        log(f"===== scenario {name} =====")
        t0 = time.monotonic()
        try:
            await mods[name].run(ctx, mock)
        except Exception as e:  # noqa: BLE001 - one broken scenario must not hide the others' figures
            traceback.print_exc()
            ctx.report.goal(name, "scenario ran to the end", False, f"{type(e).__name__}: {e}")
        ctx.report.data.setdefault("durations", {})[name] = round(time.monotonic() - t0, 1)
        log(f"===== scenario {name} done in {time.monotonic() - t0:.0f} s =====")


def write_report(args: argparse.Namespace, ctx: Ctx, started: datetime.datetime, wall: float) -> Path:
    rep = ctx.report
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    failed = rep.failed()
    lines = [
        f"Run: `bash scripts/faults.sh{' --short' if ctx.short else ''}`"
        + (f" (`--only {args.only}`)" if args.only else "")
        + f" on {started:%Y-%m-%d %H:%M} UTC; "
        + (f"binaries built by this run from commit {args.built_from}" if args.built_from
           else f"binaries from `{args.bin_dir}` (built elsewhere; HEAD at the run: {git_rev()})")
        + ", "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {wall / 60:.1f} min.",
        "",
        f"**Goals: {len(rep.goals) - len(failed)} of {len(rep.goals)} met.**",
        "",
        table(["scenario", "goal", "result", "figure"],
              [[g.scenario, g.name, "met" if g.ok else "**MISSED**", g.detail] for g in rep.goals]),
        "",
    ]
    for title, md in rep.sections:
        lines += [f"### {title}", "", md, ""]
    (out / "results.md").write_text("\n".join(lines))
    data = {"started": started.isoformat(), "short": ctx.short, "built_from": args.built_from, "head": git_rev(),
            "goals": [common.to_jsonable(g) for g in rep.goals], "figures": rep.data}
    (out / "results.json").write_text(json.dumps(data, indent=2, default=str))
    return out / "results.md"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--short", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--soak-seconds", type=float, default=None)
    ap.add_argument("--out", default=str(common.ROOT / "target" / "faults-report"))
    ap.add_argument("--tansu", default=os.environ.get("FAULTS_TANSU_BIN", ""))
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory (logs, stores)")
    ap.add_argument("--built-from", default="", help="the commit the binaries were built from (faults.sh)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="layerr-faults-", dir="/tmp"))
    soak = args.soak_seconds if args.soak_seconds is not None else (20.0 if args.short else 300.0)
    ctx = Ctx(bin_dir=Path(args.bin_dir).resolve(), work=work, short=args.short, report=Report(),
              soak_seconds=soak, tansu=args.tansu or shutil.which("tansu"), pg_bin=common.find_pg_bin())
    log(f"scratch directory {work}")

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    rc = 0
    try:
        asyncio.run(main_async(args, ctx))
    except KeyboardInterrupt:
        log("interrupted")
        rc = 130
    finally:
        # Logs outlive the scratch directory: copy them next to the report.
        logs = Path(args.out) / "logs"
        shutil.rmtree(logs, ignore_errors=True)
        common.cleanup()
        if (work / "logs").is_dir():
            shutil.copytree(work / "logs", logs)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    path = write_report(args, ctx, started, time.monotonic() - t0)
    failed = ctx.report.failed()
    print(path.read_text())
    if rc:
        return rc
    if failed:
        log(f"{len(failed)} goal(s) missed:")
        for g in failed:
            log(f"  [{g.scenario}] {g.name}: {g.detail}")
        return 1
    log(f"all {len(ctx.report.goals)} goals met; report in {path}")
    return 0 if ctx.report.goals else 2


if __name__ == "__main__":
    sys.exit(main())
