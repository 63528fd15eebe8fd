"""A process that races another one, started by tests/faults/test_races.py. It imports everything first, then
waits for the wall-clock moment START (seconds since the epoch) so both processes act at the same instant.

  race_proc.py open DIR START NAME ROUNDS  round i (at START + i * GAP, p2 up to 1.5 ms later): connect to
                                           the brand-new SQLite file DIR/new-<i>.db and save a session NAME;
                                           prints "ok <i>"
  race_proc.py session URL START NAME N    save steps 1..N of session "shared", each with expected_last_step;
                                           prints "won <step>" or "conflict <step> <actual>", then "done"

Any other error is one line, "error [<round>] <class> <kind>: <message>" (never a raw traceback); the exit
code is then 1.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import sys
import time
from typing import Any

from engine.errors import CheckpointConflict
from engine.persistence.base import Checkpoint
from engine.persistence.factory import open_checkpointer
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.state import VersionedState
from engine.types import Message

GAP = 0.25
"""Seconds between two rounds of the new-file race."""


def wait_until(start: float) -> None:
    while (left := start - time.time()) > 0:
        time.sleep(min(left, 0.01) if left > 0.02 else 0)


async def open_new(url: str, name: str) -> None:
    storage = await SQLiteCheckpointer.connect(url)
    try:
        await save_first(storage, name)
    finally:
        await storage.aclose()


def open_rounds(folder: str, start: float, name: str, rounds: int) -> int:
    failed = 0
    for i in range(rounds):
        # p1 starts each round on the dot, p2 0-1.5 ms later: the first open's schema creation and the
        # second's journal-mode switch, table check and schema creation meet at every offset
        offset = 0.0 if name == "p1" else (i % 4) * 0.0005
        wait_until(start + i * GAP + offset)
        try:
            asyncio.run(open_new(f"sqlite://{folder}/new-{i}.db", name))
        except Exception as exc:
            failed += 1
            print(f"error {i} {type(exc).__name__} {getattr(exc, 'kind', None)}: {exc}", flush=True)
        else:
            print(f"ok {i}", flush=True)
    return 1 if failed else 0


async def save_first(storage: Any, name: str) -> None:
    state = VersionedState.new_with_user_message(f"hello from {name}")
    checkpoint = Checkpoint(name, 0, state, [], {}, 1, dt.datetime.now(dt.UTC))
    await storage.save(checkpoint, None)


async def race_session(url: str, name: str, steps: int) -> None:
    storage = await open_checkpointer(url)
    try:
        while True:
            latest = await storage.load_latest("shared")
            assert latest is not None
            if latest.step >= steps:
                print("done", flush=True)
                return
            step = latest.step + 1
            state = VersionedState(
                [*latest.state.messages, Message.assistant(f"{name}:{step}")],
                {**latest.state.extra, "writer": name, "step": step},
            )
            try:
                await storage.save(dataclasses.replace(latest, step=step, state=state), latest.step)
            except CheckpointConflict as exc:
                print(f"conflict {step} {exc.actual}", flush=True)
            else:
                print(f"won {step}", flush=True)
    finally:
        await storage.aclose()


def main(argv: list[str]) -> int:
    mode, where, start, name, count = argv[0], argv[1], float(argv[2]), argv[3], int(argv[4])
    if mode == "open":
        return open_rounds(where, start, name, count)
    wait_until(start)
    try:
        asyncio.run(race_session(where, name, count))
    except Exception as exc:
        kind = getattr(exc, "kind", None)
        print(f"error {type(exc).__name__} {kind}: {exc}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
