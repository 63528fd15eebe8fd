"""Run the benchmark suite against LangGraph and print ours / LangGraph / ratio (medians of `--repeat` runs).

    .venv/bin/python -m bench [--quick] [--repeat N] [--only 1,2,4] [--json FILE] [--lg-variants sync,async]

Every workload side runs in its own child process (`bench.worker`); repetitions of both sides are
interleaved so that load drifting on a shared machine hits both alike. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Sizes
from bench.report import build_rows, format_table, studio_lines
from bench.studio import run_studio

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = {
    1: "chain",
    2: "loop",
    3: "fanout",
    4: "sqlite",
    5: "postgres",
    6: "events",
    7: "studio",
    8: "lgdb",
    9: "sqlite_concurrent",
    10: "pg_concurrent",
}
LG_WORKLOADS = {"chain", "loop", "fanout", "sqlite", "postgres", "sqlite_concurrent", "pg_concurrent"}
PG_WORKLOADS = {"postgres", "pg_concurrent"}  # need the bench's PostgreSQL server (bench/pg.py)
LG_VARIANTS = {  # only these LangGraph variants (many sessions at once is async)
    "sqlite_concurrent": ("async",),
    "pg_concurrent": ("async",),
}


class WorkerError(RuntimeError):
    """A benchmark child failed or answered something unexpected."""


@dataclass
class Child:
    """One worker process and the results it returned."""

    workload: str
    side: str
    variant: str
    proc: subprocess.Popen[str]
    warmup: dict[str, Any] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def label(self) -> str:
        return self.side if self.side == "ours" else f"langgraph/{self.variant}"

    def ask(self, command: str) -> dict[str, Any] | None:
        if self.error is not None:
            return None
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except (BrokenPipeError, OSError) as exc:
            self.error = f"{self.label} died: {exc}"
            return None
        if not line:
            self.error = f"{self.label} exited (code {self.proc.poll()})"
            return None
        reply = json.loads(line)
        if not reply.get("ok"):
            self.error = f"{self.label}: {reply.get('error')}"
            return None
        return dict(reply.get("result", {}))

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def spawn(workload: str, side: str, variant: str, sizes: Sizes) -> Child:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.worker", workload, side, variant, json.dumps(sizes.to_json())],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=None,  # a child's tracebacks go straight to our stderr
        text=True,
    )
    child = Child(workload, side, variant, proc)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    reply = json.loads(line) if line else {"ok": False, "error": f"exited with {proc.wait()}"}
    if not reply.get("ok"):
        child.error = f"{child.label}: {reply.get('error')}"
    return child


def run_workload(
    workload: str, sizes: Sizes, repeat: int, lg_variants: list[str], say: Any
) -> dict[str, Any]:
    """Start the children of one workload, warm each up once, then interleave `repeat` runs."""
    children = [spawn(workload, "ours", "-", sizes)]
    if workload in LG_WORKLOADS:
        allowed = LG_VARIANTS.get(workload)
        children += [
            spawn(workload, "langgraph", v, sizes) for v in lg_variants if allowed is None or v in allowed
        ]
    try:
        for child in children:
            child.warmup = child.ask("warmup") or {}
        for r in range(repeat):
            for child in children:
                result = child.ask("run")
                if result is not None:
                    child.runs.append(result)
            say(f"  run {r + 1}/{repeat} done")
    finally:
        for child in children:
            child.close()
    out: dict[str, Any] = {}
    for child in children:
        out[child.label] = {"warmup": child.warmup, "runs": child.runs, "error": child.error}
        if child.error:
            say(f"  ! {child.error}")
    return out


def machine() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for dist in (
        "langgraph",
        "langgraph-checkpoint",
        "langgraph-checkpoint-sqlite",
        "langgraph-checkpoint-postgres",
        "psycopg",
        "aiosqlite",
        "asyncpg",
    ):
        try:
            from importlib.metadata import version

            versions[dist] = version(dist)
        except Exception:
            versions[dist] = None
    import sqlite3

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "versions": versions,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="measured runs per side (median; default 5)")
    parser.add_argument("--quick", action="store_true", help="small sizes (a minute or so)")
    parser.add_argument("--only", default="", help="comma-separated workload numbers, e.g. 1,2,4")
    parser.add_argument("--json", default="", help="save every sample and the table to this file")
    parser.add_argument(
        "--lg-variants",
        default="sync,async",
        help="LangGraph variants to measure (the faster is compared); default sync,async",
    )
    parser.add_argument("--no-langgraph", action="store_true", help="measure our side only")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes()
    try:
        selected = (
            sorted({int(x) for x in args.only.split(",") if x.strip()}) if args.only else list(WORKLOADS)
        )
    except ValueError:
        print(f"--only takes workload numbers such as 1,2,4; got {args.only!r}", file=sys.stderr)
        return 2
    unknown = [n for n in selected if n not in WORKLOADS]
    if unknown:
        print(f"unknown workload number(s) {unknown}; choose from {sorted(WORKLOADS)}", file=sys.stderr)
        return 2
    have_lg = importlib.util.find_spec("langgraph") is not None and not args.no_langgraph
    lg_variants = [v.strip() for v in args.lg_variants.split(",") if v.strip()] if have_lg else []
    if not have_lg and not args.no_langgraph:
        print("langgraph is not installed (pip install -e '.[bench]'): LangGraph columns stay empty")

    def say(text: str) -> None:
        print(text, flush=True)

    started = _dt.datetime.now(_dt.UTC)
    results: dict[str, Any] = {}
    notes: dict[str, str] = {}
    server = None
    try:
        for number in selected:
            name = WORKLOADS[number]
            say(f"[{number}] {name} ...")
            if name == "studio":
                results[name] = run_studio(ROOT, quick=args.quick, say=say)
                continue
            if name == "lgdb":  # opening LangGraph databases (bench/langgraph_db.py); needs langgraph
                from bench.langgraph_db import run_lgdb

                results[name] = (
                    run_lgdb(ROOT, quick=args.quick, say=say) if have_lg else {"status": "skipped"}
                )
                continue
            if name in PG_WORKLOADS and server is None:  # one server for every Postgres workload
                from bench.pg import start_server

                server, why = start_server()
                if server is None:
                    notes[name] = f"skipped: {why}"
                    say(f"  skipped: {why}")
                    continue
            results[name] = run_workload(name, sizes, args.repeat, lg_variants, say)
    finally:
        if server is not None:
            server.cleanup()
    rows = build_rows(results, notes, sizes)
    title = (
        f"Weavegraph vs LangGraph - {started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
        f"median of {args.repeat} run(s){' (quick sizes)' if args.quick else ''}"
    )
    print()
    print(format_table(title, rows, studio_lines(results)))
    if args.json:
        payload = {
            "date": started.isoformat(),
            "machine": machine(),
            "sizes": sizes.to_json(),
            "repeat": args.repeat,
            "quick": args.quick,
            "lg_variants": lg_variants,
            "results": results,
            "notes": notes,
            "rows": [row.to_json() for row in rows],
            "studio": studio_lines(results),
        }
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str))
        print(f"\nsaved {args.json}")
    return 0


__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
