"""Generate a large SQLite checkpoint database for the checkpoint-browser bench (plain sqlite3 bulk inserts).

Default: 1,000 sessions x 1,000 steps (1,000,000 step rows) at /tmp/weavegraph-bench/big.db, reused when it
exists (pass --force to rebuild). The schema is the engine's own (its migrations), so the file opens in the
studio and the CLI like any checkpoint database.

    .venv/bin/python bench/gen_big_db.py [--sessions 1000] [--steps 1000] [--out PATH] [--force]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.persistence.serde import format_timestamp

DEFAULT_OUT = Path("/tmp/weavegraph-bench/big.db")
STATE = (
    '{{"messages":{{"version":{mv},"items":[{{"role":"user","content":"start the ticker"}},'
    '{{"role":"assistant","content":"tick {tick} sum {sum}"}}]}},'
    '"extra":{{"version":{ev},"map":{{"tick":{tick},"sum":{sum},"session":"{sid}"}}}},'
    '"errors":{{"version":1,"items":[]}}}}'
)
FRONTIER = '["Custom:report"]'
RAN = '["Custom:accumulate"]'
UPDATED = '["messages","extra"]'


async def _create_schema(path: Path) -> None:
    from engine.persistence.sqlite import SQLiteCheckpointer

    cp = await SQLiteCheckpointer.connect(f"sqlite://{path}", storage_mode="full")
    await cp.aclose()


def generate(path: Path, sessions: int, steps: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    asyncio.run(_create_schema(tmp))  # the engine's migrations; every row below is a full snapshot
    conn = sqlite3.connect(tmp, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -200000")
    base = dt.datetime.now(dt.UTC) - dt.timedelta(days=60)
    started = time.perf_counter()
    conn.execute("BEGIN")
    for s in range(sessions):
        sid = f"session-{s:05d}"
        t0 = base + dt.timedelta(minutes=s * 80)
        rows = []
        for step in range(steps):
            state = STATE.format(mv=step + 1, ev=step + 1, tick=step, sum=step * (step + 1) // 2, sid=sid)
            seen = f'{{"accumulate":{{"messages":{step},"extra":{step}}}}}'
            size = sum(len(t.encode()) for t in (state, FRONTIER, seen, RAN, "[]", UPDATED))
            when = format_timestamp(t0 + dt.timedelta(seconds=step * 4))
            rows.append((sid, step, when, state, FRONTIER, seen, RAN, "[]", UPDATED, size))
        conn.executemany(
            "INSERT INTO steps (session_id, step, created_at, state_json, frontier_json, versions_seen_json,"
            " ran_nodes_json, skipped_nodes_json, updated_channels_json, payload_bytes)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        last = rows[-1]
        conn.execute(
            "INSERT INTO sessions (id, created_at, updated_at, concurrency_limit, last_step, last_state_json,"
            " last_frontier_json, last_versions_seen_json, graph_hash) VALUES (?, ?, ?, 4, ?, ?, ?, ?, ?)",
            (sid, rows[0][2], last[2], last[1], last[3], last[4], last[5], "0123456789abcdef"),
        )
        if (s + 1) % 100 == 0:
            rate = (s + 1) * steps / (time.perf_counter() - started)
            print(f"  {s + 1}/{sessions} sessions ({rate:,.0f} steps/s)", flush=True)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    os.replace(tmp, path)
    for leftover in (Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=1000, help="steps per session")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--force", action="store_true", help="rebuild even if the file exists")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.force:
        print(f"{args.out} exists ({args.out.stat().st_size / 1e6:.0f} MB); reusing it (--force rebuilds)")
        return 0
    started = time.perf_counter()
    print(f"generating {args.sessions} sessions x {args.steps} steps into {args.out}")
    generate(args.out, args.sessions, args.steps)
    size = args.out.stat().st_size / 1e6
    print(f"done in {time.perf_counter() - started:.1f} s, {size:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
