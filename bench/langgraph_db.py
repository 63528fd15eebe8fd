"""Workload 8: opening LangGraph databases - a LangGraph SQLite file of 100,000 checkpoints.

    .venv/bin/python -m bench.langgraph_db [--checkpoints N] [--repeat N] [--json FILE] [--keep FILE]

How the database is made (fast, and still LangGraph's own rows): a real LangGraph chat graph (two nodes,
`MessagesState`) runs with `SqliteSaver` on one template thread until it has `TEMPLATE` checkpoints (every
invoke adds an input and two loop checkpoints; the message list grows, so later checkpoints are bigger, as in
real chats), then SQL copies the template's `checkpoints` and `writes` rows to new thread ids until the file
holds the number of checkpoints asked. Checkpoint ids are unique per thread (the primary key is thread,
namespace, id), so the copies are valid LangGraph rows: LangGraph's saver loads any of them.

Measured (median of `--repeat`, each in the same process after one warm-up):
- open to first page: `open_langgraph` + the first page of 50 threads (target < 1 s);
- thread page: one page of 100 checkpoints of a thread (target < 200 ms);
- full analytics: `reader.analytics()` (target < 5 s);
- prune dry run: `reader.plan_prune(10)` (target < 5 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TEMPLATE = 25
TARGETS = {"open_first_page_s": 1.0, "thread_page_s": 0.2, "analytics_s": 5.0, "prune_dry_run_s": 5.0}


def build_database(path: Path, checkpoints: int, template: int = TEMPLATE) -> dict[str, Any]:
    """Write the database; returns its facts (threads, checkpoints, bytes, seconds taken)."""
    from langchain_core.messages import AIMessage, HumanMessage
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.graph import END, START, MessagesState, StateGraph

    started = time.perf_counter()

    def bot(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage(f"answer to: {state['messages'][-1].content} " + "lorem ipsum " * 4)]}

    def tidy(state: MessagesState) -> dict[str, Any]:
        return {}

    g = StateGraph(MessagesState)
    g.add_node("bot", bot)
    g.add_node("tidy", tidy)
    g.add_edge(START, "bot")
    g.add_edge("bot", "tidy")
    g.add_edge("tidy", END)
    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        saver = SqliteSaver(conn)
        saver.setup()
        graph = g.compile(checkpointer=saver)
        config: Any = {"configurable": {"thread_id": "template"}}
        turn = 0
        while conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0] < template:
            graph.invoke({"messages": [HumanMessage(f"question {turn}")]}, config)
            turn += 1
        per_thread = conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0]
        copies = max(0, -(-checkpoints // per_thread) - 1)
        conn.execute("BEGIN")
        conn.execute(
            "CREATE TEMP TABLE n AS WITH RECURSIVE c(i) AS "
            "(SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?) "
            "SELECT i FROM c",
            (copies,),
        )
        conn.execute(
            "INSERT INTO checkpoints SELECT printf('thread-%06d', n.i), checkpoint_ns, checkpoint_id, "
            "parent_checkpoint_id, type, checkpoint, metadata FROM checkpoints, temp.n "
            "WHERE thread_id = 'template' AND n.i > 0"
        )
        conn.execute(
            "INSERT INTO writes SELECT printf('thread-%06d', n.i), checkpoint_ns, checkpoint_id, task_id, "
            "task_path, idx, channel, type, value FROM writes, temp.n WHERE thread_id = 'template'"
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        total = conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0]
        threads = conn.execute("SELECT COUNT(DISTINCT thread_id) FROM checkpoints").fetchone()[0]
    finally:
        conn.close()
    return {
        "checkpoints": int(total),
        "threads": int(threads),
        "per_thread": int(per_thread),
        "bytes": path.stat().st_size,
        "build_s": round(time.perf_counter() - started, 2),
    }


async def measure(path: Path, repeat: int) -> dict[str, Any]:
    from engine.foreign.langgraph import ThreadKey, ThreadQuery, open_langgraph

    samples: dict[str, list[float]] = {k: [] for k in TARGETS}
    cpu: dict[str, list[float]] = {k: [] for k in TARGETS}
    clock = time.process_time  # CPU seconds of all threads: tells the work from the wait on a busy machine
    facts: dict[str, Any] = {}
    for i in range(repeat + 1):
        c0, t0 = clock(), time.perf_counter()
        reader = await open_langgraph(path)
        page = await reader.list_threads(ThreadQuery(limit=50))
        c_open, t_open = clock() - c0, time.perf_counter() - t0
        try:
            key = ThreadKey("thread-000500") if page.total_count > 500 else page.items[-1].key
            c0, t0 = clock(), time.perf_counter()
            steps = await reader.list_checkpoints(key, limit=100)
            c_page, t_page = clock() - c0, time.perf_counter() - t0
            c0, t0 = clock(), time.perf_counter()
            report = await reader.analytics(keep_last=(1, 10))
            c_analytics, t_analytics = clock() - c0, time.perf_counter() - t0
            c0, t0 = clock(), time.perf_counter()
            plan = await reader.plan_prune(10)
            c_prune, t_prune = clock() - c0, time.perf_counter() - t0
        finally:
            await reader.aclose()
        if i == 0:  # warm-up (file cache), not counted
            facts = {
                "threads_listed": page.total_count,
                "page_items": len(steps.items),
                "analytics_checkpoints": report.checkpoints,
                "repeated_bytes": report.repeated_bytes,
                "keep_last_10_saves_bytes": report.keep_last[1].bytes,
                "prune_10_checkpoints": plan.summary.checkpoints,
            }
            continue
        for name, value, used in zip(
            TARGETS,
            (t_open, t_page, t_analytics, t_prune),
            (c_open, c_page, c_analytics, c_prune),
            strict=True,
        ):
            samples[name].append(value)
            cpu[name].append(used)
    return {
        "medians": {k: statistics.median(v) for k, v in samples.items()},
        "cpu_medians": {k: statistics.median(v) for k, v in cpu.items()},
        "samples": samples,
        "load_average": os.getloadavg()[0],
        **facts,
    }


def run(checkpoints: int, repeat: int, keep: str | None = None) -> dict[str, Any]:
    folder = tempfile.mkdtemp(prefix="lgdb-")
    path = Path(keep) if keep else Path(folder) / "langgraph.db"
    try:
        if not path.exists():
            built = build_database(path, checkpoints)
        else:
            built = {"reused": str(path), "bytes": path.stat().st_size}
        result = asyncio.run(measure(path, repeat))
        return {"database": built, **result}
    finally:
        if not keep:
            for name in os.listdir(folder):
                os.unlink(os.path.join(folder, name))
            os.rmdir(folder)


def lines(result: dict[str, Any]) -> list[str]:
    db = result["database"]
    out = [
        f"LangGraph SQLite database: {db.get('checkpoints', '?')} checkpoints "
        f"in {db.get('threads', '?')} threads, "
        f"{db['bytes'] / 1e6:.1f} MB (built in {db.get('build_s', '-')} s)"
    ]
    labels = {
        "open_first_page_s": "open to first page",
        "thread_page_s": "thread page (100 checkpoints)",
        "analytics_s": "full analytics",
        "prune_dry_run_s": "prune dry run (keep last 10)",
    }
    for name, label in labels.items():
        value = result["medians"][name]
        met = "met" if value < TARGETS[name] else "NOT met"
        out.append(
            f"  {label}: {value * 1000:.0f} ms wall, {result['cpu_medians'][name] * 1000:.0f} ms CPU "
            f"(target < {TARGETS[name] * 1000:.0f} ms, {met})"
        )
    out.append(f"  (load average {result['load_average']:.1f} on {os.cpu_count()} CPUs while measuring)")
    return out


def run_lgdb(root: Path, *, quick: bool, say: Any) -> dict[str, Any]:
    """Entry for `python -m bench` (workload 8)."""
    result = run(10_000 if quick else 100_000, 1 if quick else 3)
    result["lines"] = lines(result)
    for line in result["lines"]:
        say("  " + line)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.langgraph_db", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", default="")
    parser.add_argument("--keep", default="", help="build (or reuse) the database at this path and keep it")
    args = parser.parse_args(argv)
    result = run(args.checkpoints, max(1, args.repeat), args.keep or None)
    for line in lines(result):
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
